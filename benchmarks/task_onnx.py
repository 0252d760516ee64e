"""Every shipped task adapter as ONNX: accuracy before and after export and int8 quantisation.

Usage:

    python benchmarks/task_onnx.py --model src/secllm/assets/tasks --out reports/tasks-onnx --threads 2
    python benchmarks/task_onnx.py --tasks url,log-hdfs --limit 300 --out /tmp/t    # smoke

For each task adapter of the multi-task directory: fold it into a plain classifier and export
ONNX fp32 + int8 (``secllm.tasks.adapt.export_task_onnx``: LoRA merged into the encoder; the
export refuses an fp32 graph that disagrees with PyTorch),
then score each task's test split(s) three ways — the adapter on the shared base in PyTorch (what
``secllm serve`` runs), ONNX fp32 and ONNX int8 — with the same tokenisation. Printed and written
to ``<out>/summary.json`` / ``summary.md``: macro-F1 (argmax), agreement of the argmax labels with
PyTorch, the largest probability difference, graph sizes and items/s (one pass, ``--threads``).
The exported task directories land in ``<out>/models/<task>`` (git-ignored): each one serves
``secllm detect --task T --model <dir> --backend onnx-int8`` without PyTorch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from secllm.eval.metrics import multiclass_metrics
from secllm.model.modeling import load_tokenizer_checked, read_meta
from secllm.paths import DEFAULT_TASKS_DIR, adapter_tasks, datasets_dir
from secllm.runtime.onnx import OnnxBackend
from secllm.tasks.adapt import export_task_onnx
from secllm.tasks.predictors import model_predictor
from secllm.tasks.finetune import encode_examples
from secllm.tasks.registry import get_task, sample_examples


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_task(model_dir: Path, task: str, out: Path, root: Path, threads: int, limit: int | None) -> dict:
    import torch

    torch.set_num_threads(threads)
    spec = get_task(task)
    exported = out / "models" / task
    info = export_task_onnx(model_dir, task, exported)
    labels, meta, torch_predict = model_predictor(model_dir, task)
    tok = load_tokenizer_checked(exported, read_meta(exported))
    ml = int(meta.get("max_length", 128))
    backends = {"onnx-fp32": OnnxBackend(exported, tok, threads=threads, int8=False),
                "onnx-int8": OnnxBackend(exported, tok, threads=threads, int8=True)}
    data = spec.load(root)
    tests = {k: v for k, v in data.splits.items() if k == "test" or k.startswith("test:")}
    res: dict = {"task": task, "labels": labels, "parity_at_export": info["parity"],
                 "bytes": {"onnx-fp32": (exported / "model.onnx").stat().st_size,
                           "onnx-int8": (exported / "model.int8.onnx").stat().st_size},
                 "test_sets": {}}
    for key, ex in tests.items():
        if limit:
            ex = sample_examples(ex, limit, 0)
        if not len(ex):
            continue
        ref, t_ref = _timed(lambda: torch_predict(ex))
        seqs = encode_examples(tok, ex, ml)
        row = {"n": len(ex), "torch": {"macro_f1": _macro(ex.labels, ref, labels), "items_per_s": len(ex) / t_ref}}
        for name, be in backends.items():
            p, dt = _timed(lambda: be.predict_proba(seqs))
            row[name] = {"macro_f1": _macro(ex.labels, p, labels), "items_per_s": len(ex) / dt,
                         "argmax_agreement_with_torch": float((p.argmax(1) == ref.argmax(1)).mean()),
                         "max_abs_prob_diff": float(np.abs(p - ref).max())}
        res["test_sets"][key] = row
        print(f"  {task} {key} (n={len(ex)}): torch {row['torch']['macro_f1']:.4f}  "
              f"onnx {row['onnx-fp32']['macro_f1']:.4f}  int8 {row['onnx-int8']['macro_f1']:.4f}  "
              f"(int8 agrees on {row['onnx-int8']['argmax_agreement_with_torch']:.2%})", flush=True)
    return res


def _macro(y_true: list[str], proba: np.ndarray, labels: list[str]) -> float:
    pred = [labels[i] for i in proba.argmax(1)]
    return float(multiclass_metrics(y_true, pred, labels)["macro_f1"])


def _markdown(rows: list[dict], cmd: str) -> str:
    out = ["# Task adapters as ONNX: accuracy before and after", "", f"Command: `{cmd}`", "",
           "macro-F1 by argmax on each task's test split; agreement = share of items whose int8 label "
           "equals the PyTorch adapter's; items/s = one pass on this machine (noisy).", "",
           "| task | test set | n | PyTorch adapter | ONNX fp32 | ONNX int8 | int8 Δ | int8 agreement | "
           "max abs Δp (int8) | items/s torch / fp32 / int8 | int8 graph MB |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for key, t in r["test_sets"].items():
            d = t["onnx-int8"]["macro_f1"] - t["torch"]["macro_f1"]
            out.append(
                f"| {r['task']} | {key} | {t['n']} | {t['torch']['macro_f1']:.4f} | {t['onnx-fp32']['macro_f1']:.4f} | "
                f"{t['onnx-int8']['macro_f1']:.4f} | {d:+.4f} | {t['onnx-int8']['argmax_agreement_with_torch']:.4f} | "
                f"{t['onnx-int8']['max_abs_prob_diff']:.3f} | {t['torch']['items_per_s']:.0f} / "
                f"{t['onnx-fp32']['items_per_s']:.0f} / {t['onnx-int8']['items_per_s']:.0f} | "
                f"{r['bytes']['onnx-int8'] / 1e6:.1f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_TASKS_DIR, help="multi-task directory (base + adapters)")
    ap.add_argument("--tasks", default="all", help="comma-separated, or all")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="cap per test set (smoke run, not a result)")
    args = ap.parse_args(argv)
    tasks = adapter_tasks(args.model) if args.tasks == "all" else args.tasks.split(",")
    root = datasets_dir(args.datasets)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in tasks:
        print(f"[{t}] merge, export, score", file=sys.stderr, flush=True)
        rows.append(run_task(args.model, t, args.out, root, args.threads, args.limit))
    cmd = "python benchmarks/task_onnx.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (args.out / "summary.json").write_text(json.dumps({"command": cmd, "limit": args.limit, "tasks": rows}, indent=2))
    (args.out / "summary.md").write_text(_markdown(rows, cmd))
    print(_markdown(rows, cmd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
