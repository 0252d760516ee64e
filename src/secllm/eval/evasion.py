"""Evasion tests: mutate SQL-injection and XSS test items the way attackers do, then re-test.

A detector that flags ``' or 1=1--`` but not ``'%20oR/**/2>1--`` has learned a string, not an
attack. This module provides the mutations (``EVALUATION.md``, "inappropriate threat model"):

* **encoding** -- percent, double percent, HTML entities (inside attribute values / ``javascript:``
  URLs, where a browser decodes them), Unicode fullwidth forms (folded back by NFKC);
* **case** -- random upper/lower case of letters;
* **comments** -- ``/**/`` between SQL keywords;
* **whitespace** -- spaces replaced by tab, newline, ``%0a`` or ``/**/``;
* **SQL mutations in the style of WAF-A-MoLE** (Demetrio et al., 2020) -- tautology rewriting
  (``1=1`` -> ``2>1``), operator swapping (``or`` -> ``||``), logical invariants (``and 1``),
  integer hex encoding, comment rewriting;
* **sqlmap's own tamper scripts** from Debian's ``sqlmap`` package (imported and called, never
  copied): :func:`sqlmap_tampers`.

Every mutation is a :class:`Mutation`: a named pure function ``(text, rng) -> text`` (all
randomness comes from ``rng``) with the labels it applies to. An operator that finds nothing to
change returns the text unchanged; :func:`evade` leaves such pairs out, so "before" and "after"
detection rates are measured on exactly the items the operator changed.

>>> import random
>>> OPS["sql_tautology"]("1' or 1=1--", random.Random(0)) != "1' or 1=1--"
True
>>> OPS["ws_tab"]("1 union select 2", random.Random(0))
'1\\tunion\\tselect\\t2'
>>> [m.op for m in evade(["' or 1=1--", "hello"], ["sqli", "benign"], [OPS["sql_operator_swap"]], seed=0)]
['sql_operator_swap']
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "DEFAULT_TAMPERS",
    "OPS",
    "SQLMAP_ROOT",
    "Mutated",
    "Mutation",
    "SqlmapUnavailable",
    "builtin_ops",
    "evade",
    "sqlmap_available",
    "sqlmap_tampers",
]

MutationFn = Callable[[str, random.Random], str]


@dataclass(frozen=True)
class Mutation:
    """A named evasion operator: ``op(text, rng) -> mutated text``.

    ``applies_to`` holds the task labels the operator makes sense for (an SQL tautology rewrite
    means nothing to an XSS payload); ``family`` groups operators in reports.

        >>> m = Mutation("upper", lambda t, rng: t.upper(), frozenset({"xss"}), "case")
        >>> m("<svg onload=x>", random.Random(0)), m.applies("sqli")
        ('<SVG ONLOAD=X>', False)
    """

    name: str
    fn: MutationFn
    applies_to: frozenset[str]
    family: str

    def __call__(self, text: str, rng: random.Random) -> str:
        return self.fn(text, rng)

    def applies(self, label: str) -> bool:
        return label in self.applies_to


class Mutated(NamedTuple):
    """One evasion pair produced by :func:`evade`."""

    op: str
    original: str
    mutated: str


SQLI_XSS = frozenset({"sqli", "xss"})
SQLI = frozenset({"sqli"})
XSS = frozenset({"xss"})

# Characters left alone by the encoders: letters, digits and URL-unreserved punctuation.
_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~")

# SQL words the comment / whitespace operators treat as keywords (a WAF looks for these).
_SQL_KEYWORDS = (
    "select|union|all|from|where|and|or|not|xor|like|order|group|by|having|limit|insert|into|values|"
    "update|set|delete|drop|table|exec|execute|sleep|benchmark|waitfor|delay|null|case|when|then|else|"
    "end|if|char|concat|information_schema|load_file|outfile"
)
_KEYWORD_RE = re.compile(rf"\b(?:{_SQL_KEYWORDS})\b", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _pct(ch: str) -> str:
    """Percent-encoding of one character's UTF-8 bytes (``'`` -> ``%27``)."""
    # Not urllib's quote(): it never encodes unreserved characters, and we want letters encoded too.
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def _pick(rng: random.Random, n: int, share: float) -> set[int]:
    """A random subset of ``range(n)`` holding about ``share`` of it, never empty when ``n > 0``."""
    if n == 0:
        return set()
    chosen = {i for i in range(n) if rng.random() < share}
    return chosen or {rng.randrange(n)}


# --------------------------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------------------------
def percent_encode(text: str, rng: random.Random) -> str:
    """Percent-encode every reserved character and a random third of the letters and digits.

    Encoding letters too is what defeats a rule that looks for ``select`` in the raw query
    string; the server decodes it back once.

        >>> from urllib.parse import unquote
        >>> s = percent_encode("' or 1=1", random.Random(1))
        >>> s.startswith("%27%20"), unquote(s)
        (True, "' or 1=1")
    """
    letters = [i for i, ch in enumerate(text) if ch in _UNRESERVED]
    extra = {letters[k] for k in _pick(rng, len(letters), 0.33)} if letters else set()
    return "".join(_pct(ch) if ch not in _UNRESERVED or i in extra else ch for i, ch in enumerate(text))


def double_percent_encode(text: str, rng: random.Random) -> str:
    """:func:`percent_encode`, then the ``%`` signs encoded again (``'`` -> ``%2527``).

    Evades a WAF that decodes once when the application decodes twice.

        >>> double_percent_encode("'", random.Random(0))
        '%2527'
    """
    return percent_encode(text, rng).replace("%", "%25")


_ATTR_VALUE = re.compile(r"""=\s*("[^"]*"|'[^']*'|[^\s>"']+)""")


def html_entity_encode(text: str, rng: random.Random) -> str:
    """Encode about half the characters of HTML attribute values as ``&#NN;`` / ``&#xNN;``.

    A browser decodes entities inside attribute values (``onerror=&#97;lert(1)`` runs), but not
    in tag names or ``<script>`` bodies, so only attribute values -- or the whole item when it is a
    ``javascript:`` URL that the application places into an ``href`` -- are encoded. Items without
    either are returned unchanged.

        >>> html_entity_encode("<img src=x onerror=alert(1)>", random.Random(0)) != "<img src=x onerror=alert(1)>"
        True
        >>> html_entity_encode("<script>alert(1)</script>", random.Random(0))
        '<script>alert(1)</script>'
    """
    spans: list[tuple[int, int]]
    if text.lstrip().lower().startswith("javascript:"):
        spans = [(len(text) - len(text.lstrip()), len(text))]
    else:
        spans = [(m.start(1), m.end(1)) for m in _ATTR_VALUE.finditer(text)]
    positions = [i for s, e in spans for i in range(s, e) if text[i] not in "\"' "]
    chosen = {positions[k] for k in _pick(rng, len(positions), 0.5)} if positions else set()
    out = []
    for i, ch in enumerate(text):
        if i in chosen:
            out.append(f"&#x{ord(ch):x};" if rng.random() < 0.5 else f"&#{ord(ch)};")
        else:
            out.append(ch)
    return "".join(out)


def unicode_fullwidth(text: str, rng: random.Random) -> str:
    """Replace about half the printable ASCII characters by their fullwidth forms (``<`` -> ``＜``).

    Unicode NFKC folds them back, so a stack that normalises input (and our canonicaliser) sees
    the original attack while a byte-level rule does not.

        >>> import unicodedata
        >>> s = unicode_fullwidth("<svg/onload=alert(1)>", random.Random(0))
        >>> unicodedata.normalize("NFKC", s)
        '<svg/onload=alert(1)>'
    """
    idx = [i for i, ch in enumerate(text) if 0x21 <= ord(ch) <= 0x7E]
    chosen = {idx[k] for k in _pick(rng, len(idx), 0.5)} if idx else set()
    return "".join(chr(ord(ch) + 0xFEE0) if i in chosen else ch for i, ch in enumerate(text))


# --------------------------------------------------------------------------------------------
# case, comments, whitespace
# --------------------------------------------------------------------------------------------
def random_case(text: str, rng: random.Random) -> str:
    """Flip the case of about half the letters (``select`` -> ``sElEcT``); SQL keywords and HTML
    tag/attribute names are case-insensitive.

        >>> random_case("union select", random.Random(0)).lower()
        'union select'
    """
    idx = [i for i, ch in enumerate(text) if ch.isalpha() and ch.swapcase() != ch]
    chosen = {idx[k] for k in _pick(rng, len(idx), 0.5)} if idx else set()
    return "".join(ch.swapcase() if i in chosen else ch for i, ch in enumerate(text))


_WS_RUN = re.compile(r"[ \t\r\n]+")


def _replace_keyword_spaces(text: str, rng: random.Random, sep: Callable[[random.Random], str]) -> str:
    """Replace the blank runs next to SQL keywords by ``sep(rng)``."""
    keyword_edges = set()
    for m in _KEYWORD_RE.finditer(text):
        keyword_edges.update((m.start(), m.end()))
    out, last = [], 0
    for m in _WS_RUN.finditer(text):
        if m.start() in keyword_edges or m.end() in keyword_edges:
            out += [text[last:m.start()], sep(rng)]
            last = m.end()
    out.append(text[last:])
    return "".join(out)


def inline_comments(text: str, rng: random.Random) -> str:
    """Put ``/**/`` between SQL keywords: blanks next to a keyword become ``/**/``, and a keyword
    directly followed by ``(`` gets one too (``sleep(5)`` -> ``sleep/**/(5)``).

        >>> inline_comments("1 union select user()", random.Random(0))
        '1/**/union/**/select/**/user()'
    """
    out = _replace_keyword_spaces(text, rng, lambda r: "/**/")
    return re.sub(rf"\b({_SQL_KEYWORDS})\(", r"\1/**/(", out, flags=re.IGNORECASE)


def _whitespace_op(sep: str) -> MutationFn:
    def op(text: str, rng: random.Random) -> str:
        return _WS_RUN.sub(sep, text)

    op.__doc__ = f"Replace every blank run by {sep!r}."
    return op


# --------------------------------------------------------------------------------------------
# WAF-A-MoLE-style SQL mutations
# --------------------------------------------------------------------------------------------
_NUM_TAUT = re.compile(r"\b(\d+)\s*=\s*(\d+)\b")
_STR_TAUT = re.compile(r"""(['"])(\w*)\1\s*=\s*(['"])(\w*)(?=\3|$|\s|-|#|\))""")


def sql_tautology(text: str, rng: random.Random) -> str:
    """Rewrite tautologies: ``1=1`` -> ``2>1`` / ``3<>4`` / ``5 between 4 and 6`` / ``not 0>1``;
    ``'a'='a`` -> ``'a' like 'a``. Items without a tautology are returned unchanged.

        >>> sql_tautology("' or 1=1--", random.Random(3))
        "' or 5-5=0--"
        >>> sql_tautology("a' or 'x'='x", random.Random(0))
        "a' or 'x' like 'x"
    """

    def numeric(m: re.Match[str]) -> str:
        if m.group(1) != m.group(2):
            return m.group(0)
        a = rng.randint(2, 9)
        return rng.choice([f"{a}>{a - 1}", f"{a}<>{a + 1}", f"{a} between {a - 1} and {a + 1}", f"not {a}<{a - 1}",
                           f"{a}-{a}=0"])

    def string(m: re.Match[str]) -> str:
        q1, a, q2, b = m.groups()
        if a != b:
            return m.group(0)
        return f"{q1}{a}{q1} like {q2}{b}"

    return _STR_TAUT.sub(string, _NUM_TAUT.sub(numeric, text))


_OPERATORS = ((re.compile(r"\bor\b", re.IGNORECASE), "||"), (re.compile(r"\band\b", re.IGNORECASE), "&&"))


def sql_operator_swap(text: str, rng: random.Random) -> str:
    """Swap logical keywords for their MySQL symbols: ``or`` -> ``||``, ``and`` -> ``&&``.

        >>> sql_operator_swap("1' or '1'='1' and 2>1", random.Random(0))
        "1' || '1'='1' && 2>1"
    """
    for pattern, symbol in _OPERATORS:
        text = pattern.sub(symbol, text)
    return text


_TRAILING_COMMENT = re.compile(r"(\s*(?:--[^\n]*|#[^\n]*|/\*[^*]*\*/)\s*)$")


def sql_logical_invariant(text: str, rng: random.Random) -> str:
    """Append a condition that changes nothing (``and 1``, ``and true``, ``or 0``, ``and 2>1``)
    before the trailing comment, or at the end.

        >>> sql_logical_invariant("1' or '1'='1'--", random.Random(0))
        "1' or '1'='1' and 2>1--"
    """
    extra = rng.choice([" and 1", " and true", " or 0", " and 2>1", " && 1"])
    m = _TRAILING_COMMENT.search(text)
    if m and m.start() > 0:
        return text[: m.start()] + extra + text[m.start():]
    if text.count("'") % 2:
        # The item ends inside a string the application closes ("1' or '1'='1"): an appended
        # condition would land inside that string, so there is no invariant to add.
        return text
    return text + extra


# Digits next to a quote sit inside a string literal ('1'='1): hex there would change nothing SQL reads.
_INTEGER = re.compile(r"(?<![\w.%&#'\"])(\d+)(?![\w.'\"])")


def sql_int_encoding(text: str, rng: random.Random) -> str:
    """Write integer literals in hexadecimal (``1`` -> ``0x1``), as MySQL reads them.

        >>> sql_int_encoding("1 union select 1,2--", random.Random(0))
        '0x1 union select 0x1,0x2--'
    """
    return _INTEGER.sub(lambda m: hex(int(m.group(1))), text)


def sql_comment_rewrite(text: str, rng: random.Random) -> str:
    """Change comment contents and styles: ``--`` -> ``-- <junk>`` or ``#<junk>``, ``/**/`` ->
    ``/*<junk>*/``. Items without a comment are returned unchanged.

        >>> sql_comment_rewrite("admin'--", random.Random(0)).startswith("admin'")
        True
    """
    junk = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(3, 8)))
    out = re.sub(r"/\*\*/", f"/*{junk}*/", text)
    if out == text:
        # MySQL needs a blank after "--"; "#" ends the statement in MySQL too.
        out = re.sub(r"--([^\n]*)$", lambda m: rng.choice([f"-- {junk}", f"#{junk}"]), text)
    if out == text:
        out = re.sub(r"#([^\n]*)$", f"#{junk}", text)
    return out


