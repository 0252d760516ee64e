"""Masked-language-model pretraining of the SecLLM base on the unlabeled security corpus.

One loop for every scale: it runs as a plain process on a CPU and unchanged under
``accelerate launch`` (or ``torchrun``) on GPUs, because all device placement, gradient
synchronisation and mixed precision go through ``accelerate.Accelerator``.

Resumable: every ``save_every`` steps the run directory gets ``checkpoint/`` (weights as
safetensors, optimizer state as safetensors + JSON, the step, no pickle); ``resume=True`` picks
it up and replays the data order from that step. Metrics go to ``metrics.jsonl``.

    >>> cfg = PretrainConfig(size="tiny", steps=2, batch_tokens=256)      # doctest: +SKIP
    >>> pretrain(["select 1", "ls -la"], cfg, "runs/x")                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from secllm.model.config import ModelConfig, load_config
from secllm.model.modeling import new_mlm, save_model
from secllm.runtime.batching import length_batches
from secllm.tokenizer import SecTokenizer


@dataclass
class PretrainConfig:
    size: str = "cpu-small"          # preset name or JSON file (secllm.model.config)
    steps: int = 3000
    max_minutes: float | None = None  # stop early (and save) when the wall clock runs out
    batch_tokens: int = 4096         # tokens per batch (padded), per process
    # micro-batches per process per optimizer step: a step's global batch is processes x accumulate
    # batches, so 1 process with accumulate=2 takes the same steps as 2 processes with accumulate=1
    accumulate: int = 1
    max_length: int = 128
    lr: float = 5e-4
    warmup: int = 200
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    seed: int = 0
    save_every: int = 250
    log_every: int = 20
    eval_every: int = 250
    # with max_minutes: decay the learning rate over the time budget too (whichever of steps and
    # minutes is nearer its end), so a run cut by the clock still ends at the low learning rate
    decay_by_time: bool = False

    @classmethod
    def from_json(cls, d: dict) -> "PretrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        if set(d) - known:
            raise ValueError(f"unknown pretrain config keys {sorted(set(d) - known)}")
        return cls(**d)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------

def tokenize_corpus(tok: SecTokenizer, rows: list[tuple[str, str]], max_length: int) -> list[list[int]]:
    """Token ids (with [CLS] <tag> ... [SEP]) for every ``(modality, text)`` row, unpadded."""
    out: list[list[int]] = []
    for i in range(0, len(rows), 4096):
        chunk = rows[i:i + 4096]
        enc = tok.encode_batch([t for _, t in chunk], [m for m, _ in chunk], max_length=max_length, pad=False)
        out.extend(enc.input_ids)
    return out


def make_batches(seqs: list[list[int]], batch_tokens: int, seed: int) -> list[list[int]]:
    """Length-bucketed batches of indices (little padding), shuffled with ``seed``: sorted by length
    inside shuffled windows of about 100 batches (:func:`secllm.runtime.batching.length_batches`)."""
    return length_batches([len(s) for s in seqs], batch_tokens, random.Random(seed),
                          window=max(1, 100 * batch_tokens // 64))


def collate(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    att = torch.zeros((len(seqs), width), dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = torch.tensor(s)
        att[b, :len(s)] = 1
    return ids, att


def mask_tokens(ids: torch.Tensor, att: torch.Tensor, tok: SecTokenizer, prob: float,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: choose ``prob`` of the non-special tokens; 80% [MASK], 10% random, 10% kept.

    Returns (masked input ids, labels) with labels -100 where no prediction is asked.
    """
    special = torch.zeros_like(ids, dtype=torch.bool)
    for sid in tok.special_ids:
        special |= ids == sid
    candidates = (att == 1) & ~special
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & candidates
    if not chosen.any() and candidates.any():
        # every batch must ask for at least one prediction: in multi-process training a process
        # that skipped its step would leave the others waiting in the gradient all-reduce
        first = candidates.flatten().nonzero()[0]
        chosen.view(-1)[first] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    r = torch.rand(ids.shape, generator=gen)
    inp = ids.clone()
    inp[chosen & (r < 0.8)] = tok.mask_id
    rand_pos = chosen & (r >= 0.8) & (r < 0.9)
    inp[rand_pos] = torch.randint(len(tok.special_ids), tok.vocab_size, (int(rand_pos.sum()),), generator=gen)
    return inp, labels


