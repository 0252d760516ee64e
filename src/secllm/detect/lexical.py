"""The lexical first stage: a linear model over the detector's own tokens, ~100x cheaper than a Transformer.

A web-attack model directory may hold ``lexical/``: a multinomial logistic regression over the
bag of the model's tokens (unigrams = token ids, bigrams hashed into ``n_buckets``; counts
``log1p``-scaled, rows L2-normalised), fitted with scikit-learn on the fine-tuning training rows and
stored as ``lexical.safetensors`` (``weight`` ``(features, labels)`` float16, ``bias``) +
``secllm.json``. Inference is a few numpy gathers (no scikit-learn, no torch): the serving path
stays light. It is the first stage of the cascade (:mod:`secllm.detect.cascade`): a part whose
lexical malicious score lies outside the two bands is decided there; everything else goes on to
the fast model (if any) and then the full model. The bands are chosen on the validation split
against the full model's verdicts with the same rule as the fast model's (at most
``max_disagreement`` of validation parts judged otherwise), C and that budget so that the whole
cascade's validation macro-F1 stays within ``max_f1_drop`` of the full model's
(:func:`secllm.detect.calibrate.build_stage`); the share decided, the disagreement and the macro-F1s are written next to
them.

Evidence for a part the lexical stage decided is exact: a linear model's logit difference is the
sum of its features' contributions, split over the tokens that make each feature.

    python -m secllm.detect.calibrate lexical runs/web-pretrained-3ep   # fit, calibrate, attach as lexical/
"""

from __future__ import annotations

import json
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

LEXICAL_DIR = "lexical"
WEIGHTS_FILE = "lexical.safetensors"
N_BUCKETS = 1 << 16
_MULT = 1_000_003


