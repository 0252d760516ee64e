"""Features of the learned identifier, computed for a whole batch at once with numpy.

Per item, on its first ``max_bytes`` UTF-8 bytes with every digit read as ``0`` (so time stamps,
addresses and ids share their n-grams):

* hashed byte n-grams (``ngrams``, e.g. 1..4) into ``2**buckets_log2`` buckets, as *mean* counts
  (each item's counts sum to 1: long and short items weigh the same);
* hashed prefixes (the first 1..``prefix`` bytes) and suffixes (the last 1..``suffix`` bytes read)
  into their own ``2**prefix_log2`` buckets, as 0/1 indicators: how an item starts (``GET /``,
  ``<?php``, ``[Sun``, ``2015-``) and ends (``.``, ``;``, ``}``) says a lot;
* a few dense shape values: length, line count and the share of each byte class (digits, upper,
  lower, blanks, punctuation, control bytes, UTF-8 lead bytes of CJK and of other scripts ...).

A linear model on these is :meth:`HashedFeatures.logits`: a gather of weight rows per n-gram,
summed per item (``np.add.reduceat``), so serving needs nothing but numpy.

    >>> cfg = FeatureConfig(buckets_log2=10, prefix_log2=8)
    >>> f = featurize(["GET / HTTP/1.1", "hello"], cfg)
    >>> f.n_items, f.dense.shape
    (2, (2, 12))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = ["FeatureConfig", "HashedFeatures", "featurize", "encode_batch", "DENSE_NAMES"]


@dataclass(frozen=True)
class FeatureConfig:
    buckets_log2: int = 16
    ngrams: tuple[int, ...] = (1, 2, 3, 4)
    prefix: int = 6
    suffix: int = 3
    prefix_log2: int = 13
    max_bytes: int = 1024

    def to_json(self) -> dict:
        d = asdict(self)
        d["ngrams"] = list(self.ngrams)
        return d

    @classmethod
    def from_json(cls, d: dict) -> FeatureConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown feature config keys {sorted(unknown)}")
        d = dict(d)
        if "ngrams" in d:
            d["ngrams"] = tuple(int(n) for n in d["ngrams"])
        return cls(**d)


# Digits collapse to "0"; every other byte stays itself.
_NORM = np.arange(256, dtype=np.uint32)
_NORM[ord("0"): ord("9") + 1] = ord("0")

# Byte classes for the dense shape values.
_CLASS_NAMES = ("digit", "upper", "lower", "blank", "newline", "punct", "control", "utf8-cont", "cjk-lead", "other-lead")
_CLASS = np.full(256, 5, dtype=np.int64)
_CLASS[ord("0"): ord("9") + 1] = 0
_CLASS[ord("A"): ord("Z") + 1] = 1
_CLASS[ord("a"): ord("z") + 1] = 2
_CLASS[[ord(" "), ord("\t")]] = 3
_CLASS[[ord("\n"), ord("\r")]] = 4
_CLASS[list(range(0, 9)) + [11, 12] + list(range(14, 32)) + [127]] = 6
_CLASS[0x80:0xC0] = 7
_CLASS[0xC0:0x100] = 9
_CLASS[0xE4:0xEA] = 8  # lead bytes of U+4000..U+9FFF: CJK unified ideographs (Chinese text)
N_CLASSES = len(_CLASS_NAMES)
DENSE_NAMES = ("log-length", "log-lines") + _CLASS_NAMES

_P = np.uint32(0x01000193)       # FNV prime: mixes one more byte into an n-gram's hash
_GOLD = np.uint32(0x9E3779B1)    # multiplicative hashing: the top bits are well mixed


@dataclass
class HashedFeatures:
    """A batch's features. For each n-gram order, ``ids[k]`` lists bucket ids item by item and
    ``counts[k]`` how many belong to each item; ``prefix_ids`` is (n_items, prefix + suffix) with -1
    where an item is shorter; ``total`` is each item's n-gram count (the mean's divisor); ``dense`` is
    (n_items, len(DENSE_NAMES)) raw shape values (the model standardises them)."""

    n_items: int
    ids: list[np.ndarray]
    counts: list[np.ndarray]
    prefix_ids: np.ndarray
    total: np.ndarray
    dense: np.ndarray

    def logits(self, w_ngram: np.ndarray, w_prefix: np.ndarray, w_dense: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """(n_items, K) scores of a linear model: mean n-gram rows + prefix rows + dense + bias.

        ``w_ngram`` (buckets, K), ``w_prefix`` (prefix buckets, K), ``w_dense`` (D, K) applied to
        standardised dense values by the caller, ``bias`` (K,).
        """
        k = w_ngram.shape[1]
        out = np.zeros((self.n_items, k), dtype=np.float32)
        for ids, counts in zip(self.ids, self.counts):
            if ids.size == 0:
                continue
            rows = w_ngram[ids]                                     # (P, K)
            rows = np.concatenate([rows, np.zeros((1, k), dtype=rows.dtype)])
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            sums = np.add.reduceat(rows, np.minimum(starts, ids.size), axis=0)
            sums[counts == 0] = 0.0                                 # reduceat copies a row for an empty run
            out += sums
        out /= np.maximum(self.total, 1)[:, None]
        valid = self.prefix_ids >= 0
        if valid.any():
            pref = w_prefix[np.where(valid, self.prefix_ids, 0)]    # (N, prefix, K)
            out += (pref * valid[:, :, None]).sum(axis=1)
        out += self.dense @ w_dense
        out += bias
        return out


def encode_batch(texts: list[str], max_bytes: int) -> list[bytes]:
    """Each text's first ``max_bytes`` UTF-8 bytes (lone surrogates kept as their own bytes)."""
    out = []
    for t in texts:
        # Encoding a little more than needed is cheaper than measuring characters first.
        b = t[: max_bytes].encode("utf-8", "surrogatepass")
        out.append(b[:max_bytes])
    return out


