"""Split web input (bare payloads, URLs, raw HTTP requests) into the parts a detector scores.

A detector should not score a whole request as one blob: the attack sits in one parameter, and the
explanation must point at it. :func:`split_web_input` decides what shape the input has and returns
:class:`Part` objects whose ``start``/``end`` always index the ORIGINAL input string, so
``text[p.start:p.end] == p.text`` holds for every part, whatever line endings or encodings it uses.

    >>> kind, parts = split_web_input("/search?q=%3Cscript%3E&page=2")
    >>> kind, [(p.name, p.text) for p in parts]
    ('url', [('path', '/search'), ('query:q', '%3Cscript%3E'), ('query:page', '2')])

Part texts stay raw (still percent-encoded, JSON-escaped, ...): decoding is the job of
:mod:`secllm.data.canonical`, which keeps its own offset map back to the raw text.

Part names: ``path``, ``query:<name>``, ``body:<name>`` (urlencoded / multipart field, or
``body:<json.path>`` for a JSON leaf such as ``body:user.tags[0]``), ``cookie:<name>``,
``header:<lower-case name>``, ``filename:<field>`` (multipart upload file name), ``fragment``,
``value`` (the whole input, for bare payloads). A parameter without ``=`` becomes a part named
just ``query`` / ``body`` / ``cookie`` whose text is the token; an unusual parameter name (not a
plain identifier, e.g. ``user[$ne]`` or ``<script>``) is scored too, as ``query-name`` /
``body-name`` / ``body-key:<json.path>``. Repeated names give several parts with the same name
(told apart by their offsets). Bytes after a Content-Length-bounded body (a smuggled request,
say) become a ``trailing`` part.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.decoder import scanstring
from json.scanner import NUMBER_RE
from urllib.parse import unquote_plus

__all__ = [
    "HttpParseError",
    "ParsedRequest",
    "Part",
    "iter_raw_requests",
    "parse_http_request",
    "split_web_input",
]


@dataclass
class Part:
    """One scorable piece of web input; ``original[start:end] == text``."""

    name: str
    text: str
    start: int
    end: int


class HttpParseError(ValueError):
    """Raised by :func:`parse_http_request` when the input is not a raw HTTP request."""


@dataclass
class ParsedRequest:
    """A raw HTTP/1.x request; every offset indexes the string given to :func:`parse_http_request`.

    ``headers`` holds ``(name, value, value_start, value_end)`` with the name as written and the
    value stripped of surrounding blanks (a folded value keeps its inner line break, so the offsets
    stay exact). ``body`` is ``raw[body_start:body_end]``; ``end`` is where the request stops (after
    a Content-Length-bounded body, or at the end of the input).

        >>> r = parse_http_request("GET /a?b=1 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        >>> r.method, r.target, r.header("host"), r.body
        ('GET', '/a?b=1', 'x', '')
    """

    method: str
    target: str
    version: str
    headers: list[tuple[str, str, int, int]]
    body: str
    start: int  # first character of the request line (leading blank lines are skipped)
    target_start: int
    target_end: int
    body_start: int
    body_end: int
    end: int
    chunks: list[tuple[int, int]] = field(default_factory=list)  # data spans of a chunked body
    truncated: bool = False  # the body is shorter than Content-Length announced

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        for n, v, _, _ in self.headers:
            if n.lower() == name:
                return v
        return None

    def header_spans(self, name: str) -> list[tuple[str, int, int]]:
        """All ``(value, start, end)`` of header ``name`` (case-insensitive)."""
        name = name.lower()
        return [(v, s, e) for n, v, s, e in self.headers if n.lower() == name]


# A request line: tolerant about the method's case (some datasets are lower-cased) but strict
# about the "HTTP/x" version, which is what tells a request apart from prose or a payload.
_REQUEST_LINE = re.compile(
    r"(?P<method>[A-Za-z][A-Za-z_-]{0,19})[ \t]+(?P<target>[^ \t\r\n]+)[ \t]+"
    r"(?P<version>[Hh][Tt][Tt][Pp]/\d(?:\.\d)?)[ \t]*(?=\r?\n|\Z)"
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,64}")
_JSON_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# Headers browsers and proxies set themselves; anything else (and the few standard headers that
# echo user-controlled text) is attacker input worth scoring.
_STANDARD_HEADERS = frozenset(
    """host accept accept-encoding accept-language accept-charset accept-datetime connection
    content-length content-type content-encoding content-language content-md5 cache-control pragma
    upgrade-insecure-requests if-modified-since if-unmodified-since if-none-match if-match
    if-range range te trailer transfer-encoding upgrade dnt keep-alive expect authorization
    proxy-authorization proxy-connection origin cookie priority sec-fetch-site sec-fetch-mode
    sec-fetch-dest sec-fetch-user sec-ch-ua sec-ch-ua-mobile sec-ch-ua-platform sec-gpc
    sec-purpose purpose max-forwards date via content-disposition""".split()
)
_ALWAYS_SCORED_HEADERS = frozenset({"user-agent", "referer", "x-forwarded-for"})
_MAX_JSON_DEPTH = 200


# --------------------------------------------------------------------------------------------
# Parsing a raw request
# --------------------------------------------------------------------------------------------


def _line_end(raw: str, pos: int) -> tuple[int, int]:
    """(end of the line content, start of the next line) for the line starting at ``pos``."""
    nl = raw.find("\n", pos)
    if nl < 0:
        return len(raw), len(raw)
    return (nl - 1 if nl > pos and raw[nl - 1] == "\r" else nl), nl + 1


def _skip_blank_lines(raw: str, pos: int) -> int:
    """First position at or after ``pos`` that starts a non-blank line (or ``len(raw)``)."""
    while pos < len(raw):
        content_end, nxt = _line_end(raw, pos)
        if raw[pos:content_end].strip():
            return pos
        pos = nxt
    return len(raw)


def _char_bytes(ch: str) -> int:
    """Bytes ``ch`` stood for on the wire: its UTF-8 length, or 1 for a surrogateescape byte."""
    o = ord(ch)
    if o < 0x80 or 0xDC80 <= o <= 0xDCFF:  # ASCII, or one undecodable byte kept by surrogateescape
        return 1
    return 2 if o < 0x800 else 3 if o < 0x10000 else 4


def _advance_bytes(raw: str, start: int, nbytes: int) -> int:
    """Char index reached after ``nbytes`` bytes from ``start`` (clipped to the input).

    Content-Length counts bytes but the input is a str: count each char's UTF-8 length (the
    encoding requests are sent in). Text decoded with ``errors="surrogateescape"`` counts exactly,
    since each undecodable byte became one surrogate char (readers decode that way).
    """
    if raw.isascii():
        return min(len(raw), start + nbytes)
    pos, used = start, 0
    while pos < len(raw) and used < nbytes:
        used += _char_bytes(raw[pos])
        pos += 1
    return pos


def _parse_chunked(raw: str, start: int) -> tuple[list[tuple[int, int]], int, bool]:
    """Walk a chunked body: (data spans, end offset, complete?)."""
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < len(raw):
        content_end, nxt = _line_end(raw, pos)
        size_text = raw[pos:content_end].split(";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return spans, pos, False
        if size == 0:
            # The last chunk: skip optional trailer fields up to and including the blank line.
            pos = nxt
            while pos < len(raw):
                content_end, nxt = _line_end(raw, pos)
                blank = not raw[pos:content_end].strip()
                pos = nxt
                if blank:
                    break
            return spans, pos, True
        data_end = _advance_bytes(raw, nxt, size)
        spans.append((nxt, data_end))
        if data_end >= len(raw):
            return spans, len(raw), False
        _, pos = _line_end(raw, data_end)  # the CRLF after the chunk data
    return spans, pos, False


def _parse_head(raw: str, pos: int = 0) -> ParsedRequest:
    """Parse request line and headers at ``pos``; the body is left empty for the caller."""
    start = _skip_blank_lines(raw, pos)
    m = _REQUEST_LINE.match(raw, start)
    if m is None:
        snippet = raw[start : start + 60].splitlines()[0] if raw[start:] else ""
        raise HttpParseError(f"not an HTTP request line: {snippet!r}")
    _, pos = _line_end(raw, m.end())
    headers: list[tuple[str, str, int, int]] = []
    body_start = len(raw)
    while pos < len(raw):
        content_end, nxt = _line_end(raw, pos)
        line = raw[pos:content_end]
        if not line.strip():
            body_start = nxt
            break
        if line[0] in " \t" and headers:
            # Obsolete line folding: the value continues; extend it over the fold.
            name, _, vstart, _ = headers[-1]
            vend = pos + len(line.rstrip())
            headers[-1] = (name, raw[vstart:vend], vstart, vend)
            pos = nxt
            continue
        colon = line.find(":")
        if colon <= 0 or not _HEADER_NAME.fullmatch(line[:colon]):
            raise HttpParseError(f"malformed header line {line[:60]!r}")
        vstart = pos + colon + 1
        while vstart < content_end and raw[vstart] in " \t":
            vstart += 1
        vend = pos + len(line.rstrip(" \t"))
        vend = max(vend, vstart)
        headers.append((line[:colon], raw[vstart:vend], vstart, vend))
        pos = nxt
    else:
        body_start = len(raw)  # headers ran to the end of input: a request without a body
    return ParsedRequest(
        method=m["method"],
        target=m["target"],
        version=m["version"],
        headers=headers,
        body="",
        start=start,
        target_start=m.start("target"),
        target_end=m.end("target"),
        body_start=body_start,
        body_end=body_start,
        end=body_start,
    )


def _bound_body(req: ParsedRequest, raw: str) -> bool:
    """Set the body span from chunked framing / Content-Length; False when neither applies."""
    te = (req.header("transfer-encoding") or "").lower()
    if "chunked" in te:  # RFC 9112: Transfer-Encoding wins over Content-Length
        spans, end, complete = _parse_chunked(raw, req.body_start)
        req.chunks, req.body_end, req.end, req.truncated = spans, end, end, not complete
        return True
    cl = (req.header("content-length") or "").strip()
    if cl.isdigit():
        n = int(cl)
        end = _advance_bytes(raw, req.body_start, n)
        used = sum(map(_char_bytes, raw[req.body_start : end]))
        alt = min(len(raw), req.body_start + n)
        if (
            alt != end
            and _ends_cleanly(raw, alt)
            and not _ends_cleanly(raw, end)
            and max(raw[req.body_start : alt], default="\0") <= "\xff"
        ):
            # A binary body that was not UTF-8 reaches us decoded as latin-1 (one char per
            # byte): counting UTF-8 lengths would cut it short. Take the reading under which
            # the request ends cleanly.
            end, used = alt, alt - req.body_start
        req.body_end = req.end = end
        req.truncated = used < n
        return True
    return False


def _ends_cleanly(raw: str, pos: int) -> bool:
    """True when only blanks or a further request follow ``pos``."""
    nxt = _skip_blank_lines(raw, pos)
    return nxt >= len(raw) or _REQUEST_LINE.match(raw, nxt) is not None


def parse_http_request(raw: str) -> ParsedRequest:
    """Parse one raw HTTP/1.x request (CRLF or LF line endings).

    The body runs for Content-Length bytes (or the chunked framing) when given, else to the end of
    the input; a missing blank line after the headers just means "no body". Raises
    :class:`HttpParseError` when there is no ``METHOD target HTTP/x`` line or a header line has no
    ``name:``.

        >>> r = parse_http_request("POST /login HTTP/1.1\\nContent-Length: 7\\n\\nu=a&p=b")
        >>> r.body, r.body_start
        ('u=a&p=b', 40)
    """
    req = _parse_head(raw)
    if not _bound_body(req, raw):
        req.body_end = req.end = len(raw)
    req.body = raw[req.body_start : req.body_end]
    return req


# --------------------------------------------------------------------------------------------
# Several requests in one file
# --------------------------------------------------------------------------------------------

# A blank line directly followed by a request line (only the last of several blank lines matches,
# which keeps the search linear).
_NEXT_REQUEST = re.compile(r"(?:^|\n)[ \t\r]*\n(?=" + _REQUEST_LINE.pattern + ")", re.MULTILINE)


def _next_request_start(text: str, pos: int) -> int:
    """Start of the next request: a request line at ``pos`` (after blank lines) or after a blank line."""
    first = _skip_blank_lines(text, pos)
    if first < len(text) and _REQUEST_LINE.match(text, first):
        return first
    m = _NEXT_REQUEST.search(text, pos)
    return m.end() if m else len(text)


def iter_raw_requests(text: str) -> Iterator[tuple[int, int, str]]:
    """Split a text holding several raw requests into ``(start, end, raw)``, ``raw == text[start:end]``.

    Requests are separated by blank lines followed by a new request line; a Content-Length (or
    chunked) body is taken whole even if it contains blank lines or request-like lines. Text that
    is not a request still comes out as a segment (up to the next request), so callers can report
    it instead of silently dropping it.

        >>> t = "GET /a HTTP/1.1\\nHost: x\\n\\nGET /b HTTP/1.1\\nHost: x\\n"
        >>> [raw.split()[1] for _, _, raw in iter_raw_requests(t)]
        ['/a', '/b']
    """
    pos = 0
    while True:
        start = _skip_blank_lines(text, pos)
        if start >= len(text):
            return
        try:
            req = _parse_head(text, start)
        except HttpParseError:
            # Not a request: emit the junk up to the next request so the caller can flag it.
            m = _NEXT_REQUEST.search(text, start)
            pos = m.end() if m else len(text)
            end = pos
            while end > start and text[end - 1] in " \t\r\n":
                end -= 1
            yield start, end, text[start:end]
            pos = max(pos, start + 1)
            continue
        if _bound_body(req, text):
            end = max(req.end, req.body_start)
            pos = end
        else:
            # No framing: the body (if any) runs until the next request; the blank lines that
            # separate requests are not part of it.
            pos = _next_request_start(text, req.body_start)
            end = pos
            while end > req.body_start and text[end - 1] in " \t\r\n":
                end -= 1
        yield start, end, text[start:end]
        pos = max(pos, start + 1)


# --------------------------------------------------------------------------------------------
# Splitting into parts
# --------------------------------------------------------------------------------------------


def _name_label(raw_name: str) -> str:
    """Readable, bounded parameter name for a part name (decoded, at most 100 chars)."""
    try:
        name = unquote_plus(raw_name)
    except Exception:  # noqa: BLE001 - decoding a label must never fail the split
        name = raw_name
    return name[:100]


def _pairs(
    text: str, base: int, prefix: str, sep: str = "&", strip: bool = False
) -> list[Part]:
    """Parts for ``k=v`` pairs of ``text`` (which starts at ``base`` in the original)."""
    parts: list[Part] = []
    pos = 0
    for piece in text.split(sep):
        pstart, pend = pos, pos + len(piece)
        pos = pend + len(sep)
        if strip:  # cookies: "a=1; b=2" has blanks after the separator
            while pstart < pend and text[pstart] in " \t":
                pstart += 1
            while pend > pstart and text[pend - 1] in " \t":
                pend -= 1
        if pstart == pend:
            continue
        piece = text[pstart:pend]
        eq = piece.find("=")
        if eq < 0:
            # A bare token ("?debug", "?<script>") is scored as is.
            parts.append(Part(prefix, piece, base + pstart, base + pend))
            continue
        raw_name = piece[:eq]
        label = _name_label(raw_name)
        if raw_name and not _PLAIN_NAME.fullmatch(label):
            parts.append(Part(f"{prefix}-name", raw_name, base + pstart, base + pstart + eq))
        vstart = pstart + eq + 1
        if vstart < pend:
            parts.append(Part(f"{prefix}:{label}", text[vstart:pend], base + vstart, base + pend))
    return parts


def _url_parts(text: str, start: int, end: int, *, fragments: bool = True) -> list[Part]:
    """Parts of the URL ``text[start:end]``: path, query parameters, fragment.

    ``fragments=False`` for request targets: a browser never sends ``#``, so one in a request
    target is literal attacker text (often a SQL comment) and belongs to the query value.
    """
    url = text[start:end]
    parts: list[Part] = []
    pos = 0
    m = _SCHEME.match(url)
    if m:
        # Skip scheme://authority; the path starts at the first / ? or # after it.
        auth_end = len(url)
        for ch in "/?#":
            i = url.find(ch, m.end())
            if i >= 0:
                auth_end = min(auth_end, i)
        pos = auth_end
    frag_at = url.find("#", pos) if fragments else -1
    url_end = frag_at if frag_at >= 0 else len(url)
    q_at = url.find("?", pos, url_end)
    path_end = q_at if q_at >= 0 else url_end
    if path_end > pos:
        parts.append(Part("path", url[pos:path_end], start + pos, start + path_end))
    if q_at >= 0:
        parts.extend(_pairs(url[q_at + 1 : url_end], start + q_at + 1, "query"))
    if frag_at >= 0 and frag_at + 1 < len(url):
        parts.append(Part("fragment", url[frag_at + 1 :], start + frag_at + 1, start + len(url)))
    return parts


def _json_parts(text: str, base: int) -> list[Part]:
    """One part per string/number leaf of the JSON document ``text``; raises ValueError if invalid.

    Python's json module gives no positions, so this walks the text itself, reusing the json
    module's own string scanner and number regex so that it accepts exactly what json accepts.
    """
    parts: list[Part] = []
    ws = " \t\r\n"

    def skip(i: int) -> int:
        while i < len(text) and text[i] in ws:
            i += 1
        return i

    def value(i: int, path: str, depth: int) -> int:
        if depth > _MAX_JSON_DEPTH:
            raise ValueError("JSON nested too deeply")
        i = skip(i)
        if i >= len(text):
            raise ValueError("unexpected end of JSON")
        ch = text[i]
        if ch == '"':
            _, end = scanstring(text, i + 1, False)
            parts.append(Part(f"body:{path}" if path else "body", text[i + 1 : end - 1],
                              base + i + 1, base + end - 1))
            return end
        if ch == "{":
            i = skip(i + 1)
            if i < len(text) and text[i] == "}":
                return i + 1
            while True:
                i = skip(i)
                if i >= len(text) or text[i] != '"':
                    raise ValueError("expected a key")
                key, kend = scanstring(text, i + 1, False)
                sub = f"{path}.{key}" if path else key
                if not _JSON_KEY.fullmatch(key):
                    # NoSQL operators ($ne) and injected keys live in the key, not the value.
                    parts.append(Part(f"body-key:{sub[:100]}", text[i + 1 : kend - 1],
                                      base + i + 1, base + kend - 1))
                i = skip(kend)
                if i >= len(text) or text[i] != ":":
                    raise ValueError("expected ':'")
                i = skip(value(i + 1, sub[:200], depth + 1))
                if i < len(text) and text[i] == ",":
                    i += 1
                    continue
                if i < len(text) and text[i] == "}":
                    return i + 1
                raise ValueError("expected ',' or '}'")
        if ch == "[":
            i = skip(i + 1)
            if i < len(text) and text[i] == "]":
                return i + 1
            k = 0
            while True:
                i = skip(value(i, f"{path}[{k}]", depth + 1))
                k += 1
                if i < len(text) and text[i] == ",":
                    i += 1
                    continue
                if i < len(text) and text[i] == "]":
                    return i + 1
                raise ValueError("expected ',' or ']'")
        m = NUMBER_RE.match(text, i)
        if m:
            parts.append(Part(f"body:{path}" if path else "body", m.group(0),
                              base + i, base + m.end()))
            return m.end()
        for lit in ("true", "false", "null"):
            if text.startswith(lit, i):
                return i + len(lit)
        raise ValueError(f"unexpected {ch!r} in JSON")

    end = skip(value(0, "", 0))
    if end != len(text):
        raise ValueError("trailing data after JSON")
    return parts


_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))""", re.I)
_DISPOSITION_PARAM = re.compile(r"""\b(name|filename)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))""", re.I)


