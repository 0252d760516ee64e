"""CVE-style vulnerability description → CWE weaknesses, top-k with scores (numpy only).

The shipped model (``secllm/assets/knowledge/cve_cwe/``: ``model.safetensors`` + ``model.json``) is a
word + character n-gram TF-IDF linear model over today's CWE weakness ids, trained by
:mod:`secllm.tasks.cve_cwe` on NVD descriptions (retired categories as partial labels), the CWE
catalogue's observed examples and the weaknesses' own texts. Its figures and the split they were
measured on are in ``docs/knowledge.md``.

    >>> m = CweMapper.load()                                                    # doctest: +SKIP
    >>> r = m.map(["SQL injection in login.php via the user parameter"])[0]     # doctest: +SKIP
    >>> r.status, r.cwe[0]["id"], r.cwe[0]["name"]                              # doctest: +SKIP
    ('ok', 'CWE-89', "Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')")

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

__all__ = ["CweMapper", "CweResult", "default_model_dir", "MAX_CHARS"]

MAX_CHARS = 20_000


def default_model_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "knowledge" / "cve_cwe"


@dataclass
class CweResult:
    id: str
    cwe: list[dict[str, Any]] = field(default_factory=list)     # [{"id", "name", "score", "url"}]
    status: str = "ok"                                           # ok / empty / too_large / bad_input
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "cwe": self.cwe, "status": self.status}
        if self.error:
            d["error"] = self.error
        return d


class CweMapper:
    """Map descriptions to CWE ids with the shipped (or a given) model directory."""

    def __init__(self, model: TextModel, catalog=None):
        self.model = model
        self._catalog = catalog

    @classmethod
    @functools.lru_cache(maxsize=4)
    def load(cls, model_dir: str | Path | None = None) -> "CweMapper":
        d = Path(model_dir) if model_dir else default_model_dir()
        if not (d / "model.json").exists():
            raise FileNotFoundError(f"no CVE→CWE model in {d}")
        return cls(TextModel.load(d))

    @property
    def catalog(self):
        if self._catalog is None:
            from secllm.knowledge.cwe import load_cwe

            self._catalog = load_cwe()
        return self._catalog

    @property
    def info(self) -> dict[str, Any]:
        return {k: v for k, v in self.model.meta.items() if k in ("catalog", "recipe", "trained_on", "val", "test")}

    def _name(self, cid: str) -> str:
        try:
            obj = self.catalog.get(cid)
        except Exception:  # noqa: BLE001 — a mapper without the catalogue still answers ids
            return ""
        return obj.name if obj is not None else ""

    def map(self, items: list[Any], ids: list[str] | None = None, top: int = 3) -> list[CweResult]:
        """Top-``top`` weaknesses per item (scores are the model's probabilities)."""
        ids = ids or [str(i + 1) for i in range(len(items))]
        out = [CweResult(i) for i in ids]
        todo = check_items(items, out, MAX_CHARS)
        if todo:
            p = self.model.scores([items[k] for k in todo])
            for row, k in zip(p, todo):
                best = np.argsort(-row)[:max(1, top)]
                out[k].cwe = [{"id": self.model.labels[i], "name": self._name(self.model.labels[i]),
                               "score": round(float(row[i]), 4),
                               "url": f"https://cwe.mitre.org/data/definitions/{self.model.labels[i][4:]}.html"}
                              for i in best]
        return out
