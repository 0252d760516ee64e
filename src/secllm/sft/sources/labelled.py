"""Verdict + evidence explanations of labelled items (training splits of the shared datasets only).

The dataset's label is the verdict (it is the ground truth the item was published with). When the
shipped detector, run on the same item, agrees with that label, its evidence spans (the characters
that raised its score) are quoted as the reason; when it disagrees, the answer gives the verdict
and its knowledge without evidence, and ``provenance["detector"]`` records the disagreement. The
knowledge lines (CWE, ATT&CK, tactic, top mitigations) come from ``knowledge_for(task, label)``.

    >>> from secllm.data.records import Record
    >>> rec = Record(id="http_params:train:7", modality="payload", text="1' or 1=1--", label="sqli",
    ...              source="http_params", meta={"split": "train"})
    >>> judge = lambda texts, spec: [{"label": "malicious", "attack_type": "sqli", "score": 0.99,
    ...                         "evidence": [{"text": "' or 1=1", "weight": 0.8, "part": "value"}]}]
    >>> [ins] = explain([rec], SETS["http_params"], judge=judge, knowledge=lambda t, l: None, seed=0)
    >>> ins.split, ins.provenance["dataset"], "' or 1=1" in ins.answer
    (None, 'http_params', True)

Items are desensitised (``secllm.data.desensitize``) before they enter an instruction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secllm.data.desensitize import desensitize
from secllm.data.records import Record
from secllm.sft.records import Instruction
from secllm.sft.sources.names import TACTICS_ZH, label_name

Judge = Callable[[list[str], "LabelledSet"], list[dict[str, Any] | None]]   # Detection.to_json() per item (or None)
KnowledgeFn = Callable[[str, str], dict[str, Any] | None]          # knowledge_for(task, label)

MAX_ITEM_CHARS = 1200        # longer items (scripts, EVTX) are cut; the question says so


@dataclass(frozen=True)
class LabelledSet:
    """How one dataset loader's records become questions."""

    loader: str                 # name in ``secllm.data.sources.ALL_SOURCES``
    task: str                   # task name for ``knowledge_for`` (and the detector's ``task`` when it agrees)
    what_en: str                # "HTTP parameter value"
    what_zh: str
    licence: str
    origin: str                 # repository / publisher as the datasets README states it
    labels: tuple[str, ...] | None = None      # keep only these labels (None: all)
    filter_source: str | None = None           # keep only records whose ``source`` starts with this
    benign: tuple[str, ...] = ("benign", "normal")


SETS: dict[str, LabelledSet] = {s.loader if s.filter_source is None else f"{s.loader}:{s.filter_source}": s for s in (
    LabelledSet("http_params", "web-attack", "HTTP parameter value", "HTTP 参数值", "MIT",
                "Morzeux/HttpParamsDataset"),
    LabelledSet("fuzzdb", "web-attack", "web attack payload", "Web 攻击载荷", "BSD-3 / CC-BY 3.0",
                "fuzzdb-project/fuzzdb", labels=("sqli", "xss", "cmdi", "path-traversal", "rfi", "ldap-injection",
                                                  "xpath-injection", "nosqli", "xxe", "ssi", "open-redirect",
                                                  "format-string")),
    LabelledSet("1book", "web-attack", "request path and query", "请求路径与查询串", "no licence (research use)",
                "duoergun0729/1book"),
    LabelledSet("iscx2016", "url", "URL", "URL", "UNB ISCX-URL-2016 terms: research use, cite Mamun et al. 2016",
                "UNB ISCX-URL-2016"),
    LabelledSet("loghub", "log-bgl", "BGL supercomputer log line", "BGL 超级计算机日志行",
                "Loghub: free for research/academic use", "logpai/loghub", filter_source="loghub:BGL"),
    LabelledSet("mpsd", "script", "PowerShell script", "PowerShell 脚本", "no licence (research use)", "das-lab/mpsd"),
    LabelledSet("js_malicious", "script", "JavaScript / HTML file", "JavaScript / HTML 文件", "MIT",
                "geeksonsecurity/js-malicious-dataset"),
    LabelledSet("tram", "cti-attack", "threat-intelligence sentence", "威胁情报语句", "Apache-2.0",
                "center-for-threat-informed-defense/tram"),
)}

_Q_EN = ("Is this {what} malicious? Explain why.\n{item}",
         "Analyse the following {what} and give a verdict with the reason:\n{item}",
         "Classify this {what} (benign or which attack) and say why.\n{item}")
