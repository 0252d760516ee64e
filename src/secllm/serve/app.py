"""FastAPI application: batch detection, task and model listing, health, Prometheus metrics.

    >>> app = create_app("runs/web", backend="onnx", api_keys=["Zq7-Hw2pLx9_Vb4nRk8tYs3"])   # doctest: +SKIP
    >>> # secllm.serve.server.serve(app, "127.0.0.1", 8000)  — or: secllm serve --model runs/web

Routes::

    GET  /health          liveness; the only route that needs no API key
    GET  /v1/tasks        tasks this server can judge
    GET  /v1/models       the model behind each task (labels, threshold, backend, ONNX parity)
    POST /v1/detect       {"task": "web-attack", "items": [{"id": "r1", "text": "..."}]}
                          -> {"task", "model", "results": [<same objects as `secllm detect --json`>]}
    POST /v1/incidents    {"findings": [<scan findings and SOC alerts>], "format": "json"|"stix"|...}
                          -> {"incidents": [...]} (see secllm.serve.incidents)
    GET  /metrics         Prometheus text format
    GET  /docs            OpenAPI docs (and /openapi.json)

Safe by default (all of it in one ASGI guard around every route, so a route added later gets
it too; docs/serving.md):

- API keys: when configured, every route but /health needs one (``X-API-Key`` or
  ``Authorization: Bearer``); keys must be strong (``security.weak_key_reason``) and are compared
  in constant time; a client address that keeps sending wrong keys gets 429 with Retry-After
  (a token bucket per address, bounded table).
- Without keys (the loopback default) the ``Host`` must be a loopback name or an allowed host
  (DNS rebinding); with or without keys, cross-origin browser requests (``Origin`` of another
  origin, ``Sec-Fetch-Site: cross-site``) get 403, and request bodies that are not JSON get 415
  (a browser can post ``text/plain`` or a form anywhere without a CORS preflight).
- Request bodies over ``max_body_bytes`` get 413 before they are read, batches over
  ``max_batch`` items 422; bodies that are not UTF-8 or not JSON (too deep, huge numbers
  included) get 400; every error is a JSON object with a code, a message and the request id;
  an unexpected failure is a generic 500 (the traceback goes to the server's stderr, never to
  the client); a client that leaves is logged as 499, not as an error.
- ``/metrics`` labels come from fixed sets (known methods else ``OTHER``, the app's route
  templates else ``other``); requests refused before authentication only count per reason.
- One JSON access-log line per request goes to stderr, with inputs desensitised in full and then
  cut to a short prefix.

Connection limits and read deadlines live one layer down, in the HTTP protocol
(``secllm.serve.server``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import os
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Literal

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from secllm import __version__
from secllm.data.desensitize import desensitize
from secllm.paths import adapter_tasks, onnx_task_dirs
from secllm.runtime import resolve_backend
from secllm.serve.security import LOOPBACK_NAMES, FailureLimiter, KeyChecker, check_api_keys, host_of, same_origin

TASKS: dict[str, str] = {
    "web-attack": "Web attacks (SQLi, XSS, command injection, traversal, ...) in parameter values, "
                  "URLs and whole raw HTTP requests, with evidence spans",
}
LOG_PREFIX_CHARS = 48          # characters of an input that may reach the access log (desensitised)
LOG_MAX_INPUTS = 3
# reachable without an API key: liveness and the console's static files (they hold no data; the
# console's questions go to /v1/ask with the key the person types)
PUBLIC_PATHS = frozenset({"/health", "/console", "/console/app.js", "/console/app.css"})
CONSOLE_DIR = Path(__file__).resolve().parent / "console"
CONSOLE_FILES = {"/console": ("index.html", "text/html; charset=utf-8"),
                 "/console/app.js": ("app.js", "text/javascript; charset=utf-8"),
                 "/console/app.css": ("app.css", "text/css; charset=utf-8")}
# nothing loads from anywhere but this server; no inline script or style
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
               "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
MAX_ASK_FILES = 5
MAX_SESSIONS = 256
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})   # metric labels; else OTHER
# why a request was refused before authentication: the only label such requests get in /metrics
REJECT_REASONS = ("bad_host", "bad_origin", "rate_limited", "unauthorized")


# ------------------------------------------------------------------------------------------------
# Request / response schema (strict: "5" is not an int, 5 is not a string, unknown keys refused)
# ------------------------------------------------------------------------------------------------

class DetectItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str | int | None = Field(None, description="Your id for the item (default: its index in items)")
    text: str = Field(description="A payload, a URL, or a whole raw HTTP request")
    kind: Literal["auto", "payload", "url", "query", "http"] = Field(
        "auto", description="web-attack only: what the text is (auto = guessed; payload = a parameter value)")


class DetectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    task: str = Field("web-attack", description="One of GET /v1/tasks")
    items: list[DetectItem] = Field(min_length=1)
    evidence: bool = Field(True, description="Compute evidence spans for malicious items")


class AskFile(BaseModel):
    """A file sent with a question (the console's upload): text, or base64 for binary captures."""
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200)
    content: str = Field(..., description="File content (UTF-8 text, or base64 when encoding is base64)")
    encoding: Literal["text", "base64"] = "text"


