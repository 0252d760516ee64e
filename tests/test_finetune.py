import numpy as np

from secllm.model.modeling import read_meta
from secllm.tasks.finetune import FinetuneConfig, best_threshold, finetune, macro_f1
from tests.conftest import toy_examples


def test_finetuned_model_learns_toy_task(tiny_web_model):
    from secllm.detect.detector import WebAttackDetector

    meta = read_meta(tiny_web_model)
    assert meta["kind"] == "classifier" and meta["init"].startswith("pretrained")
    assert meta["labels"][0] == "benign"
    assert 0.0 < meta["threshold"] < 1.0
    det = WebAttackDetector.load(tiny_web_model)
    test = toy_examples(10, seed=7)
    proba = det.score_texts(test.texts, test.modalities)
    pred = [det.labels[i] for i in proba.argmax(1)]
    acc = np.mean([p == t for p, t in zip(pred, test.labels)])
    assert acc > 0.8, acc


def test_random_init_ablation_builds_same_architecture(tmp_path, tiny_tokenizer):
    from secllm.model.config import preset

    out = finetune(toy_examples(5), toy_examples(2, 1), ["benign", "sqli", "xss", "cmdi", "path-traversal"],
                   tmp_path, tokenizer=tiny_tokenizer, model_cfg=preset("tiny"),
                   cfg=FinetuneConfig(epochs=1), progress=False)
    meta = read_meta(out)
    assert meta["init"] == "random" and meta["model_config"]["hidden_size"] == 32


def test_unknown_label_is_rejected(tmp_path, tiny_base):
    import pytest

    bad = toy_examples(2)
    with pytest.raises(ValueError, match="not in the label set"):
        finetune(bad, bad, ["benign", "sqli"], tmp_path, base_dir=tiny_base, progress=False)


def test_macro_f1_hand_computed():
    # class 0: tp=1 fp=1 fn=0 -> f1 = 2/3 ; class 1: tp=1 fp=0 fn=1 -> 2/3 ; class 2 absent -> skipped
    assert abs(macro_f1([0, 1, 1], [0, 0, 1], 3) - 2 / 3) < 1e-9


def test_best_threshold_separates_perfectly():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    t = best_threshold(y, s)
    assert 0.3 < t <= 0.8
    assert ((s >= t) == y.astype(bool)).all()
