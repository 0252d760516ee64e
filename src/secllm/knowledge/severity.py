"""Severity on one stated scale: CVSS v3.1 base scores of a representative vector.

Each verdict class gets the vector of a *typical successful* attack of that class (what an
analyst would score if the attack worked against an exposed target), and the score follows the
CVSS v3.1 specification's formula (FIRST, section 7.1 and Appendix A ``Roundup``). Levels are
CVSS v3.1's qualitative bands. It is a class-level prior, not the score of any CVE or incident.

    >>> cvss31_base("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")      # unauthenticated RCE
    9.8
    >>> cvss31_base("AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")      # reflected XSS
    6.1
    >>> cvss31_base("AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"), level(10.0), level(3.7), level(0)
    (10.0, 'critical', 'low', 'none')
"""

from __future__ import annotations

import math

__all__ = ["SCALE", "cvss31_base", "level", "describe_vector"]

SCALE = ("CVSS v3.1 base score (0-10) of a representative successful attack of this class; "
         "levels: none 0, low 0.1-3.9, medium 4.0-6.9, high 7.0-8.9, critical 9.0-10.0")

_W = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "CIA": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_WORDS = {
    "AV": {"N": "network", "A": "adjacent network", "L": "local", "P": "physical"},
    "AC": {"L": "low complexity", "H": "high complexity"},
    "PR": {"N": "no privileges", "L": "low privileges", "H": "high privileges"},
    "UI": {"N": "no user interaction", "R": "a user must act"},
    "S": {"U": "same scope", "C": "scope changes"},
}


def _parse(vector: str) -> dict[str, str]:
    parts = dict(p.split(":", 1) for p in vector.removeprefix("CVSS:3.1/").split("/"))
    need = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")
    if set(parts) != set(need):
        raise ValueError(f"a CVSS v3.1 base vector needs exactly {'/'.join(need)}: {vector!r}")
    return parts


def _roundup(x: float) -> float:
    """CVSS v3.1 Appendix A: the smallest number with one decimal that is >= x (float-safe)."""
    i = int(round(x * 100000))
    return i / 100000.0 if i % 10000 == 0 else (math.floor(i / 10000) + 1) / 10.0


def cvss31_base(vector: str) -> float:
    """The CVSS v3.1 base score of ``vector`` (``AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H``)."""
    v = _parse(vector)
    iss = 1 - (1 - _W["CIA"][v["C"]]) * (1 - _W["CIA"][v["I"]]) * (1 - _W["CIA"][v["A"]])
    changed = v["S"] == "C"
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    expl = 8.22 * _W["AV"][v["AV"]] * _W["AC"][v["AC"]] * _PR[v["S"]][v["PR"]] * _W["UI"][v["UI"]]
    if impact <= 0:
        return 0.0
    return _roundup(min(1.08 * (impact + expl), 10)) if changed else _roundup(min(impact + expl, 10))


def level(score: float) -> str:
    """CVSS v3.1 qualitative rating of a score."""
    if score <= 0:
        return "none"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def describe_vector(vector: str) -> str:
    """A CVSS vector in words.

        >>> describe_vector("AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
        'network, low complexity, no privileges, a user must act, scope changes; C:L I:L A:N'
    """
    v = _parse(vector)
    head = ", ".join(_WORDS[k][v[k]] for k in ("AV", "AC", "PR", "UI", "S"))
    return f"{head}; C:{v['C']} I:{v['I']} A:{v['A']}"
