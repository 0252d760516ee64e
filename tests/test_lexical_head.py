"""Lexical task heads: fitted on train, chosen over the adapter on validation only, served without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from secllm.tasks.finetune import Examples, FinetuneConfig, encode_examples
from tests.conftest import hdfs_examples as _hdfs


@pytest.fixture(scope="module")
def mt(tmp_path_factory, tiny_base):
    """A base with a barely trained log-hdfs adapter (one epoch, tiny lr): the head should win."""
    from secllm.tasks.adapt import train_adapter

    out = tmp_path_factory.mktemp("mt-lex")
    train_adapter(tiny_base, "log-hdfs", _hdfs(30, 0), _hdfs(10, 1), ["normal", "anomaly"], out, lora=False,
                  benign_label="normal", cfg=FinetuneConfig(epochs=1, lr=1e-6, batch_tokens=1024))
    return out


def _run_without(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where importing ``blocked`` modules fails."""
    pre = "import sys; " + "; ".join(f"sys.modules[{m!r}] = None" for m in blocked) + "\n"
    return subprocess.run([sys.executable, "-c", pre + code], capture_output=True, text=True, timeout=120)


SPLITS = {"train": _hdfs(40, 2), "val": _hdfs(15, 3), "test": _hdfs(15, 4)}


def test_head_is_fitted_selected_on_validation_and_served(mt):
    from secllm.detect.generic import TaskDetector
    from secllm.detect.lexical import LexicalBackend
    from secllm.tasks.head_fit import fit_head
    from secllm.tasks.heads import served_head

    meta = fit_head(mt, "log-hdfs", SPLITS, grid=(1.0, 20.0), log=lambda m: None)
    assert meta["val_macro_f1"] > 0.9 and meta["adapter_val_macro_f1"] is not None
    assert [c["C"] for c in meta["candidates"]][:2] == [1.0, 20.0]
    assert meta["candidates"][2]["n_trigrams"] > 0 and meta["candidates"][2]["C"] == meta["C"]   # trigrams at the best C
    assert meta["n_trigrams"] in (0, meta["candidates"][2]["n_trigrams"])
    boot = meta["val_difference_bootstrap"]
    assert boot["low"] <= boot["mean"] <= boot["high"] and boot["resamples"] == 1000
    assert meta["serve"] and meta["val_macro_f1"] > meta["adapter_val_macro_f1"] and boot["low"] > 0
    assert served_head(mt, "log-hdfs") == mt / "lexical" / "log-hdfs"
    assert not list((mt / "lexical" / "log-hdfs").glob("*.pt")) and not list((mt / "lexical").rglob("*.pkl"))
    det = TaskDetector.load(mt, task="log-hdfs")
    assert isinstance(det.backend, LexicalBackend)
    r = det.detect(["e5 e7 e13 e28 e7", "e5 e22 e11 e9", "", 7])
    assert [x.label for x in r[:2]] == ["malicious", "benign"] and r[0].attack_type == "anomaly"
    assert [x.status for x in r[2:]] == ["empty", "bad_input"] and r[0].stage == "lexical"
    ev = r[0].evidence
    assert ev and all("e5 e7 e13 e28 e7"[e.start:e.end] == e.text for e in ev)
    # the adapter is still there and can be asked for explicitly
    adapter = TaskDetector.load(mt, task="log-hdfs", head="adapter")
    assert not isinstance(adapter.backend, LexicalBackend)
    assert adapter.detect(["e5 e7 e13 e28 e7"])[0].stage == "adapter"


def test_head_not_served_when_the_adapter_wins(mt, tmp_path):
    """Selection is on validation: a validation set the head gets wrong leaves the adapter served."""
    from secllm.detect.generic import TaskDetector
    from secllm.detect.lexical import LexicalBackend
    from secllm.tasks.head_fit import fit_head
    from secllm.tasks.heads import served_head
    import shutil

    d = tmp_path / "mt"
    shutil.copytree(mt, d)
    flipped = SPLITS["val"]
    flipped = Examples(flipped.texts, flipped.modalities, ["anomaly" if x == "normal" else "normal" for x in flipped.labels])
    meta = fit_head(d, "log-hdfs", {**SPLITS, "val": flipped}, grid=(20.0,), log=lambda m: None)
    assert meta["val_macro_f1"] <= meta["adapter_val_macro_f1"] and not meta["serve"]
    assert served_head(d, "log-hdfs") is None
    assert not isinstance(TaskDetector.load(d, task="log-hdfs").backend, LexicalBackend)


