"""One catalogue entry with everything linked to it (``card``), and plain-text renderings for people.

    >>> c = card("T1190")                                          # doctest: +SKIP
    >>> c["name"], [m["id"] for m in c["mitigations"]][:2], c["catalogs"]   # doctest: +SKIP
    ('Exploit Public-Facing Application', ['M1016', 'M1026'], {'attack': '18.1', 'cwe': '4.14'})
    >>> print(format_card(card("CWE-89")))                        # doctest: +SKIP
    CWE-89  Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')
    ...

Cards are JSON-able dicts (the CLI's ``--json``, the API and the assistant use the same ones).
Related entries are listed with id, name and URL; long lists are cut (``*_total`` says how many).
CAPEC appears as ids and URLs only: its text is not packaged.
"""

from __future__ import annotations

import textwrap

from secllm.knowledge.attack import TACTIC_ORDER, load_attack
from secllm.knowledge.cwe import capec_url, load_cwe
from secllm.knowledge.ids import normalize_id

__all__ = ["card", "format_card", "format_knowledge"]

MAX_LIST = 25
MAX_EXAMPLES = 5


def _ref(obj, name: str | None = None) -> dict:
    return {"id": obj.id, "name": name or getattr(obj, "full_name", "") or obj.name, "url": getattr(obj, "url", "")}


def _cut(items: list, key: str, out: dict, n: int = MAX_LIST) -> None:
    out[key] = items[:n]
    if len(items) > n:
        out[f"{key}_total"] = len(items)


def _status(obj) -> str:
    if getattr(obj, "revoked", False):
        return "revoked"
    if getattr(obj, "deprecated", False):
        return "deprecated"
    return getattr(obj, "status", None) or "active"


def card(ident: str) -> dict | None:
    """The entry ``ident`` names (any ATT&CK or CWE id; a CVE → the CWEs citing it; a CAPEC id → the
    CWEs listing it), as a JSON-able dict with its links, or ``None`` when the catalogues lack it."""
    key = normalize_id(ident)
    if key is None:
        return None
    att, cwe = load_attack(), load_cwe()
    versions = {"attack": att.version, "cwe": cwe.version}
    if key.startswith("CVE-"):
        ws = [cwe.weaknesses[c] for c in cwe.cve_index.get(key, ())]
        if not ws:
            return None
        return {"id": key, "kind": "cve", "name": key, "url": f"https://www.cve.org/CVERecord?id={key}",
                "weaknesses": [{**_ref(w), "example": next((o.description for o in w.observed_examples
                                                            if o.cve.upper() == key), "")} for w in ws],
                "note": "CVE text is not packaged; these CWE entries cite it as an observed example",
                "catalogs": versions}
    if key.startswith("CAPEC-"):
        ws = [w for w in cwe.weaknesses.values() if key in w.capec]
        if not ws:
            return None
        return {"id": key, "kind": "capec", "name": None, "url": capec_url(key),
                "weaknesses": [_ref(w) for w in ws],
                "note": "CAPEC is not packaged: only the CWE entries that list this id are known",
                "catalogs": versions}
    if key.startswith("CWE-"):
        obj = cwe.get(key)
        if obj is None:
            return None
        return {**(_weakness_card(obj, cwe) if hasattr(obj, "abstraction") else _group_card(obj, cwe)),
                "catalogs": versions}
    obj = att.get(key)
    if obj is None:
        return None
    return {**_attack_card(obj, att), "catalogs": versions}


