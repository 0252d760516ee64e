"""Security knowledge: MITRE ATT&CK Enterprise and CWE, read as their PyPI packages ship them.

Floor 0 (imports only stdlib, numpy and the catalogue packages). Catalogues load lazily, once
per process, into typed, cross-linked dataclasses:

    >>> from secllm.knowledge import load_attack, load_cwe, TACTIC_ORDER   # doctest: +SKIP
    >>> att, cwe = load_attack(), load_cwe()                               # doctest: +SKIP
    >>> att.version, cwe.version                                           # doctest: +SKIP
    ('18.1', '4.14')
    >>> t = att.techniques["T1059.001"]; t.full_name, t.tactics            # doctest: +SKIP
    ('Command and Scripting Interpreter: PowerShell', ('execution',))
    >>> [att.mitigations[m].name for m in att.techniques["T1190"].mitigations][:2]   # doctest: +SKIP
    ['Vulnerability Scanning', 'Privileged Account Management']
    >>> w = cwe.get("CWE-89"); w.capec[:1], w.mitigations[1].strategy      # doctest: +SKIP
    (('CAPEC-108',), 'Parameterization')
    >>> cwe.nearest_weakness("CWE-264")          # a retired NVD category → a weakness   # doctest: +SKIP
    'CWE-284'
    >>> lookup("cwe 79").name                                              # doctest: +SKIP
    "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"

Public API
- ``load_attack() -> AttackCatalog``: ``.version``, ``.techniques`` (``Technique``: id, name,
  full_name, description, tactics, platforms, url, is_subtechnique, parent, subtechniques,
  deprecated, revoked, revoked_by, mitigations, detection_strategies, ``.active``), ``.tactics``
  (TA id → ``Tactic``; ``.tactic("initial-access")``), ``.mitigations`` (M id → ``Mitigation`` with
  the techniques it mitigates), ``.groups``, ``.campaigns``, ``.software``, ``.procedures`` (list of
  ``Procedure``: technique, source_kind group/software/campaign, source_id, source_name, text,
  truncated), ``.detection_strategies``, ``.analytics``, ``.data_components``;
  ``.procedures_for(tid)``, ``.active_techniques()``, ``.current(tid)`` (follows revoked-by),
  ``.get(any_id)``.
- ``load_cwe() -> CweCatalog``: ``.version``, ``.weaknesses`` (``Weakness``: id, name,
  description, extended_description, abstraction, status, parents/children (ChildOf, view 1000),
  consequences, mitigations (phases, strategy, text), detection_methods, capec (ids only),
  observed_examples (CVE id + text), alternate_terms, mapping_usage, url, ``.deprecated``),
  ``.categories`` (members), ``.views``, ``.cve_index`` (CVE → CWE ids); ``.get("cwe 89")``,
  ``.ancestors(id)``, ``.member_weaknesses(category)``, ``.nearest_weakness(category or retired id)``.
- ``TACTIC_ORDER``: the 14 Enterprise tactic shortnames in kill-chain order.
- ``lookup(any_id)``: an ATT&CK or CWE object by id, ``catalog_versions()``: ``{"attack", "cwe"}``.
- ``normalize_id`` / ``id_kind`` / ``ids_in_text``: recognise ids typed by people.
- ``CweMapper.load().map(texts)`` (CVE-style description → top-k CWE weaknesses) and
  ``TechniqueMapper.load().map(texts)`` (threat text → ATT&CK techniques, or "no technique"): the
  shipped TF-IDF linear models under ``secllm/assets/knowledge/``, served with numpy alone.

Data limits: the ATT&CK package cuts descriptions at ~300 characters and procedure texts at ~200;
CAPEC is not packaged (CWE gives CAPEC ids and URLs only).
"""

from __future__ import annotations

from secllm.knowledge.attack import (
    TACTIC_ORDER,
    Analytic,
    AttackCatalog,
    Campaign,
    DataComponent,
    DetectionStrategy,
    Group,
    Mitigation,
    Procedure,
    Software,
    Tactic,
    Technique,
    clean_text,
    load_attack,
)
from secllm.knowledge.cwe import (
    Category,
    Consequence,
    CweCatalog,
    CweMitigation,
    DetectionMethod,
    ObservedExample,
    View,
    Weakness,
    capec_url,
    cwe_url,
    load_cwe,
)
from secllm.knowledge.cwe_map import CweMapper, CweResult
from secllm.knowledge.errors import CatalogNotInstalled
from secllm.knowledge.ids import id_kind, ids_in_text, normalize_id
from secllm.knowledge.technique_map import TechniqueMapper, TechniqueResult

__all__ = ["TACTIC_ORDER", "AttackCatalog", "Technique", "Tactic", "Mitigation", "Group", "Campaign", "Software",
           "Procedure", "DetectionStrategy", "Analytic", "DataComponent", "clean_text", "load_attack",
           "CweCatalog", "Weakness", "Category", "View", "Consequence", "CweMitigation", "DetectionMethod",
           "ObservedExample", "load_cwe", "cwe_url", "capec_url", "CatalogNotInstalled", "normalize_id", "id_kind",
           "ids_in_text", "lookup", "catalog_versions", "CweMapper", "CweResult", "TechniqueMapper", "TechniqueResult"]


def catalog_versions() -> dict[str, str]:
    """``{"attack": "18.1", "cwe": "4.14"}`` — the installed catalogue versions (loads both)."""
    return {"attack": load_attack().version, "cwe": load_cwe().version}


def lookup(ident: str):
    """Any catalogue object by id (``T1190``, ``TA0001``, ``M1050``, ``G0016``, ``S0002``, ``CWE-89``,
    ``cwe 89``), or ``None``. CAPEC and CVE ids are not catalogue objects: ``None``."""
    key = normalize_id(ident)
    if key is None:
        return None
    if key.startswith("CWE-"):
        return load_cwe().get(key)
    if key.startswith(("CAPEC-", "CVE-")):
        return None
    return load_attack().get(key)
