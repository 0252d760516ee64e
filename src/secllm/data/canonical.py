"""Canonicalisation of attacker-controlled text, with a map back to the original characters.

Attack payloads hide behind encodings (``%27``, ``%2527``, ``&#x3c;``, ``\\x3c``, fullwidth
``＜``). Detectors see the decoded, normalised text; explanations must still point at the bytes
the user sent. :func:`canonicalize` therefore returns, for every output character, the span of
the original string it came from.

Example::

    >>> c = canonicalize("id=1%2527+OR+1=1")
    >>> c.text
    "id=1' or 1=1"
    >>> c.layers
    ['percent', 'plus', 'percent', 'lower']
    >>> c.offsets[4]                     # the quote came from all five characters of "%2527"
    (4, 9)
    >>> span_to_original(c, 4, 8)        # "' or" -> "%2527+OR"
    (4, 12)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from html.entities import html5 as _HTML5

Span = tuple[int, int]

__all__ = ["Canonical", "canonicalize", "span_to_original"]


@dataclass
class Canonical:
    """Result of :func:`canonicalize`.

    ``text`` is decoded, NFKC-normalised and (by default) lower-cased; ``offsets[i]`` is the
    half-open span ``(start, end)`` of the original string that produced ``text[i]``;
    ``layers`` names the decoding layers that changed something, in the order applied.

    Example::

        >>> c = canonicalize("A%41")
        >>> c.text, c.offsets, c.layers
        ('aa', [(0, 1), (1, 4)], ['percent', 'lower'])
    """

    text: str
    offsets: list[Span] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    truncated: bool = False              # the decoded text outgrew ``max_chars`` and was cut there


# --------------------------------------------------------------------------------------------
# Decoding layers.
#
# The working state is the current string ``s`` plus ``spans`` (one original span per char of
# ``s``). Spans stay monotone (non-decreasing starts and ends) because every layer replaces a
# contiguous run of characters by characters spanning the union of that run; so the union of a
# run i..j-1 is simply (spans[i][0], spans[j-1][1]).
# --------------------------------------------------------------------------------------------

# A "piece" is (output chars, first consumed index, end consumed index) in current coordinates.
_Piece = tuple[str, int, int]

_PERCENT_RE = re.compile(
    r"(?P<bytes>(?:%[0-9A-Fa-f]{2})+)"
    # A %u surrogate pair is one astral character (IIS-style %uD83D%uDE00).
    r"|%[uU](?P<hi>[dD][89abAB][0-9A-Fa-f]{2})%[uU](?P<lo>[dD][c-fC-F][0-9A-Fa-f]{2})"
    r"|%[uU](?P<u>[0-9A-Fa-f]{4})"
)
_BACKSLASH_RE = re.compile(
    r"(?P<bytes>(?:\\x[0-9A-Fa-f]{2})+)"
    r"|\\u(?P<hi>[dD][89abAB][0-9A-Fa-f]{2})\\u(?P<lo>[dD][c-fC-F][0-9A-Fa-f]{2})"
    r"|\\u(?P<u>[0-9A-Fa-f]{4})"
)
# Entity names are at most 31 letters/digits in the HTML5 table; ``;`` is optional here and
# checked against the table below.
_HTML_RE = re.compile(
    r"&(?:#[xX](?P<hex>[0-9A-Fa-f]+)|#(?P<dec>[0-9]+)|(?P<name>[A-Za-z][A-Za-z0-9]{0,31}))(?P<semi>;?)"
)


def _decode_byte_run(values: list[int], starts: list[int], width: int) -> list[_Piece]:
    """Decode escaped bytes as UTF-8; a byte that is not part of a valid sequence is latin-1.

    ``starts[k]`` is where the escape of byte ``k`` begins and each escape is ``width`` chars
    long, so a decoded character consumed ``starts[k]`` to ``starts[k + n - 1] + width``.

    Example: bytes c3 a9 41 ff -> 'é' (2 escapes), 'A', 'ÿ' (latin-1 fallback for the lone ff).
    """
    out: list[_Piece] = []
    k, n = 0, len(values)
    while k < n:
        b = values[k]
        # Expected sequence length from the lead byte; C0, C1 and F5..FF never start a sequence.
        need = 1 if b < 0x80 else 2 if 0xC2 <= b <= 0xDF else 3 if 0xE0 <= b <= 0xEF else 4 if 0xF0 <= b <= 0xF4 else 0
        ch = None
        if need == 1:
            ch = chr(b)
        elif need > 1 and k + need <= n:
            try:
                # Strict decoding also rejects overlongs and encoded surrogates.
                ch = bytes(values[k : k + need]).decode("utf-8")
            except UnicodeDecodeError:
                ch = None
        if ch is None:
            need = 1
            ch = chr(b)  # latin-1: byte value == code point
        out.append((ch, starts[k], starts[k + need - 1] + width))
        k += need
    return out


def _escape_decoder(width: int) -> Callable[[re.Match[str]], list[_Piece] | None]:
    """Decoder for the %XX / \\xNN family; ``width`` is the length of one byte escape (3 or 4)."""
    prefix = width - 2  # "%" or "\\x"

    def decode(m: re.Match[str]) -> list[_Piece] | None:
        if m.group("bytes") is not None:
            run, base = m.group("bytes"), m.start()
            values = [int(run[i + prefix : i + width], 16) for i in range(0, len(run), width)]
            starts = [base + i for i in range(0, len(run), width)]
            return _decode_byte_run(values, starts, width)
        if m.group("hi") is not None:
            hi, lo = int(m.group("hi"), 16), int(m.group("lo"), 16)
            return [(chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)), m.start(), m.end())]
        # A lone %uD800 stays a lone surrogate char: faithful, and str tolerates it.
        return [(chr(int(m.group("u"), 16)), m.start(), m.end())]

    return decode


def _numeric_charref(digits: str, base: int) -> str:
    """HTML5 numeric character reference semantics (invalid -> U+FFFD, C1 -> windows-1252)."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > 7:  # way beyond U+10FFFF; also avoids int() on megabyte-long digit runs
        return "\ufffd"
    cp = int(digits, base)
    if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        return "\ufffd"
    if 0x80 <= cp <= 0x9F:
        # Browsers read &#150; etc. as windows-1252; five C1 code points are undefined there.
        try:
            return bytes([cp]).decode("cp1252")
        except UnicodeDecodeError:
            return chr(cp)
    return chr(cp)


