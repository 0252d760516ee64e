"""Small text classifiers served by numpy alone: TF-IDF n-grams + a sparse linear layer.

The knowledge layer's mappers (CVE description → CWE, threat text → ATT&CK technique) are linear
models over word and character n-gram TF-IDF, fitted with scikit-learn by their training modules
(:mod:`secllm.tasks.cve_cwe`, :mod:`secllm.tasks.attack_map`) and shipped as a directory of
``model.safetensors`` (idf vectors, the coefficients — sparse by feature, or a low-rank int8
factorisation — and intercepts)
and ``model.json`` (vocabularies, labels, how it was fitted). Serving needs neither scikit-learn,
scipy nor torch. The analyzers re-implement scikit-learn's exactly (tests compare them).

    >>> word_ngrams("SQL injection in login.php", 1, 2)[:4]
    ['sql', 'injection', 'in', 'login']
    >>> char_wb_ngrams("Ab", 1, 2)
    [' ', 'a', 'b', ' ', ' a', 'ab', 'b ']
    >>> f = TfidfBlock("word", (1, 1), ["sql", "xss"], np.ones(2))
    >>> f.transform_one("SQL sql xss")[0].tolist()
    [0, 1]
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["word_ngrams", "char_wb_ngrams", "check_items", "TfidfBlock", "SparseLinear", "LowRankLinear", "TextModel", "softmax",
           "sigmoid"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")          # scikit-learn's default token_pattern
_WS = re.compile(r"\s\s+")
WEIGHTS = "model.safetensors"
CONFIG = "model.json"


def word_ngrams(text: str, lo: int = 1, hi: int = 2) -> list[str]:
    """scikit-learn's ``analyzer="word"`` (lowercase, default token pattern, n-grams joined by a space)."""
    toks = _TOKEN.findall(text.lower())
    if hi == 1:
        return toks if lo == 1 else []
    out = list(toks) if lo == 1 else []
    n_toks = len(toks)
    for n in range(max(lo, 2), min(hi, n_toks) + 1):
        out.extend(" ".join(toks[i:i + n]) for i in range(n_toks - n + 1))
    return out


def char_wb_ngrams(text: str, lo: int = 1, hi: int = 5) -> list[str]:
    """scikit-learn's ``analyzer="char_wb"`` with ``lowercase=True``."""
    out: list[str] = []
    append = out.append
    for w in _WS.sub(" ", text.lower()).split():
        w = " " + w + " "
        n_chars = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            append(w[offset:offset + n])
            while offset + n < n_chars:
                offset += 1
                append(w[offset:offset + n])
            if offset == 0:                 # a word shorter than n counts once
                break
    return out


def check_items(items: list[Any], results: list[Any], max_chars: int) -> list[int]:
    """Indices of the items a text model can read; every other result gets its typed ``status``
    and ``error`` (``bad_input``, ``empty``, ``too_large``) and the batch goes on."""
    todo: list[int] = []
    for k, it in enumerate(items):
        if not isinstance(it, str):
            results[k].status, results[k].error = "bad_input", f"expected text, got {type(it).__name__}"
        elif not it.strip():
            results[k].status, results[k].error = "empty", "empty text"
        elif len(it) > max_chars:
            results[k].status, results[k].error = "too_large", f"{len(it)} chars > limit {max_chars}"
        else:
            todo.append(k)
    return todo


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass
class TfidfBlock:
    """One ``TfidfVectorizer(analyzer, ngram_range, sublinear_tf=True, norm="l2")``, fitted."""

    analyzer: str                                   # "word" or "char_wb"
    ngram_range: tuple[int, int]
    vocab: list[str]
    idf: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.analyzer not in ("word", "char_wb"):
            raise ValueError(f"analyzer must be word or char_wb, not {self.analyzer!r}")
        self.index = {g: i for i, g in enumerate(self.vocab)}
        self.idf = np.asarray(self.idf, dtype=np.float64)

    def grams(self, text: str) -> list[str]:
        lo, hi = self.ngram_range
        return word_ngrams(text, lo, hi) if self.analyzer == "word" else char_wb_ngrams(text, lo, hi)

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """``(columns, values)`` of one text: sublinear tf × idf, L2-normalised."""
        counts = Counter(g for g in self.grams(text) if g in self.index)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        cols = np.fromiter((self.index[g] for g in counts), dtype=np.int64, count=len(counts))
        vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[cols]
        norm = float(np.sqrt((vals * vals).sum()))
        return cols, (vals / norm if norm > 0 else vals)

    @classmethod
    def from_sklearn(cls, vec) -> "TfidfBlock":
        """From a fitted ``TfidfVectorizer`` (checks the settings this class reproduces)."""
        if not (vec.sublinear_tf and vec.norm == "l2" and vec.lowercase and vec.use_idf):
            raise ValueError("only sublinear_tf=True, norm='l2', lowercase=True, use_idf=True are reproduced")
        if vec.analyzer == "word" and vec.token_pattern != r"(?u)\b\w\w+\b":
            raise ValueError("only the default token_pattern is reproduced")
        return cls(vec.analyzer, tuple(vec.ngram_range), vec.get_feature_names_out().tolist(), vec.idf_)


