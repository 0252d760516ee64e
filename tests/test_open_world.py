"""The open-world regression suite (issue 17): short, obvious items judged through ``secllm detect``'s
default path (identify -> route -> the judges made for each kind) with the shipped models.

Attacks must alert with the expected type among ``attack_types``; ordinary items must stay quiet
(benign, or unsupported with their kind). At least 98% right; the misses are printed (and listed in
docs/open-world.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SUITE = Path(__file__).parent / "fixtures" / "open_world_suite.jsonl"


def _rows():
    return [json.loads(ln) for ln in SUITE.read_text(encoding="utf-8").splitlines() if ln.strip()]


def judge_suite(router, rows):
    res = router.judge([r["text"] for r in rows], ids=[r["id"] for r in rows], evidence=False)
    misses = []
    for row, r in zip(rows, res):
        alert = r.label in ("malicious", "too_complex")
        if row["expect"] == "alert":
            ok = alert and row["type"] in r.attack_types and row.get("also", row["type"]) in r.attack_types
        else:
            ok = not alert
        if not ok:
            misses.append((row["id"], row["form"], row["expect"], row.get("type"), r.label, r.attack_types,
                           r.input_kind, row["text"][:80]))
    return res, misses


@pytest.fixture(scope="module")
def router():
    from secllm.detect.route import Router

    return Router(backend="onnx-int8")


def test_suite_is_big_and_covers_every_type():
    rows = _rows()
    assert len(rows) >= 300
    types = {r.get("type") for r in rows if r["expect"] == "alert"}
    assert {"sqli", "xss", "cmdi", "path-traversal", "rfi", "open-redirect", "log4shell", "ssti", "shellshock",
            "ldap-injection", "xpath-injection"} <= types
    forms = {(r.get("type"), r["form"]) for r in rows if r["expect"] == "alert"}
    for t in ("sqli", "xss", "cmdi", "log4shell", "ssti"):
        assert {(t, "payload"), (t, "url"), (t, "request")} <= forms


def test_open_world_suite(router):
    rows = _rows()
    res, misses = judge_suite(router, rows)
    right = 1 - len(misses) / len(rows)
    for m in misses:
        print("MISS", m)
    assert right >= 0.98, f"{right:.3f} right; {len(misses)} misses: {misses}"
    # every item says what it was identified as, and which task judged it (or why none did)
    assert all(r.input_kind for r in res)
    assert all(r.task or r.status == "unsupported" for r in res)


def test_routed_cti_text_needs_a_second_opinion():
    """Text only *identified* as threat-intel prose keeps a technique only when the independent
    ATT&CK mapper also finds one; ``--task cti-attack`` (the task detector alone) is unchanged."""
    from types import SimpleNamespace

    from secllm.detect.detector import Detection
    from secllm.detect.route import Router

    class Task:
        def detect(self, items, ids=None, evidence=True):
            return [Detection(id=i, label="T1083", score=0.9, attack_type=None) for i in ids]

    class Mapper:
        def map(self, items):
            return [SimpleNamespace(status="ok", none="procdump" not in t, none_score=0.9) for t in items]

    r = Router(identifier=object())
    r._tasks["cti-attack"], r._mapper = Task(), Mapper()
    res = r.judge(["directory", "The actor ran procdump against lsass."], kinds=[("cti-text", None, 1.0)] * 2)
    assert [x.label for x in res] == ["unknown", "T1083"]
    assert res[0].details["second_opinion"]["model_label"] == "T1083" and res[0].task == "cti-attack"
    assert "second_opinion" not in (res[1].details or {})
