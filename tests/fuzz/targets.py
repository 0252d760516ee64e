"""The fuzz targets: every reader and parser of hostile input, each with the properties it must keep.

A target is a strategy (what to generate) and a check (run the code, assert its contract). Every
check must return: typed errors (``HttpParseError``, an error Record, a ``bad_json`` item) are
fine, any other exception is a bug. :mod:`tests.fuzz.budget` adds the time and memory budget.

    >>> sorted(TARGETS)[:3]                                              # doctest: +SKIP
    ['access_log.parse_line', 'access_log.read_line_log', 'canonical']
"""

from __future__ import annotations

import gzip
import io
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.fuzz import strategies as S


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy
    check: Callable[[Any], None]
    size: Callable[[Any], int]


TARGETS: dict[str, Target] = {}


def _nbytes(x: Any) -> int:
    if isinstance(x, (bytes, bytearray)):
        return len(x)
    if isinstance(x, str):
        return len(x.encode("utf-8", "surrogatepass"))
    if isinstance(x, (list, tuple)):
        return sum(_nbytes(y) for y in x)
    return 64


def target(name: str, strategy: st.SearchStrategy, size: Callable[[Any], int] = _nbytes):
    def deco(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        TARGETS[name] = Target(name, strategy, fn, size)
        return fn
    return deco


@lru_cache(maxsize=1)
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="secllm-fuzz-"))


def _file(name: str, data: bytes | str, gz: bool = False) -> Path:
    p = _workdir() / name
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    p.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    return p


def _writable(s: str) -> None:
    """What every output path does with a string: encode it as UTF-8 (lone surrogates fail)."""
    s.encode("utf-8")


# ------------------------------------------------------------------------------------------------
# Raw HTTP: request line, headers, cookies, bodies (urlencoded, JSON, multipart, XML, chunked)
# ------------------------------------------------------------------------------------------------

def _check_parts(text: str, parts: list) -> None:
    for p in parts:
        assert 0 <= p.start <= p.end <= len(text), (p.name, p.start, p.end, len(text))
        assert text[p.start:p.end] == p.text, f"part {p.name!r} does not index the original"


@target("http.parse_request", S.REQUESTS)
def check_parse_request(raw: str) -> None:
    from secllm.data.http import HttpParseError, parse_http_request

    try:
        r = parse_http_request(raw)
    except HttpParseError:
        return
    assert 0 <= r.start <= r.target_start <= r.target_end <= r.body_start <= r.body_end <= len(raw)
    assert raw[r.target_start:r.target_end] == r.target
    assert r.body == raw[r.body_start:r.body_end]
    for _name, value, s, e in r.headers:
        assert 0 <= s <= e <= len(raw) and raw[s:e] == value
    for s, e in r.chunks:
        assert r.body_start <= s <= e <= len(raw)


@target("http.iter_raw_requests", S.REQUEST_FILES)
def check_iter_raw_requests(text: str) -> None:
    from secllm.data.http import iter_raw_requests

    last = -1
    for start, end, raw in iter_raw_requests(text):
        assert last < start <= end <= len(text) and raw == text[start:end]
        last = start


_WEB_INPUTS = st.one_of(S.REQUESTS, S.TARGETS, S.hostile_text(200), S.mutate_text(S.TARGETS),
                        S.repeated(["a=1&", "%25", "/..", "{\"a\":[", "<a>", "; ", "=", "&"], 16384))


@target("http.split_web_input", st.tuples(_WEB_INPUTS, st.sampled_from(["auto", "payload", "url", "query", "http"]),
                                           st.booleans()),
        size=lambda x: _nbytes(x[0]))
def check_split_web_input(case: tuple[str, str, bool]) -> None:
    from secllm.data.http import HttpParseError, parse_http_request, split_web_input

    text, kind, with_target = case
    got, parts = split_web_input(text, kind, with_target=with_target)
    _check_parts(text, parts)
    if kind in ("auto", "http") and got != "http":
        # a request the parser accepts must be split as one: the splitter swallows its own
        # exceptions, so a crash inside it would silently turn a request into one opaque value
        try:
            parse_http_request(text)
        except HttpParseError:
            return
        raise AssertionError(f"a request the parser accepts was split as {got!r}")


