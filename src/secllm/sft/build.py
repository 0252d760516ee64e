"""Assemble instruction data: de-duplicate, drop anything that overlaps an evaluation MCQ, split
by group, write JSONL splits, a manifest and the data card.

    >>> from secllm.sft.records import Instruction
    >>> mk = lambda i, a: Instruction(id=i, source="knowledge", group=i, messages=[
    ...     {"role": "user", "content": "How do I stop SQL injection?"}, {"role": "assistant", "content": a}])
    >>> recs = [mk("a", "Use prepared statements."), mk("b", "use prepared   statements!"), mk("c", "x")]
    >>> kept, stats = deduplicate(recs)
    >>> [r.id for r in kept], stats
    (['a', 'c'], {'exact': 0, 'near': 1})

Rules (the data card repeats them):
- **Exact duplicates**: identical message text (user + assistant + tool turns); the first is kept.
- **Near duplicates**: identical answer under :func:`secllm.sft.text.normalize` *and* identical
  normalised question, or identical normalised whole text.
- **Evaluation overlap**: a record is dropped when any word 8-gram of its text (Latin words,
  single CJK characters) occurs in an MCQ question or in an MCQ option of ≥ 8 words (CyberMetric
  and SecEval, all of them: they are evaluation-only). Shorter options cannot be checked this way
  without dropping every mention of a common term; their count is reported.
- **Split**: by ``group`` (one catalogue entry, one dataset item, one file) with
  ``secllm.data.split.group_split``, so the zh and en versions of one answer, and the Q&A and
  tool traces about one entry, land on the same side.
"""

from __future__ import annotations

import json
import platform
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secllm.data.split import group_split
from secllm.sft.mcq import LICENCES, MCQ
from secllm.sft.records import Instruction, write_jsonl
from secllm.sft.text import ngrams, normalize, words

OVERLAP_N = 8


def deduplicate(records: Sequence[Instruction]) -> tuple[list[Instruction], dict[str, int]]:
    """Drop exact and near duplicates (first kept); returns (kept, {"exact", "near"} counts)."""
    seen_exact, seen_near = set(), set()
    kept, stats = [], {"exact": 0, "near": 0}
    for r in records:
        t = r.text()
        if t in seen_exact:
            stats["exact"] += 1
            continue
        seen_exact.add(t)
        keys = (("qa", normalize(r.question), normalize(r.answer)), ("all", normalize(t)))
        if any(k in seen_near for k in keys):
            stats["near"] += 1
            continue
        seen_near.update(keys)
        kept.append(r)
    return kept, stats


@dataclass
class OverlapIndex:
    """Word n-grams of the evaluation MCQs (questions and long options) → the MCQ ids that hold them."""

    n: int = OVERLAP_N
    grams: dict[tuple[str, ...], set[str]] = field(default_factory=dict)
    short_options: int = 0
    questions: int = 0

    @classmethod
    def from_mcqs(cls, mcqs: Sequence[MCQ], n: int = OVERLAP_N) -> OverlapIndex:
        idx = cls(n=n)
        for q in mcqs:
            idx.questions += 1
            for text in (q.question, *q.options.values()):
                w = words(text)
                if len(w) < n:
                    idx.short_options += text is not q.question
                    continue
                for g in ngrams(w, n):
                    idx.grams.setdefault(g, set()).add(q.id)
        return idx

    def hits(self, text: str) -> set[str]:
        """Ids of the MCQs sharing an n-gram with ``text``."""
        out: set[str] = set()
        for g in ngrams(text, self.n):
            ids = self.grams.get(g)
            if ids:
                out |= ids
        return out


def drop_overlap(records: Sequence[Instruction], index: OverlapIndex) -> tuple[list[Instruction], list[dict]]:
    """Records without any MCQ overlap, and one log row per dropped record."""
    kept, dropped = [], []
    for r in records:
        ids = index.hits(r.text())
        if ids:
            dropped.append({"id": r.id, "source": r.source, "mcq": sorted(ids)[:5], "mcq_total": len(ids),
                            "mcq_sets": sorted({i.split(":")[0].split("-")[0] for i in ids})})
        else:
            kept.append(r)
    return kept, dropped


def assign_splits(records: Sequence[Instruction], fractions=(0.9, 0.05, 0.05), seed: int = 0) -> None:
    """Set ``split`` on every record, grouping by ``group`` (or ``id``)."""
    groups = [r.group or r.id for r in records]
    for r, s in zip(records, group_split(groups, fractions=fractions, seed=seed)):
        r.split = s


@dataclass
class BuildReport:
    counts: dict[str, Any]
    dedupe: dict[str, int]
    overlap_dropped: int
    overlap_by_source: dict[str, int]
    overlap_by_set: dict[str, int]
    mcq_questions: int
    mcq_short_options: int
    origins: list[dict[str, Any]]
    settings: dict[str, Any]