def test_eval_reports_served_and_other_system(mt, tmp_path):
    from secllm.tasks.evaluate import TaskEvalConfig, run_task_eval
    from secllm.tasks.head_fit import fit_head

    fit_head(mt, "log-hdfs", SPLITS, grid=(20.0,), log=lambda m: None)
    idx = run_task_eval(TaskEvalConfig(task="log-hdfs", out=tmp_path / "rep", data=SPLITS, models={"shipped": str(mt)},
                                       baselines=False, bootstrap=0))
    systems = idx["reports"]["test"]["systems"]
    assert set(systems) == {"shipped", "shipped: adapter (not served)"}
    assert systems["shipped"]["macro_f1"] > 0.9


def test_served_head_ships_exports_and_serves_without_torch(mt, tmp_path):
    from secllm.model.ship import ship_tasks
    from secllm.tasks.head_fit import fit_head
    from secllm.tasks.heads import served_head

    fit_head(mt, "log-hdfs", SPLITS, grid=(20.0,), log=lambda m: None)
    dst = ship_tasks(mt, tmp_path / "shipped")
    assert served_head(dst, "log-hdfs") is not None
    # a process where importing torch fails still judges with the head
    out = _run_without(("torch", "onnxruntime"),
                       "from secllm.detect.generic import TaskDetector\n"
                       f"d = TaskDetector.load({str(dst)!r}, task='log-hdfs')\n"
                       "print([r.label for r in d.detect(['e5 e7 e13 e28', 'e5 e22 e11 e9'])])")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['malicious', 'benign']"


def test_export_carries_the_head(mt, tmp_path):
    pytest.importorskip("onnxruntime")
    from secllm.detect.generic import TaskDetector
    from secllm.detect.lexical import LexicalBackend
    from secllm.tasks.adapt import export_task_onnx
    from secllm.tasks.head_fit import fit_head

    fit_head(mt, "log-hdfs", SPLITS, grid=(20.0,), log=lambda m: None)
    info = export_task_onnx(mt, "log-hdfs", tmp_path / "onnx" / "log-hdfs", int8_only=True)
    assert "lexical_head" in info
    det = TaskDetector.load(tmp_path / "onnx" / "log-hdfs", task="log-hdfs", backend="onnx-int8")
    assert isinstance(det.backend, LexicalBackend)
    a = det.detect(["e5 e7 e13 e28"], evidence=False)[0]
    b = TaskDetector.load(mt, task="log-hdfs").detect(["e5 e7 e13 e28"], evidence=False)[0]
    assert a.label == b.label and abs(a.score - b.score) < 1e-6


from tests.test_tasks import root  # noqa: E402,F401  (the tiny shared-datasets layout)


def test_cli_fits_heads_from_the_datasets_folder(mt, root, tmp_path):
    import shutil

    from click.testing import CliRunner

    from secllm.cli import main

    d = tmp_path / "mt"
    shutil.copytree(mt, d)
    shutil.rmtree(d / "lexical", ignore_errors=True)
    r = CliRunner().invoke(main, ["models", "lexical-heads", str(d), "--task", "all", "--datasets", str(root)])
    assert r.exit_code == 0, r.output
    meta = json.loads((d / "lexical" / "log-hdfs" / "secllm.json").read_text())
    assert meta["rows"]["train"] > 0 and meta["adapter_val_macro_f1"] is not None
    summary = json.loads(r.stdout[r.stdout.index("{"):])
    assert summary["log-hdfs"]["serve"] == meta["serve"]


