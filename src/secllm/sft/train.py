"""LoRA supervised fine-tuning of any Hugging Face causal LM on the instruction data.

    >>> cfg = TrainConfig(max_steps=100, batch_size=4, lr=2e-4)           # doctest: +SKIP
    >>> res = train("runs/sft/smollm2-135m-instruct", "runs/sft/data", "runs/sft/lora", cfg)   # doctest: +SKIP
    >>> res.adapter_dir                                                    # doctest: +SKIP
    PosixPath('runs/sft/lora/adapter')

- The loss is on assistant tokens only (:mod:`secllm.sft.chat`), with the model's own chat template.
- ``accelerate`` places the model and batches (``accelerate launch -m secllm.cli sft train ...`` runs
  it on several GPUs); bf16 autocast on a GPU that supports it, fp32 on CPU.
- Resumable: every ``save_every`` steps ``OUT/checkpoint/`` holds the adapter, the optimizer state,
  the RNG state (all safetensors) and ``trainer_state.json`` (step, data position); ``resume=True``
  continues from it and gives the same weights as an uninterrupted run. No pickle anywhere.
- The adapter is saved with ``peft`` as safetensors (``OUT/adapter``), next to ``train_config.json``
  and ``log.jsonl`` (loss per logged step, validation loss at each save).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from secllm.sft.chat import IGNORE, encode
from secllm.sft.records import load_split


@dataclass
class TrainConfig:
    lr: float = 2e-4
    epochs: float = 1.0                  # passes over the training split (max_steps wins when set)
    max_steps: int | None = None
    batch_size: int = 4
    grad_accum: int = 1
    max_len: int = 512                   # tokens per example (longer ones are cut; all-prompt ones dropped)
    warmup: int = 10
    weight_decay: float = 0.0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    max_train: int | None = None         # use at most this many training records (seeded sample)
    max_val: int = 200
    save_every: int = 50
    log_every: int = 10
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown train config keys: {sorted(unknown)}")
        return cls(**d)


@dataclass
class TrainResult:
    adapter_dir: Path
    steps: int
    train_loss: float | None
    val_loss: float | None
    seconds: float
    examples: int
    device: str
    precision: str


def load_base(model_dir: str | Path, *, device: str | None = None):
    """``(model, tokenizer)`` of a Hugging Face causal LM directory: bf16 on a GPU that supports it,
    fp32 otherwise. The tokenizer gets a pad token (its EOS) when it has none."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    return model, tok


def _encode_all(tok, records, max_len: int) -> tuple[list, dict[str, int]]:
    out, stats = [], {"truncated": 0, "no_target": 0}
    for r in records:
        e = encode(tok, r.messages, max_len)
        stats["truncated"] += e.truncated
        if e.n_target == 0:
            stats["no_target"] += 1
            continue
        out.append(e)
    return out, stats


def _collate(batch, pad_id: int):
    import torch

    n = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)                # (b, t)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, e in enumerate(batch):
        ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[i, : len(e.labels)] = torch.tensor(e.labels)
        mask[i, : len(e.input_ids)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _order(n: int, epoch: int, seed: int) -> list[int]:
    import numpy as np

    return np.random.RandomState(seed + 1000 * epoch).permutation(n).tolist()


# -- checkpoint (safetensors + JSON, no pickle) ------------------------------------------------
def _save_optimizer(opt, path: Path) -> None:
    from safetensors.torch import save_file

    sd = opt.state_dict()
    tensors = {f"state.{i}.{k}": v.detach().cpu().contiguous() for i, st in sd["state"].items() for k, v in st.items()}
    save_file(tensors, str(path / "optimizer.safetensors"))
    (path / "optimizer.json").write_text(json.dumps({"param_groups": sd["param_groups"]}))


def _load_optimizer(opt, path: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(path / "optimizer.safetensors"))
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        _, i, k = key.split(".", 2)
        state.setdefault(int(i), {})[k] = v
    groups = json.loads((path / "optimizer.json").read_text())["param_groups"]
    opt.load_state_dict({"state": state, "param_groups": groups})


def _save_checkpoint(model, opt, path: Path, state: dict) -> None:
    import torch
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp, safe_serialization=True)
    _save_optimizer(opt, tmp)
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    save_file(rng, str(tmp / "rng.safetensors"))
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1))
    if path.exists():                       # swap in only a complete checkpoint
        import shutil

        shutil.rmtree(path)
    tmp.rename(path)


