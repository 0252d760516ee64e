"""Making and growing task models: adapters on a shared base, new classes, merged and ONNX task models.

* :func:`train_adapter` — a task adapter on a frozen shared base (LoRA r=8 on query/value + a new
  head, or the head alone), saved as ``out_dir/adapters/<task>`` (the layout
  :class:`secllm.tasks.multitask.MultiTaskModel` serves);
* :func:`adapt_model_dir` — ``secllm adapt``: new classes from a handful of examples, without
  retraining the base. A task adapter's head grows with what the task serves
  (:mod:`secllm.tasks.grow`); a classifier directory grows in place, and a web-attack detector
  grows its whole cascade (:func:`adapt_classifier_dir`: the lexical first stage and the fast model
  too, a carried ONNX export redone);
* :func:`merge_task` / :func:`export_task_onnx` — an adapter folded into a plain classifier
  directory, and that exported to a torch-free ONNX task model;
* :func:`read_examples_jsonl` — the examples file ``secllm adapt`` reads.

The few-shot experiment that measures growth is :mod:`secllm.tasks.fewshot`.

    >>> info = adapt_model_dir("secllm/assets/tasks", "url", examples, "runs/url-grown")   # doctest: +SKIP
    >>> info["new_classes"]                                                                # doctest: +SKIP
    ['defacement']
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from secllm.tasks.examples import Examples
from secllm.tasks.finetune import FinetuneConfig
from secllm.tasks.grow import add_classes, append_rows
from secllm.tasks.grow_rows import DEFAULT_MAX_OLD_FLIP
from secllm.tasks.multitask import ADAPTERS, BASE_FILES, MultiTaskModel

LORA_TARGETS = ["query", "value"]
LORA_R = 8

__all__ = ["train_adapter", "adapt_model_dir", "adapt_classifier_dir", "merge_task", "export_task_onnx",
           "read_examples_jsonl"]


def _lora_config():
    from peft import LoraConfig

    return LoraConfig(target_modules=list(LORA_TARGETS), r=LORA_R, lora_alpha=2 * LORA_R, lora_dropout=0.05)


def _save_head(linear, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"weight": linear.weight.detach().contiguous(), "bias": linear.bias.detach().contiguous()},
              str(path))


def _copy_base(base_dir: Path, out_dir: Path) -> None:
    """Make ``out_dir`` hold the base (once); refuse to mix two different bases."""
    from secllm.model.modeling import read_meta

    out_dir.mkdir(parents=True, exist_ok=True)
    if base_dir.resolve() == out_dir.resolve():
        return
    if (out_dir / "secllm.json").exists():
        if read_meta(out_dir).get("tokenizer_fingerprint") != read_meta(base_dir).get("tokenizer_fingerprint") or \
                (out_dir / "model.safetensors").stat().st_size != (base_dir / "model.safetensors").stat().st_size:
            raise ValueError(f"{out_dir} already holds a different base than {base_dir}")
        return
    for name in BASE_FILES:
        shutil.copy2(base_dir / name, out_dir / name)


# --------------------------------------------------------------------------------------------
# training an adapter (LoRA + head, or head only) on a shared base
# --------------------------------------------------------------------------------------------

def _train_loop(model, tok, train: Examples, val: Examples, labels: list[str], params, cfg: FinetuneConfig,
                max_len: int, progress: bool = False) -> tuple[dict[str, Any], np.ndarray, list[int]]:
    """The finetune recipe's loop (length buckets, 1/sqrt class weights, best val macro-F1)."""
    import torch

    from secllm.runtime.batching import length_batches
    from secllm.tasks.finetune import collate, class_weights, encode_examples, macro_f1, predict_proba_ids

    lab2id = {l: i for i, l in enumerate(labels)}
    tr_ids = encode_examples(tok, train, max_len)
    va_ids = encode_examples(tok, val, max_len)
    y = torch.tensor([lab2id[l] for l in train.labels])
    counts = Counter(train.labels)
    w = class_weights(train.labels, labels)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    lengths = [len(s) for s in tr_ids]
    n_steps = max(1, cfg.epochs * len(length_batches(lengths, cfg.batch_tokens, random.Random(0))))
    warm = max(1, int(cfg.warmup_frac * n_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (n_steps - s) / max(1, n_steps - warm))))
    va_true = [lab2id[l] for l in val.labels]
    best: dict[str, Any] = {"val_macro_f1": -1.0}
    best_state, best_proba, history = None, None, []
    t0 = time.time()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    for epoch in range(cfg.epochs):
        model.train()
        for b in length_batches(lengths, cfg.batch_tokens, rng):
            ids, att = collate([tr_ids[i] for i in b], tok.pad_id)
            loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=att).logits, y[b], weight=w)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if cfg.max_minutes and time.time() - t0 > cfg.max_minutes * 60:
                break                    # the cap holds inside an epoch too (as in finetune)
        proba = predict_proba_ids(model, va_ids, tok.pad_id)
        f1 = macro_f1(va_true, proba.argmax(1).tolist(), len(labels))
        history.append({"epoch": epoch + 1, "val_macro_f1": round(f1, 5), "elapsed_s": round(time.time() - t0, 1)})
        if f1 > best["val_macro_f1"]:
            best = {"val_macro_f1": f1, "epoch": epoch + 1}
            # only the trainable tensors change: keep copies of those
            best_state = {n: p.detach().clone() for n, p in model.named_parameters() if n in trainable}
            best_proba = proba
        if cfg.max_minutes and time.time() - t0 > cfg.max_minutes * 60:
            break
    if best_state is not None:
        import torch

        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in best_state:
                    p.copy_(best_state[n])
    model.eval()
    info = {"history": history, "best": best, "train_rows": len(train), "val_rows": len(val),
            "train_label_counts": dict(counts), "elapsed_s": round(time.time() - t0, 1)}
    return info, (best_proba if best_proba is not None else np.zeros((0, len(labels)))), va_true


