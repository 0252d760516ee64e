"""Reading detect inputs (argument, stdin, text file, JSONL) and writing results (table, JSON).

Items stream: input is read and judged in chunks, so thousands of lines need constant memory.
Every line becomes one result, bad lines included (they carry an error status).

    >>> list(iter_items(["a", "b"], fmt="text"))
    [Item(id='1', text='a', error=None, invalid_utf8=False, status=None), Item(id='2', text='b', error=None, invalid_utf8=False, status=None)]
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple

from secllm.data.bounded import LineError, clean_id, iter_lines, json_line, parse_json_line
from secllm.data.corpus import scrub_surrogates
from secllm.detect.detector import Detection, Status
from secllm.html_escape import term_safe


class Item(NamedTuple):
    id: str
    text: str | None
    error: str | None
    invalid_utf8: bool
    status: str | None = None          # with ``error``: bad_json / too_large / bad_input


def _lines(source: Iterable[str | bytes] | IO[bytes]) -> Iterator[str | bytes | LineError]:
    """A binary stream is read in bounded lines (an over-long line is skipped, never held whole);
    any other iterable is taken line by line as it is."""
    if isinstance(source, (io.BufferedIOBase, io.RawIOBase)):
        return iter_lines(source)                       # type: ignore[arg-type]
    return iter(source)


def iter_items(lines: Iterable[str | bytes] | IO[bytes], fmt: str = "text") -> Iterator[Item]:
    """Yield one ``Item`` per input line; a line that cannot be read is an item with an error.

    ``lines``: an iterable of lines, or a binary stream (read in lines of at most
    ``MAX_LINE_BYTES``; a longer one is a ``too_large`` item). ``fmt`` is ``text`` (one item per
    line) or ``jsonl`` (``{"id": ..., "text": ...}`` per line; any line that does not parse, or is
    not such an object, is a ``bad_json`` item, whatever the parser raised). Bytes lines that are
    not UTF-8 are decoded as latin-1 (lossless) so that the bytes are still judged (an attacker
    controls the bytes); such items are flagged ``invalid_utf8``. Ids and texts are scrubbed of
    lone surrogates (``"\\ud800"`` in JSON), so every writer can encode them.
    """
    for n, raw in enumerate(_lines(lines), 1):
        if isinstance(raw, LineError):
            code = "too_large" if raw.code == "too_large" else "bad_input"
            yield Item(str(n), None, f"line {n}: {raw}", False, code)
            continue
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
            obj, err = parse_json_line(line)
            if err is not None:
                yield Item(str(n), None, f"line {n}: {err}", bad, "bad_json")
                continue
            oid = clean_id(obj.get("id"), str(n)) if isinstance(obj, dict) else str(n)
            if oid is None:
                yield Item(str(n), None, f"line {n}: 'id' must be a string or a number", bad, "bad_json")
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                yield Item(oid, None, f"line {n}: expected an object with a string 'text'", bad, "bad_json")
                continue
            yield Item(oid, scrub_surrogates(obj["text"]), None, bad)
        else:
            yield Item(str(n), scrub_surrogates(line), None, bad)


def write_json(results: Iterable[Detection], out: IO[str]) -> None:
    """One JSON line per result; never raises on odd strings (lone surrogates become U+FFFD)."""
    for r in results:
        out.write(json_line(r.to_json()) + "\n")


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