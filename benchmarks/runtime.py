"""Runtime benchmark: detect throughput per backend, batch size and thread count; API latency; server RSS.

Usage (the full run takes minutes on 2 cores; ``--limit`` makes it quick)::

    python benchmarks/runtime.py --model runs/web-pretrained              # HttpParams test payloads
    python benchmarks/runtime.py --model runs/web --inputs reqs.txt --limit 200 --json out.json

For each backend (torch, onnx fp32, onnx int8), batch size (1, 32, 256) and thread count (1, 2)
the whole ``detect`` path is timed (part splitting, canonicalisation, tokenisation, model; no
evidence unless ``--evidence``) on the same inputs, median of ``--repeats`` runs. Then a real
``secllm serve`` is started on a free loopback port and single-item requests are sent one at a
time: p50/p99 latency, and the server's peak RSS (VmHWM) at the end.

The baseline, in the same run on the same machine: OWASP CRS 3.3 in ModSecurity (Debian nginx,
paranoia level 1, as many nginx workers as CPUs) receiving the same inputs as real HTTP requests
from a threaded client (``secllm.eval.rules.ModSecurityCRS.benchmark``), once as bare payloads
(``GET /?q=<payload>``) and once as whole raw HTTP requests: every payload placed in a realistic
browser request (headers, cookies; alternately a query parameter of a GET and a form field of a
POST body), which SecLLM then splits into parts and judges whole. The ratio SecLLM / CRS is
printed for both shapes (median of ``--repeats`` for SecLLM; CRS best of its sequential and
threaded client). ``--no-crs`` skips it (no nginx/ModSecurity installed).

When the model directory has no ONNX export, one is made in a temporary directory (the model
directory is not modified).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from secllm.detect.detector import WebAttackDetector
from secllm.paths import DEFAULT_MODEL_DIR


def load_inputs(path: str | None, limit: int | None) -> tuple[list[str], str, list[str] | None]:
    """One item per line of ``path``; default: the HttpParams author test split (payloads, with labels)."""
    labels = None
    if path:
        items = [ln.rstrip("\r\n") for ln in open(path, encoding="utf-8", errors="surrogateescape") if ln.strip()]
        name = Path(path).name
    else:
        from secllm.data.sources import http_params
        from secllm.paths import datasets_dir

        # the same rows as load_web_attack(...)["test:http_params"], without building every split
        rows = [r for r in http_params(datasets_dir()) if r.meta["split"] == "test"]
        # the file is grouped by label (benign first): a seeded shuffle makes every prefix used below
        # (batch 1 on 1,000 items, CRS on --crs-limit) a representative sample of the whole set
        random.Random(0).shuffle(rows)
        items, labels = [r.text for r in rows], [r.label for r in rows]
        name = "http_params test"
    if limit:
        items, labels = items[:limit], (labels[:limit] if labels else None)
    return items, name, labels


def accuracy(det: WebAttackDetector, items: list[str], labels: list[str], kind: str) -> dict:
    """Macro-F1 (attack type) and binary F1 of one backend on labeled inputs; predictions kept for agreement."""
    from sklearn.metrics import f1_score

    det.clear_cache()
    res = det.detect(items, evidence=False, kind=kind)
    pred = [r.attack_type if r.label == "malicious" else "benign" for r in res]
    stages = Counter(r.stage for r in res)
    return {"macro_f1": round(float(f1_score(labels, pred, average="macro", labels=sorted(set(labels)))), 4),
            "binary_f1": round(float(f1_score([l != "benign" for l in labels], [p != "benign" for p in pred])), 4),
            "decided_by": {str(k): round(v / len(res), 4) for k, v in sorted(stages.items(), key=lambda kv: str(kv[0]))},
            "scores": [r.score or 0.0 for r in res], "pred": pred}


_UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36"]


def raw_requests(items: list[str]) -> list[str]:
    """Each payload inside a realistic browser request: GET query parameter or POST form field.

    Five browser User-Agents, seven Referers, a unique session cookie per request: header values
    repeat as they do in real traffic (which the detector's exact score cache exploits; the
    benchmark also reports the rate with the cache off).
    """
    from urllib.parse import quote

    out = []
    for k, p in enumerate(items):
        v = quote(p.encode("utf-8", "surrogateescape"), safe="")
        head = (f"Host: shop.example.com\r\nUser-Agent: {_UAS[(k * 7) % len(_UAS)]}\r\n"
                "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n"
                f"Referer: https://shop.example.com/catalog?page={k % 7}\r\n"
                f"Cookie: session=9f3a{k:06d}c2; lang=en\r\n")
        if k % 2:
            body = f"item={k}&q={v}&submit=Search"
            out.append(f"POST /catalog/search HTTP/1.1\r\n{head}Content-Type: application/x-www-form-urlencoded\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}")
        else:
            out.append(f"GET /catalog/item?id={k}&q={v}&sort=asc HTTP/1.1\r\n{head}Connection: close\r\n\r\n")
    return out


def crs_throughput(items: list[str], workers: int, client_threads: int, kind: str = "auto") -> dict:
    """OWASP CRS PL1 in ModSecurity/nginx on the same inputs: best of sequential and threaded client."""
    from secllm.eval.rules import ModSecurityCRS

    with ModSecurityCRS(paranoia_level=1, nginx_workers=workers) as waf:
        t = waf.benchmark(items, threads=client_threads, kinds=[kind] * len(items))
    best = max(t["sequential_requests_per_s"], t["threaded_requests_per_s"])
    return {"nginx_workers": workers, "client_threads": client_threads,
            "sequential_requests_per_s": round(t["sequential_requests_per_s"], 1),
            "threaded_requests_per_s": round(t["threaded_requests_per_s"], 1), "requests_per_s": round(best, 1)}


def ensure_onnx(model_dir: Path, tmp: Path) -> Path:
    """A directory with both graphs of the model (and of its cascade's fast model, if it has one;
    its lexical stage is copied)."""
    fast = model_dir / "fast"
    has = lambda d: (d / "model.onnx").exists() and (d / "model.int8.onnx").exists()  # noqa: E731
    if has(model_dir) and (not fast.exists() or has(fast)):
        return model_dir
    import shutil

    from secllm.runtime.onnx import export_onnx

    out = tmp / "onnx"
    export_onnx(model_dir, out)
    if fast.exists():
        export_onnx(fast, out / "fast")
    if (model_dir / "lexical").is_dir():           # the cascade's first stage: numpy weights, copied as is
        shutil.copytree(model_dir / "lexical", out / "lexical")
    return out


def throughput(det: WebAttackDetector, items: list[str], batch: int, repeats: int, evidence: bool,
               kind: str = "auto") -> float:
    """Median items/s of the detect path over ``repeats`` passes (one warm-up call first)."""
    det.detect(items[:batch], evidence=evidence, kind=kind)
    rates = []
    for _ in range(repeats):
        det.clear_cache()              # each pass starts cold: only repeats within the stream hit
        t0 = time.perf_counter()
        for i in range(0, len(items), batch):
            det.detect(items[i:i + batch], evidence=evidence, kind=kind)
        rates.append(len(items) / (time.perf_counter() - t0))
    return statistics.median(rates)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None                                   # not Linux


def api_latency(model_dir: Path, backend: str, items: list[str], n: int, threads: int | None,
                tasks_dir: Path | None = None) -> dict:
    """Start the real server, send ``n`` single-item requests one at a time, stop it.

    With ``tasks_dir`` the server also loads every task adapter of that directory (PyTorch, one
    shared base): the peak RSS is then that of a server with every task loaded."""
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "secllm.cli", "serve", "--port", str(port), "--model", str(model_dir),
           "--backend", backend]
    if tasks_dir is not None:
        cmd += ["--tasks-model", str(tasks_dir)]
    if threads:
        cmd += ["--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if k != "SECLLM_API_KEYS"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited at start; run the command by hand: " + " ".join(cmd))
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 120 s")
            time.sleep(0.2)
        lat = []
        with httpx.Client(base_url=base, timeout=30) as c:       # keep-alive: latency, not TCP setup
            for k in range(n + 5):
                body = {"items": [{"text": items[k % len(items)]}]}
                t0 = time.perf_counter()
                r = c.post("/v1/detect", json=body)
                dt = time.perf_counter() - t0
                r.raise_for_status()
                if k >= 5:                                        # 5 warm-up requests
                    lat.append(dt * 1000)
        lat.sort()
        tasks = httpx.get(base + "/v1/tasks", timeout=10).json()["tasks"]
        return {"backend": backend, "tasks": [t["name"] for t in tasks], "requests": len(lat), "p50_ms": round(lat[len(lat) // 2], 2),
                "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
                "peak_rss_mb": _peak_rss_mb(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, help="fine-tuned model directory")
    ap.add_argument("--inputs", help="file with one item per line (default: HttpParams test payloads)")
    ap.add_argument("--limit", type=int, default=None, help="use the first N inputs")
    ap.add_argument("--backends", default="torch,onnx,onnx-int8")
    ap.add_argument("--batch-sizes", default="1,32,256")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--workers", default="",
                    help="also worker processes (secllm.detect.pool, 1 ONNX thread each), e.g. 1,2; the comparison "
                         "with CRS uses the fastest configuration measured")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--evidence", action="store_true", help="compute evidence spans too")
    ap.add_argument("--api-requests", type=int, default=200, help="single-item requests for the latency test")
    ap.add_argument("--api-backend", default="onnx")
    ap.add_argument("--no-api", action="store_true")
    ap.add_argument("--no-crs", action="store_true", help="skip the ModSecurity CRS baseline")
    ap.add_argument("--kind", choices=["auto", "payload", "url", "query", "http"], default=None,
                    help="what the inputs are (default: payload for the HttpParams rows, auto for --inputs)")
    ap.add_argument("--crs-client-threads", type=int, default=8)
    ap.add_argument("--crs-limit", type=int, default=5000, help="inputs sent to CRS (and judged raw), first N")
    ap.add_argument("--tasks-model", type=Path, default=None,
                    help="also measure a server with every task adapter of this directory loaded (peak RSS)")
    ap.add_argument("--json", dest="json_out", help="also write the results here")
    args = ap.parse_args(argv)

    items, name, labels = load_inputs(args.inputs, args.limit)
    # the HttpParams rows are parameter values; a user's file is whatever it holds
    kind = args.kind or ("auto" if args.inputs else "payload")
    backends = args.backends.split(",")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        need_onnx = any(b.startswith("onnx") for b in backends) or (not args.no_api and args.api_backend.startswith("onnx"))
        onnx_dir = ensure_onnx(args.model, Path(tmp)) if need_onnx else args.model
        print(f"{len(items)} inputs ({name}); model {args.model}; {os.cpu_count()} CPUs; "
              f"{platform.processor() or platform.machine()}", flush=True)
        print(f"{'backend':<10} {'threads':>7} {'batch':>6} {'cascade':>8} {'items/s':>10}", flush=True)
        for be in backends:
            for th in threads:
                det = WebAttackDetector.load(onnx_dir if be.startswith("onnx") else args.model, threads=th, backend=be)
                for b in batches:
                    for casc in ([True, False] if det.has_cascade else [False]):
                        det.cascade = casc
                        # batch 1 runs one model call per item: the first 1,000 items are enough
                        rate = throughput(det, items[:1000] if b == 1 else items, b, args.repeats, args.evidence, kind)
                        rows.append({"backend": be, "threads": th, "batch": b, "cascade": casc,
                                     "items_per_s": round(rate, 1)})
                        print(f"{be:<10} {th:>7} {b:>6} {'on' if casc else 'off':>8} {rate:>10.1f}", flush=True)
        # accuracy per backend on the same (labeled) inputs: what int8 quantisation costs
        acc = {}
        if labels:
            for be in backends:
                det = WebAttackDetector.load(onnx_dir if be.startswith("onnx") else args.model, threads=max(threads),
                                             backend=be)
                det.cascade = False
                acc[be] = accuracy(det, items, labels, kind)
                if det.has_cascade:
                    det.cascade = True
                    a = accuracy(det, items, labels, kind)
                    acc[be + "+cascade"] = a
            ref = acc[backends[0]]
            for be, a in acc.items():
                a["label_agreement_vs_" + backends[0]] = round(sum(p == q for p, q in zip(a["pred"], ref["pred"]))
                                                              / len(items), 5)
                a["max_abs_score_diff_vs_" + backends[0]] = round(max(abs(x - y) for x, y in zip(a["scores"],
                                                                                                  ref["scores"])), 5)
            for be, a in acc.items():
                del a["scores"], a["pred"]
                print(f"accuracy {be:<10} " + ", ".join(f"{k} {v}" for k, v in a.items()), flush=True)
        # worker processes (one detector each, 1 thread): the cores split the Python part too
        for w in [int(x) for x in args.workers.split(",") if x]:
            from secllm.detect.pool import DetectorPool

            be = max(rows, key=lambda r: r["items_per_s"])["backend"]
            b = max(batches)
            with DetectorPool(onnx_dir if be.startswith("onnx") else args.model, workers=w, backend=be,
                              threads=1) as pool:
                rate = throughput(pool, items, b, args.repeats, args.evidence, kind)
            rows.append({"backend": be, "threads": 1, "workers": w, "batch": b, "cascade": True,
                         "items_per_s": round(rate, 1)})
            print(f"{be:<10} {'1 x ' + str(w) + 'p':>7} {b:>6} {'on':>8} {rate:>10.1f}", flush=True)
        # whole raw requests: the best SecLLM configuration of the table above against CRS
        best = max(rows, key=lambda r: r["items_per_s"])
        raw = raw_requests(items[:args.crs_limit])
        det_dir = onnx_dir if best["backend"].startswith("onnx") else args.model

        def make(cache_size: int | None = None, cascade: bool | None = None):
            cascade = bool(best.get("cascade")) if cascade is None else cascade
            if best.get("workers"):
                from secllm.detect.pool import DetectorPool

                return DetectorPool(det_dir, workers=best["workers"], backend=best["backend"], threads=1,
                                    cache_size=cache_size, cascade=cascade)
            d = WebAttackDetector.load(det_dir, threads=best["threads"], backend=best["backend"])
            d.cascade = cascade
            if cache_size is not None:
                d.set_cache_size(cache_size)
            return d

        def measure(d) -> tuple[float, float]:
            r = throughput(d, raw, best["batch"], args.repeats, args.evidence)
            p = throughput(d, items[:args.crs_limit], best["batch"], args.repeats, args.evidence, kind)
            if best.get("workers"):
                d.close()
            return p, r

        payload_rate, raw_rate = measure(make())
        pay_nocache, raw_nocache = measure(make(cache_size=0))
        casc_txt = f", cascade {'on' if best.get('cascade') else 'off'}"
        where = f"{best['workers']} worker processes x 1 thread" if best.get("workers") else f"{best['threads']} threads"
        print(f"best SecLLM configuration ({best['backend']}, {where}, batch {best['batch']}"
              f"{casc_txt}) on the first {len(raw)} inputs: payloads {payload_rate:.1f}/s, whole raw requests "
              f"{raw_rate:.1f}/s (score cache off: payloads {pay_nocache:.1f}/s, raw requests {raw_nocache:.1f}/s)",
              flush=True)
        comparison = {"secllm": {**{k: best.get(k) for k in ("backend", "threads", "workers", "batch", "cascade")},
                                 "n": len(raw),
                                 "payloads_per_s": round(payload_rate, 1), "raw_requests_per_s": round(raw_rate, 1),
                                 "payloads_per_s_no_cache": round(pay_nocache, 1),
                                 "raw_requests_per_s_no_cache": round(raw_nocache, 1)}}
        if best.get("cascade"):            # the same comparison without the cascade
            nc_p, nc_r = measure(make(cascade=False))
            comparison["secllm_no_cascade"] = {"payloads_per_s": round(nc_p, 1), "raw_requests_per_s": round(nc_r, 1)}
        if not args.no_crs:
            workers = os.cpu_count() or 1
            cp = crs_throughput(items[:args.crs_limit], workers, args.crs_client_threads, kind)
            cr = crs_throughput(raw, workers, args.crs_client_threads)
            comparison["crs_pl1"] = {"payloads": cp, "raw_requests": cr}
            comparison["ratio_payloads"] = round(payload_rate / cp["requests_per_s"], 2)
            comparison["ratio_raw_requests"] = round(raw_rate / cr["requests_per_s"], 2)
            comparison["ratio_raw_requests_no_cache"] = round(raw_nocache / cr["requests_per_s"], 2)
            comparison["ratio_payloads_no_cache"] = round(pay_nocache / cp["requests_per_s"], 2)
            if "secllm_no_cascade" in comparison:
                nc = comparison["secllm_no_cascade"]
                comparison["ratio_payloads_no_cascade"] = round(nc["payloads_per_s"] / cp["requests_per_s"], 2)
                comparison["ratio_raw_requests_no_cascade"] = round(nc["raw_requests_per_s"] / cr["requests_per_s"], 2)
            print(f"OWASP CRS PL1 in ModSecurity/nginx ({workers} workers, client threads {args.crs_client_threads}): "
                  f"payloads {cp['requests_per_s']}/s, whole raw requests {cr['requests_per_s']}/s", flush=True)
            print(f"SecLLM / CRS throughput: payloads {comparison['ratio_payloads']}x, "
                  f"raw requests {comparison['ratio_raw_requests']}x", flush=True)
        api = None
        if not args.no_api:
            api = api_latency(onnx_dir if args.api_backend.startswith("onnx") else args.model, args.api_backend,
                              items, min(args.api_requests, max(len(items), 1) * 10), max(threads))
            print(f"API single-item latency ({api['backend']}, {api['requests']} requests): p50 {api['p50_ms']} ms, "
                  f"p99 {api['p99_ms']} ms; server peak RSS {api['peak_rss_mb']} MB", flush=True)
        api_all = None
        if not args.no_api and args.tasks_model:
            api_all = api_latency(onnx_dir if args.api_backend.startswith("onnx") else args.model, args.api_backend,
                                  items, min(args.api_requests, max(len(items), 1) * 10), max(threads),
                                  tasks_dir=args.tasks_model)
            print(f"API with every task loaded ({', '.join(api_all['tasks'])}): p50 {api_all['p50_ms']} ms, "
                  f"p99 {api_all['p99_ms']} ms; server peak RSS {api_all['peak_rss_mb']} MB", flush=True)
    result = {"inputs": name, "n": len(items), "model": str(args.model), "cpus": os.cpu_count(),
              "throughput": rows, "accuracy": acc, "vs_crs": comparison, "api": api, "api_all_tasks": api_all}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
