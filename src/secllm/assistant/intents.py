"""Understand a question: language, intent and arguments, deterministically and offline.

    >>> p = parse("请帮我检查这个请求是否是SQL注入: id=1' or 1=1--")
    >>> p.language, p.intent, p.args["items"]
    ('zh', 'judge', ["id=1' or 1=1--"])
    >>> parse("What is T1190 and how do I mitigate it?").args["ids"]
    ['T1190']
    >>> parse("What's the weather like tomorrow?").intent
    'off_topic'

Rules, not a model: the arguments (ids, URLs, pasted items, file names, ordinals) are recognised by
patterns, the intent by cue words (Chinese cues by substring, English cues by word with a small
edit-distance allowance for typos). Chinese topic words are segmented with ``jieba``. The order of
the checks is the policy: a file or a pasted item decides first, then catalogue ids, then cues.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["INTENTS", "Parsed", "parse", "detect_language"]

INTENTS = ("judge", "scan", "knowledge", "search", "profile", "help", "followup", "off_topic", "unknown")

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_URL = re.compile(r"(?:https?|ftp)://[^\s\"'<>“”「」，。]+", re.I)
_REQ_LINE = re.compile(r"\b(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH)\s+/\S*(?:\s+HTTP/\d(?:\.\d)?)?")
_FENCE = re.compile(r"```(?:[a-z]*\n)?(.*?)```", re.S)
_TICK = re.compile(r"`([^`\n]+)`")
_QUOTED = re.compile(r"[\"“「『]([^\"”」』\n]{2,})[\"”」』]")
_FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]*/)*[\w-][\w.-]*\.(?:log|pcap|pcapng|cap|txt|jsonl|json|csv|evtx|gz|"
                   r"ps1|php|js|sh|py))\b", re.I)
_COLON = re.compile(r"[:：]\s*")
_SEP = re.compile(r"[:：?？]\s*")
_CJK_EDGE = re.compile(r"(?<=[\u3400-\u9fff])(?=[A-Za-z0-9])|(?<=[A-Za-z0-9])(?=[\u3400-\u9fff])")
_DATA_CHARS = re.compile(r"[/=<>'\";()%&|$\\\[\]{}.]")
_ORD_EN = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1, "1st": 1, "2nd": 2, "3rd": 3}
_ORD_ZH = {"第一": 1, "第二": 2, "第三": 3, "第四": 4, "第五": 5, "最后一": -1, "第1": 1, "第2": 2, "第3": 3,
           "第4": 4, "第5": 5}

# cue vocabularies: English words (typo-tolerant) and Chinese substrings
CUES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "judge": (("malicious", "safe", "attack", "dangerous", "suspicious", "benign", "harmful", "legit", "legitimate",
               "check", "judge", "analyze", "analyse", "detect", "inspect", "evaluate", "injection", "exploit",
               "payload", "phishing", "malware", "xss", "sqli", "webshell", "verdict", "bad", "evil", "risky",
               "threat", "hostile", "clean", "ok"),
              ("恶意", "安全吗", "安全不", "攻击", "检查", "检测", "判断", "分析", "危险", "可疑", "是不是", "是否",
               "有没有问题", "有问题吗", "注入", "看看", "鉴定", "有害", "正常吗", "钓鱼", "木马", "后门", "威胁")),
    "scan": (("happened", "summarize", "summarise", "summary", "logs", "log", "capture", "pcap", "incident",
              "incidents", "attackers", "actors", "findings", "scan", "overview", "report", "traffic"),
             ("发生了什么", "发生什么", "总结", "汇总", "概括", "日志", "抓包", "流量", "事件", "攻击者", "扫描",
              "报告", "概述", "情况")),
    "knowledge": (("what", "explain", "mitigate", "mitigation", "mitigations", "fix", "prevent", "defend", "meaning",
                   "means", "describe", "tell", "about", "remediate", "remediation", "patch", "defense", "defence",
                   "protect", "stop", "avoid", "technique", "weakness", "tactic"),
                  ("是什么", "什么是", "解释", "介绍", "缓解", "防御", "防护", "防范", "修复", "怎么防", "如何防",
                   "含义", "意思", "讲讲", "说说", "说明", "措施", "对策", "加固", "预防", "应对", "是神马", "是啥",
                   "啥是", "怎么回事", "指的是", "指什么", "何为", "什么意思")),
    "profile": (("learning", "learn", "learned", "learnt", "profile", "profiles", "baseline", "normal"),
                ("学习模式", "学习", "学到", "基线", "画像", "正常行为", "建模")),
    "help": (("help", "capabilities", "capability", "features", "commands", "usage", "can"),
             ("帮助", "你能做什么", "能做什么", "会做什么", "你会什么", "功能", "怎么用", "如何使用", "用法", "能干什么",
              "能帮我什么", "可以做什么")),
}
# words that make a question a security question even when no cue decides it
_SECURITY_EN = frozenset("""security attack attacks vulnerability vulnerabilities exploit malware cve cwe att&ck attack
mitre injection xss sqli csrf ssrf rce phishing ransomware backdoor trojan brute force password credential credentials
hacker hackers firewall waf ids intrusion threat payload shell webshell privilege escalation lateral persistence
exfiltration ddos dos botnet apt malicious suspicious secllm log logs pcap traffic encryption hash hashes hashing
cipher cryptography cryptographic authentication authorization certificate tls ssl spoofing sniffing keylogger
rootkit spyware worm virus exploit exploits zero-day cobalt mimikatz""".split())
_SECURITY_ZH = ("安全", "攻击", "漏洞", "恶意", "注入", "木马", "病毒", "黑客", "入侵", "钓鱼", "勒索", "后门", "提权",
                "渗透", "防火墙", "威胁", "日志", "口令", "密码", "暴力破解", "横向移动", "持久化", "凭据", "数据泄露",
                "缓解", "战术", "弱点", "缺陷", "跨站", "脚本", "转储", "蠕虫", "僵尸网络", "社会工程", "越权",
                "反序列化", "文件包含", "目录遍历", "路径遍历", "命令执行", "代码执行", "溢出", "请求伪造", "挖矿",
                "间谍", "键盘记录", "隧道", "外泄", "权限", "认证", "鉴权", "会话劫持", "令牌", "侦察", "零日",
                "补丁", "杀毒", "沙箱", "蜜罐", "加密", "解密", "哈希", "凭证", "账户", "账号", "横向", "提升",
                "混淆", "规避", "逃逸", "植入", "远控", "命令与控制", "C2", "抓包", "流量", "扫描", "爆破", "撞库",
                "篡改", "劫持", "欺骗", "伪造", "泄露", "窃取", "嗅探", "中间人", "拒绝服务", "供应链", "webshell")
# common English words that also occur in catalogue names: not evidence of a security question
_COMMON_EN = frozenset("""about account accounts after against application applications based before between
browser business change close cloud code collection content control create credit data default device devices
domain download email event events execution external files first format general group hidden image information
input install internal local management manager media method modify network object office output people phone
policy process processes program proper public remote resource resources service services share software source
space standard storage system systems token transfer update upload usage users value video windows write match
games music movie movies""".split())
_HELP_PHRASES_EN = ("what can you do", "what do you do", "how do i use", "how to use", "what are you",
                    "who are you", "what can secllm", "list your", "your capabilities", "what tools", "what i can ask",
                    "can i ask")
# "what commands do you support?", "what are you able to do?": about the assistant itself
_ABOUT_YOU = re.compile(r"\b(?:support|commands?|capabilit\w*|features?|able to|examples?|usage)\b")
_HELP_ZH = ("可以问你", "问你哪些", "你都能", "你支持", "你会做")
_FOLLOW_EN = re.compile(r"\b(?:and|what about|how about|the|that|this)\b.*\b(?:one|item|line|finding|entry|result)\b"
                        r"|^\s*(?:and\s+)?(?:why|why\?|explain (?:it|that|more))\s*\??\s*$", re.I)
_FOLLOW_ZH = ("那个", "这个呢", "个呢", "条呢", "项呢", "为什么", "上一个", "刚才", "它呢", "个是", "条是")
_WORD = re.compile(r"[a-z][a-z&'-]*")


@dataclass
class Parsed:
    """A question understood: ``intent`` (one of :data:`INTENTS`), ``language`` (``zh``/``en``) and
    ``args``: ``items`` (pasted things to judge), ``files``, ``ids`` (ATT&CK/CWE/CVE/CAPEC),
    ``query`` (topic words for a knowledge search), ``ordinal`` (follow-ups: 1-based, -1 = last)."""
    question: str
    language: str
    intent: str
    args: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def detect_language(text: str) -> str:
    """``zh`` when Chinese characters weigh at least as much as Latin letters (one Chinese
    character counts as three letters: about a word each), else ``en``.

        >>> detect_language("这个 URL 安全吗"), detect_language("is this safe?")
        ('zh', 'en')
    """
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    return "zh" if cjk and cjk * 3 >= latin else "en"


@functools.lru_cache(maxsize=1)
def _vocab() -> dict[str, str]:
    """English cue word → intent (first intent listed wins for shared words)."""
    out: dict[str, str] = {}
    for intent, (en, _) in CUES.items():
        for w in en:
            out.setdefault(w, intent)
    return out


def _en_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@functools.lru_cache(maxsize=4096)
def _fix_typo(word: str) -> str | None:
    """The cue word a (possibly misspelt) English word stands for, or None. Words under 5 letters
    must match exactly: short words have too many near neighbours."""
    vocab = _vocab()
    if word in vocab:
        return word
    if len(word) == 4:                 # "waht": one swap of two neighbouring letters only
        for k in range(3):
            swapped = word[:k] + word[k + 1] + word[k] + word[k + 2:]
            if swapped in vocab:
                return swapped
        return None
    if len(word) < 5:
        return None
    hit = difflib.get_close_matches(word, [w for w in vocab if len(w) >= 4], n=1, cutoff=0.8)
    return hit[0] if hit else None


def _cue_hits(text: str) -> dict[str, int]:
    """How many cues of each intent the text holds."""
    low = text.lower()
    hits = {k: 0 for k in CUES}
    for w in _en_words(low):
        fixed = _fix_typo(w)
        if fixed is None:
            continue
        for intent, (en, _) in CUES.items():
            if fixed in en:
                hits[intent] += 1
    for intent, (_, zh) in CUES.items():
        hits[intent] += sum(1 for c in zh if c in text)
    return hits


@functools.lru_cache(maxsize=1)
def _catalogue_words() -> frozenset[str]:
    """Distinctive words of ATT&CK and CWE entry names ("dumping", "scripting", "phishing"...)."""
    from secllm.knowledge import load_attack, load_cwe

    att = load_attack()
    names = [o.name for coll in (att.techniques, att.tactics, att.mitigations, att.software, att.groups)
             for o in coll.values()] + [w.name for w in load_cwe().weaknesses.values()]
    words = {w for n in names for w in _WORD.findall(n.lower()) if len(w) >= 5}
    return frozenset(words - _COMMON_EN)


def _is_security(text: str, strict: bool = False) -> bool:
    """A security term: a word of the fixed lists, or (unless ``strict``) a distinctive word of an
    ATT&CK/CWE entry name (Chinese words through their CC-CEDICT English glosses)."""
    raw = set(_en_words(text))
    words = raw | {_fix_typo(w) or w for w in raw}
    if words & _SECURITY_EN or any(c in text for c in _SECURITY_ZH):
        return True
    if strict:
        return False
    try:
        vocab = _catalogue_words()
        if raw & vocab:
            return True
        if _CJK.search(text):
            from secllm.knowledge.translate import english_terms

            glosses = {w for g in english_terms(text) for w in _WORD.findall(g.lower())}
            return bool(glosses & vocab)
    except Exception:  # noqa: BLE001 — catalogues not installed: the fixed lists alone decide
        return False
    return False


def _looks_data(text: str) -> bool:
    """No Chinese and some punctuation of requests, paths or code."""
    return not _CJK.search(text) and bool(_DATA_CHARS.search(text))


def _items(question: str) -> tuple[list[str], str]:
    """Pasted items and the question with them taken out."""
    from secllm.knowledge import ids_in_text

    rest = question
    m = _FENCE.search(rest)
    if m:
        block = m.group(1).strip("\n")
        items = [ln for ln in block.splitlines() if ln.strip()]
        # a raw HTTP request is one item, not one per line
        if items and _REQ_LINE.match(items[0]):
            items = [block.replace("\r\n", "\n").replace("\n", "\r\n") + ("\r\n\r\n" if "\n\n" not in block else "")]
        return items, rest[:m.start()] + " " + rest[m.end():]
    # explicit delimiters: `code`, "quotes", "<question>: <item>" or "<question>? <item>"; the one
    # that starts first wins (an item may itself hold quotes, colons and question marks)
    cands: list[tuple[int, list[str], str]] = []
    m = _TICK.search(rest)
    if m:
        cands.append((m.start(), _TICK.findall(rest), _TICK.sub(" ", rest)))
    m = _QUOTED.search(rest)
    if m:
        outside = _QUOTED.sub(" ", rest)
        quoted = _QUOTED.findall(rest)
        if _cue_hits(outside)["judge"] or any(_looks_data(x) for x in quoted):
            cands.append((m.start(), quoted, outside))
    for m in _SEP.finditer(rest):
        if _URL.match(rest[max(0, m.start() - 5):]) or m.end() >= len(rest):
            continue                                   # the colon of a URL scheme
        head, tail = rest[:m.start()], rest[m.end():].strip()
        if not tail or _FILE.fullmatch(tail) or len(head) > 80:
            break
        hits = _cue_hits(head)
        # the tail is the item when the head asks for a judgement, when it looks like data, or
        # when a Chinese question introduces something that is not Chinese ("这条有没有问题：<x>")
        zh_intro = m.group(0)[0] in ":：" and _CJK.search(head) and not _CJK.search(tail)
        if hits["judge"] or hits["scan"] or ((_looks_data(tail) or zh_intro) and not ids_in_text(tail)):
            cands.append((m.start(), [tail], head))
        break
    if cands:
        _, found, left = min(cands, key=lambda c: c[0])
        if len(found) == 1:                            # "is this malicious: `x`": the x inside
            inner = _TICK.fullmatch(found[0]) or _QUOTED.fullmatch(found[0])
            if inner:
                found = [inner.group(1)]
        return found, left
    urls = _URL.findall(rest)
    if urls:
        return [u.rstrip(".,;:!?)）") for u in urls], _URL.sub(" ", rest)
    m = _REQ_LINE.search(rest)
    if m:
        return [m.group(0)], rest[:m.start()] + " " + rest[m.end():]
    return [], rest


def _ordinal(text: str) -> int | None:
    low = text.lower()
    for w, n in _ORD_EN.items():
        if re.search(rf"\b{w}\b", low):
            return n
    m = re.search(r"(?:#|number |no\. ?)(\d{1,3})\b", low)
    if m:
        return int(m.group(1))
    for w, n in _ORD_ZH.items():
        if w in text:
            return n
    return None


_ZH_FILLER = frozenset("""请 帮 我 帮我 一下 这个 那个 是 什么 的 了 吗 呢 啊 如何 怎么 怎样 怎么样 应该 该 可以 能 你 一个 有
哪些 些 和 与 及 以及 对 对于 关于 它 其 进行 做 告诉 讲讲 说说 介绍 解释 是什么 什么是 含义 意思 ？ ? ， , 。 ！
下 中 里 里面 要 想 知道 给 我们 相关 问题""".split())
_ZH_CUE_WORDS = frozenset("""缓解 防御 防护 防范 修复 加固 预防 应对 措施 对策 防 防止 避免 处理 解决 如何 神马 啥 怎么回事
回事 指 何为
介绍一下 解释一下 讲一下 说一下 是 什么样 的话""".split())
_EN_FILLER = frozenset("""what is are the a an of and how do does i we my to it its about tell me explain describe
please can you could would should mitigate mitigation mitigations prevent defend against stop fix means meaning
technique weakness tactic define definition this that which who why when where there any some for on in with
from be been s 's protect remediate remediation avoid handle deal""".split())


