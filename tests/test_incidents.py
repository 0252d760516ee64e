"""Incidents: readers of every alert format, grouping, de-duplication, ordering, routine noise,
streaming close, bounded memory, the JSON schema, STIX, and hostile strings in the reports.

Fixtures under tests/fixtures/incidents/ are written by hand in the formats' documented shapes
(the serial and JSON ModSecurity ones follow libmodsecurity 3.0.9 / ModSecurity-nginx 1.0.3 output
as produced by the replay benchmark, and mod_security 2.9's native layout).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from secllm.incidents import (
    Correlator,
    CorrelatorConfig,
    Finding,
    NoiseModel,
    ReadError,
    correlate,
    correlate_files,
    detect_format,
    finding_from_scan,
    md_safe,
    read_findings,
    render_html,
    render_markdown,
    stix_bundle_json,
)

FIX = Path(__file__).parent / "fixtures" / "incidents"
T0 = 1_714_557_600.0          # 2024-05-01T10:00:00Z


def _read(name: str) -> tuple[list[Finding], list[ReadError]]:
    items = list(read_findings(FIX / name))
    return [x for x in items if isinstance(x, Finding)], [x for x in items if isinstance(x, ReadError)]


def web(i: int, t: float, src: str, label: str, status: int = 200, target: str | None = None, **kw) -> Finding:
    return Finding(f"access.log:{i}", t, task="web-attack", label=label, name=label, rule=f"web-attack:{label}",
                   src=src, status=status, target=target or f"/p?x={i}", file="access.log", line=i, **kw)


def alert(i: int, t: float, name: str, host: str, src: str | None, sev: float = 5.0, **kw) -> Finding:
    from secllm.incidents.taxonomy import classify

    c = classify(name)
    return Finding(f"alerts.csv:{i}", t, kind="alert", sensor=kw.pop("sensor", "csv"), name=name, rule=f"csv:{name}",
                   severity=sev, src=src, host=host, tactics=c.tactics, techniques=c.techniques, **kw)


def run(findings, **cfg) -> list[dict]:
    return [i.to_json() for i in correlate(findings, CorrelatorConfig(**cfg))]


# ------------------------------------------------------------------------------------------------
# readers
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fmt", [("eve.json", "eve"), ("wazuh_alerts.json", "wazuh"),
                                      ("modsec_serial.log", "modsec"), ("modsec_audit.json", "modsec"),
                                      ("alerts.csv", "alerts-csv")])
def test_detect_format(name, fmt):
    assert detect_format(FIX / name) == fmt


def test_detect_format_raw_input_is_none(tmp_path):
    p = tmp_path / "access.log"
    p.write_text('1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"\n')
    assert detect_format(p) is None
    with pytest.raises(ValueError, match="not findings or alerts"):
        list(read_findings(p))


def test_suricata_eve():
    fs, errs = _read("eve.json")
    assert [f.id for f in fs] == ["eve.json:1", "eve.json:3", "eve.json:4"]      # the flow record is skipped
    assert [e.id for e in errs] == ["eve.json:5"]
    scan, sqli, resp = fs
    assert (scan.src, scan.dst, scan.host, scan.sensor) == ("10.0.0.66", "192.168.1.10", "192.168.1.10", "suricata")
    assert scan.tactics == ("reconnaissance",) and scan.techniques == ("T1595",)   # the rule's own MITRE metadata
    assert scan.severity == 8.0 and scan.time == T0 and scan.extra["sensor_name"] == "ids-1"
    assert (sqli.task, sqli.label, sqli.status, sqli.size) == ("web-attack", "sqli", 200, 5120)
    # a to_client alert: the packet came from the server, the actor is the client
    assert (resp.src, resp.dst) == ("10.0.0.66", "192.168.1.10")
    assert resp.tactics == ("execution",) and resp.outcome == "success"


def test_wazuh_and_ossec():
    fs, errs = _read("wazuh_alerts.json")
    assert len(fs) == 4 and [e.id for e in errs] == ["wazuh_alerts.json:5"]
    ssh, web400, fim, ossec = fs
    assert (ssh.src, ssh.user, ssh.host, ssh.rule) == ("10.0.0.66", "root", "web01", "wazuh:5760")
    assert ssh.tactics == ("credential-access",) and ssh.techniques == ("T1110.001",)
    assert ssh.time == pytest.approx(T0 + 3600.123) and ssh.severity == pytest.approx(5 / 1.5, abs=0.01)
    assert web400.status == 404 and web400.target == "/.git/config"
    assert fim.src is None and fim.host == "web01" and fim.target == "/var/www/html/uploads/x.php"
    assert fim.extra["host_ip"] == "192.168.1.10"
    # OSSEC's JSON: comment, sidid, a group string, top-level srcip, epoch milliseconds
    assert (ossec.src, ossec.user, ossec.host, ossec.rule) == ("10.0.0.66", "admin", "mail01", "wazuh:40111")
    assert ossec.time == T0 + 3780 and ossec.label == "brute-force"


def test_modsecurity_serial_v2_and_v3():
    fs, errs = _read("modsec_serial.log")
    assert [f.id for f in fs] == ["modsec_serial.log:1", "modsec_serial.log:19"]
    assert len(errs) == 1 and "A section" in errs[0].error
    v3, v2 = fs
    assert (v3.src, v3.host, v3.status, v3.label, v3.tools) == ("10.0.0.66", "192.168.1.10", 200, "sqli", ("sqlmap",))
    assert v3.name == "SQL Injection Attack Detected via libinjection"     # the attack, not the scanner name
    assert v3.extra["blocking"] and v3.extra["anomaly_score"] == 10 and v3.time == T0 + 7200
    assert (v2.src, v2.status, v2.label, v2.severity) == ("10.0.0.67", 403, "path-traversal", 8.5)
    assert v2.time == T0 + 7260 and v2.method == "GET" and v2.target.startswith("/view?file=")


def test_modsecurity_json_v3_and_v2():
    fs, errs = _read("modsec_audit.json")
    assert not errs and len(fs) == 2                  # the transaction without messages is no alert
    v3, v2 = fs
    assert (v3.src, v3.label, v3.status, v3.time) == ("10.0.0.66", "xss", 200, T0 + 7200)
    assert (v2.src, v2.label, v2.status, v2.target) == ("10.0.0.68", "cmdi", 404, "/cgi-bin/x.cgi?c=;cat%20/etc/passwd")


def test_alerts_csv():
    fs, errs = _read("alerts.csv")
    assert [f.id for f in fs] == ["alerts.csv:1", "alerts.csv:2", "alerts.csv:3"]    # 1-based data rows, like scan
    assert [e.id for e in errs] == ["alerts.csv:4", "alerts.csv:5"]
    assert [f.time for f in fs] == [T0 + 10800, T0 + 10860, T0 + 10920]              # ISO, epoch, ISO without zone
    assert [f.severity for f in fs] == [5.0, 7.5, None]
    assert fs[0].tactics == ("reconnaissance",) and fs[1].label == "sqli" and fs[2].label == "brute-force"


def test_alerts_csv_missing_columns(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("time,name,host\n2024-05-01T00:00:00Z,x,h\n")
    with pytest.raises(ValueError, match="lacks column"):
        list(read_findings(p, "alerts-csv"))


def test_scan_finding_reader():
    obj = {"id": "a.log:3", "file": "a.log", "line": 3, "source": "ip-3fa9c2d17e", "label": "malicious", "score": 0.97,
           "attack_type": "cmdi", "status": "ok", "kind": "url", "method": "GET", "http_status": 200, "size": 1234,
           "time": "10/Oct/2023:13:55:36 +0000", "text": "/x.php?cmd=id", "signatures": []}
    f = finding_from_scan(obj)
    assert (f.id, f.src, f.task, f.label, f.kind, f.status, f.size) == \
        ("a.log:3", "ip-3fa9c2d17e", "web-attack", "cmdi", "web", 200, 1234)
    benign = finding_from_scan({**obj, "label": "benign", "attack_type": None})
    assert benign.kind == "context" and not benign.malicious
    assert finding_from_scan({**obj, "status": "corrupt"}) is None
    # the fields issue 17 adds: a brute-force finding of a log task, with knowledge and a count
    bf = finding_from_scan({"id": "auth.log:9", "label": "brute-force", "task": "log-auth", "kind": "auth-log",
                            "source": "10.0.0.5", "count": 12, "status": "ok", "time": "2024-05-01T00:00:00Z",
                            "knowledge": {"tactics": ["credential-access"], "attack": ["T1110"],
                                          "severity": {"score": 7.5}}})
    assert (bf.kind, bf.label, bf.tactics, bf.severity, bf.extra["count"]) == \
        ("log", "brute-force", ("credential-access",), 7.5, 12)


# ------------------------------------------------------------------------------------------------
# grouping, de-duplication, ordering
# ------------------------------------------------------------------------------------------------

def test_grouping_by_actor_with_exact_items():
    fs = []
    for k in range(6):                      # two actors interleaved in time
        fs.append(web(2 * k + 1, T0 + 10 * k, "10.0.0.5", "sqli"))
        fs.append(web(2 * k + 2, T0 + 10 * k + 1, "10.0.0.6", "xss"))
    out = run(fs)
    assert len(out) == 2
    by_actor = {i["actors"][0]: i for i in out}
    assert by_actor["10.0.0.5"]["items"] == [f"access.log:{2 * k + 1}" for k in range(6)]
    assert by_actor["10.0.0.6"]["items"] == [f"access.log:{2 * k + 2}" for k in range(6)]


def test_quiet_period_splits_an_actor():
    fs = [web(i, T0 + i, "10.0.0.5", "sqli") for i in range(1, 5)]
    fs += [web(i, T0 + 7200 + i, "10.0.0.5", "sqli") for i in range(5, 9)]
    out = run(fs, quiet=1800)
    assert [i["items"] for i in out] == [[f"access.log:{i}" for i in range(1, 5)],
                                         [f"access.log:{i}" for i in range(5, 9)]]


def test_shared_user_merges_two_addresses():
    fs = [web(1, T0, "10.0.0.5", "sqli", user="mallory"), web(2, T0 + 1, "10.0.0.5", "sqli"),
          web(3, T0 + 2, "10.0.0.9", "xss"), web(4, T0 + 3, "10.0.0.9", "xss"),
          web(5, T0 + 4, "10.0.0.9", "xss", user="mallory")]
    out = run(fs)
    assert len(out) == 1 and set(out[0]["actors"]) == {"10.0.0.5", "10.0.0.9", "user:mallory"}
    assert sorted(out[0]["items"]) == [f"access.log:{i}" for i in range(1, 6)]


def test_dedupe_same_request_and_cross_sensor():
    fs = [web(1, T0, "10.0.0.5", "sqli", target="/s?q=1'"), web(2, T0 + 1, "10.0.0.5", "sqli", target="/s?q=1'"),
          web(3, T0 + 2, "10.0.0.5", "sqli", target="/s?q=2'"),
          # the same moment seen by two IDSs: one event
          alert(4, T0 + 3, "ET WEB_SERVER SQL Injection UNION SELECT", "web01", "10.0.0.5", sensor="suricata"),
          alert(5, T0 + 3.5, "SQL injection attempt", "web01", "10.0.0.5", sensor="wazuh")]
    [inc] = run(fs, min_score=1)
    assert inc["item_count"] == 5 and len(inc["items"]) == 5      # every id stays in items
    assert inc["duplicates"] == 2                 # the repeated request, the second sensor's alert
    # the timeline: one event per rule and path within the window, the two sensors' alerts as one
    assert [(e["name"], e["count"]) for e in inc["timeline"]] == [
        ("sqli", 3), ("ET WEB_SERVER SQL Injection UNION SELECT", 2)]


def test_stages_in_kill_chain_order_with_success():
    fs = [web(1, T0, "10.0.0.5", "scanner", status=404), web(2, T0 + 60, "10.0.0.5", "restricted-file", status=403),
          web(3, T0 + 120, "10.0.0.5", "sqli", status=500), web(4, T0 + 130, "10.0.0.5", "sqli", status=200),
          web(5, T0 + 300, "10.0.0.5", "cmdi", status=200, target="/up/s.php?cmd=id")]
    [inc] = run(fs)
    st = inc["stages"]
    assert [s["tactic"] for s in st] == ["reconnaissance", "initial-access", "execution"]
    assert [s["first_seen"] for s in st] == ["2024-05-01T10:00:00Z", "2024-05-01T10:02:00Z", "2024-05-01T10:05:00Z"]
    assert all(s["succeeded"] for s in st) and inc["path_in_kill_chain_order"]
    assert st[1]["count"] == 2 and st[1]["techniques"] == ["T1190"]
    assert st[1]["knowledge"][0]["cwe"] == ["CWE-89"] and st[1]["knowledge"][0]["mitigations"]
    assert inc["severity"]["level"] == "critical" and inc["severity"]["reasons"]
    assert {a["tactic"] for a in inc["next_actions"]} >= {"reconnaissance", "initial-access", "execution"}


def test_failed_injection_is_not_execution():
    [inc] = run([web(i, T0 + i, "10.0.0.5", "cmdi", status=403) for i in range(1, 4)])
    assert [s["tactic"] for s in inc["stages"]] == ["initial-access"] and not inc["stages"][0]["succeeded"]


def test_pivot_host_events_join_the_incident_that_got_in():
    fs = [web(1, T0, "10.0.0.5", "sqli", host="web01"), web(2, T0 + 5, "10.0.0.5", "sqli", host="web01"),
          web(3, T0 + 10, "10.0.0.5", "cmdi", host="web01"),
          Finding("host.jsonl:1", T0 + 60, kind="host", task="evtx-tactic", label="Persistence", name="Persistence",
                  rule="evtx-tactic:Persistence", host="web01", tactics=("persistence",)),
          # an unrelated actor's event from another host stays apart
          Finding("host.jsonl:2", T0 + 70, kind="host", task="evtx-tactic", label="Discovery", name="Discovery",
                  rule="evtx-tactic:Discovery", host="ws-9", tactics=("discovery",))]
    # trust the event's label here (the shipped default trusts no evtx-tactic label: see the gate tests)
    out = run(fs, min_score=1, tactic_min_score={"evtx-tactic": {"Persistence": 0.0, "Discovery": 0.0}})
    first = next(i for i in out if "10.0.0.5" in i["actors"])
    assert "host.jsonl:1" in first["items"] and "host.jsonl:2" not in first["items"]
    assert "persistence" in [s["tactic"] for s in first["stages"]] and "web01" in first["assets"]


def _shell_then_host_event(label: str, score: float) -> list[Finding]:
    """A web shell that ran commands on web01, then one Windows event of web01 labelled by a classifier."""
    tactic = label.lower().replace(" ", "-")
    return [web(1, T0, "10.0.0.5", "sqli", host="web01"), web(2, T0 + 5, "10.0.0.5", "cmdi", host="web01"),
            web(3, T0 + 10, "10.0.0.5", "cmdi", host="web01"),
            Finding("host.jsonl:1", T0 + 60, kind="host", task="evtx-tactic", label=label, name=label, score=score,
                    rule=f"evtx-tactic:{label}", host="web01", tactics=(tactic,))]


@pytest.mark.parametrize("gate,score,placed", [
    ({"Credential Access": 0.5}, 0.6, True),         # listed, confident enough
    ({"Credential Access": 0.5}, 0.4, False),        # listed, below its minimum
    ({"Privilege Escalation": 0.0}, 0.9, False),     # another class is trusted, not this one
    ({}, 0.99, False),                               # no class of the task trusted
])
def test_classifier_tactic_places_a_stage_only_at_its_minimum_score(gate, score, placed):
    c = Correlator(CorrelatorConfig(min_score=1, tactic_min_score={"evtx-tactic": gate}))
    out = [i.to_json() for f in _shell_then_host_event("Credential Access", score) for i in c.add(f)]
    out += [i.to_json() for i in c.flush()]
    [inc] = out
    # gated or not, the event joins the incident that owns web01
    assert "host.jsonl:1" in inc["items"]
    assert ("credential-access" in [s["tactic"] for s in inc["stages"]]) is placed
    assert inc["unplaced_items"] == (0 if placed else 1) and c.stats.tactic_gated == (0 if placed else 1)


def test_ungated_tasks_and_sources_are_not_affected():
    """Only the tasks listed are gated: a web verdict or a Wazuh alert with a stated tactic still places stages."""
    fs = _shell_then_host_event("Credential Access", 0.01)
    fs.append(alert(9, T0 + 90, "sshd: brute force trying to get access to the system", "web01", "10.0.0.5"))
    [inc] = run(fs, min_score=1, tactic_min_score={"evtx-tactic": {}})
    tactics = [s["tactic"] for s in inc["stages"]]
    assert "initial-access" in tactics and "credential-access" in tactics   # from the alert, not the event
    [st] = [s for s in inc["stages"] if s["tactic"] == "credential-access"]
    assert st["first_seen"].startswith("2024-05-01T10:01:30")


def test_default_gate_keeps_a_mislabelled_host_event_out_of_the_path():
    """The shipped default: the evtx-tactic label places no stage (chosen on the task's validation split),
    so a host event mislabelled 'Credential Access' cannot put a stage before the web shell's execution."""
    fs = _shell_then_host_event("Credential Access", 0.9)
    fs[-1].time = T0 + 2                                            # seen before the commands ran
    fs[-1].host = "web01"
    [ungated] = run(fs, min_score=1, tactic_min_score={})
    assert "credential-access" in [s["tactic"] for s in ungated["stages"]]
    [inc] = run(fs, min_score=1)
    assert "credential-access" not in [s["tactic"] for s in inc["stages"]]
    assert "host.jsonl:1" in inc["items"] and inc["path_in_kill_chain_order"]


def test_default_gate_is_the_one_measured_on_validation():
    """CorrelatorConfig's evtx-tactic minimums are those benchmarks/evtx_tactic_gate.py chose."""
    rep = json.loads((Path(__file__).parents[1] / "reports" / "incidents" / "evtx_gate.json").read_text())
    assert rep["split"] == "val"
    assert CorrelatorConfig().tactic_min_score["evtx-tactic"] == rep["tactic_min_score"]


def test_gate_rule_picks_the_smallest_threshold_reaching_the_target():
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "evtx_tactic_gate.py"
    spec = importlib.util.spec_from_file_location("evtx_tactic_gate", path)
    g = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(g)
    preds = []
    for k in range(10):      # Lateral Movement: right in 10 files when confident, wrong in 5 files at low scores
        preds.append({"file": f"lm{k}", "truth": "Lateral Movement", "label": "Lateral Movement", "score": 0.6})
    for k in range(5):
        preds.append({"file": f"x{k}", "truth": "Execution", "label": "Lateral Movement", "score": 0.3})
    for k in range(10):      # Execution: wrong as often as right at every score
        preds.append({"file": f"e{k}", "truth": "Execution" if k % 2 else "Discovery", "label": "Execution",
                      "score": 0.9})
    res = g.choose(preds, target=0.9, min_kept=5)
    assert res["tactic_min_score"] == {"Lateral Movement": 0.31}
    assert res["per_class"]["Execution"]["threshold"] is None


def test_a_single_weak_finding_is_not_an_incident():
    assert run([web(1, T0, "10.0.0.5", "xss")]) == []
    c = Correlator()
    c.add(web(1, T0, "10.0.0.5", "xss"))
    c.flush()
    assert c.stats.incidents_suppressed == 1 and c.stats.incidents_reported == 0


def test_aggregates_from_benign_items():
    """scan --all context: a 404 storm is wordlist scanning, repeated 401s then a 302 is brute force that worked."""
    fs = []
    for i in range(25):
        fs.append(Finding(f"a.log:{i + 1}", T0 + i, kind="context", src="10.0.0.8", status=404, method="GET",
                          target=f"/dir{i}", file="a.log"))
    for i in range(12):
        fs.append(Finding(f"a.log:{100 + i}", T0 + 100 + i, kind="context", src="10.0.0.8", status=401,
                          method="POST", target="/login", file="a.log"))
    fs.append(Finding("a.log:200", T0 + 130, kind="context", src="10.0.0.8", status=302, method="POST",
                      target="/login", file="a.log"))
    # a benign browser with a few 404s
    fs += [Finding(f"a.log:{300 + i}", T0 + 10 * i, kind="context", src="10.0.0.9", status=404 if i % 5 == 0 else 200,
                   method="GET", target=f"/p{i}", file="a.log") for i in range(30)]
    out = run(sorted(fs, key=lambda f: f.time))
    assert len(out) == 1 and out[0]["actors"] == ["10.0.0.8"]
    st = {s["tactic"]: s for s in out[0]["stages"]}
    assert set(st) == {"reconnaissance", "credential-access"} and st["credential-access"]["succeeded"]
    # items: where the actor's activity began (browsing before the attack), then the storm from its threshold on
    assert "a.log:200" in out[0]["items"] and "a.log:1" in out[0]["items"] and "a.log:2" not in out[0]["items"]


# ------------------------------------------------------------------------------------------------
# routine noise
# ------------------------------------------------------------------------------------------------

def _noisy_days(seed: int = 0, days: int = 3) -> list[Finding]:
    """Three days of routine alerts: hourly update checks on 5 hosts, users' TLS oddities, a
    monitoring probe every 5 minutes -- and one new actor whose alerts are all routine rules."""
    rng = random.Random(seed)
    out, n = [], 0
    for h in range(days * 24):
        for host in ("web01", "db01", "mail01", "ws1", "ws2"):
            n += 1
            out.append(alert(n, T0 + h * 3600 + rng.uniform(0, 60), "ET POLICY Update check", host,
                             f"10.1.0.{rng.randint(1, 40)}", 2.0))
        for _ in range(rng.randint(2, 6)):
            n += 1
            out.append(alert(n, T0 + h * 3600 + rng.uniform(0, 3600), "SURICATA TLS invalid record", "web01",
                             f"10.1.0.{rng.randint(1, 40)}", 3.0))
        for k in range(12):
            n += 1
            out.append(alert(n, T0 + h * 3600 + k * 300 + rng.uniform(0, 2), "ICMP ping sweep (monitoring)", "web01",
                             "10.9.9.9", 5.0))
    return sorted(out, key=lambda f: f.time)


def test_routine_noise_never_opens_an_incident():
    fs = _noisy_days()
    # correlating with the model learned from the same data (two passes, as the CLI does for files)
    model = NoiseModel()
    for f in fs:
        model.observe(f)
    model.finish()
    c = Correlator(CorrelatorConfig(min_score=1.0), model, learn_noise=False)
    out = []
    for f in fs:
        out += c.add(f)
    out += c.flush()
    assert out == [] and c.stats.routine > 0.9 * len(fs)
    ranked = {r["name"]: r["routine"] for r in model.report()}
    assert ranked["ICMP ping sweep (monitoring)"] == 1.0 and ranked["ET POLICY Update check"] >= 0.9


def test_routine_alerts_join_but_a_new_attack_opens():
    fs = _noisy_days()
    t = T0 + 50 * 3600
    attack = [alert(90_000, t, "ICMP ping sweep (monitoring)", "web01", "10.6.6.6", 5.0),   # routine rule, attacker
              alert(90_001, t + 60, "ET EXPLOIT Apache Struts RCE attempt", "web01", "10.6.6.6", 8.0),
              alert(90_002, t + 90, "ET EXPLOIT Apache Struts RCE attempt", "web01", "10.6.6.6", 8.0),
              alert(90_003, t + 200, "GPL ATTACK_RESPONSE id check returned root", "web01", "10.6.6.6", 5.5)]
    fs = sorted(fs + attack, key=lambda f: f.time)
    out = [i.to_json() for i in correlate_files_like(fs)]
    assert len(out) == 1
    inc = out[0]
    assert inc["actors"] == ["10.6.6.6"] and inc["routine_items"] == 1
    assert sorted(inc["items"]) == sorted(f.id for f in attack)
    assert [s["tactic"] for s in inc["stages"]][-1] == "execution"


def correlate_files_like(fs: list[Finding]):
    model = NoiseModel()
    for f in fs:
        if f.kind == "alert":
            model.observe(f)
    model.finish()
    return correlate(fs, CorrelatorConfig(), model, learn_noise=False)


def test_burst_of_a_routine_rule_is_not_routine():
    model = NoiseModel()
    rng = random.Random(1)
    fs = [alert(i, T0 + i * 900 + rng.uniform(0, 100), "Web server 400 error code", "web01", f"10.1.0.{i % 30}")
          for i in range(300)]                           # ~3 days of users' typos
    for f in fs:
        model.observe(f)
    assert model.routine(alert(0, fs[-1].time + 10, "Web server 400 error code", "web01", "10.1.0.3")) >= 0.9
    t = fs[-1].time + 100
    burst = [alert(1000 + i, t + i * 0.5, "Web server 400 error code", "web01", "10.6.6.6") for i in range(400)]
    for f in burst:
        model.observe(f)
    assert model.routine(burst[-1]) == 0.0
    assert model.explain(burst[-1])["burst"] == 1.0


def test_noise_model_round_trips_json():
    fs = _noisy_days(days=2)
    m = NoiseModel()
    for f in fs:
        m.observe(f)
    m.finish()
    m2 = NoiseModel.from_json(json.loads(json.dumps(m.to_json())))
    probe = alert(0, fs[-1].time, "ET POLICY Update check", "web01", "10.1.0.1")
    assert m2.routine(probe) == pytest.approx(m.routine(probe))


# ------------------------------------------------------------------------------------------------
# streaming, bounded memory
# ------------------------------------------------------------------------------------------------

def test_incidents_close_after_quiet_and_stream_out():
    c = Correlator(CorrelatorConfig(quiet=600))
    emitted_at = []
    stream = [web(i, T0 + i, "10.0.0.5", "sqli") for i in range(1, 4)]
    stream += [web(100 + i, T0 + 60 * i, "10.0.0.77", "xss", status=403) for i in range(1, 30)]
    for f in sorted(stream, key=lambda f: f.time):
        for inc in c.add(f):
            emitted_at.append((inc.to_json()["actors"], f.time))
    # the first actor's incident came out while the stream went on, once 600 s had passed quietly
    assert emitted_at and emitted_at[0][0] == ["10.0.0.5"] and T0 + 603 <= emitted_at[0][1] <= T0 + 700
    rest = c.flush()
    assert [i.to_json()["actors"] for i in rest] == [["10.0.0.77"]]


def test_bounded_memory_caps_and_exact_counts():
    cfg = CorrelatorConfig(max_items=50, max_timeline=10, max_open=20, quiet=1e9)
    c = Correlator(cfg)
    out = []
    for i in range(2000):                      # one long actor
        out += c.add(web(i, T0 + i, "10.0.0.5", "sqli", target=f"/q{i}"))
    for k in range(100):                       # many actors at once: the open set stays bounded
        for j in range(3):
            out += c.add(web(10_000 + 3 * k + j, T0 + 3000 + k, f"10.2.{k}.1", "sqli", target=f"/z{j}"))
        assert len(c.open) <= cfg.max_open + 1
    out += c.flush()
    big = next(i.to_json() for i in out if i.to_json()["actors"] == ["10.0.0.5"])
    assert big["item_count"] == 2000 and len(big["items"]) == 50 and big["items_truncated"]
    assert len(big["timeline"]) == 10 and big["stages"][0]["count"] == 2000
    assert c.stats.closed_early > 0


def test_merge_by_time_interleaves_files(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("time,name,ip,host\n" + "".join(f"{T0 + 2 * i},ET EXPLOIT x,10.0.0.5,h\n" for i in range(5)))
    b.write_text("time,name,ip,host\n" + "".join(f"{T0 + 2 * i + 1},ET EXPLOIT x,10.0.0.5,h\n" for i in range(5)))
    [inc] = [i.to_json() for i in correlate_files([a, b])]
    assert inc["items"] == [f"{n}:{i}" for i in range(1, 6) for n in ("a.csv", "b.csv")]


# ------------------------------------------------------------------------------------------------
# output: schema, STIX, escaping
# ------------------------------------------------------------------------------------------------

HOSTILE = '<img src=x onerror="alert(1)">\x1b[31m|`*'


def _hostile_incidents() -> list[dict]:
    fs = [web(1, T0, HOSTILE, "sqli", target=HOSTILE), web(2, T0 + 1, HOSTILE, "cmdi", target="/x?<script>1"),
          alert(3, T0 + 2, "<script>alert('x')</script> ET EXPLOIT", f"host{HOSTILE}", HOSTILE, 9.0)]
    return run(fs, min_score=1)


def test_json_schema_fields():
    [inc] = _hostile_incidents()
    for key, typ in (("id", str), ("actors", list), ("first_seen", str), ("last_seen", str), ("stages", list),
                     ("severity", dict), ("summary", str), ("items", list), ("timeline", list), ("assets", list),
                     ("next_actions", list), ("item_count", int)):
        assert isinstance(inc[key], typ), key
    for s in inc["stages"]:
        assert set(s) >= {"tactic", "techniques", "first_seen", "count", "succeeded"}
    assert set(inc["severity"]) >= {"level", "score", "reasons"} and inc["id"].startswith("inc-")
    assert inc["items"] == ["access.log:1", "access.log:2", "alerts.csv:3"]
    json.dumps(inc)


def test_stix_bundle_is_valid_stix21():
    import stix2

    incs = _hostile_incidents() + run([web(i, T0 + i, "10.0.0.5", "sqli") for i in range(1, 4)])
    text = stix_bundle_json(incs)
    bundle = stix2.parse(text, allow_custom=False)
    types = [o.type for o in bundle.objects]
    assert types.count("incident") == 2 and "attack-pattern" in types and "grouping" in types
    assert "ipv4-addr" in types and "observed-data" in types
    inc = next(o for o in bundle.objects if o.type == "incident")
    assert inc.kill_chain_phases[0].kill_chain_name == "mitre-attack"
    # deterministic ids: the same report twice gives the same objects
    again = stix2.parse(stix_bundle_json(incs), allow_custom=False)
    assert sorted(o.id for o in again.objects) == sorted(o.id for o in bundle.objects)


def test_html_escapes_hostile_strings_and_loads_nothing():
    html = render_html(_hostile_incidents(), meta={"input": HOSTILE})
    assert "<img" not in html and "<script>" not in html and "\x1b" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<svg" in html and "<circle" in html
    lowered = html.lower()
    # self-contained: no resource is loaded, links only point inside the page
    assert re.findall(r'(?:src|href)\s*=\s*"(?!#)', lowered) == []
    assert "<link" not in lowered and "<script" not in lowered and "@import" not in lowered and "url(" not in lowered


def test_markdown_escapes_hostile_strings():
    md = render_markdown(_hostile_incidents())
    assert "<img" not in md and "\x1b" not in md and "\\|" in md
    assert md_safe("a|b") == "a\\|b"


# ------------------------------------------------------------------------------------------------
# CLI and API
# ------------------------------------------------------------------------------------------------

def test_cli_incidents_on_alert_files(tmp_path):
    from secllm.cli import main

    r = CliRunner().invoke(main, ["incidents", str(FIX / "eve.json"), str(FIX / "wazuh_alerts.json"),
                                  str(FIX / "modsec_serial.log"), "--json", "--min-score", "5", "--quiet", "7200",
                                  "--html", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "r.md"),
                                  "--stix", str(tmp_path / "b.json"), "--save-noise", str(tmp_path / "noise.json")])
    assert r.exit_code == 0, r.output
    incs = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    attacker = next(i for i in incs if "10.0.0.66" in i["actors"])
    assert {"eve.json:1", "eve.json:3", "wazuh_alerts.json:1", "modsec_serial.log:1"} <= set(attacker["items"])
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "# SecLLM incidents" in (tmp_path / "r.md").read_text()
    assert json.loads((tmp_path / "b.json").read_text())["type"] == "bundle"
    assert json.loads((tmp_path / "noise.json").read_text())["version"] == 1
    assert "skipped" in r.stderr


def test_cli_alerts_csv_format_flag_and_errors(tmp_path):
    from secllm.cli import main

    r = CliRunner().invoke(main, ["incidents", str(FIX / "alerts.csv"), "--format", "alerts-csv", "--json",
                                  "--min-score", "1"])
    assert r.exit_code == 0, r.output
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    r = CliRunner().invoke(main, ["incidents", str(bad), "--format", "alerts-csv"])
    assert r.exit_code != 0 and "lacks column" in r.output and "Traceback" not in r.output


def test_api_incidents_route_with_auth():
    pytest.importorskip("fastapi")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from secllm.serve.incidents import incident_router

    app = FastAPI()
    app.include_router(incident_router(max_body_bytes=200_000, max_items=100))
    objs = [json.loads(ln) for ln in (FIX / "eve.json").read_text().splitlines()[:4]]
    objs.append({"time": "2024-05-01T10:03:00Z", "name": "ET EXPLOIT foo", "ip": "10.0.0.66", "host": "web01"})
    with TestClient(app) as c:
        r = c.post("/v1/incidents", json={"findings": objs, "min_score": 5})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["incidents"]) == 1 and "eve.json" not in body["incidents"][0]["items"][0]
        r = c.post("/v1/incidents", json={"findings": objs, "format": "stix"})
        assert r.json()["bundle"]["type"] == "bundle"
        assert c.post("/v1/incidents", json={"findings": objs, "bogus": 1}).status_code == 422
        assert c.post("/v1/incidents", json={"findings": objs * 30}).status_code == 422
        assert c.post("/v1/incidents", content=b"{not json").status_code == 400


