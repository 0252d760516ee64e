"""Adapting the pretrained base to a site: a density model over the detector encoder's representations.

Each part of a request (the target, every parameter value) is embedded by the fine-tuned
detector's BERT encoder (mean of the last hidden states over the real tokens, the same canonical
text and modality tag the detector reads). Per part name with enough samples (and one pooled
model for the rest) a Gaussian is fitted with a Ledoit-Wolf shrinkage covariance, and a part's
deviation is its Mahalanobis distance divided by the 99th percentile of the learning parts'
distances (so 1.0 = "as far out as the 1% most unusual learned values"). The request's density
score is the largest such ratio over its parts.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> dm = DensityModel.fit({"query:id": rng.normal(size=(200, 8))})
    >>> near, far = dm.distances("query:id", np.stack([np.zeros(8), np.full(8, 10.0)]))
    >>> bool(near < 1.0 < far)
    True

Why a density model rather than continued masked-LM training or LoRA: it needs one forward pass
over the site's traffic (seconds to a few minutes for 10,000 requests on a CPU), it cannot make
the attack detector worse (the encoder is not changed), and it is stored as two small arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from secllm.data.canonical import canonicalize
from secllm.data.corpus import scrub_surrogates
from secllm.data.http import Part
from secllm.profile.stats import ledoit_wolf
from secllm.profile.structure import mask_name

POOLED = "*"                 # the model for part names with too few samples of their own
MIN_KEY_SAMPLES = 30         # a part name needs this many learning values for its own Gaussian
MAX_KEYS = 32                # cap on per-name Gaussians (each is an (h, h) matrix on disk)
MAX_PARTS = 16               # parts embedded per request


def embed_jobs(parts: list[Part], model_text: str, kind: str) -> list[tuple[str, str, str]]:
    """``(key, canonical text, modality)`` for the parts of one request, as the detector reads them.

    ``key`` is the part name (``url`` for the whole target) and selects the Gaussian.
    """
    jobs: list[tuple[str, str, str]] = []
    if kind in ("url", "access-log"):
        jobs.append(("url", model_text.strip(), "url"))
    for p in parts:
        if p.name in ("path", "fragment", "trailing", "value") or not p.text.strip():
            continue
        jobs.append((mask_name(p.name), p.text, "payload"))     # the key is stored: masked like every name
    out = []
    for key, text, mod in jobs[:MAX_PARTS]:
        c = scrub_surrogates(canonicalize(text).text)
        if c.strip():
            out.append((key, c, mod))
    return out


class Embedder:
    """Mean-pooled hidden states of a fine-tuned SecLLM classifier's encoder (torch, CPU).

        >>> emb = Embedder.load("runs/web-pretrained")                        # doctest: +SKIP
        >>> emb.embed(["id=1", "<script>"], ["payload", "payload"]).shape     # doctest: +SKIP
        (2, 256)
    """

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 128, batch_tokens: int = 16384):
        self.model = model
        self.tok = tokenizer
        self.max_length = max_length
        self.batch_tokens = batch_tokens

    @classmethod
    def load(cls, model_dir: str | Path) -> "Embedder":
        from secllm.model.modeling import load_classifier

        model, tok, _, meta = load_classifier(model_dir)
        model.float().eval()
        return cls(model, tok, int(meta.get("max_length", 128)))

    @classmethod
    def from_detector(cls, det: Any) -> "Embedder | None":
        """Share the torch model of a loaded ``WebAttackDetector`` (None for other backends)."""
        model = getattr(det.backend, "model", None)
        if model is None or not hasattr(model, "bert"):
            return None
        return cls(model, det.tok, det.max_length)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: list[str], modalities: list[str]) -> np.ndarray:
        """(n, hidden) float32 embeddings, in input order."""
        import torch

        from secllm.runtime.batching import length_batches, pad_batch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        enc = self.tok.encode_batch(texts, modalities, max_length=self.max_length, pad=False)
        seqs = enc.input_ids
        with torch.inference_mode():
            for b in length_batches([len(s) for s in seqs], self.batch_tokens):
                ids, att = pad_batch([seqs[i] for i in b], self.tok.pad_id)
                att_t = torch.from_numpy(att)
                h = self.model.bert(input_ids=torch.from_numpy(ids), attention_mask=att_t).last_hidden_state  # (b, t, h)
                m = att_t.unsqueeze(-1).to(h.dtype)                                                     # (b, t, 1)
                out[b] = ((h * m).sum(1) / m.sum(1).clamp(min=1.0)).float().numpy()                      # (b, h)
        return out


@dataclass
class DensityModel:
    """Gaussians (mean, precision) per part name plus a pooled one; JSON meta + two npy arrays."""

    keys: list[str]                 # names, POOLED included
    means: np.ndarray               # (k, h)
    precisions: np.ndarray          # (k, h, h)
    q99: list[float]                # 99th percentile of learning distances per key
    counts: list[int]

    @classmethod
    def fit(cls, by_key: dict[str, np.ndarray]) -> "DensityModel":
        """Fit from embeddings grouped by part name (each (n_key, h))."""
        allv = np.concatenate([v for v in by_key.values() if len(v)], 0)
        if len(allv) < 2:
            raise ValueError("the density model needs at least 2 embedded parts")
        own = sorted((k for k, v in by_key.items() if len(v) >= MIN_KEY_SAMPLES), key=lambda k: -len(by_key[k]))
        keys = own[:MAX_KEYS] + [POOLED]
        means, precs, q99, counts = [], [], [], []
        for k in keys:
            x = allv if k == POOLED else by_key[k]
            mean, cov, _ = ledoit_wolf(x)
            # a tiny ridge: an all-constant embedding dimension would make the matrix singular
            prec = np.linalg.inv(cov + 1e-6 * np.eye(cov.shape[0]))
            d = _mahalanobis(x, mean, prec)
            means.append(mean)
            precs.append(prec)
            q99.append(float(max(np.quantile(d, 0.99), 1e-6)))
            counts.append(len(x))
        return cls(keys, np.stack(means).astype(np.float32), np.stack(precs).astype(np.float32), q99, counts)

    def distances(self, key: str, x: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of embeddings ``x`` (n, h) over the ``key`` Gaussian's q99 (n,)."""
        i = self.keys.index(key) if key in self.keys else self.keys.index(POOLED)
        return _mahalanobis(x.astype(np.float64), self.means[i].astype(np.float64),
                            self.precisions[i].astype(np.float64)) / self.q99[i]

    # -- artifacts ------------------------------------------------------------------------------
    def save(self, d: Path) -> dict[str, Any]:
        from secllm.paths import open_private

        for name, arr in (("density_means.npy", self.means), ("density_precisions.npy", self.precisions)):
            with open_private(d / name) as f:           # 0600: a profile is learned from a site's traffic
                np.save(f, arr, allow_pickle=False)
        return {"keys": self.keys, "q99": self.q99, "counts": self.counts,
                "arrays": ["density_means.npy", "density_precisions.npy"]}

    @classmethod
    def load(cls, d: Path, meta: dict[str, Any]) -> "DensityModel":
        means = np.load(d / "density_means.npy", allow_pickle=False)
        precs = np.load(d / "density_precisions.npy", allow_pickle=False)
        if means.shape[0] != len(meta["keys"]) or precs.shape[:2] != (len(meta["keys"]), means.shape[1]):
            raise ValueError(f"density arrays in {d} do not match profile.json; relearn the profile")
        return cls(list(meta["keys"]), means, precs, list(meta["q99"]), list(meta["counts"]))


def _mahalanobis(x: np.ndarray, mean: np.ndarray, prec: np.ndarray) -> np.ndarray:
    xc = x - mean                                                   # (n, h)
    return np.sqrt(np.maximum(np.einsum("nh,hk,nk->n", xc, prec, xc), 0.0))   # (n,)