def _with_body(ctype_body: tuple[str, str]) -> str:
    ctype, body = ctype_body
    return (f"POST /api HTTP/1.1\r\nHost: h\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body.encode('utf-8', 'surrogatepass'))}\r\n\r\n{body}")


_XML_REQUESTS = st.one_of(
    st.tuples(st.sampled_from(["application/xml", "text/xml", "application/soap+xml", ""]),
              S.XML_BODIES | S.mutate_text(S.XML_BODIES)
              | S.repeated(["<a>", "<a x='", "<![CDATA[", "&#", "<!--"], 16384)).map(_with_body))


@target("http.xml_body", _XML_REQUESTS)
def check_xml_body(raw: str) -> None:
    from secllm.data.http import split_web_input

    kind, parts = split_web_input(raw)
    _check_parts(raw, parts)
    assert kind == "http"


_MULTIPART_REQUESTS = st.one_of(S.multipart_bodies().map(_with_body),
                                S.mutate_text(S.multipart_bodies().map(_with_body)))


@target("http.multipart_body", _MULTIPART_REQUESTS)
def check_multipart_body(raw: str) -> None:
    from secllm.data.http import split_web_input

    _kind, parts = split_web_input(raw)
    _check_parts(raw, parts)


# ------------------------------------------------------------------------------------------------
# Canonical forms, desensitisation
# ------------------------------------------------------------------------------------------------

_CANON_INPUTS = st.one_of(S.hostile_text(400), S.mutate_text(S.TARGETS),
                          S.repeated(["%25", "%2525", "&#", "&amp;", "\\x", "\\u00", "%u00", "+", "\ufdfa", "\u0390",
                                      "%C3", "&lt", "A\u0301"], 16384))


@target("canonical", st.tuples(_CANON_INPUTS, st.booleans(), st.integers(0, 6), st.booleans()),
        size=lambda x: _nbytes(x[0]))