def featurize(texts: list[str], cfg: FeatureConfig, encoded: list[bytes] | None = None) -> HashedFeatures:
    """Features of a batch of texts (see the module docstring)."""
    bs = encoded if encoded is not None else encode_batch(texts, cfg.max_bytes)
    n = len(bs)
    lens = np.fromiter((len(b) for b in bs), dtype=np.int64, count=n)
    raw = np.frombuffer(b"".join(bs), dtype=np.uint8)
    total_len = raw.size
    ends = np.cumsum(lens)
    starts = ends - lens
    v = _NORM[raw]                                                  # (L,) uint32
    item_end = np.repeat(ends, lens)                                # end offset of each byte's item
    shift = np.uint32(32 - cfg.buckets_log2)
    ids: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    h = np.zeros(0, dtype=np.uint32)
    pos = np.arange(total_len, dtype=np.int64)
    for order in range(1, max(cfg.ngrams) + 1):
        m = total_len - order + 1
        if m <= 0:
            if order in cfg.ngrams:
                ids.append(np.zeros(0, dtype=np.int64))
                counts.append(np.zeros(n, dtype=np.int64))
            continue
        # h[i] = hash of bytes i .. i+order-1 (built from the previous order's hash)
        h = (h[:m] * _P) ^ v[order - 1: order - 1 + m] if order > 1 else v.copy()
        if order in cfg.ngrams:
            valid = pos[:m] + order <= item_end[:m]
            salted = (h[valid] ^ np.uint32(order * 0x85EBCA6B & 0xFFFFFFFF)) * _GOLD
            ids.append((salted >> shift).astype(np.int64))
            counts.append(np.maximum(lens - order + 1, 0))
    # Prefixes: the same hash, computed at item starts only (k = 1 .. prefix bytes).
    pshift = np.uint32(32 - cfg.prefix_log2)
    prefix_ids = np.full((n, cfg.prefix + cfg.suffix), -1, dtype=np.int64)
    pad = max(cfg.prefix, cfg.suffix)
    vpad = np.concatenate([np.zeros(pad, dtype=np.uint32), v, np.zeros(pad, dtype=np.uint32)])
    ph = np.zeros(n, dtype=np.uint32)
    for k in range(cfg.prefix):
        ph = (ph * _P) ^ vpad[pad + starts + k] if k else vpad[pad + starts].copy()
        pid = ((ph ^ np.uint32((k + 101) * 0xC2B2AE35 & 0xFFFFFFFF)) * _GOLD) >> pshift
        prefix_ids[:, k] = np.where(lens >= k + 1, pid.astype(np.int64), -1)
    # Suffixes: the last 1 .. suffix bytes read (how an item ends: ".", ";", "}", a digit ...),
    # hashed backwards into the same table with their own salts.
    sh = np.zeros(n, dtype=np.uint32)
    for k in range(cfg.suffix):
        sh = (sh * _P) ^ vpad[pad + ends - 1 - k] if k else vpad[pad + ends - 1].copy()
        sid = ((sh ^ np.uint32((k + 211) * 0x27D4EB2F & 0xFFFFFFFF)) * _GOLD) >> pshift
        prefix_ids[:, cfg.prefix + k] = np.where(lens >= k + 1, sid.astype(np.int64), -1)
    total = np.zeros(n, dtype=np.float32)
    for c in counts:
        total += c
    # Dense shape values: byte-class shares, log length, log line count.
    item_of = np.repeat(np.arange(n), lens)
    cls = np.bincount(item_of * N_CLASSES + _CLASS[raw], minlength=n * N_CLASSES).reshape(n, N_CLASSES)
    share = cls / np.maximum(lens, 1)[:, None]
    dense = np.empty((n, len(DENSE_NAMES)), dtype=np.float32)
    dense[:, 0] = np.log1p(lens)
    dense[:, 1] = np.log1p(cls[:, 4])
    dense[:, 2:] = share
    return HashedFeatures(n, ids, counts, prefix_ids, total, dense)
