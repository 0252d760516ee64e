"""Open-world gate for the registered tasks: say "benign" / "unknown" instead of a made-up class.

A task model (url, traffic, cti-attack) was trained on one closed world: every input gets one of its
classes. On ordinary data of its own modality (a project's home page, a TLS session of an ordinary
capture, a sentence about the weather) it then raises alerts it cannot justify (issue 17 §2). The
gate is a **background classifier**: a binary logistic regression (the lexical head's features:
token unigrams + hashed bigrams of the ids the detector already computed, numpy at serve time) that
tells the task's training rows from *ordinary* items of the same modality
(:mod:`secllm.data.ordinary`, calib split only). Its score is P(ordinary). When it reaches the
calibrated threshold the detector reports the task's ``outcome`` (``benign`` for url, ``unknown``
for traffic and cti-attack), ``attack_type`` None, and says why in ``details["ood"]``.

The threshold is the highest one at which the served detector, gated, raises at most ``target``
(default 0.4%, under the 0.5% goal) alerts on the half of the calib items the gate was *not* fitted
on (the calib split is halved by group: :func:`calib_half`). The cost on the task itself (validation
macro-F1 with and without the gate) is recorded in the gate's JSON; test splits are not read here.

Files, beside the task's head: ``<model dir>/lexical/<task>/ood.json`` + ``ood.safetensors``.

    >>> pick_threshold(np.array([0.9, 0.2, 0.7, 0.1]), np.array([True, True, True, False]), 0.34)
    0.7
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secllm.detect.lexical import LexicalBackend

__all__ = ["OOD_JSON", "OOD_WEIGHTS", "OUTCOMES", "OodGate", "load_gate", "is_alert", "pick_threshold",
           "calib_half", "fit_gate_backend"]

OOD_JSON = "ood.json"
OOD_WEIGHTS = "ood.safetensors"
GATE_LABELS = ("task", "ordinary")
# what a gated item is called: url has a benign class; traffic and CTI only know what they learned
OUTCOMES = {"url": "benign", "traffic": "unknown", "cti-attack": "unknown"}
DEFAULT_TARGET = 0.004


@dataclass
class OodGate:
    """P(ordinary) of token-id sequences and the threshold at which the task's verdict gives way."""

    backend: LexicalBackend
    threshold: float
    outcome: str
    meta: dict[str, Any] = field(default_factory=dict)

    def score(self, seqs: list[list[int]]) -> np.ndarray:
        """P(ordinary) per sequence (column 1 of the binary model)."""
        if not seqs:
            return np.zeros(0)
        return self.backend.predict_proba(seqs)[:, GATE_LABELS.index("ordinary")]

    def save(self, d: str | Path) -> Path:
        """Write ``ood.safetensors`` (float16 weights) and ``ood.json`` into ``d``."""
        from safetensors.numpy import save_file

        d = Path(d)
        d.mkdir(parents=True, exist_ok=True)
        save_file({"weight": self.backend.weight.astype(np.float16), "bias": self.backend.bias.astype(np.float32)},
                  str(d / OOD_WEIGHTS))
        meta = {"format": "secllm-model", "version": 1, "kind": "ood-gate", "labels": list(GATE_LABELS),
                "vocab_size": self.backend.vocab_size, "n_buckets": self.backend.n_buckets,
                "n_trigrams": self.backend.n_trigrams, "threshold": float(self.threshold), "outcome": self.outcome,
                "weights_dtype": "float16", **{k: v for k, v in self.meta.items()
                                                if k not in ("threshold", "outcome", "kind", "labels", "vocab_size",
                                                             "n_buckets", "n_trigrams")}}
        (d / OOD_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        return d


def load_gate(d: str | Path) -> OodGate | None:
    """The gate saved in directory ``d`` (a task's head directory), or None when there is none."""
    from safetensors.numpy import load_file

    d = Path(d)
    if not (d / OOD_JSON).is_file():
        return None
    meta = json.loads((d / OOD_JSON).read_text())
    if meta.get("kind") != "ood-gate":
        raise ValueError(f"{d / OOD_JSON} holds a {meta.get('kind')}, not an ood-gate")
    t = load_file(str(d / OOD_WEIGHTS))
    b = LexicalBackend(t["weight"], t["bias"], int(meta["vocab_size"]), int(meta["n_buckets"]),
                       int(meta.get("n_trigrams", 0)))
    return OodGate(b, float(meta["threshold"]), str(meta["outcome"]), meta)


def is_alert(spec, label: str | None) -> bool:
    """Whether a task verdict is an alert: malicious / a malware family / any technique; never benign or unknown.

        >>> from secllm.tasks.registry import get_task
        >>> [is_alert(get_task("traffic"), x) for x in ("Zeus", "Skype", "unknown")]
        [True, False, False]
    """
    if label is None or label in ("benign", "unknown"):
        return False
    return spec.is_malicious(label) is not False


def pick_threshold(scores: np.ndarray, alerts: np.ndarray, target: float) -> float:
    """The highest gate threshold at which at most ``target`` of the items still alert.

    An item is gated when its score reaches the threshold; alerts of gated items vanish. With
    alerts already within ``target`` the gate is not needed: 1.01 (never reached).
    """
    scores, alerts = np.asarray(scores, dtype=np.float64), np.asarray(alerts, dtype=bool)
    allowed = int(np.floor(target * len(scores) + 1e-9))
    a = np.sort(scores[alerts])
    if len(a) <= allowed:
        return 1.01
    return float(a[allowed])


def calib_half(group: str) -> str:
    """``fit`` or ``threshold``: a stable halving of the ordinary calib split by group."""
    h = int.from_bytes(hashlib.sha256(("secllm-ood-half-v1\0" + group).encode()).digest()[:8], "big")
    return "fit" if h / 2.0 ** 64 < 0.5 else "threshold"


def fit_gate_backend(task_seqs: list[list[int]], ordinary_seqs: list[list[int]], vocab_size: int, *,
                     C: float = 1.0, n_buckets: int = 1 << 15, n_trigrams: int = 0,
                     max_iter: int = 1000) -> LexicalBackend:
    """Binary logistic regression task rows (0) vs ordinary items (1), classes weighted to balance."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    from secllm.detect.lexical import token_features

    seqs = list(task_seqs) + list(ordinary_seqs)
    r, c, v = token_features(seqs, vocab_size, n_buckets, n_trigrams)
    width = vocab_size + n_buckets + n_trigrams
    x = sparse.csr_matrix((v, (r, c)), shape=(len(seqs), width))
    y = np.r_[np.zeros(len(task_seqs), dtype=int), np.ones(len(ordinary_seqs), dtype=int)]
    lr = LogisticRegression(C=C, max_iter=max_iter, class_weight="balanced").fit(x, y)
    weight = np.zeros((width, 2), dtype=np.float32)
    weight[:, 1] = lr.coef_[0]
    bias = np.array([0.0, float(lr.intercept_[0])], dtype=np.float32)
    return LexicalBackend(weight, bias, vocab_size, n_buckets, n_trigrams)