def train_adapter(base_dir: str | Path, task: str, train: Examples, val: Examples, labels: Sequence[str],
                  out_dir: str | Path, *, lora: bool = True, benign_label: str | None = None,
                  cfg: FinetuneConfig | None = None, progress: bool = False) -> Path:
    """Train a task adapter on a frozen shared base and save it as ``out_dir/adapters/<task>``.

    ``lora=True``: LoRA (r=8, query/value) + a new head; ``lora=False``: the head alone (linear
    probe). The base weights are never updated; ``out_dir`` gets a copy of the base once.
    Returns the adapter directory.
    """
    import torch
    from peft import get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file

    from secllm.model.modeling import load_classifier, read_meta
    from secllm.tasks.finetune import best_threshold

    from secllm.paths import check_task_name

    check_task_name(task)                 # it becomes a directory name under out_dir/adapters/
    cfg = cfg or FinetuneConfig(epochs=3, lr=2e-3)
    labels = list(labels)
    unknown = {l for l in train.labels + val.labels if l not in labels}
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not in the label set {labels}")
    torch.manual_seed(cfg.seed)
    base_dir, out = Path(base_dir), Path(out_dir)
    base_meta = read_meta(base_dir)
    model, tok, mcfg, _ = load_classifier(base_dir, from_base=base_meta.get("kind") != "classifier")
    for p in model.parameters():
        p.requires_grad = False
    model.classifier = torch.nn.Linear(model.classifier.in_features, len(labels))
    torch.nn.init.normal_(model.classifier.weight, std=0.02)
    torch.nn.init.zeros_(model.classifier.bias)
    model.config.num_labels = len(labels)
    peft_model = None
    if lora:
        from secllm.model.quiet import no_peft_deprecation

        with no_peft_deprecation():
            peft_model = get_peft_model(model.bert, _lora_config(), adapter_name=task)
        model.bert = peft_model
    params = [p for p in model.parameters() if p.requires_grad]
    max_len = min(cfg.max_length, mcfg.max_position)
    info, proba, va_true = _train_loop(model, tok, train, val, labels, params, cfg, max_len, progress)
    threshold = 0.5
    if benign_label in labels and len(va_true):
        bi = labels.index(benign_label)
        threshold = best_threshold(np.array([t != bi for t in va_true]), 1.0 - proba[:, bi])

    _copy_base(base_dir, out)
    d = out / ADAPTERS / task
    d.mkdir(parents=True, exist_ok=True)
    for stale in ("adapter_config.json", "adapter_model.safetensors"):
        (d / stale).unlink(missing_ok=True)
    _save_head(model.classifier, d / "head.safetensors")
    if peft_model is not None:
        sd = get_peft_model_state_dict(peft_model, adapter_name=task)
        save_file({k: v.detach().contiguous() for k, v in sd.items()}, str(d / "adapter_model.safetensors"))
        peft_model.peft_config[task].save_pretrained(str(d))
    meta = {"task": task, "labels": labels, "benign_label": benign_label, "threshold": threshold,
            "max_length": max_len, "kind": "lora" if lora else "head",
            "tokenizer_fingerprint": tok.fingerprint(), "base": base_meta.get("init") or base_dir.name,
            "lora": {"r": LORA_R, "target_modules": LORA_TARGETS} if lora else None,
            "finetune": {"config": dataclasses.asdict(cfg), **info}}
    (d / "task.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return d


_ONNX_FILES = ("model.onnx", "model.int8.onnx", "onnx.json")


def adapt_classifier_dir(src: Path, out: Path, examples: Examples, *, method: str, max_old_flip: float | None,
                         guard_examples: Examples | None, stage: bool = False) -> dict[str, Any]:
    """Grow a classifier directory and, for a web-attack detector, its whole cascade.

    The full model's head grows (:func:`add_classes`); so do its cascade stages, each with the same new
    classes and its own guard — the lexical first stage (``lexical/``, sparse token n-grams,
    :mod:`secllm.tasks.grow`) and the fast model (``fast/``) — so that the detector keeps its cascade
    (it drops a stage whose labels differ from the full model's) and a stage that never saw the new
    class cannot pass it as benign before the grown model sees it. The cascade's bands are kept (set
    on the old classes' validation parts). A directory that carried an ONNX export gets a fresh one
    (parity-checked; int8 only where it had only int8); a stale graph with the old labels is never left.
    """
    from secllm.model.modeling import load_classifier, save_model

    model, tok, mcfg, meta = load_classifier(src)
    model.float().eval()
    model, new_meta, info = add_classes(model, tok, meta, examples, method=method, max_old_flip=max_old_flip,
                                        guard_examples=guard_examples)
    keep = {k: v for k, v in new_meta.items() if k not in ("format", "version", "kind", "model_config",
                                                            "tokenizer_fingerprint")}
    save_model(model, tok, mcfg, out, kind="classifier", **keep)
    had_onnx = (src / "onnx.json").exists()
    int8_only = had_onnx and not (src / "model.onnx").exists()
    for name in _ONNX_FILES:                                  # an in-place adapt: the old graphs are stale
        (out / name).unlink(missing_ok=True)
    if not stage:
        from secllm.detect.cascade import FAST_DIR
        from secllm.detect.lexical import LEXICAL_DIR

        if (src / LEXICAL_DIR / "secllm.json").exists():
            info["lexical_stage"] = _grow_lexical_stage(src / LEXICAL_DIR, out / LEXICAL_DIR, tok, examples,
                                                        new_meta["labels"], method, max_old_flip, guard_examples)
        if (src / FAST_DIR / "secllm.json").exists():
            fi = adapt_classifier_dir(src / FAST_DIR, out / FAST_DIR, examples, method=method,
                                      max_old_flip=max_old_flip, guard_examples=guard_examples, stage=True)
            info["fast_stage"] = {k: fi[k] for k in ("method", "old_class_guard", "onnx") if k in fi}
    if had_onnx:
        from secllm.runtime.onnx import export_onnx

        try:
            ex = export_onnx(out, quantize=True)
        except Exception as exc:     # noqa: BLE001 — the torch model still serves; say why ONNX does not
            for name in _ONNX_FILES:
                (out / name).unlink(missing_ok=True)
            info["onnx"] = f"not re-exported ({type(exc).__name__}: {exc}); PyTorch serves this directory"
        else:
            if int8_only:
                Path(ex["onnx"]).unlink(missing_ok=True)
            info["onnx"] = {"re-exported": "int8" if int8_only else "fp32 + int8", "parity": ex["parity"]}
    return info


def _grow_lexical_stage(src: Path, out: Path, tok, examples: Examples, labels: list[str], method: str,
                        max_old_flip: float | None, guard_examples: Examples | None) -> dict[str, Any]:
    """The web cascade's lexical first stage grown by the same new classes (labels in the same order)."""
    import shutil

    from safetensors.numpy import save_file

    from secllm.detect.lexical import WEIGHTS_FILE, load_backend
    from secllm.tasks.finetune import encode_examples
    from secllm.tasks.grow import lexical_features, lexical_grown_tensors
    from secllm.tasks.grow_rows import grow_parts

    be, lmeta = load_backend(src)
    old = list(lmeta["labels"])
    if labels[:len(old)] != old:
        raise ValueError(f"{src}: the lexical stage's labels {old} are not the model's {labels[:len(old)]}")
    new = labels[len(old):]
    lab2id = {lab: i for i, lab in enumerate(labels)}
    y = np.array([lab2id[lab] for lab in examples.labels])
    ml = int(lmeta.get("max_length", 128))
    g = [lexical_features(be, encode_examples(tok, guard_examples, ml))] if guard_examples is not None \
        and len(guard_examples) else None
    feats = lexical_features(be, encode_examples(tok, examples, ml))
    rows, ginfo = grow_parts([(be.weight.T, be.bias, feats)], y, len(new), max_old_flip=max_old_flip, guard=g,
                             method=method)
    w_new, b_new = rows[0]
    if src.resolve() != out.resolve():
        out.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, out / f.name)
    save_file(lexical_grown_tensors(be, w_new, b_new), str(out / WEIGHTS_FILE))
    info = {"new_classes": new, "old_class_guard": ginfo}
    lmeta = {**lmeta, "labels": labels, "adaptations": [*lmeta.get("adaptations", []), info]}
    (out / "secllm.json").write_text(json.dumps(lmeta, indent=2, ensure_ascii=False))
    return info