def _multipart_parts(raw: str, start: int, end: int, boundary: str) -> list[Part]:
    """Parts for the fields of a multipart/form-data body ``raw[start:end]``; ValueError if none."""
    delim = "--" + boundary
    parts: list[Part] = []
    # Every delimiter starts a line; find them all, then take what lies between.
    marks: list[int] = []
    i = raw.find(delim, start, end)
    while i >= 0:
        if i == start or raw[i - 1] == "\n":
            marks.append(i)
        i = raw.find(delim, i + len(delim), end)
    if len(marks) < 2:
        raise ValueError("no multipart delimiters")
    for a, b in zip(marks, marks[1:]):
        _, pos = _line_end(raw, a)  # skip the delimiter line
        name: str | None = None
        fname_span: tuple[int, int] | None = None
        while pos < b:  # the part's own headers
            line_start = pos
            content_end, pos = _line_end(raw, line_start)
            line = raw[line_start:content_end]
            if not line.strip():
                break
            if line.lower().startswith("content-disposition"):
                for pm in _DISPOSITION_PARAM.finditer(line):
                    g = 2 if pm.group(2) is not None else 3
                    if pm.group(1).lower() == "name":
                        name = pm.group(g)
                    elif pm.group(g):
                        fname_span = (line_start + pm.start(g), line_start + pm.end(g))
        # The data ends before the line break that precedes the next delimiter.
        dend = b
        if dend > pos and raw[dend - 1] == "\n":
            dend -= 1
            if dend > pos and raw[dend - 1] == "\r":
                dend -= 1
        label = (name or "")[:100]
        if fname_span is not None:
            parts.append(Part(f"filename:{label}", raw[fname_span[0] : fname_span[1]], *fname_span))
        if dend > pos:
            parts.append(Part(f"body:{label}" if name else "body", raw[pos:dend], pos, dend))
    return parts


