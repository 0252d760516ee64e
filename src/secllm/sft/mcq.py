"""The shared multiple-choice sets: evaluation only (never training data).

- CyberMetric (``qa_cybermetric/CyberMetric-{80,500,2000}-v1.json``): one answer of A–D. The 80 are
  a subset of the 500 and 130 of the 500 are in the 2000: questions are de-duplicated by text.
- SecEval (``qa_seceval/seceval_questions.json``): one or more answers (exact set match); the 7
  items with an empty answer are dropped.

    >>> q = MCQ(id="x", question="Which port does HTTPS use?", options={"A": "80", "B": "443"}, answer=("B",),
    ...         source="cybermetric")
    >>> q.multi
    False
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

CYBERMETRIC_FILES = ("CyberMetric-80-v1.json", "CyberMetric-500-v1.json", "CyberMetric-2000-v1.json")
LICENCES = {"cybermetric": "no licence file (CyberMetric, Tihanyi et al. 2024)",
            "seceval": "CC BY-NC-SA 4.0 (non-commercial)"}


@dataclass(frozen=True)
class MCQ:
    id: str
    question: str
    options: dict[str, str]          # letter → text
    answer: tuple[str, ...]          # sorted letters
    source: str                      # cybermetric / seceval
    subset: str = ""                 # CyberMetric file size ("80", "500", "2000") or SecEval source

    @property
    def multi(self) -> bool:
        return self.source == "seceval"


def load_cybermetric(root: str | Path, files: tuple[str, ...] = CYBERMETRIC_FILES) -> list[MCQ]:
    """CyberMetric questions in file order (80 first), de-duplicated by question text."""
    out, seen = [], set()
    for fname in files:
        p = Path(root) / "qa_cybermetric" / fname
        if not p.is_file():
            continue
        subset = re.search(r"-(\d+)-", fname).group(1)
        for i, q in enumerate(json.loads(p.read_text(encoding="utf-8"))["questions"]):
            if q["question"] in seen:
                continue
            seen.add(q["question"])
            out.append(MCQ(id=f"cybermetric-{subset}:{i}", question=q["question"],
                           options={k: str(v) for k, v in q["answers"].items()},
                           answer=(q["solution"].strip(),), source="cybermetric", subset=subset))
    return out


def load_seceval(root: str | Path) -> list[MCQ]:
    """SecEval questions with a non-empty answer; options parsed from ``"A: text"``."""
    p = Path(root) / "qa_seceval" / "seceval_questions.json"
    if not p.is_file():
        return []
    out = []
    for q in json.loads(p.read_text(encoding="utf-8")):
        ans = tuple(sorted(set(q.get("answer") or "")))
        if not ans:
            continue
        opts = {}
        for c in q["choices"]:
            m = re.match(r"\s*([A-Z])\s*[:.)]\s*(.*)", c, re.S)
            if m:
                opts[m.group(1)] = m.group(2).strip()
        out.append(MCQ(id=f"seceval:{q['id']}", question=q["question"], options=opts, answer=ans,
                       source="seceval", subset=q.get("source", "")))
    return out


def load_all(root: str | Path) -> list[MCQ]:
    return load_cybermetric(root) + load_seceval(root)
