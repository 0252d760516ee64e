"""Fuzzing the API's request model (issue 18): generated JSON bodies and headers at /v1/detect.

Whatever arrives, the answer is never a 500 and always a typed JSON body: ``{"task", "model",
"results"}`` with one result per item, or ``{"error": {"code", "message"}, "request_id"}``.

Budgets: CI runs ``SECLLM_FUZZ_EXAMPLES`` (default 120) examples per target, the whole file in
under 30 s; each request must answer within ``PER_REQUEST_S`` (5 s). The server is the shipped
model behind ``create_app``, as ``secllm serve`` runs it. The benchmark
setting is the same file with more examples::

    SECLLM_FUZZ_EXAMPLES=5000 pytest tests/test_serve_fuzz.py -q
"""

from __future__ import annotations

import json
import os
import time

import pytest

pytest.importorskip("fastapi")
hypothesis = pytest.importorskip("hypothesis")

from fastapi.testclient import TestClient  # noqa: E402 — after the skips
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("SECLLM_FUZZ_EXAMPLES", "120"))
PER_REQUEST_S = float(os.environ.get("SECLLM_FUZZ_PER_REQUEST_S", "5"))
KEY = "fz8-Qm2vT9xLp4Rw7KbN3sYd"
MAX_BODY = 64_000
MAX_BATCH = 20

FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("SECLLM_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

# text with the characters that break naive code: lone surrogates, NUL, controls, RTL, NFKC expanders
_chars = st.characters(codec=None, categories=None) | st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\r", "\n", "\u202e", "\ufdfa", "'", "<", "%", "\\", '"'])
_text = st.text(_chars, max_size=200)
_big_int = st.integers(min_value=-(10**60), max_value=10**60) | st.just(10**4000)
_scalar = st.none() | st.booleans() | _big_int | st.floats(allow_nan=True, allow_infinity=True) | _text
_json = st.recursive(_scalar, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_text, kids, max_size=4),
                     max_leaves=20)
_item = st.fixed_dictionaries({}, optional={
    "id": _text | _big_int | _scalar, "text": _text | _scalar,
    "kind": st.sampled_from(["auto", "payload", "url", "query", "http", "shellcode", ""]) | _scalar,
    "extra": _scalar})
_request = st.fixed_dictionaries({}, optional={
    "task": st.sampled_from(["web-attack", "log-hdfs", "", "WEB-ATTACK"]) | _scalar,
    "items": st.lists(_item, max_size=MAX_BATCH + 3) | _json,
    "evidence": st.booleans() | _scalar, "extra": _json})
_structured = st.one_of(_request, _json).map(lambda o: json.dumps(o).encode())
_raw = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"[" * 100_000, b"{" * 50_000, b'{"items": [{"id": ' + b"9" * 5000 + b', "text": "x"}]}',
                     b'{"items": [{"id": "\\ud800", "text": "\\udfff"}]}', b"\xef\xbb\xbf{}", b"NaN", b"",
                     b'{"items": [{"text": "' + b"\\ufdfa" * 3000 + b'"}]}', b"\x00" * 100]),
    _structured.map(lambda b: b[: max(0, len(b) // 2)]))            # truncated JSON
_ctype = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "",
                          "application/x-www-form-urlencoded", "application/json; charset=latin-1",
                          "multipart/form-data; boundary=z"])
_header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=60)
_headers = st.dictionaries(st.sampled_from(["X-API-Key", "Authorization", "Origin", "Sec-Fetch-Site", "Accept",
                                            "Content-Encoding", "Transfer-Encoding", "Expect", "X-Forwarded-For"]),
                           _header_value, max_size=3)


@pytest.fixture(scope="module")
def client():
    """The shipped web-attack model (package data, loads in seconds; no model is built here)."""
    pytest.importorskip("onnxruntime")
    from secllm.serve.app import create_app

    app = create_app(None, tasks=["web-attack"], threads=1, log_stream=None, api_keys=[KEY],
                     max_body_bytes=MAX_BODY, max_batch=MAX_BATCH, auth_failures_burst=10**9)
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as c:
        yield c


def _check(r, sent_items) -> None:
    assert r.status_code != 500 and r.status_code < 600, r.text[:2000]
    body = r.json()                                          # always JSON
    if r.status_code == 200:
        assert isinstance(sent_items, list) and len(body["results"]) == len(sent_items)
        for res in body["results"]:
            assert res["status"] and isinstance(res["id"], str)
    else:
        err = body["error"]
        assert isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str)
        assert body["request_id"] == r.headers["x-request-id"]


def _post(client, body: bytes, headers: dict[str, str]):
    t0 = time.perf_counter()
    r = client.post("/v1/detect", content=body, headers=headers)
    assert time.perf_counter() - t0 < PER_REQUEST_S, "over the per-request time budget"
    return r


@FUZZ
@given(body=st.one_of(_structured, _raw))
def test_fuzz_bodies(client, body):
    r = _post(client, body, {"X-API-Key": KEY, "Content-Type": "application/json"})
    try:
        items = json.loads(body).get("items")
    except Exception:  # noqa: BLE001 — not JSON, or not an object: no items to count
        items = None
    _check(r, items)


@FUZZ
@given(body=_structured, ctype=_ctype, headers=_headers)
def test_fuzz_headers(client, body, ctype, headers):
    h = {"X-API-Key": KEY, **headers}
    if ctype:
        h["Content-Type"] = ctype
    h.pop("Transfer-Encoding", None)                          # the transport frames the body itself
    try:
        r = _post(client, body, h)
    except (UnicodeEncodeError, ValueError):                  # httpx refuses to send some header values
        return
    items = json.loads(body)
    _check(r, items.get("items") if isinstance(items, dict) else None)
