"""Scan files for web attacks: access logs, raw HTTP requests, pcaps, line logs, JSONL, CSV.

Input streams: items are read lazily and judged in batches of ``batch`` (default 256), so a
multi-GB access log is scanned in constant memory. Every line, record or packet that cannot be
read is counted, the first few are reported, and the scan goes on. ``follow=True`` keeps tailing
a growing log (``tail -F``: it survives rotation and truncation) until stopped.

    >>> from secllm.detect.detector import WebAttackDetector               # doctest: +SKIP
    >>> summary = scan(["access.log"], WebAttackDetector.load(), out=sys.stdout)   # doctest: +SKIP
    >>> summary.verdicts                                                    # doctest: +SKIP
    Counter({'benign': 98211, 'malicious': 377, 'corrupt': 2})

What is judged per format: the request target (path + query) of an access-log line, each whole
raw HTTP request (files, or reassembled from a pcap's TCP streams), each non-empty line, and the
text field of a JSONL object / CSV row. Client addresses from access logs are never written as
they are: a finding names its source by a keyed pseudonym (``ip-3fa9c2d17e``), stable within a
scan (and across scans when the same ``ip_key`` is given), unless ``raw_ips=True``. A finding's
text and evidence are masked (:func:`secllm.data.desensitize.desensitize`: e-mails, keys, card, ID
and phone numbers...; the finding then says ``masked: true``) unless ``raw_text=True``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import json
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from secllm.data.bounded import clean_id, parse_json_line
from secllm.data.corpus import scrub_surrogates
from secllm.data.readers import parse_access_log_line
from secllm.html_escape import term_safe

FORMATS = ("auto", "access-log", "http", "pcap", "lines", "jsonl", "csv")
OUT_FORMATS = ("jsonl", "csv")
MAX_LINE_BYTES = 1 << 20          # a longer "line" is reported as corrupt, never held whole in memory
MAX_TEXT_OUT = 2000               # characters of the judged text written into a finding
MAX_ERRORS_SHOWN = 5
MAX_SOURCES = 100_000             # distinct sources counted for "top sources" (then the rarest are dropped)
_PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
                b"\x0a\x0d\x0d\x0a")
_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"TRACE ", b"CONNECT ")


# ------------------------------------------------------------------------------------------------
# Items
# ------------------------------------------------------------------------------------------------

@dataclass
class ScanItem:
    """One thing to judge, or (``error`` set) one that could not be read."""

    id: str                              # "<file name>:<line>" or "<file name>:<record>"
    text: str = ""
    file: str = ""
    line: int | None = None
    source: str | None = None            # who sent it: client pseudonym (access logs), flow (pcaps)
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    invalid_utf8: bool = False
    user_agent: str | None = None        # access logs: the logged User-Agent (scanner signatures read it)
    kind: tuple[str, str | None, float] | None = None   # identified (kind, family, confidence): routing


FLUSH = object()      # yielded by a followed file when it is idle: judge what is buffered now


class IpPseudonymizer:
    """Keyed pseudonyms for client addresses: the same address gives the same name in one scan,
    counting "top sources" still works, and the address cannot be read back without the key.

        >>> p = IpPseudonymizer(b"k")
        >>> p("203.0.113.9") == p("203.0.113.9") != p("203.0.113.10")
        True
        >>> p("203.0.113.9")[:3]
        'ip-'
    """

    def __init__(self, key: bytes | None = None, raw: bool = False):
        self.key = key or secrets.token_bytes(16)
        self.raw = raw

    def __call__(self, ip: str | None) -> str | None:
        if not ip or ip == "-":
            return None
        if self.raw:
            return ip
        return "ip-" + hmac.new(self.key, ip.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()[:10]


def _decode(raw: bytes) -> tuple[str, bool]:
    """UTF-8, else latin-1 (lossless: an attacker controls the bytes, they are still judged)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("latin-1"), True


def _open(path: Path) -> IO[bytes]:
    f = open(path, "rb")  # noqa: SIM115 - closed by the caller
    if f.peek(2)[:2] == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return f


