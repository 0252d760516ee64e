"""Fine-tuning a classification head on the SecLLM base (or on a random base, for the ablation).

The recipe is the same for every task: length-bucketed batches, AdamW with warmup and linear
decay, class weights ~ 1/sqrt(frequency) so rare attack types still count, and model selection
by validation macro-F1 after each epoch (the test split is never read here).

    >>> ex = Examples(texts=["' or 1=1--", "john"], modalities=["payload"] * 2, labels=["sqli", "benign"])
    >>> len(ex)
    2
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from secllm.data.corpus import model_text
from secllm.model.config import ModelConfig
from secllm.model.modeling import load_classifier, new_classifier, save_model
from secllm.runtime.batching import length_batches, pad_batch
from secllm.tasks.examples import Examples  # noqa: F401  (re-exported: the historic import path)
from secllm.tokenizer import SecTokenizer


@dataclass
class FinetuneConfig:
    epochs: int = 3
    lr: float = 2e-4
    batch_tokens: int = 4096
    max_length: int = 128
    warmup_frac: float = 0.06
    weight_decay: float = 0.01
    seed: int = 0
    freeze_base: bool = False        # linear probe ablation
    max_minutes: float | None = None
    device: str = "auto"             # auto: CUDA when available (bf16 autocast there), else CPU

    @classmethod
    def from_json(cls, d: dict) -> "FinetuneConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        if set(d) - known:
            raise ValueError(f"unknown finetune config keys {sorted(set(d) - known)}")
        return cls(**d)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when PyTorch sees a GPU, else CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU")
    return dev


def encode_examples(tok: SecTokenizer, ex: Examples, max_length: int) -> list[list[int]]:
    out: list[list[int]] = []
    texts = [model_text(t, m) for t, m in zip(ex.texts, ex.modalities)]
    for i in range(0, len(texts), 4096):
        enc = tok.encode_batch(texts[i:i + 4096], ex.modalities[i:i + 4096], max_length=max_length, pad=False)
        out.extend(enc.input_ids)
    return out


def collate(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`secllm.runtime.batching.pad_batch` as torch tensors."""
    ids, att = pad_batch(seqs, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(att)


@torch.no_grad()
def predict_proba_ids(model, seqs: list[list[int]], pad_id: int, batch_tokens: int = 8192) -> np.ndarray:
    """Class probabilities (n, n_labels) for pre-tokenised sequences, in input order."""
    model.eval()
    dev = next(model.parameters()).device
    out = np.zeros((len(seqs), model.config.num_labels), dtype=np.float32)
    for b in length_batches([len(s) for s in seqs], batch_tokens, None):
        ids, att = collate([seqs[i] for i in b], pad_id)
        with _autocast(dev):
            logits = model(input_ids=ids.to(dev), attention_mask=att.to(dev)).logits
        out[b] = torch.softmax(logits.float(), -1).cpu().numpy()
    return out


def _autocast(dev: torch.device):
    """bf16 autocast on a GPU (the weights stay fp32); a no-op context on CPU."""
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def class_weights(train_labels: list[str], labels: list[str]) -> torch.Tensor:
    """Loss weights ∝ 1/√(class frequency), scaled so the mean weight per training row is 1."""
    counts = Counter(train_labels)
    w = torch.tensor([1.0 / math.sqrt(max(1, counts.get(l, 0))) for l in labels])
    return w / (w * torch.tensor([counts.get(l, 0) for l in labels], dtype=torch.float)).sum() * len(train_labels)


def macro_f1(y_true: list[int], y_pred: list[int], n: int) -> float:
    f1s = []
    for c in range(n):
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == c and p != c)
        if tp + fp + fn == 0:
            continue          # class absent from both: not part of the macro average
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else float("nan")