def test_api_incidents_needs_the_key(tiny_web_model):
    from fastapi.testclient import TestClient

    from secllm.serve.app import create_app

    key = "Zq7-Hw2pLx9_Vb4nRk8tYs3"          # a key create_app accepts (>= 16 chars, varied)
    app = create_app(tiny_web_model, backend="torch", log_stream=None, api_keys=[key])
    body = {"findings": [{"time": "2024-05-01T10:03:00Z", "name": "ET EXPLOIT foo", "ip": "10.0.0.66", "host": "h"}]}
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.post("/v1/incidents", json=body).status_code == 401
        r = c.post("/v1/incidents", json=body, headers={"X-API-Key": key})
        assert r.status_code == 200 and "incidents" in r.json()


def test_large_successful_response_is_exfiltration():
    fs = [web(1, T0, "10.0.0.5", "cmdi", status=200, target="/u/s.php?cmd=id"),
          web(2, T0 + 5, "10.0.0.5", "cmdi", status=200, target="/u/s.php?cmd=ls"),
          web(3, T0 + 30, "10.0.0.5", "cmdi", status=200, target="/u/s.php?cmd=tar", size=600_000)]
    [inc] = run(fs)
    assert [s["tactic"] for s in inc["stages"]] == ["execution", "exfiltration"]
    assert inc["items"] == ["access.log:1", "access.log:2", "access.log:3"] and inc["item_count"] == 3