def detect_format(path: str | Path) -> str:
    """Guess a file's format from its name, then from its first bytes.

        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "x.log"
        >>> _ = p.write_text('1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"\\n')
        >>> detect_format(p)
        'access-log'
    """
    p = Path(path)
    name = p.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if suffix in (".pcap", ".pcapng", ".cap"):
        return "pcap"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    with _open(p) as f:
        try:
            head = f.read(64 * 1024)
        except (OSError, EOFError):
            head = b""
    if head[:4] in _PCAP_MAGICS:
        return "pcap"
    first = next((ln for ln in head.splitlines() if ln.strip()), b"").lstrip()
    if head.startswith(_METHODS) and b" HTTP/" in first:
        return "http"
    if first.startswith(b"{"):
        return "jsonl"
    if parse_access_log_line(_decode(first)[0]) is not None:
        return "access-log"
    return "lines"


def _iter_raw_lines(f: IO[bytes]) -> Iterator[tuple[bytes | None, str | None]]:
    """Lines of an open file, each bounded by ``MAX_LINE_BYTES`` (the rest of an over-long line is
    skipped and reported), and a final error if a compressed stream breaks."""
    try:
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass
                yield None, f"line longer than {MAX_LINE_BYTES} bytes"
                continue
            yield raw, None
    except (OSError, EOFError) as exc:     # truncated gzip, I/O error
        yield None, f"stream broken: {exc}"


ROTATED_GRACE_S = 5.0       # a rotated file is still read this long for writes that come late
_SIG_BYTES = 64             # the last bytes read, checked before reading on (truncate-then-rewrite)


class _Tail:
    """One open file being followed: where it is, a half-written line, the last bytes read."""

    def __init__(self, f: IO[bytes]):
        self.f, self.ino = f, os.fstat(f.fileno()).st_ino
        self.pending, self.skipping, self.sig = b"", False, b""
        self.deadline: float | None = None          # set once rotated away

    def lines(self) -> Iterator[tuple[bytes | None, str | None]]:
        """The complete lines readable now (a half-written line waits for its end)."""
        while True:
            raw = self.f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.sig = (self.sig + raw)[-_SIG_BYTES:]
            ended = raw.endswith(b"\n")
            if self.skipping:                           # the tail of an over-long line
                self.skipping = not ended
                continue
            self.pending += raw
            if ended:
                line, self.pending = self.pending, b""
                yield line, None
            elif len(self.pending) > MAX_LINE_BYTES:
                yield None, f"line longer than {MAX_LINE_BYTES} bytes"
                self.pending, self.skipping = b"", True

    def rewritten(self) -> bool:
        """Truncated (shorter than where we are), or truncated and rewritten past where we are (the
        bytes before our offset are not the ones we read): either way, read again from the start."""
        pos = self.f.tell()
        try:
            size = os.fstat(self.f.fileno()).st_size
        except OSError:
            return False
        if size < pos:
            return True
        n = len(self.sig)
        return bool(n) and os.pread(self.f.fileno(), n, pos - n) != self.sig

    def restart(self) -> None:
        self.f.seek(0)
        self.pending, self.skipping, self.sig = b"", False, b""


def _follow_raw_lines(path: Path, poll: float, should_stop: Callable[[], bool]) -> Iterator[Any]:
    """``tail -F`` from the start of ``path``: complete lines as they are written, ``FLUSH`` when
    idle. On rotation (a new file under the name) the old file is read to its end first and kept
    open ``ROTATED_GRACE_S`` for late writes from a daemon that still holds it; truncation, even
    followed at once by a longer rewrite, restarts at the new content's first byte. A line is never
    judged in fragments."""
    cur: _Tail | None = None
    rotated: list[_Tail] = []
    try:
        while not should_stop():
            if cur is None:
                try:
                    cur = _Tail(open(path, "rb"))  # noqa: SIM115 - closed below
                except FileNotFoundError:      # between rotation and re-creation
                    cur = None
            got = False
            for t in rotated:                  # the rotated file's last lines come first
                for entry in t.lines():
                    got = True
                    yield entry
            if cur is not None:
                for entry in cur.lines():
                    got = True
                    yield entry
            now = time.monotonic()
            for t in [t for t in rotated if t.deadline is not None and now > t.deadline]:
                if t.pending:
                    yield None, "incomplete last line of a rotated file"
                t.f.close()
                rotated.remove(t)
            if got:
                continue
            yield FLUSH
            time.sleep(poll)
            if cur is None:
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            if st is None or st.st_ino != cur.ino:      # rotated (or removed): drain it, then the new one
                cur.deadline = time.monotonic() + ROTATED_GRACE_S
                rotated.append(cur)
                cur = None
            elif cur.rewritten():                       # truncated in place (copytruncate)
                cur.restart()
    finally:
        for t in rotated + ([cur] if cur is not None else []):
            t.f.close()


