"""Fit and measure the open-world gate of the url / traffic / cti-attack tasks (issue 17 §2).

``fit``: the gate (:mod:`secllm.detect.ood`) of one task — task training rows vs the ordinary
corpus' calib items of the task's modality (half of calib by group), threshold on the other calib
half, validation cost recorded — written beside the task's head (``lexical/<task>/ood.*``).
``eval``: before (no gate) / after (gate) on the ordinary **test** split, per source (false-alarm
rate = alerts / judged items), and the served system's macro-F1 on the task's own test set.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/task_ood.py fit --task url
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/task_ood.py eval --task url
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from secllm.data.corpus import model_text
from secllm.data.ordinary import iter_ordinary
from secllm.detect.generic import TaskDetector, pcap_flow_items
from secllm.detect.ood import OUTCOMES, DEFAULT_TARGET, OodGate, calib_half, fit_gate_backend, is_alert, pick_threshold
from secllm.paths import DEFAULT_TASKS_DIR, datasets_dir
from secllm.tasks.finetune import encode_examples
from secllm.tasks.heads import head_dir, verdicts
from secllm.tasks.selection import macro_f1

KINDS = {"url": ("url",), "traffic": ("pcap",), "cti-attack": ("text-en", "text-zh")}
OUT = Path("reports/open-world")


def log(msg: str) -> None:
    print(f"[task_ood {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ordinary_items(root: str, task: str, split: str, cap_per_source: int | None, seed: int = 0):
    """``[(source, group, raw item)]`` of the task's modality; captures become their flows."""
    by_source: dict[str, list] = defaultdict(list)
    for it in iter_ordinary(root, kind=KINDS[task], split=split):
        by_source[it.source].append(it)
    out = []
    for src, its in sorted(by_source.items()):
        if cap_per_source and len(its) > cap_per_source:
            its = random.Random(f"{seed}:{src}:{split}").sample(its, cap_per_source)
        for it in its:
            if task == "traffic":
                items, _, _, _ = pcap_flow_items(it.text)
                out.extend((src, it.group, x) for x in items)
            else:
                out.append((src, it.group, it.text))
    return out


def detect_rows(det: TaskDetector, rows, batch: int = 256):
    """Gate score, verdict without and with the gate, per judged ordinary item."""
    out = []
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        res = det.detect([r[2] for r in chunk], evidence=False)
        for (src, group, _), r in zip(chunk, res):
            if r.status != "ok":
                continue
            ood = r.details.get("ood", {})
            before = ood.get("model_label") or (r.attack_type or r.label)
            out.append({"source": src, "group": group, "score": ood.get("ordinary_score"),
                        "alert_before": is_alert(det.spec, before),
                        "alert_after": is_alert(det.spec, r.attack_type or r.label)})
    return out


def ordinary_seqs(det: TaskDetector, texts: list[str]) -> list[list[int]]:
    _, _, _, enc = det.encode(texts)
    return enc.input_ids if enc is not None else []


def served(det: TaskDetector, ex):
    """(class probabilities, token ids) of the served system on task rows (prepared texts)."""
    seqs = encode_examples(det.tok, ex, det.max_length)
    with det._lock:
        det._activate()
        if getattr(det.backend, "reads_text", False):
            texts = [model_text(t, m) for t, m in zip(ex.texts, ex.modalities)]
            p = np.concatenate([det.backend.predict_proba_text(texts[i:i + 256]) for i in range(0, len(texts), 256)])
        else:
            p = np.concatenate([det.backend.predict_proba(seqs[i:i + 256]) for i in range(0, len(seqs), 256)])
    return p, seqs


def task_pred(det: TaskDetector, ex):
    """(served verdicts, token ids) on task rows."""
    p, seqs = served(det, ex)
    benign = det.labels[det.benign_idx] if det.benign_idx is not None else None
    return verdicts(p, det.labels, benign, det.threshold), seqs


def gated_f1(det: TaskDetector, ex, pred, seqs, gate: OodGate | None):
    f_before = macro_f1(list(ex.labels), pred, det.labels)
    if gate is None:
        return f_before, f_before, 0
    g = gate.score(seqs)
    hit = [s >= gate.threshold and is_alert(det.spec, y) for y, s in zip(pred, g)]
    after = [gate.outcome if h else y for y, h in zip(pred, hit)]
    return f_before, macro_f1(list(ex.labels), after, det.labels), int(sum(hit))