def test_large_benign_looking_answer_from_an_attacked_path_is_exfiltration():
    fs = [web(1, T0, "10.0.0.5", "cmdi", status=200, target="/u/s.php?cmd=ls"),
          web(2, T0 + 5, "10.0.0.5", "cmdi", status=200, target="/u/s.php?cmd=cat+x"),
          Finding("access.log:3", T0 + 9, kind="context", src="10.0.0.5", status=200, size=500_000,
                  target="/u/s.php?cmd=tar", file="access.log"),
          Finding("access.log:4", T0 + 9, kind="context", src="10.0.0.5", status=200, size=500_000,
                  target="/big-download.iso", file="access.log")]
    [inc] = run(fs)
    assert [s["tactic"] for s in inc["stages"]] == ["execution", "exfiltration"]
    assert inc["items"] == ["access.log:1", "access.log:2", "access.log:3"]


def test_empty_file_is_no_findings(tmp_path):
    from secllm.cli import main

    empty = tmp_path / "host_findings.jsonl"
    empty.write_text("")
    assert detect_format(empty) == "findings" and list(read_findings(empty)) == []
    r = CliRunner().invoke(main, ["incidents", str(empty), str(FIX / "alerts.csv"), "--json", "--min-score", "1"])
    assert r.exit_code == 0, r.output