def iter_scan_items(path: str | Path, fmt: str = "auto", *, text_field: str | None = None,
                    pseudonym: IpPseudonymizer | None = None, follow: bool = False, poll: float = 0.5,
                    should_stop: Callable[[], bool] = lambda: False) -> Iterator[Any]:
    """Yield ``ScanItem`` per input (``error`` set for a corrupt one), and ``FLUSH`` when following."""
    p = Path(path)
    fmt = detect_format(p) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    pseudonym = pseudonym or IpPseudonymizer()
    name = p.name
    if fmt in ("http", "pcap"):
        if follow:
            raise ValueError(f"--follow works on line formats, not {fmt}")
        yield from _record_items(p, fmt)
        return
    if fmt == "csv":
        if follow:
            raise ValueError("--follow works on line formats, not csv")
        yield from _csv_items(p, text_field)
        return
    if follow:
        lines: Iterable[Any] = _follow_raw_lines(p, poll, should_stop)
        yield from _line_items(lines, name, fmt, text_field, pseudonym)
    else:
        with _open(p) as f:
            yield from _line_items(_iter_raw_lines(f), name, fmt, text_field, pseudonym)


def _line_items(lines: Iterable[Any], name: str, fmt: str, text_field: str | None,
                pseudonym: IpPseudonymizer) -> Iterator[Any]:
    n = 0
    for entry in lines:
        if entry is FLUSH:
            yield FLUSH
            continue
        n += 1
        raw, err = entry
        rid = f"{name}:{n}"
        if err is not None:
            yield ScanItem(rid, file=name, line=n, error=err)
            continue
        line, bad = _decode(raw.rstrip(b"\r\n"))
        if not line.strip():
            continue
        if fmt == "access-log":
            d = parse_access_log_line(line)
            if d is None:
                yield ScanItem(rid, file=name, line=n, error="not an access-log line")
                continue
            meta = {k: v for k, v in (("method", d["method"]), ("http_status", d["status"]), ("size", d["size"]),
                                      ("time", d["time"])) if v is not None}
            ua = d.get("user_agent")
            yield ScanItem(rid, d["target"], name, n, pseudonym(d["ip"]), meta, invalid_utf8=bad,
                           user_agent=ua if ua and ua != "-" else None)
        elif fmt == "jsonl":
            field_ = text_field or "text"
            # issue 18: any parse failure (deep nesting, huge ints...) is a typed item, never raised;
            # ids and texts are scrubbed of lone surrogates so that every writer can encode them
            obj, jerr = parse_json_line(line)
            if jerr is not None:
                yield ScanItem(rid, file=name, line=n, error=f"bad_json: {jerr}")
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get(field_), str):
                yield ScanItem(rid, file=name, line=n, error=f"bad_json: expected an object with a string {field_!r}")
                continue
            oid = clean_id(obj.get("id"), "")
            if oid is None:
                yield ScanItem(rid, file=name, line=n, error="bad_json: 'id' must be a string or a number")
                continue
            yield ScanItem(f"{name}:{oid}" if obj.get("id") is not None else rid, scrub_surrogates(obj[field_]),
                           name, n, invalid_utf8=bad)
        else:
            yield ScanItem(rid, line, name, n, invalid_utf8=bad)


