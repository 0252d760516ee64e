"""Reading detect inputs (argument, stdin, text file, JSONL) and writing results (table, JSON).

Items stream: input is read and judged in chunks, so thousands of lines need constant memory.
Every line becomes one result, bad lines included (they carry an error status).

    >>> list(iter_items(["a", "b"], fmt="text"))
    [Item(id='1', text='a', error=None, invalid_utf8=False), Item(id='2', text='b', error=None, invalid_utf8=False)]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple

from secllm.detect.detector import Detection, Status
from secllm.html_escape import term_safe


class Item(NamedTuple):
    id: str
    text: str | None
    error: str | None
    invalid_utf8: bool


def iter_items(lines: Iterable[str | bytes], fmt: str = "text") -> Iterator[Item]:
    """Yield one ``Item`` per input line.

    ``fmt`` is ``text`` (one item per line) or ``jsonl`` (``{"id": ..., "text": ...}`` per line).
    Bytes lines that are not UTF-8 are decoded as latin-1 (lossless) so that the bytes are still
    judged (an attacker controls the bytes); such items are flagged ``invalid_utf8``.
    """
    for n, raw in enumerate(lines, 1):
        bad = False
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line, bad = raw.decode("latin-1"), True
        else:
            line = raw
        line = line.rstrip("\r\n")
        if fmt == "jsonl":
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Item(str(n), None, f"line {n}: invalid JSON: {exc.msg}", bad)
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                oid = str(obj.get("id", n)) if isinstance(obj, dict) else str(n)
                yield Item(oid, None, f"line {n}: expected an object with a string 'text'", bad)
                continue
            yield Item(str(obj.get("id", n)), obj["text"], None, bad)
        else:
            yield Item(str(n), line, None, bad)


def write_json(results: Iterable[Detection], out: IO[str]) -> None:
    for r in results:
        out.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")


def format_table(results: list[Detection], width: int = 60) -> str:
    """A readable table; input-derived text is made terminal-safe (no escape sequences). Routed
    results (``secllm detect`` without ``--task``) also show what each item was identified as."""
    routed = any(r.input_kind for r in results)
    head = ("id", "label", "score", "attack_type", "status", "evidence")
    rows = [head[:1] + (("kind",) if routed else ()) + head[1:]]
    for r in results:
        ev = ", ".join(f"{e.part}:{term_safe(e.text)[:24]!r}" for e in r.evidence[:3])
        if r.status == Status.UNSUPPORTED and r.error:
            ev = r.error
        types = "+".join(r.attack_types) if len(r.attack_types) > 1 else (r.attack_type or "-")
        row = (term_safe(r.id)[:12], r.label or "-", f"{r.score:.3f}" if r.score is not None else "-", types,
               r.status if r.status == Status.OK else f"{r.status}", ev[:width])
        rows.append(row[:1] + ((r.input_kind or "-",) if routed else ()) + row[1:])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)