"""`secllm scan --engine spark`: a real local Spark session (local[2]) gives the findings of `secllm scan`.

One session for the module (its start dominates); skipped when PySpark or Java is missing (CI
installs both: the `spark` extra and scripts/install_system_deps.sh).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark")

from secllm.scan import scan  # noqa: E402
from secllm.spark import (DetectorSpec, findings_counter, items_dataframe, java_available,  # noqa: E402
                          scan_dataframe, session, spark_scan)

pytestmark = pytest.mark.skipif(not java_available(), reason="Spark needs Java (apt-get install default-jre-headless)")

LOG = [
    '203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
    '203.0.113.9 - - [10/Oct/2023:13:55:37 +0000] "GET /item?id=1%27%20or%20%271%27=%271 HTTP/1.1" 200 5 "-" "sqlmap"',
    "this line is not an access-log line",
    '198.51.100.4 - - [10/Oct/2023:13:55:38 +0000] "GET /q?s=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1" 404 0 "-" "c"',
    '198.51.100.4 - - [10/Oct/2023:13:55:39 +0000] "GET /dl?f=../../../etc/passwd HTTP/1.1" 404 0 "-" "c"',
    '192.0.2.1 - - [10/Oct/2023:13:55:40 +0000] "GET /search?q=blue+shoes&page=2 HTTP/1.1" 200 99 "-" "Mozilla/5.0"',
    '192.0.2.1 - - [10/Oct/2023:13:55:41 +0000] "GET /a?cmd=%3Bcat%20/etc/passwd HTTP/1.1" 200 9 "-" "curl/8"',
]
LINES = ["user=john&page=2", "1 union all select null,null--", "<img src=x onerror=alert(1)>", "hello world",
         "; cat /etc/passwd", "Dec 10 06:55:46 host sshd[24200]: Failed password for root from 203.0.113.9 port 22"]
REQUESTS = ("GET /a?id=1%27%20union%20select%201-- HTTP/1.1\r\nHost: shop.example\r\n\r\n"
            "POST /login HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 27\r\n\r\nuser=john&pass=<script>x</s")


@pytest.fixture(scope="module")
def spark():
    s = session("local[2]", app="secllm-test")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A directory of mixed inputs: an access log (with a corrupt line), a gzipped one, a line log,
    JSONL with a broken record, raw HTTP requests, a pcap and a truncated one, and a file in a
    sub-directory."""
    from tests.test_scan import _pcap
    d = tmp_path_factory.mktemp("logs")
    (d / "access.log").write_text("\n".join(LOG * 3) + "\n")
    with gzip.open(d / "old.log.gz", "wt") as f:
        f.write("\n".join(LOG[::-1]) + "\n")
    (d / "app.txt").write_text("\n".join(LINES) + "\n")
    (d / "events.jsonl").write_text(json.dumps({"id": 7, "text": "' or 1=1#"}) + "\n{broken\n"
                                    + json.dumps({"text": "search shoes"}) + "\n")
    (d / "reqs.http").write_text(REQUESTS)
    cap = _pcap(d / "cap.pcap", b"GET /search?q=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1\r\nHost: x\r\n\r\n")
    (d / "cut.pcap").write_bytes(cap.read_bytes()[:-10])
    (d / "sub").mkdir()
    (d / "sub" / "more.log").write_text("\n".join(LOG[1:4]) + "\n")
    return d


def _files(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file())


def _local(d: Path, spec: DetectorSpec, all_items: bool) -> tuple[list[str], object]:
    out = io.StringIO()
    s = scan(_files(d), spec.load(), out, progress=False, ip_key=b"k", all_items=all_items)
    return out.getvalue().splitlines(), s


@pytest.mark.parametrize("all_items", [False, True])
def test_spark_scan_equals_local_scan(spark, inputs, tmp_path, all_items):
    from secllm.paths import DEFAULT_MODEL_DIR

    # two specs naming the same model: each run's workers load afresh (a cached detector is per spec)
    spec = DetectorSpec(model_dir=str(DEFAULT_MODEL_DIR) if all_items else None)
    local_lines, local_summary = _local(inputs, spec, all_items)
    out = tmp_path / "findings.jsonl"
    res = spark_scan([str(inputs)], spec, out, spark=spark, ip_key=b"k", all_items=all_items, partitions=4, batch=4)
    spark_lines = out.read_text(encoding="utf-8").splitlines()
    assert local_lines, "the fixture must give findings"
    assert findings_counter(spark_lines) == findings_counter(local_lines)
    s = res.summary
    assert (s.items, s.files) == (local_summary.items, local_summary.files) == (s.items, 8)
    assert s.verdicts == local_summary.verdicts and s.verdicts["corrupt"] >= 7
    assert s.attack_types == local_summary.attack_types
    assert s.sources == local_summary.sources
    # one detector per Python worker (2 in local[2]), not one per partition (4) or per batch
    assert 1 <= res.model_loads <= 2


