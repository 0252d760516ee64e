"""The correlator's input: one typed ``Finding`` per detection or third-party alert.

Every source becomes the same record: ``secllm scan``'s JSON findings (:func:`finding_from_scan`),
and the alerts of Suricata, Wazuh/OSSEC, ModSecurity and alert CSVs (:mod:`.alerts`). When scan's
output changes, only :func:`finding_from_scan` changes.

    >>> f = finding_from_scan({"id": "access.log:7", "file": "access.log", "line": 7, "source": "10.0.0.5",
    ...     "label": "malicious", "score": 0.99, "attack_type": "sqli", "status": "ok", "kind": "url",
    ...     "method": "GET", "http_status": 200, "time": "10/Oct/2023:13:55:36 +0000",
    ...     "text": "/search?q=1'--", "signatures": ["sqlmap"]})
    >>> f.id, f.src, f.label, f.status, f.time, f.tools
    ('access.log:7', '10.0.0.5', 'sqli', 200, 1696946136.0, ('sqlmap',))
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from secllm.data.desensitize import desensitize

__all__ = ["Finding", "finding_from_scan", "parse_time", "iso"]

# Finding.kind values
KINDS = ("web", "log", "host", "traffic", "profile", "alert", "context")


@functools.lru_cache(maxsize=4096)
def _masked(text: str) -> str:
    """A third-party alert's title masked once: a sensor repeats a few thousand rule names."""
    return desensitize(text)


@dataclass(slots=True)
class Finding:
    """One detection or alert, normalised. ``id`` is the item id as its source wrote it (scan's
    ``file:line``); ``time`` is epoch seconds (None when the source has none)."""

    id: str
    time: float | None
    kind: str = "web"                  # web / log / host / traffic / profile / alert / context (a benign item)
    sensor: str = "secllm"             # who raised it: secllm, suricata, wazuh, modsecurity, csv
    name: str = ""                     # human title: attack type or the alert's rule name
    rule: str = ""                     # stable rule key (de-duplication and routine-noise learning)
    task: str | None = None            # (task, label): the verdict the knowledge layer may know
    label: str | None = None
    score: float = 1.0                 # confidence 0..1
    severity: float | None = None      # the source's own severity on 0..10, when it has one
    src: str | None = None             # the actor's address (client ip, pseudonym, flow)
    user: str | None = None
    session: str | None = None
    host: str | None = None            # where it happened / fired (asset, agent, sensor)
    dst: str | None = None             # the target address, when known
    tools: tuple[str, ...] = ()        # tool signatures (sqlmap, nikto, ...)
    tactics: tuple[str, ...] = ()      # stated by the source (Wazuh mitre, EVTX task); else from knowledge
    techniques: tuple[str, ...] = ()
    outcome: str | None = None         # "success" when the source says the attempt worked
    status: int | None = None          # HTTP status of the response
    size: int | None = None            # response bytes
    method: str | None = None
    target: str | None = None          # request target / file / resource acted on
    text: str = ""                     # short evidence text (hostile: escape before showing)
    file: str = ""
    line: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # third-party alerts arrive unmasked (a signature naming an e-mail, a logged URL with a key):
        # their text is masked here, once, before anything reports it; SecLLM's own findings were
        # masked by scan already (or kept raw on purpose with --raw-text)
        if self.sensor != "secllm":
            self.name = _masked(self.name) if self.name else self.name
            self.text = _masked(self.text) if self.text else self.text
            if self.target:
                self.target = desensitize(self.target)
            # ``extra`` keeps the sensor's structured fields (agent addresses link hosts): not free text

    @property
    def malicious(self) -> bool:
        return self.kind != "context"




