"""Connection limits and read deadlines of the server (issue 18, defect 3), on a real socket.

uvicorn runs in a thread of this process with a two-route app (no model): what is tested is the
protocol layer that ``secllm serve`` uses, not the detector.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("h11")


async def _app(scope, receive, send):
    """GET anything -> {"ok": true}; POST -> the body length (read to the end)."""
    if scope["type"] != "http":
        return
    size = 0
    if scope["method"] == "POST":
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                _app.disconnects += 1
                return
            size += len(msg.get("body", b""))
            if not msg.get("more_body"):
                break
    body = json.dumps({"ok": True, "size": size}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


_app.disconnects = 0


class _Running:
    def __init__(self, **limits):
        from secllm.serve.server import ServerLimits, make_server

        self.closed: Counter[str] = Counter()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.limits = ServerLimits(**limits)
        self.server = make_server(_app, "127.0.0.1", self.port, self.limits, on_close=lambda reason: self.closed.update([reason]))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        return s

    def get(self, path: str = "/health", timeout: float = 5.0) -> tuple[int, float]:
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            data = _read_all(s)
        return int(data.split(b" ", 2)[1]), time.monotonic() - t0


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def _closed_within(s: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(closed by the server within ``seconds``, what it sent before closing)."""
    s.settimeout(seconds)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True, data
            data += b
    except ConnectionResetError:
        return True, data
    except TimeoutError:
        return False, data


def test_slow_request_head_is_cut_with_408():
    with _Running(header_timeout=0.6, body_timeout=5) as srv:
        s = srv.connect()
        t0 = time.monotonic()
        s.sendall(b"GET /health HTTP/1.1\r\nHo")
        for _ in range(2):                                   # dribbling does not extend the deadline
            time.sleep(0.2)
            s.sendall(b"s")
        closed, data = _closed_within(s, 3)
        assert closed and time.monotonic() - t0 < 2.0
        assert data.startswith(b"HTTP/1.1 408"), data
        assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "header_timeout"
        silent = srv.connect()                               # a connection that never says anything
        assert _closed_within(silent, 3)[0]
        assert srv.closed["header_timeout"] >= 2
        assert srv.get()[0] == 200


def test_keep_alive_connection_gets_a_new_head_deadline():
    with _Running(header_timeout=0.6, keep_alive_timeout=5) as srv:
        s = srv.connect()
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /b HTTP/1.1\r\n")                    # then the next head never completes
        t0 = time.monotonic()
        closed, data = _closed_within(s, 3)
        assert closed and time.monotonic() - t0 < 2.0 and data.startswith(b"HTTP/1.1 408")


def test_slow_body_is_cut_with_408():
    _app.disconnects = 0
    with _Running(header_timeout=5, body_timeout=0.8) as srv:
        s = srv.connect()
        s.sendall(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        t0 = time.monotonic()
        for _ in range(3):
            time.sleep(0.15)
            s.sendall(b" ")
        closed, data = _closed_within(s, 4)
        assert closed and time.monotonic() - t0 < 2.5
        assert data.startswith(b"HTTP/1.1 408"), data
        assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "body_timeout"
        time.sleep(0.1)
        assert _app.disconnects == 1, "the app is told the request is over"
        assert srv.closed["body_timeout"] == 1
        with srv.connect() as ok:                             # a body sent in time is fine
            ok.sendall(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
            assert b'"size": 3' in _read_all(ok)


def test_connection_cap_evicts_stalled_connections_and_health_answers():
    with _Running(max_connections=20, header_timeout=30, evict_after=0.2) as srv:
        slow = []
        for _ in range(60):
            s = srv.connect()
            s.sendall(b"GET / HTTP/1.1\r\n")
            slow.append(s)
            time.sleep(0.01)
        time.sleep(0.3)
        for _ in range(5):
            status, dt = srv.get()
            assert status == 200 and dt < 2.0
        assert srv.closed["evicted"] + srv.closed["refused"] >= 40 and srv.closed["evicted"] >= 5
        assert len(srv.server.server_state.connections) <= 21
        for s in slow:
            s.close()


def test_a_connection_just_let_in_is_not_evicted_at_once():
    """A reconnecting flood may not push out a connection before it had ``evict_after`` to talk."""
    with _Running(max_connections=5, header_timeout=30, evict_after=5) as srv:
        first = [srv.connect() for _ in range(5)]
        time.sleep(0.2)
        late = srv.connect()
        closed, data = _closed_within(late, 3)
        assert closed and data.startswith(b"HTTP/1.1 503"), data
        assert srv.closed["refused"] == 1 and srv.closed["evicted"] == 0
        for s in first:                                       # the five that were in can still talk
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert _read_all(s).startswith(b"HTTP/1.1 200")


def test_connection_cap_refuses_when_every_connection_is_busy():
    """Connections inside a request (body being read) are not evicted: the newcomer gets 503."""
    with _Running(max_connections=3, header_timeout=30, body_timeout=30) as srv:
        busy = []
        for _ in range(3):
            s = srv.connect()
            s.sendall(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            busy.append(s)
        time.sleep(0.3)
        s = srv.connect()
        closed, data = _closed_within(s, 3)
        assert closed and data.startswith(b"HTTP/1.1 503"), data
        assert srv.closed["refused"] >= 1
        for b in busy:
            b.close()


def test_oversized_request_head_is_refused():
    """h11's own limit only bounds an incomplete head: one that arrives in a single read passed."""
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"
    with _Running(max_header_bytes=4096) as srv:
        for chunks in ([big], [big[:3000], big[3000:]]):
            s = srv.connect()
            for c in chunks:
                s.sendall(c)
                time.sleep(0.05)
            closed, data = _closed_within(s, 3)
            assert closed and data.startswith(b"HTTP/1.1 431"), data
        assert srv.closed["header_too_large"] == 2
        with srv.connect() as s:                              # under the limit, even across reads
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 1500)
            time.sleep(0.05)
            s.sendall(b"a" * 1500 + b"\r\nConnection: close\r\n\r\n")
            assert _read_all(s).startswith(b"HTTP/1.1 200")


def test_limits_fit_under_the_open_file_limit():
    from secllm.serve.server import ServerLimits, fit_to_nofile

    lim = fit_to_nofile(ServerLimits(max_connections=4096, backlog=1024), soft_nofile=1024)
    assert lim.max_connections + lim.backlog + 64 <= 1024 and lim.max_connections >= 256
    big = fit_to_nofile(ServerLimits(max_connections=4096, backlog=1024), soft_nofile=65536)
    assert big.max_connections == 4096 and big.backlog == 1024


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_soft_open_file_limit_is_raised_towards_the_hard_limit():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("hard limit too low to test")
    code = ("import resource; from secllm.serve.server import raise_nofile_limit; "
            "before, after = raise_nofile_limit(); "
            "print(before, after, resource.getrlimit(resource.RLIMIT_NOFILE)[0])")

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         preexec_fn=lower, env={**os.environ})
    assert out.returncode == 0, out.stderr
    before, after, now = map(int, out.stdout.split())
    assert before == 256 and after == now and after > 256
    assert after == min(hard, 65536) or hard == resource.RLIM_INFINITY
