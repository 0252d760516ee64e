"""Evaluate one registered task end to end: fine-tunes, ablations, baselines, one report per test set.

The same recipe for every task (EVALUATION.md): the task's own loader and split rule; (a) the
pretrained base fine-tuned, (b) the same architecture from random weights, optionally (c) a frozen
base with a linear probe and (d) a LoRA adapter on the shared base; the task's shallow baselines;
thresholds chosen on validation only; each test split read once, by the report.

    >>> cfg = TaskEvalConfig(task="log-hdfs", out=Path("reports/log-hdfs"), limit=200)   # doctest: +SKIP
    >>> index = run_task_eval(cfg)                                                       # doctest: +SKIP
    >>> index["reports"]["test"]["systems"]["secllm-pretrained"]["macro_f1"]             # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secllm.tasks.finetune import Examples, FinetuneConfig
from secllm.tasks.predictors import (
    Predictor,
    ensemble_predictor,
    lexical_predictor,
    model_predictor,
    text_predictor,
)
from secllm.tasks.selection import binary_view, val_threshold

__all__ = ["TaskEvalConfig", "run_task_eval"]


@dataclass
class TaskEvalConfig:
    task: str
    out: Path
    base: Path | None = None                         # pretrained base (kind mlm) to fine-tune from
    models: dict[str, Path] = field(default_factory=dict)   # already fine-tuned: name -> dir (or dir/adapters)
    datasets: Path | None = None
    limit: int | None = None                         # cap on rows per split (seeded, every label kept)
    train_fraction: float | None = None              # low-label regime: keep this share of the train labels
    random_init: bool = True
    probe: bool = False
    lora: bool = False
    baselines: bool = True
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    bootstrap: int = 200
    seed: int = 0
    progress: bool = False
    data: dict[str, Examples] | None = None          # tests / callers with their own splits


def _log(cfg: TaskEvalConfig, msg: str) -> None:
    if cfg.progress:
        import sys

        print(f"[{cfg.task}] {msg}", file=sys.stderr, flush=True)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def run_task_eval(cfg: TaskEvalConfig) -> dict[str, Any]:
    """Train what is asked, evaluate everything, write ``cfg.out/<test set>/report.*`` + ``index.json``."""
    from secllm.eval.report import machine_info, write_report
    from secllm.model.config import ModelConfig
    from secllm.model.modeling import read_meta
    from secllm.tasks.finetune import finetune
    from secllm.tasks.registry import make_baseline, sample_examples, get_task

    spec = get_task(cfg.task)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    if cfg.data is not None:
        splits = dict(cfg.data)
    else:
        from secllm.paths import datasets_dir

        _log(cfg, "loading data")
        td = spec.load(datasets_dir(cfg.datasets))
        splits, info = td.splits, td.info
    labels = spec.label_set(splits)
    full_counts = {k: len(v) for k, v in splits.items()}
    if cfg.limit:
        splits = {k: sample_examples(v, cfg.limit, cfg.seed) for k, v in splits.items()}
        # fine-tuning needs every val label in the label set
        splits["val"] = splits["val"].subset(i for i, l in enumerate(splits["val"].labels) if l in labels)
    if cfg.train_fraction is not None:
        if not 0 < cfg.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {cfg.train_fraction}")
        n_keep = max(len(labels), round(cfg.train_fraction * len(splits["train"])))
        splits["train"] = sample_examples(splits["train"], n_keep, cfg.seed)
    train, val = splits["train"], splits["val"]
    if not len(val):
        val = train          # only with tiny limits; recorded in the manifest
        info["note_val"] = "validation split empty after --limit: model selection used train (optimistic)"
    tests = {k: v for k, v in splits.items() if k == "test" or k.startswith("test:")}

    predictors: dict[str, Predictor] = {}
    timings: dict[str, dict[str, Any]] = {}
    models_dir = out / "models"
    plans: list[tuple[str, dict[str, Any]]] = []
    if cfg.base is not None:
        plans.append(("secllm-pretrained", {"base_dir": cfg.base}))
        if cfg.random_init:
            from secllm.tokenizer import SecTokenizer

            plans.append(("secllm-random-init", {"tokenizer": SecTokenizer.load(cfg.base),
                                                 "model_cfg": ModelConfig.from_json(read_meta(cfg.base)["model_config"])}))
        if cfg.probe:
            plans.append(("secllm-linear-probe", {"base_dir": cfg.base, "probe": True}))
    for name, kw in plans:
        _log(cfg, f"fine-tuning {name} on {len(train)} rows")
        t0 = time.time()
        ft = cfg.finetune
        if kw.pop("probe", False):
            import dataclasses

            ft = dataclasses.replace(ft, freeze_base=True)
        d = finetune(train, val, labels, models_dir / name, cfg=ft, task=spec.name,
                     benign_label=spec.benign_label, progress=cfg.progress, **kw)
        timings[name] = {"train_s": round(time.time() - t0, 1)}
        predictors[name] = model_predictor(d, spec.name)
    if cfg.base is not None and cfg.lora:
        from secllm.tasks.adapt import train_adapter

        _log(cfg, "training a LoRA adapter")
        t0 = time.time()
        train_adapter(cfg.base, spec.name, train, val, labels, models_dir / "multitask", lora=True,
                      benign_label=spec.benign_label,
                      cfg=FinetuneConfig(epochs=cfg.finetune.epochs, lr=2e-3, max_minutes=cfg.finetune.max_minutes))
        timings["secllm-lora"] = {"train_s": round(time.time() - t0, 1)}
        predictors["secllm-lora"] = model_predictor(models_dir / "multitask", spec.name)
    for name, d in cfg.models.items():
        from secllm.tasks.heads import head_dir, serve_mode, served_head

        hd = head_dir(d, spec.name)
        if not (hd / "secllm.json").exists():
            predictors[name] = model_predictor(Path(d), spec.name)
        elif serve_mode(d, spec.name) == "text":           # text head served; the base's systems beside it
            predictors[name] = text_predictor(hd)
            predictors[f"{name}: lexical head (not served)"] = lexical_predictor(Path(d), hd)
            predictors[f"{name}: adapter (not served)"] = model_predictor(Path(d), spec.name)
        elif serve_mode(d, spec.name) == "ensemble":       # what `detect --task` serves, then its halves
            adapter, head = model_predictor(Path(d), spec.name), lexical_predictor(Path(d), hd)
            predictors[name] = ensemble_predictor(head, adapter)
            predictors[f"{name}: adapter (not served)"] = adapter
            predictors[f"{name}: lexical head (not served)"] = head
        elif served_head(d, spec.name) is not None:
            predictors[name] = lexical_predictor(Path(d), hd)
            predictors[f"{name}: adapter (not served)"] = model_predictor(Path(d), spec.name)
        else:
            predictors[name] = model_predictor(Path(d), spec.name)
            predictors[f"{name}: lexical head (not served)"] = lexical_predictor(Path(d), hd)
        for n in predictors:
            timings.setdefault(n, {})

    # each system: predict_proba on val (threshold) and on every test set
    systems_out: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in tests}
    for name, (mlabels, meta, predict) in predictors.items():
        thr = float(meta.get("threshold", 0.5)) if spec.benign_label else val_threshold(spec, mlabels, val, predict(val))
        for key, ex in tests.items():
            t0 = time.time()
            proba = predict(ex)
            dt = time.time() - t0
            systems_out[key][name] = _system(spec, mlabels, ex, proba, thr,
                                             {**timings[name], "predict_s": round(dt, 3),
                                              "items_per_s": round(len(ex) / dt, 1) if dt > 0 else None})
    if cfg.baselines:
        for bname in spec.baselines:
            _log(cfg, f"baseline {bname}")
            t0 = time.time()
            try:
                m = make_baseline(bname).fit(train.texts, train.labels)
            except ValueError as exc:          # e.g. one class only after a tiny --limit
                info.setdefault("baseline_errors", {})[bname] = str(exc)
                continue
            fit_s = time.time() - t0
            blabels = [str(c) for c in m.classes_]
            proba_of = lambda ex: m.predict_proba(ex.texts) if len(ex) else np.zeros((0, len(blabels)))  # noqa: E731
            thr = val_threshold(spec, blabels, val, proba_of(val))
            for key, ex in tests.items():
                t0 = time.time()
                proba = proba_of(ex)
                dt = time.time() - t0
                systems_out[key][bname] = _system(spec, blabels, ex, proba, thr,
                                                  {"train_s": round(fit_s, 1), "predict_s": round(dt, 3)})

    index: dict[str, Any] = {"task": spec.name, "reports": {}}
    machine = machine_info()
    for key, systems in systems_out.items():
        if not systems or not len(tests[key]):
            continue
        manifest = {
            "task": spec.name, "description": spec.description, "test_set": key,
            "split_rule": spec.split_rule, "labels": labels,
            "rows_after_dedupe": full_counts, "limit": cfg.limit, "train_fraction": cfg.train_fraction,
            "rows_used": {k: len(v) for k, v in splits.items()},
            "label_counts_test": _counts(tests[key].labels), "label_counts_train": _counts(train.labels),
            "dropped": info.get("dropped", {}), **{k: v for k, v in info.items() if k not in ("dropped", "counts")},
            "finetune": {"epochs": cfg.finetune.epochs, "lr": cfg.finetune.lr, "max_length": cfg.finetune.max_length},
            "base": str(cfg.base) if cfg.base else None,
        }
        notes = list(spec.caveats)
        if binary_view(spec, labels, np.zeros((1, len(labels)))) is None:
            notes.append("no benign class: the binary columns treat every item as positive and are not meaningful; "
                         "read macro-F1 and per-class F1")
        if "secllm-pretrained" in systems and "secllm-random-init" in systems:
            a = systems["secllm-pretrained"]["_macro"]
            b = systems["secllm-random-init"]["_macro"]
            verdict = "beats" if a > b + 0.01 else "does NOT beat" if a < b - 0.01 else "ties with"
            notes.append(f"pretrained base {verdict} random init on macro-F1 ({a:.4f} vs {b:.4f}); same recipe")
        if cfg.limit:
            notes.append(f"--limit {cfg.limit}: a smoke run on a subsample, not a result")
        if cfg.train_fraction is not None:
            notes.append(f"low-label regime: every system trained on {len(train)} rows "
                         f"({cfg.train_fraction:.0%} of the training split, seeded, every label kept); "
                         "validation and test are the full splits")
        clean = {n: {k: v for k, v in s.items() if k != "_macro"} for n, s in systems.items()}
        rep = write_report(out / _slug(key), title=f"SecLLM task {spec.name}: {key}", manifest=manifest,
                           systems=clean, machine=machine, notes=notes, bootstrap=cfg.bootstrap, seed=cfg.seed)
        index["reports"][key] = {
            "dir": _slug(key), "n": len(tests[key]),
            "systems": {n: {"macro_f1": r["multiclass"]["macro_f1"], "roc_auc": r["binary"]["roc_auc"]}
                        for n, r in rep["systems"].items()}}
    (out / "index.json").write_text(json.dumps(index, indent=2, allow_nan=False, default=lambda x: None))
    return index


def _counts(labels: list[str]) -> dict[str, int]:
    from collections import Counter

    return dict(sorted(Counter(labels).items()))


def _system(spec, labels: list[str], ex: Examples, proba: np.ndarray, threshold: float,
            timing: dict[str, Any]) -> dict[str, Any]:
    from secllm.eval.metrics import multiclass_metrics

    pred = [labels[i] for i in proba.argmax(1)] if len(ex) else []
    report_labels = list(dict.fromkeys(labels + sorted(set(ex.labels) - set(labels))))
    score = binary_view(spec, labels, proba)
    s: dict[str, Any] = {"y_true": list(ex.labels), "y_pred": pred, "labels": report_labels, "timing": timing,
                         "threshold": threshold}
    if score is not None:
        s["y_score"] = score.tolist()
        s["y_true_binary"] = [int(bool(spec.is_malicious(l))) for l in ex.labels]
    else:
        s["y_score"] = proba.max(1).tolist() if len(ex) else []
        s["y_true_binary"] = [1] * len(ex)
    if spec.group_of is not None:
        srcs = ex.sources or [""] * len(ex)
        s["groups"], s["group_unit"] = [spec.group_of(t, src) for t, src in zip(ex.texts, srcs)], spec.group_unit
    s["_macro"] = float(multiclass_metrics(s["y_true"], pred, report_labels)["macro_f1"]) if len(ex) else float("nan")
    return s