def _val_loss(model, batches, accelerator) -> float | None:
    import torch

    if not batches:
        return None
    model.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for b in batches:
            b = {k: v.to(accelerator.device) for k, v in b.items()}
            out = model(**b)
            k = int((b["labels"][:, 1:] != IGNORE).sum())
            tot += float(out.loss) * k
            n += k
    model.train()
    return tot / max(n, 1)


def validation_loss(model_dir: str | Path, data_dir: str | Path, *, adapter: str | Path | None = None,
                    max_val: int = 200, max_len: int = 512, batch_size: int = 4) -> dict[str, Any]:
    """Mean loss per assistant token on the first ``max_val`` records of ``val.jsonl`` — the trainer's
    own validation figure, for the base model (``adapter=None``) or a tuned one, so the two compare.

        >>> validation_loss("runs/sft/smollm2-135m-instruct", "runs/sft/data", max_val=50)  # doctest: +SKIP
        {'loss': 2.9, 'records': 50, 'examples': 49, 'tokens': 6120}
    """
    import torch
    from accelerate import Accelerator
    from peft import PeftModel

    acc = Accelerator(cpu=not torch.cuda.is_available())
    model, tok = load_base(model_dir, device=str(acc.device))
    if adapter:
        model = PeftModel.from_pretrained(model, str(adapter))
    recs = load_split(data_dir, "val")[:max_val]
    ex, _ = _encode_all(tok, recs, max_len)
    batches = [_collate(ex[i:i + batch_size], tok.pad_token_id) for i in range(0, len(ex), batch_size)]
    tokens = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
    return {"loss": _val_loss(model, batches, acc), "records": len(recs), "examples": len(ex), "tokens": tokens}


