"""The lexical first stage: token-bag features, sklearn parity, exact attribution, calibration, loading."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from secllm.detect.calibrate import build_stage
from secllm.detect.lexical import LexicalBackend, fit_lexical, token_features
from tests.conftest import toy_examples


def test_token_features_are_l2_rows_of_unigrams_and_hashed_bigrams():
    seqs = [[1, 2, 1, 2, 3], [4], [5, 5]]
    r, c, v = token_features(seqs, vocab_size=10, n_buckets=8)
    assert r.tolist() == sorted(r.tolist())
    for i in range(3):
        assert np.isclose((v[r == i] ** 2).sum(), 1.0)
    assert set(c[r == 1].tolist()) == {4}                    # one token: no bigram
    assert (c[r == 0] >= 10).sum() == 3                      # (1,2) twice, (2,1), (2,3) -> 3 distinct buckets at most
    assert all(0 <= x < 18 for x in c.tolist())
    r0, c0, v0 = token_features([[1, 2, 1, 2, 3]], vocab_size=10, n_buckets=8)
    assert np.allclose(v0, v[r == 0]) and c0.tolist() == c[r == 0].tolist()    # rows are independent
    with pytest.raises(ValueError):
        token_features([[1], []], vocab_size=10)
    assert len(token_features([], vocab_size=10)[0]) == 0


def test_fit_matches_sklearn_and_attribution_is_exact():
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(0, 50, size=rng.integers(2, 12))) for _ in range(300)]
    labels = ["a" if 7 in s else ("b" if 9 in s else "c") for s in seqs]
    be = fit_lexical(seqs, labels, ["a", "b", "c", "never"], vocab_size=50, C=5.0, n_buckets=64)
    r, c, v = token_features(seqs, 50, 64)
    x = sparse.csr_matrix((v, (r, c)), shape=(len(seqs), 114))
    ref = LogisticRegression(C=5.0, max_iter=300).fit(x, [["a", "b", "c"].index(y) for y in labels])
    p = be.predict_proba(seqs)
    assert np.allclose(p[:, :3], ref.predict_proba(x), atol=1e-4)
    assert (p[:, 3] < 1e-9).all()                            # a class absent from training is never chosen
    ids = seqs[0] + seqs[0][:3]                              # repeated tokens and bigrams
    z = be.logits([ids])[0]
    attr = be.token_attribution(ids, 0, 2)
    assert np.isclose(attr.sum(), (z[0] - z[2]) - (be.bias[0] - be.bias[2]), atol=1e-4)


@pytest.fixture(scope="module")
def lexical_dir(tiny_web_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("lex") / "web"
    shutil.copytree(tiny_web_model, d)
    bands = build_stage(d, toy_examples(30, 5), toy_examples(10, 6), grid=(10.0,), budgets=(0.0, 0.05),
                        max_f1_drop=0.05)
    return d, bands


def test_build_stage_chooses_on_validation_and_the_detector_uses_it(lexical_dir):
    from secllm.detect.detector import WebAttackDetector

    d, bands = lexical_dir
    meta = json.loads((d / "lexical" / "secllm.json").read_text())
    assert meta["kind"] == "lexical" and meta["cascade"]["benign_below"] == bands["benign_below"]
    assert len(bands["candidates"]) == 2
    assert bands["val_macro_f1"]["cascade"] >= bands["val_macro_f1"]["full"] - 0.05
    det = WebAttackDetector.load(d)
    assert det.lexical is not None and det.has_cascade
    items = toy_examples(6, 9).texts
    on = det.detect(items, evidence=True)
    off = det.detect(items, evidence=False, cascade=False)
    assert {r.stage for r in off} <= {"full", "prefilter"}
    assert "lexical" in {r.stage for r in on}
    agree = np.mean([a.label == b.label for a, b in zip(on, off)])
    assert agree >= 0.9
    for r in on:
        if r.label == "malicious" and r.stage == "lexical":
            assert r.evidence and all(items[int(r.id)][e.start:e.end] == e.text for e in r.evidence)


def test_lexical_stage_is_shipped_and_refused_when_labels_differ(lexical_dir, tmp_path):
    from secllm.detect.detector import WebAttackDetector
    from secllm.model.ship import ship

    d, _ = lexical_dir
    out = ship(d, tmp_path / "shipped")
    det = WebAttackDetector.load(out, backend="onnx-int8")   # numpy only: loads on the ONNX path too
    assert det.lexical is not None and det.lexical.backend.name == "lexical"
    meta = json.loads((out / "lexical" / "secllm.json").read_text())
    meta["labels"] = meta["labels"][::-1]
    (out / "lexical" / "secllm.json").write_text(json.dumps(meta))
    assert WebAttackDetector.load(out, backend="onnx-int8").lexical is None


def test_backend_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        LexicalBackend(np.zeros((10, 2)), np.zeros(2), vocab_size=5, n_buckets=4)


def test_build_stage_with_mutated_validation(tiny_web_model, tmp_path):
    from secllm.detect.calibrate import mutated_validation

    d = tmp_path / "web"
    shutil.copytree(tiny_web_model, d)
    val = toy_examples(10, 6)
    bands = build_stage(d, toy_examples(30, 5), val, grid=(10.0,), budgets=(0.05,), max_f1_drop=1.0,
                        mutated=mutated_validation(val), mutated_disagreement=0.0)
    assert bands["mutated_missed"] == 0.0 and bands["mutated_parts"] > 0
    assert all("mutated_missed" in c for c in bands["candidates"])
    assert bands["by_modality"]["payload"]["benign_below"] <= bands["benign_below"]


def test_trigram_features_and_exact_attribution():
    rng = np.random.default_rng(1)
    seqs = [list(rng.integers(0, 30, size=rng.integers(1, 10))) for _ in range(200)]
    r, c, v = token_features(seqs, 30, 16, n_trigrams=32)
    assert all(0 <= x < 30 + 16 + 32 for x in c.tolist())
    assert not (c[r == [i for i, s in enumerate(seqs) if len(s) < 3][0]] >= 46).any()     # short: no trigram
    r2, c2, _ = token_features(seqs, 30, 16)
    assert set(c2.tolist()) <= set(c.tolist()) and (c >= 46).any()                        # bigram view + trigrams
    labels = ["a" if (3 in s and 4 in s) else "b" for s in seqs]
    be = fit_lexical(seqs, labels, ["a", "b"], vocab_size=30, C=5.0, n_buckets=16, n_trigrams=32)
    ids = [3, 4, 5, 3, 4, 5, 3]
    z = be.logits([ids])[0]
    attr = be.token_attribution(ids, 0, 1)
    assert np.isclose(attr.sum(), (z[0] - z[1]) - (be.bias[0] - be.bias[1]), atol=1e-4)
