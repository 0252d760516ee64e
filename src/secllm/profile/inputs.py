"""Reading learning traffic from files: raw requests, access logs, URL lists, JSONL, log lines, sessions.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "urls.txt"
    >>> _ = p.write_text("/a?x=1\\n\\n/b?y=2\\n")
    >>> read_learning_items([p], "auto")
    (['/a?x=1', '/b?y=2'], 'url')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from secllm.data.bounded import MAX_LINE_BYTES, parse_json_line, read_input
from secllm.data.corpus import scrub_surrogates
from secllm.data.http import iter_raw_requests, split_web_input
from secllm.data.readers import parse_access_log_line

FILE_FORMATS = ("auto", "http", "access-log", "urls", "jsonl", "log", "sessions")
# the format name the learner uses for items of each file format
LEARN_FORMAT = {"auto": "auto", "http": "http", "access-log": "access-log", "urls": "url", "jsonl": "auto",
                "log": "log", "sessions": "sessions"}


def _read_text(path: Path) -> str:
    # streamed and bounded: a gzip bomb stops with InputLimitError (a ValueError) at 16 MiB, and no
    # file holds more than MAX_FILE_BYTES (issue 18)
    raw, broken = read_input(path)
    if broken:
        raise ValueError(f"{path}: {broken}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")            # lossless: every byte stays one character


def sniff_format(path: Path, text: str) -> str:
    """``jsonl`` by name; else from the first non-empty line: access-log line, request line or URL list."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    first = next((line for line in text.splitlines() if line.strip()), "")
    if parse_access_log_line(first) is not None:
        return "access-log"
    if split_web_input(first.strip())[0] == "http":
        return "http"
    return "urls"


def read_learning_items(paths: Sequence[str | Path], fmt: str = "auto", text_field: str = "text"
                        ) -> tuple[list[str], str]:
    """All items of ``paths`` in order, and the format to learn them with.

    ``fmt``: ``auto`` (sniffed per file), ``http`` (several raw requests per file),
    ``access-log``/``urls``/``log``/``sessions`` (one item per non-empty line), ``jsonl``
    (``text_field`` of each object; lines that are not such objects are skipped).
    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for an unknown format.
    """
    if fmt not in FILE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FILE_FORMATS}")
    items: list[str] = []
    kinds = set()
    for p in map(Path, paths):
        if not p.is_file():
            raise FileNotFoundError(f"no such file: {p}")
        text = _read_text(p)
        f = sniff_format(p, text) if fmt == "auto" else fmt
        kinds.add(f)
        if f == "http":
            items.extend(raw for _, _, raw in iter_raw_requests(text))
        elif f == "jsonl":
            for line in text.splitlines():
                obj, _ = parse_json_line(line)          # any unreadable line is skipped, never raised
                if isinstance(obj, dict) and isinstance(obj.get(text_field), str):
                    items.append(scrub_surrogates(obj[text_field]))
        else:
            items.extend(line.rstrip("\r") for line in text.splitlines()
                         if line.strip() and len(line) <= MAX_LINE_BYTES)
    learn_fmt = LEARN_FORMAT[fmt] if fmt != "auto" else (LEARN_FORMAT[kinds.pop()] if len(kinds) == 1 else "auto")
    return items, learn_fmt
