"""Shallow baselines that every task reports next to the model (see ``EVALUATION.md``).

All share one scikit-learn-like interface::

    fit(texts, labels) -> self
    predict(texts) -> ndarray of labels
    predict_proba(texts) -> ndarray (n, n_classes), columns in the order of ``classes_``
    save(directory) / ClassName.load(directory)     # JSON + .npy, never pickle

* :class:`TfidfLogReg` -- character (or word) n-gram TF-IDF + logistic regression.
* :class:`LengthOnly` -- logistic regression on ``[len, log1p(len)]``: a shortcut baseline; a
  model that does not clearly beat it is learning length, not content.
* :class:`LexicalForest` -- random forest on hand-crafted lexical counts (URL-style tasks).

:func:`load_baseline` restores any of them from a directory written by ``save``.

>>> m = TfidfLogReg(ngram_range=(1, 3), max_features=1000)
>>> m = m.fit(["' or 1=1 --", "union select 1", "hello world", "my cat"], ["sqli", "sqli", "benign", "benign"])
>>> m.classes_.tolist(), m.predict_proba(["select 1 union"]).shape
(['benign', 'sqli'], (1, 2))
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

__all__ = ["LEXICAL_CHARS", "LengthOnly", "LexicalForest", "TfidfLogReg", "lexical_features", "load_baseline"]

_CONFIG = "config.json"
_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------
def _as_texts(texts: Iterable[str]) -> list[str]:
    return ["" if t is None else str(t) for t in texts]


def _labels_to_json(classes: np.ndarray) -> list[Any]:
    """Class labels as JSON values (str / int / float / bool survive a round trip)."""
    return [c.item() if isinstance(c, np.generic) else c for c in classes]


def _labels_from_json(values: list[Any]) -> np.ndarray:
    return np.asarray(values)


def _save_npy(directory: Path, name: str, arr: np.ndarray) -> None:
    np.save(directory / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)


def _load_npy(directory: Path, name: str) -> np.ndarray:
    return np.load(directory / f"{name}.npy", allow_pickle=False)


def _write_config(directory: Path, kind: str, params: dict[str, Any], classes: np.ndarray, **extra: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    cfg = {"kind": kind, "format_version": _FORMAT_VERSION, "params": params, "classes": _labels_to_json(classes)}
    cfg.update(extra)
    (directory / _CONFIG).write_text(json.dumps(cfg, indent=2), encoding="utf-8")


def _read_config(directory: Path, kind: str) -> dict[str, Any]:
    cfg = json.loads((directory / _CONFIG).read_text(encoding="utf-8"))
    if cfg.get("kind") != kind:
        raise ValueError(f"{directory} holds a {cfg.get('kind')!r} baseline, not {kind!r}")
    return cfg


def _restore_logreg(coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, **params: Any) -> LogisticRegression:
    """A fitted-looking ``LogisticRegression`` from its learned arrays (no refit)."""
    lr = LogisticRegression(**params)
    lr.coef_ = np.asarray(coef, dtype=np.float64)
    lr.intercept_ = np.asarray(intercept, dtype=np.float64)
    lr.classes_ = classes
    lr.n_features_in_ = lr.coef_.shape[1]
    lr.n_iter_ = np.zeros(1, dtype=np.int32)
    return lr


class _Baseline:
    """Common ``predict`` and bookkeeping; subclasses implement ``fit``/``predict_proba``/``save``/``load``."""

    kind: ClassVar[str] = ""
    classes_: np.ndarray

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, texts: Iterable[str]) -> np.ndarray:
        """Most probable class per text (ties -> first class in ``classes_``)."""
        return self.classes_[np.argmax(self.predict_proba(texts), axis=1)]

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load() first")


# --------------------------------------------------------------------------------------------
# TF-IDF + logistic regression
# --------------------------------------------------------------------------------------------
class TfidfLogReg(_Baseline):
    """TF-IDF n-grams (``sublinear_tf``) + logistic regression, fitted on the training texts only.

    ``save`` writes ``config.json`` (parameters, classes, the vocabulary as a list of n-grams in
    column order) and ``idf.npy``, ``coef.npy``, ``intercept.npy``; ``load`` rebuilds the same
    vectorizer and classifier without refitting, so ``predict_proba`` is identical.

    >>> m = TfidfLogReg(ngram_range=(1, 2)).fit(["a=1", "b=2 or 1=1", "x", "y or 1=1"], [0, 1, 0, 1])
    >>> int(m.predict(["z or 1=1"])[0])
    1
    """

    kind = "tfidf_logreg"

    def __init__(
        self,
        analyzer: str = "char_wb",
        ngram_range: tuple[int, int] = (1, 5),
        max_features: int | None = 200_000,
        C: float = 10.0,
        class_weight: str | dict[Any, float] | None = "balanced",
        *,
        lowercase: bool = True,
        min_df: int = 1,
        max_iter: int = 1000,
        random_state: int = 0,
    ) -> None:
        self.analyzer = analyzer
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.max_features = max_features
        self.C = float(C)
        self.class_weight = class_weight
        self.lowercase = lowercase
        self.min_df = min_df
        self.max_iter = max_iter
        self.random_state = random_state

    def _params(self) -> dict[str, Any]:
        cw = self.class_weight
        return {
            "analyzer": self.analyzer,
            "ngram_range": list(self.ngram_range),
            "max_features": self.max_features,
            "C": self.C,
            "class_weight": cw if cw is None or isinstance(cw, str) else {str(k): v for k, v in cw.items()},
            "lowercase": self.lowercase,
            "min_df": self.min_df,
            "max_iter": self.max_iter,
            "random_state": self.random_state,
        }

    def _vectorizer(self, vocabulary: list[str] | None = None) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer=self.analyzer,
            ngram_range=self.ngram_range,
            max_features=None if vocabulary is not None else self.max_features,
            min_df=1 if vocabulary is not None else self.min_df,
            lowercase=self.lowercase,
            sublinear_tf=True,
            dtype=np.float64,
            vocabulary=None if vocabulary is None else {t: i for i, t in enumerate(vocabulary)},
        )

    def fit(self, texts: Iterable[str], labels: Sequence[Any]) -> TfidfLogReg:
        """Fit the vectorizer and the classifier on the training texts (only)."""
        self.vectorizer_ = self._vectorizer()
        x = self.vectorizer_.fit_transform(_as_texts(texts))
        self.model_ = LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=self.random_state
        )
        self.model_.fit(x, np.asarray(list(labels)))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """Class probabilities, shape ``(n, len(classes_))``."""
        self._check_fitted()
        return self.model_.predict_proba(self.vectorizer_.transform(_as_texts(texts)))

    def save(self, directory: str | Path) -> None:
        """Write the fitted model to ``directory`` (JSON + .npy, no pickle)."""
        self._check_fitted()
        d = Path(directory)
        vocab = self.vectorizer_.get_feature_names_out().tolist()  # index order
        _write_config(d, self.kind, self._params(), self.classes_, vocabulary=vocab)
        _save_npy(d, "idf", self.vectorizer_.idf_)
        _save_npy(d, "coef", self.model_.coef_)
        _save_npy(d, "intercept", self.model_.intercept_)

    @classmethod
    def load(cls, directory: str | Path) -> TfidfLogReg:
        """Restore a model written by :meth:`save`."""
        d = Path(directory)
        cfg = _read_config(d, cls.kind)
        p = cfg["params"]
        obj = cls(
            analyzer=p["analyzer"],
            ngram_range=tuple(p["ngram_range"]),  # type: ignore[arg-type]
            max_features=p["max_features"],
            C=p["C"],
            class_weight=p["class_weight"],
            lowercase=p["lowercase"],
            min_df=p["min_df"],
            max_iter=p["max_iter"],
            random_state=p["random_state"],
        )
        obj.vectorizer_ = obj._vectorizer(vocabulary=cfg["vocabulary"])
        obj.vectorizer_.idf_ = _load_npy(d, "idf")
        obj.classes_ = _labels_from_json(cfg["classes"])
        obj.model_ = _restore_logreg(_load_npy(d, "coef"), _load_npy(d, "intercept"), obj.classes_, C=obj.C)
        return obj


# --------------------------------------------------------------------------------------------
# length only (shortcut baseline)
# --------------------------------------------------------------------------------------------
class LengthOnly(_Baseline):
    """Logistic regression on ``[len(text), log1p(len(text))]`` (standardised).

    A shortcut baseline: whatever it gets right is explained by length alone.

    >>> m = LengthOnly().fit(["a", "bb", "x" * 50, "y" * 60], ["short", "short", "long", "long"])
    >>> m.predict(["z" * 55]).tolist()
    ['long']
    """

    kind = "length_only"

    def __init__(self, C: float = 1.0, class_weight: str | None = "balanced", *, max_iter: int = 1000) -> None:
        self.C = float(C)
        self.class_weight = class_weight
        self.max_iter = max_iter

    @staticmethod
    def features(texts: Iterable[str]) -> np.ndarray:
        """``(n, 2)`` array of ``[len, log1p(len)]``."""
        n = np.fromiter((len(t) for t in _as_texts(texts)), dtype=np.float64)
        return np.stack([n, np.log1p(n)], axis=1)

    def _scaled(self, texts: Iterable[str]) -> np.ndarray:
        return (self.features(texts) - self.mean_) / self.scale_

    def fit(self, texts: Iterable[str], labels: Sequence[Any]) -> LengthOnly:
        x = self.features(texts)
        self.mean_ = x.mean(axis=0) if len(x) else np.zeros(2)
        sd = x.std(axis=0) if len(x) else np.ones(2)
        self.scale_ = np.where(sd > 0, sd, 1.0)
        self.model_ = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        self.model_.fit((x - self.mean_) / self.scale_, np.asarray(list(labels)))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        self._check_fitted()
        return self.model_.predict_proba(self._scaled(texts))

    def save(self, directory: str | Path) -> None:
        """Everything fits in ``config.json`` (floats round-trip exactly through JSON)."""
        self._check_fitted()
        _write_config(
            Path(directory),
            self.kind,
            {"C": self.C, "class_weight": self.class_weight, "max_iter": self.max_iter},
            self.classes_,
            mean=self.mean_.tolist(),
            scale=self.scale_.tolist(),
            coef=self.model_.coef_.tolist(),
            intercept=self.model_.intercept_.tolist(),
        )

    @classmethod
    def load(cls, directory: str | Path) -> LengthOnly:
        cfg = _read_config(Path(directory), cls.kind)
        obj = cls(**cfg["params"])
        obj.mean_ = np.asarray(cfg["mean"], dtype=np.float64)
        obj.scale_ = np.asarray(cfg["scale"], dtype=np.float64)
        obj.classes_ = _labels_from_json(cfg["classes"])
        obj.model_ = _restore_logreg(np.asarray(cfg["coef"]), np.asarray(cfg["intercept"]), obj.classes_, C=obj.C)
        return obj


# --------------------------------------------------------------------------------------------
# lexical counts + random forest
# --------------------------------------------------------------------------------------------
LEXICAL_CHARS = "'\"<>()=;%/\\.-_&?#"
LEXICAL_FEATURE_NAMES: tuple[str, ...] = (
    "length",
    "digits",
    "letters",
    "special",
    *(f"count_{c}" for c in LEXICAL_CHARS),
    "entropy",
)


def _entropy(text: str) -> float:
    """Shannon entropy of the character distribution, in bits per character (0 for "")."""
    n = len(text)
    if n == 0:
        return 0.0
    return -sum((c / n) * math.log2(c / n) for c in Counter(text).values())


def lexical_features(texts: Iterable[str]) -> np.ndarray:
    """``(n, 21)`` float array, columns named by ``LEXICAL_FEATURE_NAMES``.

    length, digit count, letter count, special count (neither alphanumeric nor whitespace), the
    count of each character of ``LEXICAL_CHARS``, and the character entropy in bits.

    >>> lexical_features(["a=1"])[0, :4].tolist()   # length, digits, letters, special
    [3.0, 1.0, 1.0, 1.0]
    """
    rows = []
    for t in _as_texts(texts):
        rows.append(
            [
                len(t),
                sum(c.isdigit() for c in t),
                sum(c.isalpha() for c in t),
                sum(not c.isalnum() and not c.isspace() for c in t),
                *(t.count(c) for c in LEXICAL_CHARS),
                _entropy(t),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(LEXICAL_FEATURE_NAMES))


class LexicalForest(_Baseline):
    """Random forest on :func:`lexical_features`, e.g. for malicious-URL tasks.

    ``save``/``load`` store each tree's node arrays (children, feature, threshold, class
    fractions) as .npy; a loaded forest predicts with a small NumPy tree walker that reproduces
    scikit-learn's ``predict_proba`` (same float32 feature cast, same per-tree normalisation and
    summation order). A loaded forest cannot be refitted or inspected as a scikit-learn object.

    >>> urls = ["/index.html", "/a/b.php?id=1", "/x.php?id=1' or '1'='1", "/q?s=<script>alert(1)</script>"]
    >>> f = LexicalForest(n_estimators=5).fit(urls, [0, 0, 1, 1])
    >>> f.predict_proba(urls).shape
    (4, 2)
    """

    kind = "lexical_forest"

    def __init__(
        self,
        n_estimators: int = 200,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        class_weight: str | None = "balanced",
        *,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "min_samples_leaf": self.min_samples_leaf,
            "class_weight": self.class_weight,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
        }

    def fit(self, texts: Iterable[str], labels: Sequence[Any]) -> LexicalForest:
        self.model_: RandomForestClassifier | None = RandomForestClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            class_weight=self.class_weight,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )
        self.model_.fit(lexical_features(texts), np.asarray(list(labels)))
        self.classes_ = self.model_.classes_
        self.trees_: list[dict[str, np.ndarray]] | None = None
        return self

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        self._check_fitted()
        x = lexical_features(texts)
        if self.model_ is not None:
            return self.model_.predict_proba(x)
        return self._predict_proba_arrays(x)

    def _tree_arrays(self) -> list[dict[str, np.ndarray]]:
        assert self.model_ is not None
        out = []
        for est in self.model_.estimators_:
            t = est.tree_
            out.append(
                {
                    "left": np.asarray(t.children_left, dtype=np.int64),
                    "right": np.asarray(t.children_right, dtype=np.int64),
                    "feature": np.asarray(t.feature, dtype=np.int64),
                    "threshold": np.asarray(t.threshold, dtype=np.float64),
                    "value": np.asarray(t.value[:, 0, :], dtype=np.float64),
                }
            )
        return out

    def _predict_proba_arrays(self, x: np.ndarray) -> np.ndarray:
        assert self.trees_ is not None
        # scikit-learn trees compare float32 features against float64 thresholds
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        rows = np.arange(x32.shape[0])
        total = np.zeros((x32.shape[0], len(self.classes_)), dtype=np.float64)
        for tree in self.trees_:
            left, right, feat, thr = tree["left"], tree["right"], tree["feature"], tree["threshold"]
            node = np.zeros(x32.shape[0], dtype=np.int64)
            active = left[node] != -1
            while active.any():
                idx = rows[active]
                cur = node[idx]
                go_left = x32[idx, feat[cur]] <= thr[cur]
                node[idx] = np.where(go_left, left[cur], right[cur])
                active = left[node] != -1
            proba = tree["value"][node].copy()
            norm = proba.sum(axis=1, keepdims=True)
            norm[norm == 0.0] = 1.0
            total += proba / norm
        return total / len(self.trees_)

    def save(self, directory: str | Path) -> None:
        """Write ``config.json`` and ``tree_<i>_<field>.npy`` node arrays (no pickle)."""
        self._check_fitted()
        trees = self.trees_ if self.model_ is None else self._tree_arrays()
        assert trees is not None
        d = Path(directory)
        _write_config(d, self.kind, self._params(), self.classes_, n_trees=len(trees),
                      feature_names=list(LEXICAL_FEATURE_NAMES))
        for i, tree in enumerate(trees):
            for name, arr in tree.items():
                _save_npy(d, f"tree_{i}_{name}", arr)

    @classmethod
    def load(cls, directory: str | Path) -> LexicalForest:
        d = Path(directory)
        cfg = _read_config(d, cls.kind)
        obj = cls(**cfg["params"])
        obj.classes_ = _labels_from_json(cfg["classes"])
        obj.model_ = None
        obj.trees_ = [
            {name: _load_npy(d, f"tree_{i}_{name}") for name in ("left", "right", "feature", "threshold", "value")}
            for i in range(int(cfg["n_trees"]))
        ]
        return obj


# Task baselines that are fitted and scored in one run (never saved, so no pickle is needed)

def byte_features(texts: Iterable[str], head: int = 16) -> np.ndarray:
    """``(n, 256 + 1 + head)``: byte-value frequencies, log length, and the first ``head`` bytes.

    The first bytes stand in for "header statistics" (the published RF baselines use packet
    sizes/directions, which the L7 images do not keep).

        >>> byte_features(["00 ff ff"]).shape, float(byte_features(["00 ff ff"])[0, 255])
        ((1, 273), 0.6666666666666666)
    """
    rows = []
    for t in texts:
        b = bytes.fromhex(t.replace(" ", "")) if t else b""
        hist = np.bincount(np.frombuffer(b, dtype=np.uint8), minlength=256).astype(np.float64)
        hist /= max(len(b), 1)
        first = np.full(head, -1.0)
        first[: min(head, len(b))] = list(b[:head])
        rows.append(np.concatenate([hist, [np.log1p(len(b))], first]))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 256 + 1 + head)


class ByteHistogramForest:
    """Random forest on :func:`byte_features` (benchmark baseline; not saved, so no pickle needed).

        >>> m = ByteHistogramForest(n_estimators=5).fit(["00 01", "00 02", "ff fe", "ff fd"], list("aabb"))
        >>> m.predict(["ff fc"]).tolist()
        ['b']
    """

    def __init__(self, n_estimators: int = 200, random_state: int = 0) -> None:
        from sklearn.ensemble import RandomForestClassifier

        self.model_ = RandomForestClassifier(n_estimators=n_estimators, class_weight="balanced",
                                             random_state=random_state, n_jobs=1)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "ByteHistogramForest":
        self.model_.fit(byte_features(texts), np.asarray(list(labels)))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.model_.predict_proba(byte_features(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(texts).argmax(1)]


class CountLogReg:
    """Count vectors of whitespace tokens (1-2-grams) + logistic regression: the classic log baseline.

        >>> m = CountLogReg().fit(["e5 e5 e22", "e5 e22", "e9 e9", "e9 e30"], ["n", "n", "a", "a"])
        >>> m.predict(["e9 e22 e9"]).tolist()
        ['a']
    """

    def __init__(self, C: float = 1.0) -> None:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vec_ = CountVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), lowercase=True, min_df=1)
        self.model_ = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "CountLogReg":
        self.model_.fit(self.vec_.fit_transform(list(texts)), np.asarray(list(labels)))
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.model_.predict_proba(self.vec_.transform(list(texts)))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(texts).argmax(1)]


_KINDS: dict[str, type[_Baseline]] = {c.kind: c for c in (TfidfLogReg, LengthOnly, LexicalForest)}


def load_baseline(directory: str | Path) -> _Baseline:
    """Load whichever baseline ``directory`` holds (dispatch on ``config.json``'s ``kind``)."""
    kind = json.loads((Path(directory) / _CONFIG).read_text(encoding="utf-8")).get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown baseline kind {kind!r} in {directory}")
    return _KINDS[kind].load(directory)  # type: ignore[attr-defined,no-any-return]