def test_browsing_before_the_first_attack_is_recon_but_weighs_nothing():
    ctx = [Finding(f"a.log:{i}", T0 + i, kind="context", src="10.0.0.5", status=200, method="GET",
                   target=f"/page{i}", file="a.log") for i in range(1, 6)]
    [inc] = run(ctx + [web(10, T0 + 10, "10.0.0.5", "sqli"), web(11, T0 + 11, "10.0.0.5", "sqli"),
                       web(12, T0 + 12, "10.0.0.5", "sqli")])
    st = inc["stages"]
    assert [s["tactic"] for s in st] == ["reconnaissance", "initial-access"] and st[0]["techniques"] == ["T1594"]
    assert inc["first_seen"] == "2024-05-01T10:00:01Z" and inc["items"][0] == "a.log:1"
    # a single weak finding after browsing stays below the bar: the browsing adds no weight
    assert run(ctx + [web(10, T0 + 10, "10.0.0.5", "xss")]) == []


def test_steady_minutes_are_not_periodic_routine():
    m = NoiseModel()
    fs = [alert(i, T0 + 7 * i, "ET DNS tunnel query", "dns1", "10.0.0.5") for i in range(30)]   # 3.5 minutes
    for f in fs:
        m.observe(f)
    assert m.explain(fs[-1])["periodicity"] == 0.0
    hourly = [alert(i, T0 + 300 * i, "health probe", "web01", "10.9.9.9") for i in range(30)]    # 2.5 hours
    for f in hourly:
        m.observe(f)
    assert m.explain(hourly[-1])["periodicity"] == 1.0


