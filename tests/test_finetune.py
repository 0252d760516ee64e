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


def test_device_resolution_and_record(tmp_path, tiny_tokenizer):
    import pytest
    import torch

    from secllm.model.config import preset
    from secllm.tasks.finetune import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    out = finetune(toy_examples(3), toy_examples(2, 1), ["benign", "sqli", "xss", "cmdi", "path-traversal"],
                   tmp_path, tokenizer=tiny_tokenizer, model_cfg=preset("tiny"),
                   cfg=FinetuneConfig(epochs=1, device="cpu"), progress=False)
    ft = read_meta(out)["finetune"]
    assert ft["device"] == "cpu" and ft["config"]["device"] == "cpu"


def test_task_eval_low_label_fraction(tmp_path, tiny_base):
    """--train-fraction: every system trains on the seeded subset, val/test stay whole, the report says so."""
    import json

    import pytest

    from secllm.tasks.evaluate import TaskEvalConfig, run_task_eval

    data = {"train": toy_examples(20), "val": toy_examples(4, 1), "test": toy_examples(4, 2)}   # 100 / 20 / 20 rows
    cfg = TaskEvalConfig(task="cti-attack", out=tmp_path, base=tiny_base, random_init=False, baselines=True,
                         train_fraction=0.1, finetune=FinetuneConfig(epochs=1), bootstrap=0, data=data)
    run_task_eval(cfg)
    rep = json.loads((tmp_path / "test" / "report.json").read_text())
    m = rep["manifest"]
    assert m["train_fraction"] == 0.1
    assert m["rows_used"] == {"train": 10, "val": 20, "test": 20}
    assert sum(m["label_counts_train"].values()) == 10 and len(m["label_counts_train"]) == 5
    assert any("low-label regime" in n for n in rep["notes"])
    with pytest.raises(ValueError, match="train_fraction"):
        run_task_eval(TaskEvalConfig(task="cti-attack", out=tmp_path / "x", base=tiny_base, train_fraction=1.5,
                                     data=data))
