"""Many tasks on one base, and new threats from a handful of examples, without retraining the base.

**Multi-task directory.** A base model directory (``load_classifier``-compatible: a pretrained
``mlm`` base or a fine-tuned ``classifier``) may hold task adapters beside its weights::

    model_dir/
      secllm.json, config.json, model.safetensors, tokenizer.json     # the one shared base
      adapters/<task>/task.json              # labels, benign label, threshold, max_length, kind
      adapters/<task>/head.safetensors       # the task's linear head ("weight", "bias")
      adapters/<task>/adapter_config.json    # peft LoRA (query/value, r=8), only for kind "lora"
      adapters/<task>/adapter_model.safetensors

:class:`MultiTaskModel` loads the base once; :meth:`MultiTaskModel.use` switches task by
activating that task's LoRA weights (peft ``set_adapter``) and swapping the head, so serving N
tasks costs one base plus N small adapters (a LoRA adapter of the cpu-small base is ~0.1 MB).
Task kinds: ``lora`` (LoRA on the encoder + head), ``head`` (frozen encoder + head: a linear
probe) and ``native`` (the base's own classifier head, when the base is a fine-tuned classifier).

**New classes** (:func:`add_classes`): the head grows by one row per new class; the encoder and
the old rows stay frozen, so an old-class logit never changes and an old-class prediction can only
change where the new class now wins. Two ways to fit the new row, both on frozen head features
(the pooled encoder output the head reads), both in seconds on a CPU:

* ``linear`` (default when the examples also hold old-class rows): logistic fit of the new row
  against the fixed old rows (cross-entropy on the extended softmax), L2-regularised;
* ``prototype`` (weight imprinting, Qi et al. 2018): the row is the mean normalised feature of
  the new class scaled to the old rows' norm; its bias is calibrated on the examples.

:func:`fewshot_experiment` measures it (pretrained vs random base vs TF-IDF + LR).

    >>> spec = {"task": "url", "labels": ["benign", "phishing"], "kind": "head"}
    >>> sorted(_check_task_meta(spec))
    ['benign_label', 'kind', 'labels', 'max_length', 'task', 'threshold']
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from secllm.tasks.finetune import Examples, FinetuneConfig
from secllm.tasks.grow import DEFAULT_MAX_OLD_FLIP, _fit_new_rows  # noqa: F401  (re-exported)

ADAPTERS = "adapters"
LORA_TARGETS = ["query", "value"]
LORA_R = 8
BASE_FILES = ("secllm.json", "config.json", "model.safetensors", "tokenizer.json")

__all__ = ["MultiTaskModel", "train_adapter", "add_classes", "fewshot_experiment", "head_features",
           "read_examples_jsonl", "ADAPTERS"]


def _check_task_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = {"task": meta["task"], "labels": list(meta["labels"]), "benign_label": meta.get("benign_label"),
           "threshold": float(meta.get("threshold", 0.5)), "max_length": int(meta.get("max_length", 128)),
           "kind": meta.get("kind", "head")}
    if out["kind"] not in ("lora", "head", "native"):
        raise ValueError(f"unknown adapter kind {out['kind']!r}")
    return {**meta, **out}


def _lora_config():
    from peft import LoraConfig

    return LoraConfig(target_modules=list(LORA_TARGETS), r=LORA_R, lora_alpha=2 * LORA_R, lora_dropout=0.05)


def _save_head(linear, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"weight": linear.weight.detach().contiguous(), "bias": linear.bias.detach().contiguous()},
              str(path))


def _load_head(path: Path):
    import torch
    from safetensors.torch import load_file

    sd = load_file(str(path))
    lin = torch.nn.Linear(sd["weight"].shape[1], sd["weight"].shape[0])
    with torch.no_grad():
        lin.weight.copy_(sd["weight"])
        lin.bias.copy_(sd["bias"])
    return lin


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
# serving: one base, many task adapters
# --------------------------------------------------------------------------------------------

class MultiTaskModel:
    """One shared base with switchable task adapters (see the module doc).

    ``use(task)`` returns ``(model, task_meta)``; the returned model object is the same for every
    task (its head and active LoRA weights change), so hold one task at a time per instance (not
    thread-safe). ``base_loads`` counts how often base weights were read (always 1).
    """

    def __init__(self, model_dir: str | Path):
        import torch

        from secllm.model.modeling import load_classifier, read_meta

        self.model_dir = Path(model_dir)
        self.base_meta = read_meta(self.model_dir)
        native = self.base_meta.get("kind") == "classifier"
        self.model, self.tok, self.mcfg, _ = load_classifier(self.model_dir, from_base=not native)
        self.model.float().eval()
        self.base_loads = 1
        self.heads: dict[str, torch.nn.Linear] = {}
        self.metas: dict[str, dict[str, Any]] = {}
        self.peft = None          # the PeftModel wrapping model.bert, once a LoRA task is loaded
        # held by each TaskDetector over "activate my task + run the model": tasks share one module
        self.lock = threading.RLock()
        self.active: str | None = None
        if native and self.base_meta.get("task"):
            t = self.base_meta["task"]
            self.heads[t] = self.model.classifier
            self.metas[t] = _check_task_meta({**self.base_meta, "kind": "native"})

    def available(self) -> list[str]:
        from secllm.paths import adapter_tasks

        return sorted(set(adapter_tasks(self.model_dir)) | set(self.metas))

    def _load(self, task: str) -> None:
        d = self.model_dir / ADAPTERS / task
        if not (d / "task.json").exists():
            raise KeyError(f"{self.model_dir} has no adapter for task {task!r}; available: {self.available()}")
        meta = _check_task_meta(json.loads((d / "task.json").read_text()))
        fp = meta.get("tokenizer_fingerprint")
        if fp and fp != self.tok.fingerprint():
            raise ValueError(f"adapter {task!r} was trained with another tokenizer than the base in {self.model_dir}")
        if meta["kind"] == "lora":
            self._load_lora(task, d)
        self.heads[task] = _load_head(d / "head.safetensors").eval()
        self.metas[task] = meta

    def _load_lora(self, task: str, d: Path) -> None:
        from peft import PeftModel

        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.model.bert, str(d), adapter_name=task, is_trainable=False)
            self.model.bert = self.peft
        else:
            self.peft.load_adapter(str(d), adapter_name=task, is_trainable=False)
        self.peft.eval()

    def use(self, task: str):
        """Activate ``task``: returns ``(model, task_meta)``; no base weights are read."""
        if task not in self.metas:
            self._load(task)
        meta = self.metas[task]
        if self.peft is not None:
            if meta["kind"] == "lora":
                self.peft.base_model.enable_adapter_layers()
                self.peft.set_adapter(task)
            else:
                self.peft.base_model.disable_adapter_layers()
        self.model.classifier = self.heads[task]
        self.model.config.num_labels = len(meta["labels"])
        self.active = task
        return self.model, meta


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


# --------------------------------------------------------------------------------------------
# adding classes to a trained head
# --------------------------------------------------------------------------------------------

def head_features(model, tok, ex: Examples, max_length: int, batch_tokens: int = 8192) -> np.ndarray:
    """The vectors the head reads (pooled mean ⊕ max of the encoder), ``(n, 2 * hidden)``.

    Captured with a forward pre-hook on ``model.classifier``, so this is exactly the head's input
    for any encoder (plain, LoRA-adapted) without duplicating the pooling code.
    """
    import torch

    from secllm.runtime.batching import length_batches
    from secllm.tasks.finetune import collate, encode_examples

    seqs = encode_examples(tok, ex, max_length)
    out = np.zeros((len(seqs), model.classifier.in_features), dtype=np.float32)
    grabbed: list[torch.Tensor] = []
    hook = model.classifier.register_forward_pre_hook(lambda _m, args: grabbed.append(args[0].detach()))
    model.eval()
    try:
        with torch.inference_mode():
            for b in length_batches([len(s) for s in seqs], batch_tokens, None):
                grabbed.clear()
                ids, att = collate([seqs[i] for i in b], tok.pad_id)
                model(input_ids=ids, attention_mask=att)
                out[b] = grabbed[0].float().numpy()
    finally:
        hook.remove()
    return out


def _prototype_rows(feats: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray, n_new: int,
                    quantile: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Weight imprinting: row = normalised class mean × mean old-row norm; bias calibrated.

    With old-class rows among the examples the bias maximises F1 of "new vs rest" on them; without,
    it is set so that 90% of the new examples win against the old classes (``quantile``).
    """
    scale = float(np.linalg.norm(W, axis=1).mean()) or 1.0
    rows, biases = [], []
    old_logits = feats @ W.T + b
    for k in range(n_new):
        mu = feats[y == W.shape[0] + k].mean(0)
        w = mu / (np.linalg.norm(mu) + 1e-8) * scale
        margin = old_logits.max(1) - feats @ w          # new wins when bias > margin
        pos = y == W.shape[0] + k
        if (~pos).any():
            cands = np.unique(margin) + 1e-4
            f1s = [(2 * (pos & (margin < c)).sum()) / max(1, (margin < c).sum() + pos.sum()) for c in cands]
            bias = float(cands[int(np.argmax(f1s))])
        else:
            bias = float(np.quantile(margin[pos], 1 - quantile))
        rows.append(w)
        biases.append(bias)
    return np.stack(rows).astype(np.float32), np.asarray(biases, dtype=np.float32)