def task_f1(det: TaskDetector, ex, gate: OodGate | None):
    pred, seqs = task_pred(det, ex)
    return gated_f1(det, ex, pred, seqs, gate)


def load_det(args, ood: bool) -> TaskDetector:
    return TaskDetector.load(args.model_dir, task=args.task, threads=1, ood=ood)


def cmd_fit(args) -> int:
    t0 = time.time()
    det = load_det(args, ood=False)
    splits = det.spec.load(datasets_dir(args.datasets)).splits
    train, val = splits["train"], splits["val"]
    if len(train) > args.max_task_rows:
        train = train.subset(sorted(random.Random(0).sample(range(len(train)), args.max_task_rows)))
    rows = ordinary_items(args.ordinary, args.task, "calib", args.cap)
    fit_rows = [r for r in rows if calib_half(r[1]) == "fit"]
    thr_rows = [r for r in rows if calib_half(r[1]) == "threshold"]
    log(f"{args.task}: {len(train)} task rows, ordinary calib {len(fit_rows)} fit / {len(thr_rows)} threshold")
    # the gate withdraws alerts only, so its "task" side is the rows of alert classes (malicious URLs,
    # malware flows, techniques); --benign-side puts the other task rows on the ordinary side,
    # --task-side all keeps them on the task side (then the gate tells the dataset's style from ordinary data)
    alert_rows = [is_alert(det.spec, y) for y in train.labels]
    task_side = [i for i, a in enumerate(alert_rows) if a or args.task_side == "all"]
    tr_seqs = encode_examples(det.tok, train, det.max_length)
    ord_seqs = ordinary_seqs(det, [r[2] for r in fit_rows])
    extra = [tr_seqs[i] for i, a in enumerate(alert_rows) if not a] if args.benign_side else []
    judged = detect_rows(det, thr_rows)                       # the served detector, no gate yet
    thr_seqs = ordinary_seqs(det, [r[2] for r in thr_rows])
    if len(thr_seqs) != len(judged):
        raise SystemExit("ordinary items judged and encoded differ")
    alerts = np.array([j["alert_before"] for j in judged])
    val_pred, val_seqs = task_pred(det, val)
    cands = []
    for C in args.C:
        t1 = time.time()
        backend = fit_gate_backend([tr_seqs[i] for i in task_side], ord_seqs + extra, det.tok.vocab_size, C=C,
                                   n_trigrams=args.trigrams)
        gate = OodGate(backend, 1.01, OUTCOMES[args.task])
        scores = gate.score(thr_seqs)
        gate.threshold = pick_threshold(scores, alerts, args.target)
        f_before, f_after, gated = gated_f1(det, val, val_pred, val_seqs, gate)
        curve = []                                    # the price of other targets, for the write-up
        for tg in (0.004, 0.01, 0.02, 0.05, 0.1, 0.2):
            g2 = OodGate(backend, pick_threshold(scores, alerts, tg), gate.outcome)
            curve.append({"target": tg, "threshold": round(g2.threshold, 4),
                          "val_macro_f1": round(gated_f1(det, val, val_pred, val_seqs, g2)[1], 4)})
        cands.append({"tradeoff": curve, "C": C, "threshold": gate.threshold, "val_macro_f1_with_gate": round(f_after, 4),
                      "val_gated_rows": gated, "calib_alert_rate_with_gate":
                      round(float((alerts & (scores < gate.threshold)).mean()), 5), "fit_s": round(time.time() - t1, 1),
                      "_gate": gate, "_f": (f_before, f_after, gated)})
        log(f"{args.task}: C={C} threshold {gate.threshold:.4f} val macro-F1 {f_before:.4f} -> {f_after:.4f} ({gated} gated)")
    best = max(cands, key=lambda c: (c["val_macro_f1_with_gate"], -c["C"]))
    det.gate, (f_before, f_after, gated) = best["_gate"], best["_f"]
    thr = det.gate.threshold
    meta = {"task": args.task, "C": best["C"], "target_alert_rate": args.target,
            "task_side": "all training rows" if args.task_side == "all" else "training rows of alert classes",
            "ordinary_side": "ordinary calib (fit half)" + (" + the task's other training rows" if args.benign_side else ""),
            "calib": {"fit_items": len(fit_rows), "threshold_items": len(judged),
                      "alert_rate_without_gate": round(float(alerts.mean()), 5),
                      "alert_rate_with_gate": best["calib_alert_rate_with_gate"],
                      "sources": sorted(Counter(r[0] for r in rows))},
            "task_rows": {"train": len(train), "val": len(val)},
            "val": {"macro_f1_without_gate": round(f_before, 4), "macro_f1_with_gate": round(f_after, 4),
                    "gated_rows": gated},
            "candidates": [{k: v for k, v in c.items() if not k.startswith("_")} for c in cands],
            "selection": "threshold: the highest at which the gated detector alerts on at most target of the calib "
                         "half not used for fitting (ordinary corpus, calib split); C: best validation macro-F1 "
                         "with the gate; test splits unread",
            "fit_s": round(time.time() - t0, 1)}
    det.gate.meta = meta
    d = det.gate.save(head_dir(args.model_dir, args.task))
    log(f"{args.task}: threshold {thr:.4f}; {json.dumps(meta['calib'])}; val {json.dumps(meta['val'])} -> {d}")
    return 0


