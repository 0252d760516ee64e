"""write_report on two fake systems: files exist and the JSON numbers match the metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from secllm.eval.metrics import binary_metrics, multiclass_metrics
from secllm.eval.report import machine_info, write_report

LABELS = ["benign", "sqli", "xss"]


def _systems() -> dict[str, dict]:
    rng = np.random.default_rng(0)
    y_true = np.array(["benign"] * 30 + ["sqli"] * 10 + ["xss"] * 10)
    malicious = (y_true != "benign").astype(float)
    good_score = np.clip(malicious * 0.7 + rng.normal(0.15, 0.15, y_true.size), 0, 1)
    good_pred = y_true.copy()
    good_pred[[30, 41]] = ["xss", "sqli"]  # two swaps between attack classes
    good_pred[[0]] = ["sqli"]  # one false alarm
    return {
        "model/v1": {  # a "/" in the name must not break file names
            "y_true": y_true.tolist(),
            "y_pred": good_pred.tolist(),
            "y_score": good_score.tolist(),
            "labels": LABELS,
            "threshold": 0.5,
            "timing": {"predict_s": 0.12, "items_per_s": 416.7},
        },
        "length-only": {  # label-only system: no score, default threshold
            "y_true": y_true.tolist(),
            "y_pred": np.where(rng.random(y_true.size) < 0.5, "benign", "sqli").tolist(),
            "labels": LABELS,
            "timing": {"predict_s": 0.01},
        },
    }


def test_write_report(tmp_path: Path) -> None:
    systems = _systems()
    out = tmp_path / "rep"
    rep = write_report(
        out,
        title="SQLi/XSS test",
        manifest={"task": "web", "split": "group by site", "counts": {"train": 10, "test": 50}},
        systems=systems,
        machine=None,
        notes=["fake systems for a unit test"],
        bootstrap=20,
    )
    for f in ("report.json", "report.md", "roc.png", "pr.png", "per_class_f1.png",
              "confusion_model_v1.png", "confusion_length-only.png"):
        assert (out / f).stat().st_size > 0, f
        if f.endswith(".png"):
            assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    data = json.loads((out / "report.json").read_text())
    assert data == json.loads(json.dumps(rep))
    assert data["machine"]["cpu_count"] >= 1

    s = systems["model/v1"]
    yb = (np.array(s["y_true"]) != "benign").astype(int)
    want_b = binary_metrics(yb, s["y_score"], 0.5)
    got_b = data["systems"]["model/v1"]["binary"]
    for key in ("roc_auc", "pr_auc", "tpr_at_fpr_1e-2", "tpr_at_fpr_1e-3", "f1",
                "precision_at_prevalence_1e-3", "false_alerts_per_million", "tp", "fp"):
        assert got_b[key] == pytest.approx(want_b[key]), key
    want_m = multiclass_metrics(s["y_true"], s["y_pred"], LABELS)
    got_m = data["systems"]["model/v1"]["multiclass"]
    assert got_m["macro_f1"] == pytest.approx(want_m["macro_f1"])
    assert got_m["confusion"] == want_m["confusion"]
    assert got_m["per_class"]["xss"]["f1"] == pytest.approx(want_m["per_class"]["xss"]["f1"])
    ci = data["systems"]["model/v1"]["ci95"]["macro_f1"]
    assert ci["low"] <= want_m["macro_f1"] <= ci["high"]

    # label-only system: score is 1.0 for a non-benign prediction, threshold 0.5
    lo = systems["length-only"]
    lo_score = (np.array(lo["y_pred"]) != "benign").astype(float)
    got_lo = data["systems"]["length-only"]
    assert got_lo["score_from_labels"] is True and got_lo["threshold"] == 0.5
    assert got_lo["binary"]["roc_auc"] == pytest.approx(binary_metrics(yb, lo_score, 0.5)["roc_auc"])
    # xss is never predicted -> recall 0, precision undefined -> null in JSON, F1 0
    assert got_lo["multiclass"]["per_class"]["xss"]["f1"] == 0.0
    assert got_lo["multiclass"]["per_class"]["xss"]["precision"] is None

    md = (out / "report.md").read_text()
    assert md.startswith("# SQLi/XSS test")
    for text in ("TPR@0.1%FPR", "precision @1:1000", "false alerts / 1M benign", "## Per-class F1",
                 "group by site", "fake systems for a unit test", "items_per_s", "**Caution:**",
                 "confusion_model_v1.png", f"{want_m['macro_f1']:.4f}"):
        assert text in md, text


def test_write_report_binary_single_class(tmp_path: Path) -> None:
    # only benign items in the test set: ranking metrics are undefined -> null, no crash
    s = {"y_true": [0, 0, 0], "y_pred": [0, 1, 0], "y_score": [0.1, 0.8, 0.2], "labels": [0, 1]}
    rep = write_report(tmp_path, title="t", manifest={}, systems={"m": s}, machine={}, bootstrap=5)
    b = rep["systems"]["m"]["binary"]
    assert b["roc_auc"] is None and b["fp"] == 1
    assert b["false_alerts_per_million"] == pytest.approx(1e6 / 3)
    assert (tmp_path / "roc.png").exists()


def test_write_report_needs_benign_label(tmp_path: Path) -> None:
    s = {"y_true": ["a", "b"], "y_pred": ["a", "b"], "y_score": [0.1, 0.9], "labels": ["a", "b"]}
    with pytest.raises(ValueError, match="benign"):
        write_report(tmp_path, title="t", manifest={}, systems={"m": s}, machine={}, bootstrap=0)
    s["benign_label"] = "a"
    rep = write_report(tmp_path, title="t", manifest={}, systems={"m": s}, machine={}, bootstrap=0)
    assert rep["systems"]["m"]["binary"]["roc_auc"] == 1.0


def test_machine_info() -> None:
    info = machine_info()
    assert info["cpu_count"] >= 1 and isinstance(info["cpu_model"], str)
    assert info["python"].count(".") == 2
    assert "numpy" in info["packages"]
    json.dumps(info)
    assert not any(isinstance(v, float) and math.isnan(v) for v in info.values())


def test_write_report_grouped_interval(tmp_path: Path) -> None:
    """A system that carries its rows' groups (the split's unit) gets a macro-F1 interval that
    resamples groups, with its own column and a note in report.md; one without keeps the row interval."""
    systems = _systems()
    n = len(systems["model/v1"]["y_true"])
    systems["model/v1"] |= {"groups": [f"site{i % 5}" for i in range(n)], "group_unit": "registered domain"}
    rep = write_report(tmp_path / "g", title="grouped", manifest={}, systems=systems, machine={}, bootstrap=50)
    g = rep["systems"]["model/v1"]["ci95"]["macro_f1_by_group"]
    assert g["n_groups"] == 5 and g["unit"] == "registered domain"
    assert g["low"] <= rep["systems"]["model/v1"]["multiclass"]["macro_f1"] <= g["high"]
    assert "macro_f1_by_group" not in rep["systems"]["length-only"]["ci95"]
    md = (tmp_path / "g" / "report.md").read_text()
    assert "macro-F1, resampling registered domains" in md and "has 5 of them" in md
