"""Chat-template encoding with the loss on assistant tokens only, and the tool-call text format.

Every model's own chat template renders the conversation. The text is cut at assistant turns:
``render(messages[:i], add_generation_prompt=True)`` is the prompt before assistant turn ``i``, and
``render(messages[:i+1])`` minus that prompt is the turn itself (its content and end-of-turn marker);
the turn's tokens get labels, everything else ``-100``. A template whose rendering of a shorter
conversation is not a prefix of the longer one cannot be masked this way: :class:`TemplateError`.

Tool calls are written as text so any template can carry them (the Hermes / Qwen convention):

    >>> flatten([{"role": "assistant", "content": "", "tool_calls": [{"type": "function",
    ...     "function": {"name": "kb_show", "arguments": "{\\"id\\": \\"T1190\\"}"}}]},
    ...     {"role": "tool", "name": "kb_show", "content": "{...}"}])
    [{'role': 'assistant', 'content': '<tool_call>\\n{"name": "kb_show", "arguments": {"id": "T1190"}}\\n</tool_call>'}, {'role': 'user', 'content': '<tool_response>\\n{...}\\n</tool_response>'}]
    >>> parse_tool_calls('<tool_call>\\n{"name": "detect", "arguments": {"text": "x"}}\\n</tool_call>')
    ([{'name': 'detect', 'arguments': {'text': 'x'}}], '')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

IGNORE = -100
_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)


class TemplateError(ValueError):
    """The tokenizer's chat template cannot be masked turn by turn (or there is none)."""


def flatten(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """OpenAI-format messages → plain ``{role, content}`` turns (tool calls and results as tagged text)."""
    out = []
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                fn = c.get("function", c)
                args = fn.get("arguments", {})
                args = json.loads(args) if isinstance(args, str) else args
                calls.append("<tool_call>\n" + json.dumps({"name": fn["name"], "arguments": args}, ensure_ascii=False)
                             + "\n</tool_call>")
            content = (content + "\n" if content else "") + "\n".join(calls)
        elif role == "tool":
            role, content = "user", f"<tool_response>\n{content}\n</tool_response>"
        out.append({"role": role, "content": content})
    return out


def parse_tool_calls(text: str) -> tuple[list[dict[str, Any]], str]:
    """``(calls, rest)``: the ``<tool_call>`` blocks of a generated text (invalid JSON blocks are left in
    ``rest``) and the text around them."""
    calls = []
    for m in _CALL.finditer(text):
        try:
            obj = json.loads(m.group(1))
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            args = obj.get("arguments", {})
            calls.append({"name": obj["name"], "arguments": args if isinstance(args, dict) else {"value": args}})
    rest = _CALL.sub(lambda m: "" if _valid(m.group(1)) else m.group(0), text).strip()
    return calls, rest


def _valid(s: str) -> bool:
    try:
        obj = json.loads(s)
    except ValueError:
        return False
    return isinstance(obj, dict) and isinstance(obj.get("name"), str)


def render(tokenizer, messages: list[dict[str, Any]], *, generation_prompt: bool = False) -> str:
    """The chat template's text for ``messages`` (flattened first)."""
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateError("the tokenizer has no chat template: use an instruct model, or set tokenizer.chat_template")
    return tokenizer.apply_chat_template(flatten(messages), tokenize=False, add_generation_prompt=generation_prompt)


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]             # IGNORE outside assistant turns
    truncated: bool = False

    @property
    def n_target(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def encode(tokenizer, messages: list[dict[str, Any]], max_len: int | None = None) -> Encoded:
    """Token ids and labels (assistant tokens only) of one conversation; cut at ``max_len`` tokens."""
    segs: list[tuple[str, bool]] = []
    done = ""
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = render(tokenizer, messages[:i], generation_prompt=True)
        full = render(tokenizer, messages[: i + 1])
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise TemplateError("the chat template does not render conversations as prefixes of each other; "
                                "assistant-only masking needs that")
        segs += [(prompt[len(done):], False), (full[len(prompt):], True)]
        done = full
    ids: list[int] = []
    labels: list[int] = []
    for text, target in segs:
        if not text:
            continue
        t = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += t
        labels += t if target else [IGNORE] * len(t)
    cut = max_len is not None and len(ids) > max_len
    if cut:
        ids, labels = ids[:max_len], labels[:max_len]
    return Encoded(ids, labels, cut)


def prompt_ids(tokenizer, messages: list[dict[str, Any]]) -> list[int]:
    """Token ids of the prompt that asks for the next assistant turn (generation and scoring)."""
    return tokenizer(render(tokenizer, messages, generation_prompt=True), add_special_tokens=False)["input_ids"]


def continuation_ids(tokenizer, messages: list[dict[str, Any]], answer: str) -> list[int]:
    """Token ids of ``answer`` as a whole assistant turn after ``messages`` (end-of-turn marker included)."""
    prompt = render(tokenizer, messages, generation_prompt=True)
    full = render(tokenizer, messages + [{"role": "assistant", "content": answer}])
    if not full.startswith(prompt):
        raise TemplateError("the chat template does not render the answer after its prompt")
    return tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
