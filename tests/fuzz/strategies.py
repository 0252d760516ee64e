"""Hypothesis strategies for hostile input: raw HTTP requests (request line, headers, cookies,
urlencoded / JSON / multipart / XML / chunked bodies), access-log and log lines, JSON lines, packet
captures built with scapy, and mutations of all of them.

Structured generation reaches deep into each parser (a request whose Content-Length is off by
one, a multipart part without its closing boundary); the mutators then break what was valid
(flipped bytes, cut records, doubled separators) the way a coverage-guided fuzzer would.
"""

from __future__ import annotations

import io
import json
import string
from functools import lru_cache

from hypothesis import strategies as st

from tests.fuzz.budget import MAX_INPUT_BYTES

# Characters and tokens that parsers treat specially: separators, encodings, line breaks, quotes,
# lone surrogates, NFKC-expanding characters, bidi and control characters.
SPECIAL_TOKENS = [
    "\r\n", "\n", "\r", "\r\n\r\n", "\n\n", "\t", " ", "\x00", "\x1b[31m", "\x7f", "\u202e", "\ufeff",
    "%", "%2", "%25", "%27", "%u0027", "%C0%AE", "%00", "%%", "+", "&", "&amp;", "&#39", "&#x3c;", "&#99999999;",
    "\\x3c", "\\u0027", "\\", "=", ";", ",", ":", "?", "#", "/", "../", "..\\", "*",
    "'", '"', "`", "<", ">", "</", "<![CDATA[", "]]>", "<!--", "-->", "<?xml", "?>", "<!DOCTYPE x [", "]>",
    "{", "}", "[", "]", '{"a":', "null", "1e999", "-0", "9" * 40,
    "--", "boundary=", "Content-Length: ", "Transfer-Encoding: chunked", "Content-Type: ",
    "\ud800", "\udfff", "\ufdfa", "\u0390", "ﬃ", "Ａ", "\u2028", "é", "\U0001f600",
    "HTTP/1.1", "GET ", "POST ", " HTTP/1.0\r\n",
]

_TEXT_ALPHABET = st.characters(codec=None, exclude_categories=())   # every code point, surrogates included


def hostile_text(max_size: int = 200) -> st.SearchStrategy[str]:
    """Text mixing random code points with the special tokens above."""
    piece = st.one_of(st.text(_TEXT_ALPHABET, max_size=12), st.sampled_from(SPECIAL_TOKENS),
                      st.text(string.ascii_letters + string.digits, min_size=1, max_size=10))
    return st.lists(piece, max_size=max(1, max_size // 6)).map("".join)


def repeated(units: list[str], max_bytes: int = MAX_INPUT_BYTES) -> st.SearchStrategy[str]:
    """A unit repeated up to ``max_bytes`` characters: what exposes super-linear parsing."""
    return st.builds(lambda u, n: (u * n)[:max_bytes], st.sampled_from(units), st.integers(1, max_bytes))


# ------------------------------------------------------------------------------------------------
# Mutations
# ------------------------------------------------------------------------------------------------

@st.composite
def mutate_text(draw, base: st.SearchStrategy[str], max_ops: int = 6) -> str:
    """``base`` with a few edits: insertions of special tokens, deletions, duplications, cuts."""
    s = draw(base)
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.sampled_from(["insert", "delete", "dup", "cut", "replace", "case"]))
        i = draw(st.integers(0, len(s)))
        if op == "insert" or not s:
            s = s[:i] + draw(st.one_of(st.sampled_from(SPECIAL_TOKENS), st.text(_TEXT_ALPHABET, max_size=4))) + s[i:]
        elif op == "delete":
            s = s[:i] + s[i + draw(st.integers(1, 16)):]
        elif op == "dup":
            j = min(len(s), i + draw(st.integers(1, 64)))
            s = s[:j] + s[i:j] * draw(st.integers(1, 8)) + s[j:]
        elif op == "cut":
            s = s[:i]
        elif op == "replace":
            s = s[:i] + draw(st.sampled_from(SPECIAL_TOKENS)) + s[i + 1:]
        else:
            s = s.swapcase() if draw(st.booleans()) else s.upper()
    return s[:MAX_INPUT_BYTES]


@st.composite
def mutate_bytes(draw, base: st.SearchStrategy[bytes], max_ops: int = 8) -> bytes:
    """``base`` with byte-level damage: bit flips, overwritten bytes (0x00, 0xff, 0x7f...), inserted
    and deleted runs, duplicated records, truncation."""
    b = bytearray(draw(base))
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "dup", "truncate", "u32"]))
        if not b:
            b += draw(st.binary(max_size=16))
            continue
        i = draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            b[i] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x0A, 0x0D, 0x20]))
        elif op == "insert":
            b[i:i] = draw(st.binary(max_size=32))
        elif op == "delete":
            del b[i:i + draw(st.integers(1, 64))]
        elif op == "dup":
            j = min(len(b), i + draw(st.integers(1, 256)))
            b[j:j] = b[i:j] * draw(st.integers(1, 4))
        elif op == "truncate":
            del b[i:]
        else:   # a length / count field turned into an extreme value
            b[i:i + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\x00\x00",
                                               b"\x00\x00\x01\x00", b"\x7f\xff\xff\xff"]))
    return bytes(b[:MAX_INPUT_BYTES])


