"""A small neural language model of event sequences (PyTorch): an LSTM (Kim et al. 2016's system-call
language model) or a causal Transformer, trained from scratch on a site's normal sequences in seconds
on a CPU. Used by :class:`secllm.profile.sequence.SequenceModel` as one candidate model.

    >>> import numpy as np
    >>> seqs = [np.array([4, 5, 6, 7] * 5)] * 20
    >>> lm = NeuralLM("lstm", steps=150, hidden=16, embed=8).fit(seqs, vocab_size=8)
    >>> nll = lm.batch_nll([np.array([4, 5, 6, 7] * 3)])[0]
    >>> nll.shape, bool(nll[4:12].mean() < 1.0)
    ((13,), True)

Training: chunks of ``chunk`` events cut from the sequences (each sequence starts with ``<s>`` and
ends with ``</s>``), next-event cross-entropy, Adam with a linear warm-down, a fixed number of
``steps`` (deterministic for a seed and thread count). Scoring runs whole sequences (the LSTM
carries its state through the sequence; the Transformer sees the last ``context`` events).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from secllm.profile.vocab import BOS_ID, END_ID, MAX_NLL, PAD_ID


@dataclass
class LMConfig:
    """Architecture and training settings (saved with the weights)."""

    arch: str = "lstm"              # lstm | transformer
    vocab_size: int = 0
    embed: int = 32
    hidden: int = 64                # LSTM state / Transformer width
    layers: int = 1
    heads: int = 4
    context: int = 64               # Transformer attention span
    dropout: float = 0.1
    chunk: int = 64                 # training chunk length (events)
    batch: int = 32
    steps: int = 400
    lr: float = 3e-3
    seed: int = 0


def _net(cfg: LMConfig):
    import torch
    from torch import nn

    class LSTMLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(cfg.vocab_size, cfg.embed, padding_idx=PAD_ID)
            self.rnn = nn.LSTM(cfg.embed, cfg.hidden, cfg.layers, batch_first=True,
                               dropout=cfg.dropout if cfg.layers > 1 else 0.0)
            self.drop = nn.Dropout(cfg.dropout)
            self.out = nn.Linear(cfg.hidden, cfg.vocab_size)

        def forward(self, x, lengths=None):                        # x: (b, t) -> (b, t, vocab)
            h = self.drop(self.emb(x))                               # (b, t, e)
            if lengths is not None:
                packed = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
                y, _ = self.rnn(packed)
                y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
            else:
                y, _ = self.rnn(h)                                   # (b, t, hidden)
            return self.out(self.drop(y))

    class CausalTransformerLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(cfg.vocab_size, cfg.hidden, padding_idx=PAD_ID)
            self.pos = nn.Embedding(cfg.context, cfg.hidden)
            layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, 4 * cfg.hidden, cfg.dropout, batch_first=True,
                                               norm_first=True)
            self.enc = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(cfg.hidden)
            self.out = nn.Linear(cfg.hidden, cfg.vocab_size)

        def forward(self, x, lengths=None):                        # x: (b, t<=context) -> (b, t, vocab)
            t = x.shape[1]
            h = self.emb(x) + self.pos(torch.arange(t, device=x.device))[None]
            mask = torch.triu(torch.full((t, t), float("-inf"), device=x.device), diagonal=1)
            return self.out(self.norm(self.enc(h, mask=mask, is_causal=True)))

    if cfg.arch == "lstm":
        return LSTMLM()
    if cfg.arch == "transformer":
        return CausalTransformerLM()
    raise ValueError(f"unknown arch {cfg.arch!r}; expected lstm or transformer")


@contextmanager
def _torch_threads(n: int):
    """Run with ``n`` intra-op threads (small recurrent batches lose more to thread hand-offs on a
    shared CPU than they gain), restoring the previous setting."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class NeuralLM:
    """``fit(seqs, vocab_size)``, ``batch_nll(seqs)`` (surprise per event and end, nats), safetensors state."""

    def __init__(self, arch: str = "lstm", seed: int = 0, threads: int = 1, **kw: Any):
        self.cfg = LMConfig(arch=arch, seed=seed, **kw)
        self.name = arch
        self.threads = threads

    def fit(self, seqs: list[np.ndarray], vocab_size: int) -> "NeuralLM":
        with _torch_threads(self.threads):
            return self._fit(seqs, vocab_size)

    def _fit(self, seqs: list[np.ndarray], vocab_size: int) -> "NeuralLM":
        import torch

        cfg = self.cfg
        cfg.vocab_size = vocab_size
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self.net_ = _net(cfg)
        span = cfg.chunk if cfg.arch == "lstm" else min(cfg.chunk, cfg.context)
        # every chunk of span+1 events (inputs span, targets shifted by one), stride span
        chunks = []
        for s in seqs:
            full = np.concatenate([[BOS_ID], s, [END_ID]])
            for i in range(0, max(len(full) - 1, 1), span):
                chunks.append(full[i:i + span + 1])
        opt = torch.optim.Adam(self.net_.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 30) * max(0.05, 1 - i / cfg.steps))
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=PAD_ID)
        self.net_.train()
        for _ in range(cfg.steps):
            pick = rng.integers(0, len(chunks), size=cfg.batch)
            batch = np.full((cfg.batch, span + 1), PAD_ID, dtype=np.int64)
            for r, j in enumerate(pick):
                batch[r, :len(chunks[j])] = chunks[j]
            xb = torch.from_numpy(batch)
            logits = self.net_(xb[:, :-1])                                   # (b, span, vocab)
            loss = loss_fn(logits.reshape(-1, vocab_size), xb[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net_.parameters(), 1.0)
            opt.step()
            sched.step()
        self.net_.eval()
        return self

    def batch_nll(self, seqs: list[np.ndarray], max_tokens: int = 1 << 17) -> list[np.ndarray]:
        """Surprise of every event and of the end, per sequence: ``(len(s) + 1,)`` arrays."""
        import torch

        out: list[np.ndarray | None] = [None] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        i = 0
        with torch.inference_mode(), _torch_threads(self.threads):
            while i < len(order):
                # a batch of similar lengths, at most max_tokens padded events
                j = i + 1
                while j < len(order) and (j - i + 1) * (len(seqs[order[j]]) + 2) <= max_tokens and j - i < 256:
                    j += 1
                idx = order[i:j]
                for k, nll in zip(idx, self._nll_batch([seqs[k] for k in idx])):
                    out[k] = nll
                i = j
        return out  # type: ignore[return-value]

    def _nll_batch(self, seqs: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        full = [np.concatenate([[BOS_ID], s, [END_ID]]) for s in seqs]
        t = max(len(f) for f in full)
        x = np.full((len(full), t), PAD_ID, dtype=np.int64)
        for r, f in enumerate(full):
            x[r, :len(f)] = f
        xb = torch.from_numpy(x)
        if self.cfg.arch == "lstm":
            lengths = torch.tensor([len(f) - 1 for f in full])
            logp = torch.log_softmax(self.net_(xb[:, :-1], lengths), -1)          # (b, t-1, vocab)
        else:
            logp = self._transformer_logp(xb[:, :-1])
        nll = -logp.gather(-1, xb[:, 1:, None])[..., 0].numpy()                 # (b, t-1)
        return [np.minimum(nll[r, :len(f) - 1].astype(np.float64), MAX_NLL) for r, f in enumerate(full)]

    def _transformer_logp(self, x):
        """Log-probabilities with at most ``context`` events of history: overlapping blocks, each
        position scored in the block where it has the most history."""
        import torch

        c = self.cfg.context
        b, t = x.shape
        if t <= c:
            return torch.log_softmax(self.net_(x), -1)
        out = torch.empty(b, t, self.cfg.vocab_size)
        half = c // 2
        out[:, :c] = torch.log_softmax(self.net_(x[:, :c]), -1)
        start = half
        while start + half < t:
            end = min(start + c, t)
            lp = torch.log_softmax(self.net_(x[:, start:end]), -1)
            keep = start + half
            out[:, keep:end] = lp[:, half:end - start]
            start += half
        return out

    # -- artifact -------------------------------------------------------------------------------
    def config_json(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def tensors(self) -> dict[str, np.ndarray]:
        return {f"lm.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}

    @classmethod
    def from_tensors(cls, cfg: dict[str, Any], t: dict[str, np.ndarray]) -> "NeuralLM":
        import torch

        c = LMConfig(**cfg)                       # unknown keys raise: config is data
        m = cls.__new__(cls)
        m.cfg, m.name, m.threads = c, c.arch, 1
        m.net_ = _net(c)
        state = {k[len("lm."):]: torch.from_numpy(np.array(v)) for k, v in t.items() if k.startswith("lm.")}
        m.net_.load_state_dict(state)
        m.net_.eval()
        return m

    def parameters(self) -> int:
        return sum(p.numel() for p in self.net_.parameters())


def perplexity(nlls: list[np.ndarray]) -> float:
    """exp(mean surprise per event) over all events of ``nlls``."""
    tot = sum(float(x.sum()) for x in nlls)
    n = sum(len(x) for x in nlls)
    return math.exp(tot / max(n, 1))
