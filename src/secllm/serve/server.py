"""Running the API under uvicorn with the limits uvicorn does not enforce itself.

What uvicorn 0.54 (h11 protocol) enforces, read from its source:

- ``timeout_keep_alive``: an idle connection *after a response* is closed (armed only then);
- ``h11_max_incomplete_event_size``: bounds h11's buffer while an event is *incomplete* only: a
  head larger than it that arrives in one read (asyncio reads up to 256 KiB) is accepted;
- ``backlog``: the kernel's accept queue;
- ``limit_concurrency``: a *request* gets 503 when open connections or running request tasks
  reach the limit. Stalled connections count, so alone it turns a slow-header flood into 503s
  for everyone, ``/health`` included; and nothing refuses the connections themselves, which
  keep taking file descriptors until ``accept()`` fails with EMFILE and asyncio stops accepting.

What it does not have: a deadline for the request head (a new connection may send one byte a
minute forever), a deadline for the body, a cap on connections, or a head size limit that holds
whatever the packet sizes. :func:`guarded_protocol` adds them to uvicorn's own h11 protocol class:

- the request head must be complete within ``header_timeout`` seconds of the connection (or of
  the previous response) -> else 408 and close (nothing sent if not one byte came);
- a request body must be complete within ``body_timeout`` seconds of its head -> else 408,
  close, and the app's ``receive()`` says the client is gone;
- a request head over ``max_header_bytes`` -> 431 and close, counted before h11 parses it;
- at most ``max_connections`` connections: a newcomer beyond it evicts the connection that has
  waited longest for a request head (a stalled or idle one), if that one has waited at least
  ``evict_after`` seconds; otherwise (every connection inside a request, or only just arrived)
  the newcomer gets 503 and is closed. A flood of slow connections therefore cannot lock out
  ``/health`` or authenticated clients: new connections push the stalled ones out, and a
  connection that was just let in has ``evict_after`` seconds to send its head before a
  reconnecting flood may push it out in turn.

:func:`serve` also raises the soft ``RLIMIT_NOFILE`` towards the hard limit and fits
``max_connections`` under it (see :func:`fit_to_nofile`).

    >>> ServerLimits().header_timeout
    10.0
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

FD_RESERVE = 64              # descriptors kept for the model, logs, threads and the listening socket
NOFILE_TARGET = 65536        # raise the soft limit this far (or to the hard limit, if lower)
CLOSE_REASONS = ("header_timeout", "header_too_large", "body_timeout", "evicted", "refused")
_END_OF_HEAD = re.compile(rb"\n\r?\n")    # the empty line after the headers (h11 also takes bare \n)


@dataclass(frozen=True)
class ServerLimits:
    """Connection limits and read deadlines (seconds) of ``secllm serve``."""

    max_connections: int = 2048      # open connections; beyond it stalled ones are evicted
    header_timeout: float = 10.0     # a request head must arrive within this (like nginx client_header_timeout)
    body_timeout: float = 30.0       # a request body must arrive within this after its head
    keep_alive_timeout: int = 5      # idle keep-alive connections close after this (uvicorn)
    max_header_bytes: int = 16384    # request line + headers (larger gets 431)
    backlog: int = 1024              # kernel accept queue (uvicorn)
    evict_after: float = 1.0         # a connection waiting for its head this long may be evicted at the cap
    graceful_shutdown_timeout: int = 10

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.header_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("max_connections, header_timeout and body_timeout must be positive")


def raise_nofile_limit(target: int = NOFILE_TARGET) -> tuple[int, int]:
    """Raise the soft open-file limit to ``min(hard, target)`` (never lower it); ``(before, after)``.

    Distributions default to a soft limit of 1,024 descriptors with a much higher hard limit: one
    socket per connection, 1,024 is reached by a modest slow-client flood.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = target if hard == resource.RLIM_INFINITY else min(hard, target)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            return soft, soft
        return soft, want
    return soft, soft