def _html_decoder(s: str) -> Callable[[re.Match[str]], list[_Piece] | None]:
    def decode(m: re.Match[str]) -> list[_Piece] | None:
        if m.group("hex") is not None:
            return [(_numeric_charref(m.group("hex"), 16), m.start(), m.end())]
        if m.group("dec") is not None:
            return [(_numeric_charref(m.group("dec"), 10), m.start(), m.end())]
        name, semi = m.group("name"), m.group("semi")
        if semi and name + ";" in _HTML5:
            return [(_HTML5[name + ";"], m.start(), m.end())]
        # Without ';' only the legacy names decode, and (as browsers do inside attributes) not
        # when followed by '=': "?a=1&copy=2" is a query string, not "©=2".
        end = m.start() + 1 + len(name)
        if name in _HTML5 and not (end < len(s) and s[end] == "="):
            return [(_HTML5[name], m.start(), end)]
        return None

    return decode


def _substitute(
    s: str, spans: list[Span], pattern: re.Pattern[str], decode: Callable[[re.Match[str]], list[_Piece] | None]
) -> tuple[str, list[Span]] | None:
    """Replace every match of ``pattern`` by its decoded pieces; None when nothing changed."""
    out: list[str] = []
    out_spans: list[Span] = []
    pos = 0
    changed = False
    for m in pattern.finditer(s):
        pieces = decode(m)
        if pieces is None:
            continue
        out.append(s[pos : m.start()])
        out_spans.extend(spans[pos : m.start()])
        for chars, a, b in pieces:
            span = (spans[a][0], spans[b - 1][1])
            out.append(chars)
            out_spans.extend([span] * len(chars))
        pos = m.end()
        changed = True
    if not changed:
        return None
    out.append(s[pos:])
    out_spans.extend(spans[pos:])
    return "".join(out), out_spans


def _plus_layer(s: str, spans: list[Span], original: str) -> tuple[str, list[Span]] | None:
    """'+' -> ' ', but only for a '+' typed literally in the original.

    A '+' produced by decoding ``%2B`` is a real plus sign (form decoding turns '+' into a space
    *before* percent-decoding), so ``1%2B1`` must stay ``1+1``.
    """
    if "+" not in s:
        return None
    chars = list(s)
    changed = False
    for i, ch in enumerate(chars):
        if ch == "+":
            a, b = spans[i]
            if b - a == 1 and original[a] == "+":
                chars[i] = " "
                changed = True
    return ("".join(chars), spans) if changed else None


