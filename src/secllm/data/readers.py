"""Readers: turn files of security data into :class:`~secllm.data.records.Record` streams.

Every reader is a generator, accepts gzip-compressed input (detected by its magic bytes, so the
``.gz`` suffix is optional) and never raises because of one bad item: a line, row, packet or file
it cannot read becomes a Record with ``error`` set and ``text`` empty, and reading goes on. Only
call-level mistakes raise (a missing file, an unknown ``mode``, a CSV without the asked column).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "urls.txt"
    >>> _ = p.write_text("/index.php?id=1\\n/a?q=<script>\\n")
    >>> [(r.id, r.text) for r in read_url_list(p)]
    [('urls:1', '/index.php?id=1'), ('urls:2', '/a?q=<script>')]

Ids are ``<source>:<line number>`` for line formats (``<source>:<index>`` otherwise); ``source``
defaults to the file name without ``.gz`` and extension. Text that is not valid UTF-8 is decoded
as latin-1 (lossless: ``text.encode("latin-1")`` gives the bytes back) and ``meta["encoding"]``
says so.

Packet captures (:func:`read_pcap`) are masked: addresses, MACs, ports, TCP sequence numbers,
IP ids, checksums and TCP timestamps are zeroed in ``data`` so that a model cannot learn
"this host is bad" shortcuts and so that shared datasets leak no endpoints. Application payloads
(L7) are kept as they are: they are the signal; run :func:`secllm.data.desensitize.desensitize`
on decoded text if addresses inside payloads matter.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from secllm.data.bounded import (
    MAX_FILE_BYTES,
    InputLimitError,
    LineError,
    clean_id,
    iter_lines,
    json_line,
    open_input,
    parse_json_line,
    read_input,
)
from secllm.data.corpus import scrub_surrogates
from secllm.data.http import HttpParseError, iter_raw_requests, parse_http_request
from secllm.data.records import Record

__all__ = [
    "parse_access_log_line",
    "read_cti_text",
    "read_http_requests",
    "read_jsonl",
    "read_line_log",
    "read_payload_csv",
    "read_pcap",
    "read_script_files",
    "read_url_list",
    "reassemble_http_from_pcap",
    "split_sentences",
]

PathLike = str | os.PathLike[str]

# Errors a (possibly gzip-compressed) stream raises when it is cut short or corrupt, or when it goes
# past a bound of secllm.data.bounded (a compression bomb, a file too large to hold).
_STREAM_ERRORS = (OSError, EOFError, zlib.error, InputLimitError)


# --------------------------------------------------------------------------------------------
# Files, compression, decoding
# --------------------------------------------------------------------------------------------


def _open_binary(path: PathLike) -> IO[bytes]:
    """Open ``path`` for binary reading, transparently gunzipping it when it starts with 1f 8b; the
    stream stops with :class:`~secllm.data.bounded.InputLimitError` past the decompression ratio."""
    return open_input(path)


def _default_source(path: PathLike) -> str:
    """``payload_full.csv.gz`` -> ``payload_full``."""
    name = Path(path).name
    if name.endswith(".gz"):
        name = name[:-3]
    return Path(name).stem or name


def _decode(raw: bytes) -> tuple[str, str]:
    """UTF-8 (BOM stripped) when valid, else latin-1 (lossless). Returns (text, encoding)."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _read_all(path: PathLike) -> tuple[bytes, str | None]:
    """All (decompressed) bytes of ``path`` plus an error message if the stream broke midway.

    At most ``MAX_FILE_BYTES`` are held: past that bound (or past the decompression ratio) nothing
    is returned and the message starts with the bound's code (``too_large``/``compression_ratio``).
    """
    try:
        return read_input(path, MAX_FILE_BYTES)
    except InputLimitError as e:
        return b"", str(e)


def _iter_lines(path: PathLike) -> Iterator[tuple[int, str | None, str, str | None]]:
    """Yield ``(line number, text, encoding, error)`` per line, decoding each line on its own.

    Decoding per line keeps one bad line from turning a whole file into latin-1. A line longer than
    ``MAX_LINE_BYTES`` is an error item (``too_large: ...``; skipped, never held whole) and reading
    goes on; a broken or bomb-like compressed stream ends with one ``(n, None, "", message)`` item.
    """
    lineno = 0
    with _open_binary(path) as f:
        for raw in iter_lines(f):
            lineno += 1
            if isinstance(raw, LineError):
                if raw.code == "too_large":
                    yield lineno, None, "", str(raw)
                    continue
                msg = f"stream broken after line {lineno - 1}: {raw.message}" if raw.code == "stream_broken" \
                    else f"{raw.code}: after line {lineno - 1}: {raw.message}"
                yield lineno, None, "", msg
                return
            text, enc = _decode(raw.rstrip(b"\r\n"))
            yield lineno, text, enc, None


def _error(rid: str, modality: str, source: str, message: str, **meta: Any) -> Record:
    return Record(id=rid, modality=modality, text="", source=source, meta=meta, error=message)


# --------------------------------------------------------------------------------------------
# Tabular and line formats
# --------------------------------------------------------------------------------------------


def read_payload_csv(
    path: PathLike,
    text_col: str = "payload",
    label_col: str | None = None,
    *,
    modality: str = "payload",
    source: str | None = None,
) -> Iterator[Record]:
    """One Record per CSV row: ``text`` from ``text_col``, ``label`` from ``label_col``.

    The other columns go to ``meta``. A row the csv module rejects, or one lacking the text
    column, becomes an error Record. Raises ValueError when the header has no ``text_col``.

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "p.csv"
        >>> _ = p.write_text("payload,label\\n' or 1=1,anom\\nhello,norm\\n")
        >>> [(r.text, r.label) for r in read_payload_csv(p, label_col="label")]
        [("' or 1=1", 'anom'), ('hello', 'norm')]
    """
    source = source or _default_source(path)
    raw, stream_error = _read_all(path)
    text, enc = _decode(raw)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        reader.fieldnames  # noqa: B018 - reads the header row
    except csv.Error as e:          # a header field over the csv size limit: the file is unusable
        raise ValueError(f"{path}: unreadable CSV header: {e}") from None
    if reader.fieldnames is None or text_col not in reader.fieldnames:
        raise ValueError(f"{path}: no column {text_col!r} (columns: {reader.fieldnames})")
    i = 0
    while True:
        rid = f"{source}:{i}"
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # e.g. a field over the size limit: report it, keep going
            yield _error(rid, modality, source, f"csv row {reader.line_num}: {e}")
            i += 1
            continue
        value = row.get(text_col)
        if value is None:
            yield _error(rid, modality, source, f"csv row {reader.line_num}: missing {text_col!r}")
        else:
            label = row.get(label_col) if label_col else None
            meta: dict[str, Any] = {
                k: v for k, v in row.items() if k not in (text_col, label_col) and k is not None
            }
            if enc != "utf-8":
                meta["encoding"] = enc
            yield Record(id=rid, modality=modality, text=value, label=label, source=source,
                         meta=meta)
        i += 1
    if stream_error:
        yield _error(f"{source}:{i}", modality, source, stream_error)


