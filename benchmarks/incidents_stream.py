"""Correlator benchmark: tens of millions of findings in constant memory.

Usage::

    python benchmarks/incidents_stream.py --findings 10000000 --out reports/incidents/stream
    python benchmarks/incidents_stream.py --findings 200000 --out /tmp/stream     # quick

A synthetic, time-ordered stream of typed findings is generated in-process (so the figure is the
correlator's, not a JSON parser's) and fed to :class:`secllm.incidents.Correlator` with online
routine-noise learning. The stream spans ``--days`` days and mixes:

* internet background: one or two web findings from each of millions of different addresses
  (each becomes a weak candidate that is dropped when its quiet period ends);
* attack bursts: an actor sends 20..2,000 findings within minutes over several tactics;
* third-party alerts: 40 rules x 60 hosts of routine IDS/HIDS noise;
* benign context items (scan --all) from the same actors.

Resident memory (``/proc/self/statm``) is sampled every ``--sample`` findings: constant memory
means the RSS curve flattens while the count grows. A second, smaller run measures the
end-to-end rate of ``secllm.incidents.read_findings`` + correlation from a scan-style JSONL file.
Writes ``stream.json`` and ``stream.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's secllm first

from secllm.incidents import Correlator, CorrelatorConfig, Finding, correlate_files

PAGE = os.sysconf("SC_PAGE_SIZE")
LABELS = ["sqli", "xss", "cmdi", "path-traversal", "scanner", "restricted-file"]
RULES = [f"ET POLICY routine rule {i}" for i in range(30)] + [f"SURICATA STREAM event {i}" for i in range(10)]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def stream(n: int, days: float, seed: int):
    """Yield ``n`` findings in time order (see the module doc)."""
    rng = random.Random(seed)
    t = 1_700_000_000.0
    dt = days * 86400 / n
    active: list[list] = []           # attack bursts in progress: [ip, remaining, stage index]
    k = 0
    while k < n:
        t += rng.expovariate(1.0 / dt)
        r = rng.random()
        k += 1
        if r < 0.50:                  # internet background: a fresh address, one finding
            ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            lab = rng.choice(LABELS)
            yield Finding(f"access.log:{k}", t, task="web-attack", label=lab, name=lab, rule=f"web-attack:{lab}",
                          src=ip, status=rng.choice((200, 404, 403)), target=f"/p{rng.randint(0, 999)}?x=1",
                          file="access.log", line=k, score=rng.uniform(0.5, 1.0))
        elif r < 0.70:                # attack bursts
            if len(active) < 20 and rng.random() < 0.02:
                active.append([f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                               rng.randint(20, 2000), 0])
            if not active:
                k -= 1                # nothing yielded: ``n`` counts findings, not draws
                continue
            a = rng.choice(active)
            a[1] -= 1
            if rng.random() < 0.01:
                a[2] = min(a[2] + 1, 3)
            lab = ("scanner", "sqli", "cmdi", "path-traversal")[a[2]]
            yield Finding(f"access.log:{k}", t, task="web-attack", label=lab, name=lab, rule=f"web-attack:{lab}",
                          src=a[0], status=200, size=rng.randint(100, 90_000), target=f"/app?id={k}",
                          file="access.log", line=k)
            if a[1] <= 0:
                active.remove(a)
        elif r < 0.90:                # routine third-party alerts
            name = rng.choice(RULES)
            yield Finding(f"eve.json:{k}", t, kind="alert", sensor="suricata", name=name, rule=name, severity=3.0,
                          src=f"192.168.{rng.randint(0, 3)}.{rng.randint(1, 60)}", host=f"host{rng.randint(0, 59)}",
                          file="eve.json", line=k)
        else:                         # benign context items
            yield Finding(f"access.log:{k}", t, kind="context", src=f"192.168.9.{rng.randint(1, 250)}",
                          status=rng.choice((200, 200, 200, 304, 404)), method="GET", target=f"/page{rng.randint(0, 99)}",
                          file="access.log", line=k)


def run_stream(n: int, days: float, sample: int, seed: int) -> dict:
    c = Correlator(CorrelatorConfig())
    curve = []
    reported = 0
    t0 = time.perf_counter()
    i = 0
    for i, f in enumerate(stream(n, days, seed), 1):
        reported += len(c.add(f))
        if i % sample == 0:
            curve.append({"findings": i, "rss_mb": round(rss_mb(), 1), "open_incidents": len(c.open),
                          "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps(curve[-1]), file=sys.stderr, flush=True)
    reported += len(c.flush())
    secs = time.perf_counter() - t0
    return {"findings": i, "days": days, "seconds": round(secs, 1), "findings_per_s": round(i / secs),
            "incidents_reported": reported, "stats": c.stats.to_json(), "rss_curve": curve,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run_file(n: int, seed: int) -> dict:
    """End to end from a scan-style JSONL file: reader + two-pass noise + correlation."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "findings.jsonl"
        with open(p, "w") as out:
            for f in stream(n, 1.0, seed):
                if f.kind == "alert":
                    continue
                obj = {"id": f.id, "file": f.file, "line": f.line, "source": f.src,
                       "label": "benign" if f.kind == "context" else "malicious", "score": f.score,
                       "attack_type": None if f.kind == "context" else f.label, "status": "ok", "kind": "url",
                       "method": f.method or "GET", "http_status": f.status, "size": f.size, "time": f.time,
                       "text": f.target}
                out.write(json.dumps(obj) + "\n")
        size = p.stat().st_size
        t0 = time.perf_counter()
        k = sum(1 for _ in correlate_files([p]))
        secs = time.perf_counter() - t0
        lines = sum(1 for _ in open(p))
    return {"lines": lines, "mb": round(size / 2**20, 1), "seconds": round(secs, 1),
            "lines_per_s": round(lines / secs), "incidents": k}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--findings", type=int, default=10_000_000)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--sample", type=int, default=500_000)
    ap.add_argument("--file-findings", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res = {"command": " ".join(["python", *sys.argv]), "machine": {"python": platform.python_version(),
           "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
           "stream": run_stream(a.findings, a.days, min(a.sample, a.findings), a.seed)}
    if a.file_findings:
        res["file"] = run_file(a.file_findings, a.seed + 1)
    (a.out / "stream.json").write_text(json.dumps(res, indent=1))
    s = res["stream"]
    curve = s["rss_curve"]
    lines = [f"# Correlator at {s['findings']:,} findings", "", f"`{res['command']}`", "",
             f"- throughput: **{s['findings_per_s']:,} findings/s** ({s['seconds']} s, one core, in-process stream)",
             f"- resident memory: {curve[0]['rss_mb']} MB after {curve[0]['findings']:,} findings, "
             f"{curve[-1]['rss_mb']} MB after {curve[-1]['findings']:,}; peak {s['peak_rss_mb']} MB",
             f"- incidents reported: {s['incidents_reported']:,}; weak candidates dropped: "
             f"{s['stats']['incidents_suppressed']:,}; routine alerts: {s['stats']['routine']:,}", ""]
    if "file" in res:
        f = res["file"]
        lines += [f"- end to end from a {f['mb']} MB scan JSONL ({f['lines']:,} lines, read twice for two-pass noise): "
                  f"{f['lines_per_s']:,} lines/s", ""]
    lines += ["| findings | RSS MB | open incidents | seconds |", "|---|---|---|---|"]
    lines += [f"| {c['findings']:,} | {c['rss_mb']} | {c['open_incidents']:,} | {c['seconds']} |" for c in curve]
    (a.out / "stream.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