def xss_attribute_slash(text: str, rng: random.Random) -> str:
    """Separate tag name and attributes by ``/`` instead of blanks (``<img/src=x/onerror=...>``),
    which HTML parsers accept.

        >>> xss_attribute_slash("<img src=x onerror=alert(1)>", random.Random(0))
        '<img/src=x/onerror=alert(1)>'
    """

    def tag(m: re.Match[str]) -> str:
        return re.sub(r"\s+(?=[a-zA-Z-]+\s*=)", "/", m.group(0))

    return re.sub(r"<[a-zA-Z][^<>]*>?", tag, text)


# --------------------------------------------------------------------------------------------
# registry of the built-in operators
# --------------------------------------------------------------------------------------------
def builtin_ops() -> list[Mutation]:
    """The built-in operators, in report order.

        >>> [m.name for m in builtin_ops()][:3]
        ['percent', 'double_percent', 'html_entities']
    """
    return [
        Mutation("percent", percent_encode, SQLI_XSS, "encoding"),
        Mutation("double_percent", double_percent_encode, SQLI_XSS, "encoding"),
        Mutation("html_entities", html_entity_encode, XSS, "encoding"),
        Mutation("unicode_fullwidth", unicode_fullwidth, SQLI_XSS, "encoding"),
        Mutation("random_case", random_case, SQLI_XSS, "case"),
        Mutation("inline_comments", inline_comments, SQLI, "comment"),
        Mutation("ws_tab", _whitespace_op("\t"), SQLI_XSS, "whitespace"),
        Mutation("ws_newline", _whitespace_op("\n"), SQLI_XSS, "whitespace"),
        Mutation("ws_pct0a", _whitespace_op("%0a"), SQLI_XSS, "whitespace"),
        Mutation("ws_comment", _whitespace_op("/**/"), SQLI, "whitespace"),
        Mutation("xss_attr_slash", xss_attribute_slash, XSS, "whitespace"),
        Mutation("sql_tautology", sql_tautology, SQLI, "waf-a-mole"),
        Mutation("sql_operator_swap", sql_operator_swap, SQLI, "waf-a-mole"),
        Mutation("sql_logical_invariant", sql_logical_invariant, SQLI, "waf-a-mole"),
        Mutation("sql_int_encoding", sql_int_encoding, SQLI, "waf-a-mole"),
        Mutation("sql_comment_rewrite", sql_comment_rewrite, SQLI, "waf-a-mole"),
    ]


