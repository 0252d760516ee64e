"""Threat-report text → ATT&CK Enterprise techniques (any of the ~690 active ones, or none), numpy only.

The shipped model (``secllm/assets/knowledge/attack/``: ``model.safetensors`` + ``model.json``) is a
word + character n-gram TF-IDF linear model with one softmax over ``none`` and every active
technique, trained by :mod:`secllm.tasks.attack_map` on TRAM's training reports (sentence by
sentence, including the sentences that name no technique), ATT&CK's procedure examples of the
training actors and the techniques' own texts. "No technique" is a real outcome: when the model's
probability of ``none`` reaches the threshold chosen on validation (saved with the model), the
answer is an empty technique list with ``status`` ``"ok"`` and ``none`` true. Figures and splits:
``docs/knowledge.md`` (Mappers).

    >>> m = TechniqueMapper.load()                                             # doctest: +SKIP
    >>> r = m.map(["The actor dumped LSASS memory to harvest credentials."])[0]  # doctest: +SKIP
    >>> r.none, r.techniques[0]["id"]                                           # doctest: +SKIP
    (False, 'T1003.001')
    >>> m.map(["The quarterly report was published on Tuesday."])[0].none     # doctest: +SKIP
    True

Per-item failures are data: a non-string, empty or oversized item gets ``bad_input`` / ``empty`` /
``too_large`` and the batch goes on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secllm.knowledge.textmodel import TextModel, check_items

__all__ = ["TechniqueMapper", "TechniqueResult", "default_model_dir", "NONE", "MAX_CHARS"]

NONE = "none"
MAX_CHARS = 20_000


def default_model_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "knowledge" / "attack"


@dataclass
class TechniqueResult:
    id: str
    techniques: list[dict[str, Any]] = field(default_factory=list)   # the answer: [{"id", "name", "score", "url"}]
    none: bool = False                                                # "no technique" (techniques is empty)
    none_score: float = 0.0                                           # the model's p(none)
    candidates: list[dict[str, Any]] = field(default_factory=list)   # top-k ranking, whatever the answer
    status: str = "ok"                                                # ok / empty / too_large / bad_input
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "attack": self.techniques, "none": self.none,
                             "none_score": self.none_score, "candidates": self.candidates, "status": self.status}
        if self.error:
            d["error"] = self.error
        return d


class TechniqueMapper:
    """Map sentences (or short passages) to ATT&CK technique ids with the shipped or a given model."""

    def __init__(self, model: TextModel, catalog=None):
        if not model.labels or model.labels[0] != NONE:
            raise ValueError("a technique model's first label must be 'none'")
        self.model = model
        self.none_threshold = float(model.meta.get("none_threshold", 0.5))
        self.ratio = float(model.meta.get("ratio", 1.0))
        self._catalog = catalog

    @classmethod
    @functools.lru_cache(maxsize=4)
    def load(cls, model_dir: str | Path | None = None) -> "TechniqueMapper":
        d = Path(model_dir) if model_dir else default_model_dir()
        if not (d / "model.json").exists():
            raise FileNotFoundError(f"no text→ATT&CK model in {d}")
        return cls(TextModel.load(d))

    @property
    def catalog(self):
        if self._catalog is None:
            from secllm.knowledge.attack import load_attack

            self._catalog = load_attack()
        return self._catalog

    def _entry(self, tid: str, score: float) -> dict[str, Any]:
        try:
            t = self.catalog.techniques.get(tid)
        except Exception:  # noqa: BLE001 — a mapper without the catalogue still answers ids
            t = None
        name = (t.full_name or t.name) if t is not None else ""
        url = t.url if t is not None else f"https://attack.mitre.org/techniques/{tid.replace('.', '/')}/"
        return {"id": tid, "name": name, "score": round(score, 4), "url": url}

    def map(self, items: list[Any], ids: list[str] | None = None, top: int = 5) -> list[TechniqueResult]:
        """Per item: the answer (techniques or none) and the ``top`` ranked candidate techniques."""
        ids = ids or [str(i + 1) for i in range(len(items))]
        out = [TechniqueResult(i) for i in ids]
        todo = check_items(items, out, MAX_CHARS)
        if not todo:
            return out
        P = self.model.scores([items[k] for k in todo])
        labels = self.model.labels
        for row, k in zip(P, todo):
            r = out[k]
            r.none_score = round(float(row[0]), 4)
            order = np.argsort(-row[1:])[:max(1, top)] + 1
            r.candidates = [self._entry(labels[i], float(row[i])) for i in order]
            if row[0] >= self.none_threshold:
                r.none = True
            else:
                best = float(row[order[0]])
                r.techniques = [c for c, i in zip(r.candidates, order) if row[i] >= best * self.ratio]
        return out
