"""Scan benchmark: ``secllm scan`` on a large access log, in constant memory.

Usage::

    python benchmarks/scan_memory.py --size-mb 1024 --json reports/runtime/scan_1gb.json
    python benchmarks/scan_memory.py --size-mb 20 --small-mb 2          # quick

Writes an nginx "combined" access log of ``--size-mb`` (or takes ``--log FILE``), then runs the
real CLI -- ``secllm scan LOG --format access-log`` with the shipped model (or ``--model``) --
twice, each in a fresh process: on the first ``--small-mb`` of the log (the baseline) and on the
whole log. For each run it prints lines, seconds, lines/s, findings and the process's peak RSS
(``ru_maxrss``). Constant memory means the whole-log peak RSS stays at the small-log one
(the ratio is printed) while the input grows by ``size/small`` times.

The synthetic log: request targets drawn from the HttpParams payloads (benign values and
attacks, as a query parameter) and 1book URLs when ``shared/datasets`` is there (a small
built-in list otherwise), mixed with static assets and page paths the way real traffic repeats
itself: most lines are popular paths and pages, 15% carry a parameter from a pool of
``--benign-pool`` distinct benign targets, ``--attack-share`` of the lines carry an attack payload.
Its repetition matters for the rate (the detector's score cache and first stage), not for the
memory question; the rate printed is for this mix, not a general figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0", "python-requests/2.32.3", "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
BUILTIN_ATTACKS = ["1' or '1'='1", "<script>alert(1)</script>", "../../../../etc/passwd", ";cat /etc/passwd",
                   "1 union select null,version()--", "<img src=x onerror=alert(document.cookie)>"]
BUILTIN_BENIGN = ["shoes", "red dress", "42", "john.smith", "2024-05-01", "new york", "blue+jeans", "page 2"]

# Run the CLI in a child that reports its own peak RSS (kB on Linux) into a file at exit.
_WRAP = ("import atexit, resource, sys\n"
         "out = sys.argv.pop(1)\n"
         "atexit.register(lambda: open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))\n"
         "from secllm.cli import main\n"
         "sys.argv[0] = 'secllm'\n"
         "main()\n")


def pools(seed: int, benign_pool: int) -> tuple[list[str], list[str]]:
    """(``benign_pool`` distinct benign request targets, every attack request target)."""
    benign_vals, attack_vals, urls = list(BUILTIN_BENIGN), list(BUILTIN_ATTACKS), []
    try:
        from secllm.data.sources import http_params, web_urls_1book
        from secllm.paths import datasets_dir

        root = datasets_dir()
        for r in http_params(root):
            (benign_vals if r.label == "benign" else attack_vals).append(r.text)
        urls = [r.text for r in web_urls_1book(root) if r.label == "benign"]
    except FileNotFoundError:          # no shared/datasets: the built-in lists
        pass
    rng = random.Random(seed)
    params = ["q", "id", "search", "page", "name", "cat", "file", "redirect"]
    benign = [f"/search?{rng.choice(params)}={quote(v, safe='')}" for v in benign_vals]
    # as nginx logs them: no raw space, quote or control character inside the request line
    benign += [quote(u if u.startswith("/") else "/" + u, safe="/?=&%:;,+@!$'()*~") for u in urls[:20_000]]
    if len(benign) > benign_pool:
        benign = rng.sample(benign, benign_pool)
    attacks = [f"/{rng.choice(['index.php', 'search', 'view', 'api/items'])}?{rng.choice(params)}={quote(v, safe='')}"
               for v in attack_vals]
    return benign, attacks


def write_log(path: Path, size_mb: float, attack_share: float, seed: int, benign_pool: int = 5000) -> int:
    """Write the synthetic combined log; returns its line count."""
    rng = random.Random(seed)
    benign, attacks = pools(seed, benign_pool)
    static = [f"/static/{k}/{n}.{ext}" for k, ext in (("js", "js"), ("css", "css"), ("img", "png")) for n in range(300)]
    pages = ["/", "/index.html", "/login", "/cart", "/about", "/contact"] + [f"/product/{n}" for n in range(2000)]
    limit = int(size_mb * 1024 * 1024)
    ts, lines, size = 1_700_000_000, 0, 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        while size < limit:
            chunk = []
            for _ in range(2_000):
                x = rng.random()
                if x < attack_share:
                    target = rng.choice(attacks)
                elif x < 0.55:
                    target = rng.choice(static)
                elif x < 0.85:
                    target = rng.choice(pages)
                else:
                    target = rng.choice(benign)
                ts += rng.randint(0, 2)
                ip = f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))
                method = "POST" if target.startswith("/login") else "GET"
                chunk.append(f'{ip} - - [{when}] "{method} {target} HTTP/1.1" {rng.choice((200, 200, 200, 304, 404))} '
                             f'{rng.randint(200, 90_000)} "-" "{rng.choice(UAS)}"\n')
            s = "".join(chunk)
            f.write(s)
            size += len(s.encode("utf-8"))
            lines += len(chunk)
    return lines


def run_scan(log: Path, args: argparse.Namespace, tmp: Path) -> dict:
    rss_file, out = tmp / "rss.txt", tmp / "findings.jsonl"
    cmd = [sys.executable, "-c", _WRAP, str(rss_file), "scan", str(log), "--format", "access-log",
           "--out", str(out), "--no-progress", "--batch", "256"]
    if args.model:
        cmd += ["--model", str(args.model)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.no_evidence:
        cmd.append("--no-evidence")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"scan failed ({proc.returncode}): {proc.stderr[-3000:]}")
    with open(out, encoding="utf-8") as f:
        findings = sum(1 for _ in f)
    summary = [ln for ln in proc.stderr.splitlines() if ln.startswith(("scanned", "verdicts", "attack types"))]
    return {"file_mb": round(log.stat().st_size / 2**20, 1), "seconds": round(dt, 1),
            "peak_rss_mb": round(int(rss_file.read_text()) / 1024, 1), "findings": findings, "summary": summary}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", type=Path, default=None, help="scan this log instead of writing one")
    ap.add_argument("--size-mb", type=float, default=1024)
    ap.add_argument("--small-mb", type=float, default=10, help="the baseline: this prefix of the log")
    ap.add_argument("--attack-share", type=float, default=0.001,
                    help="share of lines carrying an attack (1 in 1,000: EVALUATION.md's realistic prevalence)")
    ap.add_argument("--benign-pool", type=int, default=5000,
                    help="distinct parameterised benign targets (a site's URL space is bounded)")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-evidence", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmp", type=Path, default=None, help="where the log is written (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.tmp) as td:
        tmp = Path(td)
        log = args.log
        gen = None
        if log is None:
            log = tmp / "access.log"
            t0 = time.perf_counter()
            n = write_log(log, args.size_mb, args.attack_share, args.seed, args.benign_pool)
            gen = {"lines": n, "seconds": round(time.perf_counter() - t0, 1)}
            print(f"wrote {log.stat().st_size / 2**20:.0f} MB, {n:,} lines in {gen['seconds']} s", file=sys.stderr)
        small = tmp / "small.log"
        limit = int(args.small_mb * 2**20)
        with open(log, "rb") as src, open(small, "wb") as dst:
            done = 0
            for line in src:
                if done >= limit:
                    break
                dst.write(line)
                done += len(line)
        results = {}
        for name, path in (("small", small), ("full", log)):
            with open(path, "rb") as f:
                lines = sum(1 for _ in f)
            r = run_scan(path, args, tmp)
            r["lines"] = lines
            r["lines_per_s"] = round(lines / r["seconds"], 1) if r["seconds"] else None
            results[name] = r
            print(f"{name}: {r['file_mb']} MB, {lines:,} lines, {r['seconds']} s ({r['lines_per_s']}/s), "
                  f"peak RSS {r['peak_rss_mb']} MB, {r['findings']} findings", file=sys.stderr)
    report = {"benchmark": "scan_memory", "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "cpus": os.cpu_count(), "generated": gen, "attack_share": args.attack_share,
              "benign_pool": args.benign_pool, **results,
              "size_ratio": round(results["full"]["file_mb"] / max(results["small"]["file_mb"], 1e-9), 1),
              "rss_ratio": round(results["full"]["peak_rss_mb"] / results["small"]["peak_rss_mb"], 3)}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
