"""Tool-calling traces: question → tool call (JSON) → tool result → grounded answer.

The tools are the project's own: ``detect`` (judge one item), ``kb_search`` (search the knowledge
base), ``kb_show`` (one catalogue entry), ``scan`` (scan a file). Their results here are what the
real tools returned on real items (the CLI runs them; a test passes stand-ins): nothing is invented,
the answer only restates the result. Traces use the OpenAI message format (an assistant message
with ``tool_calls``, then a ``tool`` message); :mod:`secllm.sft.chat` renders them for models whose
chat template has no tool support.

    >>> runner = {"kb_show": lambda a: {"id": "T1190", "name": "Exploit Public-Facing Application",
    ...                                 "description": "Adversaries may exploit ...", "mitigations": []}}
    >>> [r] = kb_show_traces(["T1190"], runner, seed=0)
    >>> [m["role"] for m in r.messages]
    ['system', 'user', 'assistant', 'tool', 'assistant']
    >>> r.tool_calls
    [{'name': 'kb_show', 'arguments': {'id': 'T1190'}}]
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from secllm.data.desensitize import desensitize
from secllm.sft.records import Instruction
from secllm.sft.sources.knowledge import ORIGINS as KB_ORIGINS
from secllm.sft.sources.labelled import SETS
from secllm.sft.sources.names import label_name

ToolFn = Callable[[dict[str, Any]], dict[str, Any]]

# OpenAI function specs (``tools=[{"type": "function", "function": ...}]``). Keep in step with the
# assistant's tool names when it lands (issue 22).
TOOL_SPECS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "detect", "description": "Judge one item (HTTP request, URL, payload, log line, script) with "
        "SecLLM's detectors: verdict, score, attack type, evidence spans.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}},
    {"type": "function", "function": {
        "name": "kb_search", "description": "Search MITRE ATT&CK and CWE (Chinese or English query).",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"},
                                                        "top": {"type": "integer", "default": 5}},
                       "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "kb_show", "description": "Show one ATT&CK or CWE entry by id (T1190, CWE-89, M1050, ...).",
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}}},
    {"type": "function", "function": {
        "name": "scan", "description": "Scan a file (access log, requests, log lines) and summarise the findings.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
]
TOOL_NAMES = tuple(t["function"]["name"] for t in TOOL_SPECS)
MAX_RESULT_CHARS = 1500
MIXED = ("labelled web/log training items", "mixed: as those items' sets")


def item_origin(record_id: str) -> tuple[str, str]:
    """(origin, licence) of the labelled set a record id (``dataset:split:n``) comes from.

        >>> item_origin("http_params:train:7")
        ('Morzeux/HttpParamsDataset', 'MIT')
    """
    name = record_id.split(":", 1)[0]
    spec = next((s for s in SETS.values() if s.loader == name), None)
    return (spec.origin, spec.licence) if spec else MIXED


def entry_origin(entry: str | None) -> tuple[str, str]:
    """(origin, licence) of a catalogue entry (CWE-… is CWE, the rest ATT&CK); ``None``: both catalogues."""
    if entry is None:
        return ("ATT&CK / CWE via secllm kb", "ATT&CK and CWE terms of use (attribute MITRE)")
    return KB_ORIGINS["cwe" if entry.upper().startswith("CWE-") else "attack"]


def system_prompt(lang: str) -> str:
    """The system turn of every trace: the tools, as JSON, and how to call them."""
    specs = json.dumps([t["function"] for t in TOOL_SPECS], ensure_ascii=False)
    if lang == "zh":
        return ("你是 SecLLM 安全助手。需要事实时调用工具，只根据工具结果回答。可用工具（JSON）：" + specs)
    return "You are the SecLLM security assistant. Call a tool when you need facts; answer only from tool results. " \
           "Tools (JSON): " + specs


def _trim(result: dict[str, Any]) -> str:
    s = json.dumps(result, ensure_ascii=False, sort_keys=True)
    return s if len(s) <= MAX_RESULT_CHARS else s[:MAX_RESULT_CHARS] + "…"


def trace(*, tid: str, lang: str, question: str, tool: str, arguments: dict[str, Any], result: dict[str, Any],
          answer: str, group: str, provenance: dict[str, Any]) -> Instruction:
    """One trace record."""
    call_id = "call_" + hashlib.sha256(f"{tid}:{tool}".encode()).hexdigest()[:12]      # stable across runs
    msgs = [{"role": "system", "content": system_prompt(lang)},
            {"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": call_id, "type": "function",
                 "function": {"name": tool, "arguments": json.dumps(arguments, ensure_ascii=False)}}]},
            {"role": "tool", "tool_call_id": call_id, "name": tool, "content": _trim(result)},
            {"role": "assistant", "content": answer}]
    return Instruction(id=tid, messages=msgs, source="tools", lang=lang, group=group,
                       provenance={"tool": tool, **provenance})


# ------------------------------------------------------------------------------------------------
_DQ = {"en": ("Is this malicious? {x}", "Check this for me: {x}", "Can you judge this input?\n{x}",
              "Is the following safe?\n{x}"),
       "zh": ("这个是恶意的吗？{x}", "帮我检查一下：{x}", "请判断这个输入是否安全：\n{x}", "下面这个有没有问题？\n{x}")}


def detect_answer(r: dict[str, Any], lang: str) -> str:
    """A grounded answer from one ``detect`` result (Detection JSON)."""
    st = r.get("status", "ok")
    if st != "ok" or r.get("label") is None:
        why = r.get("error") or st
        return f"The detector could not judge it ({st}: {why})." if lang == "en" else f"检测器无法判定该输入（{st}：{why}）。"
    s = round(float(r.get("score") or 0.0), 3)
    if r["label"] in ("benign", "normal"):
        return f"Verdict: benign (P(malicious) = {s})." if lang == "en" else f"判定：正常（恶意概率 {s}）。"
    at = r.get("attack_type")
    name = label_name(at, lang) if at else ("malicious" if lang == "en" else "恶意")
    head = f"Verdict: malicious — {name} (score {s})." if lang == "en" else f"判定：恶意——{name}（分数 {s}）。"
    ev = [e["text"] for e in r.get("evidence") or () if e.get("text", "").strip()][:3]
    if ev:
        spans = "; ".join(f"`{desensitize(t)}`" for t in ev)
        head += f"\nEvidence: {spans}." if lang == "en" else f"\n证据：{spans}。"
    k = r.get("knowledge") or {}
    if k.get("cwe") or k.get("attack"):
        ids = ", ".join(list(k.get("cwe", ())) + list(k.get("attack", ())))
        head += f"\nRelated: {ids}." if lang == "en" else f"\n相关条目：{ids}。"
    return head


def detect_traces(items: Sequence[tuple[str, str]], runner: Mapping[str, ToolFn], *, seed: int = 0,
                  zh_share: float = 0.5, origins: Mapping[str, tuple[str, str]] | None = None) -> list[Instruction]:
    """``items``: (dataset record id, text) of training-split items; ``origins``: record id → (origin,
    licence) where known (else :func:`item_origin` reads it from the id)."""
    rng = random.Random(f"{seed}:detect")
    out = []
    for rid, text in items:
        lang = "zh" if rng.random() < zh_share else "en"
        x = desensitize(text)[:600]
        res = runner["detect"]({"text": x})
        out.append(trace(tid=f"tools:detect:{rid}", lang=lang, question=rng.choice(_DQ[lang]).format(x=x),
                         tool="detect", arguments={"text": x}, result=res, answer=detect_answer(res, lang),
                         group=f"item:{rid}", provenance={"record": rid, "dataset_split": "train",
                                                          **dict(zip(("origin", "licence"), (origins or {}).get(rid) or item_origin(rid)))}))
    return out


_SQ = {"en": ("Search the knowledge base for {q}.", "Which ATT&CK or CWE entries cover {q}?", "Find entries about {q}."),
       "zh": ("在知识库里搜索“{q}”。", "哪些 ATT&CK 或 CWE 条目与“{q}”有关？", "帮我查一下“{q}”相关的条目。")}


def kb_search_traces(queries: Iterable[tuple[str, str, str]], runner: Mapping[str, ToolFn], *, seed: int = 0
                     ) -> list[Instruction]:
    """``queries``: (query, lang, entry id the query was written from — the split group)."""
    rng = random.Random(f"{seed}:kb_search")
    out = []
    for q, lang, entry in queries:
        res = runner["kb_search"]({"query": q, "top": 5})
        hits = res.get("hits", [])[:5]
        if hits:
            lst = "; ".join(f"{h['id']} {h.get('name', '')}".strip() for h in hits)
            ans = f"Top matches: {lst}." if lang == "en" else f"最相关的条目：{lst}。"
        else:
            ans = "No entry matches." if lang == "en" else "没有找到匹配的条目。"
        out.append(trace(tid=f"tools:kb_search:{entry}:{lang}", lang=lang, question=rng.choice(_SQ[lang]).format(q=q),
                         tool="kb_search", arguments={"query": q, "top": 5}, result=res, answer=ans,
                         group=f"entry:{entry}", provenance={"entry": entry, "catalogs": res.get("catalogs"),
                                                             **dict(zip(("origin", "licence"), entry_origin(None)))}))
    return out


_KQ = {"en": ("What is {id}?", "Show me {id}.", "Tell me about {id} and how to mitigate it."),
       "zh": ("{id} 是什么？", "给我看看 {id}。", "介绍一下 {id}，以及怎么缓解。")}


def kb_show_answer(c: dict[str, Any], lang: str) -> str:
    """A grounded answer from one ``kb_show`` card."""
    if not c or c.get("error"):
        return "No such entry in the catalogues." if lang == "en" else "目录中没有这个条目。"
    desc = (c.get("description") or "").strip()
    desc = desc if len(desc) <= 300 else desc[:299] + "…"
    mits = "; ".join(f"{m['id']} {m.get('name') or m.get('strategy') or ''}".strip()
                     for m in (c.get("mitigations") or ())[:3] if isinstance(m, dict) and m.get("id"))
    if lang == "en":
        s = f"{c['id']} {c.get('name', '')}: {desc}"
        return s + (f"\nMitigations: {mits}." if mits else "") + (f"\n{c['url']}" if c.get("url") else "")
    s = f"{c['id']}（{c.get('name', '')}）。目录原文（英文）：{desc}"
    return s + (f"\n缓解措施：{mits}。" if mits else "") + (f"\n{c['url']}" if c.get("url") else "")


def kb_show_traces(ids: Iterable[str], runner: Mapping[str, ToolFn], *, seed: int = 0, zh_share: float = 0.5
                   ) -> list[Instruction]:
    rng = random.Random(f"{seed}:kb_show")
    out = []
    for ident in ids:
        lang = "zh" if rng.random() < zh_share else "en"
        res = runner["kb_show"]({"id": ident})
        out.append(trace(tid=f"tools:kb_show:{ident}", lang=lang, question=rng.choice(_KQ[lang]).format(id=ident),
                         tool="kb_show", arguments={"id": ident}, result=res, answer=kb_show_answer(res, lang),
                         group=f"entry:{ident}", provenance={"entry": ident, "catalogs": res.get("catalogs"),
                                                             **dict(zip(("origin", "licence"), entry_origin(ident)))}))
    return out


_FQ = {"en": ("Scan {p} and tell me what you find.", "Anything malicious in {p}?"),
       "zh": ("扫描一下 {p}，告诉我发现了什么。", "{p} 里有恶意内容吗？")}


def scan_answer(s: dict[str, Any], lang: str) -> str:
    """A grounded answer from one ``scan`` summary: ``{"items", "verdicts": {...}, "findings": [...]}``."""
    v = s.get("verdicts", {})
    mal = int(v.get("malicious", 0))
    top = "; ".join(f"{f['id']} {f.get('attack_type') or f.get('label')}" for f in s.get("findings", [])[:3])
    if lang == "en":
        out = f"Scanned {s.get('items', 0)} items: {mal} malicious, {int(v.get('benign', 0))} benign."
        return out + (f" First findings: {top}." if top else "")
    out = f"共扫描 {s.get('items', 0)} 条：恶意 {mal} 条，正常 {int(v.get('benign', 0))} 条。"
    return out + (f"首批发现：{top}。" if top else "")


def scan_traces(files: Iterable[tuple[str, str]], runner: Mapping[str, ToolFn], *, seed: int = 0,
                zh_share: float = 0.5) -> list[Instruction]:
    """``files``: (path the tool scans, group key — the dataset items the file was made from)."""
    rng = random.Random(f"{seed}:scan")
    out = []
    for path, group in files:
        lang = "zh" if rng.random() < zh_share else "en"
        name = path.rsplit("/", 1)[-1]
        res = runner["scan"]({"path": path})
        out.append(trace(tid=f"tools:scan:{group}", lang=lang, question=rng.choice(_FQ[lang]).format(p=name),
                         tool="scan", arguments={"path": name}, result=res, answer=scan_answer(res, lang),
                         group=f"file:{group}", provenance={"file": name, "dataset_split": "train",
                                                            **dict(zip(("origin", "licence"), MIXED))}))
    return out