def adapt_model_dir(model_dir: str | Path, task: str, examples: Examples, out_dir: str | Path, *,
                    method: str = "auto", max_old_flip: float | None = DEFAULT_MAX_OLD_FLIP,
                    guard_examples: Examples | None = None) -> dict[str, Any]:
    """Add the new classes of ``examples`` to ``task`` in ``model_dir``; write the result to ``out_dir``.

    A classifier directory becomes a classifier directory (same encoder weights, grown head; a web
    detector's cascade stages grow with it, :func:`adapt_classifier_dir`); a multi-task directory gets
    ``out_dir/adapters/<task>`` (base copied once, LoRA weights kept) and the task's served lexical /
    text head grows too (:func:`secllm.tasks.grow.grow_served`).
    """
    from secllm.model.modeling import read_meta
    from secllm.paths import check_task_name

    check_task_name(task)
    src, out = Path(model_dir), Path(out_dir)
    meta = read_meta(src)
    if not (src / "model.safetensors").exists():
        raise ValueError(f"{src} holds no weights to grow (an ONNX-only export?): adapt the directory it was "
                         "exported from, then export again (`secllm models export`)")
    if meta.get("kind") == "classifier" and meta.get("task") == task and not (src / ADAPTERS / task).exists():
        return adapt_classifier_dir(src, out, examples, method=method, max_old_flip=max_old_flip,
                                    guard_examples=guard_examples)
    mt = MultiTaskModel(src)
    model, tmeta = mt.use(task)
    from secllm.tasks.grow import grow_served

    # what validation chose to serve (lexical head, ensemble, text head) grows with the adapter
    served = grow_served(src, task, examples, model=model, tok=mt.tok, task_meta=tmeta,
                         guard_examples=guard_examples, max_old_flip=max_old_flip, method=method)
    if served is not None and served.adapter_rows is not None:
        # an ensemble: its adapter rows were fitted jointly with the head's, under one guard
        model, new_meta, info = append_rows(model, tmeta, served.new, *served.adapter_rows,
                                            {"method": f"{served.info['old_class_guard']['method']} "
                                                       "(joint with the lexical head)",
                                             "examples": dict(Counter(examples.labels))})
    else:
        model, new_meta, info = add_classes(model, mt.tok, tmeta, examples, method=method,
                                            max_old_flip=max_old_flip, guard_examples=guard_examples)
    _copy_base(src, out)
    d = out / ADAPTERS / task
    d.mkdir(parents=True, exist_ok=True)
    srcd = src / ADAPTERS / task
    if tmeta["kind"] == "lora" and srcd.resolve() != d.resolve():
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy2(srcd / name, d / name)
    if tmeta["kind"] == "native":
        # the base's own head cannot grow in place: the grown head becomes a head-only adapter
        new_meta = {**new_meta, "kind": "head", "tokenizer_fingerprint": mt.tok.fingerprint()}
    _save_head(model.classifier, d / "head.safetensors")
    keep = {k: v for k, v in new_meta.items() if k not in ("format", "version", "model_config")}
    (d / "task.json").write_text(json.dumps(keep, indent=2, ensure_ascii=False))
    if served is not None:             # the served head grew too (the adapter alone serves otherwise)
        from secllm.tasks.heads import head_dir

        served.write(head_dir(src, task), head_dir(out, task))
        info["served_system"] = served.info
    return info


