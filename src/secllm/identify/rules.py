"""Structural checks: formats that a fixed grammar identifies without a model.

Each check is cheap (anchored regexes, a bounded ``json.loads``) and precise: it fires only when
the input has the format's fixed skeleton (a capture's magic number, an HTTP request line followed
by headers, an access-log line's ``host ident user [time] "request" status size``, a Windows event
envelope). What no check claims goes to the learned model.

    >>> structural('10.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"')
    RuleHit(kind='access-log', family='combined', rule='clf')
    >>> structural("GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n").kind
    'http-request'
    >>> structural("hello world") is None
    True
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

__all__ = ["RuleHit", "RULE_CONFIDENCE", "control_fraction", "sniff_magic", "structural"]

# A rule hit is reported with this confidence: the checks are exact grammars, and their precision
# on the validation split is measured and published in the benchmark report.
RULE_CONFIDENCE = 0.99


class RuleHit(NamedTuple):
    kind: str
    family: str | None
    rule: str


# ------------------------------------------------------------------------------------------------
# Bytes: magic numbers and control characters
# ------------------------------------------------------------------------------------------------

_MAGICS: tuple[tuple[bytes, str, str | None], ...] = (
    (b"\xd4\xc3\xb2\xa1", "pcap", None),          # pcap, little-endian, microseconds
    (b"\xa1\xb2\xc3\xd4", "pcap", None),          # pcap, big-endian
    (b"\x4d\x3c\xb2\xa1", "pcap", None),          # pcap, little-endian, nanoseconds
    (b"\xa1\xb2\x3c\x4d", "pcap", None),
    (b"\x0a\x0d\x0d\x0a", "pcap", None),          # pcapng section header block
    (b"\x1f\x8b", "binary", "gzip"),
    (b"PK\x03\x04", "binary", "zip"),
    (b"\x7fELF", "binary", "elf"),
    (b"\x28\xb5\x2f\xfd", "binary", "zstd"),
    (b"\xfd7zXZ\x00", "binary", "xz"),
    (b"BZh", None, "bzip2"),                       # only with control bytes after it (see below)
)


def sniff_magic(head: bytes) -> RuleHit | None:
    """Kind from a file's first bytes (captures and common binary containers), else None.

        >>> sniff_magic(b"\\xd4\\xc3\\xb2\\xa1\\x02\\x00").kind
        'pcap'
    """
    for magic, kind, family in _MAGICS:
        if head.startswith(magic):
            if kind is None:  # a weak magic ("BZh" can start a word): demand binary bytes too
                if len(head) > 10 and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
                    return RuleHit("binary", family, "magic")
                continue
            return RuleHit(kind, family, "magic")
    return None


# Controls other than tab, LF, VT, FF, CR; C1 controls (0x80-0x9f) appear when bytes that are not
# UTF-8 were read as latin-1; U+FFFD and lone surrogates are what other decoders leave.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")


def control_fraction(text: str) -> float:
    """Share of characters in ``text`` that no text format contains (NUL, ESC, C1 controls ...).

        >>> control_fraction("ab\\x00\\x01")
        0.5
    """
    return len(_CONTROL.findall(text)) / len(text) if text else 0.0


# ------------------------------------------------------------------------------------------------
# Text grammars
# ------------------------------------------------------------------------------------------------

_HTTP_METHOD_LINE = re.compile(r"[ \t\r\n]*[A-Za-z][A-Za-z_-]{2,15}[ \t]+[^ \t\r\n]+[ \t]+[Hh][Tt][Tt][Pp]/\d(?:\.\d)?[ \t]*(?:\r?\n|\Z)")
_HEADER_LINE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}:")

# host ident user [time] "request" status size, with an optional virtual host before it.
_CLF = re.compile(
    r"(?P<vhost>\S+ )?\S+ \S+ (?:\S+|\"[^\"]*\") \[(?P<time>\d{1,2}/\w{3}/\d{4}[:T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?: ?[+-]\d{4})?)\] "
    r"\"(?:[^\"\\]|\\.)*\" (?:\d{3}|-) (?:\d+|-)(?P<rest>.*)\Z",
    re.S,
)
_CLF_COMBINED_TAIL = re.compile(r" \"(?:[^\"\\]|\\.)*\" \"(?:[^\"\\]|\\.)*\"")
_HTTP_VERBS = r"(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT|PROPFIND|PROPPATCH|MKCOL|COPY|MOVE|LOCK|UNLOCK|SEARCH|DEBUG)"
# IIS / W3C extended: "date time ... METHOD /stem query ... status substatus win32-status time".
_W3C = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (?:\S+ )*?" + _HTTP_VERBS + r" /\S* \S+ .*?\b[1-5]\d\d \d+ \d+(?: \d+)*\s*\Z", re.S)
_W3C_DIRECTIVE = re.compile(r"#(?:Software: Microsoft Internet Information Services|Fields: date time |Version: 1\.0\s*\Z|Date: \d{4}-)")

_NGINX_ERROR = re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[(?:debug|info|notice|warn|error|crit|alert|emerg)\] \d+#\d+: ")
# Apache 1.3-2.2 "[Sun Dec 04 04:47:44 2005] [error] ..." and 2.4 "[... 2005] [core:error] [pid 1] ...".
_APACHE_ERROR = re.compile(
    r"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d "
    r"\d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4}\] \[(?:[\w-]+:)?(?:emerg|alert|crit|error|warn|notice|info|debug|trace\d)\] "
)

_URL_WITH_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s/?#]*[^\s]*\Z")
_EVENT_SEQUENCE = re.compile(r"\s*[Ee]?\d{1,4}(?:(?:\s*,\s*|\s+)[Ee]?\d{1,4}){4,}\s*,?\s*\Z")

_SHEBANG = re.compile(r"#![ \t]*(?:/usr)?(?:/local)?/bin/(?:env[ \t]+(?:-\S+[ \t]+)*)?([A-Za-z][\w.+-]*)")
_SHEBANG_KINDS = {
    "sh": "script-shell", "bash": "script-shell", "dash": "script-shell", "zsh": "script-shell",
    "ksh": "script-shell", "ash": "script-shell", "busybox": "script-shell",
    "python": "script-python", "pypy": "script-python",
    "node": "script-javascript", "nodejs": "script-javascript", "deno": "script-javascript",
    "php": "script-php", "pwsh": "script-powershell", "powershell": "script-powershell",
}
_PHP_OPEN = re.compile(r"\s*<\?(?:php\b|=)", re.I)
_WIN_EVENT_XML = re.compile(r"\s*<Event[ >](?:[^<]{0,200}schemas\.microsoft\.com/win/2004/08/events/event|\s*<System>)")

_JSON_MAX = 16 * 1024
_EVENT_ID_KEYS = {"eventid", "event_id", "eventrecordid"}
_EVENT_SOURCE_KEYS = {"channel", "logname", "providername", "provider_name", "provider", "winlog"}
_REQUEST_KEYS = {"request", "request_uri", "requesturi", "uri", "url", "path", "request_line", "cs-uri-stem",
                 "request_url", "requestpath"}
_STATUS_KEYS = {"status", "status_code", "statuscode", "response", "response_code", "sc-status", "http_status"}
_CLIENT_KEYS = {"remote_addr", "remote_ip", "remoteip", "client", "client_ip", "clientip", "c-ip", "ip",
                "remote_host", "x_forwarded_for", "http_x_forwarded_for", "src_ip", "host", "client_addr"}
_MESSAGE_KEYS = {"msg", "message", "log", "event"}
_LOGISH_KEYS = {"level", "severity", "time", "ts", "timestamp", "@timestamp", "logger", "loglevel", "lvl"}


def _json_keys(obj: Any, depth: int = 0, out: set[str] | None = None) -> set[str]:
    """Lower-cased keys of a JSON object and of its nested objects (three levels)."""
    out = set() if out is None else out
    if isinstance(obj, dict) and depth < 3:
        for k, v in obj.items():
            out.add(str(k).lower())
            _json_keys(v, depth + 1, out)
    return out


def _json_rule(text: str) -> RuleHit | None:
    s = text.strip()
    if len(s) > _JSON_MAX or not s.endswith("}"):
        return None
    try:
        obj = json.loads(s)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    keys = _json_keys(obj)
    if keys & _EVENT_ID_KEYS and keys & _EVENT_SOURCE_KEYS or "winlog" in keys:
        return RuleHit("windows-event", None, "json-event")
    if keys & _REQUEST_KEYS and keys & _STATUS_KEYS and (keys & _CLIENT_KEYS or "method" in keys):
        return RuleHit("access-log", "json", "json-access")
    if keys & _MESSAGE_KEYS and keys & _LOGISH_KEYS:
        return RuleHit("log-line", "other", "json-log")
    return None


def structural(text: str) -> RuleHit | None:
    """The kind a fixed grammar gives ``text``, or None when no grammar fits.

    ``text`` should already be bounded (the identifier passes the first bytes only).
    """
    s = text.lstrip()
    if not s:
        return None
    c = s[0]
    if c == "{":
        return _json_rule(s)
    if c == "<":
        if _WIN_EVENT_XML.match(s):
            return RuleHit("windows-event", None, "xml-event")
        if _PHP_OPEN.match(s):
            return RuleHit("script-php", None, "php-open")
        return None
    if c == "#":
        if s.startswith("#!"):
            m = _SHEBANG.match(s)
            if m:
                name = re.sub(r"[\d.]+$", "", m.group(1).lower())
                kind = _SHEBANG_KINDS.get(name)
                return RuleHit(kind or "script-other", None, "shebang")
        if _W3C_DIRECTIVE.match(s):
            return RuleHit("access-log", "iis-w3c", "w3c-directive")
        return None
    if c == "[":
        if _APACHE_ERROR.match(s):
            return RuleHit("log-line", "apache-error", "apache-error")
        return None
    first_nl = s.find("\n")
    one_line = first_nl < 0 or not s[first_nl:].strip()
    if c.isdigit():
        if _NGINX_ERROR.match(s):
            return RuleHit("log-line", "nginx-error", "nginx-error")
        if one_line and _W3C.match(s):
            return RuleHit("access-log", "iis-w3c", "w3c")
        if _EVENT_SEQUENCE.match(s):
            return RuleHit("event-sequence", None, "event-sequence")
    if one_line:
        m = _CLF.match(s.rstrip("\r\n"))
        if m:
            if m.group("vhost"):
                family = "vhost"
            elif _CLF_COMBINED_TAIL.match(m.group("rest")):
                family = "combined"
            else:
                family = "common"
            return RuleHit("access-log", family, "clf")
        line = s.rstrip()
        if c.isalpha() and _URL_WITH_SCHEME.match(line):
            return RuleHit("url", None, "url-scheme")
    if c.isalpha():
        m = _HTTP_METHOD_LINE.match(s)
        if m:
            rest = s[m.end():]
            if not rest.strip() or _HEADER_LINE.match(rest):
                return RuleHit("http-request", None, "request-line")
    return None