def fit_to_nofile(limits: ServerLimits, soft_nofile: int) -> ServerLimits:
    """Lower ``max_connections`` and ``backlog`` so that they fit under ``soft_nofile`` descriptors.

    asyncio accepts up to ``backlog`` connections in one go before any of them is looked at, so
    the connection cap must leave ``backlog`` descriptors (plus a reserve) free: then accept()
    never fails with EMFILE (which makes asyncio stop accepting for a second at a time).

        >>> fit_to_nofile(ServerLimits(), 1024).max_connections
        704
    """
    backlog = max(16, min(limits.backlog, soft_nofile // 4))
    room = max(1, soft_nofile - backlog - FD_RESERVE)
    return replace(limits, backlog=backlog, max_connections=min(limits.max_connections, room))


def guarded_protocol(limits: ServerLimits, on_close: Callable[[str], Any] | None = None) -> type:
    """A subclass of uvicorn's h11 protocol with ``limits``' deadlines and connection cap.

    ``on_close`` is called with the reason (one of :data:`CLOSE_REASONS`) for every connection
    the server closes itself. Each call returns a new class with its own connection registry (one
    per server).
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    # Connections waiting for a request head (new, or idle between requests) -> when they started
    # waiting, oldest first: the eviction candidates at the cap. This server's connections only.
    waiting: OrderedDict[Any, float] = OrderedDict()

    def raw_response(status: int, reason: str, code: str, message: str) -> bytes:
        body = json.dumps({"error": {"code": code, "message": message}, "request_id": uuid.uuid4().hex[:16]}).encode()
        return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._phase = ""                         # "head" | "body" | "app"
            self._timer: asyncio.TimerHandle | None = None
            self._head_bytes = False
            self._head_len, self._head_tail = 0, b""
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                victim, since = next(iter(waiting.items()), (None, 0.0))
                if victim is None or self.loop.time() - since < limits.evict_after:
                    self._close("refused", raw_response(503, "Service Unavailable", "too_many_connections",
                                                         "the server is at its connection limit; retry shortly"))
                    return
                victim._close("evicted", abort=True)
            self._update_phase()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_timer()
            waiting.pop(self, None)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._phase == "head":
                self._head_bytes = True
                if not self._head_fits(data):
                    return
            super().data_received(data)
            self._update_phase()

        def _head_fits(self, data: bytes) -> bool:
            """Count the head's bytes up to its empty line; a head over the limit gets 431."""
            window = self._head_tail + data
            m = _END_OF_HEAD.search(window)
            size = self._head_len + (m.end() - len(self._head_tail) if m else len(data))
            if size > limits.max_header_bytes:
                self._close("header_too_large", raw_response(
                    431, "Request Header Fields Too Large", "header_too_large",
                    f"request line and headers over {limits.max_header_bytes} bytes"))
                return False
            self._head_len, self._head_tail = size, window[-2:]
            return True

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._update_phase()

        # -- phases and deadlines --------------------------------------------------------------
        def _update_phase(self) -> None:
            if self.transport.is_closing():
                self._cancel_timer()
                waiting.pop(self, None)
                return
            state = self.conn.their_state
            if state is h11.IDLE:
                if self._phase != "head" and (self.cycle is None or self.cycle.response_complete):
                    self._phase, self._head_bytes = "head", False
                    self._head_len, self._head_tail = 0, b""
                    waiting.pop(self, None)
                    waiting[self] = self.loop.time()        # appended: the newest waiter
                    self._arm(limits.header_timeout, self._head_deadline)
            elif state is h11.SEND_BODY:
                if self._phase != "body":
                    waiting.pop(self, None)
                    self._phase = "body"
                    self._arm(limits.body_timeout, self._body_deadline)
            elif self._phase != "app":                # DONE, MUST_CLOSE, ERROR: the app has it now
                waiting.pop(self, None)
                self._phase = "app"
                self._cancel_timer()

        def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
            self._cancel_timer()
            self._timer = self.loop.call_later(seconds, callback)

        def _cancel_timer(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _head_deadline(self) -> None:
            self._timer = None
            if self.transport.is_closing() or self._phase != "head":
                return
            # a connection that never sent a byte gets no answer (as nginx does)
            self._close("header_timeout", raw_response(
                408, "Request Timeout", "header_timeout",
                f"request head not complete within {limits.header_timeout:g} s") if self._head_bytes else b"")

        def _body_deadline(self) -> None:
            self._timer = None
            if self.transport.is_closing() or self._phase != "body":
                return
            cycle = self.cycle
            out = b""
            if cycle is not None and not cycle.response_started:
                # The app is waiting in receive(): it gets "http.disconnect" and its own sends are
                # dropped (uvicorn ignores sends on a disconnected cycle); the guard logs a 408.
                cycle.scope.setdefault("state", {})["closed_by_server"] = "body_timeout"
                cycle.disconnected = True
                cycle.message_event.set()
                msg = f"request body not complete within {limits.body_timeout:g} s"
                rid = cycle.scope["state"].get("request_id") or uuid.uuid4().hex[:16]
                body = json.dumps({"error": {"code": "body_timeout", "message": msg}, "request_id": rid}).encode()
                try:
                    out = self.conn.send(h11.Response(status_code=408, reason=b"Request Timeout", headers=[
                        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"), (b"x-request-id", rid.encode())]))
                    out += self.conn.send(h11.Data(data=body)) + self.conn.send(h11.EndOfMessage())
                except h11.LocalProtocolError:
                    out = b""
            self._close("body_timeout", out)

        def _close(self, reason: str, data: bytes = b"", abort: bool = False) -> None:
            self._cancel_timer()
            waiting.pop(self, None)
            self._phase = "closed"
            if on_close is not None:
                on_close(reason)
            if data:
                self.transport.write(data)
            if abort:                                 # free the descriptor now, not after a flush
                self.transport.abort()
            else:
                self.transport.close()

    return GuardedH11Protocol


def make_server(app: Any, host: str, port: int, limits: ServerLimits | None = None,
                on_close: Callable[[str], Any] | None = None, log_level: str = "warning") -> Any:
    """A ``uvicorn.Server`` for ``app`` with ``limits`` (not started: call ``.run()``)."""
    import uvicorn

    limits = limits or ServerLimits()
    config = uvicorn.Config(
        app, host=host, port=port, http=guarded_protocol(limits, on_close), ws="none", lifespan="auto",
        # uvicorn's check counts open connections too, evicted ones included until asyncio has closed
        # them (up to a backlog's worth at once): above that it can only fire when request tasks
        # outlive their connections (clients that left while their request was queued)
        limit_concurrency=limits.max_connections + limits.backlog,
        backlog=limits.backlog, timeout_keep_alive=limits.keep_alive_timeout,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_graceful_shutdown=limits.graceful_shutdown_timeout,
        access_log=False, log_level=log_level, server_header=False)     # the app writes its own access log
    return uvicorn.Server(config)


def serve(app: Any, host: str, port: int, limits: ServerLimits | None = None,
          log: Callable[[str], Any] | None = None) -> None:
    """Raise the open-file limit, fit ``limits`` under it, and run ``app`` until interrupted."""
    limits = limits or ServerLimits()
    after = raise_nofile_limit()[1]
    fitted = fit_to_nofile(limits, after)
    if log is not None and fitted.max_connections < limits.max_connections:
        log(f"secllm serve: open-file limit {after} (hard limit reached): at most {fitted.max_connections} "
            f"connections (asked {limits.max_connections}); raise it with `ulimit -n` or LimitNOFILE=")
    on_close = getattr(getattr(app, "state", None), "on_connection_closed", None)
    make_server(app, host, port, fitted, on_close=on_close).run()