def merge_task(model_dir: str | Path, task: str, out_dir: str | Path) -> Path:
    """Fold ``task``'s adapter (LoRA weights merged into the encoder, its head) into a plain
    classifier directory ``out_dir`` — what ``secllm models export`` turns into a torch-free ONNX
    task model. Same outputs as the adapter on the shared base (up to float rounding).

        >>> merge_task("secllm/assets/tasks", "url", "/tmp/url-merged")          # doctest: +SKIP
    """
    from secllm.model.modeling import save_model

    mt = MultiTaskModel(model_dir)        # a private instance: merging rewrites its encoder
    model, meta = mt.use(task)
    if meta["kind"] == "lora":
        model.bert = mt.peft.merge_and_unload()
        mt.peft = None
    labels = list(meta["labels"])
    model.config.num_labels = len(labels)
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {l: i for i, l in enumerate(labels)}
    model.num_labels = len(labels)
    keep = {k: v for k, v in meta.items() if k not in ("format", "version", "kind", "model_config",
                                                        "tokenizer_fingerprint", "base")}
    merged_from = {"base": str(model_dir), "task": task, "adapter_kind": meta["kind"],
                   "base_pretrain": mt.base_meta.get("pretrain", {}).get("steps")}
    return save_model(model.float(), mt.tok, mt.mcfg, out_dir, kind="classifier", **keep, merged_from=merged_from)


