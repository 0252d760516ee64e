"""Baselines on a tiny synthetic SQLi-vs-benign set, including save/load round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from secllm.eval.baselines import (
    LEXICAL_CHARS,
    LengthOnly,
    LexicalForest,
    TfidfLogReg,
    lexical_features,
    load_baseline,
)

SQLI = [
    "' or 1=1 --",
    "1' union select username, password from users --",
    "admin'--",
    "1; drop table users",
    "' or 'a'='a",
    "1 union all select null,null--",
    "x' and sleep(5)#",
    "1' order by 3--",
]
BENIGN = [
    "john smith",
    "hello world",
    "search for shoes",
    "page=2",
    "red apple",
    "user@example",
    "blue sky today",
    "42",
]
TEXTS = SQLI + BENIGN
LABELS = ["sqli"] * len(SQLI) + ["benign"] * len(BENIGN)
PROBE = ["' or 2=2 --", "union select 1,2--", "green tea", "", "x" * 300]


def _check_interface(model, n_classes: int = 2) -> None:
    proba = model.predict_proba(PROBE)
    assert proba.shape == (len(PROBE), n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = model.predict(PROBE)
    assert pred.tolist() == model.classes_[proba.argmax(axis=1)].tolist()


def test_tfidf_logreg_learns_and_round_trips(tmp_path: Path) -> None:
    m = TfidfLogReg(ngram_range=(1, 3), max_features=5000).fit(TEXTS, LABELS)
    assert m.classes_.tolist() == ["benign", "sqli"]
    _check_interface(m)
    assert m.predict(TEXTS).tolist() == LABELS  # separable training set
    assert m.predict(["' or 2=2 --"])[0] == "sqli"
    assert m.predict(["green tea"])[0] == "benign"
    m.save(tmp_path / "tfidf")
    assert not list((tmp_path / "tfidf").glob("*.pkl"))
    cfg = json.loads((tmp_path / "tfidf" / "config.json").read_text())
    assert cfg["kind"] == "tfidf_logreg" and len(cfg["vocabulary"]) <= 5000
    loaded = TfidfLogReg.load(tmp_path / "tfidf")
    np.testing.assert_array_equal(loaded.predict_proba(PROBE), m.predict_proba(PROBE))
    assert loaded.classes_.tolist() == m.classes_.tolist()
    again = load_baseline(tmp_path / "tfidf")
    assert isinstance(again, TfidfLogReg)
    np.testing.assert_array_equal(again.predict_proba(TEXTS), m.predict_proba(TEXTS))


def test_tfidf_multiclass_int_labels_and_max_features(tmp_path: Path) -> None:
    labels = [0] * 8 + [1] * 4 + [2] * 4
    m = TfidfLogReg(analyzer="word", ngram_range=(1, 1), max_features=10).fit(TEXTS, labels)
    assert len(m.vectorizer_.vocabulary_) == 10
    _check_interface(m, n_classes=3)
    m.save(tmp_path)
    loaded = load_baseline(tmp_path)
    assert loaded.classes_.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(loaded.predict_proba(PROBE), m.predict_proba(PROBE))


def test_length_only(tmp_path: Path) -> None:
    texts = ["a" * n for n in (1, 2, 3, 4, 40, 50, 60, 70)]
    labels = ["short"] * 4 + ["long"] * 4
    m = LengthOnly().fit(texts, labels)
    np.testing.assert_array_equal(LengthOnly.features(["", "abc"]), [[0.0, 0.0], [3.0, np.log1p(3.0)]])
    assert m.predict(["zz", "z" * 80]).tolist() == ["short", "long"]
    # content does not matter, only length
    np.testing.assert_array_equal(m.predict_proba(["' or 1=1"]), m.predict_proba(["abcdefgh"]))
    _check_interface(m)
    m.save(tmp_path / "len")
    loaded = load_baseline(tmp_path / "len")
    assert isinstance(loaded, LengthOnly)
    np.testing.assert_array_equal(loaded.predict_proba(PROBE), m.predict_proba(PROBE))


def test_lexical_features_hand_computed() -> None:
    f = lexical_features(["a=1'", ""])
    assert f.shape == (2, 4 + len(LEXICAL_CHARS) + 1)
    # "a=1'": length 4, digits 1, letters 1, special 2 ("=" and "'")
    assert f[0, :4].tolist() == [4.0, 1.0, 1.0, 2.0]
    assert f[0, 4 + LEXICAL_CHARS.index("'")] == 1.0 and f[0, 4 + LEXICAL_CHARS.index("=")] == 1.0
    # 4 distinct chars, each p = 1/4 -> entropy log2(4) = 2 bits
    assert f[0, -1] == pytest.approx(2.0)
    assert f[1].tolist() == [0.0] * f.shape[1]
    assert lexical_features([]).shape == (0, f.shape[1])


def test_lexical_forest_round_trip(tmp_path: Path) -> None:
    m = LexicalForest(n_estimators=7).fit(TEXTS, LABELS)
    _check_interface(m)
    assert (m.predict(TEXTS) == np.asarray(LABELS)).mean() >= 0.9
    m.save(tmp_path / "rf")
    loaded = load_baseline(tmp_path / "rf")
    assert isinstance(loaded, LexicalForest)
    probe = PROBE + TEXTS
    np.testing.assert_allclose(loaded.predict_proba(probe), m.predict_proba(probe), rtol=0, atol=1e-12)
    assert loaded.predict(probe).tolist() == m.predict(probe).tolist()
    loaded.save(tmp_path / "rf2")  # a loaded forest can be saved again
    np.testing.assert_array_equal(load_baseline(tmp_path / "rf2").predict_proba(probe), loaded.predict_proba(probe))


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        TfidfLogReg().predict_proba(["x"])
    LengthOnly().fit(["a", "bbbb"], [0, 1]).save(tmp_path)
    with pytest.raises(ValueError):
        TfidfLogReg.load(tmp_path)  # wrong kind
