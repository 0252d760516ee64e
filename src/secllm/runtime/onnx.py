"""ONNX export of fine-tuned classifiers and an ONNX Runtime backend for the detectors.

A model directory gains three files, next to the safetensors weights it came from::

    model_dir/
      model.onnx          # fp32 graph: input_ids, attention_mask (int64, [batch, seq]) -> logits [batch, labels]
      model.int8.onnx     # the same with int8 weights (dynamic quantisation of MatMul/Gemm)
      onnx.json           # manifest: tokenizer fingerprint, sha256 of the source weights, parity measured at export

Export needs torch (it traces the PyTorch model); serving does not: ``OnnxBackend`` imports only
numpy, onnxruntime and the tokenizer, so a server installs ``secllm[serve]`` and no training stack.

    >>> from secllm.runtime.onnx import export_onnx                      # doctest: +SKIP
    >>> export_onnx("runs/web-pretrained")["onnx"]                       # doctest: +SKIP
    'runs/web-pretrained/model.onnx'
    >>> from secllm.detect.detector import WebAttackDetector             # doctest: +SKIP
    >>> WebAttackDetector.load("runs/web-pretrained", backend="onnx-int8").detect(["1' or 1=1--"])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from secllm.runtime.batching import length_batches, pad_batch

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
MANIFEST_FILE = "onnx.json"
MANIFEST_FORMAT = "secllm-onnx"
# Files a serving directory needs besides the graph (copied when exporting elsewhere).
_SIDE_FILES = ("secllm.json", "config.json", "tokenizer.json")
# Inputs used to check the exported graph against PyTorch before it is written as good.
_CHECK_TEXTS = ["1' union select password from users--", "<script>alert(1)</script>", "john",
                "../../etc/passwd", "q=wireless+headphones&page=2"]
PARITY_TOLERANCE = 1e-3          # max |logit difference| accepted at export (fp32); tests use 1e-4 on probabilities


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits. ``(n, k) -> (n, k)``."""
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def export_onnx(model_dir: str | Path, out_dir: str | Path | None = None, quantize: bool = True,
                opset: int = 18) -> dict[str, Any]:
    """Export a fine-tuned classifier directory to ONNX (and int8 with ``quantize``).

    Writes ``model.onnx`` (+ ``model.int8.onnx``) and ``onnx.json`` into ``out_dir`` (default: the
    model directory itself). When ``out_dir`` is elsewhere, the tokenizer and model description are
    copied too, so ``out_dir`` is a complete torch-free serving directory. The exported graph is
    run once on a few inputs and compared with PyTorch; an export that disagrees is refused.

    Returns the manifest (paths, parity measured at export).

        >>> info = export_onnx("runs/web")                               # doctest: +SKIP
        >>> info["parity"]["fp32_max_abs_logit_diff"] < 1e-4              # doctest: +SKIP
        True
    """
    import torch

    from secllm.model.modeling import load_classifier

    src = Path(model_dir)
    out = Path(out_dir) if out_dir else src
    out.mkdir(parents=True, exist_ok=True)
    model, tok, _, meta = load_classifier(src)
    if meta.get("kind") != "classifier":
        raise ValueError(f"{src} holds a {meta.get('kind')} model; only fine-tuned classifiers are exported")
    model.float().eval()

    class _Logits(torch.nn.Module):
        """The classifier with plain tensor in/out: ONNX graphs have no dataclass outputs."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits     # (b, labels)

    wrapped = _Logits(model).eval()
    max_length = int(meta.get("max_length", 128))
    enc = tok.encode_batch(_CHECK_TEXTS, "payload", max_length=max_length, pad=False)
    # Trace with unequal lengths (padding present, batch > 1) so that no shape is specialised.
    ids, att = pad_batch(enc.input_ids[:2], tok.pad_id)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    fp32_path = out / ONNX_FILE
    # The dynamo exporter: the legacy TorchScript tracer bakes transformers' attention-mask
    # construction in for the traced shapes (wrong logits for other paddings); this one does not.
    with _quiet_exporter():
        torch.onnx.export(
            wrapped, (torch.from_numpy(ids), torch.from_numpy(att)), str(fp32_path), dynamo=True,
            input_names=["input_ids", "attention_mask"], output_names=["logits"], opset_version=opset,
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
            external_data=False, verbose=False,
        )
    # Parity on all check inputs at once (a different batch size and padding than traced).
    ids, att = pad_batch(enc.input_ids, tok.pad_id)
    with torch.inference_mode():
        ref = wrapped(torch.from_numpy(ids), torch.from_numpy(att)).float().numpy()           # (n, labels)
    got = _session(fp32_path, threads=1).run(["logits"], {"input_ids": ids, "attention_mask": att})[0]
    diff = float(np.abs(got - ref).max())
    if not diff <= PARITY_TOLERANCE:
        fp32_path.unlink(missing_ok=True)
        raise RuntimeError(f"ONNX export of {src} disagrees with PyTorch (max |logit diff| {diff:.2e}); "
                           "nothing was written")
    parity: dict[str, float] = {"fp32_max_abs_logit_diff": diff}
    files = {ONNX_FILE: _sha256(fp32_path)}
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_path = out / INT8_FILE
        # Dynamic quantisation: int8 weights, activations quantised per batch at run time; no
        # calibration data needed, and the accuracy cost is measured by the caller on a test split.
        # (its "consider pre-processing" hint: symbolic shape inference fails on these graphs,
        # and MatMul weight quantisation does not need it)
        with _quiet_exporter():
            quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
        q = _session(int8_path, threads=1).run(["logits"], {"input_ids": ids, "attention_mask": att})[0]
        parity["int8_max_abs_prob_diff"] = float(np.abs(softmax(q) - softmax(ref)).max())
        parity["int8_argmax_agreement"] = float((q.argmax(-1) == ref.argmax(-1)).mean())
        files[INT8_FILE] = _sha256(int8_path)
    if out != src:
        for name in _SIDE_FILES:
            if (src / name).exists():
                shutil.copy2(src / name, out / name)
    weights = src / "model.safetensors"
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "opset": opset,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": ["logits"],
        "labels": meta.get("labels"),
        "tokenizer_fingerprint": meta.get("tokenizer_fingerprint"),
        "source_weights_sha256": _sha256(weights) if weights.exists() else None,
        "files": files,
        "parity": parity,
        "torch_version": torch.__version__,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return {"onnx": str(fp32_path), "int8": str(out / INT8_FILE) if quantize else None,
            "manifest": str(out / MANIFEST_FILE), **manifest}


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's progress prints and its warnings about optional packages
    (torchvision ops, deprecations): they say nothing about this model and bury real errors."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch._export", "torch.export", "onnxscript")]
    loggers.append(logging.getLogger())      # onnxruntime.quantization warns on the root logger
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session (``threads`` intra-op threads; None: one per core)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1          # one graph, run sequentially: parallelism is inside ops
    so.log_severity_level = 3            # errors only: no optimizer chatter on stderr
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def check_manifest(model_dir: str | Path, meta: dict[str, Any], filename: str) -> dict[str, Any]:
    """Read ``onnx.json`` and refuse graphs that do not belong to this directory.

    A graph exported from other weights (the directory was fine-tuned again after export) or for
    another tokenizer would silently give wrong scores, so it is an error with the next step.
    """
    d = Path(model_dir)
    hint = (f"run `secllm models export {d}` (or secllm.runtime.onnx.export_onnx) to export it")
    if not (d / filename).exists():
        raise FileNotFoundError(f"{d / filename} not found: {hint}")
    mpath = d / MANIFEST_FILE
    if not mpath.exists():
        raise FileNotFoundError(f"{mpath} not found: {hint}")
    manifest = json.loads(mpath.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{mpath} is not a secllm ONNX manifest")
    if filename not in manifest.get("files", {}):
        raise FileNotFoundError(f"{filename} is not listed in {mpath}: {hint}")
    want = meta.get("tokenizer_fingerprint")
    if want and manifest.get("tokenizer_fingerprint") != want:
        raise ValueError(f"{d / filename} was exported for another tokenizer; {hint}")
    weights = d / "model.safetensors"
    recorded = manifest.get("source_weights_sha256")
    if recorded and weights.exists() and _sha256(weights) != recorded:
        raise ValueError(f"{d / filename} is stale: model.safetensors changed after the export; {hint}")
    return manifest


class OnnxBackend:
    """ONNX Runtime backend for ``WebAttackDetector`` (no torch, no transformers).

    ``predict_proba`` groups sequences by length (little padding) and runs each group as one batch;
    ``token_attribution`` is occlusion: every non-special token is replaced by ``[MASK]`` in turn
    (all variants in one batched run) and its attribution is the drop in
    ``logit[target] - logit[benign]`` — gradients are not available in an inference graph.

        >>> be = OnnxBackend("runs/web", tok, threads=2)                 # doctest: +SKIP
        >>> be.predict_proba([[2, 9, 41, 57, 3]]).shape                  # doctest: +SKIP
        (1, 13)
    """

    def __init__(self, model_dir: str | Path, tokenizer, threads: int | None = None, int8: bool = False,
                 batch_tokens: int = 512):   # small calls are fastest on CPU (~3.7x vs 16,384 here)
        from secllm.model.modeling import read_meta

        self.model_dir = Path(model_dir)
        self.int8 = int8
        self.name = "onnx-int8" if int8 else "onnx"
        self.tok = tokenizer
        self.pad_id: int = tokenizer.pad_id
        self.mask_id: int = tokenizer.mask_id
        self.special_ids = frozenset(tokenizer.special_ids)
        self.batch_tokens = batch_tokens
        filename = INT8_FILE if int8 else ONNX_FILE
        self.manifest = check_manifest(self.model_dir, read_meta(self.model_dir), filename)
        self.session = _session(self.model_dir / filename, threads)
        self.n_labels = len(self.manifest.get("labels") or []) or None

    def logits(self, ids: np.ndarray, att: np.ndarray) -> np.ndarray:
        """Raw logits for one padded batch: ``(b, t), (b, t) -> (b, labels)``."""
        return self.session.run(["logits"], {"input_ids": ids, "attention_mask": att})[0]

    def predict_proba(self, seqs: list[list[int]]) -> np.ndarray:
        if not seqs:
            return np.zeros((0, self.n_labels or 0), dtype=np.float32)
        out: np.ndarray | None = None
        for b in length_batches([len(s) for s in seqs], self.batch_tokens):
            ids, att = pad_batch([seqs[i] for i in b], self.pad_id)
            p = softmax(self.logits(ids, att).astype(np.float32))
            if out is None:
                out = np.zeros((len(seqs), p.shape[1]), dtype=np.float32)
            out[b] = p
        assert out is not None
        return out

    def token_attribution(self, ids: list[int], target: int, benign: int) -> np.ndarray:
        """Occlusion attribution ``(t,)``; special tokens get 0."""
        t = len(ids)
        positions = [i for i, tid in enumerate(ids) if tid not in self.special_ids]
        attr = np.zeros(t, dtype=np.float32)
        if not positions:
            return attr
        # Row 0 is the input itself; row k+1 has token positions[k] masked.   (1 + p, t)
        variants = np.tile(np.asarray(ids, dtype=np.int64), (1 + len(positions), 1))
        for k, i in enumerate(positions):
            variants[k + 1, i] = self.mask_id
        att = np.ones_like(variants)
        rows = max(1, self.batch_tokens // max(t, 1))
        logits = np.concatenate([self.logits(variants[s:s + rows], att[s:s + rows])
                                 for s in range(0, len(variants), rows)])                  # (1 + p, labels)
        diff = logits[:, target] - logits[:, benign]                                          # (1 + p,)
        attr[positions] = diff[0] - diff[1:]
        return attr
