"""The one door from the correlator to the knowledge layer (``secllm.knowledge``).

``knowledge(task, label)`` is :func:`secllm.knowledge.verdicts.knowledge_for` -- ``{"cwe", "attack",
"tactics", "severity": {"level", "score", "scale", "reason"}, "mitigations", "catalogs", ...}`` or
``None`` -- cached per verdict (the correlator asks once per finding; the table answers with a
fresh copy each time). Without the catalogue packages it answers ``None`` and the correlator falls
back on the alert taxonomy.

    >>> knowledge("web-attack", "sqli")["tactics"]
    ['initial-access']
    >>> knowledge("web-attack", "no-such-label") is None
    True
    >>> TACTIC_ORDER.index("reconnaissance") < TACTIC_ORDER.index("impact")
    True
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from secllm.knowledge import TACTIC_ORDER as _KB_TACTIC_ORDER
from secllm.knowledge import CatalogNotInstalled

TACTIC_ORDER: tuple[str, ...] = tuple(_KB_TACTIC_ORDER)     # the 14 Enterprise tactics in kill-chain order
TACTIC_RANK = {t: i for i, t in enumerate(TACTIC_ORDER)}


@functools.lru_cache(maxsize=4096)
def _cached(task: str, label: str) -> dict[str, Any] | None:
    from secllm.knowledge.verdicts import knowledge_for

    try:
        return knowledge_for(task, label)
    except CatalogNotInstalled:           # no catalogue packages: no knowledge, the correlation goes on
        return None


def knowledge(task: str, label: str) -> dict[str, Any] | None:
    """Knowledge for a verdict (a copy: callers may annotate it), or ``None`` when none is known."""
    k = _cached(task, label)
    return copy.deepcopy(k) if k is not None else None


def tactics_of(task: str, label: str) -> tuple[tuple[str, ...], tuple[str, ...], float | None]:
    """``(tactics, techniques, severity score)`` of a verdict (cached, no copy), or empty tuples."""
    k = _cached(task, label)
    if not k:
        return (), (), None
    sev = (k.get("severity") or {}).get("score")
    return (tuple(t for t in k.get("tactics") or () if t in TACTIC_RANK), tuple(k.get("attack") or ()),
            float(sev) if sev is not None else None)
