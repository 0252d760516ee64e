"""Load test of a real `secllm serve` on 127.0.0.1 (issue 18, defect 3).

For ``--duration`` seconds: ``--clients`` concurrent clients send authenticated ``/v1/detect``
batches (each checks that every item it sent comes back judged), ``--slow`` connections open a
request head and dribble one header byte every ``--dribble`` seconds (reconnecting when the
server cuts them, as an attacker would), and a separate process probes ``/health`` on a fresh
connection every 0.25 s. Measured: /health and /v1/detect latency p50/p99, errors, lost items,
how long slow connections are held, the server's peak RSS and open descriptors, tracebacks in
its log. Both servers start under a soft open-file limit of 1,024 (a common distribution default).

    PYTHONPATH=src python benchmarks/serve_load.py                # the protected server, 60 s
    PYTHONPATH=src python benchmarks/serve_load.py --baseline     # and the same app on plain uvicorn
    PYTHONPATH=src python benchmarks/serve_load.py --max-connections 600 --stem load-cap600   # cap < slow flood

Writes reports/serving/load.json and load.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["john", "1' or '1'='1", "<script>alert(1)</script>", "page=2&sort=desc", "../../../etc/passwd",
         "; cat /etc/passwd", "GET /search?q=shoes HTTP/1.1\r\nHost: shop\r\n\r\n", "hello world",
         "https://example.com/a?b=c", "admin'--"]
ITEMS_PER_REQUEST = 4
START_NOFILE = 1024

# The same application on uvicorn's defaults (what `secllm serve` ran before issue 18): no header
# or body deadline, no connection cap, no raised open-file limit.
BASELINE = """
import os, sys, uvicorn
from secllm.serve.app import create_app
app = create_app(None, tasks=["web-attack"], api_keys=[os.environ["SECLLM_API_KEYS"]], threads=int(sys.argv[2]))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning", server_header=False)
"""


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 4)


@dataclass
class Stats:
    detect_lat: list[float] = field(default_factory=list)
    requests_ok: int = 0
    errors: Counter = field(default_factory=Counter)
    items_sent: int = 0
    items_judged: int = 0
    rss_peak_mb: float = 0.0
    fds_peak: int = 0


def _probe_health(port: int, stop_at: float, out: str) -> None:
    """In its own process: GET /health on a new connection every 0.25 s (timeout 10 s)."""
    lat, fails = [], Counter()
    while time.time() < stop_at:
        t0 = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "no-response"
            if status == "200":
                lat.append(time.perf_counter() - t0)
            else:
                fails[status] += 1
        except OSError as exc:
            fails[type(exc).__name__] += 1
        time.sleep(max(0.0, 0.25 - (time.perf_counter() - t0)))
    Path(out).write_text(json.dumps({"lat": lat, "fails": fails}))


async def _client(i: int, base: str, key: str, stop_at: float, st: Stats, tls: ssl.SSLContext) -> None:
    """Closed loop: send a batch, check every item came back judged, send the next. A refused
    batch (503, a reset connection) is sent again after 0.5 s, as a real client would; items never
    judged by the end of the run are lost."""
    rng = random.Random(i)
    # one TLS context for all clients: httpx builds a new one per client otherwise (~0.3 s of CPU
    # each, with the event loop blocked: 200 clients would stall the load generator for a minute)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=60, verify=tls,
                                 limits=httpx.Limits(max_connections=1)) as c:
        n = 0
        while time.monotonic() < stop_at:
            ids = [f"c{i}-{n}-{k}" for k in range(ITEMS_PER_REQUEST)]
            body = {"items": [{"id": x, "text": rng.choice(TEXTS)} for x in ids]}
            n += 1
            st.items_sent += len(ids)
            while True:
                t0 = time.perf_counter()
                try:
                    r = await c.post("/v1/detect", json=body)
                except httpx.HTTPError as exc:
                    r, err = None, type(exc).__name__
                else:
                    err = None if r.status_code == 200 else str(r.status_code)
                if err is None:
                    break
                st.errors[err] += 1
                if time.monotonic() >= stop_at + 30:          # give up: these items are lost
                    break
                await asyncio.sleep(0.5)
            if r is None or r.status_code != 200:
                continue
            st.detect_lat.append(time.perf_counter() - t0)
            st.requests_ok += 1
            got = {x["id"] for x in r.json()["results"] if x["status"] == "ok"}
            st.items_judged += len(got & set(ids))


async def _slow(port: int, dribble: float, stop_at: float, st: dict) -> None:
    while time.time() < stop_at:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        except (OSError, asyncio.TimeoutError):
            st["connect_failed"] += 1
            await asyncio.sleep(1)
            continue
        st["opened"] += 1
        st["open_now"] += 1
        st["open_peak"] = max(st["open_peak"], st["open_now"])
        opened = time.monotonic()
        try:
            writer.write(b"GET /v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            while time.time() < stop_at:
                try:
                    await asyncio.wait_for(reader.read(4096), dribble)
                except asyncio.TimeoutError:
                    writer.write(b"a")                       # one more header byte
                    await writer.drain()
                    continue
                st["cut"] += 1                                # EOF or a 408: the server cut it
                st["held"].append(time.monotonic() - opened)
                break
        except OSError:
            st["cut"] += 1
            st["held"].append(time.monotonic() - opened)
        finally:
            st["open_now"] -= 1
            writer.close()


def _slow_process(port: int, n: int, dribble: float, stop_at: float, out: str) -> None:
    """In its own process (its event loop does not slow the measured clients down)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536, hard))
    st = {"opened": 0, "connect_failed": 0, "cut": 0, "open_now": 0, "open_peak": 0, "held": []}

    async def main() -> None:
        await asyncio.gather(*[_slow(port, dribble, stop_at, st) for _ in range(n)])
    asyncio.run(main())
    Path(out).write_text(json.dumps(st))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _watch(pid: int, stop_at: float, st: Stats) -> None:
    """The server's resident memory and open descriptors, twice a second (Linux /proc)."""
    while time.monotonic() < stop_at:
        try:
            st.rss_peak_mb = max(st.rss_peak_mb, _rss_mb(pid))
            st.fds_peak = max(st.fds_peak, len(os.listdir(f"/proc/{pid}/fd")))
        except OSError:
            return
        await asyncio.sleep(0.5)


