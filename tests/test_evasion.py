"""Evasion operators: each changes its items and keeps them the same attack; sqlmap's tampers load and run."""

from __future__ import annotations

import random
import re

import pytest

from secllm.data.canonical import canonicalize
from secllm.eval.evasion import (
    DEFAULT_TAMPERS,
    OPS,
    SqlmapUnavailable,
    builtin_ops,
    evade,
    sqlmap_available,
    sqlmap_tampers,
)

SQLI = ["1' or '1'='1", "' union select password from users--", "1 and 1=1", "x' and sleep(5)--",
        "1 union all select null,null--", "' or 1=1#"]
XSS = ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "javascript:alert(document.cookie)",
       "\"><svg onload=alert(1)>", "<body onload=alert('x')>"]
ITEMS = [(t, "sqli") for t in SQLI] + [(t, "xss") for t in XSS]


def _words(text: str) -> list[str]:
    """What a parser reads, roughly: decoded, NFKC, lower-case, comments dropped, word tokens."""
    c = canonicalize(text).text
    c = re.sub(r"/\*.*?\*/", " ", c)
    return re.findall(r"[a-z_]+|\d+", c)


@pytest.mark.parametrize("op", builtin_ops(), ids=lambda m: m.name)
def test_each_builtin_op_changes_items_and_keeps_the_attack(op) -> None:
    changed = 0
    for text, label in ITEMS:
        if not op.applies(label):
            continue
        out = op(text, random.Random(1))
        assert out == op(text, random.Random(1)), "an op must be a pure function of (text, rng)"
        if out == text:
            continue
        changed += 1
        if op.family in ("encoding", "case", "comment", "whitespace"):
            # Decoding, case folding and dropping comments/blanks must give the same words back.
            assert _words(out) == _words(text), (op.name, text, out)
        else:
            # SQL rewrites keep the injection's skeleton: its quote and its keywords.
            low = canonicalize(out).text
            assert ("'" in text) == ("'" in low), (op.name, out)
            assert re.search(r"select|union|sleep|\|\||&&|\bor\b|\band\b|like|between", low), (op.name, out)
    assert changed >= 2, f"{op.name} changed only {changed} of its items"


def test_waf_a_mole_ops_by_hand() -> None:
    rng = random.Random(0)
    taut = OPS["sql_tautology"]("1 or 1=1", rng)
    assert "1=1" not in taut and taut.startswith("1 or ")
    assert OPS["sql_operator_swap"]("1 OR 2 and 3", rng) == "1 || 2 && 3"
    assert OPS["sql_logical_invariant"]("' union select 1--", random.Random(0)).endswith("--")
    assert OPS["sql_int_encoding"]("1 union select 10,2", rng) == "0x1 union select 0xa,0x2"
    assert OPS["inline_comments"]("1 union select user()", rng) == "1/**/union/**/select/**/user()"
    assert OPS["ws_pct0a"]("a b", rng) == "a%0ab"
    # Nothing to rewrite: unchanged (evade then leaves the pair out).
    assert OPS["sql_tautology"]("admin'--", rng) == "admin'--"
    assert OPS["html_entities"]("<script>alert(1)</script>", rng) == "<script>alert(1)</script>"


def test_evade_pairs_are_applicable_changed_and_deterministic() -> None:
    texts = [t for t, _ in ITEMS] + ["hello world"]
    labels = [l for _, l in ITEMS] + ["benign"]
    ops = builtin_ops()
    out = evade(texts, labels, ops, seed=3)
    assert out == evade(texts, labels, ops, seed=3)
    assert all(m.original != m.mutated for m in out)
    assert "hello world" not in {m.original for m in out}           # benign items are never mutated
    by_op = {m.op for m in out if m.original in XSS}
    assert "sql_tautology" not in by_op and "html_entities" in by_op
    # Per-(op, item) seeding: one op alone gives the same pairs as within the full list.
    alone = evade(texts, labels, [OPS["random_case"]], seed=3)
    assert alone == [m for m in out if m.op == "random_case"]
    with pytest.raises(ValueError):
        evade(["a"], [], ops)


def test_evade_skips_an_op_that_raises() -> None:
    from secllm.eval.evasion import Mutation

    def boom(text: str, rng: random.Random) -> str:
        raise RuntimeError("tamper failed")

    bad = Mutation("boom", boom, frozenset({"sqli"}), "test")
    assert evade(["1 or 1=1"], ["sqli"], [bad, OPS["ws_tab"]]) == [("ws_tab", "1 or 1=1", "1\tor\t1=1")]


needs_sqlmap = pytest.mark.skipif(not sqlmap_available(), reason="Debian's sqlmap is not installed")


@needs_sqlmap
def test_sqlmap_tampers_load_and_transform() -> None:
    state = random.getstate()
    tampers = sqlmap_tampers(DEFAULT_TAMPERS)
    assert [t.name for t in tampers] == [f"sqlmap:{n}" for n in DEFAULT_TAMPERS]
    rng = random.Random(0)
    for t in tampers:
        outs = {t("1 AND 1=1", rng), t("1' AND '1'='1", rng)}
        assert outs - {"1 AND 1=1", "1' AND '1'='1"}, f"{t.name} changed nothing"
    byname = {t.name: t for t in tampers}
    assert byname["sqlmap:space2comment"]("1 AND 1=1", rng) == "1/**/AND/**/1=1"
    assert byname["sqlmap:equaltolike"]("1 AND 1=1", rng) == "1 AND 1 LIKE 1"
    assert byname["sqlmap:versionedkeywords"]("1 AND 1=1", rng) == "1/*!AND*/1=1"
    # Seeded through our rng, and the caller's global random state is left as it was.
    rc = byname["sqlmap:randomcase"]
    assert rc("1 AND 1=1", random.Random(5)) == rc("1 AND 1=1", random.Random(5))
    assert random.getstate() == state
    # Used through evade like any operator (SQLi only).
    pairs = evade(["1 AND 1=1", "<b onmouseover=alert(1)>"], ["sqli", "xss"], tampers, seed=0)
    assert pairs and {m.original for m in pairs} == {"1 AND 1=1"}


@needs_sqlmap
def test_sqlmap_unknown_tamper_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown sqlmap tamper 'nope'.*space2comment"):
        sqlmap_tampers(["nope"])


def test_sqlmap_missing_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(SqlmapUnavailable, match="sqlmap"):
        sqlmap_tampers(["space2comment"], root=tmp_path)