def _csv_items(p: Path, text_field: str | None) -> Iterator[ScanItem]:
    name = p.name
    with _open(p) as fb:
        # surrogateescape: a non-UTF-8 byte is kept (and judged) instead of failing the file
        ft = io.TextIOWrapper(fb, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.DictReader(ft)
        try:
            cols = reader.fieldnames or []
        except csv.Error as exc:        # a header field over the csv size limit (issue 18)
            raise ValueError(f"{p}: unreadable CSV header: {exc}") from None
        col = text_field or next((c for c in ("text", "payload", "url", "request") if c in cols), None)
        if col is None or col not in cols:
            raise ValueError(f"{p}: no text column (columns: {cols}); pass --text-field NAME")
        k = 0
        while True:
            k += 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, OSError, EOFError) as exc:      # e.g. a field over the csv size limit
                yield ScanItem(f"{name}:{k}", file=name, line=reader.line_num, error=f"csv: {exc}")
                if not isinstance(exc, csv.Error):
                    return
                continue
            value = row.get(col)
            if value is None:
                yield ScanItem(f"{name}:{k}", file=name, line=reader.line_num, error=f"row lacks {col!r}")
                continue
            bad = any(0xDC80 <= ord(c) <= 0xDCFF for c in value)
            if bad:
                value = value.encode("utf-8", "surrogateescape").decode("latin-1")
            yield ScanItem(f"{name}:{k}", value, name, reader.line_num, invalid_utf8=bad)


def _record_items(p: Path, fmt: str) -> Iterator[ScanItem]:
    """Raw request files and pcaps through the readers (which report broken input as records).

    These readers hold one file (requests) or the TCP streams of one capture (pcaps, capped per
    stream) in memory; the scan itself still streams.
    """
    from secllm.data.readers import read_http_requests, reassemble_http_from_pcap

    name = p.name
    records = read_http_requests(p) if fmt == "http" else reassemble_http_from_pcap(p)
    for k, rec in enumerate(records):
        rid = f"{name}:{k}"
        if rec.error:
            yield ScanItem(rid, file=name, error=rec.error)
            continue
        meta = {key: rec.meta[key] for key in ("method", "target") if key in rec.meta}
        src = f"flow{rec.meta['flow']}" if "flow" in rec.meta else None
        yield ScanItem(rid, rec.text, name, None, src, meta, invalid_utf8=rec.meta.get("encoding") == "latin-1")


# ------------------------------------------------------------------------------------------------
# Findings and summary
# ------------------------------------------------------------------------------------------------

CSV_COLUMNS = ["id", "file", "line", "source", "label", "score", "attack_type", "part", "evidence",
               "status", "text"]