def read_url_list(path: PathLike, *, source: str | None = None) -> Iterator[Record]:
    """One ``url`` Record per non-empty line (surrounding blanks stripped)."""
    source = source or _default_source(path)
    for lineno, text, enc, err in _iter_lines(path):
        rid = f"{source}:{lineno}"
        if err is not None or text is None:
            yield _error(rid, "url", source, err or "unreadable line")
            continue
        url = text.strip()
        if not url:
            continue
        meta: dict[str, Any] = {"line": lineno}
        if enc != "utf-8":
            meta["encoding"] = enc
        yield Record(id=rid, modality="url", text=url, source=source, meta=meta)


def read_http_requests(path: PathLike, *, source: str | None = None) -> Iterator[Record]:
    """One ``http`` Record per raw request in a file holding several (blank-line separated).

    Content-Length bodies are honoured (see :func:`secllm.data.http.iter_raw_requests`). A
    segment that is not a valid request becomes an error Record with the text in ``meta["raw"]``.
    """
    source = source or _default_source(path)
    raw, stream_error = _read_all(path)
    # surrogateescape keeps undecodable bytes one char each, so Content-Length (bytes) still
    # lines up; every request is decoded cleanly again below.
    text = raw.decode("utf-8", "surrogateescape")
    i = -1
    for i, (start, end, seg) in enumerate(iter_raw_requests(text)):
        rid = f"{source}:{i}"
        clean, enc = _decode(seg.encode("utf-8", "surrogateescape"))
        try:
            req = parse_http_request(clean)
        except HttpParseError as e:
            yield _error(rid, "http", source, str(e), raw=clean, start=start, end=end)
            continue
        meta: dict[str, Any] = {"method": req.method, "target": req.target, "start": start,
                                "end": end}
        if req.truncated:
            meta["truncated"] = True
        if enc != "utf-8":
            meta["encoding"] = enc
        yield Record(id=rid, modality="http", text=clean, source=source, meta=meta)
    if stream_error:
        yield _error(f"{source}:{i + 1}", "http", source, stream_error)


# Apache/nginx "combined" (and "common", without referer / user-agent) access-log lines.
# Quoted fields allow backslash escapes (Apache writes \" and nginx \x22 inside them).
_ACCESS_LOG = re.compile(
    r'(?P<ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?P<size>\d+|-)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<user_agent>(?:[^"\\]|\\.)*)")?'
)
_ACCESS_SYSTEMS = {"access", "apache_access", "nginx", "combined", "common"}


def parse_access_log_line(line: str) -> dict[str, Any] | None:
    """Parse one Apache/nginx combined (or common) access-log line; None if it is not one.

        >>> d = parse_access_log_line('10.0.0.1 - - [10/Oct/2023:13:55:36 +0000] '
        ...     '"GET /a.php?id=1%27 HTTP/1.1" 200 512 "-" "sqlmap/1.7"')
        >>> d["method"], d["target"], d["status"], d["user_agent"], d["epoch"]
        ('GET', '/a.php?id=1%27', 200, 'sqlmap/1.7', 1696946136.0)
    """
    m = _ACCESS_LOG.match(line.strip())
    if m is None:
        return None
    d: dict[str, Any] = m.groupdict()
    parts = d["request"].split(" ")
    if len(parts) == 3 and parts[2].upper().startswith("HTTP/"):
        d["method"], d["target"], d["protocol"] = parts
    elif len(parts) == 2 and parts[0].isalpha():  # HTTP/0.9 style "GET /"
        d["method"], d["target"], d["protocol"] = parts[0], parts[1], None
    else:
        # Scanners send junk (TLS bytes to a plain port, "-"): keep it whole as the target.
        d["method"], d["target"], d["protocol"] = None, d["request"], None
    d["status"] = int(d["status"]) if d["status"].isdigit() else None
    d["size"] = int(d["size"]) if d["size"].isdigit() else None
    d["epoch"] = _access_log_epoch(d["time"])
    return d


@functools.lru_cache(maxsize=4096)
def _access_log_epoch(stamp: str) -> float | None:
    """Epoch of an access-log time stamp (cached: consecutive lines share their second)."""
    try:
        return datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z").timestamp()
    except ValueError:
        return None


def read_line_log(
    path: PathLike, system: str | None = None, *, source: str | None = None
) -> Iterator[Record]:
    """One Record per non-empty log line.

    * Access-log lines (``system`` None or one of ``access``, ``nginx``, ``combined``, ...) become
      ``url`` Records: ``text`` is the request target, ``meta`` holds ip (raw: desensitise
      downstream), method, status, size, time, epoch, referer, user_agent; ``time`` is the epoch.
    * ``system="bgl"`` (Loghub BGL): the first token is the alert label (``-`` = normal); it is
      stripped from ``text`` (it would leak the answer) and becomes ``label`` (``normal`` or the
      alert category); ``time`` is the line's unix timestamp.
    * Other lines are ``log`` Records with ``time`` = line number (logs are chronological).
    """
    source = source or _default_source(path)
    sysname = (system or "").lower()
    for lineno, text, enc, err in _iter_lines(path):
        rid = f"{source}:{lineno}"
        if err is not None or text is None:
            yield _error(rid, "log", source, err or "unreadable line")
            continue
        if not text.strip():
            continue
        meta: dict[str, Any] = {"line": lineno}
        if system:
            meta["system"] = system
        if enc != "utf-8":
            meta["encoding"] = enc
        if not sysname or sysname in _ACCESS_SYSTEMS:
            access = parse_access_log_line(text)
            if access is not None:
                epoch = access.pop("epoch")
                access.pop("request")
                meta.update(access)
                yield Record(id=rid, modality="url", text=access["target"], source=source,
                             group=source, time=epoch if epoch is not None else float(lineno),
                             meta=meta)
                continue
        label: str | None = None
        time = float(lineno)
        if sysname == "bgl":
            head, _, rest = text.partition(" ")
            label = "normal" if head == "-" else head
            ts = rest.split(" ", 1)[0]
            time = float(ts) if ts.isdigit() else time
            text = rest
        yield Record(id=rid, modality="log", text=text, label=label, source=source,
                     group=source, time=time, meta=meta)