def test_adapt_in_place_grows_the_served_head(mt, tmp_path):
    """`secllm adapt` grows what validation chose to serve (here the lexical head) with the adapter:
    the head keeps serving, knows the new class, and its old-class logits do not change."""
    import shutil

    from secllm.detect.generic import TaskDetector
    from secllm.detect.lexical import LexicalBackend
    from secllm.tasks.adapt import adapt_model_dir
    from secllm.tasks.head_fit import fit_head
    from secllm.tasks.heads import served_head

    d = tmp_path / "mt"
    shutil.copytree(mt, d)
    fit_head(d, "log-hdfs", SPLITS, grid=(20.0,), log=lambda m: None)
    before = TaskDetector.load(d, task="log-hdfs")
    seqs = encode_examples(before.tok, SPLITS["test"], 512)
    z0 = before.backend.logits(seqs)
    new = Examples(["e40 e41 e42", "e41 e42 e40 e40", "e42 e40 e41", "e40 e40 e42 e41"], ["log"] * 4, ["burst"] * 4)
    info = adapt_model_dir(d, "log-hdfs", new, d)
    assert served_head(d, "log-hdfs") is not None and info["served_system"]["served"] == "lexical head"
    assert info["served_system"]["old_class_guard"]["method"] == "prototype"      # no old-class rows given
    meta = json.loads((d / "lexical" / "log-hdfs" / "secllm.json").read_text())
    assert meta["labels"] == ["normal", "anomaly", "burst"] and meta["adaptations"][-1]["new_classes"] == ["burst"]
    det = TaskDetector.load(d, task="log-hdfs")
    assert isinstance(det.backend, LexicalBackend) and det.labels == ["normal", "anomaly", "burst"]
    z1 = det.backend.logits(seqs)
    assert np.array_equal(z1[:, :2], z0)                   # old-class logits unchanged, bit for bit
    r = det.detect(["e40 e42 e41 e40"])[0]
    assert r.attack_type == "burst" and r.stage == "lexical"
    # the adapter grew too (it is what `--head adapter` and ONNX export serve)
    assert TaskDetector.load(d, task="log-hdfs", head="adapter").labels[-1] == "burst"


def test_adapt_grows_an_ensemble_jointly_under_one_guard(mt, tmp_path):
    """Head + adapter ensemble: both grow; one bias drop keeps the *served* mean's moved share of the
    guard rows within max_old_flip."""
    import shutil

    from secllm.detect.generic import TaskDetector
    from secllm.tasks.adapt import adapt_model_dir
    from secllm.tasks.head_fit import fit_head
    from secllm.tasks.heads import EnsembleBackend, serve_mode

    d = tmp_path / "mt"
    shutil.copytree(mt, d)
    fit_head(d, "log-hdfs", SPLITS, grid=(20.0,), log=lambda m: None)
    _force_ensemble(d)
    burst = ["e40 e41 e42", "e41 e42 e40 e40", "e42 e40 e41", "e40 e40 e42 e41", "e40 e42", "e41 e40 e42 e42"]
    replay = _hdfs(6, 7)
    ex = Examples(burst + replay.texts, ["log"] * (len(burst) + len(replay)), ["burst"] * len(burst) + replay.labels)
    guard = _hdfs(30, 8)
    info = adapt_model_dir(d, "log-hdfs", ex, d, guard_examples=guard, max_old_flip=0.1)
    g = info["served_system"]["old_class_guard"]
    assert info["served_system"]["parts"] == ["adapter", "lexical head"] and g["guard_rows"] == len(guard)
    assert g["method"] == "linear" and g["bias_drop"] >= 0
    assert serve_mode(d, "log-hdfs") == "ensemble"
    det = TaskDetector.load(d, task="log-hdfs")
    assert isinstance(det.backend, EnsembleBackend) and det.labels == ["normal", "anomaly", "burst"]
    seqs = encode_examples(det.tok, guard, 512)
    moved = (det.backend.predict_proba(seqs).argmax(1) == 2).sum()
    assert moved <= int(0.1 * len(guard))                      # the guard holds on the served system
    task = json.loads((d / "adapters" / "log-hdfs" / "task.json").read_text())
    assert task["labels"][-1] == "burst" and "joint" in task["adaptations"][-1]["method"]