def build_dataset(parts: dict[str, list[Instruction]], out_dir: str | Path, *, mcqs: Sequence[MCQ],
                  fractions=(0.9, 0.05, 0.05), seed: int = 0, settings: dict[str, Any] | None = None,
                  pending: Sequence[str] = ()) -> BuildReport:
    """Write ``train/val/test.jsonl``, ``overlap_dropped.jsonl``, ``manifest.json``, ``DATA_CARD.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    allrecs = [r for name in parts for r in parts[name]]
    kept, dd = deduplicate(allrecs)
    index = OverlapIndex.from_mcqs(mcqs)
    kept, dropped = drop_overlap(kept, index)
    assign_splits(kept, fractions, seed)
    for s in ("train", "val", "test"):
        write_jsonl([r for r in kept if r.split == s], out / f"{s}.jsonl")
    with open(out / "overlap_dropped.jsonl", "w", encoding="utf-8") as f:
        for d in dropped:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    counts: dict[str, Any] = {"total": len(kept), "input": len(allrecs)}
    by = defaultdict(Counter)
    for r in kept:
        by[r.source][f"{r.split}"] += 1
        by[r.source][f"lang:{r.lang}"] += 1
    counts["by_source"] = {k: dict(v) for k, v in sorted(by.items())}
    counts["by_split"] = dict(Counter(r.split for r in kept))
    origins = _origins(kept)
    rep = BuildReport(counts=counts, dedupe=dd, overlap_dropped=len(dropped),
                      overlap_by_source=dict(Counter(d["source"] for d in dropped)),
                      overlap_by_set=dict(Counter(s for d in dropped for s in d["mcq_sets"])),
                      mcq_questions=index.questions, mcq_short_options=index.short_options, origins=origins,
                      settings={**(settings or {}), "fractions": list(fractions), "seed": seed,
                                "overlap_n": index.n, "built": time.strftime("%Y-%m-%d %H:%M:%S"),
                                "python": platform.python_version(), "pending": list(pending)})
    (out / "manifest.json").write_text(json.dumps(rep.__dict__, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "DATA_CARD.md").write_text(data_card(rep), encoding="utf-8")
    return rep


def _origins(records: Sequence[Instruction]) -> list[dict[str, Any]]:
    rows: dict[tuple, Counter] = defaultdict(Counter)
    for r in records:
        p = r.provenance
        key = (r.source, p.get("dataset") or p.get("catalog") or p.get("tool") or p.get("origin", ""),
               p.get("origin", ""), p.get("licence", ""))
        rows[key][r.split] += 1
    return [{"source": k[0], "what": k[1], "origin": k[2], "licence": k[3], **dict(v)} for k, v in sorted(rows.items())]


def data_card(rep: BuildReport) -> str:
    """The data card as Markdown."""
    c = rep.counts
    lines = ["# SecLLM instruction data — data card", "",
             f"Built {rep.settings.get('built')} (seed {rep.settings.get('seed')}). "
             f"{c['total']:,} records kept of {c['input']:,} generated.", "",
             "Record: `{\"id\", \"messages\": [{\"role\", \"content\"}...], \"source\", \"provenance\", \"split\", "
             "\"lang\"}` (OpenAI chat format; tool traces carry `tool_calls` and `tool` turns).", "",
             "## What came from where", "",
             "| source | what | origin | licence | train | val | test |", "|---|---|---|---|---:|---:|---:|"]
    for o in rep.origins:
        lic = o["licence"] or "—"
        if any(w in lic.lower() for w in ("no licence", "non-commercial", "nc-", "research", "mixed")):
            lic = f"**{lic}**"
        lines.append(f"| {o['source']} | {o['what']} | {o['origin'] or '—'} | {lic} | {o.get('train', 0)} | "
                     f"{o.get('val', 0)} | {o.get('test', 0)} |")
    lines += ["", "Licences in **bold** restrict use (no licence stated, research-only or non-commercial terms): "
              "records from those sets are for research use; do not redistribute them with a release.", "",
              "## Per source and language", "", "| source | train | val | test | en | zh |", "|---|---:|---:|---:|---:|---:|"]
    for s, v in c["by_source"].items():
        lines.append(f"| {s} | {v.get('train', 0)} | {v.get('val', 0)} | {v.get('test', 0)} | {v.get('lang:en', 0)} | "
                     f"{v.get('lang:zh', 0)} |")
    lines += ["", "## Cleaning and leakage control", "",
              f"- Exact duplicates dropped: {rep.dedupe['exact']}; near duplicates (normalised text) dropped: "
              f"{rep.dedupe['near']}.",
              f"- Evaluation overlap: {rep.overlap_dropped} records dropped because a word "
              f"{rep.settings['overlap_n']}-gram of theirs occurs in one of {rep.mcq_questions:,} MCQ questions or "
              f"their options (CyberMetric, SecEval; evaluation only). By source: "
              f"{json.dumps(rep.overlap_by_source, ensure_ascii=False)}; by MCQ set: "
              f"{json.dumps(rep.overlap_by_set)}. {rep.mcq_short_options:,} options are shorter than "
              f"{rep.settings['overlap_n']} words and are not checked (their questions are). "
              "The dropped ids are in `overlap_dropped.jsonl`.",
              "- Labelled sets: only their **training** splits (the split rule of `secllm.data.sources`) are "
              "read; their validation and test items never become instructions.",
              "- Split: by group (catalogue entry / dataset item / file), "
              f"fractions {rep.settings['fractions']} — the instruction `test.jsonl` is a held-out set of "
              "instructions, not the datasets' test splits.",
              "- Items are desensitised (`secllm.data.desensitize`) before they enter an instruction.", "",
              "## MCQ sets (evaluation only)", ""]
    for k, v in LICENCES.items():
        lines.append(f"- {k}: **{v}**")
    if rep.settings.get("pending"):
        lines += ["", "## Pending sources", ""] + [f"- {p}" for p in rep.settings["pending"]]
    lines += ["", "## Settings", "", "```json", json.dumps(rep.settings, indent=1, ensure_ascii=False), "```", ""]
    return "\n".join(lines)