def read_jsonl(
    path: PathLike,
    text_field: str = "text",
    id_field: str = "id",
    label_field: str = "label",
    *,
    modality: str = "payload",
    group_field: str | None = None,
    time_field: str | None = None,
    source: str | None = None,
) -> Iterator[Record]:
    """One Record per JSON line; the remaining fields go to ``meta``.

    A line that is not JSON, not an object, or lacks ``text_field`` becomes an error Record and
    reading goes on. A non-string text value (number, object) is rendered as JSON text.

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.jsonl"
        >>> _ = p.write_text('{"text": "a", "label": "x"}\\n{oops\\n{"text": "b"}\\n')
        >>> [(r.text, r.label, r.error is not None) for r in read_jsonl(p)]
        [('a', 'x', False), ('', None, True), ('b', None, False)]
    """
    source = source or _default_source(path)
    for lineno, line, enc, err in _iter_lines(path):
        rid = f"{source}:{lineno}"
        if err is not None or line is None:
            yield _error(rid, modality, source, err or "unreadable line")
            continue
        if not line.strip():
            continue
        obj, jerr = parse_json_line(line)       # never raises: deep nesting, huge ints... are errors
        if jerr is not None:
            yield _error(rid, modality, source, f"bad_json: line {lineno}: {jerr}")
            continue
        if not isinstance(obj, dict):
            yield _error(rid, modality, source, f"bad_json: line {lineno}: not a JSON object")
            continue
        if text_field not in obj or obj[text_field] is None:
            yield _error(rid, modality, source, f"bad_json: line {lineno}: no {text_field!r} field")
            continue
        value = obj.pop(text_field)
        raw_label, raw_uid = obj.pop(label_field, None), obj.pop(id_field, None)
        raw_group = obj.get(group_field) if group_field else None
        uid = clean_id(raw_uid, rid)
        if isinstance(raw_label, bool):
            raw_label = str(raw_label)
        label = None if raw_label is None else clean_id(raw_label, "")
        group = None if raw_group is None else clean_id(raw_group, "")
        if uid is None or (raw_label is not None and label is None) or (raw_group is not None and group is None):
            yield _error(rid, modality, source, f"bad_json: line {lineno}: {id_field!r}, {label_field!r} and the "
                                                "group field must be strings or numbers")
            continue
        if isinstance(value, str):
            text = scrub_surrogates(value)
        elif _depth_at_most(value, _META_DEPTH):
            text = json_line(value)
        else:
            yield _error(rid, modality, source, f"bad_json: line {lineno}: {text_field!r} nested too deeply")
            continue
        time_value = obj.get(time_field) if time_field else None
        try:
            time = float(time_value) if time_value is not None else None
        except (TypeError, ValueError, OverflowError):
            time = None
        meta = {"line": lineno, **_clean_meta(obj)}
        if enc != "utf-8":
            meta["encoding"] = enc
        yield Record(
            id=uid,
            modality=modality,
            text=text,
            label=label,
            source=source,
            group=group,
            time=time,
            meta=meta,
        )


_META_DEPTH = 16      # nesting kept in a JSONL row's extra fields (deeper values become a marker)


def _depth_at_most(v: Any, limit: int) -> bool:
    """True when ``v`` (parsed JSON) nests at most ``limit`` levels (iterative: no recursion)."""
    stack = [(v, 0)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, (dict, list)):
            if d >= limit:
                return False
            stack.extend((y, d + 1) for y in (x.values() if isinstance(x, dict) else x))
    return True


def _clean_meta(obj: dict[str, Any]) -> dict[str, Any]:
    """A JSONL row's extra fields, safe to keep and to write: lone surrogates scrubbed, values
    nested deeper than ``_META_DEPTH`` replaced by a marker (they would overflow any recursive
    writer)."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        k = scrub_surrogates(k)
        if isinstance(v, str):
            out[k] = scrub_surrogates(v)
        elif isinstance(v, (dict, list)):
            out[k] = json.loads(json_line(v)) if _depth_at_most(v, _META_DEPTH) else "<nested too deeply>"
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------------------------
# Scripts and threat-intel text
# --------------------------------------------------------------------------------------------

_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27, 8))


def _looks_binary(raw: bytes) -> bool:
    """NUL bytes, or more than 10% control characters in the first 8 KiB, mean binary."""
    head = raw[:8192]
    if b"\x00" in head:
        return True
    return bool(head) and sum(head.count(c) for c in _CONTROL) > len(head) // 10


def _decode_script(raw: bytes) -> tuple[str, str]:
    """Decode a script: honour a UTF-16/UTF-8 BOM (PowerShell often saves UTF-16LE), else UTF-8,
    else latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    return _decode(raw)