def _body_parts(raw: str, req: ParsedRequest) -> list[Part]:
    """Parts of the request body, chosen by Content-Type (sniffed when absent)."""
    if req.chunks:
        # Score each chunk's data on its own; chunk framing is not attacker text worth scoring,
        # and joining chunks would break the offsets.
        if len(req.chunks) == 1:
            s, e = req.chunks[0]
            return _typed_body_parts(raw, s, e, req) if e > s else []
        return [Part("body", raw[s:e], s, e) for s, e in req.chunks if e > s]
    if req.body_end <= req.body_start:
        return []
    return _typed_body_parts(raw, req.body_start, req.body_end, req)


def _typed_body_parts(raw: str, start: int, end: int, req: ParsedRequest) -> list[Part]:
    body = raw[start:end]
    ctype = (req.header("content-type") or "").lower()
    whole = [Part("body", body, start, end)]
    if not body.strip():
        return []
    if "multipart/" in ctype:
        m = _BOUNDARY.search(req.header("content-type") or "")
        if m:
            try:
                return _multipart_parts(raw, start, end, m.group(1) or m.group(2))
            except ValueError:
                return whole
        return whole
    stripped = body.lstrip()
    if "json" in ctype or (not ctype and stripped[:1] in ("{", "[")):
        try:
            return _json_parts(body, start)
        except ValueError:
            return whole
    if "x-www-form-urlencoded" in ctype or (
        not ctype and "=" in body and not any(c in body for c in " \t\r\n")
    ):
        return _pairs(body, start, "body")
    if "text/plain" in ctype and _looks_like_query(stripped.rstrip()):
        # form data sent as text/plain (analytics beacons, some clients): its values, not one blob
        return _pairs(body, start, "body")
    if "xml" in ctype or (not ctype and stripped.startswith("<?xml")):
        return _xml_parts(body, start) or whole
    return whole