def mlm_loss(model, ids: torch.Tensor, att: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on masked positions only: the vocabulary projection runs on ~15% of tokens,
    which roughly halves the cost of a small-model step on a CPU."""
    hidden = model.bert(input_ids=ids, attention_mask=att).last_hidden_state   # (b, t, h)
    sel = labels != -100                                                        # (b, t)
    logits = model.cls(hidden[sel])                                             # (n_masked, vocab)
    target = labels[sel]
    loss = torch.nn.functional.cross_entropy(logits, target)
    acc = (logits.argmax(-1) == target).float().mean()
    return loss, acc


class MaskedLMObjective(torch.nn.Module):
    """The model plus its loss as one module, so that a DistributedDataParallel wrapper (from
    ``accelerator.prepare``) sees the forward pass and synchronises gradients."""

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, ids, att, labels):
        return mlm_loss(self.mlm, ids, att, labels)


# ---------------------------------------------------------------------------------------------
# optimizer state without pickle
# ---------------------------------------------------------------------------------------------

def save_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    from safetensors.torch import save_file

    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    save_file(tensors, str(path.with_suffix(".safetensors")))
    path.with_suffix(".json").write_text(json.dumps({"param_groups": sd["param_groups"], "scalars": scalars}))


def load_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(path.with_suffix(".safetensors")))
    meta = json.loads(path.with_suffix(".json").read_text())
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    for key, v in meta["scalars"].items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------

def lr_at(step: int, cfg: PretrainConfig, elapsed_s: float | None = None) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    if cfg.decay_by_time and cfg.max_minutes and elapsed_s is not None:
        progress = max(progress, min(1.0, elapsed_s / (cfg.max_minutes * 60)))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model, tok, seqs, cfg, accelerator, max_batches: int = 20) -> dict:
    model.eval()
    gen = torch.Generator().manual_seed(1234)
    losses, accs = [], []
    for b in make_batches(seqs, cfg.batch_tokens, seed=1234)[:max_batches]:
        ids, att = collate([seqs[i] for i in b], tok.pad_id)
        inp, labels = mask_tokens(ids, att, tok, cfg.mask_prob, gen)
        if (labels != -100).sum() == 0:
            continue
        loss, acc = mlm_loss(model, inp.to(accelerator.device), att.to(accelerator.device), labels.to(accelerator.device))
        losses.append(loss.item())
        accs.append(acc.item())
    model.train()
    return {"val_loss": sum(losses) / max(1, len(losses)), "val_mlm_acc": sum(accs) / max(1, len(accs))}


@torch.no_grad()
def mlm_scores_by_modality(model, tok: SecTokenizer, rows: list[tuple[str, str]], max_length: int = 128,
                           batch_tokens: int = 8192, mask_prob: float = 0.15, seed: int = 1234,
                           device: str | torch.device = "cpu") -> dict[str, dict[str, float]]:
    """Masked-token loss and accuracy of a base, per modality, on ``(modality, text)`` rows.

    The masks are a pure function of ``seed`` and the rows, so two bases scored on the same rows
    are judged on exactly the same masked positions. Loss and accuracy are token-weighted.
    """
    model.eval()
    by: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        by.setdefault(r[0], []).append(r)
    out: dict[str, dict[str, float]] = {}
    for modality in sorted(by):
        seqs = tokenize_corpus(tok, by[modality], max_length)
        gen = torch.Generator().manual_seed(seed)
        loss_sum, correct, n = 0.0, 0, 0
        for b in make_batches(seqs, batch_tokens, seed=seed):
            ids, att = collate([seqs[i] for i in b], tok.pad_id)
            inp, labels = mask_tokens(ids, att, tok, mask_prob, gen)
            k = int((labels != -100).sum())
            if k == 0:
                continue
            loss, acc = mlm_loss(model, inp.to(device), att.to(device), labels.to(device))   # means over the k
            loss_sum += float(loss) * k
            correct += round(float(acc) * k)
            n += k
        out[modality] = {"rows": len(seqs), "masked_tokens": n, "loss": round(loss_sum / max(1, n), 4),
                         "accuracy": round(correct / max(1, n), 4)}
    return out


def pretrain(corpus: list[tuple[str, str]], tok: SecTokenizer, cfg: PretrainConfig, run_dir: str | Path,
             val_corpus: list[tuple[str, str]] | None = None, resume: bool = False,
             model_cfg: ModelConfig | None = None, progress: bool = True,
             init_dir: str | Path | None = None) -> Path:
    """Pretrain a base model on ``(modality, text)`` rows; returns the final model directory.

    ``init_dir``: continue pretraining an existing base (kind mlm) instead of starting from
    random weights -- domain-adaptive pretraining on a team's own unlabeled data. Its tokenizer
    and architecture are kept (``tok`` must be that tokenizer), so lexical heads built on the
    tokenizer stay valid.
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    # torchrun on a machine without a GPU: Accelerate joins the processes over gloo only when told
    # it is on CPU (else it sees LOCAL_RANK, finds no GPU and runs each process alone)
    multi_cpu = os.environ.get("LOCAL_RANK") is not None and not torch.cuda.is_available()
    accelerator = Accelerator(cpu=True) if multi_cpu else Accelerator()
    torch.manual_seed(cfg.seed)
    init_meta = None
    if init_dir is not None:
        from secllm.model.modeling import load_mlm

        model, init_tok, mcfg, init_meta = load_mlm(init_dir)
        if init_tok.fingerprint() != tok.fingerprint():
            raise ValueError(f"continuing {init_dir} needs its own tokenizer (fingerprint {init_tok.fingerprint()}, "
                             f"given {tok.fingerprint()})")
        model = model.float()          # shipped bases are fp16; train in fp32 (autocast does the rest)
    else:
        mcfg = model_cfg or load_config(cfg.size)
        if mcfg.vocab_size != tok.vocab_size:
            mcfg = dataclasses.replace(mcfg, vocab_size=tok.vocab_size)
        model = new_mlm(mcfg)
    max_len = min(cfg.max_length, mcfg.max_position)

    seqs = tokenize_corpus(tok, corpus, max_len)
    val_seqs = tokenize_corpus(tok, val_corpus, max_len) if val_corpus else None
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    step = 0
    ckpt = run / "checkpoint"
    if resume and (ckpt / "trainer_state.json").exists():
        from safetensors.torch import load_model as st_load_model

        state = json.loads((ckpt / "trainer_state.json").read_text())
        st_load_model(model, str(ckpt / "model.safetensors"), strict=False)
        model.tie_weights()
        load_optimizer(opt, ckpt / "optimizer")
        step = state["step"]
        accelerator.print(f"resuming from step {step}")
    objective, opt = accelerator.prepare(MaskedLMObjective(model), opt)
    (run / "pretrain_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))

    # Data order is a pure function of (seed, epoch): resuming replays it and skips done steps. A step
    # takes the next `processes x accumulate` batches of the epoch (its global batch); process i takes
    # its `accumulate` of them. Each batch's masks are drawn from its own seed (epoch, place in the
    # epoch), so how the global batch is split over processes does not change what is learned.
    n_acc = max(1, int(cfg.accumulate))
    group = accelerator.num_processes * n_acc

    def batches_from(step0: int):
        epoch, s = 0, 0
        while True:
            bs = make_batches(seqs, cfg.batch_tokens, seed=cfg.seed + epoch)
            if len(bs) < group:
                raise ValueError(f"{len(bs)} batches per epoch cannot fill a global batch of {group} "
                                 f"(processes x accumulate): lower batch_tokens or accumulate")
            for g in range(len(bs) // group):
                if s >= step0:
                    first = g * group + accelerator.process_index * n_acc
                    yield epoch, [(first + j, bs[first + j]) for j in range(n_acc)]
                s += 1
            epoch += 1

    gen = torch.Generator()            # re-seeded per batch (see above)
    unwrapped = accelerator.unwrap_model(objective).mlm
    t0 = time.time()
    tokens_seen = 0
    metrics_f = open(run / "metrics.jsonl", "a")
    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and accelerator.is_main_process),
               desc="pretrain", unit="step", delay=2.0)

    def save(kind: str) -> None:
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            return
        from safetensors.torch import save_model as st_save_model

        ckpt.mkdir(exist_ok=True)
        # save_model drops the tied copies (decoder weight/bias) that save_file refuses
        st_save_model(unwrapped, str(ckpt / "model.safetensors"))
        save_optimizer(opt.optimizer if hasattr(opt, "optimizer") else opt, ckpt / "optimizer")
        (ckpt / "trainer_state.json").write_text(json.dumps({"step": step, "kind": kind}))

    if init_meta is not None and val_seqs and step == 0 and accelerator.is_main_process:
        # where the continued run starts: the given base's validation loss on this corpus
        metrics_f.write(json.dumps({"step": 0, "init": str(init_dir),
                                    **evaluate(unwrapped, tok, val_seqs, cfg, accelerator)}) + "\n")
        metrics_f.flush()
    objective.train()
    for epoch, micro in batches_from(step):
        if step >= cfg.steps:
            break
        if cfg.max_minutes is not None and time.time() - t0 > cfg.max_minutes * 60:
            accelerator.print(f"time budget of {cfg.max_minutes} min reached at step {step}")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg, time.time() - t0)
        step_loss = step_acc = 0.0
        for j, (k, b) in enumerate(micro):
            ids, att = collate([seqs[i] for i in b], tok.pad_id)
            gen.manual_seed(cfg.seed * 1_000_003 + epoch * 10_007 + k)
            inp, labels = mask_tokens(ids, att, tok, cfg.mask_prob, gen)
            # gradients are averaged over processes (DDP) and over micro-batches (this division);
            # only the last micro-batch's backward needs the all-reduce
            sync = contextlib.nullcontext() if j == n_acc - 1 else accelerator.no_sync(objective)
            with sync:
                loss, acc = objective(inp.to(accelerator.device), att.to(accelerator.device),
                                      labels.to(accelerator.device))
                accelerator.backward(loss / n_acc)
            step_loss += loss.detach() / n_acc
            step_acc += acc.detach() / n_acc
            tokens_seen += int(att.sum())
        accelerator.clip_grad_norm_(objective.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0:       # every process takes part in the mean over the global batch
            loss = accelerator.reduce(step_loss.reshape(1), reduction="mean")
            acc = accelerator.reduce(step_acc.reshape(1), reduction="mean")
        if step % cfg.log_every == 0 and accelerator.is_main_process:
            rec = {"step": step, "epoch": epoch, "loss": round(loss.item(), 4), "mlm_acc": round(acc.item(), 4),
                   "global_batches": group,
                   "lr": opt.param_groups[0]["lr"], "tokens_per_s": round(tokens_seen / (time.time() - t0), 1),
                   "elapsed_s": round(time.time() - t0, 1)}
            bar.set_postfix(loss=rec["loss"], acc=rec["mlm_acc"])
            metrics_f.write(json.dumps(rec) + "\n")
            metrics_f.flush()
        if val_seqs and step % cfg.eval_every == 0 and accelerator.is_main_process:
            metrics_f.write(json.dumps({"step": step, **evaluate(unwrapped, tok, val_seqs, cfg, accelerator)}) + "\n")
            metrics_f.flush()
        if step % cfg.save_every == 0:
            save("periodic")
    bar.close()
    save("final")
    final = run / "model"
    if accelerator.is_main_process:
        if val_seqs:
            ev = evaluate(unwrapped, tok, val_seqs, cfg, accelerator)
            metrics_f.write(json.dumps({"step": step, "final": True, **ev}) + "\n")
        save_model(unwrapped, tok, mcfg, final, kind="mlm",
                   pretrain={"steps": step, "config": dataclasses.asdict(cfg),
                             "train_rows": len(seqs), "elapsed_s": round(time.time() - t0, 1),
                             **({"init": {"dir": str(init_dir), "pretrain": init_meta.get("pretrain")}}
                                if init_meta is not None else {})})
    metrics_f.close()
    accelerator.wait_for_everyone()
    return final
