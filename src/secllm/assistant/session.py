"""The embedded assistant: question → intent → tools → grounded answer, with conversation context.

    >>> a = Assistant()                                                       # doctest: +SKIP
    >>> r = a.ask("Is this URL safe? https://github.com/login")              # doctest: +SKIP
    >>> r.intent, r.tool_calls[0].tool, r.tool_calls[0].result["results"][0]["label"]   # doctest: +SKIP
    ('judge', 'judge', 'benign')
    >>> a.ask("T1190 是什么？").citations[:1]                                  # doctest: +SKIP
    ['T1190']
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from secllm.assistant.answer import write
from secllm.assistant.intents import Parsed, parse
from secllm.assistant.tools import Toolbox

__all__ = ["Assistant", "Reply", "ToolCall", "MAX_QUESTION_CHARS"]

MAX_QUESTION_CHARS = 100_000


@dataclass
class ToolCall:
    tool: str
    arguments: dict[str, Any]
    result: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "arguments": self.arguments, "result": self.result}


@dataclass
class Reply:
    """One answer: the text, what was understood, and the tool calls it is made from."""
    answer: str
    language: str
    intent: str
    args: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    backend: str = "embedded"

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "language": self.language, "intent": self.intent, "arguments": self.args,
                "tool_calls": [t.to_json() for t in self.tool_calls], "citations": self.citations,
                "backend": self.backend}


class Assistant:
    """Answers questions with the project's tools (no generative model, no network). Keeps the
    subjects of the last answer (judged items, scan findings, catalogue entries) so that a
    follow-up ("and the second one?", "第二个呢？") can refer to them."""

    def __init__(self, toolbox: Toolbox | None = None):
        self.tools = toolbox or Toolbox()
        self.context: dict[str, Any] | None = None

    def understand(self, question: str, files: list[str] | tuple[str, ...] = ()) -> Parsed:
        return parse(question[:MAX_QUESTION_CHARS], tuple(files), has_context=self.context is not None)

    def ask(self, question: str, files: list[str] | tuple[str, ...] = ()) -> Reply:
        t0 = time.perf_counter()
        if not isinstance(question, str):
            question = str(question)
        p = self.understand(question, files)
        calls: list[ToolCall] = []
        extra: dict[str, Any] = {}
        intent = p.intent

        def run(tool: str, args: dict[str, Any]) -> dict[str, Any]:
            res = self.tools.call(tool, args)
            calls.append(ToolCall(tool, args, res))
            return res

        if intent == "judge":
            res = run("judge", {"items": p.args["items"]})
            if res.get("status") == "ok":
                self.context = {"kind": "items", "subjects": [r["item"] for r in res["results"]]}
        elif intent == "scan":
            if not p.args.get("files"):
                extra["note"] = ("Which file? Give the log or capture file with the question "
                                 "(`secllm ask \"what happened?\" access.log`, or upload it in the console)."
                                 if p.language == "en" else
                                 "哪个文件？请在提问时给出日志或抓包文件（`secllm ask \"发生了什么？\" access.log`，"
                                 "或在控制台上传）。")
            else:
                res = run("scan", {"files": p.args["files"]})
                if res.get("status") == "ok":
                    self.context = {"kind": "findings", "subjects": res["findings"]}
        elif intent == "knowledge":
            res = run("knowledge", {"ids": p.args["ids"]})
            if res.get("entries"):
                self.context = {"kind": "ids", "subjects": [e["id"] for e in res["entries"]]}
        elif intent == "search":
            if p.args.get("query"):
                res = run("search", {"query": p.args["query"]})
                if res.get("hits"):
                    self.context = {"kind": "ids", "subjects": [h["id"] for h in res["hits"]]}
            else:
                intent = "unknown"
        elif intent == "profile":
            run("profile", {})
        elif intent == "help":
            run("help", {})
        elif intent == "followup":
            self._followup(p, run, calls, extra)
        text, cites = write(intent, p.language, [(c.tool, c.result) for c in calls], extra)
        return Reply(text, p.language, p.intent, p.args, calls, cites, time.perf_counter() - t0)

    def _followup(self, p: Parsed, run, calls: list[ToolCall], extra: dict[str, Any]) -> None:
        ctx = self.context or {"kind": None, "subjects": []}
        subjects = ctx["subjects"]
        n = p.args.get("ordinal", 1)
        k = len(subjects) - 1 if n == -1 else n - 1
        extra["ordinal"] = n
        if not 0 <= k < len(subjects):
            extra["note"] = (f"The last answer had {len(subjects)} item(s); there is no item {n}."
                             if p.language == "en" else f"上一个回答只有 {len(subjects)} 项，没有第 {n} 项。")
            return
        subject = subjects[k]
        if ctx["kind"] == "items":
            run("judge", {"items": [subject]})
        elif ctx["kind"] == "ids":
            run("knowledge", {"ids": [subject]})
        elif ctx["kind"] == "findings":
            # the earlier scan's finding, not a new judgement: the file's kind decided it there
            calls.append(ToolCall("recall", {"ordinal": n}, {"status": "ok", "finding": subject}))