def _csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run: hostile text starting with = + - @ becomes
    a formula in Excel/LibreOffice (CSV injection), so it is prefixed with a quote."""
    s = "" if value is None else str(value)
    if s and s[0] in "=+-@\t\r":
        s = "'" + s
    return s


class FindingWriter:
    """Writes findings as JSONL or CSV, one per line, flushed per batch (``--follow`` is live)."""

    def __init__(self, out: IO[str], fmt: str = "jsonl"):
        if fmt not in OUT_FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; expected one of {OUT_FORMATS}")
        self.out, self.fmt = out, fmt
        self._csv = csv.writer(out) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)

    def write(self, finding: dict[str, Any]) -> None:
        if self._csv is not None:
            row = dict(finding)
            row["evidence"] = " | ".join(f"{e['part']}:{e['text']}" for e in finding.get("evidence") or [])
            self._csv.writerow([_csv_cell(row.get(c)) for c in CSV_COLUMNS])
        else:
            self.out.write(json.dumps(finding, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        self.out.flush()


@dataclass
class ScanSummary:
    items: int = 0
    verdicts: Counter = field(default_factory=Counter)        # benign / malicious / corrupt / <status>
    attack_types: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)         # malicious findings per source
    errors: list[str] = field(default_factory=list)           # the first few corrupt items
    files: int = 0
    seconds: float = 0.0
    kinds: Counter = field(default_factory=Counter)           # routed scans: items per identified kind
    tasks: Counter = field(default_factory=Counter)           # routed scans: items per judging task

    def add_source(self, source: str) -> None:
        """Count a malicious finding's source; memory stays bounded however many sources a log has
        (past ``MAX_SOURCES`` the rarest are dropped: "top sources" is about the frequent ones)."""
        self.sources[source] += 1
        if len(self.sources) > MAX_SOURCES:
            self.sources = Counter(dict(self.sources.most_common(MAX_SOURCES // 10)))

    def add_error(self, where: str, message: str) -> None:
        self.verdicts["corrupt"] += 1
        if len(self.errors) < MAX_ERRORS_SHOWN:
            self.errors.append(f"{where}: {message}")

    def to_json(self) -> dict[str, Any]:
        out = {"items": self.items, "files": self.files, "seconds": round(self.seconds, 3),
               "verdicts": dict(self.verdicts), "attack_types": dict(self.attack_types),
               "top_sources": self.sources.most_common(10), "errors": self.errors}
        if self.kinds:
            out.update(kinds=dict(self.kinds), tasks=dict(self.tasks))
        return out

    def format(self) -> str:
        """The human summary printed on stderr (input-derived text made terminal-safe)."""
        rate = self.items / self.seconds if self.seconds > 0 else 0.0
        lines = [f"scanned {self.items} items from {self.files} file(s) in {self.seconds:.1f} s ({rate:.0f}/s)",
                 "verdicts: " + (", ".join(f"{k}={v}" for k, v in sorted(self.verdicts.items())) or "-"),
                 "attack types: " + (", ".join(f"{k}={v}" for k, v in self.attack_types.most_common()) or "-")]
        if self.kinds:
            lines.append("kinds: " + ", ".join(f"{term_safe(k)}={v}" for k, v in self.kinds.most_common(12)))
            lines.append("judged by: " + ", ".join(f"{k}={v}" for k, v in self.tasks.most_common()))
        if self.sources:
            lines.append("top sources: " + ", ".join(f"{term_safe(k)}={v}" for k, v in self.sources.most_common(10)))
        n_bad = self.verdicts.get("corrupt", 0)
        if n_bad:
            lines.append(f"skipped {n_bad} corrupt item(s); first: " + "; ".join(term_safe(e) for e in self.errors))
        return "\n".join(lines)


def _ua_signatures(ua: str, r: Any, evidence: bool) -> None:
    """Scanner signatures in an access-log line's User-Agent (spans index the User-Agent)."""
    from secllm.data.http import Part
    from secllm.detect.detector import flag_by_signatures
    from secllm.detect.signatures import match_parts

    found = [h for h in match_parts([Part("header:user-agent", ua, 0, len(ua))]) if h.name not in r.signatures]
    r.signatures = [*r.signatures, *(h.name for h in found)]
    flag_by_signatures(r, found, ua, evidence, part="log:user-agent")


def _mask_finding(out: dict[str, Any]) -> None:
    """Mask e-mails, keys, card/ID/phone numbers... in a finding's text, evidence and details (issue 18: a
    findings file is data at rest). Evidence spans keep indexing the judged input; when masking
    changed anything the finding says ``masked: true`` (the text is then not that input)."""
    from secllm.data.desensitize import desensitize

    masked = False
    text = desensitize(out["text"])
    if text != out["text"]:
        out["text"], masked = text, True
    ev = []
    for e in out.get("evidence") or []:
        t = desensitize(e.get("text") or "")
        if t != e.get("text"):
            e, masked = {**e, "text": t}, True
        ev.append(e)
    if ev:
        out["evidence"] = ev
    if out.get("details"):                 # e.g. the user names an auth log's attacker tried
        details = _mask_values(out["details"], desensitize)
        if details != out["details"]:
            out["details"], masked = details, True
    if masked:
        out["masked"] = True


def _mask_values(x: Any, mask: Any) -> Any:
    """``x`` with every string inside (dicts, lists) passed through ``mask``."""
    if isinstance(x, str):
        return mask(x)
    if isinstance(x, dict):
        return {k: _mask_values(v, mask) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_mask_values(v, mask) for v in x]
    return x


