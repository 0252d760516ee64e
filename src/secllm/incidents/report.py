"""Incident reports: Markdown, a self-contained HTML page with timeline charts, a STIX 2.1 bundle.

Every report takes the emitted incidents (``Incident.to_json()`` dicts). Input-derived text is
hostile: HTML goes through :func:`secllm.html_escape.html_safe` (no script, no markup, no terminal
controls), Markdown through :func:`md_safe`. The HTML page loads nothing from anywhere: its
charts are inline SVG drawn here.

    >>> inc = {"id": "inc-1", "actors": ["<script>x</script>"], "first_seen": "2024-05-01T10:00:00Z",
    ...        "last_seen": "2024-05-01T10:05:00Z", "stages": [], "severity": {"level": "low", "score": 1,
    ...        "reasons": []}, "summary": "s", "items": ["a:1"], "timeline": [], "assets": [], "next_actions": []}
    >>> "<script>x" in render_html([inc]), "&lt;script&gt;x" in render_html([inc])
    (False, True)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from secllm.html_escape import html_safe, term_safe
from secllm.incidents.findings import parse_time
from secllm.incidents.knowledge import TACTIC_ORDER, TACTIC_RANK

__all__ = ["md_safe", "render_markdown", "render_html", "to_stix", "stix_bundle_json"]

# one colour per tactic (kill-chain order: cool -> warm)
_COLOURS = ["#6c8ebf", "#7b9fd4", "#3b8ea5", "#2a9d8f", "#52b788", "#95d5b2", "#b5a642", "#e9c46a",
            "#f4a261", "#e76f51", "#d62828", "#9d0208", "#6a040f", "#370617"]
TACTIC_COLOUR = {t: _COLOURS[i % len(_COLOURS)] for i, t in enumerate(TACTIC_ORDER)}
_UNPLACED = "#999999"
_ANCHOR = ["start", "middle", "middle", "middle", "end"]     # axis labels stay inside the chart


def md_safe(text: Any, limit: int = 300) -> str:
    """Input-derived text for Markdown: no terminal controls, no markup, no table breaks.

        >>> md_safe("a|b `c` <img src=x> [l](http://e)")
        'a\\\\|b \\\\`c\\\\` &lt;img src=x&gt; \\\\[l\\\\](http://e)'
    """
    s = term_safe(str(text))[:limit]
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#":
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def _h(text: Any, limit: int = 500) -> str:
    return html_safe(str(text)[:limit])


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------

def render_markdown(incidents: list[dict[str, Any]], *, title: str = "SecLLM incidents",
                    meta: dict[str, Any] | None = None, max_events: int = 40) -> str:
    """A Markdown report: an overview table, then each incident's path, timeline and actions."""
    lines = [f"# {md_safe(title)}", ""]
    if meta:
        lines += [" · ".join(f"{md_safe(k)}: {md_safe(v)}" for k, v in meta.items()), ""]
    lines += [f"{len(incidents)} incident(s).", "",
              "| incident | severity | actors | first seen | last seen | path | findings |",
              "|---|---|---|---|---|---|---|"]
    for inc in incidents:
        path = " → ".join(s["tactic"] for s in inc.get("stages", []))
        lines.append(f"| {md_safe(inc['id'])} | {md_safe(inc['severity']['level'])} "
                     f"{inc['severity']['score']} | {md_safe(', '.join(inc.get('actors', [])[:3]))} | "
                     f"{md_safe(inc['first_seen'])} | {md_safe(inc['last_seen'])} | {md_safe(path) or '-'} | "
                     f"{inc.get('item_count', len(inc.get('items', [])))} |")
    for inc in incidents:
        lines += ["", f"## {md_safe(inc['id'])} — {md_safe(inc['severity']['level'])} "
                      f"({inc['severity']['score']}/10)", "", md_safe(inc.get("summary", ""), 2000), ""]
        if inc["severity"].get("reasons"):
            lines += ["Severity: " + "; ".join(md_safe(r) for r in inc["severity"]["reasons"]), ""]
        if inc.get("assets"):
            lines += ["Assets: " + ", ".join(md_safe(a) for a in inc["assets"]), ""]
        lines += ["| stage | techniques | first seen | count | succeeded | evidence | knowledge |",
                  "|---|---|---|---|---|---|---|"]
        for s in inc.get("stages", []):
            know = "; ".join(
                md_safe(", ".join(k.get("cwe") or []) + (" " if k.get("cwe") else "") + ", ".join(k.get("attack") or []))
                for k in s.get("knowledge", [])) or "-"
            lines.append(f"| {md_safe(s['tactic'])} | {md_safe(', '.join(s.get('techniques', [])))} | "
                         f"{md_safe(s['first_seen'])} | {s['count']} | {'yes' if s['succeeded'] else 'no'} | "
                         f"{md_safe('; '.join(s.get('success_evidence', [])), 200) or '-'} | {know} |")
        tl = inc.get("timeline", [])
        if tl:
            lines += ["", "Timeline:", "", "| time | tactic | event | sensor | count | item |", "|---|---|---|---|---|---|"]
            for e in tl[:max_events]:
                lines.append(f"| {md_safe(e['time'])} | {md_safe(e.get('tactic') or '-')} | {md_safe(e['name'], 120)} | "
                             f"{md_safe(e['sensor'])} | {e['count']} | {md_safe(e['item'])} |")
            if len(tl) > max_events:
                lines.append(f"| … | | {len(tl) - max_events} more events | | | |")
        if inc.get("next_actions"):
            lines += ["", "Next actions:", ""]
            lines += [f"- ({md_safe(a['tactic'])}) {md_safe(a['action'], 400)}" for a in inc["next_actions"]]
        items = inc.get("items", [])
        lines += ["", f"Items ({inc.get('item_count', len(items))}): " + ", ".join(md_safe(i) for i in items[:20])
                  + (" …" if len(items) > 20 or inc.get("items_truncated") else "")]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# HTML (inline SVG charts)
