"""Tests for secllm.data.canonical: decoding layers, offsets back to the original, robustness."""

from __future__ import annotations

import random
import unicodedata

import pytest

from secllm.data.canonical import Canonical, canonicalize, span_to_original


def _check_offsets(original: str, c: Canonical) -> None:
    """Structural invariants that must hold for every input."""
    assert len(c.offsets) == len(c.text)
    prev = (0, 0)
    for a, b in c.offsets:
        assert 0 <= a < b <= len(original)
        assert a >= prev[0] and b >= prev[1], "offsets must be monotone"
        prev = (a, b)


def _roundtrip(original: str, c: Canonical) -> None:
    """Each output char is what its own source span canonicalises to (simple, non-composing cases)."""
    for i, ch in enumerate(c.text):
        a, b = c.offsets[i]
        assert ch in canonicalize(original[a:b]).text, (i, ch, original[a:b])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("%27%20or%201%3D1", "' or 1=1"),
        ("%2527", "'"),  # double encoding
        ("%252527", "'"),  # triple encoding still within max_rounds
        ("%u003cscript%u003E", "<script>"),
        ("%uD83D%uDE00", "\U0001F600"),  # %u surrogate pair -> one char
        ("union+select", "union select"),
        ("1%2B1", "1+1"),  # an encoded plus is a real plus
        ("&lt;&GT;&quot;&amp;", "<>\"&"),
        ("&lt&gt", "<>"),  # legacy named entities without ';'
        ("&#60;&#x3C;&#X3c;", "<<<"),
        ("&#60&#x3c", "<<"),  # numeric without ';'
        ("&#0000060;", "<"),
        ("javascript&colon;alert(1)", "javascript:alert(1)"),
        ("\\x3cscript\\x3e", "<script>"),
        ("\\u003cscript\\u003e", "<script>"),
        ("\\xc3\\xa9", "\u00e9"),  # \x runs decode as UTF-8
        ("＜ｓｃｒｉｐｔ＞", "<script>"),
        ("SeLeCt * FrOm Users", "select * from users"),
        ("%C3%A9", "\u00e9"),
        ("%E9", "\u00e9"),  # invalid UTF-8 -> latin-1 per byte
        ("%C3%28", "\u00e3("),  # broken sequence: lead byte latin-1, then the next byte alone
        ("%zz%4", "%zz%4"),  # not escapes
        ("?a=1&copy=2", "?a=1&copy=2"),  # '&name=' in a query string is not an entity
        ("&bogus;", "&bogus;"),
        ("%26lt%3B", "<"),  # percent then html in the same round
    ],
)
def test_decoding(raw: str, expected: str) -> None:
    c = canonicalize(raw)
    assert c.text == expected
    _check_offsets(raw, c)


def test_percent_offsets() -> None:
    c = canonicalize("a%27b")
    assert c.text == "a'b"
    assert c.offsets == [(0, 1), (1, 4), (4, 5)]


def test_double_percent_maps_to_all_five_chars() -> None:
    c = canonicalize("x%2527")
    assert c.text == "x'"
    assert c.offsets[1] == (1, 6)
    assert c.layers == ["percent", "percent"]


def test_utf8_run_offsets() -> None:
    c = canonicalize("%C3%A9t%E9")
    assert c.text == "\u00e9t\u00e9"
    assert c.offsets == [(0, 6), (6, 7), (7, 10)]


def test_layers_list() -> None:
    assert canonicalize("abc").layers == []
    assert canonicalize("ABC").layers == ["lower"]
    assert canonicalize("%2526lt;X").layers == ["percent", "percent", "html", "lower"]
    assert canonicalize("a+b").layers == ["plus"]
    assert canonicalize("\\x41").layers == ["backslash", "lower"]
    assert canonicalize("ｘ").layers == ["nfkc"]


def test_options() -> None:
    assert canonicalize("a+B", plus_as_space=False).text == "a+b"
    assert canonicalize("a+B", lower=False).text == "a B"
    assert canonicalize("%2527", max_rounds=1).text == "%27"
    assert canonicalize("%2527", max_rounds=0).text == "%2527"


def test_fast_path_offsets() -> None:
    c = canonicalize("GET /Index")
    assert c.text == "get /index"
    assert c.offsets == [(i, i + 1) for i in range(10)]


def test_nfkc_offsets_and_expansion() -> None:
    raw = "a\ufb01b"  # the 'fi' ligature expands to two chars, both from the ligature
    c = canonicalize(raw)
    assert c.text == "afib"
    assert c.offsets == [(0, 1), (1, 2), (1, 2), (2, 3)]
    c = canonicalize("e\u0301x")  # composition: 'é' spans both source chars
    assert c.text == "\u00e9x"
    assert c.offsets == [(0, 2), (2, 3)]


def test_lower_expansion() -> None:
    c = canonicalize("\u0130X")  # 'İ'.lower() is two chars
    assert c.text == "i\u0307x"
    assert c.offsets == [(0, 1), (0, 1), (1, 2)]


def test_offsets_roundtrip_simple_cases() -> None:
    raw = "q=%3Cimg%20SRC%3Dx&#x20;onerror=alert(1)%3E&lt;\\x41+＜b＞%2527"
    c = canonicalize(raw)
    assert c.text == "q=<img src=x onerror=alert(1)><a <b>'"
    _check_offsets(raw, c)
    _roundtrip(raw, c)


def test_span_to_original() -> None:
    raw = "id=1%2527%20OR%201=1"
    c = canonicalize(raw)
    i = c.text.index("' or")
    a, b = span_to_original(c, i, i + 4)
    assert raw[a:b] == "%2527%20OR"
    assert span_to_original(c, 0, 0) == (0, 0)
    assert span_to_original(c, -5, 10**9) == (0, len(raw))
    assert span_to_original(c, 3, 1) == span_to_original(c, 3, 3)
    assert span_to_original(canonicalize(""), 0, 1) == (0, 0)


def test_nfkc_matches_whole_string_normalisation() -> None:
    rng = random.Random(1)
    pool = "ae\u0301\u0300\u0327\uff76\uff9e\uff8a\uff9f\u1100\u1161\u11a8\uac00\u0bc6\u0bbe\ufb01\u2460\uff1c"
    for _ in range(300):
        raw = "".join(rng.choice(pool) for _ in range(rng.randint(0, 8)))
        c = canonicalize(raw, lower=False)
        assert c.text == unicodedata.normalize("NFKC", raw)
        _check_offsets(raw, c)


def test_fuzz_never_raises() -> None:
    rng = random.Random(0)
    alphabet = list("%&#;\\+xXuU0123456789abcdefABCDEF<>'\" =ltgamp") + [
        "\x00", "\ud800", "\udfff", "\u0130", "\ufb01", "\u0301", "\uff1c", "\uff9e", "\U0001F600", "\u1161",
    ]
    for _ in range(400):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        c = canonicalize(raw, plus_as_space=rng.random() < 0.5, lower=rng.random() < 0.8)
        _check_offsets(raw, c)
        span_to_original(c, rng.randint(-2, 50), rng.randint(-2, 50))
    for _ in range(100):  # arbitrary code points, surrogates included
        raw = "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(0, 20)))
        _check_offsets(raw, canonicalize(raw))


def test_big_numeric_entity_and_long_input() -> None:
    assert canonicalize("&#" + "9" * 5000 + ";").text == "\ufffd"
    raw = ("%41&amp;\\x42+" * 5000) + "\u00e9"
    c = canonicalize(raw)
    _check_offsets(raw, c)
