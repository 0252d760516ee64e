"""Evaluation metrics for security detectors.

Everything here follows the conventions of ``/work/shared/EVALUATION.md``: next to macro-F1 and
PR-AUC we report the TPR at a fixed low FPR, precision at a realistic prevalence and false alerts
per million benign events.

Conventions used throughout this module:

* Binary ground truth is 1 (malicious / positive) or 0 (benign / negative).
* A score is "more malicious" when larger; an item is **flagged when ``score >= threshold``**.
* Undefined numbers (one class only, a division by zero) are ``nan`` -- never an exception.

>>> y = [1, 1, 0, 0]
>>> s = [0.9, 0.4, 0.35, 0.1]
>>> round(binary_metrics(y, s, threshold=0.5)["recall"], 2)
0.5
>>> tpr_at_fpr(y, s, 0.0)
1.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "binary_metrics",
    "bootstrap_ci",
    "false_alerts_per_million",
    "multiclass_metrics",
    "precision_at_prevalence",
    "threshold_for_fpr",
    "tpr_at_fpr",
]

NAN = float("nan")
# Tolerance when comparing an FPR computed as k / n_neg with a requested FPR such as 0.001.
_FPR_EPS = 1e-12


def _binary_truth(y_true: Any, pos_label: Any = None) -> np.ndarray:
    """Return ``y_true`` as an int array of 0/1 (``pos_label`` marks the positives when given)."""
    arr = np.asarray(y_true)
    if pos_label is not None:
        return (arr == pos_label).astype(np.int64)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if arr.size == 0:
        return arr.astype(np.int64)
    uniq = set(np.unique(arr).tolist())
    if not uniq <= {0, 1}:
        raise ValueError(f"binary y_true must be 0/1 (or pass pos_label); got values {sorted(uniq)!r}")
    return arr.astype(np.int64)


def _scores(score: Any, n: int) -> np.ndarray:
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    if s.shape[0] != n:
        raise ValueError(f"score has {s.shape[0]} items, y_true has {n}")
    return s


def _both_classes(y: np.ndarray) -> bool:
    return bool(y.size) and 0 < int(y.sum()) < y.size


def tpr_at_fpr(y_true: Any, score: Any, fpr: float, *, pos_label: Any = None) -> float:
    """Highest TPR reachable by a threshold whose FPR is ``<= fpr``, read exactly off the ROC points.

    The ROC points are those of every distinct score used as threshold (``score >= t`` flagged),
    plus the point (0, 0) of flagging nothing. **Ties:** items with equal scores cannot be
    separated by a threshold, so they are flagged together or not at all; there is no
    interpolation between ROC points (that would be a randomised classifier). A tie between a
    positive and a negative at the top score therefore gives TPR 0 at FPR 0.

    Returns ``nan`` when ``y_true`` holds a single class (TPR or FPR undefined).

    >>> # scores sorted: P P N P P N | TPR@FPR<=1/2 flags everything above the second N
    >>> tpr_at_fpr([1, 1, 0, 1, 1, 0], [.9, .8, .7, .6, .5, .4], 0.5)
    1.0
    >>> tpr_at_fpr([1, 0], [.5, .5], 0.0)   # tie at the top: cannot flag the positive alone
    0.0
    """
    y = _binary_truth(y_true, pos_label)
    s = _scores(score, y.size)
    if not _both_classes(y):
        return NAN
    fprs, tprs, _ = roc_curve(y, s, drop_intermediate=False)
    ok = fprs <= fpr + _FPR_EPS
    # roc_curve always starts with the (0, 0) point, so ``ok`` is never empty for fpr >= 0.
    return float(tprs[ok].max()) if ok.any() else NAN


def precision_at_prevalence(tpr: float, fpr: float, prevalence: float) -> float:
    """Precision a detector with this TPR/FPR would have when a fraction ``prevalence`` is malicious.

    ``precision = tpr * p / (tpr * p + fpr * (1 - p))``. ``nan`` when an input is ``nan`` or
    the detector flags nothing (denominator 0).

    >>> round(precision_at_prevalence(0.9, 0.01, 0.001), 4)   # 0.0009 / (0.0009 + 0.00999)
    0.0826
    >>> import math; math.isnan(precision_at_prevalence(0.0, 0.0, 0.001))
    True
    """
    try:
        tpr, fpr, p = float(tpr), float(fpr), float(prevalence)
    except (TypeError, ValueError):
        return NAN
    if any(math.isnan(v) for v in (tpr, fpr, p)):
        return NAN
    num = tpr * p
    den = num + fpr * (1.0 - p)
    return num / den if den > 0 else NAN


def false_alerts_per_million(fpr: float) -> float:
    """Expected false alerts per million benign events at false-positive rate ``fpr``.

    >>> false_alerts_per_million(0.001)
    1000.0
    """
    try:
        return float(fpr) * 1e6
    except (TypeError, ValueError):
        return NAN


def threshold_for_fpr(benign_scores: Any, fpr: float) -> float:
    """Smallest threshold whose FPR on these (validation) benign scores is ``<= fpr``.

    With ``n`` benign scores, at most ``k = floor(fpr * n)`` of them may be flagged. The
    threshold is the smallest float strictly above the ``(k+1)``-th highest benign score, so
    with the rule ``score >= threshold`` at most ``k`` benign items are flagged (fewer when that
    score is tied with higher ones). When ``k >= n`` every item may be flagged and the lowest
    benign score is returned. ``nan`` for an empty input. Fit this on the validation split only.

    >>> t = threshold_for_fpr([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], 0.1)
    >>> 0.9 < t < 0.95     # only the 0.95 benign item is flagged: FPR 1/10
    True
    """
    b = np.sort(np.asarray(benign_scores, dtype=np.float64).reshape(-1))[::-1]
    n = b.size
    if n == 0 or math.isnan(float(fpr)):
        return NAN
    k = int(math.floor(max(float(fpr), 0.0) * n + 1e-9))
    if k >= n:
        return float(b[-1])
    return float(np.nextafter(b[k], np.inf))


def binary_metrics(y_true: Any, score: Any, threshold: float = 0.5, *, pos_label: Any = None) -> dict[str, Any]:
    """Threshold metrics at ``threshold`` plus threshold-free ranking metrics of ``score``.

    Keys (contract): ``f1``, ``precision``, ``recall``, ``roc_auc``, ``pr_auc`` (average
    precision), ``tpr_at_fpr_1e-2``, ``tpr_at_fpr_1e-3``, ``precision_at_prevalence_1e-3`` and
    ``false_alerts_per_million`` -- the last two at the operating point ``threshold`` (its TPR
    and FPR). Extra keys: ``fpr``, ``tp``, ``fp``, ``tn``, ``fn``, ``n``, ``n_pos``, ``n_neg``,
    ``threshold``. ``precision`` is ``nan`` when nothing is flagged; ranking metrics are ``nan``
    when only one class is present.

    >>> m = binary_metrics([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], threshold=0.5)
    >>> m["tp"], m["fp"], m["fn"], m["tn"], m["roc_auc"]
    (1, 1, 1, 1, 0.75)
    """
    y = _binary_truth(y_true, pos_label)
    s = _scores(score, y.size)
    pred = (s >= threshold).astype(np.int64)
    tp = int(np.sum((pred == 1) & (y == 1)))
    fp = int(np.sum((pred == 1) & (y == 0)))
    fn = int(np.sum((pred == 0) & (y == 1)))
    tn = int(np.sum((pred == 0) & (y == 0)))
    n_pos, n_neg = tp + fn, tn + fp
    if y.size:
        prec, rec, f1, _ = precision_recall_fscore_support(
            y, pred, labels=[1], average=None, zero_division=np.nan
        )
        precision, recall, f1_val = float(prec[0]), float(rec[0]), float(f1[0])
    else:
        precision = recall = f1_val = NAN
    fpr = fp / n_neg if n_neg else NAN
    both = _both_classes(y)
    return {
        "f1": f1_val,
        "precision": precision,
        "recall": recall,
        "roc_auc": float(roc_auc_score(y, s)) if both else NAN,
        "pr_auc": float(average_precision_score(y, s)) if both else NAN,
        "tpr_at_fpr_1e-2": tpr_at_fpr(y, s, 1e-2),
        "tpr_at_fpr_1e-3": tpr_at_fpr(y, s, 1e-3),
        "precision_at_prevalence_1e-3": precision_at_prevalence(recall, fpr, 1e-3),
        "false_alerts_per_million": false_alerts_per_million(fpr),
        "fpr": fpr,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "n": int(y.size),
        "n_pos": n_pos,
        "n_neg": n_neg,
        "threshold": float(threshold),
    }


def multiclass_metrics(y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any]) -> dict[str, Any]:
    """Macro-F1, accuracy, per-class precision/recall/F1/support and the confusion matrix.

    ``labels`` fixes the class order (of ``per_class`` and of the confusion matrix: rows are
    true classes, columns predicted). A class that is neither present nor predicted has
    ``f1 = nan`` and is left out of ``macro_f1`` (the mean over the other classes); a class
    present but never predicted, or predicted but absent, counts with F1 0. Predictions
    outside ``labels`` count as errors for their true class but get no column.
    ``per_class`` keys are ``str(label)`` (JSON-friendly).

    >>> m = multiclass_metrics(["a", "a", "b"], ["a", "b", "b"], labels=["a", "b"])
    >>> round(m["macro_f1"], 4), m["confusion"]
    (0.6667, [[1, 1], [0, 1]])
    """
    yt = np.asarray(list(y_true))
    yp = np.asarray(list(y_pred))
    labels = list(labels)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {yt.shape[0]} items, y_pred has {yp.shape[0]}")
    k = len(labels)
    if yt.size == 0 or k == 0:
        return {
            "macro_f1": NAN,
            "accuracy": NAN,
            "per_class": {str(l): {"precision": NAN, "recall": NAN, "f1": NAN, "support": 0} for l in labels},
            "confusion": [[0] * k for _ in range(k)],
            "labels": [str(l) for l in labels],
        }
    prec, rec, f1, sup = precision_recall_fscore_support(
        yt, yp, labels=labels, average=None, zero_division=np.nan
    )
    f1 = np.asarray(f1, dtype=np.float64)
    macro = float(np.nanmean(f1)) if np.any(~np.isnan(f1)) else NAN
    return {
        "macro_f1": macro,
        "accuracy": float(np.mean(yt == yp)),
        "per_class": {
            str(l): {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(sup[i]),
            }
            for i, l in enumerate(labels)
        },
        "confusion": confusion_matrix(yt, yp, labels=labels).tolist(),
        "labels": [str(l) for l in labels],
    }


def macro_f1_codes(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Macro-F1 of integer-coded labels (``0..k-1``; ``-1`` = outside the label set): the same
    value as ``multiclass_metrics(...)["macro_f1"]`` at a fraction of the cost (for bootstraps).

    >>> t, p = np.array([0, 0, 1]), np.array([0, 1, 1])
    >>> round(macro_f1_codes(t, p, 2), 4) == round(multiclass_metrics([0, 0, 1], [0, 1, 1], [0, 1])["macro_f1"], 4)
    True
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    hit = (t == p) & (t >= 0)
    tp = np.bincount(t[hit], minlength=k)[:k]
    support = np.bincount(t[t >= 0], minlength=k)[:k]
    predicted = np.bincount(p[p >= 0], minlength=k)[:k]
    denom = support + predicted                       # 2TP + FP + FN
    seen = denom > 0
    return float(np.mean(2.0 * tp[seen] / denom[seen])) if seen.any() else NAN


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    y_true: Any,
    y_pred: Any,
    n: int = 200,
    seed: int = 0,
    *,
    level: float = 0.95,
    groups: Any = None,
) -> dict[str, float]:
    """Percentile bootstrap confidence interval of ``metric_fn(y_true, y_pred)``.

    Resamples items with replacement ``n`` times (``numpy`` generator seeded with ``seed``).
    With ``groups`` (one key per item) it resamples whole groups instead (a cluster bootstrap):
    the honest interval when the split is grouped (URLs by registered domain) and items of one
    group rise and fall together; the result then carries ``n_groups``.
    ``y_pred`` may be predictions or scores, whatever ``metric_fn`` takes. Resamples where the
    metric is ``nan`` (e.g. one class only) are dropped; ``n_valid`` says how many remained.
    Returns ``{"estimate", "low", "high", "level", "n_valid"}`` (``estimate`` is the metric on the
    full data; bounds ``nan`` if no resample was valid).

    >>> from sklearn.metrics import accuracy_score
    >>> ci = bootstrap_ci(accuracy_score, [0, 1, 1, 0], [0, 1, 1, 0], n=20)
    >>> ci["low"], ci["high"]
    (1.0, 1.0)
    """
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.shape[0] != yp.shape[0]:
        raise ValueError(f"y_true has {yt.shape[0]} items, y_pred has {yp.shape[0]}")
    m = yt.shape[0]

    def _safe(a: np.ndarray, b: np.ndarray) -> float:
        try:
            with warnings.catch_warnings():  # one-class resamples: sklearn warns or raises
                warnings.simplefilter("ignore", UndefinedMetricWarning)
                return float(metric_fn(a, b))
        except ValueError:
            return NAN

    estimate = _safe(yt, yp) if m else NAN
    rng = np.random.default_rng(seed)
    values: list[float] = []
    members: list[np.ndarray] | None = None
    if groups is not None:
        g = np.asarray(list(groups), dtype=object).astype(str)
        if g.shape[0] != m:
            raise ValueError(f"groups has {g.shape[0]} keys, y_true {m} items")
        _, inverse = np.unique(g, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        members = np.split(order, np.cumsum(np.bincount(inverse))[:-1]) if m else []
    if m:
        for _ in range(int(n)):
            if members is not None:
                idx = np.concatenate([members[k] for k in rng.integers(0, len(members), size=len(members))])
            else:
                idx = rng.integers(0, m, size=m)
            v = _safe(yt[idx], yp[idx])
            if not math.isnan(v):
                values.append(v)
    alpha = (1.0 - level) / 2.0
    if values:
        low, high = (float(x) for x in np.quantile(np.asarray(values), [alpha, 1.0 - alpha]))
    else:
        low = high = NAN
    out = {"estimate": estimate, "low": low, "high": high, "level": float(level), "n_valid": len(values)}
    if members is not None:
        out["n_groups"] = len(members)
    return out
