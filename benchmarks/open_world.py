"""Open world (issue 17), one command: false alarms on real ordinary data, routed scans of every
loghub system, the regression suite, and the cost of identification and routing.

    python benchmarks/open_world.py --out reports/open-world            # ~30-60 min on 2 CPUs
    python benchmarks/open_world.py --sections suite,loghub --max-per-source 500   # quicker

Ordinary data: the ``test`` split of ``secllm.data.ordinary`` (build it with
``python -m secllm.data.ordinary build --out DIR``; default ``/work/data/ordinary`` or
``$SECLLM_ORDINARY``). Nothing here is fitted: every figure is at the shipped thresholds.

Sections
  far      per ordinary source x per task that would judge it: alerts / items. Routed (what
           ``secllm detect``/``scan`` do by default) and, for each task, the task applied directly
           to its own modality (``--task url`` on URLs, the web model on prose typed into a form...).
  loghub   ``secllm scan``'s routing over every loghub_2k system: lines, kinds, tasks, alerts on
           ordinary lines; BGL's labelled alerts and brute-force authentication failures (sources
           with >= 3 failures, the ordinary corpus' rule) counted apart.
  suite    tests/fixtures/open_world_suite.jsonl: right / wrong, every miss listed.
  cost     access-log scan throughput with routing vs ``--web-only`` (same run, medians of 3).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SECLLM_DATASETS", ROOT.parent / "shared" / "datasets"))
ORDINARY = Path(os.environ.get("SECLLM_ORDINARY", "/work/data/ordinary"))
WEB_SOURCE_KIND = {"values": "payload", "browser-values": "payload", "browser-http": "http-request",
                   "browser-access-log": "access-log"}
URL_SOURCES = ("browser-urls", "debian-homepages", "doc-urls", "npm-urls", "python-urls")


def _sample(items: list, n: int, seed: int = 0) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items[:n]


# outcomes that raise nothing; every other label of a judged item is an alert (the web model's
# "malicious", a URL class, a traffic malware family, a cti-attack technique, "anomalous")
QUIET = {"benign", "normal", "unknown", "none", "no-technique", None}


def _alerts(results) -> list:
    return [r for r in results if r.status in ("ok", "too_large") and r.label not in QUIET]


def _row(source: str, task: str, how: str, texts: list[str], results) -> dict:
    al = _alerts(results)
    statuses = Counter(r.status for r in results)
    return {"source": source, "task": task, "how": how, "n": len(results), "alerts": len(al),
            "far_pct": round(100 * len(al) / max(1, len(results)), 3),
            "types": dict(Counter((r.attack_type or r.label) for r in al).most_common(5)),
            "statuses": dict(statuses),
            "kinds": dict(Counter(r.input_kind for r in results if r.input_kind).most_common(6)),
            "examples": [t[:90] for t, r in zip(texts, results) if r in al][:5]}


def section_far(router, n: int) -> list[dict]:
    from secllm.data.ordinary import iter_ordinary

    by: dict[tuple[str, str], list[str]] = defaultdict(list)
    for it in iter_ordinary(ORDINARY, split="test"):
        by[(it.source, it.kind)].append(it.text)
    rows = []
    for (src, kind), texts in sorted(by.items()):
        if kind == "pcap":
            continue
        texts = _sample(texts, n)
        t0 = time.process_time()
        res = router.judge(texts, evidence=False)                       # what `secllm detect` does
        row = _row(src, "routed", "identify + route", texts, res)
        row["cpu_s"] = round(time.process_time() - t0, 2)
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False)[:300], flush=True)
        direct = None
        if kind in ("payload", "url", "http-request", "access-log", "text-en", "text-zh"):
            web_kind = {"text-en": "payload", "text-zh": "payload", "access-log": "access-log"}.get(kind, kind)
            direct = ("web-attack", "as a web " + ("value" if web_kind == "payload" else web_kind),
                      router.judge(texts, evidence=False, kinds=[(web_kind, None, 1.0)] * len(texts)))
        if direct:
            rows.append(_row(src, direct[0], direct[1], texts, direct[2]))
            print(json.dumps(rows[-1], ensure_ascii=False)[:300], flush=True)
        for task in _direct_tasks(kind):
            try:
                det = router.task_detector(task)
            except Exception as exc:  # noqa: BLE001
                print(f"skip {task}: {exc}", file=sys.stderr)
                continue
            res = det.detect(texts, evidence=False)
            rows.append(_row(src, task, f"--task {task}", texts, res))
            print(json.dumps(rows[-1], ensure_ascii=False)[:300], flush=True)
    rows += _far_pcaps(router, by.get(("pcap-ndpi", "pcap"), []))
    return rows


def _direct_tasks(kind: str) -> list[str]:
    return {"url": ["url"], "script-powershell": ["script"], "text-en": ["cti-attack"]}.get(kind, [])


def _far_pcaps(router, paths: list[str]) -> list[dict]:
    """The traffic task on every flow of the ordinary captures (flows it calls a malware family)."""
    if not paths:
        return []
    det = router.task_detector("traffic")
    flows, alerts, types, statuses = 0, 0, Counter(), Counter()
    for p in paths:
        try:
            res = det.detect_pcap(p, evidence=False)
        except Exception as exc:  # noqa: BLE001
            statuses[f"error:{type(exc).__name__}"] += 1
            continue
        for r in res:
            statuses[r.status] += 1
            if r.status != "ok":
                continue
            flows += 1
            # the traffic task names an application or a malware family (attack_type stays empty):
            # a flow called one of the task's malicious labels is an alert
            if r.label == "malicious" or r.label in (det.spec.malicious_labels or ()):
                alerts += 1
                types[r.attack_type or r.label] += 1
    row = {"source": "pcap-ndpi", "task": "traffic", "how": "--task traffic, every flow", "n": flows,
           "alerts": alerts, "far_pct": round(100 * alerts / max(1, flows), 3), "types": dict(types.most_common(5)),
           "statuses": dict(statuses), "captures": len(paths)}
    print(json.dumps(row)[:300], flush=True)
    return [row]


def _bruteforce_apart() -> set[tuple[str, str]]:
    """(system, line) pairs the ordinary corpus counts apart as brute force (not ordinary)."""
    p = ORDINARY / "apart" / "loghub-bruteforce.jsonl.gz"
    out = set()
    if p.exists():
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for ln in f:
                d = json.loads(ln)
                out.add((d.get("family") or d.get("origin", ""), d["text"]))
    return out


def section_loghub(router_factory) -> list[dict]:
    from secllm.scan import scan

    apart = {t for _, t in _bruteforce_apart()}
    rows = []
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "secllm-open-world"
    tmp.mkdir(parents=True, exist_ok=True)
    for gz in sorted((DATASETS / "loghub_2k").glob("*_2k.log.gz")):
        system = gz.name.split("_")[0]
        lines = gzip.open(gz, "rt", encoding="utf-8", errors="replace").read().splitlines()
        bgl_alert = set()
        if system == "BGL":                     # strip the label token; remember which lines are alerts
            stripped = []
            for i, ln in enumerate(lines):
                tok, _, rest = ln.partition(" ")
                if tok != "-":
                    bgl_alert.add(i + 1)
                stripped.append(rest)
            lines = stripped
        f = tmp / f"{system}.log"
        f.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = io.StringIO()
        router = router_factory()
        t0 = time.process_time()
        s = scan([f], router, out, all_items=True, evidence=False, progress=False)
        cpu = time.process_time() - t0
        found = [json.loads(x) for x in out.getvalue().splitlines()]
        alerts = [d for d in found if d.get("label") in ("malicious", "too_complex")]
        counted_apart = [d for d in alerts if d.get("line") in bgl_alert or lines[d["line"] - 1] in apart]
        ordinary_alerts = [d for d in alerts if d not in counted_apart]
        n_ord = len(lines) - len(bgl_alert) - sum(1 for ln in lines if ln in apart)
        rows.append({
            "system": system, "lines": len(lines), "routed_kinds": dict(s.kinds.most_common(4)),
            "tasks": dict(s.tasks), "every_line_labelled": sum(1 for d in found if d.get("input_kind")) == len(found),
            "alerts": len(alerts), "alerts_on_ordinary": len(ordinary_alerts),
            "ordinary_alert_pct": round(100 * len(ordinary_alerts) / max(1, n_ord), 3),
            "apart": {"bgl_alerts": len(bgl_alert), "bgl_alerts_caught": sum(1 for d in alerts if d.get("line") in bgl_alert),
                      "bruteforce_lines": sum(1 for ln in lines if ln in apart),
                      "bruteforce_flagged": sum(1 for d in alerts if d.get("attack_type") == "brute-force"),
                      "bruteforce_sources": len({(d.get("details") or {}).get("source") for d in alerts
                                                 if d.get("attack_type") == "brute-force"})},
            "examples": [(d["line"], d.get("attack_type"), lines[d["line"] - 1][:100]) for d in ordinary_alerts[:4]],
            "cpu_s": round(cpu, 2)})
        print(json.dumps(rows[-1], ensure_ascii=False)[:400], flush=True)
    return rows


def section_suite(router) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_open_world import _rows, judge_suite

    rows = _rows()
    _, misses = judge_suite(router, rows)
    out = {"items": len(rows), "right": len(rows) - len(misses), "right_pct": round(100 * (1 - len(misses) / len(rows)), 2),
           "misses": [dict(zip(("id", "form", "expect", "type", "label", "attack_types", "input_kind", "text"), m))
                      for m in misses]}
    print(json.dumps({k: v for k, v in out.items() if k != "misses"}), flush=True)
    return out


def section_cost(model_dir, backend: str, repeats: int = 3) -> dict:
    """Access-log scan: routed (identification + routing) vs --web-only, CPU seconds, same run."""
    from secllm.detect.detector import WebAttackDetector
    from secllm.detect.route import Router
    from secllm.scan import scan

    src = [it for it in _ordinary_texts("browser-access-log")]
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "secllm-open-world" / "access.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("\n".join((src * (1 + 6000 // max(1, len(src))))[:6000]) + "\n")
    web = WebAttackDetector.load(model_dir, backend=backend)
    times = {"web-only": [], "routed": []}
    for _ in range(repeats):
        for name in ("web-only", "routed"):
            web.clear_cache()
            det = web if name == "web-only" else Router(model_dir, backend=backend, web=web)
            t0 = time.process_time()
            scan([log], det, io.StringIO(), evidence=False, progress=False)
            times[name].append(time.process_time() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"lines": 6000, "cpu_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
           "median_cpu_s": {k: round(v, 3) for k, v in med.items()},
           "routing_cost_pct": round(100 * (med["routed"] / med["web-only"] - 1), 2)}
    print(json.dumps(out), flush=True)
    return out


def _ordinary_texts(source: str) -> list[str]:
    from secllm.data.ordinary import iter_ordinary

    return [it.text for it in iter_ordinary(ORDINARY, source=source)]


def write_markdown(res: dict, path: Path) -> None:
    md = ["# Open world: false alarms on ordinary data, routed scans, regression suite", "",
          f"Command: `{res['command']}`  ", f"Machine: {res['machine']}", ""]
    if "far" in res:
        md += ["## False alarms on ordinary data (test split, shipped thresholds)", "",
               "| source | judged by | how | n | alerts | FAR % | alert types | kinds (routed) |",
               "|---|---|---|---:|---:|---:|---|---|"]
        for r in res["far"]:
            md.append(f"| {r['source']} | {r['task']} | {r['how']} | {r['n']} | {r['alerts']} | {r['far_pct']} | "
                      f"{', '.join(f'{k} {v}' for k, v in r['types'].items())} | "
                      f"{', '.join(f'{k} {v}' for k, v in r.get('kinds', {}).items())} |")
        md.append("")
    if "loghub" in res:
        md += ["## `secllm scan` over every loghub_2k system", "",
               "| system | lines | routed as | judged by | alerts | on ordinary lines | % | counted apart |",
               "|---|---:|---|---|---:|---:|---:|---|"]
        for r in res["loghub"]:
            a = r["apart"]
            apart = []
            if a["bgl_alerts"]:
                apart.append(f"BGL alerts {a['bgl_alerts_caught']}/{a['bgl_alerts']} caught")
            if a["bruteforce_lines"]:
                apart.append(f"brute force: {a['bruteforce_flagged']} lines flagged of {a['bruteforce_lines']}, "
                             f"{a['bruteforce_sources']} sources")
            md.append(f"| {r['system']} | {r['lines']} | {', '.join(f'{k} {v}' for k, v in r['routed_kinds'].items())} | "
                      f"{', '.join(f'{k} {v}' for k, v in r['tasks'].items())} | {r['alerts']} | "
                      f"{r['alerts_on_ordinary']} | {r['ordinary_alert_pct']} | {'; '.join(apart) or '-'} |")
        md.append("")
    if "suite" in res:
        s = res["suite"]
        md += ["## Regression suite", "", f"{s['right']} / {s['items']} right ({s['right_pct']} %). Misses:", ""]
        md += [f"- `{m['id']}` ({m['form']}, expected {m['expect']} {m['type'] or ''}): got {m['label']} "
               f"{m['attack_types']} as {m['input_kind']} — `{m['text']!r}`" for m in s["misses"]] or ["- none"]
        md.append("")
    if "cost" in res:
        c = res["cost"]
        md += ["## Cost of identification and routing", "",
               f"Scan of a {c['lines']}-line access log, CPU seconds (medians of 3): web only "
               f"{c['median_cpu_s']['web-only']}, routed {c['median_cpu_s']['routed']} -> "
               f"**{c['routing_cost_pct']} %**.", ""]
    path.write_text("\n".join(md), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "open-world")
    ap.add_argument("--sections", default="suite,loghub,far,cost")
    ap.add_argument("--max-per-source", type=int, default=2000)
    ap.add_argument("--model", default=None, help="web-attack model directory (default: the shipped one)")
    ap.add_argument("--backend", default="onnx-int8")
    a = ap.parse_args(argv)
    from secllm.detect.route import Router
    from secllm.eval.report import machine_info

    secs = a.sections.split(",")
    res: dict = {"command": "python benchmarks/open_world.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "machine": machine_info()}

    def make_router():
        return Router(a.model, backend=a.backend)

    router = make_router()
    if "suite" in secs:
        res["suite"] = section_suite(router)
    if "loghub" in secs:
        res["loghub"] = section_loghub(make_router)
    if "far" in secs:
        res["far"] = section_far(router, a.max_per_source)
    if "cost" in secs:
        res["cost"] = section_cost(a.model, a.backend)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    write_markdown(res, a.out / "report.md")
    print(f"wrote {a.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
