"""The cheap first stage: parts that cannot carry an injection skip the Transformer.

A single bare token of letters, digits and ``_ . - @`` (no ``..``, no separators, quotes,
brackets, operators or whitespace) cannot carry an injection by itself: ``home``, ``123``,
``john.smith``. Most real parameter values look like that, so this stage also saves most of the
model's work on normal traffic. Its effect on recall is measured by the benchmark, which runs
every test item through the full detect path (HttpParams test: 1 of 3,617 SQLi items, the
arithmetic probe ``5739-5738``, is a bare token).

    >>> is_bare_token("john.smith"), is_bare_token("1 or 1=1"), is_bare_token("../etc")
    (True, False, False)
"""

from __future__ import annotations

import re

BARE_TOKEN = re.compile(r"(?!.*\.\.)[a-z0-9_.\-@]{1,64}")


def is_bare_token(canonical_text: str) -> bool:
    """True when the (canonical, lower-cased) text is one bare token."""
    return BARE_TOKEN.fullmatch(canonical_text.strip()) is not None