def finetune(train: Examples, val: Examples, labels: list[str], out_dir: str | Path, *,
             base_dir: str | Path | None = None, tokenizer: SecTokenizer | None = None,
             model_cfg: ModelConfig | None = None, cfg: FinetuneConfig | None = None,
             task: str = "web-attack", benign_label: str = "benign", progress: bool = True,
             extra_meta: dict | None = None) -> Path:
    """Fine-tune and save the best-on-validation classifier to ``out_dir``.

    ``base_dir`` is a pretrained base (``kind: mlm``); without it, ``tokenizer`` and ``model_cfg``
    build a randomly initialised model of the same architecture (the ablation).
    """
    from tqdm.auto import tqdm

    cfg = cfg or FinetuneConfig()
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    lab2id = {l: i for i, l in enumerate(labels)}
    unknown = {l for l in train.labels + val.labels if l not in lab2id}
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not in the label set {labels}")
    if base_dir is not None:
        model, tok, mcfg, _ = load_classifier(base_dir, num_labels=len(labels), from_base=True)
        init = f"pretrained:{Path(base_dir).name}"
    else:
        if tokenizer is None or model_cfg is None:
            raise ValueError("a random-init fine-tune needs tokenizer= and model_cfg=")
        tok, mcfg = tokenizer, dataclasses.replace(model_cfg, vocab_size=tokenizer.vocab_size)
        model = new_classifier(mcfg, len(labels))
        init = "random"
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = lab2id
    if cfg.freeze_base:
        for p in model.bert.parameters():
            p.requires_grad = False
    max_len = min(cfg.max_length, mcfg.max_position)

    dev = resolve_device(cfg.device)
    model.to(dev)
    tr_ids = encode_examples(tok, train, max_len)
    va_ids = encode_examples(tok, val, max_len)
    y = torch.tensor([lab2id[l] for l in train.labels], device=dev)
    counts = Counter(train.labels)
    w = class_weights(train.labels, labels).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr if not cfg.freeze_base else cfg.lr * 10, weight_decay=cfg.weight_decay)
    lengths = [len(s) for s in tr_ids]
    n_steps = cfg.epochs * len(length_batches(lengths, cfg.batch_tokens, random.Random(0)))
    warm = max(1, int(cfg.warmup_frac * n_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (n_steps - s) / max(1, n_steps - warm))))

    out = Path(out_dir)
    best = {"val_macro_f1": -1.0}
    history = []
    t0 = time.time()
    step = 0
    va_true = [lab2id[l] for l in val.labels]
    best_state = None
    for epoch in range(cfg.epochs):
        model.train()
        bar = tqdm(length_batches(lengths, cfg.batch_tokens, rng), desc=f"finetune {epoch + 1}/{cfg.epochs}",
                   disable=not progress, unit="batch", delay=2.0)
        for b in bar:
            ids, att = collate([tr_ids[i] for i in b], tok.pad_id)
            with _autocast(dev):
                logits = model(input_ids=ids.to(dev), attention_mask=att.to(dev)).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), y[b], weight=w)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if step % 20 == 0:
                bar.set_postfix(loss=round(loss.item(), 4))
            if cfg.max_minutes and time.time() - t0 > cfg.max_minutes * 60:
                break
        proba = predict_proba_ids(model, va_ids, tok.pad_id)
        pred = proba.argmax(1).tolist()
        f1 = macro_f1(va_true, pred, len(labels))
        history.append({"epoch": epoch + 1, "val_macro_f1": round(f1, 5), "elapsed_s": round(time.time() - t0, 1)})
        if f1 > best["val_macro_f1"]:
            best = {"val_macro_f1": f1, "epoch": epoch + 1}
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best_proba = proba
        if cfg.max_minutes and time.time() - t0 > cfg.max_minutes * 60:
            break
    model.to("cpu")
    model.load_state_dict(best_state)

    # Decision threshold on P(malicious) = 1 - P(benign), chosen on validation only:
    # the one maximising binary F1.
    threshold = 0.5
    if benign_label in lab2id:
        bi = lab2id[benign_label]
        mal = 1.0 - best_proba[:, bi]
        yb = np.array([t != bi for t in va_true])
        threshold = best_threshold(yb, mal)
    meta = {
        "task": task,
        "labels": labels,
        "benign_label": benign_label,
        "threshold": threshold,
        "max_length": max_len,
        "init": init,
        "finetune": {"device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
                     "config": dataclasses.asdict(cfg), "history": history, "best": best,
                     "train_rows": len(train), "val_rows": len(val),
                     "train_label_counts": dict(counts), "elapsed_s": round(time.time() - t0, 1)},
        **(extra_meta or {}),
    }
    save_model(model, tok, mcfg, out, kind="classifier", **meta)
    return out


def best_threshold(y: np.ndarray, score: np.ndarray) -> float:
    """Threshold maximising F1 of ``score >= t`` (ties → the higher threshold, fewer alerts)."""
    order = np.argsort(-score)
    s, yy = score[order], y[order].astype(int)
    tp = np.cumsum(yy)
    fp = np.cumsum(1 - yy)
    pos = yy.sum()
    if pos == 0:
        return 0.5
    f1 = 2 * tp / (tp + fp + pos)
    # only cut between distinct scores
    valid = np.r_[s[1:] != s[:-1], True]
    k = int(np.argmax(np.where(valid, f1, -1)))
    nxt = s[k + 1] if k + 1 < len(s) else 0.0
    return float((s[k] + nxt) / 2) if s[k] != nxt else float(s[k])


def load_history(model_dir: str | Path) -> dict:
    return json.loads((Path(model_dir) / "secllm.json").read_text()).get("finetune", {})