@dataclass
class SparseLinear:
    """``logits = x · Wᵀ + b`` with W stored by feature (CSR: for each feature, its non-zero classes)."""

    indptr: np.ndarray          # (n_features + 1,) int64
    classes: np.ndarray         # (nnz,) int32: class index of each weight
    weights: np.ndarray         # (nnz,) float16/float32
    intercept: np.ndarray       # (n_classes,)

    @property
    def n_classes(self) -> int:
        return int(self.intercept.shape[0])

    @classmethod
    def from_dense(cls, coef: np.ndarray, intercept: np.ndarray, keep: float | None = None,
                   dtype=np.float16, per_class: int | None = None) -> "SparseLinear":
        """From a dense ``(classes, features)`` matrix, pruned to what ships.

        ``keep``: fraction of the largest |w| kept over the whole matrix; ``per_class``: the
        ``per_class`` largest |w| of every class (a rare class keeps its evidence too).
        """
        w = np.asarray(coef, dtype=np.float32).T            # (features, classes)
        if per_class is not None and per_class < w.shape[0]:
            mask = np.zeros(w.shape, dtype=bool)
            top = np.argpartition(-np.abs(w), per_class - 1, axis=0)[:per_class]   # (per_class, classes)
            mask[top, np.arange(w.shape[1])[None, :]] = True
            mask &= w != 0
        elif keep is not None and keep < 1.0:
            cut = np.quantile(np.abs(w), 1.0 - keep)
            mask = np.abs(w) >= cut
        else:
            mask = w != 0
        rows, cols = np.nonzero(mask)                       # row-major: sorted by feature
        indptr = np.zeros(w.shape[0] + 1, dtype=np.int64)
        np.add.at(indptr, rows + 1, 1)
        cdt = np.uint16 if w.shape[1] < 65536 else np.int32   # class ids: 2 bytes for the mappers
        return cls(np.cumsum(indptr), cols.astype(cdt), w[rows, cols].astype(dtype),
                   np.asarray(intercept, dtype=np.float32))

    def dense(self) -> np.ndarray:
        """The ``(classes, features)`` matrix (for evaluation with scipy/numpy)."""
        n_feat = len(self.indptr) - 1
        out = np.zeros((self.n_classes, n_feat), dtype=np.float32)
        rows = np.repeat(np.arange(n_feat), np.diff(self.indptr))
        out[self.classes.astype(np.int64), rows] = self.weights.astype(np.float32)
        return out

    def logits_one(self, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
        out = self.intercept.astype(np.float64).copy()
        if len(cols):
            starts, ends = self.indptr[cols], self.indptr[cols + 1]
            lens = ends - starts
            if lens.sum():
                # positions of every (feature, class) weight of this text's features, in one gather
                pos = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(lens.sum())
                out += np.bincount(self.classes[pos], weights=self.weights[pos].astype(np.float64) * np.repeat(vals, lens),
                                   minlength=len(out))
        return out


@dataclass
class LowRankLinear:
    """``logits = (x · F) · G + b`` with F ``(features, rank)`` stored int8 with one scale per feature.

    A text touches only its features' rows of F, so a lookup costs ``nnz × rank + rank × classes``.
    :meth:`from_factors` turns any factorisation (``W ≈ A·B``) into the SVD-ordered one it ships and
    can truncate the rank and drop the features whose rows matter least.
    """

    f_q: np.ndarray             # (n_features, rank) int8
    f_scale: np.ndarray         # (n_features,) float32
    g: np.ndarray               # (rank, n_classes) float32
    intercept: np.ndarray       # (n_classes,)

    @property
    def n_classes(self) -> int:
        return int(self.intercept.shape[0])

    @classmethod
    def from_factors(cls, A: np.ndarray, B: np.ndarray, intercept: np.ndarray, rank: int | None = None,
                     keep_features: np.ndarray | None = None) -> "LowRankLinear":
        """From ``W = A·B`` (A ``(features, r)``, B ``(r, classes)``); ``keep_features``: a boolean
        mask of the features kept (the others get zero rows)."""
        qa, ra = np.linalg.qr(np.asarray(A, dtype=np.float64))
        u, s, vt = np.linalg.svd(ra @ np.asarray(B, dtype=np.float64), full_matrices=False)
        r = min(rank or len(s), len(s))
        f = (qa @ u[:, :r]) * s[:r]                          # (features, r)
        if keep_features is not None:
            f[~keep_features] = 0.0
        scale = np.abs(f).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        f_q = np.clip(np.rint(f / scale[:, None]), -127, 127).astype(np.int8)
        return cls(f_q, scale.astype(np.float32), vt[:r].astype(np.float32), np.asarray(intercept, dtype=np.float32))

    def subset(self, keep: np.ndarray) -> "LowRankLinear":
        """Only the rows of ``keep`` (feature indices, in order): the vocabulary shrinks with it."""
        return LowRankLinear(self.f_q[keep], self.f_scale[keep], self.g, self.intercept)

    def dense(self) -> np.ndarray:
        return ((self.f_q.astype(np.float32) * self.f_scale[:, None]) @ self.g).T

    def logits_one(self, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
        h = (vals * self.f_scale[cols]) @ self.f_q[cols].astype(np.float64) if len(cols) else np.zeros(self.g.shape[0])
        return self.intercept.astype(np.float64) + h @ self.g


class TextModel:
    """TF-IDF blocks (each L2-normalised, scaled by its weight, concatenated) + a sparse linear layer.

    ``kind`` says how logits become scores: ``softmax`` (one label per text) or ``sigmoid``
    (one-vs-rest, any number of labels).
    """

    def __init__(self, blocks: list[TfidfBlock], block_weights: list[float], linear: SparseLinear | LowRankLinear,
                 labels: list[str], kind: str = "softmax", meta: dict[str, Any] | None = None):
        if linear.n_classes != len(labels):
            raise ValueError(f"{linear.n_classes} classes in the weights, {len(labels)} labels")
        if kind not in ("softmax", "sigmoid"):
            raise ValueError(f"kind must be softmax or sigmoid, not {kind!r}")
        self.blocks, self.block_weights, self.linear = blocks, [float(w) for w in block_weights], linear
        self.labels, self.kind, self.meta = list(labels), kind, dict(meta or {})
        self.offsets = np.cumsum([0] + [len(b.vocab) for b in blocks])

    @property
    def n_features(self) -> int:
        return int(self.offsets[-1])

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        cols, vals = [], []
        for b, w, off in zip(self.blocks, self.block_weights, self.offsets):
            c, v = b.transform_one(text)
            cols.append(c + off)
            vals.append(v * w)
        return np.concatenate(cols), np.concatenate(vals)

    def logits(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), len(self.labels)))
        for n, t in enumerate(texts):
            out[n] = self.linear.logits_one(*self.features(t))
        return out

    def scores(self, texts: list[str]) -> np.ndarray:
        """Class probabilities (softmax) or per-label probabilities (sigmoid), ``(len(texts), labels)``."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        z = self.logits(texts)
        return softmax(z) if self.kind == "softmax" else sigmoid(z)

    # -----------------------------------------------------------------------------------------
    def save(self, d: str | Path) -> Path:
        from safetensors.numpy import save_file

        d = Path(d)
        d.mkdir(parents=True, exist_ok=True)
        lin = self.linear
        if isinstance(lin, LowRankLinear):
            tensors = {"f_q": lin.f_q, "f_scale": lin.f_scale, "g": lin.g, "intercept": lin.intercept.astype(np.float32)}
        else:
            # indptr fits int32 (nnz < 2³¹); class ids keep their compact dtype
            tensors = {"indptr": lin.indptr.astype(np.int32), "classes": lin.classes,
                       "weights": lin.weights, "intercept": lin.intercept.astype(np.float32)}
        for i, b in enumerate(self.blocks):
            tensors[f"idf_{i}"] = b.idf.astype(np.float32)
        save_file(tensors, str(d / WEIGHTS))
        cfg = {"format": "secllm-textmodel", "version": 1, "kind": self.kind, "labels": self.labels,
               "linear": "lowrank" if isinstance(lin, LowRankLinear) else "sparse",
               "blocks": [{"analyzer": b.analyzer, "ngram_range": list(b.ngram_range), "weight": w,
                           "vocab": b.vocab} for b, w in zip(self.blocks, self.block_weights)],
               "meta": self.meta}
        (d / CONFIG).write_text(json.dumps(cfg, ensure_ascii=False, separators=(",", ":")))
        return d

    @classmethod
    def load(cls, d: str | Path) -> "TextModel":
        """From a directory written by :meth:`save`; the vocabularies and weights must agree."""
        from safetensors.numpy import load_file

        d = Path(d)
        cfg = json.loads((d / CONFIG).read_text(encoding="utf-8"))
        if cfg.get("format") != "secllm-textmodel":
            raise ValueError(f"{d / CONFIG} is not a secllm text model")
        t = load_file(str(d / WEIGHTS))
        blocks = [TfidfBlock(b["analyzer"], tuple(b["ngram_range"]), b["vocab"], t[f"idf_{i}"])
                  for i, b in enumerate(cfg["blocks"])]
        n_feat = sum(len(b.vocab) for b in blocks)
        if any(len(b.vocab) != t[f"idf_{i}"].shape[0] for i, b in enumerate(blocks)):
            raise ValueError(f"{d}: vocabulary and weights do not belong together")
        if cfg.get("linear", "sparse") == "lowrank":
            if t["f_q"].shape[0] != n_feat:
                raise ValueError(f"{d}: vocabulary and weights do not belong together")
            lin = LowRankLinear(t["f_q"], t["f_scale"], t["g"], t["intercept"])
        else:
            if t["indptr"].shape[0] != n_feat + 1:
                raise ValueError(f"{d}: vocabulary and weights do not belong together")
            lin = SparseLinear(t["indptr"].astype(np.int64), t["classes"], t["weights"], t["intercept"])
        return cls(blocks, [b["weight"] for b in cfg["blocks"]], lin, cfg["labels"], cfg["kind"], cfg.get("meta"))
