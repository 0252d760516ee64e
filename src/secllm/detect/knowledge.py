"""Verdicts carry knowledge: each malicious result gets ``knowledge`` (CWE, ATT&CK, tactics,
severity, mitigations, catalogue versions) from the reviewed table in :mod:`secllm.knowledge.verdicts`.

One call at the place results are written (``secllm detect --json``, ``secllm scan`` findings,
the REST API's ``/v1/detect``):

    >>> attach_knowledge(results, task_of(detector))             # doctest: +SKIP
    >>> results[0].knowledge["cwe"]                               # doctest: +SKIP
    ['CWE-89']

Benign results (and classes that are not threats, such as ordinary traffic applications) get
none. Without the catalogue packages a malicious result gets a warning instead of knowledge.
"""

from __future__ import annotations

from collections.abc import Iterable

from secllm.detect.detector import Detection, Status

__all__ = ["attach_knowledge", "knowledge_label", "task_of", "warm_knowledge"]

FAIL_CLOSED = "too_complex"        # the hardening pass's fail-closed verdict (status or attack type)


def task_of(detector) -> str:
    """The task a detector judges: a task detector's spec name, else the web-attack detector."""
    spec = getattr(detector, "spec", None)
    return getattr(spec, "name", None) or getattr(detector, "task", None) or "web-attack"


def knowledge_label(r: Detection) -> str | None:
    """Which label of ``r`` the knowledge table is asked about (``None``: nothing to explain)."""
    if r.status == FAIL_CLOSED or r.attack_type == FAIL_CLOSED:
        return FAIL_CLOSED
    if r.status != Status.OK or r.label in (None, "benign"):
        return None
    return r.attack_type or r.label


def attach_knowledge(results: Iterable[Detection], task: str) -> None:
    """Set ``r.knowledge`` on every result that the table explains (in place)."""
    from secllm.knowledge import CatalogNotInstalled
    from secllm.knowledge.verdicts import knowledge_for

    for r in results:
        label = knowledge_label(r)
        if label is None:
            continue
        try:
            r.knowledge = knowledge_for(r.task or task, label)      # a routed result names its own task
        except CatalogNotInstalled as exc:
            r.warnings.append(f"knowledge unavailable: {exc}")
            return


def warm_knowledge() -> bool:
    """Load the catalogues and precompute the table (servers call this at start-up); ``False``
    when the catalogue packages are not installed (results then carry a warning, not knowledge)."""
    from secllm.knowledge import CatalogNotInstalled
    from secllm.knowledge.verdicts import warm

    try:
        warm()
    except CatalogNotInstalled:
        return False
    return True