def _guard_bias(feats: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray, n_new: int,
                max_old_flip: float, seed: int = 0) -> tuple[float, dict[str, Any]]:
    """How far to lower the new rows' biases so that old classes keep their predictions.

    Two-fold on the examples: fit the new rows on one half, and on the other half's *old-class*
    rows find the smallest bias drop after which at most ``max_old_flip`` of them would be
    predicted as a new class; the larger drop of the two folds is returned (never negative). In
    sample the fitted rows separate the examples perfectly, so only held-out rows can show how
    much a new row steals from the old classes.
    """
    from secllm.tasks.grow import stratified_halves

    k_old = W.shape[0]
    fold = stratified_halves(y, seed)
    drops, flips = [], []
    for f in (0, 1):
        fit, held = fold != f, fold == f
        if not all((y[fit] == k_old + k).any() for k in range(n_new)) or not (y[fit] < k_old).any():
            continue
        w, bn = _fit_new_rows(feats[fit], y[fit], W, b, n_new)
        old_rows = held & (y < k_old)
        if not old_rows.any():
            continue
        x = feats[old_rows]
        margin = (x @ w.T + bn).max(1) - (x @ W.T + b).max(1)     # > 0: a new class would win
        allowed = int(np.floor(max_old_flip * len(margin)))
        srt = np.sort(margin)[::-1]
        drops.append(max(0.0, float(srt[allowed]) + 1e-4) if allowed < len(srt) else 0.0)
        flips.append(float(np.mean(margin > 0)))
    info = {"max_old_flip": max_old_flip, "held_out_old_flip_before": round(float(np.mean(flips)), 4) if flips else None,
            "bias_drop": round(max(drops), 4) if drops else 0.0}
    return (max(drops) if drops else 0.0), info