# ------------------------------------------------------------------------------------------------

def _t(s: str | None) -> float:
    v = parse_time(s) if s else None
    return v if v is not None else 0.0


def _fmt_time(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%m-%d %H:%M:%S")


def _overview_svg(incidents: list[dict[str, Any]], width: int = 960) -> str:
    """All incidents as bars on one time axis, coloured by their furthest tactic."""
    if not incidents:
        return ""
    t0 = min(_t(i["first_seen"]) for i in incidents)
    t1 = max(_t(i["last_seen"]) for i in incidents)
    span = max(t1 - t0, 1.0)
    left, right, row = 230, 20, 22
    h = 40 + row * len(incidents)
    x = lambda t: left + (width - left - right) * (t - t0) / span  # noqa: E731
    out = [f'<svg class="chart" id="overview-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
           f'viewBox="0 0 {width} {h}" role="img" aria-label="incidents over time">']
    for k in range(5):
        tt = t0 + span * k / 4
        out.append(f'<line x1="{x(tt):.1f}" y1="20" x2="{x(tt):.1f}" y2="{h - 10}" stroke="#ddd"/>'
                   f'<text x="{x(tt):.1f}" y="14" font-size="10" text-anchor="{_ANCHOR[k]}">{_h(_fmt_time(tt))}</text>')
    for n, inc in enumerate(incidents):
        y = 30 + n * row
        stages = inc.get("stages") or []
        last = max(stages, key=lambda s: TACTIC_RANK.get(s["tactic"], -1))["tactic"] if stages else None
        colour = TACTIC_COLOUR.get(last, _UNPLACED)
        a, b = x(_t(inc["first_seen"])), x(_t(inc["last_seen"]))
        label = f"{inc['id']} {', '.join(inc.get('actors', [])[:2])}"
        out.append(f'<text x="4" y="{y + 12}" font-size="11">{_h(label, 40)}</text>'
                   f'<rect x="{a:.1f}" y="{y}" width="{max(b - a, 3):.1f}" height="14" rx="3" fill="{colour}">'
                   f'<title>{_h(inc.get("summary", ""), 300)}</title></rect>')
    out.append("</svg>")
    return "".join(out)


def _incident_svg(inc: dict[str, Any], width: int = 960) -> str:
    """One incident: a lane per tactic (kill-chain order), a dot per timeline event (area ~ count,
    filled when the event looks successful)."""
    tl = inc.get("timeline") or []
    stages = inc.get("stages") or []
    lanes = [s["tactic"] for s in stages]
    if any(e.get("tactic") is None for e in tl):
        lanes.append("unplaced")
    if not lanes:
        return ""
    t0, t1 = _t(inc["first_seen"]), _t(inc["last_seen"])
    span = max(t1 - t0, 1.0)
    left, right, row = 170, 20, 26
    h = 44 + row * len(lanes)
    x = lambda t: left + (width - left - right) * (t - t0) / span  # noqa: E731
    y_of = {t: 34 + i * row for i, t in enumerate(lanes)}
    out = [f'<svg class="chart timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
           f'viewBox="0 0 {width} {h}" role="img" aria-label="attack path timeline">']
    for k in range(5):
        tt = t0 + span * k / 4
        out.append(f'<line x1="{x(tt):.1f}" y1="22" x2="{x(tt):.1f}" y2="{h - 8}" stroke="#eee"/>'
                   f'<text x="{x(tt):.1f}" y="14" font-size="10" text-anchor="{_ANCHOR[k]}">{_h(_fmt_time(tt))}</text>')
    for lane, y in y_of.items():
        colour = TACTIC_COLOUR.get(lane, _UNPLACED)
        out.append(f'<text x="4" y="{y + 4}" font-size="11" fill="{colour}">{_h(lane)}</text>'
                   f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" stroke="#ccc" stroke-dasharray="2,3"/>')
    for s in stages:                                       # the path: first sighting of each stage
        y = y_of[s["tactic"]]
        out.append(f'<path d="M{x(_t(s["first_seen"])):.1f},{y - 9} l5,-7 l-10,0 z" fill="#333">'
                   f'<title>{_h(s["tactic"])} first seen {_h(s["first_seen"])}</title></path>')
    for e in tl:
        lane = e.get("tactic") or "unplaced"
        if lane not in y_of:
            continue
        colour = TACTIC_COLOUR.get(lane, _UNPLACED)
        r = min(9.0, 3.0 + 1.5 * (max(1, int(e.get("count", 1))) ** 0.35))
        fill = colour if e.get("succeeded") else "#fff"
        out.append(f'<circle cx="{x(_t(e["time"])):.1f}" cy="{y_of[lane]}" r="{r:.1f}" fill="{fill}" '
                   f'stroke="{colour}" stroke-width="2" fill-opacity="0.85"><title>{_h(e["time"])} {_h(e["name"], 200)} '
                   f'({_h(e["sensor"])}, x{int(e.get("count", 1))}, {_h(e["item"], 100)})</title></circle>')
    out.append("</svg>")
    return "".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:22px} h2{font-size:17px;margin-top:32px;border-top:1px solid #ddd;padding-top:16px}
table{border-collapse:collapse;font-size:12px;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top} th{background:#f4f4f4} .sev{display:inline-block;padding:1px 8px;
border-radius:9px;color:#fff;font-size:12px} .critical{background:#9d0208}.high{background:#e76f51}
.medium{background:#e9c46a;color:#222}.low{background:#52b788} code{font-size:11px;word-break:break-all}
.legend span{display:inline-block;margin-right:10px;font-size:11px} .legend i{display:inline-block;width:10px;
height:10px;border-radius:5px;margin-right:3px} .muted{color:#777;font-size:12px} svg.chart{display:block;
margin:6px 0;background:#fcfcfc;border:1px solid #eee}
"""


def render_html(incidents: list[dict[str, Any]], *, title: str = "SecLLM incidents",
                meta: dict[str, Any] | None = None, max_events: int = 60) -> str:
    """A self-contained HTML report (no external resource of any kind; every input string escaped)."""
    used = sorted({s["tactic"] for i in incidents for s in i.get("stages", [])}, key=lambda t: TACTIC_RANK.get(t, 99))
    legend = "".join(f'<span><i style="background:{TACTIC_COLOUR.get(t, _UNPLACED)}"></i>{_h(t)}</span>' for t in used)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
             f"<title>{_h(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_h(title)}</h1>"]
    if meta:
        parts.append('<p class="muted">' + " · ".join(f"{_h(k)}: {_h(v)}" for k, v in meta.items()) + "</p>")
    parts.append(f"<p>{len(incidents)} incident(s). Filled dots: the event looks successful; "
                 f"triangles: where each stage was first seen.</p>")
    parts.append(f'<div class="legend">{legend}</div>')
    parts.append(_overview_svg(incidents))
    parts.append("<table><tr><th>incident</th><th>severity</th><th>actors</th><th>first seen</th><th>path</th>"
                 "<th>findings</th></tr>")
    for inc in incidents:
        sev = inc["severity"]
        parts.append(f'<tr><td><a href="#{_h(inc["id"])}">{_h(inc["id"])}</a></td>'
                     f'<td><span class="sev {_h(sev["level"])}">{_h(sev["level"])} {_h(sev["score"])}</span></td>'
                     f'<td>{_h(", ".join(inc.get("actors", [])[:3]))}</td><td>{_h(inc["first_seen"])}</td>'
                     f'<td>{_h(" → ".join(s["tactic"] for s in inc.get("stages", [])))}</td>'
                     f'<td>{_h(inc.get("item_count", len(inc.get("items", []))))}</td></tr>')
    parts.append("</table>")
    for inc in incidents:
        sev = inc["severity"]
        parts.append(f'<h2 id="{_h(inc["id"])}">{_h(inc["id"])} <span class="sev {_h(sev["level"])}">'
                     f'{_h(sev["level"])} {_h(sev["score"])}/10</span></h2>')
        parts.append(f"<p>{_h(inc.get('summary', ''), 3000)}</p>")
        if sev.get("reasons"):
            parts.append('<p class="muted">Severity: ' + "; ".join(_h(r) for r in sev["reasons"]) + "</p>")
        parts.append(_incident_svg(inc))
        parts.append("<table><tr><th>stage</th><th>techniques</th><th>first seen</th><th>count</th>"
                     "<th>succeeded</th><th>evidence</th><th>knowledge</th></tr>")
        for s in inc.get("stages", []):
            know = []
            for k in s.get("knowledge", []):
                ids = ", ".join((k.get("cwe") or []) + (k.get("attack") or []))
                mits = ", ".join(f'{m.get("id")} {m.get("name")}' for m in (k.get("mitigations") or [])[:3])
                know.append(f"{_h(ids)}<br><span class='muted'>{_h(mits)}</span>")
            parts.append(f"<tr><td>{_h(s['tactic'])}</td><td>{_h(', '.join(s.get('techniques', [])))}</td>"
                         f"<td>{_h(s['first_seen'])}</td><td>{_h(s['count'])}</td>"
                         f"<td>{'yes' if s['succeeded'] else 'no'}</td>"
                         f"<td>{_h('; '.join(s.get('success_evidence', [])), 400)}</td><td>{'<br>'.join(know)}</td></tr>")
        parts.append("</table>")
        tl = inc.get("timeline", [])
        if tl:
            parts.append("<details><summary>Timeline</summary><table><tr><th>time</th><th>tactic</th><th>event</th>"
                         "<th>sensor</th><th>count</th><th>item</th></tr>")
            for e in tl[:max_events]:
                parts.append(f"<tr><td>{_h(e['time'])}</td><td>{_h(e.get('tactic') or '-')}</td>"
                             f"<td><code>{_h(e['name'], 200)}</code></td><td>{_h(e['sensor'])}</td>"
                             f"<td>{_h(e['count'])}</td><td><code>{_h(e['item'], 120)}</code></td></tr>")
            parts.append("</table></details>")
        if inc.get("next_actions"):
            parts.append("<p><b>Next actions</b></p><ul>" + "".join(
                f"<li>({_h(a['tactic'])}) {_h(a['action'], 500)}</li>" for a in inc["next_actions"]) + "</ul>")
        items = inc.get("items", [])
        parts.append(f'<p class="muted">Items ({_h(inc.get("item_count", len(items)))}): '
                     + ", ".join(f"<code>{_h(i, 120)}</code>" for i in items[:30]) + (" …" if len(items) > 30 else "")
                     + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------
# STIX 2.1
# ------------------------------------------------------------------------------------------------

_NS = uuid.UUID("6b1c3c7e-0f43-4a8e-9a55-5ec11a5e0c21")    # SecLLM's namespace for deterministic STIX ids


def _sid(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(_NS, key)}"


def _stix_time(s: str | None) -> datetime:
    return datetime.fromtimestamp(_t(s), tz=timezone.utc)


def to_stix(incidents: Iterable[dict[str, Any]]) -> Any:
    """A STIX 2.1 bundle (``stix2.Bundle``): per incident an ``incident`` with its kill-chain
    phases, an ``attack-pattern`` per ATT&CK technique, ``observed-data`` over the actors'
    addresses, and a ``grouping`` that holds them, all created by a SecLLM ``identity``. Ids are
    deterministic (same incident -> same ids), so re-sending a report updates rather than duplicates.
    """
    import ipaddress

    import stix2

    ident = stix2.Identity(id=_sid("identity", "secllm"), name="SecLLM", identity_class="system",
                           created="2024-01-01T00:00:00Z", modified="2024-01-01T00:00:00Z")
    objects: list[Any] = [ident]
    patterns: dict[str, Any] = {}
    for inc in incidents:
        iid = inc["id"]
        first, last = _stix_time(inc["first_seen"]), _stix_time(inc["last_seen"])
        if last < first:
            last = first
        phases = [stix2.KillChainPhase(kill_chain_name="mitre-attack", phase_name=s["tactic"])
                  for s in inc.get("stages", []) if s["tactic"] in TACTIC_RANK]
        incident = stix2.Incident(
            id=_sid("incident", iid), created=first, modified=last, created_by_ref=ident.id,
            name=f"{iid} ({inc['severity']['level']})", description=str(inc.get("summary", ""))[:4000],
            kill_chain_phases=phases or None,
            labels=[f"severity-{inc['severity']['level']}"],
            external_references=[{"source_name": "secllm", "external_id": iid,
                                  "description": f"{inc.get('item_count', len(inc.get('items', [])))} findings"}])
        refs = [incident.id]
        objects.append(incident)
        for s in inc.get("stages", []):
            for tech in s.get("techniques", []):
                if not tech or not tech.startswith("T"):
                    continue
                ap = patterns.get(tech)
                if ap is None:
                    url = "https://attack.mitre.org/techniques/" + tech.replace(".", "/") + "/"
                    ap = patterns[tech] = stix2.AttackPattern(
                        id=_sid("attack-pattern", tech), name=tech, created="2024-01-01T00:00:00Z",
                        modified="2024-01-01T00:00:00Z", created_by_ref=ident.id,
                        external_references=[{"source_name": "mitre-attack", "external_id": tech, "url": url}],
                        kill_chain_phases=[stix2.KillChainPhase(kill_chain_name="mitre-attack", phase_name=s["tactic"])]
                        if s["tactic"] in TACTIC_RANK else None)
                    objects.append(ap)
                rel = stix2.Relationship(id=_sid("relationship", f"{iid}|uses|{tech}"), relationship_type="uses",
                                         source_ref=incident.id, target_ref=ap.id, created=first, modified=last,
                                         created_by_ref=ident.id)
                objects.append(rel)
                refs += [ap.id, rel.id]
        scos = []
        for a in inc.get("actors", []):
            try:
                ip = ipaddress.ip_address(a)
            except ValueError:
                if a.startswith("user:"):
                    scos.append(stix2.UserAccount(user_id=a[5:][:200]))
                continue
            scos.append(stix2.IPv4Address(value=str(ip)) if ip.version == 4 else stix2.IPv6Address(value=str(ip)))
        if scos:
            objects.extend(scos)
            od = stix2.ObservedData(id=_sid("observed-data", iid), created=first, modified=last,
                                    created_by_ref=ident.id, first_observed=first, last_observed=last,
                                    number_observed=max(1, int(inc.get("item_count", 1))),
                                    object_refs=[s.id for s in scos])
            rel = stix2.Relationship(id=_sid("relationship", f"{iid}|related-to|od"), relationship_type="related-to",
                                     source_ref=incident.id, target_ref=od.id, created=first, modified=last,
                                     created_by_ref=ident.id)
            objects += [od, rel]
            refs += [od.id, rel.id] + [s.id for s in scos]
        grp = stix2.Grouping(id=_sid("grouping", iid), created=first, modified=last, created_by_ref=ident.id,
                             name=f"SecLLM incident {iid}", context="suspicious-activity", object_refs=refs)
        objects.append(grp)
    return stix2.Bundle(objects=objects, allow_custom=False)


def stix_bundle_json(incidents: Iterable[dict[str, Any]]) -> str:
    """The bundle as JSON text (what ``--stix FILE`` writes)."""
    return to_stix(list(incidents)).serialize(pretty=True)


def incidents_jsonl(incidents: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in incidents)