def _attack_card(obj, att) -> dict:
    from secllm.knowledge import attack as a

    out: dict = {"id": obj.id, "name": getattr(obj, "full_name", "") or obj.name, "url": getattr(obj, "url", ""),
                 "status": _status(obj)}
    T = att.techniques
    if isinstance(obj, a.Technique):
        out.update(kind="sub-technique" if obj.is_subtechnique else "technique", description=obj.description,
                   tactics=[_ref(att.tactic(s)) | {"shortname": s} for s in obj.tactics], platforms=list(obj.platforms))
        if obj.parent:
            out["parent"] = _ref(T[obj.parent])
        if obj.revoked_by:
            out["revoked_by"] = _ref(T[obj.revoked_by]) if obj.revoked_by in T else {"id": obj.revoked_by}
        out["subtechniques"] = [_ref(T[s]) for s in obj.subtechniques]
        out["mitigations"] = [_ref(att.mitigations[m]) for m in obj.mitigations]
        out["detection_strategies"] = [_ref(att.detection_strategies[d]) for d in obj.detection_strategies
                                       if d in att.detection_strategies]
        procs = att.procedures_for(obj.id)
        out["procedures_total"] = len(procs)
        out["procedures"] = [{"source": p.source_id, "source_name": p.source_name, "source_kind": p.source_kind,
                              "text": p.text} for p in procs[:MAX_EXAMPLES]]
    elif isinstance(obj, a.Tactic):
        techs = sorted((t for t in T.values() if t.active and obj.shortname in t.tactics and not t.is_subtechnique),
                       key=lambda t: t.id)
        out.update(kind="tactic", shortname=obj.shortname, order=obj.order + 1,
                   description=f"Enterprise tactic {obj.order + 1} of {len(TACTIC_ORDER)} in kill-chain order")
        _cut([_ref(t) for t in techs], "techniques", out, 100)
    elif isinstance(obj, a.Mitigation):
        out.update(kind="mitigation", description=obj.description)
        _cut([_ref(T[t]) for t in sorted(obj.techniques) if t in T and T[t].active], "techniques", out, 100)
    elif isinstance(obj, (a.Group, a.Campaign, a.Software)):
        kind = {a.Group: "group", a.Campaign: "campaign", a.Software: "software"}[type(obj)]
        out.update(kind=kind, description=obj.description, aliases=list(obj.aliases))
        if isinstance(obj, a.Software):
            out.update(software_type=obj.kind, platforms=list(obj.platforms))
            _cut([_ref(att.groups[g]) for g in obj.groups if g in att.groups], "groups", out)
        else:
            _cut([_ref(att.software[s]) for s in obj.software if s in att.software], "software", out)
        if isinstance(obj, a.Campaign):
            out.update(first_seen=obj.first_seen, last_seen=obj.last_seen,
                       groups=[_ref(att.groups[g]) for g in obj.groups if g in att.groups])
        techs = [_ref(T[t]) for t in obj.techniques if t in T and T[t].active]
        _cut(techs, "techniques", out, 60)
    elif isinstance(obj, a.DetectionStrategy):
        out.update(kind="detection-strategy", techniques=[_ref(T[t]) for t in obj.techniques if t in T],
                   analytics=[_ref(att.analytics[x]) | {"description": att.analytics[x].description}
                              for x in obj.analytics if x in att.analytics])
    elif isinstance(obj, a.Analytic):
        out.update(kind="analytic", description=obj.description, platforms=list(obj.platforms),
                   log_sources=[{"name": n, "channel": c} for n, c in obj.log_sources])
    else:
        out.update(kind="data-component", description=getattr(obj, "description", ""))
    return out