_Q_ZH = ("这个{what}是恶意的吗？请说明理由。\n{item}",
         "请分析下面的{what}，给出判定和依据：\n{item}",
         "判断这个{what}是正常的还是攻击（哪一类），并解释原因。\n{item}")
_Q_CTI_EN = ("Which MITRE ATT&CK technique does this threat-intelligence sentence describe?\n{item}",
             "Map this CTI sentence to an ATT&CK technique:\n{item}")
_Q_CTI_ZH = ("这句威胁情报描述的是哪一项 MITRE ATT&CK 技术？\n{item}",
             "请把这条威胁情报语句映射到 ATT&CK 技术：\n{item}")


def _cut(text: str, lang: str) -> str:
    if len(text) <= MAX_ITEM_CHARS:
        return text
    note = f"\n[... {len(text) - MAX_ITEM_CHARS} more characters not shown]" if lang == "en" else \
        f"\n[……其余 {len(text) - MAX_ITEM_CHARS} 个字符未显示]"
    return text[:MAX_ITEM_CHARS] + note


def _agrees(det: dict[str, Any] | None, label: str, benign: Sequence[str]) -> bool:
    if not det or det.get("status", "ok") != "ok" or det.get("label") is None:
        return False
    if label in benign:
        return det["label"] in ("benign", "normal")
    if det["label"] in ("benign", "normal"):
        return False
    at = det.get("attack_type")
    # a typed detector must name the same type; an untyped one (url, script, logs) only needs "malicious"
    return at in (None, label) or label in (det.get("attack_types") or ()) or det["label"] == label


def _knowledge_lines(k: dict[str, Any] | None, lang: str) -> list[str]:
    if not k:
        return []
    refs = {r["id"]: r.get("name") for r in k.get("refs", ())}
    out = []
    if k.get("cwe"):
        cw = "; ".join(f"{c} {refs.get(c) or ''}".strip() for c in k["cwe"])
        out.append(f"Weakness: {cw}." if lang == "en" else f"对应弱点（CWE）：{cw}。")
    if k.get("attack"):
        at = "; ".join(f"{t} {refs.get(t) or ''}".strip() for t in k["attack"])
        tac = ", ".join(k.get("tactics", ()))
        if lang == "en":
            out.append(f"ATT&CK: {at}" + (f" (tactic: {tac})." if tac else "."))
        else:
            tz = "、".join(f"{TACTICS_ZH.get(s, s)}（{s}）" for s in k.get("tactics", ()))
            out.append(f"ATT&CK 技术：{at}" + (f"；战术：{tz}。" if tz else "。"))
    sev = k.get("severity") or {}
    if sev.get("level"):
        out.append(f"Severity: {sev['level']} ({sev.get('score')})." if lang == "en" else
                   f"严重程度：{sev['level']}（{sev.get('score')}）。")
    mits = [m for m in k.get("mitigations", ()) if m.get("name")][:3]
    if mits:
        ms = "; ".join(f"{m['id']} {m['name']}" for m in mits)
        out.append(f"What to do: {ms}." if lang == "en" else f"处置建议：{ms}。")
    return out


def _answer(rec: Record, spec: LabelledSet, det: dict[str, Any] | None, agrees: bool,
            k: dict[str, Any] | None, lang: str) -> str:
    label = rec.label or ""
    if spec.task == "cti-attack":
        name = next((r.get("name") for r in (k or {}).get("refs", ()) if r.get("id") == label), None)
        head = f"{label} {name}" if name else label
        lines = [f"Technique: {head}." if lang == "en" else f"技术：{head}。"]
        return "\n".join(lines + _knowledge_lines(k, lang)[1:] if k else lines)
    if label in spec.benign:
        en = label_name(label, "en")
        lines = [(f"Verdict: benign ({en})." if en != "benign" else "Verdict: benign.") if lang == "en" else
                 f"判定：正常（{label_name(label, 'zh')}）。"]
        if agrees and det and det.get("score") is not None:
            s = round(float(det["score"]), 3)
            lines.append(f"The SecLLM detector agrees: P(malicious) = {s}." if lang == "en" else
                         f"SecLLM 检测器的判断一致：恶意概率 {s}。")
        return "\n".join(lines)
    name = label_name(label, lang)
    lines = [f"Verdict: malicious — {name}." if lang == "en" else f"判定：恶意——{name}。"]
    if agrees and det:
        ev = [e for e in det.get("evidence") or () if e.get("text", "").strip()][:3]
        if ev:
            spans = "; ".join(f"`{desensitize(e['text'])}`" for e in ev)
            lines.append(f"Evidence (the parts that raised the score): {spans}." if lang == "en" else
                         f"证据（使分数升高的片段）：{spans}。")
        elif det.get("signatures"):
            sig = ", ".join(det["signatures"][:3])
            lines.append(f"Evidence: known attack-tool markers {sig}." if lang == "en" else f"证据：已知攻击工具特征 {sig}。")
    return "\n".join(lines + _knowledge_lines(k, lang))


