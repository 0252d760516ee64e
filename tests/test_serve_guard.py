"""The API's guard (issue 18, defects 6, 7 and 9): keys, failed-key rate limit, Host/Origin, 415,
bounded metric labels, the access log masking before cutting, client disconnects.

In process (ASGI, no sockets): the shipped web-attack model (package data, ONNX) behind
``create_app``; nothing here depends on its verdicts.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
import secrets
import socket
import string

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402 — after the skips

KEY = "tK3v9Qx2LmN8pR4sW7yZbC5d"
LOCAL = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def make_app():
    pytest.importorskip("onnxruntime")
    from secllm.serve.app import create_app

    def make(**kw):
        kw.setdefault("log_stream", None)
        return create_app(None, tasks=["web-attack"], threads=1, **kw)
    return make


def _code(r) -> str:
    body = r.json()
    assert body["error"]["message"] and body["request_id"], body
    return body["error"]["code"]


# ------------------------------------------------------------------------------------------------
# 9. keys: strength, constant-time comparison, failed-key rate limit
# ------------------------------------------------------------------------------------------------

WEAK = ["k", "short-key-12", "a" * 32, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", "0123456789abcdefghij",
        "abababababababababab", "changemechangeme", "passwordpassword12", "has space in the key 123",
        "comma,in,the,key,abcdefgh", "nön-ascii-kéy-123456789"]


@pytest.mark.parametrize("key", WEAK)
def test_weak_keys_are_refused(make_app, key):
    from secllm.serve.app import check_bind
    from secllm.serve.security import weak_key_reason

    assert weak_key_reason(key), key
    with pytest.raises(ValueError, match="token_urlsafe"):
        make_app(api_keys=[key])
    with pytest.raises(ValueError):
        check_bind("0.0.0.0", [key])


def test_strong_keys_pass():
    from secllm.serve.app import check_bind
    from secllm.serve.security import weak_key_reason

    for _ in range(200):
        k = secrets.token_urlsafe(32)
        assert weak_key_reason(k) is None, k
    assert weak_key_reason(KEY) is None
    check_bind("0.0.0.0", [secrets.token_urlsafe(32)])


def test_cli_refuses_weak_key_in_one_line():
    """In a subprocess with a timeout: before the fix, this command served on 0.0.0.0 with key "x"."""
    import os
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        out = subprocess.run([sys.executable, "-m", "secllm.cli", "serve", "--host", "0.0.0.0", "--port", str(port),
                              "--tasks", "web-attack"], env={**os.environ, "SECLLM_API_KEYS": "x"},
                             capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("a 1-character key was accepted: the server ran on 0.0.0.0")
    assert out.returncode != 0 and "token_urlsafe" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_key_comparison_is_on_fixed_length_digests(make_app):
    """A prefix, a longer string and a different-length key never match; lengths do not matter."""
    from secllm.serve.security import KeyChecker

    kc = KeyChecker([KEY, "another-Key-9f8e7d6c5b4a"])
    assert kc.check(KEY.encode()) and kc.check(b"another-Key-9f8e7d6c5b4a")
    for bad in (b"", KEY[:-1].encode(), (KEY + "x").encode(), KEY.lower().encode(), b"\xff" * 300):
        assert not kc.check(bad)
    assert all(len(d) == 32 for d in kc.digests)     # sha-256: compare_digest sees equal lengths


def test_failed_keys_are_rate_limited_per_client(make_app):
    app = make_app(api_keys=[KEY], auth_failures_burst=5, auth_failures_per_s=0.5)
    attacker = TestClient(app, base_url=LOCAL, client=("203.0.113.7", 5000))
    codes = [attacker.get("/v1/tasks", headers={"X-API-Key": f"guess-{i}-abcdefghijkl"}).status_code
             for i in range(8)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3, codes
    r = attacker.get("/v1/tasks", headers={"X-API-Key": KEY})
    assert r.status_code == 429 and _code(r) == "too_many_failed_keys", "a locked-out client gets no oracle"
    assert 1 <= int(r.headers["retry-after"]) <= 3
    other = TestClient(app, base_url=LOCAL, client=("198.51.100.9", 5000))
    assert other.get("/v1/tasks", headers={"X-API-Key": KEY}).status_code == 200
    assert other.get("/health").status_code == 200
    # IPv6 clients are counted per /64: rotating the interface id does not give fresh tries
    for i in range(5):
        TestClient(app, base_url=LOCAL, client=(f"2001:db8:1:2::{i + 1:x}", 1)).get("/v1/tasks")
    r = TestClient(app, base_url=LOCAL, client=("2001:db8:1:2::ffff", 1)).get("/v1/tasks")
    assert r.status_code == 429


def test_failure_limiter_refills_and_is_bounded():
    from secllm.serve.security import FailureLimiter

    now = [1000.0]
    lim = FailureLimiter(burst=3, per_second=1.0, max_clients=100, clock=lambda: now[0])
    for _ in range(3):
        assert lim.retry_after("a") == 0
        lim.failed("a")
    assert lim.retry_after("a") == pytest.approx(1.0)
    now[0] += 1.0
    assert lim.retry_after("a") == 0
    for i in range(10_000):                      # an address sweep: the table stays bounded
        lim.failed(f"10.{i // 250}.{i % 250}.1")
    assert len(lim) <= 100


# ------------------------------------------------------------------------------------------------
# 9. web exposure on the keyless loopback default: Host, Origin, non-JSON bodies
# ------------------------------------------------------------------------------------------------

def test_host_is_checked_on_the_keyless_default(make_app):
    app = make_app()
    for base in ("http://evil.example:8000", "http://attacker.test", "http://127.0.0.1.nip.io:8000"):
        r = TestClient(app, base_url=base).get("/v1/tasks")
        assert r.status_code == 403 and _code(r) == "host_not_allowed", base
    r = TestClient(app, base_url="http://evil.example").get("/health")
    assert r.status_code == 403, "DNS rebinding may not read even /health"
    for base in ("http://127.0.0.1:8000", "http://localhost:8000", "http://localhost", "http://[::1]:8000"):
        assert TestClient(app, base_url=base).get("/v1/tasks").status_code == 200, base
    bound = make_app(allowed_hosts=["127.0.0.2", "secllm.internal"])
    assert TestClient(bound, base_url="http://secllm.internal:8000").get("/v1/tasks").status_code == 200
    assert TestClient(bound, base_url="http://127.0.0.2:9000").get("/v1/tasks").status_code == 200
    # with keys the server may sit behind any name (a proxy): Host is the operator's business
    keyed = make_app(api_keys=[KEY])
    r = TestClient(keyed, base_url="http://api.example.com").get("/v1/tasks", headers={"X-API-Key": KEY})
    assert r.status_code == 200


def test_cross_origin_browser_requests_are_refused(make_app):
    c = TestClient(make_app(), base_url="http://127.0.0.1:8000")
    body = {"items": [{"text": "x"}]}
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999", "https://127.0.0.1:8000"):
        r = c.post("/v1/detect", json=body, headers={"Origin": origin})
        assert r.status_code == 403 and _code(r) == "origin_not_allowed", origin
    r = c.get("/v1/tasks", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and _code(r) == "origin_not_allowed"
    # same origin (the console pages this server will serve) is fine
    assert c.post("/v1/detect", json=body, headers={"Origin": "http://127.0.0.1:8000"}).status_code == 200
    assert c.get("/v1/tasks", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", None, "application/jsonx"])
def test_non_json_bodies_get_415(make_app, ctype):
    c = TestClient(make_app(), base_url=LOCAL)
    headers = {"Content-Type": ctype} if ctype else {}
    r = c.post("/v1/detect", content=b'{"items": [{"text": "x"}]}', headers=headers)
    assert r.status_code == 415 and _code(r) == "unsupported_media_type", (ctype, r.text)


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8", "Application/JSON",
                                   "application/vnd.secllm+json"])
def test_json_bodies_pass(make_app, ctype):
    c = TestClient(make_app(), base_url=LOCAL)
    r = c.post("/v1/detect", content=b'{"items": [{"text": "x"}]}', headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------------------------------------
# 6. /metrics: every label from a fixed set, unauthenticated garbage adds no series
# ------------------------------------------------------------------------------------------------

def _series(text: str, name: str) -> list[dict[str, str]]:
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            out.append(dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0])))
    return out


def _paths(routes):
    """Route templates, through included routers (FastAPI >= 0.165 keeps them as one lazy entry)."""
    for r in routes:
        if isinstance(getattr(r, "path", None), str):
            yield r.path
        elif hasattr(r, "original_router"):
            yield from _paths(r.original_router.routes)


def test_metric_labels_are_bounded(make_app):
    app = make_app(api_keys=[KEY], auth_failures_burst=10_000)
    rng = random.Random(0)
    with TestClient(app, base_url=LOCAL) as c:
        methods = ["".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(3, 12))) for _ in range(300)]
        for m in methods[:200]:                                  # no key
            c.request(m, f"/x{rng.randint(0, 10**9)}")
        for m in methods[200:]:                                  # with a key, unknown paths and methods
            c.request(m, f"/v1/{rng.randint(0, 10**9)}", headers={"X-API-Key": KEY})
        c.get("/v1/tasks", headers={"X-API-Key": KEY})
        text = c.get("/metrics", headers={"X-API-Key": KEY}).text
    reqs = _series(text, "secllm_http_requests_total")
    assert {s["method"] for s in reqs} <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
    routes = set(_paths(app.routes))
    assert {s["route"] for s in reqs} <= routes | {"other"}
    assert len(reqs) <= 10, reqs
    lat = _series(text, "secllm_http_request_duration_seconds_count")
    assert {s["route"] for s in lat} <= routes | {"other"}
    rejected = _series(text, "secllm_http_rejected_total")
    assert {s["reason"] for s in rejected} == {"unauthorized"}
    assert len(text) < 20_000


# ------------------------------------------------------------------------------------------------
# 7. the access log masks first, then cuts; 3. a client that leaves is not a server error
# ------------------------------------------------------------------------------------------------

def _detect_log(app_kw: dict, make_app, texts: list[str]) -> str:
    log = io.StringIO()
    c = TestClient(make_app(log_stream=log, **app_kw), base_url=LOCAL)
    r = c.post("/v1/detect", json={"items": [{"text": t} for t in texts]})
    assert r.status_code == 200, r.text
    return log.getvalue()


def test_access_log_masks_before_cutting(make_app):
    token = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dcQ7xVp2"        # a Stripe-style secret key, 38 chars
    hexkey = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    texts = ["a" * 24 + " " + token + " tail", "note " * 8 + hexkey, "Authorization: Bearer " + token]
    logged = _detect_log({}, make_app, texts)
    entry = [json.loads(x) for x in logged.splitlines() if '"/v1/detect"' in x][-1]
    assert len(entry["inputs"]) == 3 and all(len(x) <= 48 for x in entry["inputs"])
    for secret in (token, hexkey):
        for k in range(0, len(secret) - 12, 4):            # no 12-character piece of a secret survives
            assert secret[k:k + 12] not in logged, (secret[k:k + 12], entry["inputs"])


def _masks(sample: str) -> bool:
    from secllm.data.desensitize import desensitize

    return desensitize(f"x {sample} y") != f"x {sample} y"


@pytest.mark.skipif(not (_masks("4111 1111 1111 1111") and _masks("078-05-1120")),
                    reason="needs the card/SSN/phone masking of secllm.data.desensitize (branch hard)")
def test_access_log_masks_cards_ssns_phones(make_app):
    texts = ["pay 4111 1111 1111 1111 now", "ssn=078-05-1120&x=1", "card: 5500-0000-0000-0004",
             "call 13812345678 about 110101199003074514"]
    logged = _detect_log({}, make_app, texts[:3]) + _detect_log({}, make_app, texts[3:])
    for raw in ("4111 1111 1111 1111", "078-05-1120", "5500-0000-0000-0004", "13812345678", "110101199003074514"):
        assert raw not in logged, raw


def test_client_disconnect_is_not_an_error(make_app, capsys):
    log = io.StringIO()
    app = make_app(log_stream=log)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/detect", "raw_path": b"/v1/detect", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                         (b"content-length", b"1000")]}
    incoming = [{"type": "http.request", "body": b'{"items": [{"text": "', "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert all(m["status"] != 500 for m in starts), starts
    err = capsys.readouterr().err
    assert "Traceback" not in err and "failed" not in err, err
    entry = json.loads(log.getvalue().splitlines()[-1])
    assert entry["status"] == 499 and entry["path"] == "/v1/detect"
    text = TestClient(app, base_url=LOCAL).get("/metrics").text
    assert 'status="500"' not in text