def _weakness_card(w, cwe) -> dict:
    W = cwe.weaknesses
    out = {"id": w.id, "kind": "cwe", "name": w.name, "url": w.url, "status": w.status,
           "abstraction": w.abstraction, "description": w.description,
           "extended_description": w.extended_description, "mapping_usage": w.mapping_usage,
           "alternate_terms": list(w.alternate_terms), "likelihood_of_exploit": w.likelihood_of_exploit,
           "parents": [_ref(W[p]) for p in w.parents if p in W],
           "children": [_ref(W[c]) for c in w.children if c in W],
           "consequences": [{"scopes": list(c.scopes), "impacts": list(c.impacts), "note": c.note}
                            for c in w.consequences],
           "mitigations": [{"id": m.mitigation_id, "phases": list(m.phases), "strategy": m.strategy,
                            "effectiveness": m.effectiveness, "text": m.description} for m in w.mitigations],
           "detection_methods": [{"method": d.method, "effectiveness": d.effectiveness, "text": d.description}
                                 for d in w.detection_methods],
           "capec": [{"id": c, "url": capec_url(c)} for c in w.capec],
           "observed_examples_total": len(w.observed_examples),
           "observed_examples": [{"cve": o.cve, "description": o.description, "url": o.link}
                                 for o in w.observed_examples[:MAX_EXAMPLES]]}
    if w.deprecated:
        n = cwe.nearest_weakness(w.id)
        out["nearest_weakness"] = _ref(W[n]) if n else None
    return out


def _group_card(c, cwe) -> dict:
    W = cwe.weaknesses
    members = [_ref(W[m]) if m in W else _ref(cwe.categories[m]) if m in cwe.categories else {"id": m}
               for m in c.members]
    out = {"id": c.id, "kind": "category" if hasattr(c, "summary") else "view", "name": c.name, "url": c.url,
           "status": c.status, "description": getattr(c, "summary", "") or getattr(c, "objective", "")}
    _cut(members, "members", out, 60)
    if hasattr(c, "mapping_usage"):
        out["mapping_usage"] = c.mapping_usage
        out["mapping_comment"] = c.mapping_comment
        n = cwe.nearest_weakness(c.id)
        out["nearest_weakness"] = _ref(W[n]) if n else None
    return out


# --------------------------------------------------------------------------------------------
# text for people
# --------------------------------------------------------------------------------------------

def _wrap(text: str, indent: str = "  ", width: int = 100) -> list[str]:
    out = []
    for para in (text or "").split("\n"):
        if para.strip():
            out.extend(textwrap.wrap(para, width=width, initial_indent=indent, subsequent_indent=indent))
    return out


def _refs_line(label: str, refs: list[dict], total: int | None = None, n: int = 12) -> list[str]:
    if not refs:
        return []
    shown = ", ".join(f"{r['id']} {r.get('name') or ''}".strip() for r in refs[:n])
    more = (total or len(refs)) - min(n, len(refs))
    return _wrap(f"{label}: {shown}" + (f" (+{more} more)" if more > 0 else ""), indent="  ")


