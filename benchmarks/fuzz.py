"""Long fuzzing run of every reader and parser (issue 18): each target of tests/fuzz for a fixed
time, random cases (new ones every run), the per-case budgets of tests/fuzz/budget.py enforced.

    PYTHONPATH=src:. python benchmarks/fuzz.py --seconds 60                 # all targets, 60 CPU-s each
    PYTHONPATH=src:. python benchmarks/fuzz.py --seconds 10 --target canonical --target desensitize

Writes reports/fuzzing/fuzz.json and reports/fuzzing/fuzz.md: cases, cases/s, CPU per case, the
slowest case, the peak allocation, and every failure found (with hypothesis' falsifying example).
A failure is a bug: fix it with a regression test (tests/fuzz/test_regressions.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from pathlib import Path

os.environ["SECLLM_FUZZ_PROFILE"] = "long"
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from hypothesis import given, seed, settings  # noqa: E402

from tests.fuzz import budget  # noqa: E402
from tests.fuzz.targets import TARGETS  # noqa: E402


def fuzz_for(name: str, seconds: float, chunk: int, rng: random.Random) -> dict:
    """Run target ``name`` in chunks of ``chunk`` random cases until it has used ``seconds`` of CPU
    time (generation included): CPU, not wall time, so that a loaded machine runs as many cases."""
    t = TARGETS[name]
    failures: list[dict] = []
    t0, c0 = time.perf_counter(), time.process_time()
    tracemalloc.start()
    try:
        while time.process_time() - c0 < seconds:
            @seed(rng.getrandbits(64))
            @settings(settings.get_profile("long"), max_examples=chunk)
            @given(t.strategy)
            def fuzz(case):
                budget.run_case(name, t.check, case, t.size(case))

            try:
                fuzz()
            except Exception as exc:  # noqa: BLE001 - a finding: record it and keep fuzzing
                notes = "\n".join(getattr(exc, "__notes__", []))
                failures.append({"error": f"{type(exc).__name__}: {str(exc)[:500]}", "example": notes[:2000]})
                if len(failures) >= 20:
                    break
    finally:
        tracemalloc.stop()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = budget.STATS.get(name, budget.TargetStats())
    return {"target": name, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cases": st.cases,
            "cases_per_cpu_s": round(st.cases / cpu, 1) if cpu else 0.0,
            "cases_per_s": round(st.cases / wall, 1) if wall else 0.0,
            "mean_case_cpu_ms": round(1000 * st.cpu_seconds / max(st.cases - 1, 1), 3),
            "max_case_cpu_s": round(st.max_case_cpu_s, 4), "max_case_wall_s": round(st.max_case_wall_s, 4),
            "max_peak_mib": round(st.max_peak_bytes / 2**20, 2), "max_input_kib": round(st.max_input_bytes / 1024, 1),
            "failures": failures}


def markdown(rows: list[dict], meta: dict) -> str:
    lines = ["# Fuzzing report (benchmarks/fuzz.py)", "",
             f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}; load average at start "
             f"{meta['load']}; {meta['started']}; {meta['seconds_per_target']} s of CPU per target (generation "
             "included).", "",
             f"Budgets per case: CPU < {budget.TIME_BUDGET_S} s; peak allocation <= "
             f"{budget.MEM_BUDGET_BYTES >> 20} MiB + {budget.MEM_PER_INPUT_BYTE} x input bytes; inputs <= "
             f"{budget.MAX_INPUT_BYTES >> 10} KiB. tracemalloc runs during every case (it slows allocation-heavy "
             "code about 2x: the rates below are conservative).", "",
             "cases/CPU-s counts generation too (hypothesis draws most of the time); cases/s is wall time on a "
             "shared machine; CPU/case is the target's own work.", "",
             "| target | cases | cases/CPU-s | cases/s (wall) | mean CPU/case (ms) | slowest case CPU (s) | "
             "peak alloc (MiB) | largest input (KiB) | failures |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['target']} | {r['cases']} | {r['cases_per_cpu_s']} | {r['cases_per_s']} | "
                     f"{r['mean_case_cpu_ms']} | {r['max_case_cpu_s']} | {r['max_peak_mib']} | {r['max_input_kib']} | "
                     f"{len(r['failures'])} |")
    total = sum(r["cases"] for r in rows)
    lines += ["", f"Total: {total} cases, {sum(len(r['failures']) for r in rows)} failures."]
    for r in rows:
        for f in r["failures"]:
            lines += ["", f"## {r['target']}: {f['error'][:200]}", "", "```", f["example"][:1500], "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="CPU seconds of fuzzing per target")
    ap.add_argument("--target", action="append", help="only these targets (repeatable)")
    ap.add_argument("--chunk", type=int, default=200, help="cases per hypothesis run (each with a new seed)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the seeds (default: random)")
    ap.add_argument("--out", default=str(ROOT / "reports" / "fuzzing"))
    args = ap.parse_args(argv)
    names = args.target or sorted(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        ap.error(f"unknown targets {unknown}; known: {sorted(TARGETS)}")
    rng = random.Random(args.seed)
    meta = {"command": "python benchmarks/fuzz.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
                       f"{platform.python_version()}", "started": time.strftime("%Y-%m-%d %H:%M"),
            "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "seconds_per_target": args.seconds,
            "budgets": {"cpu_s_per_case": budget.TIME_BUDGET_S, "mem_bytes": budget.MEM_BUDGET_BYTES,
                        "mem_per_input_byte": budget.MEM_PER_INPUT_BYTE, "max_input_bytes": budget.MAX_INPUT_BYTES}}
    rows = []
    for name in names:
        r = fuzz_for(name, args.seconds, args.chunk, rng)
        rows.append(r)
        print(f"{name:32s} {r['cases']:7d} cases {r['cases_per_cpu_s']:8.1f}/CPU-s  "
              f"max CPU {r['max_case_cpu_s']:.3f}s  "
              f"peak {r['max_peak_mib']:.1f} MiB  failures {len(r['failures'])}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps({**meta, "targets": rows}, indent=1, ensure_ascii=False))
    (out / "fuzz.md").write_text(markdown(rows, meta))
    print(f"wrote {out / 'fuzz.md'}")
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
