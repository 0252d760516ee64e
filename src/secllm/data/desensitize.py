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

import hashlib
import hmac
import ipaddress
import math
import re
from collections import Counter

__all__ = ["desensitize", "find_sensitive", "fingerprint", "KINDS", "MODEL_INPUT_KINDS"]

KINDS = ("ipv4", "ipv6", "mac", "email", "secret", "id_number", "card", "ssn", "phone")
# What the shipped task models saw masked when they were trained (secllm.tasks.registry.prepare_text):
# their input keeps this masking so that serving matches training; files, logs and reports use KINDS.
MODEL_INPUT_KINDS = ("ipv4", "ipv6", "mac", "email", "secret")

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


# Personal numbers. Each starts only at a token start and is bounded, so the scan stays linear;
# checksums (ID numbers, Luhn for cards) and number plans are checked in code, which is what keeps
# order ids, timestamps and ordinary numbers out.
# Mainland China mobile numbers (11 digits, 13x-19x), optionally with +86 / 0086.
_CN_MOBILE_RE = re.compile(r"(?<![\w.+-])(?:(?:\+|00)86[ -]?)?1[3-9]\d{9}(?!\w|[.-]\d)")
# International numbers written with a leading "+" and groups: "+1 415 555 2671", "+44 20 7946 0958".
# Possessive groups: each takes what it can and never gives back, so a long digit run fails fast.
_INTL_PHONE_RE = re.compile(r"(?<![\w+])\+[1-9]\d{0,2}+(?:[ .-]?\(\d{1,4}+\))?+(?:[ .-]?\d{1,4}+){2,5}+(?!\w|[.-]\d)")
# North American numbers with separators: "(415) 555-2671", "415-555-2671", "415.555.2671".
_NANP_PHONE_RE = re.compile(r"(?<![\w.(-])(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[-.])[2-9]\d{2}[-.]\d{4}(?!\w|[.-]\d)")
# US social security numbers, dashed, without the never-issued areas (000, 666, 9xx) and groups.
_SSN_RE = re.compile(r"(?<![\w.-])(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\w|-\d)")
# PRC resident identity numbers: region, birth date, sequence, ISO 7064 MOD 11-2 check character.
_CN_ID_RE = re.compile(r"(?<![\w.-])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
                       r"\d{3}[\dXx](?!\w)")
_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Payment card numbers: 13-19 digits, optionally grouped by single spaces or dashes; kept only with
# a card-network prefix and a valid Luhn check digit.
_CARD_RE = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?!\w|[.-]\d)")
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|6")
# Provider-prefixed API keys (Stripe, GitHub, Slack, Google, GitLab): secret by their prefix alone.
_PREFIXED_KEY_RE = re.compile(
    r"(?<![A-Za-z0-9])(?:[sr]k_(?:live|test)_[0-9A-Za-z]{10,99}+|gh[pousr]_[A-Za-z0-9]{30,255}+|github_pat_\w{20,255}+"
    r"|xox[abprs]-[A-Za-z0-9-]{10,250}+|AIza[0-9A-Za-z_-]{35}|glpat-[\w-]{20,64}+)(?![\w-])"
)


def _cn_id_ok(s: str) -> bool:
    total = sum(int(c) * w for c, w in zip(s[:17], _CN_ID_WEIGHTS))
    return "10X98765432"[total % 11] == s[17].upper()


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(cand: str) -> bool:
    seps = {c for c in cand if not c.isdigit()}
    if len(seps) > 1:
        return False                  # "1234 5678-9012 3456": not how a card number is written
    digits = cand.replace(" ", "").replace("-", "")
    if seps and any(len(g) < 3 for g in re.split(r"[ -]", cand)):
        return False                  # "1 2 3 4 ...": a list of small numbers, not a grouped card
    return 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) is not None and _luhn_ok(digits)


def _intl_phone_ok(cand: str) -> bool:
    return 8 <= sum(c.isdigit() for c in cand) <= 15


def _personal_numbers(text: str) -> list[_Hit]:
    hits: list[_Hit] = []
    hits.extend((m.start(), m.end(), "id_number") for m in _CN_ID_RE.finditer(text) if _cn_id_ok(m.group(0)))
    hits.extend((m.start(), m.end(), "card") for m in _CARD_RE.finditer(text) if _card_ok(m.group(0)))
    hits.extend((m.start(), m.end(), "ssn") for m in _SSN_RE.finditer(text))
    hits.extend((m.start(), m.end(), "phone") for m in _CN_MOBILE_RE.finditer(text))
    if "+" in text:
        hits.extend((m.start(), m.end(), "phone") for m in _INTL_PHONE_RE.finditer(text) if _intl_phone_ok(m.group(0)))
    hits.extend((m.start(), m.end(), "phone") for m in _NANP_PHONE_RE.finditer(text))
    return hits


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
    hits.extend((m.start(), m.end(), "secret") for m in _PREFIXED_KEY_RE.finditer(text))
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
    hits.extend(_personal_numbers(text))
    return hits