def _force_ensemble(d):
    """Mark d's log-hdfs head as served in an ensemble (what fit_head writes when the mean wins)."""
    p = d / "lexical" / "log-hdfs" / "secllm.json"
    meta = json.loads(p.read_text())
    meta["serve"] = "ensemble"
    meta["ensemble"] = {"val_macro_f1": 1.0, "threshold": 0.5, "adapter_max_length": 16,
                        "vs_single_bootstrap": None, "single": "head"}
    p.write_text(json.dumps(meta))


def test_ensemble_is_the_mean_of_head_and_adapter(mt, tmp_path):
    import shutil

    from secllm.detect.generic import TaskDetector
    from secllm.tasks.evaluate import TaskEvalConfig, run_task_eval
    from secllm.tasks.head_fit import fit_head
    from secllm.tasks.heads import EnsembleBackend, serve_mode

    d = tmp_path / "mt"
    shutil.copytree(mt, d)
    fit_head(d, "log-hdfs", SPLITS, grid=(20.0,), log=lambda m: None)
    _force_ensemble(d)
    assert serve_mode(d, "log-hdfs") == "ensemble"
    ens = TaskDetector.load(d, task="log-hdfs")
    head = TaskDetector.load(d, task="log-hdfs", head="lexical")
    adapter = TaskDetector.load(d, task="log-hdfs", head="adapter")
    assert isinstance(ens.backend, EnsembleBackend) and ens.threshold == 0.5
    long = " ".join(["5 7 13 28"] * 6)                    # longer than the adapter's 16 tokens
    items = ["5 7 13 28 7", "5 22 11 9", long]
    r_e, r_h = ens.detect(items), head.detect(items)
    enc = adapter.tok.encode_batch([adapter._prepare(x, r) for x, r in zip(items, adapter.detect(items))],
                                   "log", max_length=16, pad=False)
    p_a = adapter.backend.predict_proba(enc.input_ids)
    for k in range(3):
        want = (np.array([r_h[k].class_scores[lab] for lab in ens.labels]) +
                p_a[k, [adapter.labels.index(lab) for lab in ens.labels]]) / 2
        got = np.array([r_e[k].class_scores[lab] for lab in ens.labels])
        assert np.allclose(got, want, atol=1e-5), (k, got, want)
    assert all(r.stage == "ensemble" for r in r_e)
    mal = [r for r in r_e if r.label == "malicious"]
    # HDFS preparation rewrites "5 7" as "e5 e7", so the spans index the prepared text
    assert mal and all(r.evidence and 0 < sum(e.weight for e in r.evidence) <= 1.001 for r in mal)
    assert all(e.part == "model_text" and e.text.strip() for r in mal for e in r.evidence)
    idx = run_task_eval(TaskEvalConfig(task="log-hdfs", out=tmp_path / "rep", data=SPLITS, models={"m": str(d)},
                                       baselines=False, bootstrap=0))
    assert set(idx["reports"]["test"]["systems"]) == {"m", "m: adapter (not served)", "m: lexical head (not served)"}


def test_ensemble_without_torch_serves_the_head_alone(mt, tmp_path):
    import shutil

    from secllm.tasks.head_fit import fit_head

    d = tmp_path / "mt"
    shutil.copytree(mt, d)
    fit_head(d, "log-hdfs", SPLITS, grid=(20.0,), log=lambda m: None)
    _force_ensemble(d)
    out = _run_without(("torch", "peft"),
                       "from secllm.detect.generic import TaskDetector\n"
                       f"d = TaskDetector.load({str(d)!r}, task='log-hdfs', backend='onnx')\n"
                       "print(d.backend.name, [r.label for r in d.detect(['5 7 13 28', '5 22 11 9'])])")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "lexical ['malicious', 'benign']" and "serving the lexical head alone" in out.stderr
