"""`secllm serve`: the real server (uvicorn in a subprocess on a free loopback port) over HTTP."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.test_runtime_onnx import onnx_model_dir  # noqa: E402 — after the skips

KEY = "tK3v9Qx2LmN8pR4sW7yZbC5d"
SOFT_NOFILE = 512                 # the server is started under a low soft limit: it must raise it
MAX_BODY = 20_000
MAX_BATCH = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_web_model, tmp_path_factory):
    """The real server with API keys, limits lowered so that tests can pass them cheaply."""
    model = onnx_model_dir(tiny_web_model)
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "stderr.log"
    env = {**os.environ, "SECLLM_API_KEYS": KEY}
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(SOFT_NOFILE, hard), hard))
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "secllm.cli", "serve", "--port", str(port), "--model", str(model),
             "--backend", "onnx", "--threads", "1", "--max-body-bytes", str(MAX_BODY), "--max-batch", str(MAX_BATCH),
             "--header-timeout", "1", "--body-timeout", "2"],
            stdout=subprocess.DEVNULL, stderr=err, env=env, preexec_fn=low_nofile)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("server did not start in 60 s")
        time.sleep(0.2)
    yield {"base": base, "log": log, "proc": proc}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _get(server, path: str, key: str | None = KEY, **kw) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return httpx.get(server["base"] + path, headers=headers, timeout=30, **kw)


def _post(server, body: bytes | str, key: str | None = KEY, **kw) -> httpx.Response:
    headers = {"X-API-Key": key, "Content-Type": "application/json"} if key else {"Content-Type": "application/json"}
    return httpx.post(server["base"] + "/v1/detect", content=body, headers=headers, timeout=30, **kw)


def _error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code and body["error"]["message"] and body["request_id"]
    assert "Traceback" not in r.text
    return body


def test_health_needs_no_key_and_listing(server):
    r = httpx.get(server["base"] + "/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.headers["x-request-id"]
    tasks = _get(server, "/v1/tasks").json()["tasks"]
    assert tasks[0]["name"] == "web-attack" and "benign" in tasks[0]["labels"]
    (m,) = _get(server, "/v1/models").json()["models"]
    assert m["backend"] == "onnx" and m["onnx_parity"]["fp32_max_abs_logit_diff"] < 1e-4
    assert "/" not in m["name"], "no server file-system paths in responses"
    doc = _get(server, "/openapi.json").json()
    assert "/v1/detect" in doc["paths"] and "DetectItem" in doc["components"]["schemas"]
    assert _get(server, "/docs").status_code == 200


def test_detect_ok_same_fields_as_cli(server):
    items = [{"id": "a", "text": "1' or '1'='1"}, {"text": "john"},
             {"id": 7, "text": "GET /a?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"}, {"text": ""}]
    r = _post(server, json.dumps({"task": "web-attack", "items": items}))
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["id"] for x in res] == ["a", "1", "7", "3"]
    for x in res[:3]:
        assert x["status"] == "ok" and x["label"] in ("benign", "malicious") and 0 <= x["score"] <= 1
        assert set(x) >= {"attack_type", "evidence", "kind", "part", "class_scores", "warnings", "error"}
    assert res[2]["kind"] == "http" and res[3]["status"] == "empty"
    for x in res:                           # malicious verdicts carry their CWE/ATT&CK knowledge
        assert ("knowledge" in x) == (x["label"] == "malicious")


def test_detect_item_kind(server):
    items = [{"text": "/etc/passwd"}, {"text": "/etc/passwd", "kind": "payload"}]
    r = _post(server, json.dumps({"task": "web-attack", "items": items}))
    assert r.status_code == 200, r.text
    assert [x["kind"] for x in r.json()["results"]] == ["url", "payload"]
    _error(_post(server, json.dumps({"items": [{"text": "x", "kind": "shellcode"}]})), 422, "invalid_request")


def test_api_key_required_on_every_route_but_health(server):
    for path in ("/v1/tasks", "/v1/models", "/metrics", "/docs", "/openapi.json", "/nope"):
        r = _get(server, path, key=None)
        _error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
    _error(_get(server, "/v1/tasks", key="wrong-key"), 401, "unauthorized")
    _error(_post(server, '{"items": [{"text": "x"}]}', key=None), 401, "unauthorized")
    r = httpx.get(server["base"] + "/v1/tasks", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert r.status_code == 200


def test_bad_requests_get_clear_json_errors(server):
    big = json.dumps({"items": [{"text": "a" * (MAX_BODY + 10)}]})
    _error(_post(server, big), 413, "body_too_large")

    def chunks():                                   # chunked upload: no Content-Length to check first
        yield b'{"items": [{"text": "'
        for _ in range(30):
            yield b"a" * 1000
        yield b'"}]}'
    _error(_post(server, chunks()), 413, "body_too_large")
    _error(_post(server, b'{"items": [{"text": "\xff\xfe"}]}'), 400, "invalid_utf8")
    _error(_post(server, b'{"items": [{"text": '), 400, "invalid_json")
    body = _error(_post(server, '{"items": [{"text": 5}]}'), 422, "invalid_request")
    assert body["error"]["details"][0]["loc"] == ["items", 0, "text"]
    _error(_post(server, '{"items": "x"}'), 422, "invalid_request")
    _error(_post(server, '{"items": []}'), 422, "invalid_request")
    _error(_post(server, '{"items": [{"text": "x"}], "extra": 1}'), 422, "invalid_request")
    _error(_post(server, '[1, 2]'), 422, "invalid_request")
    _error(_post(server, '{"task": "malware", "items": [{"text": "x"}]}'), 422, "unknown_task")
    _error(_post(server, json.dumps({"items": [{"text": "x"}] * (MAX_BATCH + 1)})), 422, "batch_too_large")
    _error(_get(server, "/nope"), 404, "not_found")
    _error(httpx.delete(server["base"] + "/v1/detect", headers={"X-API-Key": KEY}), 405, "method_not_allowed")


def test_metrics_and_desensitised_access_log(server):
    secret_text = "user=bob@corp.example&from=10.1.2.3&" + "z" * 300
    assert _post(server, json.dumps({"items": [{"text": secret_text}, {"text": "x"}]})).status_code == 200
    text = _get(server, "/metrics").text
    assert 'secllm_detect_items_total{task="web-attack"}' in text
    assert "secllm_detect_verdicts_total" in text and "secllm_http_request_duration_seconds_bucket" in text
    assert 'secllm_http_requests_total{method="POST",route="/v1/detect",status="200"}' in text
    assert 'secllm_model_info{backend="onnx"' in text
    time.sleep(0.2)
    lines = [json.loads(x) for x in server["log"].read_text().splitlines() if x.startswith("{")]
    detects = [x for x in lines if x.get("path") == "/v1/detect" and x.get("items") == 2]
    assert detects, lines[-5:]
    entry = detects[-1]
    assert entry["status"] == 200 and entry["request_id"] and entry["duration_ms"] >= 0
    logged = json.dumps(lines)
    assert "bob@corp.example" not in logged and "10.1.2.3" not in logged and "<email>" in entry["inputs"][0]
    assert "z" * 100 not in logged, "only a short prefix of each input is logged"
    assert "127.0.0.1" not in logged, "client addresses are desensitised"


@pytest.mark.skipif(not os.path.exists("/proc/self/limits"), reason="reads /proc")
def test_server_raised_its_open_file_limit(server):
    limits = open(f"/proc/{server['proc'].pid}/limits").read()
    soft = int(next(x for x in limits.splitlines() if x.startswith("Max open files")).split()[3])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert soft > SOFT_NOFILE or hard <= SOFT_NOFILE, limits


def test_slow_clients_are_cut_and_disconnects_are_not_errors(server):
    port = int(server["base"].rsplit(":", 1)[1])
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(b"GET /health HTTP/1.1\r\nHo")                  # a head that never completes
    gone = socket.create_connection(("127.0.0.1", port), timeout=10)
    gone.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + KEY.encode() +
                 b"\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"items\": [")
    time.sleep(0.3)
    gone.close()                                                  # the client leaves mid-body
    t0 = time.monotonic()
    data = slow.recv(4096)
    assert data.startswith(b"HTTP/1.1 408") and time.monotonic() - t0 < 3, data
    slow.close()
    assert _get(server, "/v1/tasks").status_code == 200
    time.sleep(0.3)
    text = server["log"].read_text()
    assert "Traceback" not in text and "Exception in ASGI" not in text, text[-3000:]
    lines = [json.loads(x) for x in text.splitlines() if x.startswith("{")]
    assert any(x["path"] == "/v1/detect" and x["status"] == 499 for x in lines), lines[-5:]
    assert 'status="500"' not in _get(server, "/metrics").text


def test_refuses_public_bind_without_key(tiny_web_model):
    from secllm.cli import main
    from secllm.serve.app import check_bind

    r = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--model", str(tiny_web_model)],
                           env={"SECLLM_API_KEYS": ""})
    assert r.exit_code != 0 and "refusing to bind 0.0.0.0" in r.output
    check_bind("0.0.0.0", ["Zq7-Hw2pLx9_Vb4nRk8tYs3"])  # with a strong key it is allowed
    check_bind("::1", [])


def test_internal_error_is_generic(tiny_web_model):
    from fastapi.testclient import TestClient

    from secllm.serve.app import create_app

    app = create_app(tiny_web_model, backend="torch", log_stream=None)

    def boom(*a, **k):
        raise RuntimeError("secret internals /etc/shadow")
    app.state.detectors["web-attack"].detect = boom
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        r = c.post("/v1/detect", json={"items": [{"text": "x"}]})
    body = _error(r, 500, "internal_error")
    assert "secret" not in r.text and body["request_id"] == r.headers["x-request-id"]


def test_server_imports_no_torch(tiny_web_model):
    model = onnx_model_dir(tiny_web_model)
    code = ("import sys; from secllm.serve.app import create_app; "
            f"create_app({str(model)!r}, backend='onnx', threads=1, log_stream=None); "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]


def test_every_task_on_one_shared_base(tiny_web_model, tmp_path):
    """A web-attack model with a task adapter beside it: one server judges both tasks."""
    import shutil

    from fastapi.testclient import TestClient

    from secllm.serve.app import adapter_tasks, create_app
    from secllm.tasks.adapt import train_adapter
    from secllm.tasks.finetune import FinetuneConfig
    from tests.test_adapt import _hdfs

    d = tmp_path / "mt"
    shutil.copytree(tiny_web_model, d)
    train_adapter(d, "log-hdfs", _hdfs(20, 0), _hdfs(5, 1), ["normal", "anomaly"], d, lora=True,
                  benign_label="normal", cfg=FinetuneConfig(epochs=1, lr=5e-3, batch_tokens=1024))
    assert adapter_tasks(d) == ["log-hdfs"]
    app = create_app(d, backend="torch", log_stream=None)
    assert set(app.state.detectors) == {"web-attack", "log-hdfs"}
    with TestClient(app, base_url="http://127.0.0.1") as c:
        tasks = {t["name"]: t for t in c.get("/v1/tasks").json()["tasks"]}
        assert tasks["log-hdfs"]["labels"] == ["normal", "anomaly"] and tasks["log-hdfs"]["description"]
        # alternate tasks: each answer comes from its own head (the shared model switches back and forth)
        for _ in range(2):
            r = c.post("/v1/detect", json={"task": "log-hdfs", "items": [{"id": "s1", "text": "5 22 11 9"},
                                                                         {"id": "bad", "text": "not event keys"}]})
            res = r.json()["results"]
            assert r.status_code == 200 and res[0]["status"] == "ok" and res[0]["label"] in ("benign", "malicious")
            assert set(res[0]["class_scores"]) == {"normal", "anomaly"}
            assert res[1]["status"] == "bad_input"
            w = c.post("/v1/detect", json={"items": [{"text": "1' or '1'='1"}]}).json()["results"][0]
            assert set(w["class_scores"]) == {"benign", "sqli", "xss", "cmdi", "path-traversal"}
        r = c.post("/v1/detect", json={"task": "log-hdfs", "items": [{"text": "5 22", "kind": "url"}]})
        _error(r, 422, "invalid_request")
    only = create_app(d, backend="torch", log_stream=None, tasks=["web-attack"])
    assert set(only.state.detectors) == {"web-attack"}
    with pytest.raises(ValueError, match="no model for task"):
        create_app(d, backend="torch", log_stream=None, tasks=["traffic"])


def test_exported_task_models_serve_without_torch(tiny_web_model, tiny_base, tmp_path):
    """`secllm models export --task all --out DIR` → `serve --tasks-model DIR` judges those tasks on
    ONNX Runtime alone: the server process never imports torch or transformers."""
    from secllm.paths import onnx_task_dirs
    from secllm.runtime.onnx import export_onnx
    from secllm.tasks.adapt import merge_task, train_adapter
    from secllm.tasks.finetune import FinetuneConfig
    from tests.test_adapt import _hdfs

    mt = tmp_path / "mt"
    train_adapter(tiny_base, "log-hdfs", _hdfs(20, 0), _hdfs(5, 1), ["normal", "anomaly"], mt, lora=True,
                  benign_label="normal", cfg=FinetuneConfig(epochs=1, lr=5e-3, batch_tokens=1024))
    tasks_onnx = tmp_path / "tasks-onnx"
    export_onnx(merge_task(mt, "log-hdfs", tmp_path / "merged"), tasks_onnx / "log-hdfs")
    assert list(onnx_task_dirs(tasks_onnx)) == ["log-hdfs"]
    model = onnx_model_dir(tiny_web_model)
    code = f"""
import sys
from fastapi.testclient import TestClient
from secllm.serve.app import create_app
app = create_app({str(model)!r}, backend='onnx', threads=1, log_stream=None, tasks_dir={str(tasks_onnx)!r})
assert set(app.state.detectors) == {{'web-attack', 'log-hdfs'}}, app.state.detectors
with TestClient(app, base_url="http://localhost") as c:
    res = c.post('/v1/detect', json={{'task': 'log-hdfs', 'items': [{{'text': '5 7 13 28'}}, {{'text': 'not event keys'}}]}}).json()['results']
    assert res[0]['status'] == 'ok' and set(res[0]['class_scores']) == {{'normal', 'anomaly'}}, res
    assert res[1]['status'] == 'bad_input', res
    names = [t['name'] for t in c.get('/v1/tasks').json()['tasks']]
    assert names == ['web-attack', 'log-hdfs'] or sorted(names) == ['log-hdfs', 'web-attack'], names
bad = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]
assert not bad, bad
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