def _expand_paths(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    return out


def read_script_files(
    paths: PathLike | Iterable[PathLike],
    *,
    max_bytes: int = 4 << 20,
    source: str = "scripts",
) -> Iterator[Record]:
    """One ``script`` Record per file (directories are walked, sorted); ``data`` keeps the bytes.

    Text is UTF-8 (or UTF-16 with a BOM) when it decodes, else latin-1. A file that is binary
    (NUL bytes, mostly control characters), larger than ``max_bytes`` (after gunzip), or
    unreadable becomes an error Record (with ``meta`` size/sha256 where known), never an exception.

        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.ps1").write_bytes(b"IEX (New-Object Net.WebClient)")
        >>> _ = (d / "b.bin").write_bytes(b"MZ\\x00\\x00\\x90")
        >>> [(r.meta["path"][-5:], r.error) for r in read_script_files(d)]
        [('a.ps1', None), ('b.bin', 'binary file')]
    """
    for i, path in enumerate(_expand_paths(paths)):
        rid = f"{source}:{i}"
        meta: dict[str, Any] = {"path": str(path), "name": path.name}
        try:
            with _open_binary(path) as f:
                raw = f.read(max_bytes + 1)  # one byte more tells "too large" without reading all
        except _STREAM_ERRORS as e:
            yield _error(rid, "script", source, f"unreadable: {e}", **meta)
            continue
        if len(raw) > max_bytes:
            yield _error(rid, "script", source, f"larger than {max_bytes} bytes", **meta)
            continue
        meta.update(size=len(raw), sha256=hashlib.sha256(raw).hexdigest())
        if raw[:2] not in (b"\xff\xfe", b"\xfe\xff") and _looks_binary(raw):
            yield _error(rid, "script", source, "binary file", **meta)
            continue
        text, enc = _decode_script(raw)
        meta["encoding"] = enc
        yield Record(id=rid, modality="script", text=text, source=source, group=str(path),
                     data=raw, meta=meta)


# A sentence ends at . ! ? (plus closing quotes/brackets) followed by blanks and an upper-case
# letter, digit, quote or bracket. "cmd.exe", "1.2.3.4" and "evil.com/x" never match (no blank
# after the dot); abbreviations are filtered in split_sentences.
_SENTENCE_END = re.compile(r"""[.!?]+["')\]]*(?=\s+["'(\[]?[A-Z0-9])""")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs fig figs inc ltd corp co mr mrs ms dr no nos st jan feb mar apr jun jul aug "
    "sep sept oct nov dec u.s u.k approx cf al ver v".split()
)
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*\u2022]|\d+[.)])\s)")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text``: blank lines and list items always break,
    single line breaks (wrapped lines) do not.

        >>> t = "APT29 ran cmd.exe. It beaconed to 1.2.3.4, e.g. hourly.\\n\\n- Persistence"
        >>> [t[s:e] for s, e in split_sentences(t)]
        ['APT29 ran cmd.exe.', 'It beaconed to 1.2.3.4, e.g. hourly.', '- Persistence']
    """
    spans: list[tuple[int, int]] = []
    block_start = 0
    breaks = [(m.start(), m.end()) for m in _BLOCK_BREAK.finditer(text)] + [(len(text), len(text))]
    for bstart, bend in breaks:
        start = block_start
        for m in _SENTENCE_END.finditer(text, block_start, bstart):
            word = text[start : m.start()].rsplit(None, 1)[-1] if text[start : m.start()].strip() else ""
            word = word.lstrip("(\"'").lower()
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue  # "e.g. Foo", "J. Smith": not a sentence end
            spans.append((start, m.end()))
            start = m.end()
        spans.append((start, bstart))
        block_start = bend
    # Trim blanks inside each span and drop empty ones.
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def read_cti_text(path: PathLike, *, source: str | None = None) -> Iterator[Record]:
    """One ``cti`` Record per sentence of a threat-intel report (plain text, .gz ok).

    ``group`` is the report (source) so that splits keep a report's sentences together;
    ``meta`` has the sentence's ``start``/``end`` in the decoded document. Wrapped lines inside a
    sentence are joined with single spaces in ``text``.
    """
    source = source or _default_source(path)
    raw, stream_error = _read_all(path)
    doc, enc = _decode(raw)
    k = -1
    for k, (s, e) in enumerate(split_sentences(doc)):
        meta: dict[str, Any] = {"start": s, "end": e}
        if enc != "utf-8":
            meta["encoding"] = enc
        yield Record(id=f"{source}:{k}", modality="cti", text=" ".join(doc[s:e].split()),
                     source=source, group=source, meta=meta)
    if stream_error:
        yield _error(f"{source}:{k + 1}", "cti", source, stream_error)


# --------------------------------------------------------------------------------------------
# Packet captures
# --------------------------------------------------------------------------------------------


@dataclass
class _Layout:
    """Where things are in one frame (read from the ORIGINAL bytes, before masking)."""

    l3: str = "none"  # "ipv4", "ipv6", "arp", "other", "none"
    proto: int | None = None  # IP protocol of the outer IP header (6 TCP, 17 UDP, ...)
    src: bytes = b""
    dst: bytes = b""
    sport: int = 0
    dport: int = 0
    seq: int | None = None
    tcp_flags: int = 0
    payload_start: int = 0  # L4 payload span (the "L7" bytes)
    payload_end: int = 0


def _zero(buf: bytearray, start: int, end: int) -> None:
    """Zero ``buf[start:end]``, clipped to the buffer (a truncated capture may end mid-field)."""
    end = min(end, len(buf))
    if start < end:
        buf[start:end] = bytes(end - start)


def _u16(b: bytes, off: int) -> int | None:
    return int.from_bytes(b[off : off + 2], "big") if off + 2 <= len(b) else None


_MAX_DEPTH = 3  # tunnels / ICMP-quoted headers we follow before giving up (and zeroing)


def _mask_l3(orig: bytes, out: bytearray, off: int, ethertype: int, lay: _Layout, depth: int) -> None:
    if depth > _MAX_DEPTH:
        _zero(out, off, len(out))
    elif ethertype == 0x0800:
        _mask_ipv4(orig, out, off, lay, depth)
    elif ethertype == 0x86DD:
        _mask_ipv6(orig, out, off, lay, depth)
    elif ethertype == 0x0806:
        if depth == 0:
            lay.l3 = "arp"
        hlen = orig[off + 4] if off + 5 < len(orig) else 0
        plen = orig[off + 5] if off + 5 < len(orig) else 0
        # Sender/target hardware and protocol addresses; if the lengths are unreadable, zero all.
        _zero(out, off + 8, off + 8 + 2 * (hlen + plen) if hlen else len(out))
    elif ethertype == 0x8864:  # PPPoE session: 6-byte header, then a PPP protocol number
        ppp = _u16(orig, off + 6)
        _mask_l3(orig, out, off + 8, {0x0021: 0x0800, 0x0057: 0x86DD}.get(ppp or 0, 0), lay, depth)
    else:
        # An unknown L3 protocol (LLDP, STP, MPLS, ...) may carry addresses we cannot locate:
        # zero it rather than leak them.
        if depth == 0:
            lay.l3 = "other"
        _zero(out, off, len(out))


def _mask_ethernet(orig: bytes, out: bytearray, off: int, lay: _Layout, depth: int) -> None:
    """Ethernet header at ``off``: zero both MACs, skip VLAN tags, go on with the payload."""
    _zero(out, off, off + 12)
    off += 12
    et = _u16(orig, off)
    while et in (0x8100, 0x88A8, 0x9100):  # 802.1Q / QinQ tags
        off += 4
        et = _u16(orig, off)
    if et is not None:
        _mask_l3(orig, out, off + 2, et, lay, depth)


def _mask_ipv4(orig: bytes, out: bytearray, off: int, lay: _Layout, depth: int) -> None:
    if depth == 0:
        lay.l3 = "ipv4"
    ihl = (orig[off] & 0x0F) * 4 if off < len(orig) else 0
    if len(orig) < off + 20 or ihl < 20:
        _zero(out, off, len(out))  # cannot tell where the addresses are: hide everything
        return
    total = _u16(orig, off + 2) or 0
    # TSO captures carry total length 0; Ethernet padding lies beyond total length.
    end = min(len(orig), off + total) if total >= ihl else len(orig)
    _zero(out, off + 4, off + 6)  # identification (a per-host counter: fingerprints the host)
    _zero(out, off + 10, off + 20)  # header checksum, source and destination address
    _zero(out, off + 20, off + ihl)  # options: record-route / timestamp options hold addresses
    proto = orig[off + 9]
    if depth == 0:
        lay.proto, lay.src, lay.dst = proto, orig[off + 12 : off + 16], orig[off + 16 : off + 20]
        lay.payload_start = lay.payload_end = end
    if (_u16(orig, off + 6) or 0) & 0x1FFF:
        return  # a non-first fragment has no transport header
    _mask_l4(orig, out, off + ihl, end, proto, lay, depth)


def _mask_ipv6(orig: bytes, out: bytearray, off: int, lay: _Layout, depth: int) -> None:
    if depth == 0:
        lay.l3 = "ipv6"
    if len(orig) < off + 40:
        _zero(out, off, len(out))
        return
    out[off + 1] &= 0xF0  # flow label: a per-flow random id
    _zero(out, off + 2, off + 4)
    _zero(out, off + 8, off + 40)
    plen = _u16(orig, off + 4) or 0
    end = min(len(orig), off + 40 + plen) if plen else len(orig)
    nh, pos = orig[off + 6], off + 40
    if depth == 0:
        lay.src, lay.dst = orig[off + 8 : off + 24], orig[off + 24 : off + 40]
        lay.payload_start = lay.payload_end = end
    for _ in range(8):  # walk extension headers
        if nh not in (0, 43, 44, 51, 60, 135):
            break
        if pos + 8 > len(orig):
            _zero(out, pos, len(out))
            return
        if nh == 44:  # fragment header
            hlen = 8
            _zero(out, pos + 4, pos + 8)  # identification
            if (_u16(orig, pos + 2) or 0) >> 3:
                if depth == 0:
                    lay.proto = orig[pos]
                return  # non-first fragment
        elif nh == 51:  # AH counts in 4-byte units
            hlen = (orig[pos + 1] + 2) * 4
        else:
            hlen = (orig[pos + 1] + 1) * 8
            # Routing headers list addresses; options may hold a home address: zero the data.
            _zero(out, pos + (8 if nh == 43 else 2), pos + hlen)
        nh, pos = orig[pos], pos + hlen
    if depth == 0:
        lay.proto = nh
    _mask_l4(orig, out, pos, end, nh, lay, depth)


def _mask_tcp_options(orig: bytes, out: bytearray, start: int, end: int) -> None:
    """Zero TCP timestamp values and SACK edges (sequence numbers) inside the options."""
    pos, end = start, min(end, len(orig))
    while pos < end:
        kind = orig[pos]
        if kind == 0:
            return
        if kind == 1:
            pos += 1
            continue
        length = orig[pos + 1] if pos + 1 < end else 0
        if length < 2:
            _zero(out, pos, end)  # malformed: hide the rest
            return
        if kind in (5, 8, 19, 29):  # SACK, timestamps, MD5 signature, TCP-AO
            _zero(out, pos + 2, pos + length)
        pos += length


def _mask_l4(
    orig: bytes, out: bytearray, off: int, end: int, proto: int, lay: _Layout, depth: int
) -> None:
    payload = (end, end)
    if proto == 6:  # TCP
        if off + 20 > len(orig):
            _zero(out, off, len(out))
            return
        doff = (orig[off + 12] >> 4) * 4
        if depth == 0:
            lay.sport, lay.dport = _u16(orig, off) or 0, _u16(orig, off + 2) or 0
            lay.seq = int.from_bytes(orig[off + 4 : off + 8], "big")
            lay.tcp_flags = orig[off + 13]
        _zero(out, off, off + 12)  # ports, sequence and acknowledgement numbers
        _zero(out, off + 16, off + 18)  # checksum
        _mask_tcp_options(orig, out, off + 20, off + doff)
        payload = (min(off + max(doff, 20), end), end)
    elif proto == 17:  # UDP
        if depth == 0:
            lay.sport, lay.dport = _u16(orig, off) or 0, _u16(orig, off + 2) or 0
        _zero(out, off, off + 4)
        _zero(out, off + 6, off + 8)
        payload = (min(off + 8, end), end)
    elif proto == 132:  # SCTP: ports, verification tag, checksum
        if depth == 0:
            lay.sport, lay.dport = _u16(orig, off) or 0, _u16(orig, off + 2) or 0
        _zero(out, off, off + 12)
        payload = (min(off + 12, end), end)
    elif proto in (1, 58):  # ICMP / ICMPv6
        icmp_type = orig[off] if off < len(orig) else -1
        _zero(out, off + 2, off + 4)  # checksum
        if (proto, icmp_type) in {(1, 0), (1, 8), (58, 128), (58, 129)}:  # echo
            _zero(out, off + 4, off + 6)  # identifier (the sender's process id)
            payload = (min(off + 8, end), end)
        elif proto == 1 and icmp_type in (3, 4, 5, 11, 12):
            _zero(out, off + 4, off + 8)  # redirect gateway / unused
            # Errors quote the offending packet's IP header and ports: mask them too.
            _mask_ipv4(orig, out, off + 8, lay, depth + 1)
        elif proto == 58 and icmp_type in (1, 2, 3, 4):
            _mask_ipv6(orig, out, off + 8, lay, depth + 1)
        elif proto == 58 and 133 <= icmp_type <= 137:
            _zero(out, off + 4, len(out))  # neighbour discovery: target addresses and MACs
    elif proto in (4, 41) and depth < _MAX_DEPTH:  # IP-in-IP tunnels
        (_mask_ipv4 if proto == 4 else _mask_ipv6)(orig, out, off, lay, depth + 1)
    elif proto == 47 and depth < _MAX_DEPTH:  # GRE
        flags, ptype = _u16(orig, off) or 0, _u16(orig, off + 2) or 0
        hlen = 4 + 4 * sum(bool(flags & bit) for bit in (0x8000, 0x2000, 0x1000))
        if ptype == 0x6558:  # transparent Ethernet bridging
            _mask_ethernet(orig, out, off + hlen, lay, depth + 1)
        else:
            _mask_l3(orig, out, off + hlen, ptype, lay, depth + 1)
    else:
        payload = (min(off, end), end)
    if depth == 0:
        lay.payload_start, lay.payload_end = payload


def _mask_frame(linktype: int, orig: bytes) -> tuple[bytearray, _Layout] | None:
    """Masked copy of a captured frame plus its layout; None for an unsupported link type."""
    out, lay = bytearray(orig), _Layout()
    if linktype == 1:  # Ethernet
        _mask_ethernet(orig, out, 0, lay, 0)
    elif linktype in (0, 108):  # BSD loopback: 4-byte address family (host or network order)
        fam = {int.from_bytes(orig[:4], "little"), int.from_bytes(orig[:4], "big")}
        et = 0x0800 if 2 in fam else 0x86DD if fam & {24, 28, 30} else 0
        _mask_l3(orig, out, 4, et, lay, 0)
    elif linktype in (9, 50):  # PPP (optionally with HDLC address/control bytes)
        off = 2 if orig[:2] == b"\xff\x03" else 0
        if off < len(orig) and orig[off] & 1:  # protocol field compressed to one byte
            proto, off = orig[off], off + 1
        else:
            proto, off = _u16(orig, off) or 0, off + 2
        _mask_l3(orig, out, off, {0x21: 0x0800, 0x57: 0x86DD}.get(proto, 0), lay, 0)
    elif linktype == 104:  # Cisco HDLC: address, control, ethertype
        _mask_l3(orig, out, 4, _u16(orig, 2) or 0, lay, 0)
    elif linktype in (12, 14, 101):  # raw IP: the version nibble decides
        version = orig[0] >> 4 if orig else 0
        _mask_l3(orig, out, 0, {4: 0x0800, 6: 0x86DD}.get(version, 0), lay, 0)
    elif linktype in (228, 229):
        _mask_l3(orig, out, 0, 0x0800 if linktype == 228 else 0x86DD, lay, 0)
    elif linktype == 113:  # Linux cooked capture v1: link-layer address at 6..14
        _zero(out, 6, 14)
        _mask_l3(orig, out, 16, _u16(orig, 14) or 0, lay, 0)
    elif linktype == 276:  # Linux cooked capture v2: link-layer address at 12..20
        _zero(out, 12, 20)
        _mask_l3(orig, out, 20, _u16(orig, 0) or 0, lay, 0)
    else:
        return None
    return out, lay


_MAX_RECORD_BYTES = 1 << 20   # one pcap record / pcapng block (snap lengths stop at 256 KiB)


class _ReadTracker:
    """File wrapper that notices truncation the capture libraries pass over silently.

    scapy ends iteration quietly both at a clean end of file and when a record is cut short or the
    gzip stream breaks. A clean end shows as exactly one read returning nothing; a cut record as a
    read returning some but not all bytes, or as several empty reads. Stream errors are recorded.
    """

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.name = getattr(f, "name", "<capture>")
        self.short_reads = 0
        self.partial = False
        self.error: BaseException | None = None

    def read(self, n: int = -1) -> bytes:
        if n is not None and n > _MAX_RECORD_BYTES:
            # a record header claims more than any capture holds: scapy would allocate that much up
            # front (a 24-byte pcapng asked for 32 MiB, fuzzing found); report it as a bad record
            self.error = InputLimitError("too_large", f"a capture record claims {n} bytes (more than "
                                                      f"{_MAX_RECORD_BYTES}): corrupt or hostile capture")
            raise OSError(str(self.error))
        try:
            data = self._f.read(n)
        except _STREAM_ERRORS as e:
            self.error = e
            raise OSError(str(e)) from e  # scapy turns OSError into end-of-file
        if n is not None and n > 0 and len(data) < n:
            self.short_reads += 1
            self.partial = self.partial or bool(data)
        return data

    def close(self) -> None:
        self._f.close()

    def verdict(self) -> str | None:
        if isinstance(self.error, InputLimitError):      # a compression bomb: "compression_ratio: ..."
            return str(self.error)
        if self.error is not None:
            return f"compressed stream broken: {self.error}"
        if self.partial or self.short_reads > 1:
            return "capture truncated: last record incomplete"
        return None


@dataclass
class _Packet:
    index: int
    ts: float
    linktype: int
    data: bytes
    wirelen: int


def _iter_capture(path: PathLike) -> Iterator[_Packet | str]:
    """Yield packets of a pcap/pcapng file (gzip ok) via scapy, then an error string if it broke."""
    import logging

    from scapy.data import MTU
    from scapy.utils import RawPcapNgReader, RawPcapReader

    # scapy logs a warning for every oddity (opening included); the error Record says what happened.
    tracker = _ReadTracker(_open_binary(path))
    log = logging.getLogger("scapy.runtime")
    old_level = log.level
    log.setLevel(logging.ERROR)
    try:
        reader = RawPcapReader(tracker)  # dispatches to RawPcapNgReader on a pcapng magic
    except Exception as e:  # noqa: BLE001 - scapy raises Scapy_Exception / struct / EOF errors
        tracker.close()
        log.setLevel(old_level)
        yield f"not a readable pcap/pcapng file: {e}"
        return
    is_ng = isinstance(reader, RawPcapNgReader)
    problem: str | None = None
    try:
        index = 0
        while True:
            try:
                item = next(reader)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - a corrupt record: stop, report
                problem = f"corrupt record after packet {index}: {e}"
                break
            data, md = item
            if is_ng:
                ts = ((md.tshigh << 32) | md.tslow) / (md.tsresol or 1_000_000)
                linktype, wirelen = md.linktype, md.wirelen
            else:
                ts = md.sec + md.usec / (1e9 if reader.nano else 1e6)
                linktype, wirelen = reader.linktype, md.wirelen
                if len(data) < min(md.caplen, 4 * MTU):  # scapy bounds one read to 4*MTU
                    problem = f"capture truncated inside packet {index}"
                    break
            yield _Packet(index, ts, linktype, bytes(data), wirelen)
            index += 1
        problem = problem or tracker.verdict()
    finally:
        log.setLevel(old_level)
        reader.close()
    if problem:
        yield problem


def _flow_key(lay: _Layout) -> tuple[tuple[Any, ...], int]:
    """Bidirectional 5-tuple key and this packet's direction (0 = as the key is written)."""
    a, b = (lay.src, lay.sport), (lay.dst, lay.dport)
    if a <= b:
        return (lay.proto, a, b), 0
    return (lay.proto, b, a), 1


