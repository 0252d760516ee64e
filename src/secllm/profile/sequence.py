"""Sequence mode of learning: a language model of a site's normal event sequences, learned without labels.

An event sequence (an HDFS block's log keys, a process's system calls, a user's log lines) is read as a
sentence of tokens. Models of normal sentences, from simplest to richest:

* :class:`StideModel` — STIDE (Forrest et al. 1996; Warrender et al. 1999): the set of every length-``n``
  window seen in learning; a window outside it is a mismatch. The baseline, and the ``unseen`` signal.
* :class:`KneserNeyLM` — an interpolated Kneser-Ney n-gram language model (Chen & Goodman 1999): a
  probability for every next event, smoothed so that an unseen n-gram still gets the mass its shorter
  contexts give it.
* :class:`secllm.profile.seqlm.NeuralLM` — a small LSTM (or causal Transformer) language model in PyTorch.

Every model gives each event its surprise, the negative log-likelihood ``-ln P(event | history)`` in
nats (the end of the sequence is one more event). A sequence scores by how surprising its windows are:
``mean`` (average surprise per event), ``window`` (the most surprising sliding window of ``window``
events, mean surprise), ``unseen`` (the share of length-``n`` windows STIDE never saw) and ``counts``
(how far the sequence's event counts, transitions and length fall outside the learned ones:
:meth:`secllm.profile.logs.LogModel.score_session`; what a language model misses when an attack
repeats normal steps, e.g. a password guess loop). Each is turned
into a tail probability among held-back normal sequences (:class:`~secllm.profile.stats.TailCalibrator`)
and combined (the strongest signal decides, Bonferroni-corrected: the ``max`` rule; Fisher's method on
request). The language model is chosen on the held-back normal sequences by held-out likelihood (nats
per event; lower wins): no label is used anywhere. Evidence = the most surprising windows and the
events in them.

    >>> normal = [["open", "read", "read", "close"]] * 30 + [["open", "write", "close"]] * 30
    >>> m = SequenceModel(candidates=("kn-3",)).fit(normal[:40], normal[40:] + normal[:5])
    >>> r = m.score([["open", "read", "read", "close"], ["open", "execve", "dup2", "close"]])
    >>> r[0].p > r[1].p, r[1].windows[0]["events"][:2]
    (True, ['open', 'execve'])

Artifacts: ``sequence.safetensors`` (n-gram tables, window sets, network weights) + a JSON document
(vocabulary, configuration, selection report, calibration); no pickle.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secllm.profile.logs import LogModel
from secllm.profile.stats import TailCalibrator, combine_pvalues
from secllm.profile.vocab import BOS_ID, END, END_ID, MAX_NLL, UNK_ID, Vocab

FEATURES = ("mean", "window", "unseen", "counts")
# the LSTM is a candidate on request (--seq-models kn-3,kn-5,kn-8,lstm): on this CPU it trains far
# slower than the n-gram models and it lost to them on held-out likelihood on every set measured
# (docs/sequences.md)
DEFAULT_CANDIDATES = ("kn-3", "kn-5", "kn-8")
_HASH = np.uint64(0x9E3779B97F4A7C15)


# ------------------------------------------------------------------------------------------------
# Window codes
# ------------------------------------------------------------------------------------------------

def window_codes(ids: np.ndarray, k: int, base: int) -> np.ndarray:
    """Codes of every length-``k`` window of ``ids`` (``(len - k + 1,)`` uint64): exact in base
    ``base`` when ``base ** k`` fits 63 bits, else a 64-bit polynomial hash (collisions ~1e-8 at a
    million windows)."""
    n = len(ids) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    mult = np.uint64(base) if base ** k < 2 ** 63 else _HASH
    code = np.zeros(n, dtype=np.uint64)
    u = ids.astype(np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            code = code * mult + u[j:j + n]
    return code


def _lookup(keys: np.ndarray, table_keys: np.ndarray, table_vals: np.ndarray, default: float = 0.0) -> np.ndarray:
    """``table_vals`` at ``keys`` (``table_keys`` sorted unique), ``default`` where absent."""
    if len(table_keys) == 0:
        return np.full(len(keys), default, dtype=np.float64)
    i = np.searchsorted(table_keys, keys)
    i = np.minimum(i, len(table_keys) - 1)
    hit = table_keys[i] == keys
    return np.where(hit, table_vals[i], default).astype(np.float64)


def _padded(ids: np.ndarray, left: int, end: bool = True) -> np.ndarray:
    parts = [np.full(left, BOS_ID, dtype=np.int64), ids]
    if end:
        parts.append(np.array([END_ID], dtype=np.int64))
    return np.concatenate(parts)


# ------------------------------------------------------------------------------------------------
# STIDE
# ------------------------------------------------------------------------------------------------

class StideModel:
    """The set of length-``n`` windows of the learned sequences (start padded with ``<s>``, the end
    marked with ``</s>``). ``unseen(ids)`` flags, per event, whether the window ending there was never seen.

        >>> m = StideModel(3).fit([np.array([4, 5, 6, 4, 5, 6])], vocab_size=8)
        >>> m.unseen(np.array([4, 5, 6, 4, 6])).astype(int).tolist()
        [0, 0, 0, 0, 1, 1]
    """

    def __init__(self, n: int = 6):
        self.n = n
        self.name = f"stide-{n}"

    def fit(self, seqs: Sequence[np.ndarray], vocab_size: int) -> "StideModel":
        self.base_ = vocab_size
        codes = [window_codes(_padded(s, self.n - 1), self.n, vocab_size) for s in seqs]
        self.windows_ = np.unique(np.concatenate(codes)) if codes else np.zeros(0, dtype=np.uint64)
        return self

    def unseen(self, ids: np.ndarray) -> np.ndarray:
        """``(len(ids) + 1,)`` bool: the window ending at each event (and at the end) is not in the set."""
        c = window_codes(_padded(ids, self.n - 1), self.n, self.base_)
        return ~np.isin(c, self.windows_, assume_unique=False)

    def tensors(self) -> dict[str, np.ndarray]:
        return {f"{self.name}.windows": self.windows_.view(np.int64)}

    def load(self, t: dict[str, np.ndarray], vocab_size: int) -> "StideModel":
        self.base_ = vocab_size
        self.windows_ = t[f"{self.name}.windows"].view(np.uint64)
        return self


# ------------------------------------------------------------------------------------------------
# Interpolated Kneser-Ney n-gram language model
# ------------------------------------------------------------------------------------------------

class KneserNeyLM:
    """Interpolated Kneser-Ney language model of order ``order`` (Chen & Goodman 1999, one discount
    per order, ``D = n1 / (n1 + 2 n2)``), vectorised over all positions with numpy.

    ``P(w | h) = max(c(hw) - D, 0) / c(h) + D * N1+(h .) / c(h) * P(w | h')`` with raw counts at the
    highest order and continuation counts ``N1+(. h'w)`` below it; the lowest order interpolates with
    the uniform distribution over the vocabulary, so an unseen event keeps a small probability. A
    context never seen passes its lower order's probability up unchanged.

        >>> lm = KneserNeyLM(2).fit([np.array([4, 5, 4, 5, 4, 6])], vocab_size=7)
        >>> nll = lm.token_nll(np.array([4, 5, 4, 5]))
        >>> bool(nll[1] < nll[3] + 1.0), round(float(np.exp(-lm.token_nll(np.array([4]))).sum()), 6) <= 1
        (True, True)
    """

    def __init__(self, order: int = 5):
        self.order = order
        self.name = f"kn-{order}"

    def fit(self, seqs: Sequence[np.ndarray], vocab_size: int) -> "KneserNeyLM":
        n, self.vocab_size_ = self.order, vocab_size
        padded = [_padded(s, n - 1) for s in seqs if len(s) + n >= n]
        # rows[k]: the distinct k-grams (token rows) and their count: raw at order n, continuation
        # (number of distinct one-longer n-grams that end in it) below
        allrows = np.concatenate([np.lib.stride_tricks.sliding_window_view(p, n) for p in padded])
        rows, cnt = np.unique(allrows, axis=0, return_counts=True)
        self.grams_ = [np.zeros(0, np.uint64)] * (n + 1)
        self.counts_ = [np.zeros(0)] * (n + 1)
        self.ctx_, self.ctx_total_, self.ctx_types_ = ([np.zeros(0)] * (n + 1) for _ in range(3))
        self.discount_ = [0.0] * (n + 1)
        for k in range(n, 0, -1):
            if k < n:
                rows, cnt = np.unique(rows[:, 1:], axis=0, return_counts=True)
            cnt = cnt.astype(np.float64)
            codes = window_codes_rows(rows, vocab_size)
            o = np.argsort(codes)
            self.grams_[k], self.counts_[k] = codes[o], cnt[o]
            n1, n2 = float((cnt == 1).sum()), float((cnt == 2).sum())
            self.discount_[k] = float(min(max(n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5, 0.1), 0.95))
            if k > 1:
                # contexts: (k-1)-prefix codes with the total (continuation) count and number of followers
                prefix = window_codes_rows(rows[:, :-1], vocab_size)
                o = np.argsort(prefix, kind="stable")
                prefix, w = prefix[o], cnt[o]
                uniq, start = np.unique(prefix, return_index=True)
                self.ctx_[k] = uniq
                self.ctx_total_[k] = np.add.reduceat(w, start)
                self.ctx_types_[k] = np.diff(np.append(start, len(prefix))).astype(np.float64)
        self.uni_total_ = float(self.counts_[1].sum())
        self.uni_types_ = float(len(self.counts_[1]))
        return self

    def token_nll(self, ids: np.ndarray) -> np.ndarray:
        """``(len(ids) + 1,)`` surprise (nats) of each event and of the end, given its history."""
        n, v = self.order, self.vocab_size_
        p_seq = _padded(ids, n - 1)
        targets = p_seq[n - 1:]                                            # (L+1,)
        m = len(targets)
        # order 1: continuation unigram interpolated with the uniform distribution
        d1 = self.discount_[1]
        c1 = _lookup(targets.astype(np.uint64), self.grams_[1], self.counts_[1])
        p = (np.maximum(c1 - d1, 0.0) + d1 * self.uni_types_ / v) / max(self.uni_total_, 1.0)
        for k in range(2, n + 1):
            gram = window_codes(p_seq[n - k:], k, v)[:m]                   # k-gram ending at each target
            ctx = window_codes(p_seq[n - k:-1], k - 1, v)[:m] if k > 1 else None
            cnt = _lookup(gram, self.grams_[k], self.counts_[k])
            tot = _lookup(ctx, self.ctx_[k], self.ctx_total_[k])
            typ = _lookup(ctx, self.ctx_[k], self.ctx_types_[k])
            d = self.discount_[k]
            seen = tot > 0
            safe = np.where(seen, tot, 1.0)
            p = np.where(seen, (np.maximum(cnt - d, 0.0) + d * typ * p) / safe, p)
        return np.minimum(-np.log(np.maximum(p, 1e-300)), MAX_NLL)

    def tensors(self) -> dict[str, np.ndarray]:
        t: dict[str, np.ndarray] = {f"{self.name}.discount": np.array(self.discount_, dtype=np.float64)}
        for k in range(1, self.order + 1):
            t[f"{self.name}.grams.{k}"] = self.grams_[k].view(np.int64)
            t[f"{self.name}.counts.{k}"] = self.counts_[k]
            if k > 1:
                t[f"{self.name}.ctx.{k}"] = self.ctx_[k].view(np.int64)
                t[f"{self.name}.ctx_total.{k}"] = self.ctx_total_[k]
                t[f"{self.name}.ctx_types.{k}"] = self.ctx_types_[k]
        return t

    def load(self, t: dict[str, np.ndarray], vocab_size: int) -> "KneserNeyLM":
        n, self.vocab_size_ = self.order, vocab_size
        self.discount_ = t[f"{self.name}.discount"].tolist()
        empty = np.zeros(0)
        self.grams_ = [np.zeros(0, np.uint64)] + [t[f"{self.name}.grams.{k}"].view(np.uint64) for k in range(1, n + 1)]
        self.counts_ = [empty] + [t[f"{self.name}.counts.{k}"] for k in range(1, n + 1)]
        self.ctx_ = [empty, empty] + [t[f"{self.name}.ctx.{k}"].view(np.uint64) for k in range(2, n + 1)]
        self.ctx_total_ = [empty, empty] + [t[f"{self.name}.ctx_total.{k}"] for k in range(2, n + 1)]
        self.ctx_types_ = [empty, empty] + [t[f"{self.name}.ctx_types.{k}"] for k in range(2, n + 1)]
        self.uni_total_ = float(self.counts_[1].sum())
        self.uni_types_ = float(len(self.counts_[1]))
        return self


def window_codes_rows(rows: np.ndarray, base: int) -> np.ndarray:
    """Codes of the rows of ``rows`` (``(m, k)`` ids), the same codes :func:`window_codes` gives."""
    m, k = rows.shape
    mult = np.uint64(base) if base ** max(k, 1) < 2 ** 63 else _HASH
    code = np.zeros(m, dtype=np.uint64)
    u = rows.astype(np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            code = code * mult + u[:, j]
    return code


# ------------------------------------------------------------------------------------------------
# The sequence scorer: models, selection, features, calibration, evidence, artifact
# ------------------------------------------------------------------------------------------------

@dataclass
class SequenceResult:
    """How one sequence compares with the learned normal ones.

    ``features``: ``mean`` / ``window`` surprise (nats per event) and ``unseen`` window rate; ``p``: the
    combined tail probability among held-back normal sequences (small = unusual); ``score = -log10 p``
    (computed from log p-values, so it keeps ranking where ``p`` underflows);
    ``windows``: the most surprising windows (``start``/``end`` event indices, ``nll`` mean surprise,
    ``events``, ``surprise`` per event, ``unseen`` STIDE windows in it).
    """

    n_events: int
    features: dict[str, float]
    p: float
    score: float
    windows: list[dict[str, Any]] = field(default_factory=list)
    unknown_events: list[str] = field(default_factory=list)
    count_evidence: list[str] = field(default_factory=list)


def _make_model(name: str, seed: int = 0, **neural: Any) -> Any:
    kind, _, arg = name.partition("-")
    if kind == "kn":
        return KneserNeyLM(int(arg or 5))
    if kind in ("lstm", "transformer"):
        from secllm.profile.seqlm import NeuralLM

        return NeuralLM(arch=kind, seed=seed, **neural)
    raise ValueError(f"unknown sequence model {name!r}; expected kn-N, lstm or transformer")


class SequenceModel:
    """Learn, choose, calibrate and score (see the module docstring).

    ``candidates``: language models to choose from (``kn-N``, ``lstm``, ``transformer``); ``window``:
    events per scoring window; ``stide``: STIDE window length for the ``unseen`` signal; ``features``:
    which signals enter the combined p-value; ``combine``: ``fisher`` or ``max``.
    """

    def __init__(self, candidates: Sequence[str] = DEFAULT_CANDIDATES, window: int = 20, stide: int = 6,
                 features: Sequence[str] = FEATURES, combine: str = "max", seed: int = 0,
                 neural: dict[str, Any] | None = None):
        self.candidates = tuple(candidates)
        self.window = window
        self.stide_n = stide
        self.features = tuple(features)
        self.combine = combine
        self.seed = seed
        self.neural = dict(neural or {})
        for f in self.features:
            if f not in FEATURES:
                raise ValueError(f"unknown feature {f!r}; expected some of {FEATURES}")

    # -- learning -------------------------------------------------------------------------------
    def fit(self, learn: Sequence[Sequence[str]], heldout: Sequence[Sequence[str]]) -> "SequenceModel":
        """Learn every candidate on ``learn``, keep the one with the lowest surprise per event on the
        held-back normal sequences ``heldout``, and calibrate the features on them."""
        learn = [list(s) for s in learn if len(s)]
        heldout = [list(s) for s in heldout if len(s)]
        if not learn or not heldout:
            raise ValueError("sequence learning needs non-empty learning and held-back sequences")
        self.vocab_ = Vocab.build(learn)
        v = len(self.vocab_)
        lids = [self.vocab_.encode(s) for s in learn]
        hids = [self.vocab_.encode(s) for s in heldout]
        self.stide_ = StideModel(self.stide_n).fit(lids, v)
        self.counts_ = LogModel.fit_sessions(learn) if "counts" in self.features else None
        self.selection_: list[dict[str, Any]] = []
        best = None
        for name in self.candidates:
            t0 = time.perf_counter()
            model = _make_model(name, self.seed, **self.neural).fit(lids, v)
            fit_s = time.perf_counter() - t0
            nll = _batch_nll(model, hids)
            tokens = sum(len(x) for x in nll)
            per = float(sum(x.sum() for x in nll) / max(tokens, 1))
            row = {"model": name, "heldout_nats_per_event": round(per, 4), "fit_seconds": round(fit_s, 2),
                   "scoring_seconds": round(time.perf_counter() - t0 - fit_s, 2)}
            self.selection_.append(row)
            if best is None or per < best[0]:
                best = (per, name, model, nll)
        _, self.model_name_, self.lm_, hnll = best
        feats = [self._features(ids, nll, ev) for ids, nll, ev in zip(hids, hnll, heldout)]
        self.calibrators_ = {f: TailCalibrator.fit([x[f] for x in feats]) for f in self.features}
        # the worst held-back normal window: the yardstick evidence is given against
        self.normal_window_p99_ = float(np.quantile([x["window"] for x in feats], 0.99))
        self.n_learn_, self.n_heldout_ = len(learn), len(heldout)
        return self

    @property
    def why(self) -> str:
        rows = ", ".join(f"{r['model']} {r['heldout_nats_per_event']:.3f}" for r in self.selection_)
        return (f"{self.model_name_}: lowest surprise per event (nats) on {self.n_heldout_} held-back normal "
                f"sequences among {rows}")

    # -- scoring --------------------------------------------------------------------------------
    def _features(self, ids: np.ndarray, nll: np.ndarray, events: Sequence[str]) -> dict[str, float]:
        w = min(self.window, len(nll))
        win = np.convolve(nll, np.ones(w) / w, mode="valid")
        unseen = self.stide_.unseen(ids)
        f = {"mean": float(nll.mean()), "window": float(win.max()), "unseen": float(unseen.mean())}
        if self.counts_ is not None:
            f["counts"] = float(self.counts_.score_session(list(events))[0])
        return f

    def pvalues(self, feats: dict[str, float]) -> dict[str, float]:
        return {f: self.calibrators_[f].pvalue(feats[f]) for f in self.features}

    def _score(self, feats: dict[str, float]) -> float:
        """``-log10`` of the combined p-value, from log p-values so that it keeps ranking where p
        underflows: ``max`` rule ``-log10(k * min p)``, ``fisher`` ``-sum(log10 p)`` (the statistic,
        monotone in Fisher's p)."""
        logs = [self.calibrators_[f].log_pvalue(feats[f]) for f in self.features]
        if self.combine == "max":
            return max(0.0, -(math.log(len(logs)) + min(logs)) / math.log(10))
        return -sum(logs) / math.log(10)

    def score(self, seqs: Sequence[Sequence[str]], evidence: int = 3) -> list[SequenceResult]:
        """One :class:`SequenceResult` per sequence (an empty sequence scores as its end alone)."""
        ids = [self.vocab_.encode(list(s)) for s in seqs]
        nlls = _batch_nll(self.lm_, ids)
        out = []
        for s, x, nll in zip(seqs, ids, nlls):
            f = self._features(x, nll, s)
            ps = self.pvalues(f)
            p = combine_pvalues(list(ps.values()), self.combine)
            unknown = sorted({e for e, i in zip(s, x) if i == UNK_ID})[:10]
            counted: list[str] = []
            if evidence and self.counts_ is not None and ps["counts"] < 0.05:
                # the count findings other than unseen events (those the windows name already)
                counted = [e for e in self.counts_.score_session(list(s))[1] if "never seen" not in e][:evidence]
            out.append(SequenceResult(len(x), {k: round(v, 5) for k, v in f.items()}, p, self._score(f),
                                      self._windows(list(s), x, nll, evidence) if evidence else [], unknown,
                                      counted))
        return out

    def _windows(self, events: list[str], ids: np.ndarray, nll: np.ndarray, k: int) -> list[dict[str, Any]]:
        """The ``k`` most surprising non-overlapping windows, most surprising first."""
        w = min(self.window, len(nll))
        win = np.convolve(nll, np.ones(w) / w, mode="valid")
        unseen = self.stide_.unseen(ids)
        toks = events + [END]
        out, taken = [], np.zeros(len(nll), dtype=bool)
        for start in np.argsort(-win, kind="stable"):
            if len(out) >= k:
                break
            if taken[start:start + w].any():
                continue
            taken[start:start + w] = True
            out.append({"start": int(start), "end": int(start + w), "nll": round(float(win[start]), 3),
                        "events": toks[start:start + w],
                        "surprise": [round(float(x), 2) for x in nll[start:start + w]],
                        "unseen": int(unseen[start:start + w].sum())})
        return out

    def describe(self, r: SequenceResult, n: int = 3) -> list[str]:
        """Evidence sentences: the most surprising windows and their events, unknown events."""
        ev = []
        if r.unknown_events:
            ev.append(f"{len(r.unknown_events)} event(s) never seen in learning: "
                      + ", ".join(f"`{_short(e)}`" for e in r.unknown_events[:5]))
        for wd in r.windows[:n]:
            top = int(np.argmax(wd["surprise"]))
            shown = " ".join(f"*{_short(e, 30)}*" if i == top else _short(e, 30) for i, e in enumerate(wd["events"]))
            unseen = f"; {wd['unseen']} window(s) of {self.stide_n} events never seen" if wd["unseen"] else ""
            ev.append(f"events {wd['start'] + 1}–{wd['end']} surprise {wd['nll']:.2f} nats/event (held-back "
                      f"normals' worst window: {self.normal_window_p99_:.2f} at the 99th percentile){unseen}: "
                      f"`{shown}`")
        return ev + r.count_evidence

    # -- artifact -------------------------------------------------------------------------------
    def save(self, d: str | Path) -> dict[str, Any]:
        """Write ``sequence.safetensors`` in ``d``; return the JSON part (stored in the profile)."""
        from safetensors.numpy import save_file

        d = Path(d)
        tensors = {**self.stide_.tensors(), **self.lm_.tensors()}
        tensors["calibration"] = np.stack([self.calibrators_[f].scores for f in self.features])
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(d / "sequence.safetensors"))
        doc = {"file": "sequence.safetensors", "model": self.model_name_, "why": self.why,
               "selection": self.selection_, "candidates": list(self.candidates), "window": self.window,
               "stide": self.stide_n, "features": list(self.features), "combine": self.combine, "seed": self.seed,
               "neural": self.neural, "vocab": self.vocab_.tokens,
               "calibration_scale": {f: self.calibrators_[f].scale for f in self.features},
               "normal_window_p99": self.normal_window_p99_, "n_learn": self.n_learn_, "n_heldout": self.n_heldout_,
               "counts": self.counts_.to_json() if self.counts_ is not None else None}
        if hasattr(self.lm_, "config_json"):
            doc["lm_config"] = self.lm_.config_json()
        return doc

    @classmethod
    def load(cls, d: str | Path, doc: dict[str, Any]) -> "SequenceModel":
        from safetensors.numpy import load_file

        t = load_file(str(Path(d) / doc["file"]))
        m = cls(doc["candidates"], doc["window"], doc["stide"], doc["features"], doc["combine"], doc["seed"],
                doc.get("neural"))
        m.vocab_ = Vocab(doc["vocab"])
        v = len(m.vocab_)
        m.stide_ = StideModel(doc["stide"]).load(t, v)
        m.model_name_, m.selection_ = doc["model"], doc["selection"]
        if m.model_name_.startswith("kn-"):
            m.lm_ = KneserNeyLM(int(m.model_name_[3:])).load(t, v)
        else:
            from secllm.profile.seqlm import NeuralLM

            m.lm_ = NeuralLM.from_tensors(doc["lm_config"], t)
        cal = t["calibration"]
        m.calibrators_ = {f: TailCalibrator(np.sort(cal[i].astype(np.float64)), float(doc["calibration_scale"][f]))
                          for i, f in enumerate(m.features)}
        m.normal_window_p99_ = float(doc["normal_window_p99"])
        m.counts_ = LogModel.from_json(doc["counts"]) if doc.get("counts") else None
        m.n_learn_, m.n_heldout_ = doc["n_learn"], doc["n_heldout"]
        return m


def _batch_nll(model: Any, seqs: list[np.ndarray]) -> list[np.ndarray]:
    if hasattr(model, "batch_nll"):
        return model.batch_nll(seqs)
    return [model.token_nll(s) for s in seqs]


def _short(s: str, n: int = 60) -> str:
    s = s if len(s) <= n else s[:n] + "…"
    return s.encode("unicode_escape", "backslashreplace").decode("ascii").replace("`", "'")