def export_task_onnx(model_dir: str | Path, task: str, out_dir: str | Path, *, quantize: bool = True,
                     int8_only: bool = False) -> dict[str, Any]:
    """``task``'s adapter → a standalone ONNX task directory ``out_dir`` (:func:`merge_task`, then
    :func:`secllm.runtime.onnx.export_onnx` with its parity check). ``int8_only`` drops the fp32
    graph afterwards. Returns the export manifest."""
    import tempfile

    from secllm.paths import check_task_name
    from secllm.runtime.onnx import export_onnx

    check_task_name(task)
    with tempfile.TemporaryDirectory() as tmp:
        info = export_onnx(merge_task(model_dir, task, Path(tmp) / task), out_dir, quantize=quantize)
    if int8_only and quantize:
        Path(info["onnx"]).unlink(missing_ok=True)
    from secllm.tasks.heads import head_dir

    src = head_dir(model_dir, task)
    if (src / "secllm.json").exists():          # the task's lexical head travels with it (served if chosen)
        import shutil

        shutil.copytree(src, head_dir(out_dir, task), dirs_exist_ok=True)
        info["lexical_head"] = str(head_dir(out_dir, task))
    return info


def read_examples_jsonl(path: str | Path, modality: str, prep=None) -> tuple[Examples, int]:
    """``{"text": ..., "label": ...}`` lines → prepared Examples; returns (examples, skipped rows)."""
    from secllm.data.readers import read_jsonl

    texts, labels, skipped = [], [], 0
    for r in read_jsonl(path, modality=modality):
        if r.error or not r.label or not isinstance(r.text, str) or not r.text.strip():
            skipped += 1
            continue
        try:
            t = prep(r.text) if prep else r.text
        except ValueError:
            skipped += 1
            continue
        if not t.strip():
            skipped += 1
            continue
        texts.append(t)
        labels.append(str(r.label))
    return Examples(texts, [modality] * len(texts), labels, ["user"] * len(texts)), skipped