# ------------------------------------------------------------------------------------------------
# Raw HTTP requests
# ------------------------------------------------------------------------------------------------

_TOKEN = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=12)
_VALUE = st.one_of(_TOKEN, hostile_text(40), st.sampled_from(["1' or '1'='1", "<script>alert(1)</script>",
                                                             "../../etc/passwd", "; cat /etc/passwd", "a@b.io"]))
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get", "PROPFIND"]


def _urlencode(pairs) -> str:
    return "&".join(k if v is None else f"{k}={v}" for k, v in pairs)


_PAIRS = st.lists(st.tuples(_TOKEN | hostile_text(10), st.none() | _VALUE), max_size=8)
_QUERY = _PAIRS.map(_urlencode)
_PATH = st.lists(_TOKEN | hostile_text(8), max_size=5).map(lambda segs: "/" + "/".join(segs))
TARGETS = st.one_of(
    st.builds(lambda p, q, frag: p + ("?" + q if q else "") + frag, _PATH, _QUERY, st.sampled_from(["", "#x", "#"])),
    st.builds(lambda p, q: f"http://shop.example:8080{p}?{q}", _PATH, _QUERY),
    st.sampled_from(["*", "/", "//", "/%", "/?", "/?&&", "/?=", "/?a=b=c"]),
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(_TEXT_ALPHABET, max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(_TEXT_ALPHABET, max_size=8),
                                                                     children, max_size=4),
    max_leaves=20,
)


def _xml_render(node) -> str:
    if isinstance(node, str):
        return node
    name, attrs, children = node
    a = "".join(f' {k}="{v}"' for k, v in attrs)
    return f"<{name}{a}>" + "".join(_xml_render(c) for c in children) + f"</{name}>"


_XML_NAME = st.sampled_from(["a", "b", "user", "x:y", "script", "svg", "item", "_n", "ns:e"]) | _TOKEN
_XML_TEXT = st.one_of(hostile_text(20), st.sampled_from(["&lt;", "&amp;", "&#60;", "<![CDATA[<b>]]>", "<!-- c -->",
                                                          "<?pi x?>", "&xxe;"]))
XML_BODIES = st.builds(
    lambda decl, node: decl + _xml_render(node),
    st.sampled_from(["", '<?xml version="1.0"?>', '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>']),
    st.recursive(_XML_TEXT, lambda ch: st.tuples(_XML_NAME, st.lists(st.tuples(_XML_NAME, hostile_text(8)),
                                                                      max_size=3), st.lists(ch, max_size=4)),
                 max_leaves=15),
)


@st.composite
def multipart_bodies(draw) -> tuple[str, str]:
    """``(content type, body)`` of a multipart/form-data body, sometimes without its closing line."""
    boundary = draw(st.sampled_from(["XyZ", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "a b", "x"]) | _TOKEN)
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(_TOKEN | hostile_text(8))
        disp = f'form-data; name="{name}"'
        if draw(st.booleans()):
            disp += f'; filename="{draw(_TOKEN | hostile_text(12))}"'
        headers = [f"Content-Disposition: {disp}"]
        if draw(st.booleans()):
            headers.append("Content-Type: " + draw(st.sampled_from(["text/plain", "application/json",
                                                                   "application/octet-stream", "text/xml"])))
        parts.append("\r\n".join(headers) + "\r\n\r\n" + draw(_VALUE))
    body = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts)
    if draw(st.booleans()):
        body += f"--{boundary}--\r\n"
    quoted = draw(st.booleans())
    return f'multipart/form-data; boundary={chr(34) + boundary + chr(34) if quoted else boundary}', body


def _chunked(body: str, sizes: list[int], bad: bool) -> str:
    out, i = [], 0
    for n in sizes:
        piece = body[i:i + n]
        i += n
        out.append(f"{len(piece) + (3 if bad else 0):x}\r\n{piece}\r\n")
        if i >= len(body):
            break
    return "".join(out) + ("0\r\n\r\n" if not bad else "zz\r\n")


