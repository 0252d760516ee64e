"""The instruction record: one chat with its origin, split and language.

    >>> r = Instruction(id="kb:T1190:what:en", messages=[{"role": "user", "content": "What is T1190?"},
    ...                 {"role": "assistant", "content": "Exploit Public-Facing Application."}],
    ...                 source="knowledge", provenance={"catalog": "attack 18.1", "entry": "T1190"},
    ...                 group="T1190", lang="en")
    >>> Instruction.from_json(r.to_json()) == r
    True
    >>> r.question, r.answer
    ('What is T1190?', 'Exploit Public-Facing Application.')

Records are written as JSON lines (``train.jsonl``, ``val.jsonl``, ``test.jsonl``). ``messages``
follows the OpenAI chat format: ``system`` / ``user`` / ``assistant`` (optionally with ``tool_calls``:
``[{"type": "function", "function": {"name", "arguments"}}]``, ``arguments`` a JSON string) / ``tool``
(with ``tool_call_id`` and ``name``). ``group`` keeps every record about one underlying thing (a
catalogue entry, a dataset item) on one side of the split; it is stored in ``provenance``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
SPLITS = ("train", "val", "test")
LANGS = ("en", "zh")


@dataclass
class Instruction:
    """One instruction-tuning example (see the module doc for the message format)."""

    id: str
    messages: list[dict[str, Any]]
    source: str                                     # origin module: "labelled", "knowledge", "tools", "incidents"
    provenance: dict[str, Any] = field(default_factory=dict)
    split: str | None = None                        # set by the builder: train / val / test
    lang: str = "en"
    group: str | None = None                        # split key (defaults to id)

    def __post_init__(self) -> None:
        if self.lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {self.lang!r}")
        for m in self.messages:
            if m.get("role") not in ROLES:
                raise ValueError(f"{self.id}: unknown role {m.get('role')!r}")

    @property
    def question(self) -> str:
        """The text of the user turns (what the leakage check and the answer metrics read)."""
        return "\n".join(m.get("content") or "" for m in self.messages if m["role"] == "user")

    @property
    def answer(self) -> str:
        """The final assistant turn's text (tool calls excluded)."""
        for m in reversed(self.messages):
            if m["role"] == "assistant" and m.get("content"):
                return m["content"]
        return ""

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Every tool call the assistant makes, as ``{"name", "arguments": dict}``."""
        out = []
        for m in self.messages:
            for c in m.get("tool_calls") or ():
                fn = c.get("function", c)
                args = fn.get("arguments", {})
                out.append({"name": fn["name"], "arguments": json.loads(args) if isinstance(args, str) else args})
        return out

    def text(self) -> str:
        """All message text (user, assistant, tool), for de-duplication and overlap checks."""
        parts = []
        for m in self.messages:
            if m["role"] == "system":
                continue
            parts.append(m.get("content") or "")
            for c in m.get("tool_calls") or ():
                fn = c.get("function", c)
                parts.append(str(fn.get("arguments", "")))
        return "\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        prov = dict(self.provenance)
        if self.group is not None:
            prov["group"] = self.group
        return {"id": self.id, "messages": self.messages, "source": self.source, "provenance": prov,
                "split": self.split, "lang": self.lang}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Instruction:
        unknown = set(obj) - {"id", "messages", "source", "provenance", "split", "lang"}
        if unknown:
            raise ValueError(f"unknown instruction fields: {sorted(unknown)}")
        prov = dict(obj.get("provenance") or {})
        return cls(id=obj["id"], messages=list(obj["messages"]), source=obj["source"], provenance=prov,
                   split=obj.get("split"), lang=obj.get("lang", "en"), group=prov.pop("group", None))


def write_jsonl(records: Iterable[Instruction], path: str | Path) -> int:
    """Write records as JSON lines (UTF-8, Chinese kept readable); returns the count."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> Iterator[Instruction]:
    """Read records written by :func:`write_jsonl` (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        for ln in f:
            if ln.strip():
                yield Instruction.from_json(json.loads(ln))


def load_split(data_dir: str | Path, split: str) -> list[Instruction]:
    """The records of one split of a built data directory (``DIR/<split>.jsonl``)."""
    p = Path(data_dir) / f"{split}.jsonl"
    if not p.is_file():
        raise FileNotFoundError(f"{p} not found: build the data first with `secllm sft data --out {data_dir}`")
    return list(read_jsonl(p))