def format_card(c: dict) -> str:
    """A card as plain text: name, description, links, URL and catalogue versions."""
    lines = [f"{c['id']}  {c.get('name') or ''}".rstrip()]
    meta = [c.get("kind", "")]
    for k in ("status", "abstraction", "software_type", "mapping_usage"):
        if c.get(k):
            meta.append(f"{k.replace('_', ' ')}: {c[k]}")
    lines.append("  " + " | ".join(m for m in meta if m))
    if c.get("aliases"):
        lines += _wrap("aliases: " + ", ".join(c["aliases"]))
    if c.get("tactics"):
        lines.append("  tactics: " + ", ".join(f"{t['shortname']} ({t['id']})" for t in c["tactics"]))
    if c.get("platforms"):
        lines += _wrap("platforms: " + ", ".join(c["platforms"]))
    for k in ("parent", "revoked_by", "nearest_weakness"):
        if c.get(k):
            lines.append(f"  {k.replace('_', ' ')}: {c[k]['id']} {c[k].get('name') or ''}".rstrip())
    if c.get("description"):
        lines.append("")
        lines += _wrap(c["description"])
    if c.get("extended_description"):
        lines += _wrap(c["extended_description"][:600] + ("…" if len(c["extended_description"]) > 600 else ""))
    if c.get("mapping_comment"):
        lines += _wrap("mapping notes: " + c["mapping_comment"])
    lines.append("")
    for key, label in (("subtechniques", "sub-techniques"), ("mitigations", "mitigations"), ("techniques", "techniques"),
                       ("software", "software"), ("groups", "groups"), ("parents", "child of"),
                       ("children", "parent of"), ("members", "members"), ("weaknesses", "weaknesses"),
                       ("detection_strategies", "detection strategies")):
        vals = c.get(key) or []
        if key == "mitigations" and c.get("kind") == "cwe":
            continue                          # a weakness's mitigations are text, shown below
        lines += _refs_line(label, vals, c.get(f"{key}_total"))
    if c.get("kind") == "cwe":
        if c.get("consequences"):
            lines.append("  consequences: " + "; ".join(f"{'/'.join(x['scopes'])}: {', '.join(x['impacts'])}"
                                                         for x in c["consequences"][:6]))
        for m in c.get("mitigations", [])[:6]:
            head = ", ".join(m["phases"]) + (f" — {m['strategy']}" if m.get("strategy") else "")
            eff = f" [effectiveness: {m['effectiveness']}]" if m.get("effectiveness") else ""
            lines += _wrap(f"mitigation ({head}){eff}: {m['text'][:300]}")
        if c.get("detection_methods"):
            lines.append("  detection: " + ", ".join(d["method"] for d in c["detection_methods"]))
        if c.get("capec"):
            lines += _wrap("CAPEC (ids only, text not packaged): " + ", ".join(x["id"] for x in c["capec"]))
        if c.get("observed_examples"):
            lines.append(f"  observed examples ({c['observed_examples_total']}):")
            for o in c["observed_examples"]:
                lines += _wrap(f"{o['cve']}: {o['description']}", indent="    ")
    if c.get("procedures"):
        lines.append(f"  procedure examples ({c['procedures_total']}):")
        for p in c["procedures"]:
            lines += _wrap(f"{p['source']} {p['source_name']}: {p['text']}", indent="    ")
    if c.get("analytics"):
        for x in c["analytics"][:5]:
            lines += _wrap(f"{x['id']}: {x['description']}")
    if c.get("note"):
        lines += _wrap("note: " + c["note"])
    lines.append(f"  url: {c.get('url')}")
    lines.append(f"  catalogues: ATT&CK {c['catalogs']['attack']}, CWE {c['catalogs']['cwe']}")
    return "\n".join(lines)


def format_knowledge(k: dict, indent: str = "  ") -> str:
    """``knowledge_for``'s answer for people (``secllm detect --explain``)."""
    sev = k["severity"]
    lines = [f"{indent}{k['summary']}",
             f"{indent}severity: {sev['level']} {sev['score']:.1f}/10 — {sev['reason']}"]
    by_id = {r["id"]: r for r in k.get("refs", [])}
    if k["cwe"]:
        lines.append(f"{indent}weakness: " + "; ".join(f"{c} {by_id.get(c, {}).get('name', '')}".strip()
                                                        for c in k["cwe"]))
    if k["attack"]:
        lines.append(f"{indent}ATT&CK: " + "; ".join(f"{t} {by_id.get(t, {}).get('name', '')}".strip()
                                                      for t in k["attack"]))
    if k["tactics"]:
        lines.append(f"{indent}tactics: " + ", ".join(k["tactics"]))
    capec = [r["id"] for r in k.get("refs", []) if r.get("kind") == "capec"]
    if capec:
        lines.append(f"{indent}CAPEC: " + ", ".join(capec))
    if k["mitigations"]:
        lines.append(f"{indent}do:")
        for m in k["mitigations"]:
            lines.append(f"{indent}  - {m['id']} {m['name'][:110]}  <{m['url']}>")
    if k.get("note"):
        lines.append(f"{indent}note: {k['note']}")
    lines.append(f"{indent}catalogues: ATT&CK {k['catalogs']['attack']}, CWE {k['catalogs']['cwe']}")
    return "\n".join(lines)
