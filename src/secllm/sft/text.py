"""Text keys for de-duplication and for the evaluation-overlap (contamination) check.

    >>> normalize("What  is SQL-Injection? (2024)")
    'whatissqlinjection0'
    >>> sorted(ngrams("the quick brown fox jumps", 3))
    [('brown', 'fox', 'jumps'), ('quick', 'brown', 'fox'), ('the', 'quick', 'brown')]
    >>> words("SQL注入是什么")
    ['sql', '注', '入', '是', '什', '么']

``normalize`` is the near-duplicate key: NFKC, lower case, every digit run → ``0``, everything but
letters and CJK characters removed — so two templates that differ only in spacing, punctuation or
numbers collide. ``words`` is the n-gram unit of the overlap check: Latin words and single CJK
characters (Chinese has no spaces; one character is the usual unit of Chinese n-gram overlap).
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = re.compile(r"\d+")
_KEEP = re.compile(r"[^\w]|_", re.UNICODE)
_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_\u3400-\u9fff\uf900-\ufaff]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def normalize(text: str) -> str:
    """Near-duplicate key (see the module doc)."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = _DIGITS.sub("0", t)
    return _KEEP.sub("", t)


def words(text: str) -> list[str]:
    """Lower-cased Latin/digit words and single CJK characters, in order."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def ngrams(text_or_words: str | list[str], n: int) -> set[tuple[str, ...]]:
    """The set of word n-grams of a text (or of a word list)."""
    w = words(text_or_words) if isinstance(text_or_words, str) else text_or_words
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def is_chinese(text: str, share: float = 0.2) -> bool:
    """True when at least ``share`` of the letters are CJK characters.

        >>> is_chinese("什么是 SQL 注入？"), is_chinese("What is SQL injection?")
        (True, False)
    """
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(1 for c in letters if _CJK.match(c)) / len(letters) >= share