async def _load(port: int, key: str, pid: int, args: argparse.Namespace, st: Stats) -> None:
    stop_at = time.monotonic() + args.duration
    base = f"http://127.0.0.1:{port}"
    tasks = [asyncio.create_task(_watch(pid, stop_at, st))]
    tls = ssl.create_default_context()
    tasks += [asyncio.create_task(_client(i, base, key, stop_at, st, tls)) for i in range(args.clients)]
    await asyncio.gather(*tasks)


def _server_side(log_text: str) -> dict:
    """/v1/detect durations as the server measured them (its access log): no client-side queueing."""
    durations = []
    for line in log_text.splitlines():
        if line.startswith("{") and '"/v1/detect"' in line:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("status") == 200:
                durations.append(rec["duration_ms"] / 1000)
    return {"detect_p50_s": _pct(durations, 0.5), "detect_p99_s": _pct(durations, 0.99), "requests": len(durations)}


def _metrics(port: int, key: str) -> dict:
    """Connections the server closed itself and requests it refused, from its /metrics."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"X-API-Key": key}, timeout=10).text
    except httpx.HTTPError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith(("secllm_http_connections_closed_total{", "secllm_http_rejected_total{")):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _nofile_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except OSError:
        pass
    return None


def run_one(name: str, args: argparse.Namespace) -> dict:
    key = secrets.token_urlsafe(32)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SECLLM_API_KEYS": key, "PYTHONPATH": str(ROOT / "src")}
    if name == "protected":
        cmd = [sys.executable, "-m", "secllm.cli", "serve", "--port", str(port), "--tasks", "web-attack",
               "--threads", str(args.threads)]
        if args.max_connections:
            cmd += ["--max-connections", str(args.max_connections)]
    else:
        cmd = [sys.executable, "-c", BASELINE, str(port), str(args.threads)]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    log = Path(tempfile.mkdtemp()) / f"{name}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                      (min(START_NOFILE, hard), hard)))
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{name} server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} server did not start")
            time.sleep(0.3)
        httpx.post(f"http://127.0.0.1:{port}/v1/detect", headers={"X-API-Key": key}, timeout=60,
                   json={"items": [{"text": t} for t in TEXTS]})                    # warm-up
        st = Stats()
        probe_out, slow_out = log.with_suffix(".health.json"), log.with_suffix(".slow.json")
        ctx = multiprocessing.get_context("spawn")
        slow = ctx.Process(target=_slow_process, args=(port, args.slow, args.dribble,
                                                        time.time() + args.duration + 1, str(slow_out)))
        slow.start()
        time.sleep(2.0)                       # the slow connections first, then the probe and the clients
        probe = ctx.Process(target=_probe_health, args=(port, time.time() + args.duration - 1, str(probe_out)))
        probe.start()
        t0 = time.monotonic()
        asyncio.run(_load(port, key, proc.pid, args, st))
        wall = time.monotonic() - t0
        probe.join(30)
        slow.join(60)
        health = json.loads(probe_out.read_text()) if probe_out.exists() else {"lat": [], "fails": {"probe": 1}}
        sl = json.loads(slow_out.read_text()) if slow_out.exists() else {}
        nofile = _nofile_of(proc.pid)
        alive = proc.poll() is None
        closed = _metrics(port, key) if alive else {}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text(errors="replace")
    log_lines = text.splitlines()
    return {
        "server": name, "command": " ".join(cmd[:3] + (cmd[3:] if name == "protected" else ["<baseline>"])),
        "duration_s": round(wall, 1), "alive_at_end": alive, "nofile_soft_at_start": START_NOFILE,
        "nofile_soft_running": nofile,
        "health": {"probes_ok": len(health["lat"]), "failures": dict(health["fails"]),
                   "p50_s": _pct(health["lat"], 0.5), "p99_s": _pct(health["lat"], 0.99),
                   "max_s": _pct(health["lat"], 1.0)},
        "detect": {"requests_ok": st.requests_ok, "errors": dict(st.errors), "p50_s": _pct(st.detect_lat, 0.5),
                   "p99_s": _pct(st.detect_lat, 0.99), "items_per_s": round(st.items_judged / max(wall, 1e-9), 1)},
        "items": {"sent": st.items_sent, "judged": st.items_judged, "lost": st.items_sent - st.items_judged},
        "detect_server_side": _server_side(text),
        "slow": {"connections_opened": sl.get("opened"), "connect_failed": sl.get("connect_failed"),
                 "cut_by_server": sl.get("cut"), "open_peak": sl.get("open_peak"),
                 "held_p50_s": _pct(sl.get("held", []), 0.5), "held_max_s": _pct(sl.get("held", []), 1.0)},
        "server_metrics": closed,
        "server_rss_peak_mb": round(st.rss_peak_mb, 1), "server_fds_peak": st.fds_peak,
        "log": {"tracebacks": text.count("Traceback"), "status_500_lines": sum('"status": 500' in x for x in log_lines),
                "too_many_open_files": text.count("Too many open files")},
    }


def _reason(series: str) -> str:
    return series.split('reason="', 1)[1].split('"', 1)[0]


def _md(report: dict) -> str:
    cfg = report["config"]
    rows = [("", *[r["server"] for r in report["runs"]])]

    def row(label, f):
        rows.append((label, *[f(r) for r in report["runs"]]))
    row("/health p50 / p99 / max (s)", lambda r: f"{r['health']['p50_s']} / {r['health']['p99_s']} / {r['health']['max_s']}")
    row("/health probes ok / failed", lambda r: f"{r['health']['probes_ok']} / {sum(r['health']['failures'].values())} "
        f"{r['health']['failures'] or ''}")
    row("/v1/detect p50 / p99 (s)", lambda r: f"{r['detect']['p50_s']} / {r['detect']['p99_s']}")
    row("/v1/detect p50 / p99 server-side (s)", lambda r: f"{r['detect_server_side']['detect_p50_s']} / "
        f"{r['detect_server_side']['detect_p99_s']}")
    row("/v1/detect requests ok / refused or failed (then retried)", lambda r: f"{r['detect']['requests_ok']} / {r['detect']['errors'] or 0}")
    row("items sent / judged / lost", lambda r: f"{r['items']['sent']} / {r['items']['judged']} / {r['items']['lost']}")
    row("items judged per s", lambda r: r["detect"]["items_per_s"])
    row("slow conns opened / cut by server", lambda r: f"{r['slow']['connections_opened']} / {r['slow']['cut_by_server']}")
    row("slow conn held p50 / max (s)", lambda r: f"{r['slow']['held_p50_s']} / {r['slow']['held_max_s']}")
    row("slow connect failures / open at once (peak)", lambda r: f"{r['slow']['connect_failed']} / {r['slow']['open_peak']}")
    row("closed / refused by the server (its /metrics)", lambda r: ", ".join(
        f"{_reason(k)}: {int(v)}" for k, v in r["server_metrics"].items()) or "-")
    row("server peak RSS (MB) / open fds", lambda r: f"{r['server_rss_peak_mb']} / {r['server_fds_peak']}")
    row("soft nofile at start / running", lambda r: f"{r['nofile_soft_at_start']} / {r['nofile_soft_running']}")
    row("tracebacks / 500s / EMFILE in log", lambda r: f"{r['log']['tracebacks']} / {r['log']['status_500_lines']} / "
        f"{r['log']['too_many_open_files']}")
    out = [f"# `secllm serve` under load ({cfg['clients']} clients + {cfg['slow']} slow connections, {cfg['duration_s']} s)",
           "", f"Command: `{cfg['command']}`  ", f"Machine: {cfg['machine']}  ",
           (f"Model: the shipped web-attack model, `--tasks web-attack --threads {cfg['threads']}`; "
            f"protected server: `--max-connections {cfg['max_connections']}`"), "",
           "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows[1:]]
    out += ["", ("Each client sends batches of 4 items; an item is judged when its id comes back with status ok. "
                 "Slow connections (their own process) send a request head one byte every "
                 f"{cfg['dribble_s']} s and reconnect when cut. /health is probed from a third process on a new "
                 "connection every 0.25 s (timeout 10 s). Client-side latencies include queueing behind the other "
                 "clients (closed loop: every client resends at once); server-side ones come from the access log.")]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--dribble", type=float, default=3.0, help="seconds between header bytes of a slow connection")
    ap.add_argument("--threads", type=int, default=1, help="server model threads")
    ap.add_argument("--baseline", action="store_true", help="also run the app on plain uvicorn (before issue 18)")
    ap.add_argument("--max-connections", type=int, default=None,
                    help="the protected server's --max-connections (default: its own, 2048)")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "serving")
    ap.add_argument("--stem", default="load", help="output file names: STEM.json, STEM.md")
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]           # this process holds ~1,300 sockets
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536, hard))
    runs = [run_one("protected", args)]
    if args.baseline:
        runs.append(run_one("baseline", args))
    report = {"config": {"clients": args.clients, "slow": args.slow, "duration_s": args.duration,
                         "dribble_s": args.dribble, "items_per_request": ITEMS_PER_REQUEST, "threads": args.threads,
                         "max_connections": args.max_connections or 2048,
                         "command": "PYTHONPATH=src python benchmarks/serve_load.py " + " ".join(sys.argv[1:]),
                         "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
                                    "load generator on the same machine"},
              "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"{args.stem}.md").write_text(_md(report))
    print(_md(report))


if __name__ == "__main__":
    main()
