"""Incident summaries (pending issue 21): an incident object as ``secllm incidents --json`` writes it
→ a summary an analyst can read (actors, stages in kill-chain order, severity, next steps).

Until the incidents work lands, this source reads incident JSON lines given to it (the schema of
issue 21: ``id, actors, first_seen, last_seen, stages [{tactic, techniques, first_seen, count,
succeeded}], severity, summary``); when it lands, the CLI feeds it the correlator's output on the
training splits.

    >>> inc = {"id": "inc-1", "actors": ["ip-3fa9"], "first_seen": "2024-01-01T10:00:00Z",
    ...        "last_seen": "2024-01-01T10:05:00Z", "severity": "high", "summary": "SQLi then webshell",
    ...        "stages": [{"tactic": "initial-access", "techniques": ["T1190"], "count": 12, "succeeded": True}]}
    >>> [r] = summaries([inc], lang="en")
    >>> print(r.answer.splitlines()[0])
    Incident inc-1: actor ip-3fa9, 2024-01-01T10:00:00Z → 2024-01-01T10:05:00Z, severity high.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from secllm.sft.records import Instruction
from secllm.sft.sources.names import TACTICS_ZH

REQUIRED = ("id", "actors", "stages", "severity")


def _answer(inc: dict[str, Any], lang: str) -> str:
    actors = ", ".join(inc["actors"])
    span = f"{inc.get('first_seen', '?')} → {inc.get('last_seen', '?')}"
    lines = []
    if lang == "en":
        lines.append(f"Incident {inc['id']}: actor {actors}, {span}, severity {inc['severity']}.")
        for s in inc["stages"]:
            ok = "succeeded" if s.get("succeeded") else "not confirmed"
            lines.append(f"- {s['tactic']}: {', '.join(s.get('techniques', ()))} ({s.get('count', 0)} events, {ok})")
        if inc.get("summary"):
            lines.append(f"Summary: {inc['summary']}")
    else:
        lines.append(f"事件 {inc['id']}：攻击者 {actors}，时间 {span}，严重程度 {inc['severity']}。")
        for s in inc["stages"]:
            ok = "已成功" if s.get("succeeded") else "未确认成功"
            lines.append(f"- {TACTICS_ZH.get(s['tactic'], s['tactic'])}（{s['tactic']}）："
                         f"{', '.join(s.get('techniques', ()))}（{s.get('count', 0)} 条事件，{ok}）")
        if inc.get("summary"):
            lines.append(f"摘要（原文）：{inc['summary']}")
    return "\n".join(lines)


def summaries(incidents: Iterable[dict[str, Any]], *, lang: str = "en", origin: str = "secllm incidents"
              ) -> list[Instruction]:
    """One summary instruction per incident; objects missing a required field are skipped."""
    out = []
    for inc in incidents:
        if any(k not in inc for k in REQUIRED):
            continue
        shown = {k: inc[k] for k in ("id", "actors", "first_seen", "last_seen", "stages", "severity") if k in inc}
        q = ("Summarise this incident for an analyst:\n" if lang == "en" else "请为分析师总结这个安全事件：\n") + \
            json.dumps(shown, ensure_ascii=False)
        out.append(Instruction(id=f"incidents:{inc['id']}:{lang}", source="incidents", lang=lang,
                               group=f"incident:{inc['id']}", provenance={"incident": inc["id"], "origin": origin},
                               messages=[{"role": "user", "content": q},
                                         {"role": "assistant", "content": _answer(inc, lang)}]))
    return out


def build(paths: Iterable[str | Path]) -> list[Instruction]:
    """Summaries (en and zh) of every incident in the given JSON-lines files."""
    incs = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            incs.extend(json.loads(ln) for ln in f if ln.strip())
    return summaries(incs, lang="en", origin=str(p)) + summaries(incs, lang="zh", origin=str(p))