_XML_NAME = re.compile(r"[A-Za-z_][\w.:\-]*")
_XML_ATTR = re.compile(r"""([A-Za-z_][\w.:\-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XML_STOP = re.compile(r"""[>"']""")
# Element or attribute names that make markup active in a browser: an XML body carrying them is
# also judged whole (XML values alone would hide a <script> element posted as "XML").
_HTML_ACTIVE = re.compile(r"<\s*/?\s*(?:script|iframe|object|embed|svg|applet|meta|link|style|base|frame"
                          r"|frameset|form|math)\b|\son[a-z]+\s*=|javascript:", re.I)


def _xml_parts(body: str, start: int) -> list[Part]:
    """Parts of an XML body as an XML-aware WAF inspects it: text nodes, CDATA, attribute values
    and DOCTYPE/ENTITY declarations, each with its own offsets. No parser (so no entity is ever
    expanded) and one left-to-right scan: linear time on hostile input. A body with no markup gives
    ``[]`` (the caller then judges it whole); an unterminated construct after some markup (a
    truncated capture) ends the scan with the rest as one ``body:rest`` part. Markup with
    browser-active elements or event attributes is also kept whole (``body:markup``).

        >>> [(p.name, p.text) for p in _xml_parts('<a x="1"><b>hi &lt;</b></a>', 0)]
        [('body-attr:a.x', '1'), ('body:b', 'hi &lt;')]
    """
    parts: list[Part] = []
    stack: list[str] = []
    n = len(body)

    def label() -> str:
        return f"body:{stack[-1][:100]}" if stack else "body"

    def add(name: str, a: int, b: int) -> None:
        seg = body[a:b]
        if seg.strip():
            lead = len(seg) - len(seg.lstrip())
            parts.append(Part(name, seg.strip(), start + a + lead, start + a + lead + len(seg.strip())))

    def rest(a: int) -> list[Part]:
        """An unterminated construct (a truncated capture, or a trick): what came before as
        parsed, the rest as one part, or ``[]`` when nothing was parsed."""
        if not tags:
            return []
        parts.append(Part("body:rest", body[a:], start + a, start + n))
        return parts

    i, tags, text_from = 0, 0, 0
    while i < n:
        lt = body.find("<", i)
        if lt < 0:
            break
        closing = body.startswith("</", lt)
        m = None
        if not body.startswith("<!", lt) and not body.startswith("<?", lt):
            m = _XML_NAME.match(body, lt + (2 if closing else 1))
            if m is None:                               # a lone "<" inside text: part of it
                i = lt + 1
                continue
        add(label(), text_from, lt)
        if body.startswith("<!--", lt):
            end = body.find("-->", lt + 4)
            if end < 0:
                return rest(lt)
            i = end + 3
        elif body.startswith("<![CDATA[", lt):
            end = body.find("]]>", lt + 9)
            if end < 0:
                return rest(lt)
            add(label(), lt + 9, end)
            i = end + 3
        elif body.startswith("<?", lt):
            end = body.find("?>", lt + 2)
            if end < 0:
                return rest(lt)
            i = end + 2
        elif body.startswith("<!", lt):               # DOCTYPE / ENTITY / ELEMENT...: where XXE lives
            gt = body.find(">", lt)
            br = body.find("[", lt, gt if gt >= 0 else n)
            if br >= 0:                                 # internal subset: up to "]" then ">"
                close = body.find("]", br)
                gt = body.find(">", close) if close >= 0 else -1
            if gt < 0:
                return rest(lt)
            parts.append(Part("body:doctype", body[lt:gt + 1], start + lt, start + gt + 1))
            i = gt + 1
        else:
            assert m is not None
            j = m.end()
            while True:                                 # to the tag's ">", skipping quoted values
                k = _XML_STOP.search(body, j)
                if k is None:
                    return rest(lt)
                if k.group() == ">":
                    break
                q = body.find(k.group(), k.end())
                if q < 0:
                    return rest(lt)
                j = q + 1
            gt = k.start()
            tag, tags = m.group(), tags + 1
            if closing:
                if tag in stack:
                    while stack and stack.pop() != tag:
                        pass
            else:
                attrs = body[m.end():gt]
                for am in _XML_ATTR.finditer(attrs):
                    g = 2 if am.group(2) is not None else 3
                    if am.group(g):
                        a = m.end() + am.start(g)
                        parts.append(Part(f"body-attr:{tag[:60]}.{am.group(1)[:40]}", am.group(g),
                                          start + a, start + a + len(am.group(g))))
                if not attrs.rstrip().endswith("/") and len(stack) < 64:     # deeper: labels stop there
                    stack.append(tag)
            i = gt + 1
        text_from = i
    add(label(), text_from, n)
    if not tags:
        return []
    if _HTML_ACTIVE.search(body):
        parts.append(Part("body:markup", body, start, start + n))
    return parts


def _request_parts(text: str, req: ParsedRequest) -> list[Part]:
    parts: list[Part] = []
    if req.target != "*":
        parts.extend(_url_parts(text, req.target_start, req.target_end, fragments=False))
    for name, value, vstart, vend in req.headers:
        lname = name.lower()
        if lname == "cookie":
            parts.extend(_pairs(value, vstart, "cookie", sep=";", strip=True))
        elif value and (lname in _ALWAYS_SCORED_HEADERS or lname not in _STANDARD_HEADERS):
            parts.append(Part(f"header:{lname}", value, vstart, vend))
    parts.extend(_body_parts(text, req))
    # Anything after a framed body would reach the server as a further request: score it.
    rest_start = _skip_blank_lines(text, req.end)
    if rest_start < len(text):
        rest_end = len(text.rstrip())
        if rest_end > rest_start:
            parts.append(Part("trailing", text[rest_start:rest_end], rest_start, rest_end))
    return parts


def _looks_like_url(text: str) -> bool:
    if text.startswith("/") or _SCHEME.match(text):
        return True
    q = text.find("?")
    # "?k=v" after a blank-free prefix: "index.php?id=1" but not "1 or a=1?x=y"
    return q >= 0 and "=" in text[q:] and not any(c.isspace() for c in text[:q])


def _looks_like_query(text: str) -> bool:
    """A bare query string ``k=v&k2=v2`` (no ``?``): every name plain, at least one ``=``.

    Scoring its values one by one (as for a URL) instead of the whole string as one payload:
    ``q=shoes&page=2`` is normal form data, not an injection."""
    if "=" not in text or "\n" in text:
        return False
    for seg in text.split("&"):
        name = seg.split("=", 1)[0]
        if not _PLAIN_NAME.fullmatch(name):
            return False
    return True


WEB_KINDS = ("auto", "payload", "url", "query", "http")


def split_web_input(text: str, kind: str = "auto", *, with_target: bool = False) -> tuple[str, list[Part]]:
    """Classify ``text`` as ``"http"``, ``"url"``, ``"query"`` (bare ``k=v&k=v``) or ``"payload"``
    and split it into parts to score.

    ``kind`` other than ``"auto"`` is the caller's statement of what the input is (a WAF knows
    whether it holds a parameter value or a request line): ``"payload"`` keeps the whole input as
    one value even when it starts with ``/`` (``/etc/passwd`` is a path-traversal *value*);
    ``"url"``/``"query"`` skip the guessing; input that does not parse as the stated kind (and
    ``"http"``, which is recognised by its request line anyway) is judged as ``auto`` would.

        >>> split_web_input("/etc/passwd")[0], split_web_input("/etc/passwd", "payload")[0]
        ('url', 'payload')

    Never raises: a malformed request, or anything that is not a URL, is a ``payload`` with one
    ``value`` part covering the whole input. ``with_target``: the whole URL comes first as one
    more part — ``url`` for a URL, ``target`` (the request target, parsed once for both) for a raw
    request: the model was trained on whole path+query lines too, and some attacks only show
    across parameters.

        >>> split_web_input("' OR 1=1 --")
        ('payload', [Part(name='value', text="' OR 1=1 --", start=0, end=11)])
        >>> kind, parts = split_web_input("GET /p?id=1 HTTP/1.1\\r\\nUser-Agent: x\\r\\n\\r\\n")
        >>> kind, [(p.name, p.text) for p in parts]
        ('http', [('path', '/p'), ('query:id', '1'), ('header:user-agent', 'x')])
    """
    if kind not in WEB_KINDS:
        raise ValueError(f"kind must be one of {WEB_KINDS}, not {kind!r}")
    if kind == "payload":
        return "payload", [Part("value", text, 0, len(text))]
    try:
        lead = len(text) - len(text.lstrip())
        body = text.strip()
        whole_url = [Part("url", body, lead, lead + len(body))] if with_target else []
        if kind == "url" and body:
            parts = _url_parts(text, lead, lead + len(body))
            if parts:
                return "url", whole_url + parts
        elif kind == "query" and body:
            parts = _pairs(body, lead, "query")
            if parts:
                return "query", parts
        if _REQUEST_LINE.match(text, _skip_blank_lines(text, 0)):
            try:
                req = parse_http_request(text)
            except HttpParseError:
                return "payload", [Part("value", text, 0, len(text))]
            parts = _request_parts(text, req)
            if with_target and req.target != "*":
                parts.insert(0, Part("target", text[req.target_start:req.target_end], req.target_start,
                                     req.target_end))
            return "http", parts
        if body and "\n" not in body and _looks_like_url(body):
            parts = _url_parts(text, lead, lead + len(body))
            return "url", whole_url + (parts or [Part("value", body, lead, lead + len(body))])
        if body and _looks_like_query(body):
            parts = _pairs(body, lead, "query")
            if parts:
                return "query", parts
    except Exception:  # noqa: BLE001 - the contract: never raise on any input
        pass
    return "payload", [Part("value", text, 0, len(text))]
