"""Input identification: accuracy on held-out items of every source, confusion matrix, speed, size.

Reads the labelled corpus that ``python -m secllm.identify.train`` built (``--corpus``; its test
split is read here and nowhere else) and the shipped model, and writes
``reports/identify/identify.json``, ``identify.md`` and ``confusion.png``:

* accuracy per source and overall (an ``unknown`` answer counts as wrong), with the share decided
  by a structural rule, the rules' precision, the family accuracy of log lines;
* file-level identification of real files: every capture of the ordinary corpus's test split and
  of the shared datasets, every loghub log, the dataset line files;
* throughput on one core (process CPU time; BLAS limited to one thread): batched and one by one,
  on log lines (the model's path), access-log lines (the rules' path) and a mix of all test items;
* the model's size on disk.

    python benchmarks/identify.py --corpus runs/identify/corpus.jsonl.gz --out reports/identify
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from secllm.identify import KINDS, Identifier  # noqa: E402
from secllm.identify.corpus import read_corpus  # noqa: E402
from secllm.identify.model import DEFAULT_IDENTIFY_DIR  # noqa: E402
from secllm.detect.route import task_for  # noqa: E402

TARGET = 0.99


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 5) if d else None


def accuracy_tables(items, results) -> dict:
    by_src: dict[str, Counter] = defaultdict(Counter)
    conf: Counter = Counter()
    fam: dict[str, Counter] = defaultdict(Counter)
    fam_conf: Counter = Counter()
    wrong_examples: dict[str, list] = defaultdict(list)
    for it, r in zip(items, results):
        c = by_src[it.source]
        c["n"] += 1
        ok = r.kind == it.kind
        c["right"] += ok
        # what a miss costs downstream: the item reaches the same judge (or is unsupported either way)
        c["same_route"] += task_for(r.kind, r.family) == task_for(it.kind, it.family)
        c["rule"] += r.method == "rule"
        c["rule_right"] += r.method == "rule" and ok
        c["unknown"] += r.kind == "unknown"
        conf[(it.kind, r.kind)] += 1
        if it.kind == "log-line" and ok:
            fam[it.source]["n"] += 1
            fam[it.source]["right"] += r.family == it.family
            if r.family != it.family:
                fam_conf[(it.family, r.family)] += 1
        if not ok and len(wrong_examples[it.source]) < 5:
            wrong_examples[it.source].append({"kind": r.kind, "confidence": round(r.confidence, 3), "text": it.text[:160]})
    per_source = {}
    for s, c in sorted(by_src.items()):
        per_source[s] = {
            "kind": Counter(i.kind for i in items if i.source == s).most_common(1)[0][0],
            "n": c["n"], "accuracy": _rate(c["right"], c["n"]), "unknown": _rate(c["unknown"], c["n"]),
            "by_rule": _rate(c["rule"], c["n"]),
            "rule_precision": _rate(c["rule_right"], c["rule"]),
            "log_family_accuracy": _rate(fam[s]["right"], fam[s]["n"]) if fam[s]["n"] else None,
        }
    n = sum(c["n"] for c in by_src.values())
    right = sum(c["right"] for c in by_src.values())
    rule = sum(c["rule"] for c in by_src.values())
    rule_right = sum(c["rule_right"] for c in by_src.values())
    kinds = [k for k in KINDS if any(k in pair for pair in conf)]
    matrix = [[conf[(t, p)] for p in kinds] for t in kinds]
    fam_n = sum(c["n"] for c in fam.values())
    return {
        "overall": {
            "items": n, "accuracy": _rate(right, n),
            "macro_accuracy_over_sources": round(float(np.mean([v["accuracy"] for v in per_source.values()])), 5),
            "by_rule": _rate(rule, n), "rule_precision": _rate(rule_right, rule),
            "unknown": _rate(sum(c["unknown"] for c in by_src.values()), n),
            "log_family_accuracy": _rate(sum(c["right"] for c in fam.values()), fam_n),
            "same_route": _rate(sum(c["same_route"] for c in by_src.values()), n),
        },
        "per_source": per_source,
        "below_target": sorted(s for s, v in per_source.items() if v["accuracy"] < TARGET),
        "confusion": {"labels": kinds, "matrix": matrix},
        "top_confusions": [{"true": t, "predicted": p, "n": k} for (t, p), k in conf.most_common() if t != p][:25],
        "log_family_confusions": [{"true": t, "predicted": p, "n": k} for (t, p), k in fam_conf.most_common(15)],
        "wrong_examples": wrong_examples,
    }


def file_checks(idf: Identifier, items, datasets: Path | None) -> list[dict]:
    """Real files: captures (expected pcap), loghub logs (log-line + family), dataset line files."""
    rows = []
    paths: list[tuple[str, str, str | None]] = []
    for it in items:
        if it.kind == "pcap":
            paths.append((it.text, "pcap", None))
    if datasets:
        from secllm.identify.corpus import LOGHUB_FAMILY

        # captures are identified by rule (no training involved): every one of the shared set
        for p in sorted((datasets / "pcap_ndpi_tests" / "pcap").glob("*")):
            paths.append((str(p), "pcap", None))
        for p in sorted((datasets / "traffic_ustc_tfc2016" / "pcap").glob("*")):
            paths.append((str(p), "pcap", None))
        for system, fam in LOGHUB_FAMILY.items():
            p = datasets / "loghub_2k" / f"{system}_2k.log.gz"
            if p.exists() and system not in ("BGL", "Thunderbird"):  # those carry loghub's label column
                paths.append((str(p), "log-line", fam))
        for rel, kind in (("web_attack_urls_1book/normal-10000.txt.gz", "url"), ("web_attack_urls_1book/sql-10000.txt.gz", "url"),
                          ("web_attack_urls_1book/xss-200000.txt.gz", "url"), ("hdfs_deeplog/hdfs_train.txt.gz", "event-sequence"),
                          ("hdfs_deeplog/hdfs_test_abnormal.txt.gz", "event-sequence")):
            if (datasets / rel).exists():
                paths.append((str(datasets / rel), kind, None))
    seen = set()
    for path, kind, fam in paths:
        if path in seen or not Path(path).exists():
            continue
        seen.add(path)
        f = idf.identify_file(path)
        rows.append({"file": path, "expected": kind if fam is None else f"{kind}/{fam}", "got": f.label, "unit": f.unit,
                     "mixed": f.mixed, "share": round(f.share, 3), "right": f.kind == kind and (fam is None or f.family == fam)})
    return rows


def throughput(idf: Identifier, texts: list[str], single_n: int = 2000) -> dict:
    """Items/s on one core (process CPU time), batched (4096) and one item at a time."""
    idf.identify_batch(texts[:256])  # warm-up
    t = time.process_time()
    w = time.perf_counter()
    idf.identify_batch(texts)
    cpu, wall = time.process_time() - t, time.perf_counter() - w
    one = texts[:single_n]
    t = time.process_time()
    for x in one:
        idf.identify(x)
    cpu1 = time.process_time() - t
    mb = sum(len(x.encode("utf-8", "surrogatepass")) for x in texts) / 1e6
    return {"items": len(texts), "mean_chars": round(float(np.mean([len(x) for x in texts])), 1),
            "batched_items_per_s": round(len(texts) / cpu), "batched_mb_per_s": round(mb / cpu, 2),
            "batched_wall_items_per_s": round(len(texts) / wall),
            "single_items_per_s": round(len(one) / cpu1)}


def plot_confusion(path: Path, labels: list[str], matrix: list[list[int]]) -> None:
    from matplotlib.figure import Figure

    cm = np.asarray(matrix, dtype=float)
    rows = cm.sum(1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    k = len(labels)
    fig = Figure(figsize=(11, 9.5), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(np.sqrt(frac), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), labels, rotation=50, ha="right", fontsize="small")
    ax.set_yticks(range(k), labels, fontsize="small")
    ax.set_xlabel("identified as")
    ax.set_ylabel("true kind")
    ax.set_title("Input identification, held-out test items (counts; colour: sqrt of row share)")
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=6.5,
                        color="white" if frac[i, j] > 0.4 else "black")
    fig.tight_layout()
    fig.savefig(path)


def markdown(rep: dict) -> str:
    o = rep["accuracy"]["overall"]
    lines = [
        "# Input identification: held-out results",
        "",
        f"Command: `{rep['command']}`  ",
        f"Model: `{rep['model']['dir']}` ({rep['model']['bytes'] / 1e6:.2f} MB), trained {rep['model'].get('trained', '?')}",
        "",
        f"**Overall accuracy {o['accuracy']:.4f}** on {o['items']:,} test items (target {TARGET}); mean over sources "
        f"{o['macro_accuracy_over_sources']:.4f}; `unknown` answers {o['unknown']:.4f} (counted wrong); decided by a rule "
        f"{o['by_rule']:.3f} (rule precision {o['rule_precision']}); log-line family accuracy {o['log_family_accuracy']}; "
        f"routed to the same judge as the true kind (`secllm.detect.route.task_for`, unsupported counted as a route) "
        f"{o.get('same_route')}.",
        "",
        "Sources below the target: " + (", ".join(f"`{s}`" for s in rep["accuracy"]["below_target"]) or "none"),
        "",
        "| source | kind | items | accuracy | unknown | by rule | rule precision | log family acc. |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s, v in rep["accuracy"]["per_source"].items():
        lines.append(f"| {s} | {v['kind']} | {v['n']:,} | {v['accuracy']:.4f} | {v['unknown']:.4f} | {v['by_rule']:.3f} | "
                     f"{'' if v['rule_precision'] is None else v['rule_precision']} | "
                     f"{'' if v['log_family_accuracy'] is None else v['log_family_accuracy']} |")
    lines += ["", "## Most frequent confusions (true → identified as)", "", "| true | identified as | items |", "|---|---|---:|"]
    lines += [f"| {c['true']} | {c['predicted']} | {c['n']} |" for c in rep["accuracy"]["top_confusions"]]
    lines += ["", "## Log families confused (kind right, family wrong)", "", "| true | identified as | items |", "|---|---|---:|"]
    lines += [f"| {c['true']} | {c['predicted']} | {c['n']} |" for c in rep["accuracy"]["log_family_confusions"]]
    lines += ["", "![confusion](confusion.png)", "", "## Files", "",
              f"{sum(r['right'] for r in rep['files'])} of {len(rep['files'])} real files identified as expected.", "",
              "| file | expected | identified | unit | mixed | top share |", "|---|---|---|---|---|---:|"]
    for r in rep["files"]:
        if not r["right"] or "pcap" not in r["expected"]:
            lines.append(f"| {html.escape(Path(r['file']).name)} | {r['expected']} | {r['got']} | {r['unit']} | {r['mixed']} | {r['share']} |")
    lines += ["", "(captures identified right are not listed one by one)", "",
              "## Throughput (one core, process CPU time)", "", "| input | items | mean chars | batched items/s | MB/s | one-by-one items/s |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, t in rep["throughput"].items():
        lines.append(f"| {name} | {t['items']:,} | {t['mean_chars']} | {t['batched_items_per_s']:,} | {t['batched_mb_per_s']} | {t['single_items_per_s']:,} |")
    lines += ["", "## Some misses per source (first 5, text cut at 160 characters)", ""]
    for s, ex in rep["accuracy"]["wrong_examples"].items():
        for e in ex:
            shown = html.escape(e["text"][:160]).replace("`", "'").replace("\n", " ")
            shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in shown)  # NULs of UTF-16 text
            lines.append(f"- `{s}` → {e['kind']} ({e['confidence']}): `{shown}`")
    lines += ["", f"Machine: {rep['machine'].get('cpu_model')}, {rep['machine'].get('cpu_count')} CPUs; load average at start {rep['load_average']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("runs/identify/corpus.jsonl.gz"))
    ap.add_argument("--model", type=Path, default=DEFAULT_IDENTIFY_DIR)
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--out", type=Path, default=Path("reports/identify"))
    ap.add_argument("--throughput-items", type=int, default=20000)
    a = ap.parse_args(argv)
    from secllm.eval.report import machine_info
    from secllm.paths import datasets_dir

    if not a.corpus.exists():
        print(f"no corpus at {a.corpus}: run python -m secllm.identify.train first", file=sys.stderr)
        return 2
    try:
        datasets = datasets_dir(a.datasets)
    except FileNotFoundError:
        datasets = None
    idf = Identifier.load(a.model)
    load_avg = [round(x, 2) for x in os.getloadavg()]
    test = [i for i in read_corpus(a.corpus) if i.split == "test"]
    text_items = [i for i in test if i.kind != "pcap"]
    t0 = time.time()
    results = idf.identify_batch([i.text for i in text_items])
    acc = accuracy_tables(text_items, results)
    files = file_checks(idf, [i for i in test if i.kind == "pcap"], datasets)
    rng = random.Random(0)
    logs = [i.text for i in text_items if i.kind == "log-line"]
    access = [i.text for i in text_items if i.kind == "access-log"]
    mix = [i.text for i in text_items]
    tp = {
        "log lines (model path)": throughput(idf, rng.sample(logs, min(len(logs), a.throughput_items))),
        "access-log lines (rule path)": throughput(idf, rng.sample(access, min(len(access), a.throughput_items))),
        "all test items, mixed": throughput(idf, rng.sample(mix, min(len(mix), a.throughput_items))),
    }
    size = sum(p.stat().st_size for p in Path(a.model).iterdir() if p.is_file())
    rep = {
        "command": "python benchmarks/identify.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": {"dir": str(a.model), "bytes": size, "labels": idf.labels, "threshold": idf.threshold,
                  "features": idf.cfg.to_json(), "trained": idf.meta.get("trained")},
        "accuracy": acc,
        "files": files,
        "throughput": tp,
        "seconds": round(time.time() - t0, 1),
        "machine": machine_info(),
        "load_average": load_avg,
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "identify.json").write_text(json.dumps(rep, indent=1, ensure_ascii=False) + "\n")
    plot_confusion(a.out / "confusion.png", acc["confusion"]["labels"], acc["confusion"]["matrix"])
    (a.out / "identify.md").write_text(markdown(rep))
    o = acc["overall"]
    print(f"accuracy {o['accuracy']} on {o['items']} test items; below {TARGET}: {acc['below_target']}")
    print(f"files right: {sum(r['right'] for r in files)}/{len(files)}; throughput: " +
          "; ".join(f"{k}: {v['batched_items_per_s']}/s batched, {v['single_items_per_s']}/s single" for k, v in tp.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
