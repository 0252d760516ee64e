"""Metrics against hand-computed values on tiny arrays (arithmetic in the comments)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from secllm.eval.metrics import (
    binary_metrics,
    bootstrap_ci,
    false_alerts_per_million,
    multiclass_metrics,
    precision_at_prevalence,
    threshold_for_fpr,
    tpr_at_fpr,
)

# 5 positives, 10 negatives. Sorted by score (descending):
#   0.95 P, 0.90 P, 0.85 N, 0.80 P, 0.75 P, 0.70 N, 0.65 P, 0.60 N, 0.50 N, 0.40 N, 0.30 N, 0.20 N,
#   0.10 N, 0.05 N, 0.01 N
POS = [0.95, 0.90, 0.80, 0.75, 0.65]
NEG = [0.85, 0.70, 0.60, 0.50, 0.40, 0.30, 0.20, 0.10, 0.05, 0.01]
Y = np.array([1] * 5 + [0] * 10)
S = np.array(POS + NEG)


def test_tpr_at_fpr_hand_computed() -> None:
    # ROC points (threshold: TP, FP -> TPR, FPR):
    #   >0.95: 0,0 -> 0.0, 0.0   0.95: 1,0 -> .2, 0   0.90: 2,0 -> .4, 0   0.85: 2,1 -> .4, .1
    #   0.80: 3,1 -> .6, .1      0.75: 4,1 -> .8, .1  0.70: 4,2 -> .8, .2  0.65: 5,2 -> 1.0, .2
    assert tpr_at_fpr(Y, S, 0.0) == pytest.approx(0.4)
    assert tpr_at_fpr(Y, S, 0.05) == pytest.approx(0.4)  # FPR .1 not allowed -> stays at FPR 0
    assert tpr_at_fpr(Y, S, 0.1) == pytest.approx(0.8)  # 1 of 10 benign may be flagged
    assert tpr_at_fpr(Y, S, 0.19) == pytest.approx(0.8)
    assert tpr_at_fpr(Y, S, 0.2) == pytest.approx(1.0)
    assert tpr_at_fpr(Y, S, 1.0) == pytest.approx(1.0)


def test_tpr_at_fpr_ties_are_not_interpolated() -> None:
    # P and N tied at 0.9: flagging the P flags the N too.
    # thresholds: >0.9 -> TPR 0, FPR 0; 0.9 -> TPR .5, FPR .5; 0.5 -> TPR 1, FPR .5
    y, s = [1, 0, 1, 0], [0.9, 0.9, 0.5, 0.1]
    assert tpr_at_fpr(y, s, 0.0) == 0.0
    assert tpr_at_fpr(y, s, 0.49) == 0.0
    assert tpr_at_fpr(y, s, 0.5) == 1.0


def test_tpr_at_fpr_degenerate_and_labels() -> None:
    assert math.isnan(tpr_at_fpr([1, 1, 1], [0.1, 0.2, 0.3], 0.01))
    assert math.isnan(tpr_at_fpr([], [], 0.01))
    # pos_label with string labels gives the same as 0/1
    ys = np.where(Y == 1, "attack", "benign")
    assert tpr_at_fpr(ys, S, 0.1, pos_label="attack") == pytest.approx(0.8)
    with pytest.raises(ValueError):
        tpr_at_fpr(ys, S, 0.1)  # strings without pos_label are ambiguous


def test_binary_metrics_hand_computed() -> None:
    # threshold 0.72 flags 0.95 0.90 0.85 0.80 0.75 -> TP 4, FP 1 (0.85), FN 1 (0.65), TN 9
    m = binary_metrics(Y, S, threshold=0.72)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (4, 1, 1, 9)
    assert m["precision"] == pytest.approx(0.8)  # 4 / 5
    assert m["recall"] == pytest.approx(0.8)  # 4 / 5
    assert m["f1"] == pytest.approx(0.8)
    assert m["fpr"] == pytest.approx(0.1)  # 1 / 10
    assert m["false_alerts_per_million"] == pytest.approx(100_000.0)
    # 0.8 * 0.001 / (0.8 * 0.001 + 0.1 * 0.999) = 0.0008 / 0.1007
    assert m["precision_at_prevalence_1e-3"] == pytest.approx(0.0008 / 0.1007)
    # AUC = correctly ordered (P, N) pairs / 50: 0.95 -> 10, 0.90 -> 10, 0.80 -> 9, 0.75 -> 9,
    # 0.65 -> 8 (below 0.85 and 0.70); 46 / 50
    assert m["roc_auc"] == pytest.approx(0.92)
    # AP = mean precision at each positive's rank: ranks 1, 2, 4, 5, 7
    #    = (1/1 + 2/2 + 3/4 + 4/5 + 5/7) / 5
    assert m["pr_auc"] == pytest.approx((1 + 1 + 0.75 + 0.8 + 5 / 7) / 5)
    # only 10 negatives: FPR 1% and 0.1% both mean FPR 0 -> TPR 0.4
    assert m["tpr_at_fpr_1e-2"] == pytest.approx(0.4)
    assert m["tpr_at_fpr_1e-3"] == pytest.approx(0.4)
    assert (m["n"], m["n_pos"], m["n_neg"]) == (15, 5, 10)


def test_binary_metrics_degenerate_no_crash() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sklearn warnings either
        one_class = binary_metrics([0, 0, 0], [0.1, 0.6, 0.2], threshold=0.5)
    assert math.isnan(one_class["roc_auc"]) and math.isnan(one_class["pr_auc"])
    assert math.isnan(one_class["recall"]) and math.isnan(one_class["tpr_at_fpr_1e-2"])
    assert one_class["fpr"] == pytest.approx(1 / 3)
    nothing_flagged = binary_metrics([1, 0], [0.1, 0.2], threshold=0.9)
    assert math.isnan(nothing_flagged["precision"])
    assert nothing_flagged["recall"] == 0.0
    assert math.isnan(nothing_flagged["precision_at_prevalence_1e-3"])  # 0 / 0
    empty = binary_metrics([], [], threshold=0.5)
    assert math.isnan(empty["f1"]) and empty["n"] == 0


def test_precision_at_prevalence_and_false_alerts() -> None:
    # 0.9 * 0.01 / (0.9 * 0.01 + 0.05 * 0.99) = 0.009 / 0.0585
    assert precision_at_prevalence(0.9, 0.05, 0.01) == pytest.approx(0.009 / 0.0585)
    assert precision_at_prevalence(0.5, 0.0, 0.001) == 1.0
    assert math.isnan(precision_at_prevalence(0.0, 0.0, 0.001))
    assert math.isnan(precision_at_prevalence(float("nan"), 0.1, 0.001))
    assert math.isnan(precision_at_prevalence(None, 0.1, 0.001))  # type: ignore[arg-type]
    assert false_alerts_per_million(0.0025) == pytest.approx(2500.0)
    assert math.isnan(false_alerts_per_million(float("nan")))


def test_threshold_for_fpr() -> None:
    benign = np.array(NEG)  # sorted desc: 0.85, 0.70, 0.60, ...
    # FPR 0.1 on 10 benign -> k = 1 flagged -> threshold just above the 2nd highest (0.70)
    t = threshold_for_fpr(benign, 0.1)
    assert 0.70 < t < 0.7000001
    assert np.mean(benign >= t) == pytest.approx(0.1)
    # FPR 0 -> just above the top benign score
    t0 = threshold_for_fpr(benign, 0.0)
    assert t0 > 0.85 and np.mean(benign >= t0) == 0.0
    # 0.29 * 100 = 28.999999999999996 in floats: still k = 29
    many = np.arange(100) / 100.0
    assert np.mean(many >= threshold_for_fpr(many, 0.29)) == pytest.approx(0.29)
    # ties: [0.5, 0.5, 0.1], FPR 1/3 -> k = 1, but the tie means both 0.5 go -> 0 flagged
    tied = np.array([0.5, 0.5, 0.1])
    assert np.mean(tied >= threshold_for_fpr(tied, 1 / 3)) == 0.0
    assert threshold_for_fpr(benign, 1.0) == pytest.approx(0.01)  # everything may be flagged
    assert math.isnan(threshold_for_fpr([], 0.01))
    # used together: TPR at that threshold matches tpr_at_fpr on the same data
    m = binary_metrics(Y, S, threshold=t)
    assert m["recall"] == pytest.approx(tpr_at_fpr(Y, S, 0.1))


def test_multiclass_metrics_hand_computed() -> None:
    yt = ["a", "a", "a", "b", "b", "c"]
    yp = ["a", "a", "b", "b", "c", "c"]
    m = multiclass_metrics(yt, yp, labels=["a", "b", "c", "d"])
    # a: TP 2, FP 0, FN 1 -> P 1, R 2/3, F1 0.8
    # b: TP 1, FP 1, FN 1 -> P .5, R .5, F1 .5
    # c: TP 1, FP 1, FN 0 -> P .5, R 1, F1 2/3
    # d: absent and never predicted -> nan, excluded from the macro mean
    pc = m["per_class"]
    assert pc["a"]["f1"] == pytest.approx(0.8) and pc["a"]["recall"] == pytest.approx(2 / 3)
    assert pc["b"]["f1"] == pytest.approx(0.5)
    assert pc["c"]["f1"] == pytest.approx(2 / 3) and pc["c"]["support"] == 1
    assert math.isnan(pc["d"]["f1"]) and pc["d"]["support"] == 0
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_multiclass_metrics_degenerate() -> None:
    # a class present but never predicted counts as F1 0 (not dropped)
    m = multiclass_metrics([0, 1], [0, 0], labels=[0, 1])
    # 0: TP 1, FP 1 -> P .5, R 1, F1 2/3; 1: TP 0, FN 1 -> F1 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)
    assert set(m["per_class"]) == {"0", "1"}
    assert math.isnan(multiclass_metrics([], [], labels=["x"])["macro_f1"])


def test_bootstrap_ci() -> None:
    perfect = bootstrap_ci(accuracy_score, [0, 1, 1, 0, 1], [0, 1, 1, 0, 1], n=50)
    assert (perfect["estimate"], perfect["low"], perfect["high"]) == (1.0, 1.0, 1.0)
    yt = np.array([0, 1] * 20)
    yp = yt.copy()
    yp[:10] = 1 - yp[:10]  # 75% accuracy
    a = bootstrap_ci(accuracy_score, yt, yp, n=100, seed=3)
    b = bootstrap_ci(accuracy_score, yt, yp, n=100, seed=3)
    assert a == b  # seeded
    assert a["estimate"] == pytest.approx(0.75)
    assert a["low"] < 0.75 < a["high"] and 0.5 < a["low"] and a["high"] <= 1.0
    # metric that fails on one-class resamples: those are dropped, not raised
    tiny = bootstrap_ci(roc_auc_score, [0, 1], [0.2, 0.8], n=30, seed=0)
    assert tiny["estimate"] == 1.0 and 0 < tiny["n_valid"] < 30


def test_bootstrap_ci_groups() -> None:
    """Resampling whole groups (a cluster bootstrap): items of a group move together, so when errors
    cluster in a few groups the interval is wider than the one that treats rows as independent."""
    groups = np.repeat(np.arange(20), 50)                 # 20 sites of 50 rows
    yt = np.ones(1000, dtype=int)
    yp = yt.copy()
    yp[groups < 4] = 0                                     # 4 sites entirely wrong: accuracy 0.8
    rows = bootstrap_ci(accuracy_score, yt, yp, n=300, seed=1)
    grouped = bootstrap_ci(accuracy_score, yt, yp, n=300, seed=1, groups=groups)
    assert rows["estimate"] == grouped["estimate"] == pytest.approx(0.8)
    assert grouped["n_groups"] == 20 and "n_groups" not in rows
    assert grouped["high"] - grouped["low"] > 3 * (rows["high"] - rows["low"])
    # every resample is a union of whole groups: accuracy moves in steps of one group
    assert grouped["low"] < 0.75 and grouped["high"] >= 0.9
    # string keys, and one group per row gives back the row bootstrap's distribution
    same = bootstrap_ci(accuracy_score, yt, yp, n=300, seed=1, groups=[f"g{i}" for i in range(1000)])
    assert abs((same["high"] - same["low"]) - (rows["high"] - rows["low"])) < 0.02
    with pytest.raises(ValueError, match="groups"):
        bootstrap_ci(accuracy_score, yt, yp, n=5, groups=groups[:10])


@pytest.mark.parametrize("seed", range(20))
def test_fast_macro_f1_equals_multiclass_metrics(seed):
    """The bootstrap's integer-coded macro-F1 is the same number as the reference implementation,
    absent classes and predictions outside the label set included."""
    from secllm.eval.metrics import macro_f1_codes, multiclass_metrics
    from secllm.eval.report import _codes

    rng = np.random.default_rng(seed)
    labels = ["benign", "sqli", "xss", "cmdi", "rfi"]
    n = int(rng.integers(1, 60))
    t = rng.choice(labels[:int(rng.integers(1, 5))], n)
    p = rng.choice(labels + ["malicious"], n)          # "malicious": a prediction outside the labels
    ref = multiclass_metrics(t, p, labels)["macro_f1"]
    fast = macro_f1_codes(*_codes(t, p, labels), len(labels))
    assert fast == pytest.approx(ref, abs=1e-12) or (np.isnan(fast) and np.isnan(ref))
