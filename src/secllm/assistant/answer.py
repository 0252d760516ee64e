"""Write an answer from tool results, in Chinese or English, with the same facts in both.

Every sentence is filled from a tool result (verdict, score, evidence, catalogue entry) or is a
fixed sentence about what the assistant can do; nothing is made up. Catalogue text (names,
descriptions) is English in the catalogues and is quoted as it is in Chinese answers too.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["write", "CAPABILITIES"]

MAX_SHOWN = 60
_ATTACK_MIT = re.compile(r"M\d{4}")

CAPABILITIES = {
    "en": ["judge a pasted request, URL, payload, log line or script: `is this malicious? <item>`",
           "scan log or capture files and summarise the findings: `secllm ask \"what happened?\" access.log`",
           "explain ATT&CK / CWE / CVE ids and their mitigations: `what is T1190?`",
           "search the ATT&CK and CWE catalogues: `how do I mitigate credential dumping?`",
           "learning mode: how to learn a profile of your site and what was learned"],
    "zh": ["判断粘贴的请求、URL、载荷、日志行或脚本是否恶意：`这个是恶意的吗：<内容>`",
           "扫描日志或抓包文件并总结发现：`secllm ask \"发生了什么？\" access.log`",
           "解释 ATT&CK / CWE / CVE 编号及其缓解措施：`T1190 是什么？`",
           "在 ATT&CK 和 CWE 目录中搜索：`如何缓解凭据转储？`",
           "学习模式：如何为你的网站学习画像，以及学到了什么"],
}


def _short(text: Any, n: int = MAX_SHOWN) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _L(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def _mits(mits: list[dict], lang: str) -> str:
    if not mits:
        return ""
    names = "; ".join(f"{m.get('id') or ''} {m.get('name') or ''}".strip() + (f": {m['text']}" if m.get("text") else "")
                      for m in mits if m.get("id") or m.get("name"))
    return _L(lang, f" Mitigations: {names}.", f" 缓解措施：{names}。")


def _judge_line(k: int, r: dict, lang: str, n: int) -> str:
    head = (f"{k}. " if n > 1 else "") + f"`{_short(r['item'])}`"
    kind = r.get("input_kind") or "-"
    if r["status"] == "unsupported":
        return head + _L(lang, f" — not judged: identified as {kind}; {r.get('error')}. No verdict.",
                         f" — 未判断：识别为 {kind}；{r.get('error')}。不给出结论。")
    if r["status"] != "ok":
        return head + _L(lang, f" — not judged ({r['status']}): {r.get('error')}.",
                         f" — 未能判断（{r['status']}）：{r.get('error')}。")
    score = r.get("score")
    by = r.get("task")
    if r["label"] == "malicious":
        at = r.get("attack_type") or "attack"
        s = _L(lang, f" — **malicious** ({at}), score {score}, identified as {kind}, judged by {by}.",
               f" — **恶意**（{at}），分数 {score}，识别为 {kind}，由 {by} 判断。")
        ev = [e["text"] for e in r.get("evidence") or [] if e.get("text")]
        if ev:
            s += _L(lang, " Evidence: ", " 证据：") + ", ".join(f"`{_short(e, 40)}`" for e in ev[:3]) + \
                _L(lang, ".", "。")
        kn = r.get("knowledge")
        if kn:
            refs = ", ".join([*kn.get("cwe", []), *kn.get("attack", [])])
            if refs:
                s += _L(lang, f" Knowledge: {refs}", f" 知识：{refs}")
                if kn.get("tactics"):
                    s += _L(lang, f" (tactics: {', '.join(kn['tactics'])})", f"（战术：{', '.join(kn['tactics'])}）")
                if kn.get("severity"):
                    s += _L(lang, f"; severity {kn['severity']}", f"；严重程度 {kn['severity']}")
                s += _L(lang, ".", "。")
            s += _mits(kn.get("mitigations") or [], lang)
        return head + s
    return head + _L(lang, f" — judged **{r['label']}** (score {score}) by {by}, identified as {kind}. "
                           "This is the model's verdict, not a guarantee.",
                     f" — 判断为 **{'良性' if r['label'] == 'benign' else r['label']}**（分数 {score}），由 {by} "
                     f"判断，识别为 {kind}。这是模型的判断，不是保证。")


def _entry_text(e: dict, lang: str) -> str:
    kind = e.get("kind") or ""
    s = f"{e['id']} {e.get('name') or ''}".rstrip()
    if e.get("tactics"):
        s += _L(lang, f" ({kind}; tactics: {', '.join(t['name'] for t in e['tactics'])})",
                f"（{kind}；战术：{', '.join(t['name'] for t in e['tactics'])}）")
    elif kind:
        s += f" ({kind})" if lang == "en" else f"（{kind}）"
    if e.get("description"):
        s += ": " + e["description"]
    if e.get("weaknesses"):
        s += _L(lang, " Weaknesses that cite it: ", " 引用它的弱点：") + \
            "; ".join(f"{w['id']} {w.get('name')}" for w in e["weaknesses"]) + _L(lang, ".", "。")
    s += _mits(e.get("mitigations") or [], lang)
    if e.get("url"):
        s += f" {e['url']}"
    return s


def write(intent: str, lang: str, results: list[tuple[str, dict]], extra: dict | None = None) -> tuple[str, list[str]]:
    """(answer text, citations) for one intent from its ``(tool, result)`` pairs."""
    extra = extra or {}
    cites: list[str] = []

    def cite(*ids: str) -> None:
        for i in ids:
            if i and i not in cites:
                cites.append(i)

    if intent == "off_topic":
        return _L(lang, "That is outside what I cover: I answer security questions (verdicts on requests, logs and "
                        "files; ATT&CK/CWE knowledge; learning mode). Ask `what can you do?` for examples.",
                  "这超出了我的范围：我只回答安全问题（判断请求、日志和文件；ATT&CK/CWE 知识；学习模式）。"
                  "可以问“你能做什么？”查看示例。"), cites
    if intent in ("help", "unknown"):
        caps = "\n".join(f"- {c}" for c in CAPABILITIES[lang])
        if intent == "help":
            return _L(lang, "I can:\n", "我可以：\n") + caps, cites
        return _L(lang, "I am not sure what you are asking. Could you say which of these you want, and paste the "
                        "item or name the file or id?\n",
                  "我不确定你在问什么。请说明你想做下面哪一项，并粘贴内容、给出文件或编号：\n") + caps, cites
    parts: list[str] = []
    for tool, res in results:
        if res.get("status") != "ok":
            parts.append(_L(lang, f"The {tool} tool could not answer: {res.get('error')}.",
                            f"{tool} 工具无法回答：{res.get('error')}。"))
            continue
        if tool == "judge":
            rs = res["results"]
            for k, r in enumerate(rs, 1):
                parts.append(_judge_line(k, r, lang, len(rs)))
                kn = r.get("knowledge") or {}
                cite(*kn.get("cwe", []), *kn.get("attack", []))
            if res.get("truncated"):
                parts.append(_L(lang, "Only the first items were judged.", "只判断了前面的若干项。"))
        elif tool == "scan":
            s = res["summary"]
            v = s.get("verdicts") or {}
            parts.append(_L(lang, f"Scanned {s.get('items')} items in {', '.join(res['files'])}: "
                                  + ", ".join(f"{k}={n}" for k, n in sorted(v.items())) + ".",
                            f"扫描了 {', '.join(res['files'])} 中的 {s.get('items')} 项："
                            + "，".join(f"{k}={n}" for k, n in sorted(v.items())) + "。"))
            if s.get("attack_types"):
                parts.append(_L(lang, "Attack types: ", "攻击类型：") +
                             ", ".join(f"{k}={n}" for k, n in sorted(s["attack_types"].items(), key=lambda x: -x[1])))
            if s.get("top_sources"):
                parts.append(_L(lang, "Top sources: ", "主要来源：") +
                             ", ".join(f"{src} ({n})" for src, n in s["top_sources"][:5]))
            for k, f in enumerate(res["findings"], 1):
                where = f"{f.get('file')}:{f.get('line')}"
                refs = ", ".join([*f.get("cwe", []), *f.get("attack", [])])
                parts.append(f"{k}. {where} {f.get('attack_type') or f.get('label')}"
                             + (f" [{refs}]" if refs else "") + f" `{_short(f.get('text', ''), 50)}`")
                cite(*f.get("cwe", []), *f.get("attack", []))
            if res["findings_total"] > len(res["findings"]):
                parts.append(_L(lang, f"({res['findings_total']} findings in all; the first {len(res['findings'])} "
                                      "are shown.)",
                                f"（共 {res['findings_total']} 条发现，显示前 {len(res['findings'])} 条。）"))
            if not res["findings_total"]:
                parts.append(_L(lang, "No malicious item was found.", "没有发现恶意项。"))
            parts.append(_L(lang, "Incident correlation (actors, attack paths) is not available in this build.",
                            "此版本尚不支持事件关联（攻击者、攻击路径）。"))
            if res.get("missing"):
                parts.append(_L(lang, "Not read: ", "未读取：") + ", ".join(res["missing"]))
        elif tool == "knowledge":
            for e in res["entries"]:
                parts.append(_entry_text(e, lang))
                cite(e["id"], *[m["id"] for m in e.get("mitigations") or [] if _ATTACK_MIT.fullmatch(str(m.get("id")))],
                     *[w["id"] for w in e.get("weaknesses") or []])
            for u in res["unknown"]:
                parts.append(_L(lang, f"I don't know {_short(u, 30)}: it is not in the installed ATT&CK/CWE "
                                      "catalogues.", f"我不知道 {_short(u, 30)}：已安装的 ATT&CK/CWE 目录中没有它。"))
        elif tool == "search":
            if not res["hits"]:
                parts.append(_L(lang, "I found no catalogue entry for that.", "目录中没有找到相关条目。"))
            else:
                parts.append(_L(lang, "Closest ATT&CK/CWE entries (catalogue search, ranked):",
                                "最相关的 ATT&CK/CWE 条目（目录检索，按相关度排序）："))
                for k, e in enumerate(res["hits"], 1):
                    parts.append(f"{k}. " + _entry_text(e, lang))
                    cite(e["id"])
        elif tool == "profile":
            h = res["how"]
            parts.append(_L(lang, f"Learning mode learns what is normal for your site from its own traffic, without "
                                  f"labels: `{h['learn']}` (logs: `{h['learn_logs']}`). Then score new traffic with "
                                  f"`{h['score']}`; `{h['list']}` and `{h['show']}` show what was learned. Learning "
                                  "changes state, so I do not run it for you.",
                            f"学习模式从你网站自己的流量中学习正常行为，无需标注：`{h['learn']}`（日志：`{h['learn_logs']}`）。"
                            f"然后用 `{h['score']}` 给新流量打分；`{h['list']}` 和 `{h['show']}` 查看学到的内容。"
                            "学习会改变状态，所以我不会替你运行。"))
            if res["profiles"]:
                parts.append(_L(lang, "Learned profiles: ", "已学习的画像：") + "; ".join(
                    f"{p['name']} ({p.get('kind')}, learned {p.get('n_learn')} items, fpr {p.get('fpr')})"
                    for p in res["profiles"]))
            else:
                parts.append(_L(lang, "No profile has been learned yet.", "目前还没有学习任何画像。"))
        elif tool == "recall":
            f = res["finding"]
            parts.append(_L(lang, f"Finding {extra.get('ordinal')} of the last scan: ",
                            f"上次扫描的第 {extra.get('ordinal')} 条发现：")
                         + f"{f.get('file')}:{f.get('line')} {f.get('attack_type') or f.get('label')} "
                           f"(score {f.get('score')}) `{_short(f.get('text', ''))}`"
                         + (_L(lang, " Evidence: ", " 证据：") + ", ".join(f"`{_short(e, 40)}`" for e in f["evidence"])
                            if f.get("evidence") else ""))
            cite(*f.get("cwe", []), *f.get("attack", []))
    if extra.get("note"):
        parts.insert(0, extra["note"])
    return "\n".join(parts), cites