# --------------------------------------------------------------------------------------------
# NFKC with offsets.
#
# Normalising char by char is wrong where characters compose ('e' + U+0301 -> 'é', halfwidth
# 'ｶ' + 'ﾞ' -> 'ガ'). So the text is cut at "safe boundaries" (before a character that neither
# is a combining mark nor can compose with what precedes it), each chunk is normalised on its
# own, and the chunk's output maps to the chunk's span. Chunks are almost always one character.
# --------------------------------------------------------------------------------------------


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")


@lru_cache(maxsize=1)
def _composes_backward() -> frozenset[str]:
    """Characters that can be the second half of a canonical composition (built once, ~0.1 s)."""
    found: set[str] = set()
    for cp in range(0x30000):  # all canonical compositions live below U+30000
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            parts = d.split()
            if len(parts) == 2:
                found.add(chr(int(parts[1], 16)))
    # Hangul vowel and trailing jamo compose algorithmically (no decomposition entries).
    found.update(chr(cp) for cp in range(0x1161, 0x1176))
    found.update(chr(cp) for cp in range(0x11A8, 0x11C3))
    return frozenset(found)


@lru_cache(maxsize=65536)
def _boundary_before(ch: str) -> bool:
    if ch < "\x80":
        return True
    back = _composes_backward()
    if unicodedata.combining(ch) or ch in back:
        return False
    # A compatibility character can decompose into something that composes backward
    # (halfwidth voiced mark U+FF9E -> U+3099).
    first = unicodedata.normalize("NFKD", ch)[:1]
    return not (first and (unicodedata.combining(first) or first in back))


@lru_cache(maxsize=65536)
def _nfkc_char(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch)


def _nfkc_layer(s: str, spans: list[Span], max_chars: int | None = None) -> tuple[str, list[Span]] | None:
    """NFKC with offsets; with ``max_chars`` the work stops once the output is that long (one
    character may expand 18x: U+FDFA), so a hostile input cannot make the output explode."""
    if unicodedata.is_normalized("NFKC", s):
        return None
    out: list[str] = []
    out_spans: list[Span] = []
    limit = max_chars if max_chars is not None else 1 << 62

    def flush(a: int, b: int) -> None:
        if b - a == 1:
            piece = _nfkc_char(s[a])
            out.append(piece)
            out_spans.extend([spans[a]] * len(piece))
            return
        chunk = s[a:b]
        whole = unicodedata.normalize("NFKC", chunk)
        per_char = [_nfkc_char(c) for c in chunk]
        if "".join(per_char) == whole:  # nothing composed: keep the finer per-char offsets
            for i, piece in enumerate(per_char, start=a):
                out.append(piece)
                out_spans.extend([spans[i]] * len(piece))
        else:
            out.append(whole)
            out_spans.extend([(spans[a][0], spans[b - 1][1])] * len(whole))

    # ASCII is NFKC-stable and never composes with what precedes it, so only the non-ASCII runs
    # (plus the one char before each, which a combining mark may attach to) need the slow loop.
    pos = 0
    for m in _NON_ASCII_RE.finditer(s):
        a = max(m.start() - 1, pos)
        out.append(s[pos:a])
        out_spans.extend(spans[pos:a])
        start = a
        for i in range(a + 1, m.end()):
            if _boundary_before(s[i]):
                flush(start, i)
                start = i
                if len(out_spans) > limit:
                    break
        else:
            flush(start, m.end())
        pos = m.end()
        if len(out_spans) > limit:
            break
    else:
        out.append(s[pos:])
        out_spans.extend(spans[pos:])
    text = "".join(out)
    return (text, out_spans) if text != s else None


def _lower_layer(s: str, spans: list[Span]) -> tuple[str, list[Span]] | None:
    low = s.lower()
    if low == s:
        return None
    if len(low) == len(s):  # lower() only ever expands, so equal length means one-to-one
        return low, spans
    # A few characters expand ('İ' -> 'i' + U+0307): lower char by char, repeating the span.
    out: list[str] = []
    out_spans: list[Span] = []
    for ch, span in zip(s, spans):
        piece = ch.lower()
        out.append(piece)
        out_spans.extend([span] * len(piece))
    return "".join(out), out_spans


_PERCENT_DECODE = _escape_decoder(3)
_BACKSLASH_DECODE = _escape_decoder(4)
_ROUND_LAYERS = ("percent", "plus", "html", "backslash")