def _finding(item: ScanItem, det: Any, raw_text: bool = False,
             pseudonym: IpPseudonymizer | None = None) -> dict[str, Any]:
    d = det.to_json()
    out: dict[str, Any] = {"id": item.id, "file": item.file, "line": item.line, "source": item.source}
    for k in ("label", "score", "attack_type", "part", "evidence", "status", "error", "kind", "warnings",
              "signatures"):
        out[k] = d.get(k)
    for k in ("attack_types", "input_kind", "task", "details"):     # routed scans say what judged the item
        if d.get(k):
            out[k] = d[k]
    src = (out.get("details") or {}).get("source")
    if isinstance(src, str) and pseudonym is not None:      # an auth log's attacking address, named like a client's
        out["details"] = {**out["details"], "source": pseudonym(src)}
    if "knowledge" in d:
        out["knowledge"] = d["knowledge"]
    out.update({k: v for k, v in item.meta.items() if k not in out})
    out["text"] = item.text[:MAX_TEXT_OUT]
    if len(item.text) > MAX_TEXT_OUT:
        out["text_truncated"] = True
    if not raw_text:
        _mask_finding(out)
    return out


def _file_kind(path: str | Path, fmt: str, router: Any) -> tuple[tuple[str, str | None, float], str | None] | None:
    """The routing kind of every item of one file, when the file says it, with the kind a finding
    reports (``access-log/combined``: its items are request targets, judged as URLs); ``None``:
    identify item by item (a mixed file, JSONL, CSV, a file that does not exist yet)."""
    p = Path(path)
    try:
        fmt = detect_format(p) if fmt == "auto" else fmt
    except OSError:
        return None
    if fmt == "access-log":
        return ("url", None, 1.0), "access-log"
    if fmt in ("http", "pcap"):
        return ("http-request", None, 1.0), f"http-request/{fmt}"
    if fmt != "lines":
        return None
    try:
        f = router.identifier.identify_file(p)
    except OSError:
        return None
    if getattr(f, "mixed", True) or f.kind in ("unknown", "binary"):
        return None
    return (f.kind, f.family, float(f.confidence)), None


def judge_items(items: list[ScanItem], detector: Any, *, evidence: bool = True,
                signatures: bool = True) -> list[Any]:
    """Judge one batch of readable items as ``scan`` does: a router identifies the items whose kind
    the file did not say and judges each by its kind (else ``detector.detect``); latin-1 decoding
    is a warning; an access-log line's User-Agent is matched against the scanner signatures.
    One detection per item, in order. Every engine (``scan``, :mod:`secllm.spark`) judges here.

        >>> judge_items([ScanItem("a:1", "1' or '1'='1")], det)[0].label    # doctest: +SKIP
        'malicious'
    """
    if not items:
        return []
    if hasattr(detector, "judge"):           # a secllm.detect.route.Router: identify, then judge by kind
        todo = [k for k, it in enumerate(items) if it.kind is None]
        if todo:
            for k, kd in zip(todo, detector.identify([items[k].text for k in todo])):
                items[k].kind = kd
        results = detector.judge([it.text for it in items], ids=[it.id for it in items], evidence=evidence,
                                 kinds=[it.kind for it in items])
        for it, r in zip(items, results):
            if it.meta.get("log_kind"):
                r.input_kind = it.meta.pop("log_kind")
    else:
        results = detector.detect([it.text for it in items], ids=[it.id for it in items], evidence=evidence)
    for it, r in zip(items, results):
        if it.invalid_utf8:
            r.warnings.append("invalid_utf8: decoded as latin-1")
        if signatures and it.user_agent and r.status == "ok":
            _ua_signatures(it.user_agent, r, evidence)
    return results


def make_finding(item: ScanItem, detection: Any, task: str, *, raw_text: bool = False,
                 pseudonym: IpPseudonymizer | None = None) -> dict[str, Any]:
    """The finding written for one judged item: knowledge attached for ``task``'s labels, sensitive
    values masked unless ``raw_text``, an auth log's attacking address named by ``pseudonym``."""
    from secllm.detect.knowledge import attach_knowledge

    attach_knowledge([detection], task)
    return _finding(item, detection, raw_text, pseudonym)


