"""Know the input, then judge it only with a model made for it (issue 17).

Every item is identified first (:mod:`secllm.identify`), then routed to the judges made for its
kind; what no judge covers gets ``status: unsupported`` with the identified kind — never a verdict
from a model that was not trained for it:

======================================  =========================================================
kind                                    judged by
======================================  =========================================================
http-request, url, payload              web-attack (the request, URL or value; cascade + analyzers)
access-log                              web-attack on the logged request target (+ User-Agent
                                        scanner signatures)
log-line: openssh, linux-syslog         log-auth: brute force (failures per source in a window)
log-line: bgl                           log-bgl (the BGL alert model)
script-powershell                       script (the model trained on PowerShell)
script-php, -javascript, -shell,        script-rules (webshell / dropper / reverse-shell constructs;
-python                                 no model here was trained on these languages)
cti-text                                cti-attack (threat-intel prose -> ATT&CK technique)
text-en, text-zh, windows-event,        unsupported: ordinary prose has no attack model; the
event-sequence, log-line (others),      EVTX model has no benign class; other log systems need a
binary, unknown                         learned profile (``secllm learn``)
======================================  =========================================================

A safety net keeps the identifier from opening a hole: an item of at most three lines identified as
prose or as nothing known is still read by the structural analyzers
(:mod:`secllm.detect.analyzers`), and one carrying an attack construct goes to the web model as a
value.

    >>> r = Router()                                              # doctest: +SKIP
    >>> [(x.input_kind, x.task, x.label) for x in r.judge(["1' or 1=1--", "The weather is nice."])]  # doctest: +SKIP
    [('payload', 'web-attack', 'malicious'), ('text-en', None, None)]
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from secllm.data.canonical import canonicalize
from secllm.detect.analyzers import analyze
from secllm.detect.auth import AuthBruteForce
from secllm.detect.detector import Detection, Evidence, Status
from secllm.detect.script_rules import RULES as SCRIPT_RULES
from secllm.detect.script_rules import scan_script

WEB_KINDS = {"http-request": "http", "url": "url", "payload": "payload", "access-log": "url"}
AUTH_FAMILIES = ("openssh", "linux-syslog")
UNSUPPORTED_WHY = {
    "text-en": "ordinary prose: no attack model reads it",
    "text-zh": "ordinary prose: no attack model reads it",
    "windows-event": "the shipped EVTX model has no benign class; use `--task evtx-tactic` for its tactic guess",
    "event-sequence": "event sequences are judged against a learned profile (`secllm learn --format sessions`)",
    "log-line": "no model for this log system; learn its normal operation with `secllm learn --format log`",
    "script-other": "no model or rules for this language",
    "binary": "not text",
    "unknown": "not identified with enough confidence",
    "pcap": "captures are read as files (`secllm scan FILE.pcap`)",
}
_BGL_LABEL = re.compile(r"^(?:-|[A-Z]{3,})\s+(?=\d{9,10}\s)")


def task_for(kind: str, family: str | None = None) -> str | None:
    """The judge of one identified kind (``None``: unsupported).

        >>> task_for("payload"), task_for("log-line", "openssh"), task_for("text-en")
        ('web-attack', 'log-auth', None)
    """
    if kind in WEB_KINDS:
        return "web-attack"
    if kind == "log-line":
        if family in AUTH_FAMILIES:
            return "log-auth"
        if family == "bgl":
            return "log-bgl"
        return None
    if kind == "script-powershell":
        return "script"
    if kind in SCRIPT_RULES:
        return "script-rules"
    if kind == "cti-text":
        return "cti-attack"
    return None


def access_log_target(line: str) -> tuple[str, str | None] | None:
    """(request target, user agent) of an access-log line, or None."""
    from secllm.data.readers import parse_access_log_line

    d = parse_access_log_line(line)
    if d is None or not d.get("target"):
        return None
    ua = d.get("user_agent")
    return d["target"], (ua if ua and ua != "-" else None)


class Router:
    """Identify, route and judge. Judges load lazily, on the first item of their kind.

    ``web`` is an already loaded :class:`~secllm.detect.detector.WebAttackDetector` (else it is
    loaded from ``model_dir``); the other tasks come from ``tasks_dir`` (the shipped base and
    adapters by default). ``identifier`` defaults to the shipped one.
    """

    def __init__(self, model_dir: str | Path | None = None, tasks_dir: str | Path | None = None, *,
                 backend: str = "auto", threads: int | None = None, web: Any = None, identifier: Any = None,
                 auth: AuthBruteForce | None = None):
        self.model_dir, self.tasks_dir = model_dir, tasks_dir
        self.backend, self.threads = backend, threads
        self._web, self._identifier = web, identifier
        self.auth = auth or AuthBruteForce()
        self._tasks: dict[str, Any] = {}
        self._mapper = None
        self._lock = threading.RLock()

    # -------------------------------------------------------------------------------------
    @property
    def identifier(self):
        if self._identifier is None:
            from secllm.identify import Identifier

            self._identifier = Identifier.load()
        return self._identifier

    @property
    def web(self):
        with self._lock:
            if self._web is None:
                from secllm.detect.detector import WebAttackDetector
                from secllm.paths import DEFAULT_MODEL_DIR
                from secllm.runtime import resolve_backend

                d = self.model_dir or DEFAULT_MODEL_DIR
                self._web = WebAttackDetector.load(d, threads=self.threads, backend=resolve_backend(d, self.backend))
            return self._web

    def task_detector(self, task: str):
        with self._lock:
            if task not in self._tasks:
                from secllm.detect.generic import TaskDetector
                from secllm.paths import DEFAULT_TASKS_DIR
                from secllm.runtime import resolve_backend

                d = Path(self.tasks_dir) if self.tasks_dir else DEFAULT_TASKS_DIR
                self._tasks[task] = TaskDetector.load(d, task=task, threads=self.threads,
                                                      backend=resolve_backend(d, self.backend))
            return self._tasks[task]

    # -------------------------------------------------------------------------------------
    def identify(self, items: list[str]) -> list[tuple[str, str | None, float]]:
        """(kind, family, confidence) per item, with the analyzers' safety net applied."""
        ids = self.identifier.identify_batch(items)
        out = []
        for item, r in zip(items, ids):
            kind, family, conf = r.kind, r.family, float(r.confidence)
            # the net is for values and one-liners: a multi-line text the identifier could not place
            # (source code of a language no judge reads, a document) is reported unsupported, not
            # read as one web value (template literals and shell variables look like injections)
            # (a fragment of a few words called threat-intel prose — `| whoami` — is read the same way:
            # a sentence about an attack has more words than the attack itself)
            unjudged = task_for(kind, family) is None or (kind == "cti-text" and isinstance(item, str)
                                                          and len(item.split()) < 4)
            if unjudged and kind not in ("pcap", "binary") and isinstance(item, str) \
                    and len(item) <= 65536 and item.strip().count("\n") <= 2 \
                    and analyze(canonicalize(item, max_chars=65536).text):
                kind, family = "payload", None          # an attack construct: a web value after all
            out.append((kind, family, conf))
        return out

    def judge(self, items: list[str], ids: list[str] | None = None, *, evidence: bool = True,
              kinds: list[tuple[str, str | None, float]] | None = None) -> list[Detection]:
        """Judge a batch; ``kinds`` skips identification (scan knows a file's kind)."""
        ids = ids or [str(i + 1) for i in range(len(items))]
        kinds = kinds if kinds is not None else self.identify(items)
        results: list[Detection | None] = [None] * len(items)
        groups: dict[str, list[int]] = {}
        for k, (kind, family, _) in enumerate(kinds):
            task = task_for(kind, family)
            if isinstance(items[k], str) and not items[k].strip():
                results[k] = Detection(id=ids[k], status=Status.EMPTY, error="empty input")
            elif task is None:
                why = UNSUPPORTED_WHY.get(kind, "no task judges this kind")
                results[k] = Detection(id=ids[k], status=Status.UNSUPPORTED, error=why)
            else:
                groups.setdefault(task, []).append(k)
        for task, idx in groups.items():
            sub = [items[k] for k in idx]
            sub_ids = [ids[k] for k in idx]
            try:
                res = self._judge_task(task, sub, sub_ids, [kinds[k] for k in idx], evidence)
            except Exception as exc:  # noqa: BLE001 — a broken judge must not take the batch down
                res = [Detection(id=i, status=Status.INTERNAL, error=f"{task}: {type(exc).__name__}: {exc}")
                       for i in sub_ids]
            for k, r in zip(idx, res):
                r.task = task
                results[k] = r
        for r, (kind, family, conf) in zip(results, kinds):
            r.input_kind = kind if not family else f"{kind}/{family}"
        return results  # type: ignore[return-value]

    def detect(self, items: list[str], ids: list[str] | None = None, evidence: bool = True,
               kind: str = "auto") -> list[Detection]:
        """The detector interface (``secllm detect`` streams through it): ``kind`` other than
        ``auto`` states a web input shape, so everything goes to the web model as that."""
        if kind != "auto":
            web_kind = {"http": "http-request", "query": "url"}.get(kind, kind)
            return self.judge(items, ids, evidence=evidence, kinds=[(web_kind, None, 1.0)] * len(items))
        return self.judge(items, ids, evidence=evidence)

    @property
    def task(self) -> str:                 # results name their own tasks; this is the fallback
        return "web-attack"

    # -------------------------------------------------------------------------------------
    def _judge_task(self, task: str, items: list[str], ids: list[str], kinds: list, evidence: bool) -> list[Detection]:
        if task == "web-attack":
            return self._judge_web(items, ids, kinds, evidence)
        if task == "log-auth":
            return self._judge_auth(items, ids)
        if task == "script-rules":
            return self._judge_script_rules(items, ids, kinds)
        if task == "log-bgl":
            items = [_BGL_LABEL.sub("", t, count=1) for t in items]
        res = self.task_detector(task).detect(items, ids=ids, evidence=evidence)
        if task == "cti-attack":
            self._second_opinion(items, res)
        return res

    @property
    def technique_mapper(self):
        with self._lock:
            if self._mapper is None:
                from secllm.knowledge.technique_map import TechniqueMapper

                self._mapper = TechniqueMapper.load()
            return self._mapper

    def _second_opinion(self, items: list[str], res: list[Detection]) -> None:
        """Text routed here was *identified* as threat-intel prose, not known to be: a technique is
        reported only when the independent ATT&CK mapper (``secllm map attack``, trained with
        'no technique' rows) also finds one; otherwise the answer is ``unknown`` (details say why).
        ``--task cti-attack`` asks the task model alone."""
        todo = [k for k, r in enumerate(res) if r.status == Status.OK and r.label not in (None, "unknown", "benign")]
        if not todo:
            return
        try:
            maps = self.technique_mapper.map([items[k] for k in todo])
        except (OSError, ValueError) as exc:          # no mapper model: the task model's answer stands
            for k in todo:
                res[k].warnings.append(f"second opinion unavailable: {exc}")
            return
        for k, m in zip(todo, maps):
            r = res[k]
            if m.status == "ok" and m.none:
                r.details = {**(r.details or {}), "second_opinion": {
                    "model_label": r.label, "mapper_none_score": m.none_score,
                    "reason": "the ATT&CK mapper finds no technique in this text"}}
                r.label, r.attack_type, r.attack_types, r.evidence = "unknown", None, [], []

    def _judge_web(self, items, ids, kinds, evidence) -> list[Detection]:
        texts, web_kinds, uas = [], [], []
        for item, (kind, _, _) in zip(items, kinds):
            ua = None
            if kind == "access-log":
                parsed = access_log_target(item)
                if parsed is not None:
                    item, ua = parsed
            texts.append(item)
            web_kinds.append(WEB_KINDS.get(kind, "auto"))
            uas.append(ua)
        res = self.web.detect(texts, ids=ids, evidence=evidence, kind=web_kinds)
        if any(uas):
            from secllm.data.http import Part
            from secllm.detect.detector import flag_by_signatures
            from secllm.detect.signatures import match_parts

            for r, ua in zip(res, uas):
                if ua and r.status == Status.OK and self.web.signatures:
                    found = [h for h in match_parts([Part("header:user-agent", ua, 0, len(ua))])
                             if h.name not in r.signatures]
                    r.signatures = [*r.signatures, *(h.name for h in found)]
                    flag_by_signatures(r, found, ua, evidence, part="log:user-agent")
        return res

    def _judge_auth(self, items, ids) -> list[Detection]:
        out = []
        for i, line in zip(ids, items):
            v = self.auth.judge_line(line)
            r = Detection(id=i, label=v.label, score=1.0 if v.label == "malicious" else 0.0, stage="rules",
                          attack_type=v.attack_type, attack_types=[v.attack_type] if v.attack_type else [])
            if v.details:
                r.details = v.details
            if v.label == "malicious" and v.span:
                a, b = v.span
                r.evidence = [Evidence(part="line", start=a, end=b, text=line[a:b], weight=1.0)]
            out.append(r)
        return out

    def _judge_script_rules(self, items, ids, kinds) -> list[Detection]:
        out = []
        for i, text, (kind, _, _) in zip(ids, items, kinds):
            fs = scan_script(text, kind)
            r = Detection(id=i, label="malicious" if fs else "benign", score=1.0 if fs else 0.0, stage="rules")
            if fs:
                r.attack_type = "malicious-script"
                r.attack_types = ["malicious-script"]
                r.details = {"rules": [f.rule for f in fs]}
                r.evidence = [Evidence(part="script", start=f.start, end=f.end, text=text[f.start:f.end][:200],
                                       weight=round(1.0 / len(fs), 4)) for f in fs[:5]]
            out.append(r)
        return out