def _query(text: str) -> str:
    """The topic words of a knowledge question (jieba for Chinese, filler and cue words dropped;
    adjacent Chinese words stay joined: "如何缓解凭据转储" → "凭据转储").

        >>> _query("如何缓解凭据转储？"), _query("How do I mitigate credential dumping?")
        ('凭据转储', 'credential dumping')
    """
    import jieba

    out: list[str] = []
    run: list[str] = []                 # the current run of Chinese words

    def close() -> None:
        # filler and cue words are dropped at the ends of a run only: "可观察的响应差异" stays whole
        while run and (run[0] in _ZH_FILLER or run[0] in _ZH_CUE_WORDS):
            run.pop(0)
        while run and (run[-1] in _ZH_FILLER or run[-1] in _ZH_CUE_WORDS):
            run.pop()
        if run:
            out.append("".join(run))
        run.clear()

    for tok in jieba.lcut(text):
        t = tok.strip().lower()
        if not t or not re.search(r"\w", t):
            close()
            continue
        if _CJK.search(t):
            run.append(t)
        else:
            close()
            out.extend(w for w in re.findall(r"[a-z0-9][a-z0-9.\-]*", t) if w not in _EN_FILLER)
    close()
    return " ".join(out)


def parse(question: str, files: tuple[str, ...] | list[str] = (), *, has_context: bool = False) -> Parsed:
    """Language, intent and arguments of one question. ``files`` are files given with it;
    ``has_context``: a previous answer exists that a follow-up ("and the second one?") may mean.

        >>> parse("Is this URL safe? https://github.com/login").args["items"]
        ['https://github.com/login']
    """
    from secllm.knowledge import ids_in_text

    q = question.strip()
    items, rest = _items(q)
    lang = detect_language(rest if rest.strip() else q)
    named = [m.group(1) for m in _FILE.finditer(_CJK_EDGE.sub(" ", rest))]
    all_files = [*files, *[f for f in named if f not in files]]
    hits = _cue_hits(rest)
    low = rest.lower()
    ids = [] if items else ids_in_text(_CJK_EDGE.sub(" ", rest))
    args: dict[str, Any] = {}

    def out(intent: str, reason: str) -> Parsed:
        return Parsed(q, lang, intent, args, reason)

    if not q:
        return out("unknown", "empty question")
    if files or (named and (hits["scan"] or hits["judge"])):
        args["files"] = list(all_files)
        return out("scan", "files given" if files else "file named with a scan cue")
    if items:
        args["items"] = items
        return out("judge", "pasted item(s)")
    if ids:
        args["ids"] = ids
        return out("knowledge", "catalogue id(s)")
    if any(p in low for p in _HELP_PHRASES_EN) or (hits["help"] and lang == "zh" and not hits["knowledge"]) \
            or (re.search(r"\b(?:you|your)\b", low) and _ABOUT_YOU.search(low)) or any(p in q for p in _HELP_ZH):
        return out("help", "help phrase")
    if hits["profile"] and (lang == "zh" and any(c in q for c in ("学习模式", "学到", "基线", "画像")) or
                            re.search(r"learning mode|learn(?:ed|t)?\b|profile|baseline", low)):
        return out("profile", "profile cue")
    if has_context:
        n = _ordinal(rest)
        if n is not None or _FOLLOW_EN.search(rest) or (lang == "zh" and any(c in rest for c in _FOLLOW_ZH)
                                                          and len(rest) <= 20):
            args["ordinal"] = n if n is not None else 1
            return out("followup", "refers to the previous answer")
    if hits["scan"] and (re.search(r"what happened|发生了什么|发生什么", rest, re.I) or (
            re.search(r"\b(?:logs?|captures?|pcaps?|files?|traffic)\b|日志|抓包|流量|文件|附件", rest, re.I)
            and re.search(r"happened|summar|incident|attack|actor|finding|overview|发生|总结|汇总|概括|攻击|事件|情况|异常",
                          rest, re.I))):
        return out("scan", "asks about logs or captures, none given")
    if hits["knowledge"] and _is_security(rest):
        args["query"] = _query(rest)
        return out("search", "knowledge question without an id")
    # asking back is for questions that are plainly about security; a word that merely also
    # occurs in a catalogue name ("capital", "mount") does not make a question a security one
    if _is_security(rest, strict=True):
        if hits["help"]:
            return out("help", "help cue")
        args["query"] = _query(rest)
        return out("unknown", "security question with no recognised intent")
    if hits["help"] and re.search(r"\bhelp\b|功能|帮助", rest, re.I):
        return out("help", "help cue")
    return out("off_topic", "no security term, item, file or id")