class AskRequest(BaseModel):
    """``POST /v1/ask``: a question in Chinese or English, optional files, optional session id."""
    model_config = ConfigDict(extra="forbid")
    question: str = Field(..., min_length=1, max_length=20_000)
    files: list[AskFile] = Field(default_factory=list, max_length=MAX_ASK_FILES)
    session: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                description="Keep context across questions (returned by a previous answer)")


class ApiError(Exception):
    """An error answered as JSON: ``{"error": {"code", "message", ...}, "request_id"}``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _error_body(code: str, message: str, request_id: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}, "request_id": request_id}


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: a lone surrogate in a client's id (``"\\ud800"``) is echoed as
    ``\\ud800`` instead of failing to encode as UTF-8 (which would be a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


# ------------------------------------------------------------------------------------------------
# Configuration helpers used by the CLI
# ------------------------------------------------------------------------------------------------

def keys_from_env(environ: dict[str, str] | None = None) -> list[str]:
    """API keys from ``SECLLM_API_KEYS`` (comma-separated): the env var keeps keys out of ``ps``.

        >>> keys_from_env({"SECLLM_API_KEYS": " k1, k2 ,"})
        ['k1', 'k2']
    """
    env = os.environ if environ is None else environ
    return [k.strip() for k in env.get("SECLLM_API_KEYS", "").split(",") if k.strip()]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach.

        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False          # a host name could resolve anywhere


def check_bind(host: str, api_keys: list[str]) -> None:
    """Refuse to listen beyond this machine without strong API keys (no open detector on the network)."""
    if api_keys:
        check_api_keys(api_keys)
    if not is_loopback(host) and not api_keys:
        raise ValueError(f"refusing to bind {host}: it is reachable from other machines and no API key is "
                         "configured; set SECLLM_API_KEYS=<long random key> (or --api-key), or bind 127.0.0.1")


# ------------------------------------------------------------------------------------------------
# Metrics and logging
# ------------------------------------------------------------------------------------------------

class _Metrics:
    """Prometheus metrics in a registry of this app's own (several apps per process in tests)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Gauge, Histogram
        from prometheus_client import Counter as PCounter

        self.registry = CollectorRegistry()
        self.requests = PCounter("secllm_http_requests", "HTTP requests (authenticated, or no keys configured)",
                                 ["route", "method", "status"], registry=self.registry)
        self.rejected = PCounter("secllm_http_rejected", "Requests refused before authentication, by reason",
                                 ["reason"], registry=self.registry)
        self.closed = PCounter("secllm_http_connections_closed", "Connections the server closed itself "
                               "(read deadlines, connection cap)", ["reason"], registry=self.registry)
        self.latency = Histogram("secllm_http_request_duration_seconds", "Request latency", ["route"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10),
                                 registry=self.registry)
        self.items = PCounter("secllm_detect_items", "Items judged", ["task"], registry=self.registry)
        self.verdicts = PCounter("secllm_detect_verdicts", "Verdicts (label, or error status)", ["task", "verdict"],
                                 registry=self.registry)
        self.model = Gauge("secllm_model_info", "Loaded models", ["task", "backend", "model"], registry=self.registry)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _AccessLog:
    """One JSON object per line; a lock keeps lines whole across threads."""

    def __init__(self, stream: IO[str] | None):
        self.stream = stream
        self.lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        if self.stream is None:
            return
        line = json.dumps(record, ensure_ascii=True)       # ASCII: a log line cannot carry terminal controls
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _client_label(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return desensitize(client[0]) if client else None


def _log_prefix(text: str) -> str:
    """Mask first, then cut: cutting first can leave a piece of a secret too short to be recognised.

        >>> _log_prefix("a" * 40 + " sk_live_4eC39HqLyjWDarjtT1zdp7dcQ7xVp2")
        'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa <secret'
    """
    return desensitize(text)[:LOG_PREFIX_CHARS]


def _route_label(scope: dict[str, Any]) -> str:
    """The route template that served (or would serve) this request, else ``other``: a bounded set."""
    route = scope.get("route")
    if route is None:                       # refused before routing (413, 415): match without running it
        for r in getattr(scope.get("app"), "routes", ()):
            if r.matches(scope)[0] != Match.NONE:
                route = r
                break
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "other"


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


# ------------------------------------------------------------------------------------------------
# The guard: request id, API key, body-size precheck, generic 500, metrics, access log
# ------------------------------------------------------------------------------------------------

class _Guard:
    """Pure ASGI middleware around every route (so nothing can be added that skips these checks)."""

    def __init__(self, app: Any, *, api_keys: list[str], max_body_bytes: int, metrics: _Metrics,
                 access_log: _AccessLog, allowed_hosts: frozenset[str] | None, limiter: FailureLimiter):
        self.app = app
        self.keys = KeyChecker(api_keys)
        self.max_body = max_body_bytes
        self.metrics = metrics
        self.log = access_log
        self.allowed_hosts = allowed_hosts
        self.limiter = limiter

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        given = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        return bool(given) and self.keys.check(given)

    def _refusal(self, scope: dict[str, Any], headers: dict[bytes, bytes],
                 path: str) -> tuple[int, str, str, dict[str, str] | None, str | None] | None:
        """(status, code, message, headers, reject reason) when the request may not reach a route."""
        host = headers.get(b"host", b"").decode("latin-1")
        if self.allowed_hosts is not None and host and host_of(host) not in self.allowed_hosts:
            return (403, "host_not_allowed", ("this server answers only to its own host names (Host header); "
                                              "start it with --allow-host NAME to add one"), None, "bad_host")
        origin = headers.get(b"origin")
        if (origin is not None and not same_origin(origin.decode("latin-1"), scope.get("scheme", "http"), host)) \
                or headers.get(b"sec-fetch-site", b"").lower() == b"cross-site":
            return (403, "origin_not_allowed", "cross-origin browser requests are refused", None, "bad_origin")
        if self.keys and path not in PUBLIC_PATHS:
            client = FailureLimiter.client_key((scope.get("client") or ("",))[0])
            wait = self.limiter.retry_after(client)
            if wait > 0:
                return (429, "too_many_failed_keys", "too many wrong API keys from this address; retry later",
                        {"Retry-After": str(max(1, math.ceil(wait)))}, "rate_limited")
            if not self._authorized(headers):
                self.limiter.failed(client)
                return (401, "unauthorized", ("missing or invalid API key: send it as X-API-Key or "
                                              "Authorization: Bearer <key>"), {"WWW-Authenticate": "Bearer"}, "unauthorized")
        length = headers.get(b"content-length")
        has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
        if has_body and not _is_json(headers.get(b"content-type", b"")):
            return (415, "unsupported_media_type", "request bodies must be JSON (Content-Type: application/json)",
                    None, None)
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return (413, "body_too_large", (f"request body over {self.max_body} bytes; "
                                            "send fewer or smaller items per request"), None, None)
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["log"] = {}
        t0 = time.perf_counter()
        sent = {"status": 500, "started": False}
        rejected: str | None = None

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent["status"], sent["started"] = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        async def reply(status: int, code: str, msg: str, headers: dict[str, str] | None = None) -> None:
            resp = AsciiJSONResponse(_error_body(code, msg, rid), status_code=status, headers=headers)
            await resp(scope, receive, send_wrapper)

        path = scope.get("path", "")
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        try:
            refusal = self._refusal(scope, headers, path)
            if refusal is not None:
                status, code, msg, extra, rejected = refusal
                await reply(status, code, msg, extra)
                return
            await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # the client left (or the server cut a too-slow body: then it answered 408 itself)
            sent["status"] = 408 if state.get("closed_by_server") else 499
        except Exception:  # noqa: BLE001 — the client gets a request id, the operator the traceback
            sys.stderr.write(f"request {rid} failed:\n{traceback.format_exc()}")
            if not sent["started"]:
                await reply(500, "internal_error", "internal error; quote the request id to the operator")
        finally:
            dt = time.perf_counter() - t0
            method = scope.get("method", "")
            route = _route_label(scope)
            if rejected is not None:            # no key yet: one counter per reason, nothing the client chose
                self.metrics.rejected.labels(rejected).inc()
            else:
                self.metrics.requests.labels(route, method if method in METHODS else "OTHER",
                                             str(sent["status"])).inc()
                self.metrics.latency.labels(route).observe(dt)
            self.log.write({"ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "request_id": rid,
                            "method": method[:16], "path": path if route == path else _log_prefix(path),
                            "status": sent["status"], "duration_ms": round(dt * 1000, 2),
                            "client": _client_label(scope), **state.get("log", {})})


# ------------------------------------------------------------------------------------------------
# The application
# ------------------------------------------------------------------------------------------------

async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes ``limit`` bytes (chunked bodies have no length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"request body over {limit} bytes; "
                           "send fewer or smaller items per request")
        chunks.append(chunk)
    return b"".join(chunks)


def _task_detectors(model_dir: Path, tasks: list[str], threads: int | None,
                    log_stream: IO[str] | None) -> dict[str, Any]:
    """Detectors for the adapter tasks, all on one shared base (one base load for every task).

    The adapters run on PyTorch (+ peft): without them (a ``[serve]``-only install) the server
    says so and serves the web-attack task alone.
    """
    if not tasks:
        return {}
    out: dict[str, Any] = {}
    import importlib.util

    from secllm.tasks.heads import serve_mode

    modes = {t: serve_mode(model_dir, t) for t in tasks}
    have_torch = all(importlib.util.find_spec(m) is not None for m in ("torch", "peft"))
    # lexical task heads chosen on validation: numpy only. A head+adapter ensemble needs the adapter
    # (torch, on the shared base below); without torch its head serves alone, and the log says so.
    # a text head (char n-grams + sentence encoder) loads its encoder itself, or serves its char half alone
    lexical = [t for t in tasks if modes[t] in ("head", "text") or (modes[t] == "ensemble" and not have_torch)]
    if lexical:
        from secllm.detect.generic import TaskDetector
        from secllm.tasks.registry import get_task

        for t in lexical:
            out[t] = TaskDetector.load(model_dir, task=t, head="auto" if modes[t] in ("head", "text") else "lexical")
            if modes[t] == "ensemble" and log_stream is not None:
                log_stream.write(f"secllm serve: {t}: no PyTorch for the adapter half of its ensemble; "
                                 "serving its lexical head alone\n")
            TASKS.setdefault(t, get_task(t).description)
        tasks = [t for t in tasks if t not in out]
        if not tasks:
            return out
    onnx_dirs = onnx_task_dirs(model_dir)
    if onnx_dirs:                       # exported task models: ONNX Runtime only, no torch
        from secllm.detect.generic import TaskDetector
        from secllm.tasks.registry import get_task

        for t in [t for t in tasks if t in onnx_dirs]:
            out[t] = TaskDetector.load(onnx_dirs[t], task=t, threads=threads,
                                       backend=resolve_backend(onnx_dirs[t], "auto"))
            TASKS.setdefault(t, get_task(t).description)
        tasks = [t for t in tasks if t not in out]
        if not tasks:
            return out
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        if log_stream is not None:
            log_stream.write(f"secllm serve: tasks {', '.join(tasks)} need PyTorch and peft "
                             "(pip install 'secllm[torch]', or export them: secllm models export "
                             "--task all --out DIR); not served\n")
        return out
    from secllm.detect.generic import TaskDetector
    from secllm.tasks.multitask import MultiTaskModel
    from secllm.tasks.registry import get_task, list_tasks

    unknown = [t for t in tasks if t not in list_tasks()]
    if unknown and log_stream is not None:     # e.g. an ad-hoc task of `secllm adapt --base`: detect only
        log_stream.write(f"secllm serve: not a registered task, not served: {', '.join(unknown)}\n")
    tasks = [t for t in tasks if t not in unknown]
    if not tasks:
        return out
    shared = MultiTaskModel(model_dir)
    for t in tasks:
        out[t] = TaskDetector.load(model_dir, task=t, threads=threads, shared=shared)
        TASKS.setdefault(t, get_task(t).description)
    return out


def create_app(model_dir: str | Path | None = None, backend: str = "auto", api_keys: list[str] | None = None,
               max_body_bytes: int = 1_000_000, max_batch: int = 1000, threads: int | None = None,
               log_stream: IO[str] | None = sys.stderr, concurrency: int = 1,
               tasks: list[str] | None = None, tasks_dir: str | Path | None = None, *,
               allowed_hosts: Iterable[str] | None = None, auth_failures_burst: int = 20,
               auth_failures_per_s: float = 1.0, max_tracked_clients: int = 10_000) -> FastAPI:
    """Build the API over the detectors in ``model_dir`` (default: the shipped model).

    ``backend``: ``onnx``, ``onnx-int8`` (no torch imported), ``torch``, or ``auto`` (ONNX when the
    directory has an export) -- for the web-attack task. ``tasks``: which tasks to serve (default:
    web-attack and every task adapter found; adapters run on PyTorch, all on one shared base).
    ``tasks_dir``: the multi-task directory holding the adapters (default: ``model_dir`` when it
    has adapters itself, else, with no ``model_dir``, the shipped tasks directory).
    ``concurrency`` bounds model calls run at once: each call already uses every core given by
    ``threads``, so more would only contend.

    Guard options (docs/serving.md): ``api_keys`` must be strong (``ValueError`` otherwise).
    ``allowed_hosts``: host names this server answers to besides the loopback names; checked
    always when given, and by default when there are no keys (loopback-only server: DNS
    rebinding). ``auth_failures_burst`` wrong keys per client address, then
    ``auth_failures_per_s``, else 429; at most ``max_tracked_clients`` addresses are remembered.
    """
    keys = list(api_keys or [])
    check_api_keys(keys)
    hosts: frozenset[str] | None = None
    if allowed_hosts is not None or not keys:
        hosts = LOOPBACK_NAMES | {host_of(h) for h in (allowed_hosts or ())}
    from secllm.detect.detector import WebAttackDetector
    from secllm.detect.knowledge import attach_knowledge, warm_knowledge
    from secllm.paths import DEFAULT_MODEL_DIR, DEFAULT_TASKS_DIR

    d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    if tasks_dir is not None:
        td = Path(tasks_dir)
    else:
        td = d if adapter_tasks(d) or model_dir else DEFAULT_TASKS_DIR
    have = ["web-attack", *[t for t in sorted(set(adapter_tasks(td)) | set(onnx_task_dirs(td))) if t != "web-attack"]]
    wanted = have if tasks is None else list(dict.fromkeys(tasks))
    missing = [t for t in wanted if t not in have]
    if missing:
        raise ValueError(f"{d.name} has no model for task(s) {', '.join(missing)}; it has: {', '.join(have)}")
    backend = resolve_backend(d, backend)
    detectors: dict[str, Any] = {}
    if "web-attack" in wanted:
        detectors["web-attack"] = WebAttackDetector.load(d, threads=threads, backend=backend)
    detectors.update(_task_detectors(td, [t for t in wanted if t != "web-attack"], threads, log_stream))
    if not detectors:
        raise ValueError("no task left to serve")
    warm_knowledge()          # load the catalogues now (~1 s, ~100 MB), not in the first request
    metrics = _Metrics()
    for task, det in detectors.items():
        metrics.model.labels(task, det.backend.name, det.model_dir.name).set(1)
    gate = asyncio.Semaphore(concurrency)

    app = FastAPI(title="SecLLM", version=__version__, default_response_class=AsciiJSONResponse,
                  description="Local security detectors. Every route but /health needs an API key when the "
                              "server has keys configured (X-API-Key or Authorization: Bearer).")
    limiter = FailureLimiter(auth_failures_burst, auth_failures_per_s, max_tracked_clients)
    app.add_middleware(_Guard, api_keys=keys, max_body_bytes=max_body_bytes, metrics=metrics,
                       access_log=_AccessLog(log_stream), allowed_hosts=hosts, limiter=limiter)
    app.state.metrics = metrics
    # called by the HTTP protocol (secllm.serve.server) for connections it closes itself
    app.state.on_connection_closed = lambda reason: metrics.closed.labels(reason).inc()

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return AsciiJSONResponse(_error_body(exc.code, exc.message, request.state.request_id, **exc.extra),
                            status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return AsciiJSONResponse(_error_body(code, str(exc.detail), request.state.request_id),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, Any]:    # async: answered on the event loop, never queued for a thread
        """Liveness (no API key needed): the server is up and its models are loaded."""
        return {"status": "ok", "version": __version__, "tasks": sorted(detectors)}

    @app.get("/v1/tasks", tags=["detect"])
    def tasks() -> dict[str, Any]:
        """The tasks this server judges, with their labels."""
        return {"tasks": [{"name": t, "description": TASKS.get(t, ""), "labels": det.labels}
                          for t, det in detectors.items()]}

    def _cascade_info(det) -> dict[str, Any] | None:
        """The cascade's stages in order with their bands (without the calibration candidates)."""
        if not getattr(det, "has_cascade", False) or not det.cascade:
            return None
        return {"stages": [{"stage": name, "backend": stage.backend.name,
                            **{k: v for k, v in bands.items() if k != "candidates"}}
                           for name, stage, bands in det.cascade_stages()]}

    @app.get("/v1/models", tags=["detect"])
    def models() -> dict[str, Any]:
        """The model behind each task (no file-system paths: only the directory name)."""
        out = []
        for t, det in detectors.items():
            onnx_parity = getattr(det.backend, "manifest", {}).get("parity")
            out.append({"task": t, "name": det.model_dir.name, "backend": det.backend.name,
                        "labels": det.labels, "threshold": det.threshold, "max_length": det.max_length,
                        "model_config": det.meta.get("model_config"),
                        "tokenizer_fingerprint": det.meta.get("tokenizer_fingerprint"),
                        "onnx_parity": onnx_parity,
                        "cascade": _cascade_info(det)})
        return {"models": out}

    request_schema = DetectRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    nested_schemas = request_schema.pop("$defs", {})

    @app.post("/v1/detect", tags=["detect"], openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": request_schema}}}})
    async def detect(request: Request) -> JSONResponse:
        """Judge a batch of items; one result per item, in order (same fields as `secllm detect --json`).

        Example body: `{"task": "web-attack", "items": [{"id": "r1", "text": "id=1' or '1'='1"}]}`
        """
        raw = await _read_body(request, max_body_bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "invalid_utf8", f"request body is not UTF-8 (byte {exc.start})") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ApiError(400, "invalid_json", f"request body is not JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None
        except RecursionError:
            raise ApiError(400, "invalid_json", "request body is not JSON this server reads: nested too deeply") from None
        except ValueError as exc:           # e.g. an integer over Python's 4,300-digit conversion limit
            raise ApiError(400, "invalid_json", f"request body is not JSON this server reads: {str(exc)[:120]}") from None
        if isinstance(obj, dict) and isinstance(obj.get("items"), list) and len(obj["items"]) > max_batch:
            raise ApiError(422, "batch_too_large", f"{len(obj['items'])} items > limit {max_batch}; "
                           "split the batch", limit=max_batch)
        try:
            req = DetectRequest.model_validate(obj)
        except ValidationError as exc:
            # the offending values are not echoed back (they may be large, or hostile)
            details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise ApiError(422, "invalid_request", "request does not match the schema (see details and /docs)",
                           details=details) from None
        det = detectors.get(req.task)
        if det is None:
            raise ApiError(422, "unknown_task", f"unknown task {req.task!r}; available: {sorted(detectors)}")
        texts = [it.text for it in req.items]
        ids = [str(it.id) if it.id is not None else str(k) for k, it in enumerate(req.items)]
        kinds = [it.kind for it in req.items]
        kw = {}
        if any(k != "auto" for k in kinds):
            if req.task != "web-attack":
                raise ApiError(422, "invalid_request", "'kind' applies to the web-attack task only")
            kw["kind"] = kinds
        async with gate:
            if await request.is_disconnected():      # the client left while queued: do not judge for nobody
                raise ClientDisconnect()
            results = await run_in_threadpool(lambda: det.detect(texts, ids, req.evidence, **kw))
        attach_knowledge(results, req.task)            # CWE, ATT&CK, severity, mitigations of malicious verdicts
        verdicts = Counter(r.label if r.status == "ok" else r.status for r in results)
        metrics.items.labels(req.task).inc(len(results))
        for v, n in verdicts.items():
            metrics.verdicts.labels(req.task, str(v)).inc(n)
        # masking a whole input is linear but not free (~0.2 s per MB): off the event loop
        inputs = (await run_in_threadpool(lambda: [_log_prefix(t) for t in texts[:LOG_MAX_INPUTS]])
                  if log_stream is not None else [])
        request.state.log.update({"task": req.task, "items": len(results), "verdicts": dict(verdicts),
                                  "inputs": inputs})
        return AsciiJSONResponse({"task": req.task, "model": det.model_dir.name,
                             "results": [r.to_json() for r in results]})

    # ---------------------------------------------------------------- the language interface
    from collections import OrderedDict

    assistant_lock = threading.Lock()
    sessions: OrderedDict[str, Any] = OrderedDict()
    shared: dict[str, Any] = {}

    def _toolbox(roots: list[Path]):
        from secllm.assistant import Toolbox
        from secllm.detect.route import Router

        with assistant_lock:
            if "router" not in shared:
                shared["router"] = Router(web=detectors.get("web-attack"), tasks_dir=td, threads=threads)
                shared["kb"] = Toolbox().kb
        # the scan tool reads only the files uploaded with this question: never a server path
        return Toolbox(router=shared["router"], kb=shared["kb"], roots=roots)

    def _answer(req: AskRequest) -> dict[str, Any]:
        import base64
        import binascii
        import tempfile

        from secllm.assistant import Assistant

        with tempfile.TemporaryDirectory(prefix="secllm-ask-") as tmp:
            names = []
            for k, f in enumerate(req.files):
                safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(f.name).name)[:100] or "file"
                path = Path(tmp) / f"{k}-{safe}"
                try:
                    data = base64.b64decode(f.content, validate=True) if f.encoding == "base64" else f.content.encode()
                except (binascii.Error, ValueError):
                    raise ApiError(422, "invalid_request", f"file {k}: content is not base64") from None
                path.write_bytes(data)
                names.append(str(path))
            tb = _toolbox([Path(tmp)])
            with assistant_lock:
                sid = req.session if req.session in sessions else uuid.uuid4().hex[:16]
                asst = sessions.pop(sid, None) or Assistant(tb)
                sessions[sid] = asst
                while len(sessions) > MAX_SESSIONS:
                    sessions.popitem(last=False)
            asst.tools = tb
            reply = asst.ask(req.question, names)
            out = reply.to_json()
            # the temporary paths are not the client's business: give back the names it sent
            back = {Path(n).name: f.name for n, f in zip(names, req.files)}
            back.update({n: f.name for n, f in zip(names, req.files)})
            if "files" in out["arguments"]:
                out["arguments"]["files"] = [back.get(x, Path(x).name) for x in out["arguments"]["files"]]
            for c in out["tool_calls"]:
                if c["tool"] == "scan":
                    c["arguments"] = {"files": [back.get(x, Path(x).name) for x in c["arguments"].get("files", [])]}
                    res = c["result"]
                    res["files"] = [back.get(x, x) for x in res.get("files", [])]
                    res["missing"] = [back.get(x, Path(x).name) for x in res.get("missing", [])]
                    for f in res.get("findings", []):
                        f["file"] = back.get(f.get("file"), f.get("file"))
            for stored, sent in back.items():
                out["answer"] = out["answer"].replace(stored, sent)
            out["session"] = sid
            return out

    ask_schema = AskRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    nested_schemas.update(ask_schema.pop("$defs", {}))

    @app.post("/v1/ask", tags=["assistant"], openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": ask_schema}}}})
    async def ask(request: Request) -> JSONResponse:
        """Ask in Chinese or English; the answer cites the tool results it is made from.

        Example body: `{"question": "Is this URL safe? https://github.com/login"}`; response:
        `{"answer", "language", "intent", "arguments", "tool_calls", "citations", "session"}`.
        """
        raw = await _read_body(request, max_body_bytes)
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ApiError(400, "invalid_json", "request body is not UTF-8 JSON") from None
        try:
            req = AskRequest.model_validate(obj)
        except ValidationError as exc:
            details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise ApiError(422, "invalid_request", "request does not match the schema (see details and /docs)",
                           details=details) from None
        async with gate:
            if await request.is_disconnected():
                raise ClientDisconnect()
            out = await run_in_threadpool(_answer, req)
        request.state.log.update({"intent": out["intent"], "inputs": [_log_prefix(req.question)]})
        return AsciiJSONResponse(out)

    def _console_file(path: str) -> Response:
        name, media = CONSOLE_FILES[path]
        return Response((CONSOLE_DIR / name).read_bytes(), media_type=media,
                        headers={"Content-Security-Policy": CONSOLE_CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    @app.get("/console", tags=["assistant"], include_in_schema=False)
    def console() -> Response:
        """The web console (static page; its questions go to /v1/ask)."""
        return _console_file("/console")

    @app.get("/console/app.js", include_in_schema=False)
    def console_js() -> Response:
        return _console_file("/console/app.js")

    @app.get("/console/app.css", include_in_schema=False)
    def console_css() -> Response:
        return _console_file("/console/app.css")

    @app.get("/metrics", tags=["service"])
    def prometheus_metrics() -> Response:
        """Prometheus text: requests, latency histogram, items and verdicts per task."""
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        # The detect body is parsed by hand (exact 400/413/422 errors); its schema and the schemas
        # it refers to are added to the OpenAPI document here.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(nested_schemas)
            app.openapi_schema = schema
        return app.openapi_schema

    from secllm.serve.incidents import incident_router

    app.include_router(incident_router(max_body_bytes=max_body_bytes, max_items=max_batch * 10))
    app.openapi = openapi  # type: ignore[method-assign]
    app.state.detectors = detectors
    return app
