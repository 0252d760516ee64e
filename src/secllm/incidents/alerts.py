"""Readers: scan's findings and the alerts of the tools a SOC runs, as :class:`Finding` records.

Formats (``fmt``), each read lazily, line by line, in constant memory:

* ``findings`` -- ``secllm scan`` JSONL (``scan --all`` too: benign items become context);
* ``eve`` -- Suricata EVE JSON (``event_type: alert`` records; other event types are skipped);
* ``wazuh`` -- Wazuh ``alerts.json`` and OSSEC's JSON alerts (``rule.description`` or
  ``rule.comment``, ``agent.name`` or ``hostname``, ``data.srcip`` or ``srcip``);
* ``modsec`` -- ModSecurity audit logs, serial (native ``--id-A--`` sections, v2 and v3) or JSON
  (one transaction per line, libmodsecurity v3 and mod_security 2.9 layouts);
* ``alerts-csv`` -- a CSV with a header holding at least ``time`` (epoch seconds or ISO 8601),
  ``name``, ``ip`` (the actor address) and ``host`` (where it fired). Optional columns are used
  when present: ``severity`` (or ``priority``), ``dst``/``dest_ip``, ``user``, ``category``,
  ``tactic``, ``technique``, ``sensor``; anything else is ignored.

Ids follow scan: ``<file name>:<line>`` for line formats (the line where a serial ModSecurity
transaction starts), ``<file name>:<row>`` (1-based data row, header not counted) for CSVs.
A line that cannot be read yields a :class:`ReadError` and reading goes on.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "alerts.csv"
    >>> _ = p.write_text("time,name,ip,host\\n2024-05-01T10:00:00Z,ET SCAN Nmap,10.0.0.9,ids1\\n")
    >>> [(f.id, f.src, f.tactics) for f in read_findings(p)]
    [('alerts.csv:1', '10.0.0.9', ('reconnaissance',))]
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from secllm.incidents.findings import Finding, finding_from_scan, parse_time
from secllm.incidents.taxonomy import classify, crs_class, tactic_shortname

__all__ = ["ALERT_FORMATS", "ReadError", "detect_format", "finding_from_object", "read_findings"]

ALERT_FORMATS = ("auto", "findings", "eve", "wazuh", "modsec", "alerts-csv")
MAX_LINE_BYTES = 1 << 20
# "--3c2f1a0b-A--" (mod_security 2) and "---hAsxUnIo---A--" (libmodsecurity 3)
_MODSEC_BOUNDARY = re.compile(rb"^-{2,3}([0-9A-Za-z]{6,})-{1,3}([A-Z])--\s*$")


@dataclass(slots=True)
class ReadError:
    """An item that could not be read: counted and reported, the stream goes on."""

    id: str
    error: str


def _open(path: Path) -> IO[bytes]:
    f = open(path, "rb")  # noqa: SIM115 - closed by the caller
    if f.peek(2)[:2] == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return f


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) with over-long lines reported as ``None``; gzip transparent."""
    with _open(path) as f:
        n = 0
        try:
            while True:
                raw = f.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                n += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    yield n, None
                    continue
                yield n, raw.decode("utf-8", "replace").rstrip("\r\n")
        except (OSError, EOFError) as exc:     # a truncated gzip: what was read stands
            yield n + 1, f"\x00stream broken: {exc}"


# ------------------------------------------------------------------------------------------------
# format detection
# ------------------------------------------------------------------------------------------------