def train(model_dir: str | Path, data_dir: str | Path, out_dir: str | Path, cfg: TrainConfig | None = None, *,
          resume: bool = False, log: Callable[[str], None] | None = None) -> TrainResult:
    """Fine-tune a LoRA adapter on ``data_dir/train.jsonl`` (validation loss on ``val.jsonl``)."""
    import random

    import torch
    from accelerate import Accelerator
    from peft import LoraConfig, PeftModel, get_peft_model
    from safetensors.torch import load_file

    cfg = cfg or TrainConfig()
    out, ckpt = Path(out_dir), Path(out_dir) / "checkpoint"
    if resume and not (ckpt / "trainer_state.json").is_file():
        raise FileNotFoundError(f"nothing to resume: {ckpt}/trainer_state.json not found")
    if resume:
        saved_d = json.loads((out / "train_config.json").read_text())
        saved = TrainConfig.from_dict({k: v for k, v in saved_d.items() if k not in ("model", "data")})
        if (saved.batch_size, saved.grad_accum, saved.seed, saved.max_len, saved.max_train) != \
                (cfg.batch_size, cfg.grad_accum, cfg.seed, cfg.max_len, cfg.max_train):
            raise ValueError("resume needs the same batch size, accumulation, seed, max_len and max_train")
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(json.dumps({**asdict(cfg), "model": str(model_dir),
                                                       "data": str(data_dir)}, indent=1))
    say = log or (lambda s: None)
    torch.manual_seed(cfg.seed)
    mixed = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    acc = Accelerator(mixed_precision=mixed, gradient_accumulation_steps=cfg.grad_accum, cpu=not torch.cuda.is_available())

    model, tok = load_base(model_dir, device=str(acc.device))
    model.config.use_cache = False
    if resume:
        model = PeftModel.from_pretrained(model, ckpt, is_trainable=True)
    else:
        lcfg = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=cfg.target_modules, task_type="CAUSAL_LM")
        model = get_peft_model(model, lcfg)

    recs = load_split(data_dir, "train")
    if cfg.max_train is not None and len(recs) > cfg.max_train:
        recs = random.Random(cfg.seed).sample(recs, cfg.max_train)
    train_ex, stats = _encode_all(tok, recs, cfg.max_len)
    if not train_ex:
        raise ValueError(f"no training example with assistant tokens in {data_dir}/train.jsonl")
    try:
        val_recs = load_split(data_dir, "val")[: cfg.max_val]
    except FileNotFoundError:
        val_recs = []
    val_ex, _ = _encode_all(tok, val_recs, cfg.max_len)
    val_batches = [_collate(val_ex[i:i + cfg.batch_size], tok.pad_token_id) for i in range(0, len(val_ex), cfg.batch_size)]

    per_epoch = math.ceil(len(train_ex) / cfg.batch_size)
    updates_per_epoch = max(1, per_epoch // cfg.grad_accum)
    total = cfg.max_steps or max(1, int(cfg.epochs * updates_per_epoch))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:          # linear warm-up, then linear decay to 10%
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        return max(0.1, 1.0 - 0.9 * (step - cfg.warmup) / max(1, total - cfg.warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    step, micro = 0, 0                        # optimizer updates done, micro-batches consumed
    if resume:
        st = json.loads((ckpt / "trainer_state.json").read_text())
        step, micro = st["step"], st["micro"]
        _load_optimizer(opt, ckpt)
        rng = load_file(str(ckpt / "rng.safetensors"))
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at, last_epoch=step - 1) if step else sched
        say(f"resumed at step {step}")
    model, opt = acc.prepare(model, opt)
    say(f"{len(train_ex)} training examples ({stats['truncated']} cut at {cfg.max_len} tokens, "
        f"{stats['no_target']} without answer tokens dropped); {total} steps; device {acc.device}, precision {mixed}")

    t0 = time.time()
    logf = open(out / "log.jsonl", "a", encoding="utf-8")
    model.train()
    running, seen = 0.0, 0
    last_loss = None
    while step < total:
        epoch, pos = divmod(micro, per_epoch)
        order = _order(len(train_ex), epoch, cfg.seed)
        batch = _collate([train_ex[k] for k in order[pos * cfg.batch_size:(pos + 1) * cfg.batch_size]], tok.pad_token_id)
        batch = {k: v.to(acc.device) for k, v in batch.items()}
        with acc.accumulate(model):
            loss = model(**batch).loss
            acc.backward(loss)
            if acc.sync_gradients:
                acc.clip_grad_norm_(params, 1.0)
            opt.step()
            if acc.sync_gradients:
                sched.step()
            opt.zero_grad()
        micro += 1
        running += float(loss.detach())
        seen += 1
        if micro % cfg.grad_accum:
            continue
        step += 1
        if step % cfg.log_every == 0 or step == total:
            last_loss = running / seen
            row = {"step": step, "loss": round(last_loss, 5), "lr": sched.get_last_lr()[0],
                   "seconds": round(time.time() - t0, 1)}
            logf.write(json.dumps(row) + "\n")
            logf.flush()
            say(f"step {step}/{total} loss {last_loss:.4f}")
            running, seen = 0.0, 0
        if step % cfg.save_every == 0 or step == total:
            _save_checkpoint(acc.unwrap_model(model), opt, ckpt, {"step": step, "micro": micro, "total": total})
    val = _val_loss(model, val_batches, acc)
    logf.write(json.dumps({"step": step, "val_loss": val}) + "\n")
    logf.close()
    adapter = out / "adapter"
    acc.unwrap_model(model).save_pretrained(adapter, safe_serialization=True)
    tok.save_pretrained(adapter)
    res = TrainResult(adapter_dir=adapter, steps=step, train_loss=last_loss, val_loss=val, seconds=time.time() - t0,
                      examples=len(train_ex), device=str(acc.device), precision=mixed)
    (out / "result.json").write_text(json.dumps({**asdict(res), "adapter_dir": str(adapter)}, indent=1))
    return res
