"""Several seeded runs of `benchmarks/tasks.py`, one table: per-seed macro-F1, means, paired differences.

One fine-tune on one label subset is one draw; with 10% of the labels the subset alone moves
macro-F1 by a point or two. This reads the test reports of runs made with ``--seed 0..K``,
matches systems across runs by seed, and reports each paired difference's mean with a t-interval
over the seeds (and how many seeds it was positive on).

    python benchmarks/seeds_summary.py \\
        --system "continued=secllm-pretrained:runs/gpu-continued/traffic10-continued-s*" \\
        --system "shipped=secllm-pretrained:runs/gpu-continued/traffic10-shipped-s*" \\
        --system "random init=secllm-random-init:runs/gpu-continued/traffic10-shipped-s*" \\
        --pair "continued,random init" --pair "shipped,random init" --out summary.json
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import statistics
from pathlib import Path


def _seed(report: dict) -> int:
    m = re.search(r"--seed[ =](\d+)", report.get("command") or "")
    return int(m.group(1)) if m else 0


def collect(spec: str, test_key: str = "test") -> dict[int, float]:
    """``NAME=SYSTEM:GLOB`` → {seed: macro-F1 of SYSTEM in each matching run's test report}."""
    _, _, rest = spec.partition("=")
    system, _, pattern = rest.partition(":")
    out: dict[int, float] = {}
    for d in sorted(glob.glob(pattern)):
        p = Path(d) / test_key / "report.json"
        if not p.exists():
            continue
        rep = json.loads(p.read_text())
        if system not in rep["systems"]:
            raise SystemExit(f"{p}: no system {system!r} (has {sorted(rep['systems'])})")
        seed = _seed(rep)
        if seed in out:
            raise SystemExit(f"{spec}: two runs with --seed {seed}")
        out[seed] = rep["systems"][system]["ci95"]["macro_f1"]["estimate"]
    if not out:
        raise SystemExit(f"{spec}: no test reports matched")
    return out


def paired(a: dict[int, float], b: dict[int, float]) -> dict:
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds]
    mean = statistics.mean(d)
    row = {"seeds": seeds, "differences": [round(x, 4) for x in d], "mean": round(mean, 4),
           "positive": sum(x > 0 for x in d)}
    if len(d) > 1:
        half = stats.t.ppf(0.975, len(d) - 1) * statistics.stdev(d) / len(d) ** 0.5
        row["t95"] = [round(mean - half, 4), round(mean + half, 4)]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--system", action="append", required=True, metavar="NAME=SYSTEM:GLOB")
    ap.add_argument("--pair", action="append", default=[], metavar="NAME_A,NAME_B")
    ap.add_argument("--test-key", default="test")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    systems = {s.partition("=")[0]: collect(s, args.test_key) for s in args.system}
    result: dict = {"systems": {}, "pairs": {}}
    width = max(len(n) for n in systems)
    seeds = sorted(set().union(*systems.values()))
    print(f"{'':{width}s} " + " ".join(f"seed {s:<3d}" for s in seeds) + "    mean")
    for name, by_seed in systems.items():
        mean = statistics.mean(by_seed.values())
        result["systems"][name] = {"by_seed": {str(k): round(v, 4) for k, v in sorted(by_seed.items())},
                                   "mean": round(mean, 4), "spec": next(s for s in args.system if s.startswith(name + "="))}
        print(f"{name:{width}s} " + " ".join(f"{by_seed[s]:.4f}  " if s in by_seed else "   -     " for s in seeds)
              + f"  {mean:.4f}")
    for pair in args.pair:
        a, _, b = pair.partition(",")
        row = paired(systems[a], systems[b])
        result["pairs"][f"{a} - {b}"] = row
        ci = f", t95 {row['t95'][0]:+.4f} to {row['t95'][1]:+.4f}" if "t95" in row else ""
        print(f"{a} - {b}: mean {row['mean']:+.4f}{ci}; ahead on {row['positive']} of {len(row['seeds'])} seeds")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
