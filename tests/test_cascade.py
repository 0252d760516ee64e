"""The fast/full cascade: bands chosen on validation, parts decided by the fast model, evidence, switches."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from secllm.detect.calibrate import calibrate
from secllm.detect.cascade import attach, choose_bands
from tests.conftest import toy_examples


def _proba(rng, n, k=3):
    p = rng.dirichlet(np.ones(k) * 0.3, size=n)
    return p.astype(np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_bands_keep_the_disagreement_budget(seed):
    rng = np.random.default_rng(seed)
    full = _proba(rng, 2000)
    # a noisy copy of the full model: mostly agrees, sometimes not
    fast = np.clip(full + rng.normal(0, 0.15, full.shape), 1e-4, None).astype(np.float32)
    fast /= fast.sum(1, keepdims=True)
    for budget in (0.0, 0.01, 0.05):
        b = choose_bands(fast, full, 0, 0.5, max_disagreement=budget)
        assert b["val_disagreement"] <= budget + 1e-9
        assert 0.0 <= b["benign_below"] <= 0.5 <= b["malicious_above"] <= 1.0
    loose = choose_bands(fast, full, 0, 0.5, max_disagreement=0.05)
    tight = choose_bands(fast, full, 0, 0.5, max_disagreement=0.0)
    assert loose["val_fast_share"] >= tight["val_fast_share"]
    same = choose_bands(full, full, 0, 0.5, max_disagreement=0.0)        # a fast model that IS the full one
    assert same["val_disagreement"] == 0 and same["val_fast_share"] > 0.9


@pytest.fixture(scope="module")
def cascade_dir(tiny_web_model, tmp_path_factory):
    """Full model + the same weights as its fast model (identical scores: verdicts must not change)."""
    from secllm.data.corpus import model_text

    d = tmp_path_factory.mktemp("casc") / "web"
    shutil.copytree(tiny_web_model, d)
    val = toy_examples(8, 3)
    texts = [model_text(t, m) for t, m in zip(val.texts, val.modalities)]
    bands = calibrate(d, tiny_web_model, texts, list(val.modalities), list(val.labels), max_disagreement=0.0)
    attach(d, tiny_web_model, bands)
    return d, bands


def test_cascade_decides_clear_parts_without_the_full_model(cascade_dir):
    from secllm.detect.detector import WebAttackDetector

    d, bands = cascade_dir
    assert bands["val_disagreement"] == 0 and set(bands["val_macro_f1"]) == {"full", "fast", "cascade"}
    det = WebAttackDetector.load(d)
    assert det.fast is not None and det.bands["benign_below"] == bands["benign_below"]
    det.cache_size = det.fast.cache_size = 0          # count real model calls
    items = toy_examples(6, 9).texts
    calls: list[int] = []
    inner = det._model_proba
    det._model_proba = lambda t, m: (calls.append(len(t)), inner(t, m))[1]
    on = det.detect(items, evidence=True)
    full_parts_on = sum(calls)
    off = det.detect(items, evidence=False, cascade=False)
    full_parts_off = sum(calls) - full_parts_on
    assert [r.label for r in on] == [r.label for r in off]
    assert [r.attack_type for r in on] == [r.attack_type for r in off]
    stages = {r.stage for r in on}
    assert "fast" in stages and stages <= {"fast", "full", "prefilter"}
    assert {r.stage for r in off} <= {"full", "prefilter"}
    n_fast = sum(r.stage == "fast" for r in on)
    # the full model judged only what the fast one left: every part but the fast-decided ones
    assert n_fast > 0 and full_parts_on <= full_parts_off - n_fast
    for r in on:
        if r.label == "malicious" and r.stage == "fast":
            assert r.evidence and all(items[int(r.id)][e.start:e.end] == e.text for e in r.evidence)
    det.cascade = False
    assert {r.stage for r in det.detect(items, evidence=False)} <= {"full", "prefilter"}


def test_labels_must_match_and_onnx_never_loads_a_torch_fast_model(cascade_dir, tmp_path):
    from secllm.detect.detector import WebAttackDetector
    from tests.test_runtime_onnx import onnx_model_dir

    d, _ = cascade_dir
    o = tmp_path / "o"
    shutil.copytree(d, o)
    onnx_model_dir(o)                      # an ONNX export of the full model; its fast/ gets none
    for f in (o / "fast").glob("*onnx*"):
        f.unlink()
    det = WebAttackDetector.load(o, backend="onnx")
    assert det.fast is None                # would need torch: the cascade is off, not a torch import
    onnx_model_dir(o / "fast")
    det = WebAttackDetector.load(o, backend="onnx")
    assert det.fast is not None and det.fast.backend.name == "onnx"
    import json
    meta = json.loads((o / "fast" / "secllm.json").read_text())
    meta["labels"] = meta["labels"][::-1]
    (o / "fast" / "secllm.json").write_text(json.dumps(meta))
    assert WebAttackDetector.load(o, backend="onnx").fast is None     # other labels: not a cascade


def test_ship_carries_the_fast_model_for_a_torch_free_server(cascade_dir, tmp_path):
    import json

    from secllm.detect.detector import WebAttackDetector
    from secllm.model.ship import ship

    d, bands = cascade_dir
    out = ship(d, tmp_path / "shipped")
    assert (out / "fast" / "model.int8.onnx").is_file() and not (out / "fast" / "model.onnx").exists()
    assert json.loads((out / "fast" / "secllm.json").read_text())["cascade"] == bands
    det = WebAttackDetector.load(out, backend="onnx-int8")
    assert det.fast is not None and det.fast.backend.name == "onnx-int8"
    res = det.detect(["1' or '1'='1", "john"], evidence=False)
    assert all(r.status == "ok" for r in res)


def test_mutated_validation_narrows_the_bands(tiny_web_model):
    from secllm.data.corpus import model_text
    from secllm.detect.calibrate import calibrate, mutated_validation

    val = toy_examples(8, 3)
    muts = mutated_validation(val)
    assert len(muts) > 0 and set(muts.labels) <= {"sqli", "xss"} and set(muts.modalities) == {"payload"}
    assert not set(muts.texts) & set(val.texts)
    texts = [model_text(t, m) for t, m in zip(val.texts, val.modalities)]
    plain = calibrate(tiny_web_model, tiny_web_model, texts, list(val.modalities), max_disagreement=0.0)
    narrowed = calibrate(tiny_web_model, tiny_web_model, texts, list(val.modalities), max_disagreement=0.0,
                         mutated=[model_text(t, "payload") for t in muts.texts], mutated_disagreement=0.0)
    assert narrowed["benign_below"] == plain["benign_below"]                 # URL parts: validation bands
    pb = narrowed["by_modality"]["payload"]
    assert pb["benign_below"] <= plain["benign_below"] and pb["malicious_above"] >= plain["malicious_above"]
    assert narrowed["mutated_missed"] == 0.0 and narrowed["mutated_parts"] == len(muts)