def explain(records: Iterable[Record], spec: LabelledSet, *, judge: Judge | None, knowledge: KnowledgeFn | None,
            seed: int = 0, zh_share: float = 0.5, batch: int = 64) -> list[Instruction]:
    """One instruction per record (train-split records only; anything else raises ``ValueError``)."""
    recs = list(records)
    for r in recs:
        if r.meta.get("split") != "train":
            raise ValueError(f"{r.id}: only training-split records may become instructions (split "
                             f"{r.meta.get('split')!r})")
    dets: list[dict[str, Any] | None] = [None] * len(recs)
    if judge is not None and spec.task != "cti-attack":
        for i in range(0, len(recs), batch):
            dets[i:i + batch] = judge([r.text for r in recs[i:i + batch]], spec)
    rng = random.Random(f"{seed}:{spec.loader}")
    out = []
    for rec, det in zip(recs, dets):
        lang = "zh" if rng.random() < zh_share else "en"
        label = rec.label or ""
        agrees = _agrees(det, label, spec.benign)
        k = knowledge(spec.task, label) if knowledge is not None and label not in spec.benign else None
        item = _cut(desensitize(rec.text), lang)
        what = spec.what_en if lang == "en" else spec.what_zh
        if spec.task == "cti-attack":
            q = rng.choice(_Q_CTI_EN if lang == "en" else _Q_CTI_ZH).format(item=item)
        else:
            q = rng.choice(_Q_EN if lang == "en" else _Q_ZH).format(what=what, item=item)
        prov = {"dataset": spec.loader, "record": rec.id, "dataset_split": "train", "label": label,
                "label_source": "dataset", "licence": spec.licence, "origin": spec.origin, "task": spec.task}
        if det is not None:
            prov["detector"] = {"label": det.get("label"), "attack_type": det.get("attack_type"),
                                "score": det.get("score"), "agrees": agrees, "task": det.get("task")}
        if k:
            prov["catalogs"] = k.get("catalogs")
        out.append(Instruction(id=f"labelled:{rec.id}", source="labelled", lang=lang, group=f"item:{rec.id}",
                               messages=[{"role": "user", "content": q},
                                         {"role": "assistant", "content": _answer(rec, spec, det, agrees, k, lang)}],
                               provenance=prov))
    return out


def sample_train(records: Sequence[Record], spec: LabelledSet, per_label: int, seed: int = 0) -> list[Record]:
    """Up to ``per_label`` training-split records per label (seeded), empty and unlabelled ones skipped."""
    by: dict[str, list[Record]] = {}
    for r in records:
        if r.meta.get("split") != "train" or not r.label or not r.text.strip():
            continue
        if spec.filter_source and not r.source.startswith(spec.filter_source):
            continue
        if spec.labels and r.label not in spec.labels:
            continue
        by.setdefault(r.label, []).append(r)
    rng = random.Random(f"{seed}:{spec.loader}:sample")
    out = []
    for lab in sorted(by):
        rows = by[lab]
        out.extend(rows if len(rows) <= per_label else rng.sample(rows, per_label))
    return out


def build(datasets_dir: str | Path, *, judge: Judge | None, knowledge: KnowledgeFn | None, per_label: int = 100,
          sets: Sequence[str] | None = None, seed: int = 0, progress: Callable[[str], None] | None = None
          ) -> list[Instruction]:
    """Instructions from the labelled sets found under ``datasets_dir`` (missing sets are skipped)."""
    from secllm.data.sources import ALL_SOURCES

    out: list[Instruction] = []
    cache: dict[str, list[Record]] = {}
    for key, spec in SETS.items():
        if sets is not None and key not in sets and spec.loader not in sets:
            continue
        try:
            if spec.loader not in cache:
                cache[spec.loader] = ALL_SOURCES[spec.loader](Path(datasets_dir))
        except FileNotFoundError:
            continue
        recs = sample_train(cache[spec.loader], spec, per_label, seed)
        if progress:
            progress(f"labelled {key}: {len(recs)} training items")
        out.extend(explain(recs, spec, judge=judge, knowledge=knowledge, seed=seed))
    return out
