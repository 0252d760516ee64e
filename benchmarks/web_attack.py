"""Web-attack benchmark: pretrained vs random-init fine-tune vs TF-IDF + LR, in-source and cross-source.

Usage (after the recipe in scripts/recipe_default_model.sh has produced the models):

    python benchmarks/web_attack.py \
        --pretrained runs/web-pretrained --random runs/web-random \
        --pretrained-no1book runs/web-pretrained-no1book --random-no1book runs/web-random-no1book \
        --out reports/web-attack

Writes one report directory per test set (report.md / report.json / PNG plots) and prints a
summary. Test splits are read here only; thresholds come from each model's validation run.
Throughput is measured on the HttpParams test payloads through the full ``detect`` path
(canonicalisation, part splitting, model), and for TF-IDF + LR on the same inputs, in this run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from secllm.data.corpus import model_text
from secllm.data.split import split_manifest
from secllm.detect.detector import WebAttackDetector
from secllm.eval.baselines import LengthOnly, TfidfLogReg
from secllm.eval.report import machine_info, write_report
from secllm.paths import datasets_dir
from secllm.tasks.web_attack import LABELS, load_web_attack


def model_system(det: WebAttackDetector, ex, labels: list[str]) -> dict:
    # rows of the payload lists are parameter values (a bare "/etc/passwd" is not a URL): say so
    kinds = ["payload" if m == "payload" else "auto" for m in ex.modalities]
    det.clear_cache()
    t0 = time.perf_counter()
    res = det.detect(ex.texts, evidence=False, kind=kinds)
    dt = time.perf_counter() - t0
    y_score = [r.score if r.score is not None else 0.0 for r in res]
    y_pred = [r.attack_type if r.label == "malicious" else "benign" for r in res]
    return {"y_true": ex.labels, "y_pred": y_pred, "y_score": y_score, "labels": labels,
            "threshold": det.threshold, "timing": {"predict_s": round(dt, 2), "items_per_s": round(len(ex) / dt, 1)}}


def baseline_fit(cls, train, **kw):
    t0 = time.perf_counter()
    m = cls(**kw).fit([model_text(t, m) for t, m in zip(train.texts, train.modalities)], train.labels)
    return m, time.perf_counter() - t0


def baseline_threshold(m, val) -> float:
    from secllm.tasks.finetune import best_threshold

    p = m.predict_proba([model_text(t, mm) for t, mm in zip(val.texts, val.modalities)])
    bi = list(m.classes_).index("benign")
    return best_threshold(np.array([y != "benign" for y in val.labels]), 1 - p[:, bi])


def baseline_system(m, ex, labels: list[str], threshold: float, fit_s: float) -> dict:
    t0 = time.perf_counter()
    p = m.predict_proba([model_text(t, mm) for t, mm in zip(ex.texts, ex.modalities)])
    dt = time.perf_counter() - t0
    classes = list(m.classes_)
    bi = classes.index("benign")
    mal = 1 - p[:, bi]
    q = p.copy()
    q[:, bi] = -1
    top = [classes[i] for i in q.argmax(1)]
    y_pred = [t if s >= threshold else "benign" for t, s in zip(top, mal)]
    return {"y_true": ex.labels, "y_pred": y_pred, "y_score": mal.tolist(), "labels": labels, "threshold": threshold,
            "timing": {"fit_s": round(fit_s, 1), "predict_s": round(dt, 2), "items_per_s": round(len(ex) / dt, 1)}}


ATTACK_PCAPS = {"WebattackRCE", "WebattackSQLinj", "sql_injection", "log4j-webapp-exploit", "dotenv", "xss"}


def pcap_raw_requests(root: Path):
    """Whole raw HTTP requests reassembled from the nDPI test captures: a cross-source test of
    full requests from sites and clients never seen in training. Label by capture: the attack
    captures (Nikto/RCE scan, SQLi, log4shell, .env probe) are malicious, every other capture's
    requests benign. Labels are per file, so a few benign-looking scanner requests count as
    malicious (noisy, conservative for recall)."""
    from secllm.data.readers import reassemble_http_from_pcap
    from secllm.tasks.finetune import Examples

    texts, labels, files = [], [], []
    for p in sorted((root / "pcap_ndpi_tests" / "pcap").glob("*")):
        stem = p.name.split(".")[0]
        for r in reassemble_http_from_pcap(p):
            if r.error or not r.text.strip():
                continue
            texts.append(r.text)
            labels.append("malicious" if stem in ATTACK_PCAPS else "benign")
            files.append(stem)
    return Examples(texts, ["http"] * len(texts), labels, files)


def parts_max_proba(m, texts: list[str]) -> np.ndarray:
    """A text baseline applied like the detector: max malicious probability over the parts."""
    from secllm.data.http import split_web_input

    owners, part_texts = [], []
    for k, t in enumerate(texts):
        for p in split_web_input(t, with_target=True)[1]:         # the detector's parts, whole URL first
            if p.text.strip():
                owners.append(k)
                part_texts.append(model_text(p.text, "payload"))
    p = m.predict_proba(part_texts)
    bi = list(m.classes_).index("benign")
    out = np.zeros(len(texts))
    for o, v in zip(owners, 1 - p[:, bi]):
        out[o] = max(out[o], v)
    return out


def throughput(det: WebAttackDetector, texts: list[str], repeats: int = 3, batch: int = 256,
               kind: str = "payload") -> dict:
    """Median payloads/s of the full detect path over ``repeats`` passes."""
    rates = []
    for _ in range(repeats):
        det.clear_cache()                       # each pass cold: repeats within the test set still hit
        t0 = time.perf_counter()
        for i in range(0, len(texts), batch):
            det.detect(texts[i:i + batch], evidence=False, kind=kind)
        rates.append(len(texts) / (time.perf_counter() - t0))
    return {"median_items_per_s": round(statistics.median(rates), 1), "runs": [round(r, 1) for r in rates],
            "items": len(texts), "batch": batch}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pretrained", required=True)
    ap.add_argument("--random", default=None)
    ap.add_argument("--probe", default=None, help="frozen-base linear-probe model (optional)")
    ap.add_argument("--pretrained-no1book", default=None)
    ap.add_argument("--random-no1book", default=None)
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--out", default="reports/web-attack")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="throughput passes (0: skip the throughput measurement)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep test-set reports already in --out (finish an interrupted run, or re-measure throughput)")
    args = ap.parse_args(argv)

    root = datasets_dir(args.datasets)
    out = Path(args.out)
    data = load_web_attack(root)
    dropped = data.pop("_dropped_overlap")
    data_no1 = load_web_attack(root, use_1book=False)
    data_no1.pop("_dropped_overlap")
    machine = machine_info()

    dets = {"secllm-pretrained": WebAttackDetector.load(args.pretrained, threads=args.threads)}
    if args.random:
        dets["secllm-random-init"] = WebAttackDetector.load(args.random, threads=args.threads)
    if args.probe:
        dets["secllm-linear-probe"] = WebAttackDetector.load(args.probe, threads=args.threads)
    for d in dets.values():
        d.cascade = False              # each model alone; the shipped cascade is its own row
        d.signatures = False           # the model's own skill: no scanner-name signatures
    if dets["secllm-pretrained"].has_cascade:
        # the shipped configuration: cascade + scanner signatures (secllm.detect.signatures)
        dets["secllm-pretrained + cascade (shipped)"] = WebAttackDetector.load(args.pretrained, threads=args.threads)
    print("fitting baselines ...", file=sys.stderr)
    tfidf, tfidf_s = baseline_fit(TfidfLogReg, data["train"])
    tfidf_t = baseline_threshold(tfidf, data["val"])
    length, length_s = baseline_fit(LengthOnly, data["train"])
    length_t = baseline_threshold(length, data["val"])

    manifest_common = {
        "task": "web-attack",
        "train_rows": len(data["train"]), "val_rows": len(data["val"]),
        "train_label_counts": {l: data["train"].labels.count(l) for l in LABELS if l in data["train"].labels},
        "dropped_train_val_rows_equal_to_a_test_row": dropped,
        "split_rule": "HttpParams: author train/test, val = stratified 10% of train (seed 0); "
                      "1book: dedupe, stratified 80/10/10 (seed 0), good-xss subsampled to 20k (seed 0); "
                      "FuzzDB: stratified 80/10/10 by category (seed 0); benign User-Agent strings from "
                      "Debian sqlmap 80/10/10 (seed 0). Train/val rows whose canonical "
                      "text equals a test row of any source were removed.",
    }
    summary = {}
    for test_name in ("test:http_params", "test:1book", "test:fuzzdb"):
        ex = data[test_name]
        rep = _reuse(args, out / test_name.split(":")[1])
        if rep is not None:
            summary[test_name] = {n: _headline(r) for n, r in rep["systems"].items()}
            continue
        # benign always listed: FuzzDB's test set is attack-only, yet the systems still say "benign"
        labels = ["benign"] + [l for l in LABELS if l != "benign" and l in set(ex.labels)]
        systems = {name: model_system(d, ex, labels) for name, d in dets.items()}
        systems["tfidf-char-lr"] = baseline_system(tfidf, ex, labels, tfidf_t, tfidf_s)
        systems["length-only"] = baseline_system(length, ex, labels, length_t, length_s)
        manifest = {**manifest_common, "test_set": test_name, "test_rows": len(ex),
                    "test_split": split_manifest(ex.texts, ["test"] * len(ex))}
        rep = write_report(out / test_name.split(":")[1], title=f"Web attack — {test_name}", manifest=manifest,
                           systems=systems, machine=machine, notes=_notes(test_name))
        summary[test_name] = {n: _headline(r) for n, r in rep["systems"].items()}

    # Cross-source: trained without any 1book row, tested on the 1book test split.
    rep = _reuse(args, out / "cross_source_1book") if args.pretrained_no1book else None
    if rep is not None:
        summary["cross_source_1book"] = {n: _headline(r) for n, r in rep["systems"].items()}
    elif args.pretrained_no1book:
        ex = data["test:1book"]
        labels = [l for l in LABELS if l in set(ex.labels)]
        systems = {"secllm-pretrained (no 1book)":
                   model_system(WebAttackDetector.load(args.pretrained_no1book, threads=args.threads), ex, labels)}
        if args.random_no1book:
            systems["secllm-random-init (no 1book)"] = model_system(
                WebAttackDetector.load(args.random_no1book, threads=args.threads), ex, labels)
        tf1, tf1_s = baseline_fit(TfidfLogReg, data_no1["train"])
        systems["tfidf-char-lr (no 1book)"] = baseline_system(tf1, ex, labels, baseline_threshold(tf1, data_no1["val"]), tf1_s)
        ln1, ln1_s = baseline_fit(LengthOnly, data_no1["train"])
        systems["length-only (no 1book)"] = baseline_system(ln1, ex, labels, baseline_threshold(ln1, data_no1["val"]), ln1_s)
        manifest = {**manifest_common, "train_rows": len(data_no1["train"]), "test_set": "test:1book (cross-source)",
                    "test_rows": len(ex), "test_split": split_manifest(ex.texts, ["test"] * len(ex))}
        rep = write_report(out / "cross_source_1book", title="Web attack — cross-source: train without 1book, test on 1book",
                           manifest=manifest, systems=systems, machine=machine,
                           notes=["Training: HttpParams train + FuzzDB train only; no 1book row seen in "
                                  "tokenizer-independent fine-tuning. The pretrained base did see the 1book "
                                  "*training* split (unlabeled) during pretraining; test rows never."])
        summary["cross_source_1book"] = {n: _headline(r) for n, r in rep["systems"].items()}

    # Whole raw requests from packet captures of other sites and clients (never trained on).
    raw = pcap_raw_requests(root)
    rep = _reuse(args, out / "raw_requests_pcap")
    if rep is not None:
        summary["raw_requests_pcap"] = {n: _headline(r) for n, r in rep["systems"].items()}
    elif len(raw):
        labels = ["benign", "malicious"]
        systems = {}
        raw_dets = dict(dets)
        if "secllm-pretrained + cascade (shipped)" in dets:
            nosig = WebAttackDetector.load(args.pretrained, threads=args.threads)
            nosig.signatures = False
            raw_dets["secllm-pretrained + cascade, no signatures"] = nosig
        for name, d in raw_dets.items():
            sysd = model_system(d, raw, labels)
            sysd["y_pred"] = ["malicious" if p != "benign" else "benign" for p in sysd["y_pred"]]
            systems[name] = sysd
        for bname, (bm, bt, bs) in {"tfidf-char-lr": (tfidf, tfidf_t, tfidf_s), "length-only": (length, length_t, length_s)}.items():
            t0 = time.perf_counter()
            sc = parts_max_proba(bm, raw.texts) if bname != "length-only" else \
                1 - bm.predict_proba([model_text(t, "payload") for t in raw.texts])[:, list(bm.classes_).index("benign")]
            systems[bname] = {"y_true": raw.labels, "y_score": sc.tolist(), "labels": labels, "threshold": bt,
                              "y_pred": ["malicious" if v >= bt else "benign" for v in sc],
                              "timing": {"predict_s": round(time.perf_counter() - t0, 2)}}
        per_file = {}
        for f, l in zip(raw.sources, raw.labels):
            per_file.setdefault(f, [l, 0])[1] += 1
        manifest = {"test_set": "nDPI pcaps: reassembled raw HTTP requests", "test_rows": len(raw),
                    "label_counts": {l: raw.labels.count(l) for l in labels}, "requests_per_capture": per_file,
                    "attack_captures": sorted(ATTACK_PCAPS),
                    "test_split": split_manifest(raw.texts, ["test"] * len(raw))}
        rep = write_report(out / "raw_requests_pcap", title="Web attack — whole raw requests from packet captures (cross-source)",
                           manifest=manifest, systems=systems, machine=machine,
                           notes=["Labels are per capture file (attack captures vs the rest), not per request.",
                                  "No request of these captures was used in training or pretraining.",
                                  "Baselines score each part of the request like the detector does (max over parts).",
                                  "The shipped row includes the scanner signatures (OWASP CRS 913 lists: a request naming "
                                  "Nikto, sqlmap, ... is flagged). POST-HOC: that stage and the request-body handling "
                                  "were added after reading this set's errors (most misses were Nikto probes such as "
                                  "`GET /`), so the shipped row is not a clean held-out figure here; the "
                                  "'no signatures' row and the models alone show the learned part."])
        summary["raw_requests_pcap"] = {n: _headline(r) for n, r in rep["systems"].items()}

    if args.repeats > 0:
        hp = data["test:http_params"].texts
        tp = {name: throughput(d, hp, args.repeats) for name, d in list(dets.items())[:1]}
        t0 = time.perf_counter()
        tfidf.predict_proba([model_text(t, "payload") for t in hp])
        tp["tfidf-char-lr"] = {"median_items_per_s": round(len(hp) / (time.perf_counter() - t0), 1), "items": len(hp)}
        summary["throughput_http_params_test"] = tp
    elif (out / "summary.json").exists():
        old = json.loads((out / "summary.json").read_text()).get("throughput_http_params_test")
        if old:
            summary["throughput_http_params_test"] = old
    summary["machine"] = {k: machine.get(k) for k in ("cpu_model", "cpu_count", "torch") if k in machine}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


def _reuse(args, d: Path) -> dict | None:
    """With --reuse, an existing report of an earlier run of this benchmark instead of recomputing it."""
    if args.reuse and (d / "report.json").exists():
        print(f"reusing {d / 'report.json'}", file=sys.stderr)
        return json.loads((d / "report.json").read_text())
    return None


def _headline(r: dict) -> dict:
    b, m = r.get("binary", {}), r.get("multiclass", {})
    return {"macro_f1": m.get("macro_f1"), "per_class_f1": {c: v["f1"] for c, v in m.get("per_class", {}).items()},
            "roc_auc": b.get("roc_auc"), "tpr_at_fpr_1e-3": b.get("tpr_at_fpr_1e-3"),
            "binary_f1": b.get("f1")}


def _notes(test_name: str) -> list[str]:
    n = ["Thresholds: each system's own, chosen on the validation split (max binary F1).",
         "length-only is a shortcut baseline: how far input length alone separates the classes."]
    if test_name == "test:1book":
        n.append("1book benign and attack lines come from different sites: site style is a shortcut here; "
                 "see cross_source_1book for the honest view.")
    if test_name == "test:fuzzdb":
        n.append("FuzzDB is attack-only: benign metrics (FPR, ROC) are undefined on this set; read recall per class.")
    return n


if __name__ == "__main__":
    raise SystemExit(main())