def _endpoints(lay: _Layout) -> dict[str, Any]:
    import ipaddress

    def addr(b: bytes) -> str:
        return str(ipaddress.ip_address(b)) if len(b) in (4, 16) else b.hex()

    return {"src": addr(lay.src), "sport": lay.sport, "dst": addr(lay.dst), "dport": lay.dport}


_PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp", 47: "gre"}
_MAX_SERIES = 256  # per-flow packet series kept in meta (sizes, directions)


@dataclass
class _Flow:
    number: int
    first_index: int
    ts: float
    proto: int | None
    l3: str
    direction0: tuple[Any, ...]  # the (addr, port) that sent the first packet
    payload: bytearray = field(default_factory=bytearray)
    packets: int = 0
    bytes: int = 0
    payload_bytes: int = 0
    sizes: list[int] = field(default_factory=list)
    directions: list[int] = field(default_factory=list)
    payload_sizes: list[int] = field(default_factory=list)
    endpoints: dict[str, Any] | None = None


def read_pcap(
    path: PathLike,
    mode: str = "packets",
    max_bytes: int = 784,
    *,
    source: str | None = None,
    keep_endpoints: bool = False,
) -> Iterator[Record]:
    """Read a pcap/pcapng capture (gzip ok) into masked ``pcap`` or ``flow`` Records.

    * ``mode="packets"``: one ``pcap`` Record per frame; ``data`` is the masked frame (link layer
      included) cut to ``max_bytes``; ``group`` names the packet's flow (``<source>#flow<n>``) so
      splits can keep flows together; ``meta`` has index, linktype, wirelen, l3, proto, flow,
      direction, payload_len.
    * ``mode="flows"``: one ``flow`` Record per bidirectional 5-tuple, in order of first packet;
      ``data`` is the concatenated L7 payload of its packets in capture order, cut to
      ``max_bytes`` (the USTC-TFC2016 "SessionL7" view, without zero padding); ``meta`` has proto,
      packets, bytes, payload_bytes and the first 256 ``sizes`` / ``directions`` (0 = sent by the
      flow's first sender) / ``payload_sizes``. Non-IP frames are skipped.

    ``text`` is ``data`` as hex pairs ("45 00 ..."); ``time`` is the capture timestamp (an ordering
    key; it is not in ``data``). ``keep_endpoints=True`` adds the unmasked addresses/ports to
    ``meta["endpoints"]`` (only to join external per-flow labels; desensitise before sharing).
    A truncated or corrupt capture yields what could be read, then one Record with ``error`` set.
    Frames of a link type this reader cannot mask are dropped and reported in one error Record.

        >>> from scapy.layers.inet import IP, UDP; from scapy.utils import wrpcap
        >>> import tempfile, pathlib
        >>> p = str(pathlib.Path(tempfile.mkdtemp()) / "t.pcap")
        >>> wrpcap(p, [IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5353, dport=53) / b"hi"])
        >>> r = next(read_pcap(p))
        >>> r.text[:5], bytes([10, 0, 0, 1]) in r.data, r.data[-2:]
        ('45 00', False, b'hi')
    """
    if mode not in ("packets", "flows"):
        raise ValueError(f"mode must be 'packets' or 'flows', not {mode!r}")
    source = source or _default_source(path)
    modality = "pcap" if mode == "packets" else "flow"
    flows: dict[tuple[Any, ...], _Flow] = {}
    unsupported: dict[int, int] = {}
    problem: str | None = None
    count = 0
    for item in _iter_capture(path):
        if isinstance(item, str):
            problem = item
            break
        count += 1
        masked = _mask_frame(item.linktype, item.data)
        if masked is None:
            unsupported[item.linktype] = unsupported.get(item.linktype, 0) + 1
            continue
        out, lay = masked
        flow: _Flow | None = None
        direction = 0
        if lay.l3 in ("ipv4", "ipv6") and lay.proto is not None:
            key, _ = _flow_key(lay)
            flow = flows.get(key)
            if flow is None:
                flow = _Flow(len(flows), item.index, item.ts, lay.proto, lay.l3,
                             (lay.src, lay.sport))
                if keep_endpoints:
                    flow.endpoints = _endpoints(lay)
                flows[key] = flow
            direction = 0 if (lay.src, lay.sport) == flow.direction0 else 1
        payload_len = max(0, lay.payload_end - lay.payload_start)
        if mode == "packets":
            data = bytes(out[:max_bytes])
            meta: dict[str, Any] = {
                "index": item.index, "linktype": item.linktype, "wirelen": item.wirelen,
                "l3": lay.l3, "proto": _PROTO_NAMES.get(lay.proto or -1, lay.proto),
                "payload_len": payload_len,
            }
            if flow is not None:
                meta.update(flow=flow.number, direction=direction)
                if keep_endpoints:
                    meta["endpoints"] = _endpoints(lay)
            yield Record(
                id=f"{source}:{item.index}", modality=modality, text=data.hex(" "),
                source=source, group=f"{source}#flow{flow.number}" if flow else source,
                time=item.ts, data=data, meta=meta,
            )
        elif flow is not None:
            flow.packets += 1
            flow.bytes += item.wirelen
            flow.payload_bytes += payload_len
            if len(flow.payload) < max_bytes and payload_len:
                room = max_bytes - len(flow.payload)
                flow.payload += item.data[lay.payload_start : lay.payload_start + min(room, payload_len)]
            if len(flow.sizes) < _MAX_SERIES:
                flow.sizes.append(item.wirelen)
                flow.directions.append(direction)
                flow.payload_sizes.append(payload_len)
    if mode == "flows":
        for flow in flows.values():
            data = bytes(flow.payload)
            meta = {
                "proto": _PROTO_NAMES.get(flow.proto or -1, flow.proto), "l3": flow.l3,
                "packets": flow.packets, "bytes": flow.bytes, "payload_bytes": flow.payload_bytes,
                "sizes": flow.sizes, "directions": flow.directions,
                "payload_sizes": flow.payload_sizes, "first_index": flow.first_index,
            }
            if flow.endpoints is not None:
                meta["endpoints"] = flow.endpoints
            yield Record(id=f"{source}:flow{flow.number}", modality=modality, text=data.hex(" "),
                         source=source, group=source, time=flow.ts, data=data, meta=meta)
    if unsupported:
        yield _error(f"{source}:unsupported", modality, source,
                     f"dropped {sum(unsupported.values())} frames of unsupported link types",
                     linktypes=unsupported)
    if problem:
        yield _error(f"{source}:error", modality, source, problem, packets_read=count)