def find_sensitive(text: str, kinds: tuple[str, ...] | None = None) -> list[tuple[int, int, str]]:
    """Return non-overlapping ``(start, end, kind)`` spans, sorted by start; kinds are in :data:`KINDS`
    (``kinds`` restricts them, e.g. :data:`MODEL_INPUT_KINDS`).

    Overlapping matches are merged into one span (masking never leaves part of a match in clear:
    ``bob@corp.com/<long token>`` is one span, not a token that leaves ``bob@corp.`` behind); the
    merged span takes the kind of its longest match (a JWT wins over the hex-looking parts inside
    it; a ``password=`` value wins over an IP inside it). Never raises on a ``str``.

    Example::

        >>> find_sensitive("from 192.168.1.20 to ::1")
        [(5, 17, 'ipv4'), (21, 24, 'ipv6')]
    """
    if (len(text) < 11 and text.isalnum()) or (len(text) < 20 and text.isalpha()):
        return []           # a short word or number: no pattern can match (the common log token)
    hits = [h for h in _candidates(text) if h[1] > h[0] and (kinds is None or h[2] in kinds)]
    hits.sort()
    kept: list[_Hit] = []
    best: _Hit | None = None           # the longest match of the group being merged
    for h in hits:
        if kept and h[0] < kept[-1][1]:                     # overlaps the group: extend it
            start, end, _ = kept[-1]
            if best is None or (h[1] - h[0], -KINDS.index(h[2])) > (best[1] - best[0], -KINDS.index(best[2])):
                best = h
            kept[-1] = (start, max(end, h[1]), best[2])
        else:
            kept.append(h)
            best = h
    return kept


def _mask_once(text: str, kinds: tuple[str, ...] | None) -> str:
    out: list[str] = []
    pos = 0
    for start, end, kind in find_sensitive(text, kinds):
        out.append(text[pos:start])
        out.append(f"<{kind}>")
        pos = end
    out.append(text[pos:])
    return "".join(out)


_MAX_PASSES = 4


def desensitize(text: str, kinds: tuple[str, ...] | None = None) -> str:
    """Replace every :func:`find_sensitive` span by its tag ``<ipv4>``, ``<ipv6>``, ``<mac>``,
    ``<email>``, ``<secret>``, ``<id_number>``, ``<card>``, ``<ssn>`` or ``<phone>`` (``kinds``
    restricts what is masked). Never raises on a ``str``.

    Masking repeats until nothing more is found (at most 4 passes; a second pass runs only when the
    first masked something): a tag can be the boundary that makes its neighbour recognisable, as in
    ``<32 random base64 chars>=alice@example.com``, where the token ends in ``=a`` until the address
    is masked (the fuzzer found it: ``docs/fuzzing.md``). So ``desensitize`` is idempotent.

    Example::

        >>> desensitize('{"user": "root", "password": "s3cr3t!"} Authorization: Bearer abc.def')
        '{"user": "root", "password": "<secret>"} Authorization: Bearer <secret>'
        >>> desensitize("tel 13812345678, card 4111 1111 1111 1111, ssn 123-45-6789, order 1234567890123456")
        'tel <phone>, card <card>, ssn <ssn>, order 1234567890123456'
    """
    out = _mask_once(text, kinds)
    for _ in range(_MAX_PASSES - 1):
        if out == text:
            break
        text, out = out, _mask_once(out, kinds)
    return out


def fingerprint(text: str, key: str | bytes) -> str:
    """A keyed 64-bit fingerprint (HMAC-SHA256, 16 hex characters) of ``desensitize(text)``: what a
    learned model stores instead of a value it only needs to recognise again.

    Masking first means two e-mail addresses give the same fingerprint (the model learns "an
    e-mail", not which one) and a masked kind is never hashed at all; the key (random per
    artifact) keeps fingerprints from being compared across artifacts or looked up in
    precomputed tables. An unmasked low-entropy value (a short name) can still be guessed by
    someone holding both the key and the file: such artifacts are also written 0600.

        >>> fingerprint("a@b.io", "k") == fingerprint("c@d.org", "k") != fingerprint("a@b.io", "k2")
        True
        >>> len(fingerprint("asc", "k"))
        16
    """
    k = key.encode() if isinstance(key, str) else key
    data = desensitize(text).encode("utf-8", "surrogatepass")
    return hmac.new(k, data, hashlib.sha256).hexdigest()[:16]
