"""Mask addresses, e-mails and secrets before data is stored, shared or shown.

Why it stays linear on hostile input (a 1 MB log line takes well under a second): every pattern
may only start a match at the start of a token (a negative look-behind, or a check in code) and
repeats only bounded or single character classes, so no regex backtracks more than a constant per
token; IPv6 candidates are validated with :mod:`ipaddress` instead of one giant regex; overlaps
are resolved with one flag per character.

Example::

    >>> desensitize("GET /login?user=bob@corp.com&password=hunter2 from 10.0.0.7")
    'GET /login?user=<email>&password=<secret> from <ipv4>'
    >>> find_sensitive("mac 00:1a:2b:3c:4d:5e")
    [(4, 21, 'mac')]
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter

__all__ = ["desensitize", "find_sensitive", "KINDS"]

KINDS = ("ipv4", "ipv6", "mac", "email", "secret")

_Hit = tuple[int, int, str]

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|0?[1-9]?[0-9])"
# Not glued to a word or to more dotted numbers: "1.2.3.4.5" is a version string, not an address.
_IPV4_RE = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\w|\.[0-9])")

# IPv6 candidates: a run of hex digits, ':' and '.' (embedded IPv4) containing a ':', plus an
# optional zone id. ipaddress decides; that is what keeps "12:30:45" and MACs out.
_IPV6_CAND_RE = re.compile(r"(?<![\w.:])(?=[0-9A-Fa-f.]{0,39}:)[0-9A-Fa-f:.]{2,45}(?:%[0-9A-Za-z_.-]{1,32})?")

_MAC_RE = re.compile(
    r"(?<![\w:.-])(?:[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:-]|\.[0-9A-Fa-f])"
)

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)

_JWT_RE = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")

_AWS_KEY_RE = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}(?![A-Za-z0-9])")

_PRIVATE_KEY_BEGIN_RE = re.compile(r"-----BEGIN ([A-Z0-9]{1,20} ){0,3}PRIVATE KEY( BLOCK)?-----")
# Body of a truncated key: base64 chunks separated by line breaks (each separator is required,
# so a long run can be split only one way and the match stays linear).
_BASE64_BODY_RE = re.compile(r"\s*(?:[A-Za-z0-9+/=]{16,}(?:\s{1,4}[A-Za-z0-9+/=]{16,})*)?")

# The credential patterns below are case-insensitive. Instead of (?i) and a leading look-behind
# (which make the regex engine try every position, ~0.5 s per MB), they run on an ASCII-lowered
# copy of the text that starts with literal names, and the "starts a token" check is done in code.
# ASCII lowering keeps every offset valid for the original text.
_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})

# "Authorization: Bearer x", JSON "Authorization": "Basic x", Proxy-Authorization too.
_AUTH_HEADER_RE = re.compile(
    r"authorization[\"']?[ \t]*[:=][ \t]*(?P<quote>[\"']?)"
    r"(?:(?P<scheme>bearer|basic|token|negotiate|ntlm|digest|aws4-hmac-sha256)[ \t]+)?"
    r"(?P<value>[^\s\"',;]+)"
)
# Schemes whose credential is one token; for the others (Digest, AWS4, none) the rest of the
# header line is credential material.
_SINGLE_TOKEN_SCHEMES = frozenset({"bearer", "basic", "token", "negotiate", "ntlm"})
_MAX_HEADER_VALUE = 4096
# A bare "Bearer <token>" outside a header (log lines, curl commands).
_BEARER_RE = re.compile(r"(?:bearer|basic)[ \t]+(?P<value>[a-z0-9._~+/-]{16,}=*)")

# key=value, key: value and "key": "value" where the key names a credential. The key may carry
# prefixes (db_password, x-api-key, csrf_token) but the name must not continue a word, so
# "bypass=" is safe. Longer alternatives come first where one name is a prefix of another.
_SECRET_NAMES = (
    r"password|passwd|passphrase|passwort|pwd|pass|pw|token|access[_-]?token|refresh[_-]?token"
    r"|id[_-]?token|auth[_-]?token|api[_-]?key|apikey|api[_-]?secret|access[_-]?key|secret[_-]?key"
    r"|private[_-]?key|secret|client[_-]?secret|credentials?|session[_-]?id|session|sessid"
    r"|phpsessid|jsessionid|aspsessionid|sid|auth|otp"
)
_KEY_VALUE_RE = re.compile(
    r"(?:" + _SECRET_NAMES + r")[\"']?[ \t]*[:=][ \t]*"
    r"(?:\"(?P<dq>[^\"\r\n]{1,1000})\"|'(?P<sq>[^'\r\n]{1,1000})'|(?P<bare>[^\s&;,\"'<>(){}\[\]]+))"
)


def _starts_token(low: str, pos: int, joiners: str = "") -> bool:
    """True when ``low[pos]`` does not continue a word (a letter, digit or one of ``joiners``)."""
    if pos == 0:
        return True
    prev = low[pos - 1]
    return not (prev.isalnum() or prev in joiners)


_HEX_RE = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{32,}(?![0-9A-Za-z])")
_B64_RE = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_=-])")


def _entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _looks_random_hex(s: str) -> bool:
    # Real ids/hashes mix digits and letters and use many symbols; "0000...", "ffff..." do not.
    return any(c.isdigit() for c in s) and any(c.isalpha() for c in s) and len(set(s.lower())) >= 8


def _looks_random_b64(s: str) -> bool:
    body = s.rstrip("=")
    has_upper = any(c.isupper() for c in body)
    has_lower = any(c.islower() for c in body)
    has_digit = any(c.isdigit() for c in body)
    if not (has_upper and has_lower and has_digit):
        return False  # snake_case identifiers, paths and words fail this
    if body.count("/") * 12 > len(body):
        return False  # a path (/api/v1/Users/...): random base64 has a '/' only every ~64 chars
    # 32 random base64 chars carry ~4.6 bits/char and switch character class (upper/lower/digit)
    # at ~64% of positions; CamelCaseIdentifierNames2 reach ~4.2 bits but switch at < 45%.
    # Together these keep >99% of random 32-char tokens and drop long identifiers.
    entropy = _entropy(body)
    return entropy >= 4.0 and (entropy >= 4.5 or _class_switch_rate(body) >= 0.45)


def _char_class(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3


def _class_switch_rate(s: str) -> float:
    """Fraction of adjacent character pairs whose class (upper/lower/digit/other) differs."""
    if len(s) < 2:
        return 0.0
    return sum(_char_class(a) != _char_class(b) for a, b in zip(s, s[1:])) / (len(s) - 1)


def _closing_quote(s: str, quote: str) -> int:
    """Index of the first ``quote`` in ``s`` not escaped by a backslash, or -1."""
    i = s.find(quote)
    while i > 0 and s[i - 1] == "\\":
        i = s.find(quote, i + 1)
    return i


def _plausible_ipv6(cand: str) -> bool:
    """Reject valid-but-unlikely forms such as the slice "1::2" (keep "::1", "fe80::1")."""
    if "::" not in cand or cand.startswith("::"):
        return True
    groups = [g for g in cand.split("%", 1)[0].split(":") if g]
    return len(groups) > 2 or any(len(g) > 2 for g in groups)


def _private_keys(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    pos = 0
    not_found: set[str] = set()  # an END marker missing once is missing for later BEGINs too
    while True:
        m = _PRIVATE_KEY_BEGIN_RE.search(text, pos)
        if m is None:
            return hits
        end_marker = m.group(0).replace("BEGIN", "END", 1)
        end = -1 if end_marker in not_found else text.find(end_marker, m.end())
        if end < 0:
            not_found.add(end_marker)
            # A truncated key: mask the header and whatever base64 body follows it.
            stop = _BASE64_BODY_RE.match(text, m.end()).end()  # type: ignore[union-attr]
            while stop > m.end() and text[stop - 1].isspace():  # keep the line break after it
                stop -= 1
        else:
            stop = end + len(end_marker)
        hits.append((m.start(), stop, "secret"))
        pos = max(stop, m.end())


def _candidates(text: str) -> list[_Hit]:
    """All raw matches, possibly overlapping."""
    hits: list[_Hit] = []
    if "." in text:
        hits.extend((m.start(), m.end(), "ipv4") for m in _IPV4_RE.finditer(text))
    if ":" in text:
        for m in _IPV6_CAND_RE.finditer(text):
            cand = m.group(0)
            end = m.end()
            while cand.endswith("."):  # sentence punctuation after "::1."
                cand, end = cand[:-1], end - 1
            if end < len(text) and (text[end].isalnum() or text[end] in "_:"):
                continue  # cut off inside a longer token: not an address on its own
            if not any(c in "0123456789abcdefABCDEF" for c in cand.split("%", 1)[0]):
                continue  # "::" alone is more likely C++ or a Python slice than an address
            try:
                ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            if not _plausible_ipv6(cand):
                continue
            hits.append((m.start(), end, "ipv6"))
    if ":" in text or "-" in text or "." in text:
        hits.extend((m.start(), m.end(), "mac") for m in _MAC_RE.finditer(text))
    if "@" in text:
        hits.extend((m.start(), m.end(), "email") for m in _EMAIL_RE.finditer(text))
    if "eyJ" in text:
        hits.extend((m.start(), m.end(), "secret") for m in _JWT_RE.finditer(text))
    hits.extend((m.start(), m.end(), "secret") for m in _AWS_KEY_RE.finditer(text))
    if "PRIVATE KEY" in text:
        hits.extend(_private_keys(text))
    low = text.translate(_ASCII_LOWER)
    if "authorization" in low:
        covered = 0  # end of the last header value taken: later matches inside it are its content
        for m in _AUTH_HEADER_RE.finditer(low):
            if m.start() < covered or not _starts_token(low, m.start(), "_"):
                continue
            start = m.start("value")
            if (m.group("scheme") or "") in _SINGLE_TOKEN_SCHEMES:
                hits.append((start, m.end("value"), "secret"))
                continue
            tail = text[start : start + _MAX_HEADER_VALUE]
            tail = tail.split("\n", 1)[0].split("\r", 1)[0]
            if m.group("quote"):  # a quoted value ("Authorization": "Digest ...") ends at its quote
                close = _closing_quote(tail, m.group("quote"))
                tail = tail if close < 0 else tail[:close]
            covered = start + len(tail.rstrip())
            hits.append((start, covered, "secret"))
    for m in _BEARER_RE.finditer(low):
        if _starts_token(low, m.start(), "_-"):
            hits.append((m.start("value"), m.end("value"), "secret"))
    for m in _KEY_VALUE_RE.finditer(low):
        if _starts_token(low, m.start()):  # "_" may join a prefix: db_password, csrf_token
            group = "dq" if m.group("dq") is not None else "sq" if m.group("sq") is not None else "bare"
            hits.append((m.start(group), m.end(group), "secret"))
    hits.extend((m.start(), m.end(), "secret") for m in _HEX_RE.finditer(text) if _looks_random_hex(m.group(0)))
    hits.extend((m.start(), m.end(), "secret") for m in _B64_RE.finditer(text) if _looks_random_b64(m.group(0)))
    return hits


def find_sensitive(text: str) -> list[tuple[int, int, str]]:
    """Return non-overlapping ``(start, end, kind)`` spans, sorted by start; kinds are in :data:`KINDS`.

    Overlaps are resolved longest-first (a JWT wins over the hex-looking parts inside it; a
    ``password=`` value wins over an IP inside it). Never raises on a ``str``.

    Example::

        >>> find_sensitive("from 192.168.1.20 to ::1")
        [(5, 17, 'ipv4'), (21, 24, 'ipv6')]
    """
    hits = [h for h in _candidates(text) if h[1] > h[0]]
    # Longest first; ties by position, then by kind order so the result is deterministic.
    hits.sort(key=lambda h: (h[0] - h[1], h[0], KINDS.index(h[2])))
    # One flag per character; every pattern's own matches are disjoint, so the spans checked here
    # add up to a small multiple of len(text) and the whole resolution stays linear.
    taken = bytearray(len(text))
    kept: list[_Hit] = []
    for start, end, kind in hits:
        if taken.find(1, start, end) == -1:
            taken[start:end] = b"\x01" * (end - start)
            kept.append((start, end, kind))
    kept.sort()
    return kept


def desensitize(text: str) -> str:
    """Replace every :func:`find_sensitive` span by its tag ``<ipv4>``, ``<ipv6>``, ``<mac>``,
    ``<email>`` or ``<secret>``. Never raises on a ``str``.

    Example::

        >>> desensitize('{"user": "root", "password": "s3cr3t!"} Authorization: Bearer abc.def')
        '{"user": "root", "password": "<secret>"} Authorization: Bearer <secret>'
    """
    out: list[str] = []
    pos = 0
    for start, end, kind in find_sensitive(text):
        out.append(text[pos:start])
        out.append(f"<{kind}>")
        pos = end
    out.append(text[pos:])
    return "".join(out)