def _object_format(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return None
    if "event_type" in obj and ("src_ip" in obj or "alert" in obj or "flow_id" in obj):
        return "eve"
    if isinstance(obj.get("rule"), dict) and ("agent" in obj or "manager" in obj or "decoder" in obj
                                               or "location" in obj or "full_log" in obj):
        return "wazuh"
    if isinstance(obj.get("transaction"), dict) and ("messages" in obj["transaction"] or "request" in obj
                                                     or "client_ip" in obj["transaction"]
                                                     or "remote_address" in obj["transaction"]):
        return "modsec"
    if "id" in obj and ("label" in obj or "attack_type" in obj) and ("status" in obj or "score" in obj):
        return "findings"
    if {"time", "name", "ip", "host"} <= set(obj):
        return "alert-row"
    return None


def detect_format(path: str | Path) -> str | None:
    """The alert/finding format of a file, or ``None`` when it is raw input for ``secllm scan``.

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "eve.json"
        >>> _ = p.write_text('{"timestamp": "2024-05-01T10:00:00.000000+0000", "event_type": "alert", '
        ...                  '"src_ip": "10.0.0.9", "alert": {"signature": "ET SCAN x"}}\\n')
        >>> detect_format(p)
        'eve'
    """
    p = Path(path)
    with _open(p) as f:
        head = f.read(64 * 1024)
    if not head.strip():
        return "findings"            # an empty file: no findings (not raw input to scan)
    text = head.decode("utf-8", "replace")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if _MODSEC_BOUNDARY.match(first.encode()):
        return "modsec"
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            return None
        return _object_format(obj)
    header = {h.strip().lower() for h in next(csv.reader([first]), [])}
    if {"time", "name", "ip", "host"} <= header:
        return "alerts-csv"
    return None


# ------------------------------------------------------------------------------------------------
# per-format conversion of one record
# ------------------------------------------------------------------------------------------------

def _s(v: Any) -> str | None:
    if v is None:
        return None
    v = str(v).strip()
    return v if v and v != "-" else None


def _place(f: Finding, name: str, category: str = "", groups: tuple[str, ...] = ()) -> Finding:
    """Tactics/technique/verdict from the alert's own words when the source gave none."""
    c = classify(name, category, groups)
    if not f.tactics:
        f.tactics, f.techniques = c.tactics, f.techniques or c.techniques
    if c.verdict and f.label is None:
        f.task, f.label = c.verdict
    if c.outcome and f.outcome is None:
        f.outcome = c.outcome
    return f


_SURICATA_SEVERITY = {1: 8.0, 2: 5.5, 3: 3.0, 4: 1.5}


def _from_eve(obj: dict[str, Any], fid: str, file: str, line: int | None) -> Finding | None:
    if obj.get("event_type") != "alert" or not isinstance(obj.get("alert"), dict):
        return None
    a = obj["alert"]
    src, dst = _s(obj.get("src_ip")), _s(obj.get("dest_ip"))
    if a.get("direction") == "to_client" or obj.get("direction") == "to_client":
        src, dst = dst, src                      # the packet came from the server: the actor is the client
    name = str(a.get("signature") or f"suricata {a.get('signature_id')}")
    meta = a.get("metadata") if isinstance(a.get("metadata"), dict) else {}
    tactics = tuple(tactic_shortname(t) for t in meta.get("mitre_tactic_name") or () if isinstance(t, str))
    techniques = tuple(str(t) for t in meta.get("mitre_technique_id") or ())
    http = obj.get("http") if isinstance(obj.get("http"), dict) else {}
    sev = a.get("severity")
    f = Finding(
        id=fid, time=parse_time(obj.get("timestamp")), kind="alert", sensor="suricata", name=name,
        rule=f"suricata:{a.get('gid', 1)}:{a.get('signature_id', name)}", score=1.0,
        severity=_SURICATA_SEVERITY.get(sev) if isinstance(sev, int) else None,
        src=src, dst=dst, host=dst,                 # the asset: the sensor's own name goes to extra
        tactics=tactics, techniques=techniques,
        status=http.get("status") if isinstance(http.get("status"), int) else None,
        size=http.get("length") if isinstance(http.get("length"), int) else None,
        method=_s(http.get("http_method")), target=_s(http.get("url")),
        tools=(), text=name[:300], file=file, line=line,
        extra={k: v for k, v in (("category", a.get("category")), ("sensor_name", _s(obj.get("host"))))
               if v},
    )
    return _place(f, name, str(a.get("category") or ""))


def _wazuh_level_severity(level: Any) -> float | None:
    try:
        return round(min(10.0, float(level) / 1.5), 2)       # Wazuh levels 0..15 -> 0..10
    except (TypeError, ValueError):
        return None


def _from_wazuh(obj: dict[str, Any], fid: str, file: str, line: int | None) -> Finding | None:
    r = obj.get("rule")
    if not isinstance(r, dict):
        return None
    data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
    agent = obj.get("agent") if isinstance(obj.get("agent"), dict) else {}
    name = str(r.get("description") or r.get("comment") or f"rule {r.get('id') or r.get('sidid')}")
    rid = r.get("id") or r.get("sidid") or name
    groups = r.get("groups") if isinstance(r.get("groups"), list) else \
        [g for g in str(r.get("group") or "").split(",") if g]
    mitre = r.get("mitre") if isinstance(r.get("mitre"), dict) else {}
    tactics = tuple(tactic_shortname(t) for t in mitre.get("tactic") or () if isinstance(t, str))
    techniques = tuple(str(t) for t in mitre.get("id") or ())
    src = _s(data.get("srcip")) or _s(data.get("src_ip")) or _s(obj.get("srcip"))
    user = _s(data.get("dstuser")) or _s(data.get("srcuser")) or _s(obj.get("dstuser")) or \
        _s(obj.get("srcuser")) or _s(data.get("user"))
    host = _s(agent.get("name")) or _s(obj.get("hostname")) or _s(obj.get("agent_name"))
    status = data.get("id") if isinstance(data.get("id"), str) and data["id"].isdigit() else None
    extra: dict[str, Any] = {"groups": groups[:12]}
    if _s(agent.get("ip")):
        extra["host_ip"] = agent["ip"]
    syscheck = obj.get("syscheck") if isinstance(obj.get("syscheck"), dict) else {}
    f = Finding(
        id=fid, time=parse_time(obj.get("timestamp") or obj.get("TimeStamp")), kind="alert", sensor="wazuh",
        name=name, rule=f"wazuh:{rid}", score=1.0, severity=_wazuh_level_severity(r.get("level")),
        src=src, user=user, host=host, dst=_s(data.get("dstip")) or _s(agent.get("ip")),
        tactics=tactics, techniques=techniques, status=int(status) if status else None,
        method=_s(data.get("protocol")),
        target=_s(data.get("url")) or _s(syscheck.get("path")) or _s(data.get("file")),
        text=str(obj.get("full_log") or name)[:300], file=file, line=line, extra=extra,
    )
    return _place(f, name, "", tuple(groups))


# ModSecurity: syslog severities (v3 numbers, v2 names) -> 0..10
_MODSEC_SEVERITY = {"0": 10.0, "1": 10.0, "2": 8.5, "3": 7.0, "4": 5.0, "5": 3.0, "6": 1.5, "7": 0.5,
                    "EMERGENCY": 10.0, "ALERT": 10.0, "CRITICAL": 8.5, "ERROR": 7.0, "WARNING": 5.0,
                    "NOTICE": 3.0, "INFO": 1.5, "DEBUG": 0.5}
# CRS bookkeeping rules: scores and summaries, not detections
_CRS_SUMMARY = {"949110", "959100", "980130", "980140", "980120", "949111", "959101"}
_MSG_FIELD = re.compile(r'\[(id|msg|severity|tag|data|uri)\s+"((?:[^"\\]|\\.)*)"\]')
_ANOMALY = re.compile(r"Total Score: (\d+)|\(Total (?:Inbound )?Score: (\d+)", re.I)


@dataclass
class _ModsecMessage:
    rule: str
    msg: str
    severity: float | None
    tags: tuple[str, ...]
    data: str = ""


_SCANNER_UA = re.compile(r"Matched Data: (.{1,40}?) found within REQUEST_HEADERS:User-Agent")


def _parse_modsec_message(text: str) -> _ModsecMessage | None:
    fields: dict[str, list[str]] = {}
    for k, v in _MSG_FIELD.findall(text):
        fields.setdefault(k, []).append(v)
    if "id" not in fields:
        return None
    sev = fields.get("severity", [""])[0]
    return _ModsecMessage(fields["id"][0], fields.get("msg", [""])[0], _MODSEC_SEVERITY.get(sev.upper()),
                          tuple(fields.get("tag", ())), fields.get("data", [""])[0])


def _modsec_finding(fid: str, file: str, line: int | None, *, time: Any, client: str | None,
                    server: str | None, method: str | None, uri: str | None, status: int | None,
                    user_agent: str | None, messages: list[_ModsecMessage], raw_messages: list[str]) -> Finding | None:
    attacks = [m for m in messages if m.rule not in _CRS_SUMMARY]
    if not attacks and not messages:
        return None
    anomaly = None
    for t in raw_messages:
        m = _ANOMALY.search(t)
        if m:
            anomaly = int(m.group(1) or m.group(2))
    # the title: the most severe message, an attack class before a scanner name before a protocol oddity
    best = max(attacks or messages, key=lambda m: (m.severity or 0.0, crs_class(m.rule, m.tags) is not None,
                                                   crs_class(m.rule, m.tags) != ("web-attack", "scanner")))
    classes = [c for c in (crs_class(m.rule, m.tags) for m in sorted(attacks, key=lambda m: -(m.severity or 0.0)))
               if c]
    verdict = next((c for c in classes if c[1] != "scanner"), classes[0] if classes else None)
    f = Finding(
        id=fid, time=parse_time(time), kind="alert", sensor="modsecurity", name=best.msg or f"CRS {best.rule}",
        rule=f"modsecurity:{best.rule}", score=1.0, severity=best.severity,
        task=verdict[0] if verdict else None, label=verdict[1] if verdict else None,
        src=client, dst=server, host=server, status=status, method=method, target=uri,
        tools=tuple(dict.fromkeys(t.group(1).lower() for m in messages if m.rule == "913100"
                                  for t in [_SCANNER_UA.search(m.data)] if t))[:4],
        text=(uri or "")[:300], file=file, line=line,
        extra={"rules": [m.rule for m in messages][:20], "blocking": any(m.rule == "949110" for m in messages),
               **({"anomaly_score": anomaly} if anomaly is not None else {}),
               **({"user_agent": user_agent[:200]} if user_agent else {})},
    )
    return _place(f, best.msg or "", "", ())


def _from_modsec_json(obj: dict[str, Any], fid: str, file: str, line: int | None) -> Finding | None:
    tr = obj.get("transaction")
    if not isinstance(tr, dict):
        return None
    raw: list[str] = []
    msgs: list[_ModsecMessage] = []
    if isinstance(tr.get("messages"), list):                       # libmodsecurity v3
        req = tr.get("request") if isinstance(tr.get("request"), dict) else {}
        resp = tr.get("response") if isinstance(tr.get("response"), dict) else {}
        for m in tr["messages"]:
            if not isinstance(m, dict):
                continue
            d = m.get("details") if isinstance(m.get("details"), dict) else {}
            raw.append(str(m.get("message", "")) + " " + str(d.get("data", "")))
            msgs.append(_ModsecMessage(str(d.get("ruleId", "")), str(m.get("message", "")),
                                       _MODSEC_SEVERITY.get(str(d.get("severity", "")).upper()),
                                       tuple(str(t) for t in d.get("tags") or ()), str(d.get("data", ""))))
        headers = req.get("headers") if isinstance(req.get("headers"), dict) else {}
        ua = next((v for k, v in headers.items() if k.lower() == "user-agent"), None)
        return _modsec_finding(fid, file, line, time=tr.get("time_stamp"), client=_s(tr.get("client_ip")),
                               server=_s(tr.get("host_ip")), method=_s(req.get("method")), uri=_s(req.get("uri")),
                               status=resp.get("http_code") if isinstance(resp.get("http_code"), int) else None,
                               user_agent=_s(ua), messages=msgs, raw_messages=raw)
    # mod_security 2.9 JSON: messages are the native text lines
    audit = obj.get("audit_data") if isinstance(obj.get("audit_data"), dict) else {}
    for t in audit.get("messages") or ():
        raw.append(str(t))
        m = _parse_modsec_message(str(t))
        if m:
            msgs.append(m)
    req = obj.get("request") if isinstance(obj.get("request"), dict) else {}
    resp = obj.get("response") if isinstance(obj.get("response"), dict) else {}
    parts = str(req.get("request_line") or "").split(" ")
    headers = req.get("headers") if isinstance(req.get("headers"), dict) else {}
    ua = next((v for k, v in headers.items() if k.lower() == "user-agent"), None)
    return _modsec_finding(fid, file, line, time=tr.get("time"), client=_s(tr.get("remote_address")),
                           server=_s(tr.get("local_address")), method=parts[0] if len(parts) > 1 else None,
                           uri=parts[1] if len(parts) > 1 else None,
                           status=resp.get("status") if isinstance(resp.get("status"), int) else None,
                           user_agent=_s(ua), messages=msgs, raw_messages=raw)


_A_LINE = re.compile(r"^\[([^\]]+)\]\s+(\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)")


def _modsec_v2_stamp(s: str) -> str:
    # mod_security 2 writes "10/Oct/2023:13:55:36.123456 +0000"; drop the fraction
    return re.sub(r"^(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d)\.\d+", r"\1", s)


def _iter_modsec_serial(path: Path, name: str) -> Iterator[Finding | ReadError]:
    cur: dict[str, list[str]] | None = None
    start, tid = 0, ""

    def flush() -> Finding | ReadError | None:
        if cur is None:
            return None
        fid = f"{name}:{start}"
        a = _A_LINE.match(" ".join(cur.get("A", [""])).strip())
        if a is None:
            return ReadError(fid, "ModSecurity transaction without a readable A section")
        req = [ln for ln in cur.get("B", []) if ln.strip()]
        parts = req[0].split(" ") if req else []
        ua = next((ln.split(":", 1)[1].strip() for ln in req[1:] if ln.lower().startswith("user-agent:")), None)
        resp = [ln for ln in cur.get("F", []) if ln.strip()]
        m = re.match(r"HTTP/\S+\s+(\d{3})", resp[0]) if resp else None
        raw = [ln for ln in cur.get("H", []) if "[id " in ln]
        msgs = [m2 for m2 in (_parse_modsec_message(t) for t in raw) if m2]
        return _modsec_finding(fid, name, start, time=_modsec_v2_stamp(a.group(1)), client=a.group(3),
                               server=a.group(5), method=parts[0] if len(parts) > 1 else None,
                               uri=parts[1] if len(parts) > 1 else None, status=int(m.group(1)) if m else None,
                               user_agent=ua, messages=msgs, raw_messages=raw)

    section = ""
    for n, text in _lines(path):
        if text is None:
            yield ReadError(f"{name}:{n}", f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        if text.startswith("\x00"):
            yield ReadError(f"{name}:{n}", text[1:])
            break
        b = _MODSEC_BOUNDARY.match(text.encode("utf-8", "replace"))
        if b:
            t_id, section = b.group(1).decode(), b.group(2).decode()
            if section == "A":
                out = flush()
                if out is not None:
                    yield out
                cur, start, tid = {}, n, t_id
            elif section == "Z":
                out = flush()
                if out is not None:
                    yield out
                cur = None
            elif cur is not None and t_id != tid:
                yield ReadError(f"{name}:{n}", "ModSecurity section of another transaction")
            continue
        if cur is not None:
            cur.setdefault(section, []).append(text)
    out = flush()
    if out is not None:
        yield out


_CSV_ALIASES = {"severity": ("severity", "priority", "level"), "dst": ("dst", "dest_ip", "dst_ip", "dest"),
                "user": ("user", "username"), "category": ("category", "classification", "class"),
                "tactic": ("tactic", "tactics"), "technique": ("technique", "techniques", "technique_id"),
                "sensor": ("sensor", "tool", "source_tool")}


def _csv_severity(v: str | None) -> float | None:
    if not v:
        return None
    try:
        x = float(v)
    except ValueError:
        return {"critical": 9.0, "high": 7.5, "medium": 5.0, "low": 2.5, "info": 1.0,
                "informational": 1.0}.get(v.strip().lower())
    return max(0.0, min(10.0, x))


def _from_alert_row(get: Any, fid: str, file: str, line: int | None, *, priority: bool = False) -> Finding | None:
    """One alert row (CSV row or JSON object with time, name, ip, host); ``get(column)`` reads it."""
    t = parse_time(get("time"))
    alert_name = get("name")
    if t is None or alert_name is None:
        return None
    tactic = get("tactic")
    technique = get("technique")
    sev = _csv_severity(get("severity"))
    if sev is not None and priority and sev <= 4:      # Snort/Suricata priorities: 1 is the most severe
        sev = _SURICATA_SEVERITY.get(int(sev), sev)
    f = Finding(
        id=fid, time=t, kind="alert", sensor=get("sensor") or "csv", name=alert_name,
        rule=f"csv:{alert_name}", score=1.0, severity=sev, src=get("ip"), host=get("host"),
        dst=get("dst"), user=get("user"),
        tactics=tuple(tactic_shortname(x) for x in re.split(r"[;|,]", tactic) if x.strip()) if tactic else (),
        techniques=tuple(x.strip() for x in re.split(r"[;|,]", technique) if x.strip()) if technique else (),
        text=alert_name[:300], file=file, line=line,
    )
    return _place(f, alert_name, get("category") or "")


def _iter_alerts_csv(path: Path, name: str) -> Iterator[Finding | ReadError]:
    with _open(path) as fb:
        ft = io.TextIOWrapper(fb, encoding="utf-8", errors="replace", newline="")
        reader = csv.DictReader(ft)
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        missing = [c for c in ("time", "name", "ip", "host") if c not in cols]
        if missing:
            raise ValueError(f"{path}: alerts CSV lacks column(s) {', '.join(missing)} "
                             f"(header: {', '.join(cols) or 'none'})")
        opt = {k: next((cols[a] for a in al if a in cols), None) for k, al in _CSV_ALIASES.items()}
        k = 0
        while True:
            k += 1
            fid = f"{name}:{k}"
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, OSError, EOFError) as exc:
                yield ReadError(fid, f"csv: {exc}")
                if not isinstance(exc, csv.Error):
                    return
                continue

            def get(key: str) -> str | None:
                c = opt.get(key) or cols.get(key)
                return _s(row.get(c)) if c else None

            f = _from_alert_row(get, fid, name, reader.line_num, priority=bool(opt["severity"]) and
                                opt["severity"].lower() == "priority")
            yield f if f is not None else ReadError(fid, "row without a readable time or name")


# ------------------------------------------------------------------------------------------------
# public
# ------------------------------------------------------------------------------------------------

_CONVERT = {"eve": _from_eve, "wazuh": _from_wazuh, "modsec": _from_modsec_json}


def finding_from_object(obj: Any, fid: str, *, file: str = "", line: int | None = None,
                        fmt: str = "auto") -> Finding | None:
    """One JSON object (a scan finding, an EVE record, a Wazuh alert, a ModSecurity JSON
    transaction) as a Finding; ``None`` for records that are not alerts (EVE flow/dns/... events,
    a ModSecurity transaction without messages, a benign item that could not be judged)."""
    kind = _object_format(obj) if fmt == "auto" else fmt
    if kind == "findings":
        return finding_from_scan(obj, file=file, line=line)
    if kind == "alert-row":
        def get(key: str) -> str | None:
            for k in (key, *_CSV_ALIASES.get(key, ())):
                if k in obj:
                    return _s(obj[k])
            return None
        return _from_alert_row(get, fid, file, line)
    conv = _CONVERT.get(kind or "")
    if conv is None:
        return None
    return conv(obj, fid, file, line)


def read_findings(path: str | Path, fmt: str = "auto") -> Iterator[Finding | ReadError]:
    """Findings of one file in file order (see the module doc); ``ValueError`` when the file is
    not one of ``ALERT_FORMATS`` (raw logs go through ``secllm scan`` first)."""
    p = Path(path)
    if fmt not in ALERT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(ALERT_FORMATS)}")
    kind = detect_format(p) if fmt == "auto" else fmt
    if kind is None:
        raise ValueError(f"{p}: not findings or alerts of a known format ({', '.join(ALERT_FORMATS[1:])})")
    name = p.name
    if kind == "alerts-csv":
        yield from _iter_alerts_csv(p, name)
        return
    if kind == "modsec":
        with _open(p) as f:
            first = f.read(4096).lstrip()
        if not first.startswith(b"{"):
            yield from _iter_modsec_serial(p, name)
            return
    for n, text in _lines(p):
        fid = f"{name}:{n}"
        if text is None:
            yield ReadError(fid, f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        if text.startswith("\x00"):
            yield ReadError(fid, text[1:])
            return
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield ReadError(fid, f"invalid JSON: {exc.msg}")
            continue
        if not isinstance(obj, dict):
            yield ReadError(fid, "expected a JSON object")
            continue
        try:
            f = finding_from_object(obj, fid, file=name, line=n, fmt=kind)
        except (TypeError, ValueError, AttributeError) as exc:    # a record of the right kind, malformed
            yield ReadError(fid, f"unreadable {kind} record: {exc}")
            continue
        if f is not None:
            yield f


def iter_many(paths: Iterable[str | Path], fmt: str = "auto") -> Iterator[Finding | ReadError]:
    """The findings of several files, one after the other (see :func:`merge_by_time` for order)."""
    for p in paths:
        yield from read_findings(p, fmt)