@functools.lru_cache(maxsize=8192)
def _parse_str_time(s: str) -> float | None:
    s = s.strip()
    if not s:
        return None
    try:
        v = float(s)
        return v / 1000.0 if v > 1e11 else v       # epoch milliseconds
    except ValueError:
        pass
    # access-log stamp: 10/Oct/2023:13:55:36 +0000
    if len(s) >= 20 and s[2] == "/" and s[6] == "/" and s[11] == ":":
        try:
            return datetime.strptime(s, "%d/%b/%Y:%H:%M:%S %z").timestamp()
        except ValueError:
            pass
    iso_s = s.replace("Z", "+00:00").replace(" ", "T", 1) if "T" not in s and len(s) > 10 and s[4] == "-" \
        else s.replace("Z", "+00:00")
    # 2022-01-18T11:37:44.123+0000 (Wazuh, Suricata): fromisoformat wants +00:00 before Python 3.11
    if len(iso_s) > 5 and iso_s[-5] in "+-" and iso_s[-4:].isdigit() and iso_s[-3] != ":":
        iso_s = iso_s[:-2] + ":" + iso_s[-2:]
    try:
        dt = datetime.fromisoformat(iso_s)
    except ValueError:
        dt = None
    if dt is None:
        for fmt in ("%a %b %d %H:%M:%S %Y", "%d/%b/%Y:%H:%M:%S.%f %z", "%b %d %Y %H:%M:%S", "%m/%d/%Y-%H:%M:%S.%f"):
            try:
                dt = datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)       # a stamp without a zone is read as UTC
    return dt.timestamp()