@st.composite
def http_requests(draw) -> str:
    """One raw HTTP/1.x request: a valid skeleton with hostile values and framing mistakes."""
    eol = draw(st.sampled_from(["\r\n", "\n", "\r\n"]))
    method = draw(st.sampled_from(METHODS))
    target = draw(TARGETS)
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "http/1.1", "HTTP/9"]))
    kind = draw(st.sampled_from(["none", "form", "json", "multipart", "xml", "text", "chunked"]))
    ctype, body = None, ""
    if kind == "form":
        ctype, body = "application/x-www-form-urlencoded", draw(_QUERY)
    elif kind == "json":
        v = draw(JSON_VALUES)
        body = json.dumps(v, ensure_ascii=draw(st.booleans()), allow_nan=True)
        if draw(st.booleans()):
            body = body[:draw(st.integers(0, len(body)))]
        ctype = draw(st.sampled_from(["application/json", "application/vnd.api+json", "text/json"]))
    elif kind == "multipart":
        ctype, body = draw(multipart_bodies())
    elif kind == "xml":
        ctype, body = draw(st.sampled_from(["application/xml", "text/xml", "application/soap+xml"])), draw(XML_BODIES)
    elif kind in ("text", "chunked"):
        ctype, body = draw(st.sampled_from(["text/plain", "", "application/octet-stream"])), draw(hostile_text(120))
    headers = [("Host", draw(st.sampled_from(["shop.example", "", "a:b", "x" * 300])))]
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(["User-Agent", "Referer", "X-Forwarded-For", "Accept", "X-Api-Key",
                                     "Authorization", "X-Custom", "Origin", "Accept-Language"]) | _TOKEN)
        headers.append((name, draw(_VALUE)))
    if draw(st.booleans()):
        headers.append(("Cookie", "; ".join(f"{k}={v}" if v is not None else k for k, v in draw(_PAIRS))))
    if ctype is not None:
        headers.append(("Content-Type", ctype))
    if kind == "chunked":
        headers.append(("Transfer-Encoding", draw(st.sampled_from(["chunked", "Chunked", "gzip, chunked"]))))
        body = _chunked(body, draw(st.lists(st.integers(1, 40), min_size=1, max_size=6)), draw(st.booleans()))
    elif body or draw(st.booleans()):
        n = len(body.encode("utf-8", "surrogatepass"))
        cl = draw(st.sampled_from([str(n), str(n), str(n + 1), str(max(0, n - 1)), "-1", "abc", "99999999999999", ""]))
        headers.append(("Content-Length", cl))
    if draw(st.booleans()) and len(headers) > 1:
        i = draw(st.integers(1, len(headers) - 1))
        name, value = headers[i]
        headers[i] = (name, value + eol + " folded")              # obsolete line folding
    head = f"{method} {target} {version}" + eol + "".join(f"{n}: {v}{eol}" for n, v in headers)
    return (head + eol + body)[:MAX_INPUT_BYTES]


REQUESTS = st.one_of(http_requests(), mutate_text(http_requests()))
REQUEST_FILES = st.lists(REQUESTS, min_size=1, max_size=4).map(lambda rs: "\r\n\r\n".join(rs))


# ------------------------------------------------------------------------------------------------
# Lines: access logs, log files, JSON lines
# ------------------------------------------------------------------------------------------------

@st.composite
def access_log_lines(draw) -> str:
    ip = draw(st.sampled_from(["203.0.113.9", "::1", "-", "2001:db8::1", "999.1.1.1"]) | _TOKEN)
    when = draw(st.sampled_from(["10/Oct/2023:13:55:36 +0000", "32/Foo/2023:99:99:99 +9999", "", "]"]))
    req = draw(st.builds(lambda m, t, v: f"{m} {t} {v}", st.sampled_from(METHODS), TARGETS,
                         st.sampled_from(["HTTP/1.1", "HTTP/1.0", ""]))
               | hostile_text(30) | st.just("\\x16\\x03\\x01"))
    req = req.replace('"', draw(st.sampled_from(['\\"', '\\x22', '"'])))
    status = draw(st.sampled_from(["200", "404", "-", "999", "abc"]))
    size = draw(st.sampled_from(["512", "-", "0", "99999999999999999999"]))
    line = f'{ip} - - [{when}] "{req}" {status} {size}'
    if draw(st.booleans()):
        line += f' "{draw(hostile_text(20))}" "{draw(_VALUE)}"'
    return line


ACCESS_LOG_LINES = st.one_of(access_log_lines(), mutate_text(access_log_lines()),
                             repeated(['"', "\\", '\\"', "[", " - ", "a b "], 8192))

