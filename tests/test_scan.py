"""`secllm scan`: access logs, raw requests, pcaps, JSONL, CSV; corrupt input; --follow."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from secllm.scan import IpPseudonymizer, detect_format, iter_scan_items, scan

LOG_LINES = [
    '203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
    '203.0.113.9 - - [10/Oct/2023:13:55:37 +0000] "GET /item?id=1%27%20or%20%271%27=%271 HTTP/1.1" 200 5 "-" "sqlmap"',
    "this line is not an access-log line",
    '198.51.100.4 - - [10/Oct/2023:13:55:38 +0000] "GET /q?s=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1" 404 0 "-" "c"',
    '198.51.100.4 - - [10/Oct/2023:13:55:39 +0000] "GET /dl?f=../../../etc/passwd HTTP/1.1" 404 0 "-" "c"',
]
REQUESTS = ("GET /a?id=1%27%20union%20select%201-- HTTP/1.1\r\nHost: shop.example\r\n\r\n"
            "POST /login HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 27\r\n\r\nuser=john&pass=<script>x</s")


@pytest.fixture(scope="module")
def det(tiny_web_model):
    from secllm.detect.detector import WebAttackDetector

    return WebAttackDetector.load(tiny_web_model, backend="torch", threads=1)


@pytest.fixture
def everything_malicious(det):
    """Threshold 0 and no first stage: every judged item is a finding, so counts are exact whatever
    the tiny model thinks (the first stage would call a bare token like ``john`` benign unseen)."""
    old = det.threshold, det.prefilter
    det.threshold, det.prefilter = 0.0, False
    yield det
    det.threshold, det.prefilter = old


def _access_log(tmp_path: Path, lines=LOG_LINES) -> Path:
    p = tmp_path / "access.log"
    p.write_text("\n".join(lines) + "\n")
    return p


def _jsonl(out: io.StringIO) -> list[dict]:
    return [json.loads(x) for x in out.getvalue().splitlines()]


def test_access_log_findings_summary_and_masked_ips(tmp_path, det):
    out = io.StringIO()
    s = scan([_access_log(tmp_path)], det, out, progress=False, ip_key=b"k")
    findings = _jsonl(out)
    assert s.items == 5 and s.verdicts["corrupt"] == 1
    assert s.errors == ["access.log:3: not an access-log line"]
    assert s.verdicts["benign"] + s.verdicts["malicious"] == 4
    assert len(findings) == s.verdicts["malicious"], "only malicious items by default"
    assert all(f["label"] == "malicious" for f in findings)
    text = out.getvalue() + s.format()
    assert "203.0.113.9" not in text and "198.51.100.4" not in text, "client addresses are pseudonymised"
    pseudo = IpPseudonymizer(b"k")
    assert set(s.sources) <= {pseudo("203.0.113.9"), pseudo("198.51.100.4")}
    assert "verdicts:" in s.format() and "corrupt=1" in s.format()

    out_all = io.StringIO()
    s2 = scan([_access_log(tmp_path)], det, out_all, all_items=True, progress=False)
    rows = _jsonl(out_all)
    assert len(rows) == 4 and [r["line"] for r in rows] == [1, 2, 4, 5]
    assert rows[1]["text"] == "/item?id=1%27%20or%20%271%27=%271" and rows[1]["kind"] == "url"
    assert rows[1]["method"] == "GET" and rows[1]["http_status"] == 200
    assert s2.verdicts == s.verdicts


def test_sqli_line_is_flagged_with_evidence(tmp_path, everything_malicious):
    out = io.StringIO()
    scan([_access_log(tmp_path)], everything_malicious, out, progress=False)
    f = {r["line"]: r for r in _jsonl(out)}[2]
    assert f["evidence"] and all(f["text"][e["start"]:e["end"]] == e["text"] for e in f["evidence"])


def test_gzip_log_and_format_detection(tmp_path, everything_malicious):
    gz = tmp_path / "access.log.gz"
    gz.write_bytes(gzip.compress(("\n".join(LOG_LINES) + "\n").encode()))
    assert detect_format(gz) == "access-log"
    out = io.StringIO()
    s = scan([gz], everything_malicious, out, progress=False)
    assert s.verdicts["malicious"] == 4 and s.verdicts["corrupt"] == 1
    # a gzip cut short: what was read is judged, the break is reported
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gz.read_bytes()[:-12])
    s = scan([cut], everything_malicious, io.StringIO(), fmt="access-log", progress=False)
    assert s.verdicts["corrupt"] >= 1


def test_raw_http_requests_file(tmp_path, everything_malicious):
    p = tmp_path / "reqs.http"
    p.write_text(REQUESTS)
    assert detect_format(p) == "http"
    out = io.StringIO()
    s = scan([p], everything_malicious, out, progress=False)
    rows = _jsonl(out)
    assert s.items == 2 and len(rows) == 2
    assert {r["kind"] for r in rows} == {"http"} and rows[0]["method"] == "GET"


def _pcap(path: Path, request: bytes) -> Path:
    from scapy.all import IP, TCP, Ether, Raw, wrpcap

    c, s = ("10.0.0.5", 40000), ("10.0.0.9", 80)
    pkts = [Ether() / IP(src=c[0], dst=s[0]) / TCP(sport=c[1], dport=s[1], flags="S", seq=1000),
            Ether() / IP(src=s[0], dst=c[0]) / TCP(sport=s[1], dport=c[1], flags="SA", seq=5000, ack=1001),
            Ether() / IP(src=c[0], dst=s[0]) / TCP(sport=c[1], dport=s[1], flags="PA", seq=1001, ack=5001)
            / Raw(load=request[:20]),
            Ether() / IP(src=c[0], dst=s[0]) / TCP(sport=c[1], dport=s[1], flags="PA", seq=1021, ack=5001)
            / Raw(load=request[20:])]
    wrpcap(str(path), pkts)
    return path


def test_pcap_requests_reassembled_and_truncated_capture_reported(tmp_path, everything_malicious):
    req = b"GET /search?q=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    p = _pcap(tmp_path / "cap.pcap", req)
    assert detect_format(p) == "pcap"
    out = io.StringIO()
    s = scan([p], everything_malicious, out, progress=False)
    (row,) = _jsonl(out)
    assert row["kind"] == "http" and row["source"] == "flow0" and row["text"] == req.decode()
    assert s.verdicts["corrupt"] == 0
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(p.read_bytes()[:-10])           # the last packet is cut short
    s = scan([cut, p], everything_malicious, io.StringIO(), progress=False)
    assert s.verdicts["corrupt"] == 1 and "truncated" in s.errors[0]
    assert s.verdicts["malicious"] >= 1, "the next file is still scanned"


def test_jsonl_and_csv_inputs_and_csv_output(tmp_path, everything_malicious):
    j = tmp_path / "items.jsonl"
    j.write_text('{"id": "r1", "text": "1\' or 1=1--"}\n{broken\n{"id": "r3", "text": 5}\n\n{"text": "john"}\n')
    out = io.StringIO()
    s = scan([j], everything_malicious, out, progress=False)
    assert [r["id"] for r in _jsonl(out)] == ["items.jsonl:r1", "items.jsonl:5"]
    assert s.verdicts["corrupt"] == 2 and len(s.errors) == 2

    c = tmp_path / "items.csv"
    with open(c, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["when", "payload"])
        w.writerow(["1", "=cmd|' /C calc'!A0"])            # a spreadsheet formula: must not stay one
        w.writerow(["2", "<img src=x onerror=alert(1)>"])
    out = io.StringIO()
    s = scan([c], everything_malicious, out, out_format="csv", progress=False)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 2 and s.verdicts["malicious"] == 2
    assert rows[0]["text"].startswith("'="), "CSV cells that start a formula are neutralised"
    assert rows[1]["text"] == "<img src=x onerror=alert(1)>" and rows[1]["evidence"]


class _SpyDetector:
    """Records batch sizes: proof that input is judged in bounded batches (constant memory)."""

    def __init__(self, det):
        self.det, self.sizes = det, []

    def detect(self, texts, ids=None, evidence=True):
        self.sizes.append(len(texts))
        return self.det.detect(texts, ids=ids, evidence=False)


def test_streams_in_bounded_batches(tmp_path, det):
    line = '192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] "GET /p?id={} HTTP/1.1" 200 1 "-" "ua"'
    p = _access_log(tmp_path, [line.format(i) for i in range(600)])
    items = iter_scan_items(p)
    first = next(items)                              # lazy: nothing else has been read yet
    assert first.id == "access.log:1"
    spy = _SpyDetector(det)
    s = scan([p], spy, io.StringIO(), batch=256, progress=False)
    assert s.items == 600 and spy.sizes == [256, 256, 88]


def test_follow_tails_growth_rotation_and_truncation(tmp_path, everything_malicious):
    p = tmp_path / "live.log"
    p.write_text(LOG_LINES[0] + "\n")
    line = LOG_LINES[1]

    def writer():
        time.sleep(0.3)
        with open(p, "a") as f:
            f.write(line + "\n")
            f.write(line[:30])                        # half a line: judged only once complete
            f.flush()
            time.sleep(0.3)
            f.write(line[30:] + "\n")
        time.sleep(0.3)
        os.rename(p, tmp_path / "live.log.1")         # rotation: a new file under the same name
        p.write_text(line + "\n")
        time.sleep(0.4)
        p.write_text("")                             # truncation (copytruncate) ...
        time.sleep(0.3)
        with open(p, "a") as f:                      # ... then new lines from the start
            f.write(line + "\n" + line + "\n")

    t = threading.Thread(target=writer)
    t.start()
    out = io.StringIO()
    s = scan([p], everything_malicious, out, fmt="access-log", follow=True, poll=0.05, max_seconds=2.5,
             progress=False)
    t.join()
    rows = _jsonl(out)
    assert s.items == 6 and len(rows) == 6 and s.verdicts["corrupt"] == 0
    assert rows[2]["text"] == "/item?id=1%27%20or%20%271%27=%271", "the half-written line was joined"


def test_cli_scan(tmp_path, tiny_web_model):
    from secllm.cli import main

    log = _access_log(tmp_path)
    out = tmp_path / "findings.csv"
    r = CliRunner().invoke(main, ["scan", str(log), "--model", str(tiny_web_model), "--backend", "torch",
                                  "--all", "--out", str(out), "--out-format", "csv", "--no-evidence"])
    assert r.exit_code == 0, r.output
    assert "scanned 5 items" in r.stderr and "corrupt=1" in r.stderr
    assert len(list(csv.DictReader(open(out)))) == 4
    r = CliRunner().invoke(main, ["scan", str(tmp_path / "nope.log"), "--model", str(tiny_web_model)])
    assert r.exit_code != 0 and "no such file" in r.output
    r = CliRunner().invoke(main, ["scan", str(log), str(log), "--follow", "--model", str(tiny_web_model)])
    assert r.exit_code != 0 and "exactly one" in r.output



def test_source_counts_stay_bounded(monkeypatch):
    from secllm import scan as scan_mod

    monkeypatch.setattr(scan_mod, "MAX_SOURCES", 50)
    s = scan_mod.ScanSummary()
    for _ in range(30):
        s.add_source("scanner")
    for k in range(1000):
        s.add_source(f"ip-{k}")
    assert len(s.sources) <= 50 and s.sources.most_common(1)[0] == ("scanner", 30)


def test_access_log_user_agent_signatures(tmp_path, det):
    """A scanner's probe of an ordinary path is caught by its logged User-Agent; --no-signatures off."""
    lines = ['203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 512 "-" '
             '"Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:map_codes)"',
             '203.0.113.9 - - [10/Oct/2023:13:55:37 +0000] "GET /index.html HTTP/1.1" 200 512 "-" '
             '"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"']
    old = det.threshold
    det.threshold = 1.01            # the tiny model flags nothing: what is flagged is the signature's doing
    try:
        out = io.StringIO()
        s = scan([_access_log(tmp_path, lines)], det, out, all_items=True, progress=False)
        rows = _jsonl(out)
        out_off = io.StringIO()
        scan([_access_log(tmp_path, lines)], det, out_off, all_items=True, progress=False, signatures=False)
        off = _jsonl(out_off)
    finally:
        det.threshold = old
    assert rows[0]["label"] == "malicious" and rows[0]["attack_type"] == "scanner"
    assert rows[0]["signatures"] == ["nikto"] and rows[0]["part"] == "log:user-agent"
    assert [e["text"] for e in rows[0]["evidence"]] == ["Nikto"]
    assert rows[1]["signatures"] == [] and s.attack_types["scanner"] == 1
    assert off[0]["signatures"] == [] and off[0]["label"] == "benign" and rows[1]["label"] == "benign"