OPS: dict[str, Mutation] = {m.name: m for m in builtin_ops()}


# --------------------------------------------------------------------------------------------
# sqlmap tamper scripts (Debian package "sqlmap")
# --------------------------------------------------------------------------------------------
SQLMAP_ROOT = Path("/usr/share/sqlmap")
DEFAULT_TAMPERS = (
    "space2comment",
    "randomcase",
    "charencode",
    "between",
    "equaltolike",
    "apostrophemask",
    "percentage",
    "symboliclogical",
    "unmagicquotes",
    "versionedkeywords",
)


class SqlmapUnavailable(RuntimeError):
    """sqlmap's tamper scripts cannot be loaded (package missing or its modules clash)."""


_SQLMAP_LOCK = threading.Lock()
_SQLMAP_READY: Path | None = None


def sqlmap_available(root: Path = SQLMAP_ROOT) -> bool:
    """Whether sqlmap's tamper scripts are installed under ``root``.

        >>> isinstance(sqlmap_available(), bool)
        True
    """
    return (root / "tamper" / "space2comment.py").is_file() and (root / "lib" / "core" / "common.py").is_file()


def _ensure_sqlmap(root: Path) -> None:
    """Import sqlmap's ``lib`` package from ``root`` and set the state its tampers read.

    The tampers do ``from lib.core... import ...``: sqlmap's root must be importable as a top-level
    path while they load. It is put first on ``sys.path`` only for the imports and removed again,
    and the loaded ``lib`` package is checked to be sqlmap's (another installed top-level ``lib``
    would be a silent mix-up). Some tampers read ``kb.keywords`` (set by sqlmap's option parsing,
    which we do not run), so it is filled from sqlmap's own keyword list.
    """
    global _SQLMAP_READY
    if _SQLMAP_READY is not None:
        if _SQLMAP_READY != root:
            raise SqlmapUnavailable(f"sqlmap already loaded from {_SQLMAP_READY}; cannot also load {root}")
        return
    if not sqlmap_available(root):
        raise SqlmapUnavailable(
            f"sqlmap's tamper scripts were not found under {root}: install Debian's sqlmap package "
            "(apt-get install sqlmap; scripts/install_system_deps.sh does it)"
        )
    existing = sys.modules.get("lib")
    if existing is not None and not _is_under(existing, root):
        raise SqlmapUnavailable(f"a different top-level module 'lib' is already imported ({existing!r}); "
                                "sqlmap's tampers need their own")
    with _sqlmap_on_path(root), _stdout_with_fileno(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqlmap's file helpers warn about line buffering on binary files
        common = importlib.import_module("lib.core.common")
        data = importlib.import_module("lib.core.data")
        importlib.import_module("tamper")
        if not _is_under(sys.modules["lib"], root) or not _is_under(sys.modules["tamper"], root):
            raise SqlmapUnavailable("the imported 'lib'/'tamper' packages are not sqlmap's")
        common.setPaths(str(root))
        kb = data.kb
        if "keywords" not in kb:
            kb.keywords = set(common.getFileItems(data.paths.SQL_KEYWORDS))
        if "aliasName" not in kb:
            kb.aliasName = "secllm"  # sleep2getlock's lock name; normally random per sqlmap run
    _SQLMAP_READY = root


def _is_under(module: Any, root: Path) -> bool:
    files = [getattr(module, "__file__", None), *list(getattr(module, "__path__", []) or [])]
    return any(f and Path(f).resolve().is_relative_to(root.resolve()) for f in files)


@contextlib.contextmanager
def _sqlmap_on_path(root: Path) -> Iterator[None]:
    entry = str(root)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


@contextlib.contextmanager
def _stdout_with_fileno() -> Iterator[None]:
    """sqlmap's settings module calls ``sys.stdout.fileno()`` at import time; under a stream without
    one (click's CliRunner, notebooks) lend it /dev/null for the duration of the import."""
    try:
        sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        saved = sys.stdout
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            sys.stdout = devnull
            try:
                yield
            finally:
                sys.stdout = saved
        return
    yield


@contextlib.contextmanager
def _global_random(seed: int) -> Iterator[None]:
    """Seed the global ``random`` module (sqlmap's tampers draw from it) and restore its state after."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _tamper_op(name: str, fn: Callable[..., Any]) -> Mutation:
    def op(text: str, rng: random.Random) -> str:
        # The global random state is shared: hold a lock so two threads cannot interleave seeds.
        with _SQLMAP_LOCK, _global_random(rng.getrandbits(32)):
            out = fn(text, headers={}, hints={})
        return text if out is None else str(out)

    op.__doc__ = f"sqlmap tamper script {name!r}"
    return Mutation(f"sqlmap:{name}", op, SQLI, "sqlmap-tamper")


def sqlmap_tampers(names: Sequence[str] = DEFAULT_TAMPERS, *, root: Path = SQLMAP_ROOT) -> list[Mutation]:
    """sqlmap's tamper scripts as :class:`Mutation` objects (SQL injection only), by script name.

    The scripts are imported from Debian's package and called as sqlmap calls them
    (``tamper(payload, headers=..., hints=...)``); nothing of theirs is copied here. Raises
    :class:`SqlmapUnavailable` when sqlmap is missing and ``ValueError`` for an unknown name.

        >>> [t("1 AND 1=1", random.Random(0)) for t in sqlmap_tampers(["space2comment"])]  # doctest: +SKIP
        ['1/**/AND/**/1=1']
    """
    # sqlmap's modules draw random numbers at import time: keep the caller's global state intact.
    state = random.getstate()
    try:
        with _SQLMAP_LOCK:
            _ensure_sqlmap(root)
        known = sorted(p.stem for p in (root / "tamper").glob("*.py") if not p.stem.startswith("_"))
        out = []
        for name in names:
            if name not in known:
                raise ValueError(f"unknown sqlmap tamper {name!r}; available: {', '.join(known)}")
            with _SQLMAP_LOCK, _sqlmap_on_path(root), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(f"tamper.{name}")
            out.append(_tamper_op(name, module.tamper))
    finally:
        random.setstate(state)
    return out


# --------------------------------------------------------------------------------------------
# applying operators to a test set
# --------------------------------------------------------------------------------------------
def evade(texts: Sequence[str], labels: Sequence[str], ops: Sequence[Mutation], seed: int = 0) -> list[Mutated]:
    """Every applicable operator on every item: ``[(op name, original, mutated), ...]``.

    An operator is applied to an item when it ``applies`` to the item's label. Pairs where the
    operator changed nothing are left out, and so are operators that raise on an item (a tamper
    script choking on odd input must not stop the evaluation). Each (operator, item) pair draws
    from its own generator seeded by ``(seed, op name, index)``, so the output does not depend
    on the order or number of operators.

        >>> out = evade(["1 or 1=1", "<b>"], ["sqli", "xss"], [OPS["ws_tab"], OPS["sql_operator_swap"]])
        >>> [(m.op, m.mutated) for m in out]
        [('ws_tab', '1\\tor\\t1=1'), ('sql_operator_swap', '1 || 1=1')]
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    out: list[Mutated] = []
    for op in ops:
        for i, (text, label) in enumerate(zip(texts, labels)):
            if not op.applies(label):
                continue
            rng = random.Random(f"{seed}:{op.name}:{i}")
            try:
                mutated = op(text, rng)
            except Exception:  # noqa: BLE001 -- see docstring
                continue
            if mutated != text:
                out.append(Mutated(op.name, text, mutated))
    return out