LOG_LINES = st.one_of(
    st.builds(lambda n, lvl, rest: f"081109 2036{n:02d} 148 {lvl} dfs.DataNode: {rest}", st.integers(0, 99),
              st.sampled_from(["INFO", "WARN", "ERROR", ""]), hostile_text(60)),
    mutate_text(st.just("Receiving block blk_-1608 src: /10.250.19.102:54106 dest: /10.250.19.102:50010")),
    hostile_text(120),
)

JSONL_LINES = st.one_of(
    st.builds(lambda i, t: json.dumps({"id": i, "text": t}),
              st.none() | st.integers() | st.text(_TEXT_ALPHABET, max_size=10) | JSON_VALUES,
              st.text(_TEXT_ALPHABET, max_size=40) | JSON_VALUES),
    JSON_VALUES.map(json.dumps),
    mutate_text(st.just('{"id": "a", "text": "x", "label": 1}')),
    repeated(["[", "{\"a\":", "[1,", "\"\\ud800", "9"], 8192),
    hostile_text(60),
)


# ------------------------------------------------------------------------------------------------
# Packet captures
# ------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def pcap_seeds() -> tuple[bytes, ...]:
    """A few small, valid captures written by scapy: an HTTP exchange over TCP (handshake, request
    in two segments, retransmission), UDP/DNS, IPv6, a VLAN tag, ARP, an ICMP error quoting a
    packet, an IP fragment; as pcap, pcap with nanoseconds, and pcapng."""
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    from scapy.utils import PcapNgWriter, PcapWriter

    req = b"GET /a?id=1%27%20or%201=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: x\r\n\r\n"
    c, s = ("10.0.0.1", 40000), ("10.0.0.2", 80)
    e = Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
    tcp = [
        e / IP(src=c[0], dst=s[0]) / TCP(sport=c[1], dport=s[1], flags="S", seq=1000),
        e / IP(src=s[0], dst=c[0]) / TCP(sport=s[1], dport=c[1], flags="SA", seq=5000, ack=1001),
        e / IP(src=c[0], dst=s[0]) / TCP(sport=c[1], dport=s[1], flags="PA", seq=1001, ack=5001) / req[:20],
        e / IP(src=c[0], dst=s[0]) / TCP(sport=c[1], dport=s[1], flags="PA", seq=1021, ack=5001) / req[20:],
        e / IP(src=c[0], dst=s[0]) / TCP(sport=c[1], dport=s[1], flags="PA", seq=1021, ack=5001) / req[20:],
        e / IP(src=s[0], dst=c[0]) / TCP(sport=s[1], dport=c[1], flags="PA", seq=5001) / b"HTTP/1.1 200 OK\r\n\r\n",
    ]
    other = [
        e / IP(src="10.0.0.3", dst="8.8.8.8") / UDP(sport=5353, dport=53) / DNS(qd=DNSQR(qname="example.com")),
        e / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=443, flags="S"),
        e / Dot1Q(vlan=7) / IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=1, dport=2) / b"vlan",
        e / ARP(psrc="10.0.0.1", pdst="10.0.0.2"),
        e / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(),
        e / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=0) / UDP(sport=9, dport=9) / (b"f" * 64),
    ]
    import tempfile
    from pathlib import Path

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, pkts in enumerate((tcp, tcp + other)):
            for nano in (False, True):
                buf = io.BytesIO()
                w = PcapWriter(buf, nano=nano, sync=True)
                w.write(pkts)
                w.flush()
                out.append(buf.getvalue())
            p = Path(tmp) / f"{k}.pcapng"
            w = PcapNgWriter(str(p))
            w.write(pkts)
            w.close()
            out.append(p.read_bytes())
    return tuple(out)


PCAPS = st.one_of(st.sampled_from(range(6)).map(lambda i: pcap_seeds()[i]),
                  mutate_bytes(st.sampled_from(range(6)).map(lambda i: pcap_seeds()[i])),
                  st.binary(max_size=256))


# ------------------------------------------------------------------------------------------------
# Windows events (EVTX rendered as XML, as the evtx task reads them)
# ------------------------------------------------------------------------------------------------

EVTX_SEED = ('<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="'
             'Microsoft-Windows-Sysmon" Guid="{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"/><EventID>1</EventID>'
             '<TimeCreated SystemTime="2019-04-27T15:57:25.868Z"/><EventRecordID>6575</EventRecordID>'
             '<Computer>IEWIN7</Computer></System><EventData><Data Name="Image">C:\\Windows\\a.exe</Data>'
             '<Data Name="ProcessId">3220</Data><Data Name="CommandLine">cmd /c whoami</Data></EventData></Event>')
EVTX_XML = st.one_of(mutate_text(st.just(EVTX_SEED), max_ops=10), XML_BODIES,
                     repeated(["<Data Name=\"ProcessId\">", "<TimeCreated ", "<Computer>", "{", "2019-04-27 "], 16384))