def test_docstring_examples():
    import doctest
    import importlib

    for name in ("", ".alerts", ".correlate", ".findings", ".knowledge", ".noise", ".report", ".taxonomy"):
        m = importlib.import_module("secllm.incidents" + name)
        assert doctest.testmod(m).failed == 0, m.__name__


def test_evtx_catch_all_classes_place_no_stage():
    f = finding_from_scan({"id": "h:1", "label": "AutomatedTestingTools", "task": "evtx-tactic", "kind": "evtx",
                           "host": "web01", "status": "ok", "time": "2024-05-01T10:00:00Z"})
    g = finding_from_scan({"id": "h:2", "label": "Lateral Movement", "task": "evtx-tactic", "kind": "evtx",
                           "host": "web01", "status": "ok", "time": "2024-05-01T10:00:01Z"})
    assert f.tactics == () and f.task is None and g.tactics == ("lateral-movement",)


def test_routed_scan_log_lines_take_their_own_time_and_source():
    """Routed scan (log-auth) writes no time and puts the address in details: both are read."""
    lines = [f"Dec 10 07:27:{s:02d} LabSZ sshd[24239]: Failed password for root from 112.95.230.3 port 4{s} ssh2"
             for s in range(0, 60, 5)]
    objs = [{"id": f"auth.log:{k}", "file": "auth.log", "line": k, "source": None, "label": "malicious",
             "score": 1.0, "attack_type": "brute-force", "status": "ok", "kind": None, "input_kind": "log-line/openssh",
             "task": "log-auth", "details": {"source": "112.95.230.3", "count": k}, "text": ln}
            for k, ln in enumerate(lines, 1)]
    objs.insert(0, {"id": "auth.log:0", "file": "auth.log", "line": 0, "source": None, "label": "benign",
                    "status": "ok", "input_kind": "log-line/openssh", "task": "log-auth",
                    "text": "Dec 10 07:26:00 LabSZ sshd[1]: Server listening on 0.0.0.0 port 22."})
    fs = [finding_from_scan(o) for o in objs]
    assert fs[0].kind == "context" and fs[1].kind == "log" and fs[1].src == "112.95.230.3"
    assert fs[2].time - fs[1].time == 5.0
    [inc] = run(fs)
    assert inc["actors"] == ["112.95.230.3"] and [s["tactic"] for s in inc["stages"]] == ["credential-access"]
    assert inc["item_count"] == len(lines)
