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
from secllm.data.sequences import parse_number_lists, parse_strace, sessions_by_key, syscall_numbers
from secllm.profile.logs import log_template

FILE_FORMATS = ("auto", "http", "access-log", "urls", "jsonl", "log", "sessions", "strace", "syscalls")
SEQUENCE_FORMATS = ("sessions", "strace", "syscalls")
# the format name the learner uses for items of each file format
LEARN_FORMAT = {"auto": "auto", "http": "http", "access-log": "access-log", "urls": "url", "jsonl": "auto",
                "log": "log", "sessions": "sessions", "strace": "strace", "syscalls": "syscalls"}


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


def read_sequences(paths: Sequence[str | Path], fmt: str, *, session_key: str | None = None,
                   split: str = "process", abi: str | None = None) -> tuple[list[str], list[list[str]]]:
    """Event sequences of ``paths`` and their ids, for sequence-mode profiles.

    * ``sessions``: one session of blank-separated event keys per line (id ``file:line``); with
      ``session_key`` (``block``, ``session``, ``pid``, ``user`` or a regex) the files are log lines,
      grouped into sessions by that key across all files (id = the key), each line templated
      (:func:`secllm.profile.logs.log_template`) into an event.
    * ``strace``: ``strace`` output, one trace per process (``split``: ``process``/``thread``/``none``),
      id ``file:pid``; ``abi`` (``x86_64``/``i386``) turns names into system-call numbers, so a
      profile learned from strace output scores number lists and back.
    * ``syscalls``: system-call number lists, one trace per line (id ``file:line``) or per file (id ``file``).

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
        >>> _ = p.write_text("1 2 3\\n4,5\\n")
        >>> read_sequences([p], "syscalls")[1]
        [['1', '2', '3'], ['4', '5']]

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for an unknown format or a file
    that is not of the format.
    """
    if fmt not in SEQUENCE_FORMATS:
        raise ValueError(f"unknown sequence format {fmt!r}; expected one of {SEQUENCE_FORMATS}")
    ids: list[str] = []
    seqs: list[list[str]] = []
    keyed_lines: list[str] = []
    for p in map(Path, paths):
        if not p.is_file():
            raise FileNotFoundError(f"no such file: {p}")
        text = _read_text(p)
        if fmt == "sessions":
            if session_key:
                keyed_lines.extend(text.splitlines())
                continue
            for i, line in enumerate(text.splitlines()):
                if line.strip():
                    ids.append(f"{p}:{i + 1}")
                    seqs.append(line.split())
        elif fmt == "strace":
            for t in parse_strace(text, source=str(p), split=split):
                ids.append(t.id)
                seqs.append(syscall_numbers(t.events, abi) if abi else t.events)
        else:
            try:
                traces = parse_number_lists(text)
            except ValueError as exc:
                raise ValueError(f"{p}: {exc}; use --format strace for strace output") from exc
            for i, t in enumerate(traces):
                ids.append(str(p) if len(traces) == 1 else f"{p}:{i + 1}")
                seqs.append(t)
    if session_key:
        groups, _ = sessions_by_key(keyed_lines, session_key)
        for key, lines in groups:
            ids.append(key)
            seqs.append([log_template(x) for x in lines])
    return ids, seqs
