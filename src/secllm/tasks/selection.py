"""Model selection on validation: decision thresholds, macro-F1 and the paired bootstrap that decides
which system a task serves.

Every choice here reads validation rows only (EVALUATION.md): :func:`val_threshold` is the
malicious-score threshold a report and a served head use; :func:`paired_bootstrap` is the noise
rule of :mod:`secllm.tasks.head_fit` (a system replaces another only when the 5th percentile of
the resampled macro-F1 difference is above 0).

    >>> macro_f1(["x", "x", "y"], ["x", "y", "y"], ["x", "y"])
    0.6666666666666666
"""

from __future__ import annotations

import numpy as np

from secllm.eval.metrics import macro_f1_codes, multiclass_metrics

__all__ = ["binary_view", "val_threshold", "head_threshold", "macro_f1", "paired_bootstrap"]


def binary_view(spec, labels: list[str], proba: np.ndarray) -> np.ndarray | None:
    """P(malicious) per row, or None when the task has no benign/malicious view."""
    if spec.benign_label in labels:
        return 1.0 - proba[:, labels.index(spec.benign_label)]
    if spec.malicious_labels is not None:
        idx = [i for i, l in enumerate(labels) if l in spec.malicious_labels]
        return proba[:, idx].sum(1)
    return None


def val_threshold(spec, labels: list[str], val, val_proba: np.ndarray) -> float:
    """The malicious-score threshold chosen on validation (``finetune.best_threshold`` over the
    task's binary view); 0.5 without a binary view or without validation rows."""
    from secllm.tasks.finetune import best_threshold

    score = binary_view(spec, labels, val_proba)
    if score is None or not len(val):
        return 0.5
    y = np.array([bool(spec.is_malicious(l)) for l in val.labels])
    return best_threshold(y, score)


def head_threshold(spec, labels: list[str], val, proba: np.ndarray) -> float:
    """The threshold a fitted head serves with: :func:`val_threshold` when the task's benign label is
    one of ``labels`` (verdicts are benign vs attack), else 0.5 (verdicts are the argmax)."""
    return float(val_threshold(spec, labels, val, proba)) if spec.benign_label in labels else 0.5


def macro_f1(y: list[str], pred: list[str], labels: list[str]) -> float:
    """Macro-F1 of string labels, as the reports count it (:func:`secllm.eval.metrics.multiclass_metrics`)."""
    return float(multiclass_metrics(y, pred, labels)["macro_f1"])


def paired_bootstrap(y: list[str], a: list[str], b: list[str], labels: list[str], n: int = 1000,
                     seed: int = 0) -> dict[str, float]:
    """Paired bootstrap of macro-F1(a) - macro-F1(b) over the same resampled rows.

        >>> r = paired_bootstrap(list("xxyy") * 25, list("xxyy") * 25, list("xyyy") * 25, ["x", "y"], n=200)
        >>> r["low"] > 0
        True
    """
    idx = {lab: i for i, lab in enumerate(labels)}
    extra = len(labels)
    code = lambda v: np.array([idx.get(x, extra) for x in v])      # noqa: E731 — unknown labels: one extra code
    yy, aa, bb = code(y), code(a), code(b)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n)
    for i in range(n):
        s = rng.integers(0, len(yy), len(yy))
        diffs[i] = macro_f1_codes(yy[s], aa[s], extra + 1) - macro_f1_codes(yy[s], bb[s], extra + 1)
    return {"mean": round(float(np.nanmean(diffs)), 4), "low": round(float(np.nanpercentile(diffs, 5)), 4),
            "high": round(float(np.nanpercentile(diffs, 95)), 4), "resamples": n}