def file_kind(path: str | Path, fmt: str, detector: Any) -> tuple[tuple[str, str | None, float], str | None] | None:
    """What a routed scan knows of every item of one file before reading it (``None``: nothing,
    or ``detector`` is not a router); see :func:`_file_kind`."""
    return _file_kind(path, fmt, detector) if hasattr(detector, "judge") else None


def scan(paths: Iterable[str | Path], detector: Any, out: IO[str], *, fmt: str = "auto",
         out_format: str = "jsonl", all_items: bool = False, batch: int = 256, evidence: bool = True,
         follow: bool = False, poll: float = 0.5, max_seconds: float | None = None,
         text_field: str | None = None, ip_key: bytes | None = None, raw_ips: bool = False,
         progress: bool = True, signatures: bool = True, raw_text: bool = False,
         on_item: Callable[[dict[str, Any]], None] | None = None) -> ScanSummary:
    """Judge every item of ``paths`` with ``detector`` and write findings to ``out``.

    An access-log line's target is what the model judges; its logged User-Agent is also matched
    against the scanner signatures (``signatures``; :mod:`secllm.detect.signatures`), as a
    ``header:user-agent`` part of a raw request would be.

    Findings are the malicious items (every item with ``all_items``). ``on_item`` receives every
    judged item as a finding dict, written or not (``scan --incidents`` feeds the correlator with
    it: benign items tell it how an attack went). ``max_seconds`` stops the
    scan (used with ``follow``); Ctrl-C stops it too, and the summary so far is returned either way.

        >>> s = scan(["access.log"], det, out=sys.stdout)                  # doctest: +SKIP
        >>> print(s.format())                                               # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from secllm.detect.knowledge import task_of

    writer = FindingWriter(out, out_format)
    summary = ScanSummary()
    task = task_of(detector)
    pseudonym = IpPseudonymizer(ip_key, raw=raw_ips)
    t0 = time.monotonic()

    def should_stop() -> bool:
        return max_seconds is not None and time.monotonic() - t0 >= max_seconds

    bar = tqdm(unit="item", disable=not progress, file=sys.stderr, desc="scan", dynamic_ncols=True,
               delay=2.0)  # a bar only once a scan has run 2 s: short jobs stay silent
    buf: list[ScanItem] = []

    routed = hasattr(detector, "judge")      # a secllm.detect.route.Router: identify, then judge by kind

    def flush() -> None:
        if not buf:
            return
        results = judge_items(buf, detector, evidence=evidence, signatures=signatures)
        for it, r in zip(buf, results):
            if routed:
                summary.kinds[r.input_kind or "-"] += 1
                summary.tasks[r.task or "none"] += 1
            key = r.label if r.status == "ok" else r.status
            summary.verdicts[key] += 1
            if r.label == "malicious":
                summary.attack_types[r.attack_type or "unknown"] += 1
                if it.source:
                    summary.add_source(it.source)
            if all_items or r.label == "malicious" or on_item is not None:
                finding = make_finding(it, r, task, raw_text=raw_text, pseudonym=pseudonym)
                if all_items or r.label == "malicious":
                    writer.write(finding)
                if on_item is not None:
                    on_item(finding)
        writer.flush()
        bar.update(len(buf))
        buf.clear()

    try:
        for path in paths:
            summary.files += 1
            fkind = file_kind(path, fmt, detector)
            for it in iter_scan_items(path, fmt, text_field=text_field, pseudonym=pseudonym, follow=follow,
                                      poll=poll, should_stop=should_stop):
                if it is FLUSH:
                    flush()
                    continue
                if fkind is not None:
                    it.kind, log_kind = fkind
                    if log_kind:
                        it.meta["log_kind"] = log_kind
                summary.items += 1
                if it.error is not None:
                    summary.add_error(it.id, it.error)
                    bar.update(1)
                else:
                    buf.append(it)
                    if len(buf) >= batch:
                        flush()
                if should_stop():
                    break
            flush()
            if should_stop():
                break
    except KeyboardInterrupt:               # Ctrl-C: judge what was read, then summarise
        flush()
    finally:
        bar.close()
        summary.seconds = time.monotonic() - t0
    return summary