def reassemble_http_from_pcap(
    path: PathLike, *, max_stream_bytes: int = 1 << 20, max_total_bytes: int = MAX_FILE_BYTES,
    source: str | None = None,
) -> Iterator[Record]:
    """Yield ``http`` Records for the HTTP requests carried in a capture's TCP streams.

    Each flow direction is reassembled in sequence order (retransmissions and overlaps dropped; a
    gap ends one piece and starts the next), capped at ``max_stream_bytes`` (and all streams together
    at ``max_total_bytes``: payload past it is dropped and reported); every piece is then
    split with :func:`secllm.data.http.iter_raw_requests` and the segments that parse as requests
    are kept, so server responses and TLS streams yield nothing. ``meta`` has the flow number,
    method and target. A broken capture adds one error Record at the end.
    """
    source = source or _default_source(path)
    streams: dict[tuple[Any, ...], dict[str, Any]] = {}
    flow_numbers: dict[tuple[Any, ...], int] = {}
    problem: str | None = None
    total = dropped = 0          # payload bytes held across all streams / dropped past max_total_bytes
    for item in _iter_capture(path):
        if isinstance(item, str):
            problem = item
            break
        masked = _mask_frame(item.linktype, item.data)
        if masked is None:
            continue
        _, lay = masked
        if lay.proto != 6 or lay.seq is None:
            continue
        key, _ = _flow_key(lay)
        flow_no = flow_numbers.setdefault(key, len(flow_numbers))
        sid = (lay.src, lay.sport, lay.dst, lay.dport)
        st = streams.setdefault(sid, {"base": None, "segs": [], "size": 0, "flow": flow_no})
        if lay.tcp_flags & 0x02:  # SYN: data starts at ISN + 1
            st["base"] = (lay.seq + 1) & 0xFFFFFFFF
        payload = item.data[lay.payload_start : lay.payload_end]
        if not payload or st["size"] >= max_stream_bytes:
            continue
        if total >= max_total_bytes:
            dropped += len(payload)
            continue
        total += len(payload)
        if st["base"] is None:
            st["base"] = lay.seq
        st["segs"].append((lay.seq, payload))
        st["size"] += len(payload)
    k = 0
    for st in streams.values():
        pieces: list[bytearray] = [bytearray()]
        expected = 0
        # Relative sequence numbers (mod 2^32); anything "before" the base wraps to >= 2^31.
        segs = sorted(((seq - st["base"]) & 0xFFFFFFFF, data) for seq, data in st["segs"])
        for rel, data in segs:
            if rel >= 1 << 31:
                continue
            if rel > expected:  # a gap: what follows cannot be glued to what came before
                pieces.append(bytearray())
                expected = rel
            if rel + len(data) <= expected:
                continue  # a retransmission of bytes we already have
            pieces[-1] += data[expected - rel :]
            expected = rel + len(data)
        for piece in pieces:
            text = bytes(piece).decode("utf-8", "surrogateescape")
            for start, end, seg in iter_raw_requests(text):
                clean, enc = _decode(seg.encode("utf-8", "surrogateescape"))
                try:
                    req = parse_http_request(clean)
                except HttpParseError:
                    continue
                meta: dict[str, Any] = {"flow": st["flow"], "method": req.method,
                                        "target": req.target}
                if enc != "utf-8":
                    meta["encoding"] = enc
                if req.truncated:
                    meta["truncated"] = True
                yield Record(id=f"{source}:http{k}", modality="http", text=clean, source=source,
                             group=f"{source}#flow{st['flow']}", meta=meta)
                k += 1
    if dropped:
        yield _error(f"{source}:too_large", "http", source, f"too_large: {dropped} payload bytes past "
                                                              f"{max_total_bytes} (all TCP streams) not reassembled")
    if problem:
        yield _error(f"{source}:error", "http", source, problem)
