"""Build the bilingual assistant question set (issue 22): ``tests/fixtures/assistant/questions.jsonl``.

    PYTHONPATH=src python benchmarks/assistant_questions.py        # needs /work/shared/datasets (read in place)

Every question is a template (written by hand, zh and en, several paraphrases per intent) filled
with a real argument:
- items to judge: parameter values of HttpParams ``payload_test.csv.gz`` (norm, sqli, xss,
  path-traversal, cmdi), request targets of ``web_attack_urls_1book`` (normal / sql / xss) and
  OpenSSH lines of ``loghub_2k`` — short ones (≤ 90 characters) drawn with a fixed seed;
- catalogue ids: active ATT&CK techniques and CWE weaknesses of the installed catalogues, and CVE
  ids the CWE catalogue cites as observed examples;
- knowledge topics: the hand-written zh/en query pairs of ``benchmarks/data/kb_queries_zh_en.jsonl``;
- off-topic questions, help, learning-mode and follow-up phrasings: written here.

Splits: the templates are split into **dev** (used while writing the parser's rules) and **test**
(never looked at while tuning); arguments are drawn separately for each split. Variants mark
paraphrases, typos (en: two letters swapped in a cue word; zh: a homophone character) and
mixed-language questions. zh and en have equal counts per intent and split.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path("/work/shared/datasets")
OUT = ROOT / "tests/fixtures/assistant/questions.jsonl"
SEED = 22

# -- templates: {x} is the argument. (variant, template). dev and test are disjoint. ------------------
T = {
 "judge": {
  "dev": {"en": [("plain", "Is this malicious: {x}"), ("plain", "check this request: {x}"),
                 ("para", "can you analyse `{x}` for me?"), ("para", "Is this input safe? {x}"),
                 ("typo", "is this maliciuos: {x}"), ("para", "judge this payload: {x}")],
          "zh": [("plain", "请帮我检查这个请求是否是恶意的: {x}"), ("plain", "这个参数安全吗：{x}"),
                 ("para", "帮我分析一下 `{x}`"), ("mixed", "这个 payload 是不是 attack：{x}"),
                 ("typo", "请帮我检察一下：{x}"), ("para", "判断一下这条是否有攻击：{x}")]},
  "test": {"en": [("plain", "Is the following malicious? {x}"), ("para", "Please take a look at this and tell me if "
                  "it's an attack: {x}"), ("para", "Does \"{x}\" look suspicious to you?"),
                  ("typo", "chekc this one: `{x}`"), ("mixed", "这个 is safe? {x}"), ("para", "verdict for: {x}")],
           "zh": [("plain", "这个是恶意的吗？{x}"), ("para", "看看这条有没有问题：{x}"), ("para", "“{x}” 是攻击吗？"),
                  ("typo", "这个有功击吗：{x}"), ("mixed", "Is this 恶意请求? `{x}`"), ("para", "鉴定一下：{x}")]},
 },
 "knowledge": {
  "dev": {"en": [("plain", "What is {x}?"), ("para", "explain {x}"), ("para", "How do I mitigate {x}?"),
                 ("typo", "waht is {x} and how to fix it"), ("mixed", "{x} 是什么 technique?")],
          "zh": [("plain", "{x} 是什么？"), ("para", "解释一下{x}"), ("para", "{x}怎么修复？"),
                 ("typo", "{x}是神马"), ("mixed", "what is {x}？请用中文")]},
  "test": {"en": [("plain", "Tell me about {x}."), ("para", "what does {x} mean and how can we defend against it?"),
                  ("para", "mitigations for {x}"), ("typo", "explian {x} please"), ("mixed", "介绍 {x} in English")],
           "zh": [("plain", "介绍一下 {x}"), ("para", "{x} 的缓解措施有哪些？"), ("para", "什么是{x}，怎么防御？"),
                  ("typo", "{x}的含意是什么"), ("mixed", "{x} 的 mitigation 是什么？")]},
 },
 "search": {
  "dev": {"en": [("plain", "What is {x}?"), ("para", "How do I mitigate {x}?"), ("para", "explain {x} to me"),
                 ("typo", "how to prevnet {x}")],
          "zh": [("plain", "什么是{x}？"), ("para", "如何缓解{x}？"), ("para", "解释一下{x}"), ("typo", "{x}是神马？")]},
  "test": {"en": [("plain", "Tell me about {x}."), ("para", "how can we defend against {x}?"),
                  ("para", "what mitigations exist for {x}?"), ("typo", "waht is {x}")],
           "zh": [("plain", "介绍一下{x}"), ("para", "{x}应该怎么防范？"), ("para", "{x}有哪些缓解措施？"),
                  ("typo", "{x}的含意是什么")]},
 },
 "scan": {
  "dev": {"en": [("plain", "what happened in these logs?"), ("para", "summarize the findings in this file"),
                 ("named", "scan {f} and tell me what happened")],
          "zh": [("plain", "这些日志里发生了什么？"), ("para", "帮我总结一下这个文件的发现"),
                 ("named", "扫描 {f} 并告诉我发生了什么")]},
  "test": {"en": [("plain", "Give me an overview of what the attackers did here"), ("para", "any incidents in this log?"),
                  ("named", "what happened in {f}?")],
           "zh": [("plain", "这份日志有什么攻击事件？"), ("para", "概括一下这个日志里的情况"),
                  ("named", "{f} 里发生了什么？")]},
 },
 "profile": {
  "dev": {"en": ["how do I set up learning mode for my site?", "what did the learning mode learn?"],
          "zh": ["怎么为我的网站设置学习模式？", "学习模式学到了什么？"]},
  "test": {"en": ["How can SecLLM learn the normal behaviour of my website (a baseline)?",
                  "show me the profiles you have learned"],
           "zh": ["如何建立我网站的正常行为基线？", "你学到了哪些画像？"]},
 },
 "help": {
  "dev": {"en": ["what can you do?", "help"], "zh": ["你能做什么？", "帮助"]},
  "test": {"en": ["What are your capabilities?", "how do I use you?"], "zh": ["你有哪些功能？", "这个工具怎么用？"]},
 },
 "followup": {
  "dev": {"en": [("and the second one?", 2), ("what about the first one?", 1)],
          "zh": [("第二个呢？", 2), ("那第一个呢？", 1)]},
  "test": {"en": [("tell me more about the third one", 3), ("and the last one?", -1)],
           "zh": [("第三个是什么？", 3), ("最后一个呢？", -1)]},
 },
 "off_topic": {
  "dev": {"en": ["What's the weather like tomorrow?", "Recommend a good movie for tonight", "How do I cook rice?",
                 "Who won the football match yesterday?"],
          "zh": ["今天天气怎么样？", "推荐一部好看的电影", "怎么做红烧肉？", "昨天的足球比赛谁赢了？"]},
  "test": {"en": ["What is the capital of Australia?", "Write me a poem about spring", "How tall is Mount Everest?",
                  "Can you translate 'good morning' into French?"],
           "zh": ["澳大利亚的首都是哪里？", "给我写一首关于春天的诗", "珠穆朗玛峰有多高？", "帮我把“早上好”翻译成法语"]},
 },
}
# test_b: templates written after the first (and only) run on "test", before any fix it prompted
T2 = {
 "judge": {"en": [("plain", "Is this request an attack? {x}"), ("para", "quick question, is `{x}` dangerous?"),
                  ("para", "Should I worry about this log entry: {x}"), ("typo", "is tihs malicious? {x}"),
                  ("mixed", "帮我看看 is this safe: {x}"), ("para", "what is your verdict on \"{x}\"")],
           "zh": [("plain", "这个请求是攻击吗？{x}"), ("para", "我在日志里看到 `{x}`，有危险吗？"),
                  ("para", "请分析下面这条：{x}"), ("typo", "这条有没有问提：{x}"), ("mixed", "这个 request 恶意吗：{x}"),
                  ("para", "“{x}” 这个可疑吗？")]},
 "knowledge": {"en": [("plain", "What does {x} stand for?"), ("para", "give me the details of {x}"),
                      ("para", "how should we protect against {x}?"), ("typo", "tell me abuot {x}"),
                      ("mixed", "{x} 怎么缓解? answer in English")],
               "zh": [("plain", "{x}是什么意思？"), ("para", "请讲讲{x}"), ("para", "针对{x}应该采取哪些防护措施？"),
                      ("typo", "{x}是啥"), ("mixed", "please explain {x}（中文回答）")]},
 "search": {"en": [("plain", "Explain {x}."), ("para", "what are the mitigations for {x}?"),
                   ("para", "how do attackers use {x} and how do we stop it?"), ("typo", "explian {x}")],
            "zh": [("plain", "讲讲{x}"), ("para", "怎么防御{x}？"), ("para", "{x}是怎么回事？"), ("typo", "{x}是啥？")]},
 "scan": {"en": [("plain", "summarise this log for me"), ("para", "who attacked us according to this file?"),
                 ("named", "tell me what happened in {f}")],
          "zh": [("plain", "帮我汇总这个日志"), ("para", "根据这个文件，谁攻击了我们？"), ("named", "总结一下{f}里的攻击")]},
 "profile": {"en": ["How do I train a profile of my own website?", "what has been learned so far in learning mode?"],
             "zh": ["怎样给我的站点学习一个画像？", "学习模式目前学到了哪些东西？"]},
 "help": {"en": ["what can secllm do for me?", "what commands do you support?"],
          "zh": ["你可以做什么？", "给我看看帮助"]},
 "followup": {"en": [("what about #2?", 2), ("and the first?", 1)], "zh": [("第2个呢？", 2), ("再说说第一个", 1)]},
 "off_topic": {"en": ["What's a good name for a cat?", "How many calories are in an apple?",
                      "Who painted the Mona Lisa?", "What is 17 times 23?"],
               "zh": ["给猫取个什么名字好？", "一个苹果有多少卡路里？", "蒙娜丽莎是谁画的？", "17乘以23等于多少？"]},
}
# test_c: templates written after the first (and only) run on test_b, before the fixes it prompted
T3 = {
 "judge": {"en": [("plain", "Is this line from our access log an attack? {x}"), ("para", "hey, `{x}` - safe or not?"),
                  ("para", "I found this in a request parameter, is it harmful: {x}"), ("typo", "is this suspicous: {x}"),
                  ("mixed", "请问 is this malicious: {x}"), ("para", "Please judge \"{x}\" for me")],
           "zh": [("plain", "这条日志是攻击吗：{x}"), ("para", "`{x}` 安全不安全？"), ("para", "帮忙判断下面的输入是否有害：{x}"),
                  ("typo", "这个是恶以的吗：{x}"), ("mixed", "这个 input 是 attack 吗：{x}"), ("para", "请鉴定“{x}”是否可疑")]},
 "knowledge": {"en": [("plain", "What's {x}?"), ("para", "summarize {x} for me"), ("para", "what can I do about {x}?"),
                      ("typo", "explain {x} plz"), ("mixed", "{x} 的缓解措施 (in English please)")],
               "zh": [("plain", "{x}指的是什么？"), ("para", "帮我介绍下{x}"), ("para", "{x}如何防范？"),
                      ("typo", "{x}是什莫"), ("mixed", "{x} mitigation 有哪些")]},
 "search": {"en": [("plain", "What's {x}?"), ("para", "what can we do against {x}?"),
                   ("para", "describe {x} and its mitigations"), ("typo", "how to mitgate {x}")],
            "zh": [("plain", "{x}指的是什么？"), ("para", "如何防止{x}？"), ("para", "介绍下{x}以及防护方法"),
                   ("typo", "{x}是什莫？")]},
 "scan": {"en": [("plain", "go through this log and tell me what you see"), ("para", "were we attacked? see the attached log"),
                 ("named", "summarize the attacks in {f}")],
          "zh": [("plain", "看看这个日志，有什么异常？"), ("para", "附件日志里我们被攻击了吗？"), ("named", "分析{f}中的攻击")]},
 "profile": {"en": ["How does learning mode work and how do I start it?", "list the learned profiles"],
             "zh": ["学习模式怎么开启？", "列出已经学习的画像"]},
 "help": {"en": ["what are you able to do?", "show me some examples of what I can ask"],
          "zh": ["你都能干什么？", "我可以问你哪些问题？"]},
 "followup": {"en": [("and number 3?", 3), ("what about the 1st one?", 1)], "zh": [("第三个呢", 3), ("第一个是什么意思？", 1)]},
 "off_topic": {"en": ["What time does the sun set today?", "Suggest a weekend trip near Beijing",
                      "How do I make a paper airplane?", "Tell me a joke"],
               "zh": ["今天几点日落？", "推荐一个北京周边的周末游", "纸飞机怎么折？", "讲个笑话"]},
}
CONTEXT = {"en": "how do I mitigate credential dumping?", "zh": "如何缓解凭据转储？"}
N = {"judge": 24, "knowledge": 14, "search": 14, "scan": 6, "profile": 4, "help": 4, "followup": 4, "off_topic": 8}


def _rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return list(csv.DictReader(f))


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return [ln.rstrip("\n") for ln in f]


def _ok(x: str) -> bool:
    return 4 <= len(x) <= 90 and "`" not in x and "\"" not in x and "“" not in x and x.strip() == x and x.isprintable()


def items(rng: random.Random) -> list[tuple[str, str]]:
    """(item, source) pairs: a balanced, shuffled mix of real benign and attack items."""
    out = []
    rows = _rows(DATASETS / "http_params/payload_test.csv.gz")
    for t, k in (("norm", 8), ("sqli", 6), ("xss", 6), ("path-traversal", 4), ("cmdi", 4)):
        pool = sorted({r["payload"] for r in rows if r["attack_type"] == t and _ok(r["payload"])})
        out += [(x, f"http_params/payload_test:{t}") for x in rng.sample(pool, k)]
    for name, k in (("normal-10000", 8), ("sql-10000", 4), ("xss-200000", 4)):
        pool = sorted({x for x in _lines(DATASETS / f"web_attack_urls_1book/{name}.txt.gz")[:20000] if _ok(x)})
        out += [(x, f"web_attack_urls_1book/{name}") for x in rng.sample(pool, k)]
    pool = sorted({x for x in _lines(DATASETS / "loghub_2k/OpenSSH_2k.log.gz") if _ok(x)})
    out += [(x, "loghub_2k/OpenSSH") for x in rng.sample(pool, 4)]
    rng.shuffle(out)
    return out


def ids(rng: random.Random) -> list[tuple[str, str]]:
    from secllm.knowledge import load_attack, load_cwe

    att, cwe = load_attack(), load_cwe()
    tech = sorted(t.id for t in att.active_techniques())
    weak = sorted(w.id for w in cwe.weaknesses.values() if not w.deprecated)
    cves = sorted(cwe.cve_index)
    out = [(x, "attack") for x in rng.sample(tech, 24)] + [(x, "cwe") for x in rng.sample(weak, 24)] + \
          [(x, "cve") for x in rng.sample(cves, 8)]
    rng.shuffle(out)
    return out


def spell(ident: str, rng: random.Random) -> str:
    """How a person may type an id: as catalogued, lower case, or ``cwe 89``."""
    r = rng.random()
    if ident.startswith("CWE-") and r < 0.3:
        return "cwe " + ident[4:]
    if r < 0.5:
        return ident.lower()
    return ident


def main() -> int:
    if not DATASETS.is_dir():
        print(f"needs {DATASETS}", file=sys.stderr)
        return 2
    rng = random.Random(SEED)
    pool_items = items(rng)
    pool_ids = ids(rng)
    topics = [json.loads(x) for x in (ROOT / "benchmarks/data/kb_queries_zh_en.jsonl").read_text().splitlines()]
    topics = [t for t in topics if t["style"] == "name"]
    rng.shuffle(topics)
    rows: list[dict] = []
    half_items = {"dev": pool_items[: len(pool_items) // 2], "test": pool_items[len(pool_items) // 2:]}
    half_ids = {"dev": pool_ids[: len(pool_ids) // 2], "test": pool_ids[len(pool_ids) // 2:]}
    half_topics = {"dev": topics[:40], "test": topics[40:80], "test_b": topics[80:120]}
    rng_b = random.Random(SEED + 1)                 # fresh draws for test_b (same sources)
    half_items["test_b"] = items(rng_b)
    half_ids["test_b"] = [x for x in ids(rng_b) if x not in pool_ids]
    for name, tpl in T2.items():
        T[name]["test_b"] = tpl
    half_topics["test_c"] = topics[120:160]
    rng_c = random.Random(SEED + 2)
    taken = set(pool_ids) | set(half_ids["test_b"])
    half_items["test_c"] = items(rng_c)
    half_ids["test_c"] = [x for x in ids(rng_c) if x not in taken]
    for name, tpl in T3.items():
        T[name]["test_c"] = tpl
    for split in ("dev", "test", "test_b", "test_c"):
        for lang in ("en", "zh"):
            def add(intent, q, args, variant, source, **kw):
                rows.append({"id": f"{split}-{lang}-{len(rows):04d}", "split": split, "lang": lang, "intent": intent,
                             "question": q, "args": args, "variant": variant, "source": source, **kw})
            tpl = T["judge"][split][lang]
            for k in range(N["judge"]):
                x, src = half_items[split][k % len(half_items[split])]
                v, t = tpl[k % len(tpl)]
                add("judge", t.format(x=x), {"items": [x]}, v, src)
            tpl = T["knowledge"][split][lang]
            for k in range(N["knowledge"]):
                x, src = half_ids[split][(k + (0 if lang == "en" else 14)) % len(half_ids[split])]
                v, t = tpl[k % len(tpl)]
                add("knowledge", t.format(x=spell(x, rng)), {"ids": [x]}, v, f"catalogue:{src}")
            tpl = T["search"][split][lang]
            for k in range(N["search"]):
                tp = half_topics[split][k + (0 if lang == "en" else 14)]
                v, t = tpl[k % len(tpl)]
                add("search", t.format(x=tp[lang]), {"topic": tp[lang]}, v, f"kb_queries:{tp['id']}",
                    targets=tp["target"])
            tpl = T["scan"][split][lang]
            for k in range(N["scan"]):
                v, t = tpl[k % len(tpl)]
                if v == "named":
                    add("scan", t.format(f="access.log"), {"files": ["access.log"]}, v, "written")
                else:
                    add("scan", t, {"files": ["access.log"]}, v, "written", files=["access.log"])
            for k in range(N["profile"]):
                qs = T["profile"][split][lang]
                add("profile", qs[k % len(qs)], {}, "para" if k % len(qs) else "plain", "written")
            for k in range(N["help"]):
                qs = T["help"][split][lang]
                add("help", qs[k % len(qs)], {}, "para" if k % len(qs) else "plain", "written")
            for k in range(N["followup"]):
                q, n = T["followup"][split][lang][k % 2]
                add("followup", q, {"ordinal": n}, "para", "written", context=CONTEXT[lang])
            for k in range(N["off_topic"]):
                qs = T["off_topic"][split][lang]
                add("off_topic", qs[k % len(qs)], {}, "plain", "written")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} questions -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