def _guard_on_rows(g: np.ndarray, W: np.ndarray, b: np.ndarray, w_new: np.ndarray, b_new: np.ndarray,
                   max_old_flip: float) -> tuple[float, dict[str, Any]]:
    """The bias drop after which at most ``max_old_flip`` of the old-class rows ``g`` (features; never
    used for fitting) would move to a new class."""
    margin = (g @ w_new.T + b_new).max(1) - (g @ W.T + b).max(1)
    allowed = int(np.floor(max_old_flip * len(margin)))
    srt = np.sort(margin)[::-1]
    drop = max(0.0, float(srt[allowed]) + 1e-4) if allowed < len(srt) else 0.0
    return drop, {"max_old_flip": max_old_flip, "guard_rows": int(len(margin)),
                  "guard_rows_flip_before": round(float(np.mean(margin > 0)), 4), "bias_drop": round(drop, 4)}


def add_classes(model, tok, meta: dict[str, Any], examples: Examples, *, method: str = "auto",
                seed: int = 0, max_old_flip: float | None = DEFAULT_MAX_OLD_FLIP,
                guard_examples: Examples | None = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Grow ``model``'s head by the classes of ``examples`` not in ``meta["labels"]``.

    ``examples`` holds the new-class rows and, optionally, old-class rows (negatives/replay).
    ``method``: ``linear``, ``prototype`` or ``auto`` (linear when there are old-class rows).
    ``max_old_flip`` (linear only): the new rows' biases are lowered until, on held-out halves of
    the examples, at most this share of old-class rows would move to a new class
    (:func:`_guard_bias`); ``None`` turns the guard off. ``guard_examples``: old-class rows used only
    to set that bias (never fitted on), so the share can be measured on more rows than the handful of
    examples; with them the fitted rows' flips are measured there directly.
    Returns ``(model, new_meta, info)``; the model is changed in place (new head module).
    """
    labels = list(meta["labels"])
    new = [l for l in dict.fromkeys(examples.labels) if l not in labels]
    if not new:
        raise ValueError(f"no new class in the examples: every label is already one of {labels}")
    all_labels = labels + new
    lab2id = {l: i for i, l in enumerate(all_labels)}
    t0 = time.time()
    feats = head_features(model, tok, examples, int(meta.get("max_length", 128)))
    y = np.array([lab2id[l] for l in examples.labels])
    W = model.classifier.weight.detach().float().numpy().copy()
    b = model.classifier.bias.detach().float().numpy().copy()
    has_old = bool((y < len(labels)).any())
    if method == "auto":
        method = "linear" if has_old else "prototype"
    guard: dict[str, Any] | None = None
    if method == "linear":
        if not has_old:
            raise ValueError("method 'linear' needs old-class rows among the examples (negatives)")
        w_new, b_new = _fit_new_rows(feats, y, W, b, len(new))
        if max_old_flip is not None:
            if guard_examples is not None and len(guard_examples):
                bad = sorted(set(guard_examples.labels) - set(labels))
                if bad:
                    raise ValueError(f"guard examples must be of the old classes; got {bad}")
                g = head_features(model, tok, guard_examples, int(meta.get("max_length", 128)))
                drop, guard = _guard_on_rows(g, W, b, w_new, b_new, max_old_flip)
            else:
                drop, guard = _guard_bias(feats, y, W, b, len(new), max_old_flip, seed)
            b_new = (b_new - drop).astype(np.float32)
    elif method == "prototype":
        w_new, b_new = _prototype_rows(feats, y, W, b, len(new))
    else:
        raise ValueError(f"unknown method {method!r}: linear, prototype or auto")
    info = {"method": method, "examples": dict(Counter(examples.labels)), "elapsed_s": round(time.time() - t0, 2)}
    if guard is not None:
        info["old_class_guard"] = guard
    return _append_rows(model, meta, new, w_new, b_new, info)


def _append_rows(model, meta: dict[str, Any], new: list[str], w_new: np.ndarray, b_new: np.ndarray,
                 info: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Replace ``model``'s head by its old rows + the new classes' rows; record the adaptation."""
    import torch

    labels = list(meta["labels"])
    all_labels = labels + list(new)
    W = model.classifier.weight.detach().float().numpy()
    b = model.classifier.bias.detach().float().numpy()
    head = torch.nn.Linear(W.shape[1], len(all_labels))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(np.concatenate([W, w_new]).astype(np.float32)))
        head.bias.copy_(torch.from_numpy(np.concatenate([b, b_new]).astype(np.float32)))
    model.classifier = head.eval()
    model.config.num_labels = len(all_labels)
    model.config.id2label = dict(enumerate(all_labels))
    model.config.label2id = {l: i for i, l in enumerate(all_labels)}
    new_meta = {**meta, "labels": all_labels}
    info = {"new_classes": list(new), **info}
    new_meta["adaptations"] = [*new_meta.get("adaptations", []), info]
    return model, new_meta, info


