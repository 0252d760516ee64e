"""Catalogue identifiers: recognise and normalise the ids an analyst types.

    >>> normalize_id("t1059.001"), normalize_id("cwe 89"), normalize_id("CWE89"), normalize_id("m1050")
    ('T1059.001', 'CWE-89', 'CWE-89', 'M1050')
    >>> normalize_id("capec-66"), normalize_id("cve-2021-44228"), normalize_id("SQL injection") is None
    ('CAPEC-66', 'CVE-2021-44228', True)
    >>> id_kind("TA0001"), id_kind("G0016"), id_kind("CWE-79")
    ('tactic', 'group', 'cwe')
"""

from __future__ import annotations

import re

# kind → (pattern on the upper-cased, trimmed text, canonical format)
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("technique", re.compile(r"^T(\d{4})(?:\.(\d{3}))?$")),
    ("tactic", re.compile(r"^TA(\d{4})$")),
    ("mitigation", re.compile(r"^M(\d{4})$")),
    ("group", re.compile(r"^G(\d{4})$")),
    ("software", re.compile(r"^S(\d{4})$")),
    ("campaign", re.compile(r"^C(\d{4})$")),
    ("detection-strategy", re.compile(r"^DET(\d{4})$")),
    ("analytic", re.compile(r"^AN(\d{4})$")),
    ("data-component", re.compile(r"^DC(\d{4})$")),
    ("cwe", re.compile(r"^CWE[-_ ]?(?:ID[-_ ]?)?(\d{1,5})$")),
    ("capec", re.compile(r"^CAPEC[-_ ]?(\d{1,5})$")),
    ("cve", re.compile(r"^CVE[-_ ](\d{4})[-_ ](\d{4,8})$")),
)
_PREFIX = {"technique": "T", "tactic": "TA", "mitigation": "M", "group": "G", "software": "S", "campaign": "C",
           "detection-strategy": "DET", "analytic": "AN", "data-component": "DC"}

# an id anywhere in free text (for "what is T1190 and CWE-89?")
ID_IN_TEXT = re.compile(
    r"(?<![\w.-])(?:T\d{4}(?:\.\d{3})?|TA\d{4}|M\d{4}|G\d{4}|S\d{4}|C\d{4}|DET\d{4}|AN\d{4}|DC\d{4}"
    r"|CWE[-_ ]?\d{1,5}|CAPEC[-_ ]?\d{1,5}|CVE-\d{4}-\d{4,8})(?![\w-])", re.IGNORECASE)


def _match(text: str) -> tuple[str, re.Match[str]] | None:
    t = text.strip().upper()
    for kind, pat in _PATTERNS:
        m = pat.match(t)
        if m:
            return kind, m
    return None


def normalize_id(text: str) -> str | None:
    """The canonical form of a catalogue id (``T1059.001``, ``CWE-89``, ``CVE-2021-44228``), else ``None``."""
    hit = _match(text)
    if hit is None:
        return None
    kind, m = hit
    if kind == "technique":
        return f"T{m.group(1)}" + (f".{m.group(2)}" if m.group(2) else "")
    if kind == "cwe":
        return f"CWE-{int(m.group(1))}"
    if kind == "capec":
        return f"CAPEC-{int(m.group(1))}"
    if kind == "cve":
        return f"CVE-{m.group(1)}-{m.group(2)}"
    return f"{_PREFIX[kind]}{m.group(1)}"


def id_kind(text: str) -> str | None:
    """Which kind of id ``text`` is (``technique``, ``tactic``, ``cwe``, ``cve`` ...), else ``None``."""
    hit = _match(text)
    return hit[0] if hit else None


def ids_in_text(text: str) -> list[str]:
    """Every catalogue id written in ``text``, normalised, first occurrence order.

        >>> ids_in_text("T1190 (exploit) and cwe-89; see T1190 again")
        ['T1190', 'CWE-89']
    """
    out: dict[str, None] = {}
    for m in ID_IN_TEXT.finditer(text):
        n = normalize_id(m.group(0))
        if n:
            out.setdefault(n)
    return list(out)