def check_canonical(case: tuple[str, bool, int, bool]) -> None:
    from secllm.data.canonical import canonicalize, span_to_original

    text, plus, rounds, lower = case
    c = canonicalize(text, plus_as_space=plus, max_rounds=rounds, lower=lower)
    assert len(c.offsets) == len(c.text)
    prev = (0, 0)
    for a, b in c.offsets:
        assert 0 <= a <= b <= len(text) and a >= prev[0] and b >= prev[1], "offsets must stay monotone"
        prev = (a, b)
    n = len(c.text)
    for s, e in ((0, n), (n // 3, n // 2), (n, n), (-5, n + 5)):
        a, b = span_to_original(c, s, e)
        assert 0 <= a <= b <= len(text)


_SECRETS = ["alice@example.com", "10.1.2.3", "fe80::1", "aa:bb:cc:dd:ee:ff", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "AKIAIOSFODNN7EXAMPLE", "13812345678", "110101199003074514", "4111 1111 1111 1111", "123-45-6789"]
_SEPARATORS = [" ", "\n", "&", ";", ",", "\t", "=", "(", ")", "'", '"', "<", ">"]


_DESENSITIZE_TEXT = S.hostile_text(300) | S.repeated(["1", "+1 ", "4111 ", "a@", "eyJ", "f0", "1-"], 16384)


@target("desensitize", st.tuples(_DESENSITIZE_TEXT, st.sampled_from(_SECRETS), st.sampled_from(_SEPARATORS),
                                 st.sampled_from(_SEPARATORS), st.integers(0, 300)),
        size=lambda x: _nbytes(x[0]))
def check_desensitize(case: tuple[str, str, str, str, int]) -> None:
    from secllm.data.desensitize import KINDS, desensitize, find_sensitive

    text, secret, left, right, at = case
    at = min(at, len(text))
    text = text[:at] + left + secret + right + text[at:]
    hits = find_sensitive(text)
    end = 0
    for a, b, kind in hits:
        assert end <= a < b <= len(text) and kind in KINDS
        end = b
    out = desensitize(text)
    assert secret not in out, f"{secret!r} survived between {left!r} and {right!r}"
    assert desensitize(out) == out, "masking twice changes the text"


# ------------------------------------------------------------------------------------------------
# JSON / JSONL item readers
# ------------------------------------------------------------------------------------------------

_JSONL_FILES = st.lists(S.JSONL_LINES, max_size=12)


@target("jsonl.parse_json_line", S.JSONL_LINES)
def check_parse_json_line(line: str) -> None:
    from secllm.data.bounded import json_line, parse_json_line

    value, err = parse_json_line(line)
    if err is not None:
        assert value is None and err.startswith("invalid JSON")
    elif _shallow(value):
        _writable(json_line(value))


def _shallow(v: Any, depth: int = 0) -> bool:
    if depth > 64:
        return False
    if isinstance(v, dict):
        return all(_shallow(x, depth + 1) for x in v.values())
    if isinstance(v, list):
        return all(_shallow(x, depth + 1) for x in v)
    return True


@target("jsonl.iter_items", st.tuples(_JSONL_FILES, st.sampled_from(["jsonl", "text"]), st.booleans()),
        size=lambda x: _nbytes(x[0]))
def check_iter_items(case: tuple[list[str], str, bool]) -> None:
    from secllm.detect.detector import Detection
    from secllm.detect.io import iter_items, write_json

    lines, fmt, as_stream = case
    raw = [x.encode("utf-8", "surrogatepass") + b"\n" for x in lines]
    src = io.BufferedReader(io.BytesIO(b"".join(raw))) if as_stream else raw
    items = list(iter_items(src, fmt))
    expected = sum(1 for x in lines for part in x.split("\n") if fmt == "text" or part.strip()) if as_stream else \
        sum(1 for x in lines if fmt == "text" or x.rstrip("\r\n").strip())
    if not any(c in x for x in lines for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        assert len(items) == expected
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    for it in items:
        _writable(it.id)
        if it.text is not None:
            _writable(it.text)
        write_json([Detection(id=it.id, status=it.status or "ok", error=it.error)], out)
    out.flush()


@target("jsonl.read_jsonl", st.tuples(_JSONL_FILES, st.booleans()), size=lambda x: _nbytes(x[0]))
def check_read_jsonl(case: tuple[list[str], bool]) -> None:
    from secllm.data.readers import read_jsonl

    lines, gz = case
    p = _file("r.jsonl", "\n".join(lines), gz)
    for r in read_jsonl(p, group_field="g", time_field="t"):
        assert (r.error is None) or r.text == ""
        _writable(json.dumps(r.to_json(), ensure_ascii=False))


# ------------------------------------------------------------------------------------------------
# Access logs and line logs
# ------------------------------------------------------------------------------------------------

@target("access_log.parse_line", S.ACCESS_LOG_LINES)
def check_access_log_line(line: str) -> None:
    from secllm.data.readers import parse_access_log_line

    d = parse_access_log_line(line)
    if d is not None:
        assert isinstance(d["target"], str)
        assert d["status"] is None or isinstance(d["status"], int)
        assert d["epoch"] is None or math.isfinite(d["epoch"])


@target("access_log.read_line_log", st.tuples(st.lists(S.ACCESS_LOG_LINES | S.LOG_LINES, max_size=10),
                                              st.sampled_from([None, "bgl", "nginx"]), st.booleans()),
        size=lambda x: _nbytes(x[0]))
def check_read_line_log(case: tuple[list[str], str | None, bool]) -> None:
    from secllm.data.readers import read_line_log, read_url_list

    lines, system, gz = case
    p = _file("x.log", "\n".join(lines), gz)
    for r in read_line_log(p, system):
        _writable(json.dumps(r.to_json(), ensure_ascii=False))
    for r in read_url_list(p):
        assert r.error is None or r.text == ""


# ------------------------------------------------------------------------------------------------
# Packet captures (mutated real pcap / pcapng bytes)
# ------------------------------------------------------------------------------------------------

@target("pcap.read_pcap", st.tuples(S.PCAPS, st.sampled_from(["packets", "flows"]), st.booleans()),
        size=lambda x: len(x[0]))
def check_read_pcap(case: tuple[bytes, str, bool]) -> None:
    from secllm.data.readers import read_pcap

    data, mode, gz = case
    p = _file("c.pcap", data, gz)
    recs = list(read_pcap(p, mode=mode, max_bytes=256))
    for r in recs:
        assert r.error is None or r.text == ""
        if r.data is not None:
            assert len(r.data) <= 256 and r.text == r.data.hex(" ")


@target("pcap.reassemble_http", st.tuples(S.PCAPS, st.booleans()), size=lambda x: len(x[0]))
def check_reassemble_http(case: tuple[bytes, bool]) -> None:
    from secllm.data.readers import reassemble_http_from_pcap

    data, gz = case
    p = _file("h.pcap", data, gz)
    for r in reassemble_http_from_pcap(p, max_stream_bytes=1 << 16):
        _writable(json.dumps(r.to_json(), ensure_ascii=False))


# ------------------------------------------------------------------------------------------------
# Windows events (EVTX as XML)
# ------------------------------------------------------------------------------------------------

@target("evtx.compact_event", S.EVTX_XML)
def check_compact_event(xml: str) -> None:
    from secllm.tasks.evtx import HEAD_CHARS, compact_event

    out = compact_event(xml)
    assert len(out) <= HEAD_CHARS


# ------------------------------------------------------------------------------------------------
# Learning mode: input readers, structure and log models
# ------------------------------------------------------------------------------------------------

_LEARN_FILES = st.tuples(st.one_of(S.REQUEST_FILES, st.lists(S.ACCESS_LOG_LINES | S.LOG_LINES | S.TARGETS, max_size=12)
                                   .map("\n".join), _JSONL_FILES.map("\n".join)),
                         st.sampled_from(["auto", "http", "access-log", "urls", "jsonl", "log", "sessions"]),
                         st.sampled_from(["t.txt", "t.jsonl", "t.log"]), st.booleans())


@target("profile.read_learning_items", _LEARN_FILES, size=lambda x: _nbytes(x[0]))
def check_read_learning_items(case: tuple[str, str, str, bool]) -> None:
    from secllm.profile.inputs import read_learning_items

    text, fmt, name, gz = case
    p = _file(name + (".gz" if gz else ""), text, gz)
    items, learn_fmt = read_learning_items([p], fmt)
    for x in items:
        _writable(x)


@lru_cache(maxsize=1)
def _site_models():
    from secllm.profile.logs import LogModel
    from secllm.profile.structure import StructureModel, parse_observation

    reqs = [f"GET /item/{i}?id={i}&sort={'asc' if i % 2 else 'desc'}&mail=u{i}@x.io HTTP/1.1\r\nHost: h\r\n"
            f"Cookie: sid={i:08x}\r\n\r\n" for i in range(40)]
    sm = StructureModel().fit([parse_observation(r) for r in reqs])
    lm = LogModel.fit_lines([f"081109 2036{i % 60:02d} 148 INFO dfs.DataNode: Receiving block blk_{i} src: "
                             f"/10.0.0.{i % 9}:50010" for i in range(60)])
    return sm, lm


@target("profile.structure", st.tuples(st.one_of(S.REQUESTS, S.TARGETS, S.ACCESS_LOG_LINES, S.hostile_text(100)),
                                       st.sampled_from(["auto", "http", "url", "access-log"])),
        size=lambda x: _nbytes(x[0]))
def check_structure(case: tuple[str, str]) -> None:
    from secllm.profile.structure import parse_observation

    item, fmt = case
    sm, _ = _site_models()
    o = parse_observation(item, fmt)
    if o is not None:
        score, findings = sm.score(o)
        assert math.isfinite(score) and score >= 0
        for f in findings:
            _writable(f.text)


@target("profile.logs", st.one_of(S.LOG_LINES, S.hostile_text(200), st.lists(S.LOG_LINES, max_size=5)))
def check_logs(item: str | list[str]) -> None:
    _, lm = _site_models()
    from secllm.profile.logs import LogModel, log_template

    if isinstance(item, str):
        log_template(item)
        score, ev = lm.score(item)
    else:
        score, ev = LogModel.fit_sessions([item]).score(item)
    assert math.isfinite(score)
    for e in ev:
        _writable(e)


# ------------------------------------------------------------------------------------------------
# scan's readers
# ------------------------------------------------------------------------------------------------

_SCAN_FILES = st.one_of(
    st.tuples(_JSONL_FILES.map("\n".join), st.just("jsonl")),
    st.tuples(st.lists(S.ACCESS_LOG_LINES, max_size=12).map("\n".join), st.just("access-log")),
    st.tuples(st.lists(S.LOG_LINES, max_size=12).map("\n".join), st.just("lines")),
    st.tuples(st.lists(st.lists(S.hostile_text(20), min_size=1, max_size=3).map(",".join), max_size=8)
              .map(lambda rows: "text,label\n" + "\n".join(rows)), st.just("csv")),
    st.tuples(S.REQUEST_FILES, st.just("http")),
)


@target("scan.iter_scan_items", st.tuples(_SCAN_FILES, st.booleans()), size=lambda x: _nbytes(x[0][0]))
def check_scan_items(case: tuple[tuple[str, str], bool]) -> None:
    from secllm.scan import iter_scan_items

    (text, fmt), gz = case
    p = _file(f"s.{fmt}", text, gz)
    try:
        items = list(iter_scan_items(p, fmt))
    except ValueError as e:          # a CSV without a text column: a call-level error, stated
        assert "text column" in str(e) or "no text" in str(e)
        return
    for it in items:
        _writable(it.id)
        _writable(it.text)


# ------------------------------------------------------------------------------------------------
# The input identifier (what routes every scanned item and file)
# ------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _identifier():
    from secllm.identify import Identifier

    return Identifier.load()


_ID_ITEMS = st.one_of(S.hostile_text(300), S.REQUESTS, S.LOG_LINES, S.ACCESS_LOG_LINES, S.EVTX_XML,
                      st.binary(max_size=300), S.PCAPS)


@target("identify", st.tuples(st.lists(_ID_ITEMS, min_size=1, max_size=6), st.booleans()),
        size=lambda x: _nbytes(x[0]))
def check_identify(case: tuple[list[Any], bool]) -> None:
    items, gz = case
    idf = _identifier()
    res = idf.identify_batch(items)
    assert len(res) == len(items)
    for r in res:
        assert 0.0 <= r.confidence <= 1.0 and r.kind
    raw = b"\n".join(x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass") for x in items)
    f = idf.identify_file(_file("id.bin", raw, gz))
    assert f.kind and 0.0 <= f.confidence <= 1.0


# ------------------------------------------------------------------------------------------------
# The REST API's request model
# ------------------------------------------------------------------------------------------------

_API_BODIES = st.one_of(
    st.builds(lambda items, task: json.dumps({"items": items, **({"task": task} if task else {})}),
              st.lists(st.one_of(S.hostile_text(40), st.fixed_dictionaries({"id": st.text(max_size=8) | st.integers(),
                                                                             "text": S.hostile_text(40)}),
                                 S.JSON_VALUES), max_size=5), st.none() | st.text(max_size=10)),
    S.JSONL_LINES, S.mutate_text(st.just('{"items": [{"id": "a", "text": "x"}], "evidence": true}')),
)


@target("serve.request_model", _API_BODIES)
def check_request_model(body: str) -> None:
    from pydantic import ValidationError

    try:
        from secllm.serve.app import DetectRequest
    except ImportError:          # the serve extra is not installed
        return
    try:
        DetectRequest.model_validate_json(body.encode("utf-8", "surrogatepass"))
    except ValidationError:
        pass