def parse_time(value: Any) -> float | None:
    """Epoch seconds from epoch numbers (s or ms), ISO 8601, access-log stamps; None if unreadable.

        >>> parse_time("2023-10-10T13:55:36Z"), parse_time("10/Oct/2023:13:55:36 +0000"), parse_time(1696946136)
        (1696946136.0, 1696946136.0, 1696946136.0)
        >>> parse_time("2022-01-18T11:37:44.500+0000"), parse_time("not a time")
        (1642505864.5, None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if not math.isfinite(v):
            return None
        return v / 1000.0 if v > 1e11 else v
    if isinstance(value, str):
        return _parse_str_time(value)
    return None


def iso(t: float | None) -> str | None:
    """ISO 8601 UTC with a Z: ``iso(0)`` -> ``'1970-01-01T00:00:00Z'``."""
    if t is None:
        return None
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{dt.microsecond // 1000:03d}" if dt.microsecond >= 1000 else "") + "Z"


def _str(v: Any) -> str | None:
    if v is None or v == "" or v == "-":
        return None
    return str(v)


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return None


# scan's `kind` (what the item was, per issue 17) -> the finding's kind
_SCAN_KINDS = {"url": "web", "http": "web", "payload": "web", "query": "web", "access-log": "web",
               "log": "log", "auth-log": "log", "syslog": "log", "app-log": "log", "evtx": "host",
               "windows-event": "host", "flow": "traffic", "pcap": "traffic", "script": "host"}
# routed scan (secllm.detect.route) names the identified input kind: ``access-log``,
# ``log-line/openssh``, ``script-powershell``...; its part before ``/`` or ``-`` picks the kind
_INPUT_KINDS = {"http-request": "web", "url": "web", "payload": "web", "access-log": "web", "log-line": "log",
                "windows-event": "host", "event-sequence": "host", "script": "host", "pcap": "traffic"}


def _input_kind(value: Any) -> str | None:
    v = str(value or "").split("/")[0]
    return _INPUT_KINDS.get(v) or _INPUT_KINDS.get(v.split("-")[0])


def finding_from_scan(obj: dict[str, Any], *, file: str | None = None, line: int | None = None) -> Finding | None:
    """A ``secllm scan`` JSON finding (also ``scan --all`` items) as a :class:`Finding`.

    Benign items of ``scan --all`` become ``kind="context"``: they never open an incident, but they
    tell the correlator how a stage went (a later 200 from the same actor) and feed the
    aggregate rules (many 401s, a 404 storm). Items that could not be judged (``status`` other than
    ``ok``) return ``None``. Reads the fields scan writes today and those issue 17 adds (``task``,
    ``knowledge``, ``host``, ``user``, ``count``).
    """
    if not isinstance(obj, dict):
        return None
    if obj.get("status", "ok") not in ("ok", None):
        return None
    label = obj.get("label")
    attack = obj.get("attack_type")
    task = obj.get("task")
    malicious = label not in (None, "benign", "normal", "none", "unknown")
    fid = _str(obj.get("id")) or f"{file or obj.get('file') or 'findings'}:{line or obj.get('line') or 0}"
    scan_kind = str(obj.get("kind") or "")
    kind = (_SCAN_KINDS.get(scan_kind) or _input_kind(obj.get("input_kind"))
            or ("web" if task in (None, "web-attack") else "log"))
    if task is None:
        task = "web-attack" if kind == "web" else kind
    # web findings: label "malicious" + attack_type; other tasks put the class in label
    verdict = attack if label == "malicious" else label
    if verdict in (None, "malicious"):
        verdict = attack or "unknown"
    profile = obj.get("profile")
    if isinstance(profile, dict) and profile.get("verdict") in ("anomalous", "deviation", "malicious"):
        malicious, kind, task, verdict = True, "profile", "profile", "deviation"
    know = obj.get("knowledge") if isinstance(obj.get("knowledge"), dict) else None
    tactics = tuple(know.get("tactics") or ()) if know else ()
    techniques = tuple(know.get("attack") or ()) if know else ()
    severity = None
    if know and isinstance(know.get("severity"), dict):
        s = know["severity"].get("score")
        severity = float(s) if isinstance(s, (int, float)) else None
    if task == "evtx-tactic" and verdict:
        from secllm.incidents.taxonomy import tactic_shortname

        tn = tactic_shortname(str(verdict))
        if tn in ("automatedtestingtools", "other"):     # the task's catch-all classes name no tactic
            task = None
        else:
            tactics = tactics or (tn,)
    score = obj.get("score")
    sig = obj.get("signatures") or ()
    count = _int(obj.get("count"))
    details = obj.get("details") if isinstance(obj.get("details"), dict) else {}
    t = parse_time(obj.get("time") if obj.get("time") is not None else obj.get("timestamp"))
    if t is None and kind != "web" and obj.get("text"):
        # routed log lines carry no time field: their own stamp (syslog: year unknown, a fixed one)
        from secllm.detect.auth import line_time

        t = line_time(str(obj["text"]))
    extra: dict[str, Any] = {}
    if count and count > 1:
        extra["count"] = count
    if isinstance(obj.get("items"), list):
        extra["items"] = [str(x) for x in obj["items"][:1000]]
    return Finding(
        id=fid,
        time=t,
        kind=kind if malicious else "context",
        sensor="secllm",
        name=str(verdict),
        rule=f"{task or obj.get('task') or 'evtx-tactic'}:{verdict}",
        task=task,
        label=str(verdict),
        score=float(score) if isinstance(score, (int, float)) else 1.0,
        severity=severity,
        src=_str(obj.get("source")) or _str(obj.get("src")) or _str(obj.get("ip")) or _str(details.get("source")),
        user=_str(obj.get("user")),
        session=_str(obj.get("session")),
        host=_str(obj.get("host")),
        dst=_str(obj.get("dst")),
        tools=tuple(str(s) for s in sig if isinstance(s, str))[:8],
        tactics=tactics,
        techniques=techniques,
        status=_int(obj.get("http_status")),
        size=_int(obj.get("size")),
        method=_str(obj.get("method")),
        target=_str(obj.get("target")) or (_str(obj.get("text")) if kind == "web" else None),
        text=str(obj.get("text") or "")[:300],
        file=str(obj.get("file") or file or ""),
        line=_int(obj.get("line")) or line,
        extra=extra,
    )
