"""Worker processes: the same verdicts as one in-process detector, in input order; bad items stay per-item."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from tests.conftest import toy_examples


def test_pool_gives_the_in_process_results_in_order(tiny_web_model):
    from secllm.detect.detector import WebAttackDetector
    from secllm.detect.pool import DetectorPool

    items = toy_examples(4, 11).texts + [123, "", "x" * 300_000,
                                          "GET /a?id=1%27%20or%201=1 HTTP/1.1\r\nHost: h\r\n\r\n"]
    ids = [f"i{k}" for k in range(len(items))]
    det = WebAttackDetector.load(tiny_web_model, backend="torch", threads=1)
    ref = det.detect(items, ids=ids, evidence=True)
    with DetectorPool(tiny_web_model, workers=2, backend="torch") as pool:
        got = pool.detect(items, ids=ids, evidence=True)
        assert [r.to_json() for r in got] == [r.to_json() for r in ref]
        assert [r.id for r in got] == ids
        assert {r.status for r in got[-4:-1]} == {"bad_input", "empty", "too_large"}
        pool.clear_cache()
        one = pool.detect(items[:1], ids=["only"], evidence=False)      # fewer items than workers
        assert [r.id for r in one] == ["only"] and pool.detect([]) == []


def test_pool_reports_a_model_that_does_not_load(tmp_path):
    from secllm.detect.pool import DetectorPool

    (tmp_path / "secllm.json").write_text('{"kind": "mlm"}')
    with pytest.raises(RuntimeError, match="worker"):
        DetectorPool(tmp_path, workers=1, backend="torch")


def test_cli_scan_with_workers(tmp_path, tiny_web_model):
    from secllm.cli import main

    log = tmp_path / "access.log"
    log.write_text("\n".join(
        f'203.0.113.{i} - - [10/Oct/2023:13:55:{i:02d} +0000] "GET /item?id={i}%27%20or%201=1 HTTP/1.1" 200 5 "-" "c"'
        for i in range(20)) + "\nnot a log line\n")
    outs = []
    for w in ("1", "2"):
        out = tmp_path / f"f{w}.csv"
        r = CliRunner().invoke(main, ["scan", str(log), "--model", str(tiny_web_model), "--backend", "torch", "--all",
                                      "--out", str(out), "--out-format", "csv", "--no-evidence", "--workers", w,
                                      "--batch", "8", "--no-progress"])
        assert r.exit_code == 0, r.output
        assert "scanned 21 items" in r.stderr and "corrupt=1" in r.stderr
        outs.append([(row["id"], row["label"], row["score"]) for row in csv.DictReader(open(out))])
    assert outs[0] == outs[1] and len(outs[0]) == 20