def cmd_eval(args) -> int:
    t0 = time.time()
    det = load_det(args, ood=True)
    if det.gate is None:
        raise SystemExit(f"no gate for {args.task}: run fit first")
    rows = ordinary_items(args.ordinary, args.task, "test", args.cap)
    judged = detect_rows(det, rows)
    per: dict[str, Counter] = defaultdict(Counter)
    for j in judged:
        c = per[j["source"]]
        c["items"] += 1
        c["alerts_before"] += j["alert_before"]
        c["alerts_after"] += j["alert_after"]
    ordinary = {s: {"items": c["items"], "far_before": round(c["alerts_before"] / c["items"], 5),
                    "far_after": round(c["alerts_after"] / c["items"], 5)} for s, c in sorted(per.items())}
    test = det.spec.load(datasets_dir(args.datasets)).splits["test"]
    f_before, f_after, gated = task_f1(det, test, det.gate)
    report = {"task": args.task, "gate": {"threshold": det.gate.threshold, "outcome": det.gate.outcome},
              "ordinary_test": ordinary, "cap_per_source": args.cap,
              "task_test": {"rows": len(test), "macro_f1_before": round(f_before, 4),
                            "macro_f1_after": round(f_after, 4), "delta": round(f_after - f_before, 4),
                            "gated_rows": gated},
              "command": " ".join(["python benchmarks/task_ood.py"] + sys.argv[1:]), "eval_s": round(time.time() - t0, 1)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"task_ood_{args.task}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"### {args.task}: gate threshold {det.gate.threshold:.4f}, outcome `{det.gate.outcome}`", "",
             "| ordinary source (test split) | items | FAR before | FAR after |", "|---|---:|---:|---:|"]
    lines += [f"| {s} | {v['items']} | {v['far_before']:.2%} | {v['far_after']:.2%} |" for s, v in ordinary.items()]
    lines += ["", f"Task test set ({len(test)} rows): macro-F1 {f_before:.4f} before, {f_after:.4f} after "
                  f"({f_after - f_before:+.4f}); {gated} rows gated.", ""]
    (OUT / f"task_ood_{args.task}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["fit", "eval"])
    ap.add_argument("--task", required=True, choices=sorted(KINDS))
    ap.add_argument("--model-dir", default=str(DEFAULT_TASKS_DIR))
    ap.add_argument("--ordinary", default="/work/data/ordinary")
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--target", type=float, default=DEFAULT_TARGET)
    ap.add_argument("--C", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    ap.add_argument("--max-task-rows", type=int, default=20000)
    ap.add_argument("--trigrams", type=int, default=0, help="hashed token-trigram buckets (0: none)")
    ap.add_argument("--task-side", choices=["alert", "all"], default="alert",
                    help="the gate's task side: rows of alert classes only, or every training row")
    ap.add_argument("--benign-side", action="store_true",
                    help="put the training rows of non-alert classes on the gate's ordinary side")
    ap.add_argument("--cap", type=int, default=None, help="items sampled per ordinary source (seeded); default all")
    args = ap.parse_args(argv)
    return cmd_fit(args) if args.cmd == "fit" else cmd_eval(args)


if __name__ == "__main__":
    raise SystemExit(main())