def _follow(tmp_path, everything_malicious, writer, seconds=2.5):
    p = tmp_path / "live.log"
    t = threading.Thread(target=writer, args=(p,))
    p.write_text("")
    t.start()
    out = io.StringIO()
    s = scan([p], everything_malicious, out, fmt="lines", follow=True, poll=0.05, max_seconds=seconds,
             progress=False)
    t.join()
    return s, [r["text"] for r in _jsonl(out)]


def test_follow_keeps_a_line_appended_just_before_rotation(tmp_path, everything_malicious):
    """The writer appends and renames in one breath: the last line of the old file is read before
    the new file is (issue 18.10: it was lost when the follower reopened the path)."""
    def writer(p):
        time.sleep(0.3)
        with open(p, "a") as f:
            f.write("line-1\n")
        time.sleep(0.3)
        with open(p, "a") as f:
            f.write("line-2 just before rotation\n")
        os.rename(p, p.with_suffix(".log.1"))
        p.write_text("line-3 in the new file\n")

    s, texts = _follow(tmp_path, everything_malicious, writer)
    assert texts == ["line-1", "line-2 just before rotation", "line-3 in the new file"], texts


def test_follow_reads_a_late_write_to_the_rotated_file(tmp_path, everything_malicious):
    """A daemon that still holds the old descriptor writes once more after the rename."""
    def writer(p):
        time.sleep(0.2)
        f = open(p, "a")
        f.write("before\n")
        f.flush()
        time.sleep(0.3)
        os.rename(p, p.with_suffix(".log.1"))
        p.write_text("new file line\n")
        time.sleep(0.3)
        f.write("late write to the rotated file\n")
        f.close()

    s, texts = _follow(tmp_path, everything_malicious, writer)
    assert sorted(texts) == sorted(["before", "new file line", "late write to the rotated file"]), texts


def test_follow_truncate_then_rewrite_longer_reads_whole_lines(tmp_path, everything_malicious):
    """Truncated and rewritten with more bytes than were read before the follower looks again: the
    new content is read from its start, never a fragment from the old offset."""
    def writer(p):
        time.sleep(0.3)
        with open(p, "a") as f:
            f.write("first line of the old content\n")
        time.sleep(0.4)
        with open(p, "w") as f:                     # truncate and rewrite at once, longer than before
            f.write("alpha line of the new content that is longer\nbeta line\n")

    s, texts = _follow(tmp_path, everything_malicious, writer)
    assert texts == ["first line of the old content", "alpha line of the new content that is longer",
                     "beta line"], texts