def test_spark_routed_scan_equals_local_routed_scan(spark, inputs, tmp_path):
    spec = DetectorSpec(routed=True)
    local_lines, local_summary = _local(inputs, spec, all_items=True)
    out = tmp_path / "routed.jsonl"
    res = spark_scan([str(inputs / "*.txt"), str(inputs / "access.log")], spec, out, spark=spark, ip_key=b"k",
                     all_items=True, partitions=3)
    # the local side scanned every file; compare on the two the glob and the name chose
    keep = {"app.txt", "access.log"}
    local_kept = [x for x in local_lines if json.loads(x)["file"] in keep]
    assert findings_counter(out.read_text().splitlines()) == findings_counter(local_kept)
    assert res.summary.kinds and res.summary.tasks
    assert any(json.loads(x).get("input_kind") for x in local_kept)


def test_dataframe_api_and_parquet(spark, inputs, tmp_path):
    df = spark.createDataFrame([("a:1", "1' or '1'='1"), ("a:2", "search shoes"), ("a:3", None)],
                               "id string, text string")
    rows = {r["id"]: r for r in scan_dataframe(df, DetectorSpec(), all_items=True).collect()}
    assert rows["a:1"]["verdict"] == "malicious" and json.loads(rows["a:1"]["finding"])["label"] == "malicious"
    assert rows["a:2"]["verdict"] == "benign"
    assert rows["a:3"]["status"] != "ok"                      # an empty item is a typed result, not a crash
    items = items_dataframe(spark, [str(inputs / "access.log")], ip_key=b"k")
    assert items.where("error is not null").count() == 3       # the corrupt line, once per copy of the log
    res = spark_scan([str(inputs / "access.log")], DetectorSpec(), tmp_path / "pq", spark=spark, ip_key=b"k")
    pq = spark.read.parquet(str(tmp_path / "pq"))
    local_lines, _ = _local_one(inputs / "access.log")
    assert pq.count() == len(local_lines) == res.summary.verdicts["malicious"]
    got = {r["id"]: r for r in pq.collect()}
    for line in local_lines:
        f = json.loads(line)
        r = got[f["id"]]
        assert (r["label"], r["attack_type"], r["source"], r["http_status"]) == \
            (f["label"], f["attack_type"], f["source"], f["http_status"])
        assert json.loads(r["evidence"]) == f["evidence"]


def _local_one(p: Path):
    out = io.StringIO()
    s = scan([p], DetectorSpec().load(), out, progress=False, ip_key=b"k")
    return out.getvalue().splitlines(), s


def test_cli_engine_spark(inputs, tmp_path, spark):
    from click.testing import CliRunner

    from secllm.cli import main

    out = tmp_path / "cli.jsonl"
    r = CliRunner().invoke(main, ["scan", "--engine", "spark", "--ip-key", "k", "--no-progress",
                                  "--out", str(out), str(inputs / "access.log")])
    assert r.exit_code == 0, r.output
    assert "model load(s)" in r.output
    local = io.StringIO()         # the CLI routes by default (--web-only: the web model alone)
    scan([inputs / "access.log"], DetectorSpec(routed=True).load(), local, progress=False, ip_key=b"k")
    assert findings_counter(out.read_text().splitlines()) == findings_counter(local.getvalue().splitlines())
    bad = CliRunner().invoke(main, ["scan", "--engine", "spark", "--out", str(tmp_path / "x.jsonl"),
                                    str(tmp_path / "nope" / "*.log")])
    assert bad.exit_code != 0 and "Traceback" not in bad.output and "spark:" in bad.output


def test_java_missing_is_one_line(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from secllm.cli import main

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    p = tmp_path / "a.log"
    p.write_text(LOG[0] + "\n")
    r = CliRunner().invoke(main, ["scan", "--engine", "spark", str(p)])
    assert r.exit_code != 0 and "needs Java" in r.output and "Traceback" not in r.output