def _run_layer(
    name: str, s: str, spans: list[Span], original: str, plus_as_space: bool, first_round: bool
) -> tuple[str, list[Span]] | None:
    """Apply one decoding layer; None when it changed nothing (cheap trigger-char checks first)."""
    if name == "percent":
        return _substitute(s, spans, _PERCENT_RE, _PERCENT_DECODE) if "%" in s else None
    if name == "plus":
        # Only literal '+' turn into spaces, so after the first round there is nothing to do.
        return _plus_layer(s, spans, original) if plus_as_space and first_round else None
    if name == "html":
        return _substitute(s, spans, _HTML_RE, _html_decoder(s)) if "&" in s else None
    if name == "backslash":
        return _substitute(s, spans, _BACKSLASH_RE, _BACKSLASH_DECODE) if "\\" in s else None
    raise ValueError(f"unknown layer {name!r}")


def canonicalize(text: str, *, plus_as_space: bool = True, max_rounds: int = 4, lower: bool = True,
                 max_chars: int | None = None) -> Canonical:
    """Decode ``text`` layer by layer, then NFKC-normalise and lower-case it, keeping offsets.

    Each round applies, in order: percent (``%XX`` runs as UTF-8 with per-byte latin-1 fallback,
    ``%uXXXX``), plus (a literal ``+`` -> space, only when ``plus_as_space``), html (named,
    decimal and hex entities, ``;`` optional), backslash (``\\xNN`` runs, ``\\uNNNN``). Rounds
    repeat until one changes nothing or ``max_rounds`` rounds ran. Never raises on a ``str``.

    Decoding only shrinks text, but NFKC and lower-casing can expand it (U+FDFA becomes 18
    characters); with ``max_chars`` the result is cut at that many characters and marked
    ``truncated`` (the work stops there too), so the caller can refuse to call it complete.

    Example::

        >>> c = canonicalize("&lt;SCRIPT&gt;\\\\x61")
        >>> c.text, c.layers
        ('<script>a', ['html', 'backslash', 'lower'])
        >>> canonicalize("＜ｓｃｒｉｐｔ＞").text
        '<script>'
    """
    n = len(text)
    spans: list[Span] = [(i, i + 1) for i in range(n)]
    layers: list[str] = []

    # Fast path: plain ASCII with nothing to decode (most log lines, most benign parameters).
    if text.isascii() and "%" not in text and "&" not in text and "\\" not in text and (
        not plus_as_space or "+" not in text
    ):
        if lower:
            low = text.lower()
            if low != text:
                return Canonical(low, spans, ["lower"])
        return Canonical(text, spans, layers)

    s = text
    for round_no in range(max(0, max_rounds)):
        changed = False
        for name in _ROUND_LAYERS:
            result = _run_layer(name, s, spans, text, plus_as_space, round_no == 0)
            if result is not None:
                s, spans = result
                layers.append(name)
                changed = True
        if not changed:  # fixpoint: another round would change nothing either
            break

    result = _nfkc_layer(s, spans, max_chars)
    if result is not None:
        s, spans = result
        layers.append("nfkc")
    truncated = max_chars is not None and len(s) > max_chars
    if truncated:
        s, spans = s[:max_chars], spans[:max_chars]
    if lower:
        result = _lower_layer(s, spans)
        if result is not None:
            s, spans = result
            layers.append("lower")
        if max_chars is not None and len(s) > max_chars:       # 'İ' lower-cases to two characters
            s, spans, truncated = s[:max_chars], spans[:max_chars], True
    return Canonical(s, spans, layers, truncated)


def span_to_original(c: Canonical, start: int, end: int) -> tuple[int, int]:
    """Map the canonical span ``c.text[start:end]`` to the original span it came from.

    Indices are clamped to the text; an empty span maps to an empty span at the matching
    original position. Never raises.

    Example::

        >>> c = canonicalize("x=%3Cscript%3E")
        >>> c.text
        'x=<script>'
        >>> span_to_original(c, 2, 10)
        (2, 14)
    """
    n = len(c.offsets)
    if n == 0:
        return (0, 0)
    start = min(max(start, 0), n)
    end = min(max(end, start), n)
    if start == end:
        pos = c.offsets[start][0] if start < n else c.offsets[-1][1]
        return (pos, pos)
    # Offsets are monotone, so the first start and the last end bound the whole run.
    return (c.offsets[start][0], c.offsets[end - 1][1])