def token_features(seqs: list[list[int]], vocab_size: int, n_buckets: int = N_BUCKETS, n_trigrams: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse features ``(rows, cols, values)`` of token-id sequences, rows sorted.

    Columns ``[0, vocab_size)`` are token ids, ``vocab_size + h`` a hashed bigram of adjacent tokens,
    and with ``n_trigrams`` > 0 ``vocab_size + n_buckets + h`` a hashed trigram; values
    ``log1p(count)``, each row L2-normalised.

        >>> r, c, v = token_features([[5, 6, 5], [7]], vocab_size=10, n_buckets=4)
        >>> r.tolist(), c.tolist()
        ([0, 0, 0, 0, 1], [5, 6, 11, 13, 7])
        >>> round(float((v[:4] ** 2).sum()), 6), float(v[4])
        (1.0, 1.0)
    """
    n = len(seqs)
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0, dtype=np.float32)
    lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n)
    if (lens == 0).any():
        raise ValueError("empty token sequence")
    flat = np.fromiter(chain.from_iterable(seqs), dtype=np.int64, count=int(lens.sum()))
    row = np.repeat(np.arange(n, dtype=np.int64), lens)
    same = row[:-1] == row[1:]
    big = vocab_size + (flat[:-1][same] * _MULT + flat[1:][same]) % n_buckets
    rows_l, cols_l = [row, row[:-1][same]], [flat, big]
    if n_trigrams:
        same3 = same[:-1] & same[1:]                 # tokens i, i+1, i+2 in one sequence
        tri = ((flat[:-2][same3] * _MULT + flat[1:-1][same3]) * _MULT + flat[2:][same3]) % n_trigrams
        rows_l.append(row[:-2][same3])
        cols_l.append(vocab_size + n_buckets + tri)
    rows = np.concatenate(rows_l)
    cols = np.concatenate(cols_l)
    width = vocab_size + n_buckets + n_trigrams
    key, counts = np.unique(rows * width + cols, return_counts=True)
    r, c = key // width, key % width
    v = np.log1p(counts).astype(np.float32)
    norm = np.sqrt(np.bincount(r, weights=v * v, minlength=n)).astype(np.float32)
    return r, c, v / norm[r]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


class LexicalBackend:
    """The linear model as a detector backend (``predict_proba`` + exact ``token_attribution``)."""

    name = "lexical"

    def __init__(self, weight: np.ndarray, bias: np.ndarray, vocab_size: int, n_buckets: int, n_trigrams: int = 0):
        if weight.shape[0] != vocab_size + n_buckets + n_trigrams:
            raise ValueError(f"weight has {weight.shape[0]} rows, expected {vocab_size + n_buckets + n_trigrams}")
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)     # (features, labels)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.vocab_size, self.n_buckets, self.n_trigrams = int(vocab_size), int(n_buckets), int(n_trigrams)

    def logits(self, seqs: list[list[int]]) -> np.ndarray:
        r, c, v = token_features(seqs, self.vocab_size, self.n_buckets, self.n_trigrams)
        out = np.tile(self.bias, (len(seqs), 1))
        if len(r):
            contrib = self.weight[c] * v[:, None]
            starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
            out[r[starts]] += np.add.reduceat(contrib, starts, axis=0)
        return out

    def predict_proba(self, seqs: list[list[int]]) -> np.ndarray:
        if not seqs:
            return np.zeros((0, len(self.bias)), dtype=np.float32)
        return _softmax(self.logits(seqs))

    def token_attribution(self, ids: list[int], target: int, benign: int) -> np.ndarray:
        """Each token's share of ``logit[target] - logit[benign]`` (bias excluded): a unigram's
        contribution is split over its occurrences, a bigram's over its two tokens."""
        ids = list(ids)
        r, c, v = token_features([ids], self.vocab_size, self.n_buckets, self.n_trigrams)
        w = dict(zip(c.tolist(), (v * (self.weight[c, target] - self.weight[c, benign])).tolist()))
        attr = np.zeros(len(ids), dtype=np.float32)
        occ: dict[int, int] = {}
        for t in ids:
            occ[t] = occ.get(t, 0) + 1
        for i, t in enumerate(ids):
            attr[i] += w.get(t, 0.0) / occ[t]
        bigrams = [self.vocab_size + (a * _MULT + b) % self.n_buckets for a, b in zip(ids[:-1], ids[1:])]
        bocc: dict[int, int] = {}
        for col in bigrams:
            bocc[col] = bocc.get(col, 0) + 1
        for i, col in enumerate(bigrams):
            share = w.get(col, 0.0) / bocc[col] / 2
            attr[i] += share
            attr[i + 1] += share
        if self.n_trigrams:
            off = self.vocab_size + self.n_buckets
            tris = [off + ((a * _MULT + b) * _MULT + c) % self.n_trigrams for a, b, c in zip(ids, ids[1:], ids[2:])]
            tocc: dict[int, int] = {}
            for col in tris:
                tocc[col] = tocc.get(col, 0) + 1
            for i, col in enumerate(tris):
                share = w.get(col, 0.0) / tocc[col] / 3
                attr[i:i + 3] += share
        return attr


def load_backend(stage_dir: str | Path) -> tuple[LexicalBackend, dict[str, Any]]:
    """``(backend, meta)`` of a ``lexical/`` directory (numpy + safetensors only)."""
    from safetensors.numpy import load_file

    d = Path(stage_dir)
    meta = json.loads((d / "secllm.json").read_text())
    if meta.get("kind") != "lexical":
        raise ValueError(f"{d} holds a {meta.get('kind')} model, not a lexical stage")
    t = load_file(str(d / WEIGHTS_FILE))
    return LexicalBackend(t["weight"], t["bias"], meta["vocab_size"], meta["n_buckets"],
                          meta.get("n_trigrams", 0)), meta


def fit_lexical(seqs: list[list[int]], labels: list[str], label_set: list[str], vocab_size: int, *,
                C: float = 50.0, n_buckets: int = N_BUCKETS, max_iter: int = 300, n_trigrams: int = 0
                ) -> LexicalBackend:
    """Fit the linear model (scikit-learn multinomial logistic regression) on token sequences."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    r, c, v = token_features(seqs, vocab_size, n_buckets, n_trigrams)
    x = sparse.csr_matrix((v, (r, c)), shape=(len(seqs), vocab_size + n_buckets + n_trigrams))
    y = np.array([label_set.index(lab) for lab in labels])
    lr = LogisticRegression(C=C, max_iter=max_iter).fit(x, y)
    weight = np.zeros((vocab_size + n_buckets + n_trigrams, len(label_set)), dtype=np.float32)
    bias = np.full(len(label_set), -30.0, dtype=np.float32)        # a class never seen in training
    if len(lr.classes_) == 2:                                     # binary: sklearn keeps one row
        weight[:, lr.classes_[1]], bias[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
        weight[:, lr.classes_[0]], bias[lr.classes_[0]] = 0.0, 0.0
    else:
        weight[:, lr.classes_] = lr.coef_.T
        bias[lr.classes_] = lr.intercept_
    return LexicalBackend(weight, bias, vocab_size, n_buckets, n_trigrams)


def save_stage(backend: LexicalBackend, meta: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``lexical.safetensors`` (float16 weights) and ``secllm.json``."""
    from safetensors.numpy import save_file

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    save_file({"weight": backend.weight.astype(np.float16), "bias": backend.bias}, str(d / WEIGHTS_FILE))
    meta = {"format": "secllm-model", "version": 1, "kind": "lexical", "vocab_size": backend.vocab_size,
            "n_buckets": backend.n_buckets, "weights_dtype": "float16", **meta}
    (d / "secllm.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return d