_ONNX_FILES = ("model.onnx", "model.int8.onnx", "onnx.json")


def _adapt_classifier_dir(src: Path, out: Path, examples: Examples, *, method: str, max_old_flip: float | None,
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
            fi = _adapt_classifier_dir(src / FAST_DIR, out / FAST_DIR, examples, method=method,
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
    from secllm.tasks.grow import grow_parts, lexical_features, lexical_grown_tensors

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
    detector's cascade stages grow with it, :func:`_adapt_classifier_dir`); a multi-task directory gets
    ``out_dir/adapters/<task>`` (base copied once, LoRA weights kept) and the task's served lexical /
    text head grows too (:func:`secllm.tasks.grow.grow_served`).
    """
    from secllm.model.modeling import read_meta

    src, out = Path(model_dir), Path(out_dir)
    meta = read_meta(src)
    if not (src / "model.safetensors").exists():
        raise ValueError(f"{src} holds no weights to grow (an ONNX-only export?): adapt the directory it was "
                         "exported from, then export again (`secllm models export`)")
    if meta.get("kind") == "classifier" and meta.get("task") == task and not (src / ADAPTERS / task).exists():
        return _adapt_classifier_dir(src, out, examples, method=method, max_old_flip=max_old_flip,
                                     guard_examples=guard_examples)
    mt = MultiTaskModel(src)
    model, tmeta = mt.use(task)
    from secllm.tasks.grow import grow_served

    # what validation chose to serve (lexical head, ensemble, text head) grows with the adapter
    served = grow_served(src, task, examples, model=model, tok=mt.tok, task_meta=tmeta,
                         guard_examples=guard_examples, max_old_flip=max_old_flip, method=method)
    if served is not None and served.adapter_rows is not None:
        # an ensemble: its adapter rows were fitted jointly with the head's, under one guard
        model, new_meta, info = _append_rows(model, tmeta, served.new, *served.adapter_rows,
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
        from secllm.tasks.lexical_head import head_dir

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

    from secllm.runtime.onnx import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        info = export_onnx(merge_task(model_dir, task, Path(tmp) / task), out_dir, quantize=quantize)
    if int8_only and quantize:
        Path(info["onnx"]).unlink(missing_ok=True)
    from secllm.tasks.lexical_head import head_dir

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


# --------------------------------------------------------------------------------------------
# the few-shot experiment
# --------------------------------------------------------------------------------------------

def _per_class_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    out = {}
    for c in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == c and p != c)
        out[c] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return out


def _mean(xs) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return float(np.mean(xs)) if xs else float("nan")


def _fewshot_examples(train: Examples, pool: list[int], k: int, replay: Examples) -> Examples:
    """The replayed old-class rows + the first ``k`` seeded new-class training rows."""
    new_ex = train.subset(pool[:k])
    return Examples(replay.texts + new_ex.texts, replay.modalities + new_ex.modalities, replay.labels + new_ex.labels)


def _fewshot_scores(test: Examples, pred: list[str], labels: Sequence[str], new_class: str, old_test_idx: list[int],
                    before: list[str], f1_before: dict[str, float], old_labels: list[str]) -> dict[str, float]:
    """New-class F1 on all test rows; the old classes' macro-F1 before/after and the share of old-class
    test predictions that changed (``before``: the old model's predictions on the old-class rows)."""
    old_true = [test.labels[i] for i in old_test_idx]
    after_old = [pred[i] for i in old_test_idx]
    f1_after = _per_class_f1(old_true, after_old, labels)
    return {"new_f1": _per_class_f1(test.labels, pred, labels)[new_class],
            "old_macro_f1_before": _mean(f1_before[c] for c in old_labels),
            "old_macro_f1_after": _mean(f1_after[c] for c in old_labels),
            "old_changed": float(np.mean([a != b for a, b in zip(before, after_old)])) if before else 0.0}


def _predict_labels(model, tok, ex: Examples, labels: Sequence[str], max_length: int) -> list[str]:
    from secllm.tasks.finetune import encode_examples, predict_proba_ids

    if not len(ex):
        return []
    proba = predict_proba_ids(model, encode_examples(tok, ex, max_length), tok.pad_id)
    return [labels[i] for i in proba.argmax(1)]


def _text_parts(old_train, old_val, old_labels) -> tuple[list, dict[str, Any]]:
    """A text head's two parts (char n-gram TF-IDF + LR, MiniLM embeddings + LR) fitted on the old
    classes, each C on validation (:mod:`secllm.tasks.text_head`'s grids), as ``(W, b, features)``."""
    from sklearn.linear_model import LogisticRegression

    from secllm.data.corpus import model_text
    from secllm.tasks.grow import char_features
    from secllm.tasks.text_head import SentenceEncoder, _linear_in_order, fit_char

    tx = lambda ex: [model_text(t, m) for t, m in zip(ex.texts, ex.modalities)]  # noqa: E731
    t0 = time.time()
    tr, va = tx(old_train), tx(old_val)

    def val_f1(p: np.ndarray) -> float:
        return _mean(_per_class_f1(old_val.labels, [old_labels[i] for i in p.argmax(1)], old_labels).values())

    char = max((fit_char(tr, list(old_train.labels), old_labels, C)[0] for C in (3.0, 10.0, 30.0)),
               key=lambda m: val_f1(m.predict_proba(va)))
    enc = SentenceEncoder()
    etr, eva = enc.embed(tr).astype(np.float64), enc.embed(va).astype(np.float64)
    sent = []
    for C in (1.0, 5.0, 20.0, 50.0):
        lr = LogisticRegression(C=C, max_iter=3000, random_state=0).fit(etr, list(old_train.labels))
        w, b = _linear_in_order(lr.coef_, lr.intercept_, [str(c) for c in lr.classes_], old_labels)
        sent.append((val_f1(eva @ w.T + b), C, w, b))
    _, sc, sw, sb = max(sent, key=lambda r: r[0])
    parts = [(char.coef.astype(np.float64), char.intercept.astype(np.float64), lambda ex: char_features(char, tx(ex))),
             (sw, sb, lambda ex: enc.embed(tx(ex)).astype(np.float64))]
    return parts, {"sentence_C": sc, "fit_s": round(time.time() - t0, 1)}


def _fewshot_heads(train, old_train, old_val, test, old_test_idx, old_labels, new_class, pool, shots, replay,
                   guard_rows, max_old_flip, seed, grid, pretrained, tokenizer, base_dir,
                   text: bool = False) -> dict[str, Any]:
    """The lexical head, head + pretrained-model ensemble and (``text``) text head rows of
    :func:`fewshot_experiment`."""
    from secllm.detect.lexical import fit_lexical
    from secllm.tasks.finetune import encode_examples
    from secllm.tasks.grow import grow_parts, lexical_features, served_proba
    from secllm.tasks.lexical_head import HEAD_MAX_LENGTH

    if pretrained is not None:
        model, tok, ml, W0, b0 = pretrained
    else:
        from secllm.tokenizer import SecTokenizer

        tok = tokenizer or SecTokenizer.load(base_dir)
    enc = lambda ex: encode_examples(tok, ex, HEAD_MAX_LENGTH)  # noqa: E731
    t0 = time.time()
    s_tr, s_va = enc(old_train), enc(old_val)
    best = None
    for C in grid:
        lex = fit_lexical(s_tr, list(old_train.labels), old_labels, tok.vocab_size, C=C, n_buckets=1 << 15, max_iter=1000)
        pv = lex.predict_proba(s_va).argmax(1)
        f1 = _mean(_per_class_f1(old_val.labels, [old_labels[i] for i in pv], old_labels).values())
        if best is None or f1 > best[0]:
            best = (f1, C, lex)
    _, C, lex = best
    fit_s = time.time() - t0
    lab2id = {lab: i for i, lab in enumerate(old_labels + [new_class])}

    def lex_part(ex):
        return lexical_features(lex, enc(ex))

    def ad_part(ex):
        return head_features(model, tok, ex, ml).astype(np.float64)

    systems: dict[str, list] = {"lexical head": [(lex.weight.T.astype(np.float64), lex.bias.astype(np.float64), lex_part)]}
    if pretrained is not None:
        systems["ensemble (pretrained + lexical head)"] = [(W0.astype(np.float64), b0.astype(np.float64), ad_part),
                                                          systems["lexical head"][0]]
    text_info = None
    if text:
        systems["text head"], text_info = _text_parts(old_train, old_val, old_labels)
    targets = list(max_old_flip) if isinstance(max_old_flip, (list, tuple)) else [max_old_flip]
    old_test = test.subset(old_test_idx)
    out: dict[str, Any] = {}
    for name, parts in systems.items():
        test_f = [f(test) for _, _, f in parts]
        guard_f = [f(guard_rows) for _, _, f in parts] if guard_rows is not None else None
        old_logits = [np.asarray(x @ W.T) + b for (W, b, _), x in zip(parts, test_f)]
        empty = [np.zeros((len(test), 0)) for _ in parts]
        before_all = [old_labels[i] for i in served_proba(old_logits, empty).argmax(1)]
        before = [before_all[i] for i in old_test_idx]
        f1_before = _per_class_f1(old_test.labels, before, old_labels)
        rows = []
        all_labels = old_labels + [new_class]
        for k in shots:
            ex = _fewshot_examples(train, pool, k, replay)
            y = np.array([lab2id[lab] for lab in ex.labels])
            ex_parts = [(W, b, f(ex)) for W, b, f in parts]         # features once per k, for every target
            for target in targets:
                t1 = time.time()
                grown, ginfo = grow_parts(ex_parts, y, 1, max_old_flip=target, guard=guard_f, seed=seed)
                adapt_s = time.time() - t1
                new_logits = [np.asarray(x @ w.T.astype(np.float64)) + bn for (w, bn), x in zip(grown, test_f)]
                pred = [all_labels[i] for i in served_proba(old_logits, new_logits).argmax(1)]
                rows.append({"shots": k, "max_old_flip": target, "method": ginfo.get("method"),
                             **_fewshot_scores(test, pred, all_labels, new_class, old_test_idx, before, f1_before,
                                               old_labels),
                             "adapt_s": round(adapt_s, 2), "old_class_guard": ginfo if target is not None else None})
        out[name] = {"rows": rows, "old_per_class_f1_before": f1_before, "head_C": C, "head_fit_s": round(fit_s, 1),
                     "note": "served-system growth (secllm.tasks.grow): old rows frozen, joint guard"}
        if name == "text head":
            out[name].update({"head_C": None, "head_fit_s": text_info["fit_s"], "sentence_C": text_info["sentence_C"]})
    return out


def fewshot_experiment(data: dict[str, Examples], new_class: str, *, base_dir: str | Path | None,
                       labels: Sequence[str], shots: Sequence[int] = (4, 16, 64), replay_per_class: int = 16,
                       random_init: bool = True, model_cfg=None, tokenizer=None,
                       cfg: FinetuneConfig | None = None, method: str = "auto", seed: int = 0,
                       work_dir: str | Path | None = None, test_key: str = "test",
                       baseline: bool = True, benign_label: str | None = None,
                       guard_per_class: int = 0,
                       max_old_flip: float | None | Sequence[float | None] = DEFAULT_MAX_OLD_FLIP,
                       heads: bool = False, head_grid: Sequence[float] = (5.0, 50.0, 200.0),
                       text_head: bool = False, cascade: bool = False,
                       cascade_max_f1_drop: float = 0.002) -> dict[str, Any]:
    """F1 on a held-out class learnt from few examples, from the pretrained base vs a random base
    vs TF-IDF + LR, and the old classes' F1 before and after adding it.

    Protocol: ``new_class`` is removed from train/val; a classifier for the old classes is
    fine-tuned (per init: ``pretrained`` from ``base_dir``, ``random`` from ``model_cfg`` +
    ``tokenizer``, or the base's tokenizer and config); then for each ``k`` in ``shots``, ``k``
    seeded examples of the new class (from train) plus ``replay_per_class`` old-class rows per
    class are added with :func:`add_classes` (encoder and old head rows frozen). TF-IDF + LR is
    refitted on old train + the same ``k`` rows. Scores on ``data[test_key]``: the new class's F1
    (all test rows), the old classes' macro-F1 on the old-class test rows before/after, and the
    share of old-class test predictions that changed. ``guard_per_class`` > 0: that many old-class
    *validation* rows per class (seeded) set the old-class guard's bias (``add_classes``'s
    ``guard_examples``) instead of the replayed examples' held-out halves. ``max_old_flip``: the
    guard's target share (``add_classes``; ``None`` turns the guard off); several targets give one
    row per (shots, target) on the same old-class model and examples.

    ``heads``: also the systems ``secllm detect`` serves for most tasks, grown by
    :mod:`secllm.tasks.grow` — a lexical head (token-bag logistic regression over the base tokenizer,
    fitted on the old classes' training rows, C from ``head_grid`` on their validation rows) and the
    ensemble of that head with the pretrained old-class model (mean of probabilities; both grown
    jointly under one guard). ``text_head``: also a text head (char n-grams + MiniLM sentence
    embeddings, :mod:`secllm.tasks.text_head`) fitted on the old classes and grown the same way.
    ``cascade`` (web attack; needs both inits): the old-class models as a served web cascade, grown
    as ``secllm adapt`` grows one (:mod:`secllm.tasks.fewshot_cascade`).
    Same examples, guard rows and old/new scoring (argmax) as the others.
    """
    import tempfile

    from secllm.model.config import ModelConfig
    from secllm.tasks.finetune import finetune

    cfg = cfg or FinetuneConfig(epochs=3)
    labels = list(labels)
    if new_class not in labels:
        raise ValueError(f"{new_class!r} is not a label of the task ({labels})")
    old_labels = [l for l in labels if l != new_class]
    train, val, test = data["train"], data["val"], data[test_key]
    keep = lambda ex: ex.subset(i for i, l in enumerate(ex.labels) if l != new_class)  # noqa: E731
    old_train, old_val = keep(train), keep(val)
    pool = [i for i, l in enumerate(train.labels) if l == new_class]
    if not pool:
        raise ValueError(f"no training rows of {new_class!r}")
    rng = random.Random(seed)
    rng.shuffle(pool)
    old_test_idx = [i for i, l in enumerate(test.labels) if l != new_class]
    old_test = test.subset(old_test_idx)
    by_old: dict[str, list[int]] = {}
    for i, l in enumerate(old_train.labels):
        by_old.setdefault(l, []).append(i)
    replay_idx = sorted(i for idx in by_old.values() for i in random.Random(seed).sample(idx, min(len(idx), replay_per_class)))
    replay = old_train.subset(replay_idx)
    guard_rows = None
    if guard_per_class > 0:
        by_val: dict[str, list[int]] = {}
        for i, l in enumerate(old_val.labels):
            by_val.setdefault(l, []).append(i)
        guard_rows = old_val.subset(sorted(i for idx in by_val.values()
                                           for i in random.Random(seed + 1).sample(idx, min(len(idx), guard_per_class))))

    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="secllm-fewshot-"))
    inits: dict[str, dict[str, Any]] = {}
    if base_dir is not None:
        inits["pretrained"] = {"base_dir": base_dir}
    if random_init:
        if tokenizer is None or model_cfg is None:
            if base_dir is None:
                raise ValueError("random_init needs model_cfg= and tokenizer= (or base_dir to borrow them)")
            from secllm.model.modeling import read_meta
            from secllm.tokenizer import SecTokenizer

            tokenizer = tokenizer or SecTokenizer.load(base_dir)
            model_cfg = model_cfg or ModelConfig.from_json(read_meta(base_dir)["model_config"])
        inits["random"] = {"tokenizer": tokenizer, "model_cfg": model_cfg}
    shots = [k for k in shots if k <= len(pool)] or [len(pool)]
    result: dict[str, Any] = {"new_class": new_class, "old_labels": old_labels, "shots": list(shots),
                              "replay_per_class": replay_per_class, "guard_per_class": guard_per_class,
                              "max_old_flip": max_old_flip,
                              "method": method, "test_key": test_key,
                              "test_rows": len(test), "test_new_rows": len(test) - len(old_test),
                              "systems": {}}
    for name, kw in inits.items():
        from secllm.model.modeling import load_classifier

        t0 = time.time()
        d = finetune(old_train, old_val, old_labels, work / f"old-{name}", cfg=cfg, progress=False,
                     task="fewshot", benign_label=benign_label, **kw)
        ft_s = time.time() - t0
        model, tok, _, meta = load_classifier(d)
        model.float().eval()
        ml = int(meta.get("max_length", 128))
        before = _predict_labels(model, tok, old_test, old_labels, ml)
        f1_before = _per_class_f1(old_test.labels, before, old_labels)
        W0, b0 = model.classifier.weight.detach().clone(), model.classifier.bias.detach().clone()
        rows = []
        targets = list(max_old_flip) if isinstance(max_old_flip, (list, tuple)) else [max_old_flip]
        for k, target in ((k, t) for k in shots for t in targets):
            import torch

            with torch.no_grad():        # back to the old head for every k
                head = torch.nn.Linear(W0.shape[1], W0.shape[0])
                head.weight.copy_(W0)
                head.bias.copy_(b0)
            model.classifier = head.eval()
            model.config.num_labels = len(old_labels)
            ex = _fewshot_examples(train, pool, k, replay)
            _, new_meta, info = add_classes(model, tok, {**meta, "labels": old_labels}, ex, method=method, seed=seed,
                                            guard_examples=guard_rows, max_old_flip=target)
            all_labels = new_meta["labels"]
            pred = _predict_labels(model, tok, test, all_labels, ml)
            rows.append({"shots": k, "max_old_flip": target, "method": info["method"],
                         **_fewshot_scores(test, pred, all_labels, new_class, old_test_idx, before, f1_before,
                                           old_labels),
                         "adapt_s": info["elapsed_s"], "old_class_guard": info.get("old_class_guard")})
        result["systems"][name] = {"finetune_old_s": round(ft_s, 1), "rows": rows,
                                   "old_per_class_f1_before": f1_before}
        if name == "pretrained":
            kept = (model, tok, ml, W0.numpy().copy(), b0.numpy().copy())
    if cascade:
        if not {"pretrained", "random"} <= set(inits):
            raise ValueError("the cascade system needs both the pretrained and the random-init old-class models")
        from secllm.tasks.fewshot_cascade import cascade_rows

        result["systems"]["served cascade (pretrained full + random fast + lexical stage)"] = cascade_rows(
            work, work / "old-pretrained", work / "old-random", train=train, old_train=old_train, old_val=old_val,
            test=test, old_test_idx=old_test_idx, old_labels=old_labels, new_class=new_class, pool=pool,
            shots=shots, replay=replay, guard_rows=guard_rows,
            targets=list(max_old_flip) if isinstance(max_old_flip, (list, tuple)) else [max_old_flip], seed=seed,
            max_f1_drop=cascade_max_f1_drop)
    if heads or text_head:
        result["systems"].update(_fewshot_heads(train, old_train, old_val, test, old_test_idx, old_labels, new_class,
                                                pool, shots, replay, guard_rows, max_old_flip, seed, head_grid,
                                                kept if base_dir is not None else None,
                                                tokenizer if base_dir is None else None, base_dir, text=text_head))
    if baseline:
        from secllm.eval.baselines import TfidfLogReg

        rows = []
        base_old = TfidfLogReg().fit(old_train.texts, old_train.labels)
        before = list(base_old.predict(old_test.texts)) if len(old_test) else []
        f1_before = _per_class_f1(old_test.labels, before, old_labels)
        for k in shots:
            new_ex = train.subset(pool[:k])
            m = TfidfLogReg().fit(old_train.texts + new_ex.texts, old_train.labels + new_ex.labels)
            pred = list(m.predict(test.texts))
            rows.append({"shots": k, **_fewshot_scores(test, pred, labels, new_class, old_test_idx, before, f1_before,
                                                       old_labels)})
        result["systems"]["tfidf-lr"] = {"rows": rows, "note": "refitted on old train + k new rows"}
    return result
