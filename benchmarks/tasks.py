"""Benchmark one registered task: pretrained vs random-init fine-tune vs the task's baselines.

Usage:

    python benchmarks/tasks.py --task log-hdfs --base runs/base/model --out reports/log-hdfs
    python benchmarks/tasks.py --task url --base runs/base/model --out reports/url --lora --probe
    python benchmarks/tasks.py --task url --base runs/base/model --out reports/url-fewshot \\
        --fewshot phishing --shots 4,16,64          # new-class adaptation from few examples
    python benchmarks/tasks.py --task traffic --base runs/base/model --out /tmp/t --limit 200 --epochs 1   # smoke

Fine-tunes with ``secllm.tasks.finetune.finetune`` (same recipe for every init), fits the task's
baselines (``TaskSpec.baselines``: TF-IDF + LR; lexical forest for URLs; byte-histogram forest for
traffic; count-vector LR for logs), and writes one report per test set with
``secllm.eval.report.write_report`` (``<out>/<test set>/report.md``) plus ``<out>/index.json``.
``--limit N`` caps every split at N rows (seeded; every label kept): a smoke run, not a result.
The same runs are available as ``secllm eval <task> --base DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from secllm.tasks.evaluate import TaskEvalConfig, run_task_eval
from secllm.tasks.finetune import FinetuneConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", required=True)
    ap.add_argument("--base", type=Path, help="pretrained base (kind mlm)")
    ap.add_argument("--model", type=Path, action="append", default=[], help="already fine-tuned model (repeatable)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--train-fraction", type=float, default=None,
                    help="low-label regime: every system sees this share of the training rows (e.g. 0.1)")
    ap.add_argument("--device", default="auto", help="fine-tunes: auto (CUDA if seen), cpu, cuda")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--max-minutes", type=float, default=None, help="time cap per fine-tune")
    ap.add_argument("--no-random", action="store_true", help="skip the random-init ablation")
    ap.add_argument("--probe", action="store_true", help="also a frozen-base linear probe")
    ap.add_argument("--lora", action="store_true", help="also a LoRA adapter on the shared base")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0,
                    help="seeds the --limit/--train-fraction subsets, the fine-tunes and the bootstrap")
    ap.add_argument("--fewshot", metavar="CLASS", default=None,
                    help="instead: the few-shot new-class experiment with CLASS held out")
    ap.add_argument("--shots", default="4,16,64")
    ap.add_argument("--guard-per-class", type=int, default=0,
                    help="few-shot: old-class validation rows per class that set the old-class guard (0: the "
                         "replayed examples' held-out halves)")
    ap.add_argument("--max-old-flip", default="0.005",
                    help="few-shot: the old-class guard's target share of old-class rows moved; comma-separated "
                         "targets are compared on the same old-class models (default 0.005, the product's)")
    ap.add_argument("--heads", action="store_true",
                    help="few-shot: also grow a lexical head and the head + pretrained-model ensemble (what "
                         "`secllm detect` serves for most tasks; secllm.tasks.grow)")
    ap.add_argument("--cascade", action="store_true",
                    help="few-shot (web attack): also the old-class models as a served web cascade, grown as "
                         "`secllm adapt` grows one (secllm.tasks.fewshot)")
    ap.add_argument("--text-head", action="store_true",
                    help="few-shot: also grow a text head (char n-grams + MiniLM; what serves cti-attack)")
    ap.add_argument("--test-key", default=None, help="few-shot: which test split (default: test, else the first test:*)")
    args = ap.parse_args(argv)
    if not args.base and not args.model:
        ap.error("give --base and/or --model")
    ft = FinetuneConfig(epochs=args.epochs, lr=args.lr, max_minutes=args.max_minutes, device=args.device,
                        seed=args.seed)
    if args.fewshot:
        return _fewshot(args, ft)
    cfg = TaskEvalConfig(task=args.task, out=args.out, base=args.base,
                         models={(f"secllm-model-{i + 1}" if len(args.model) > 1 else "secllm-model"): m
                                 for i, m in enumerate(args.model)},
                         datasets=args.datasets, limit=args.limit, train_fraction=args.train_fraction, random_init=not args.no_random,
                         probe=args.probe, lora=args.lora, finetune=ft, bootstrap=args.bootstrap, seed=args.seed,
                         progress=True)
    index = run_task_eval(cfg)
    for key, rep in index["reports"].items():
        print(f"{args.task} {key} (n={rep['n']}):")
        for name, m in rep["systems"].items():
            f1 = m["macro_f1"]
            print(f"  {name:24s} macro-F1 {f1:.4f}" if f1 is not None else f"  {name:24s} macro-F1 -")
    return 0


def _fewshot(args, ft: FinetuneConfig) -> int:
    from secllm.paths import datasets_dir
    from secllm.tasks.fewshot import fewshot_experiment
    from secllm.tasks.registry import get_task, sample_examples

    spec = get_task(args.task)
    data = spec.load(datasets_dir(args.datasets)).splits
    if args.limit:
        data = {k: sample_examples(v, args.limit) for k, v in data.items()}
    # the task's main test split: "test", else its first named one (web-attack: test:http_params)
    test_key = args.test_key or ("test" if "test" in data else sorted(k for k in data if k.startswith("test:"))[0])
    res = fewshot_experiment(data, args.fewshot, base_dir=args.base, labels=spec.label_set(data),
                             shots=tuple(int(x) for x in args.shots.split(",")), cfg=ft,
                             work_dir=args.out / "models", benign_label=spec.benign_label, test_key=test_key,
                             guard_per_class=args.guard_per_class,
                             max_old_flip=[float(x) for x in args.max_old_flip.split(",")],
                             random_init=not args.no_random, heads=args.heads, text_head=args.text_head,
                             cascade=args.cascade)
    res["test_key"] = test_key
    res["task"], res["limit"] = spec.name, args.limit
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fewshot.json").write_text(json.dumps(res, indent=2, default=lambda x: None))
    lines = [f"# Few-shot new class: {spec.name} / {args.fewshot}", "",
             "| system | shots | guard target | new-class F1 | old macro-F1 before | after | old predictions changed |",
             "|---|---|---|---|---|---|---|"]
    for name, s in res["systems"].items():
        for r in s["rows"]:
            target = r.get("max_old_flip", "–")
            lines.append(f"| {name} | {r['shots']} | {target} | {r['new_f1']:.4f} | {r['old_macro_f1_before']:.4f} | "
                         f"{r['old_macro_f1_after']:.4f} | {r['old_changed']:.4f} |")
    (args.out / "fewshot.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
