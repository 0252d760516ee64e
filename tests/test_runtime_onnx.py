"""ONNX export and the ONNX Runtime backend: parity with PyTorch, int8, torch-free serving.

``onnx_model_dir`` is reused by test_scan.py and test_serve.py: the export (a few seconds) is done
once per session, into the tiny model's own directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import BENIGN, CMDI, SQLI, TRAV, XSS

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

FIXTURE_INPUTS = BENIGN + SQLI + XSS + TRAV + CMDI + [
    "/download.php?file=..%2F..%2Fetc%2Fpasswd",
    "GET /a?id=1%27%20or%201=1-- HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
]


def onnx_model_dir(model_dir: str | Path) -> Path:
    """Export ``model_dir`` to ONNX (fp32 + int8) once; later calls reuse the files."""
    from secllm.runtime.onnx import MANIFEST_FILE, export_onnx

    d = Path(model_dir)
    if not (d / MANIFEST_FILE).exists():
        export_onnx(d)
    return d


def serving_copy(model_dir: Path, dest: Path) -> Path:
    """What a torch-free server ships: graphs, manifest, tokenizer, description (no safetensors)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "model.int8.onnx", "onnx.json", "tokenizer.json", "secllm.json"):
        shutil.copy2(model_dir / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def exported(tiny_web_model) -> Path:
    return onnx_model_dir(tiny_web_model)


def test_export_writes_graphs_and_manifest(exported):
    man = json.loads((exported / "onnx.json").read_text())
    assert (exported / "model.onnx").stat().st_size > 0 and (exported / "model.int8.onnx").stat().st_size > 0
    assert man["inputs"] == ["input_ids", "attention_mask"] and man["outputs"] == ["logits"]
    assert man["parity"]["fp32_max_abs_logit_diff"] < 1e-4
    meta = json.loads((exported / "secllm.json").read_text())
    assert man["tokenizer_fingerprint"] == meta["tokenizer_fingerprint"]

    import onnx

    model = onnx.load(str(exported / "model.onnx"))
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        assert inp.type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert all(d.dim_param for d in dims), "batch and sequence axes are dynamic"


def test_fp32_matches_pytorch_probabilities_and_labels(exported):
    from secllm.detect.detector import WebAttackDetector

    torch_det = WebAttackDetector.load(exported, backend="torch", threads=1)
    onnx_det = WebAttackDetector.load(exported, backend="onnx", threads=1)
    assert onnx_det.backend.name == "onnx"
    # model level: the same token sequences of many lengths (length-bucketed batches in both)
    enc = torch_det.tok.encode_batch(FIXTURE_INPUTS, "payload", max_length=torch_det.max_length, pad=False)
    p_torch = torch_det.backend.predict_proba(enc.input_ids)
    p_onnx = onnx_det.backend.predict_proba(enc.input_ids)
    assert p_onnx.shape == p_torch.shape
    np.testing.assert_allclose(p_onnx, p_torch, atol=1e-4)
    # detector level: identical verdicts and attack types on every fixture input
    a, b = torch_det.detect(FIXTURE_INPUTS), onnx_det.detect(FIXTURE_INPUTS)
    assert [r.label for r in a] == [r.label for r in b]
    assert [r.attack_type for r in a] == [r.attack_type for r in b]
    assert max(abs(x.score - y.score) for x, y in zip(a, b)) < 1e-4
    assert {r.label for r in a} == {"benign", "malicious"}, "the fixture has both verdicts"


def test_int8_runs_and_mostly_agrees(exported):
    from secllm.detect.detector import WebAttackDetector

    fp = WebAttackDetector.load(exported, backend="onnx", threads=1)
    q = WebAttackDetector.load(exported, backend="onnx-int8", threads=1)
    enc = fp.tok.encode_batch(FIXTURE_INPUTS, "payload", max_length=fp.max_length, pad=False)
    p_fp, p_q = fp.backend.predict_proba(enc.input_ids), q.backend.predict_proba(enc.input_ids)
    assert np.allclose(p_q.sum(1), 1.0, atol=1e-5)
    agree = float((p_fp.argmax(1) == p_q.argmax(1)).mean())
    assert agree >= 0.9, f"int8 argmax agrees on only {agree:.0%}"


def test_occlusion_evidence_points_into_input(exported):
    from secllm.detect.detector import WebAttackDetector

    det = WebAttackDetector.load(exported, backend="onnx", threads=1)
    det.threshold = 0.0                    # force malicious so that evidence is computed
    raw = "GET /item?id=1%27%20union%20select%20password%20from%20users-- HTTP/1.1\r\nHost: a.example\r\n\r\n"
    (r,) = det.detect([raw])
    assert r.evidence
    for e in r.evidence:
        assert raw[e.start:e.end] == e.text and 0 < e.weight <= 1
    # attribution = drop of logit[target]-logit[benign] when the token is masked; specials get 0
    ids = det.tok.encode_batch(["' or 1=1--"], "payload", pad=False).input_ids[0]
    attr = det.backend.token_attribution(ids, 1, 0)
    assert attr.shape == (len(ids),) and attr[0] == 0 and attr[-1] == 0 and np.abs(attr).sum() > 0


def test_serving_dir_needs_no_torch(exported, tmp_path):
    serve_dir = serving_copy(exported, tmp_path / "serve")
    code = ("import sys; from secllm.detect.detector import WebAttackDetector; "
            f"d = WebAttackDetector.load({str(serve_dir)!r}, backend='onnx', threads=1); "
            "r = d.detect(['x', \"1' or '1'='1\"]); assert r[0].status == 'ok', r; "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_stale_or_missing_export_is_refused(exported, tmp_path):
    from secllm.detect.detector import WebAttackDetector

    d = serving_copy(exported, tmp_path / "stale")
    (d / "model.safetensors").write_bytes(b"other weights")      # fine-tuned again after export
    with pytest.raises(ValueError, match="stale"):
        WebAttackDetector.load(d, backend="onnx")
    (d / "model.safetensors").unlink()
    (d / "model.int8.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="export"):
        WebAttackDetector.load(d, backend="onnx-int8")
    with pytest.raises(ValueError, match="unknown backend"):
        WebAttackDetector.load(d, backend="tensorrt")


def test_resolve_backend_prefers_fp32_then_int8(tmp_path):
    from secllm.runtime import resolve_backend

    assert resolve_backend(tmp_path) == "torch"
    (tmp_path / "onnx.json").write_text("{}")
    (tmp_path / "model.int8.onnx").write_bytes(b"")
    assert resolve_backend(tmp_path) == "onnx-int8"
    (tmp_path / "model.onnx").write_bytes(b"")
    assert resolve_backend(tmp_path) == "onnx"
    assert resolve_backend(tmp_path, "torch") == "torch"
    # an ONNX-only directory (an exported task model) has nothing for PyTorch to load
    assert resolve_backend(tmp_path, prefer_torch=True) == "onnx"
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert resolve_backend(tmp_path, prefer_torch=True) == "torch"     # torch is installed here
