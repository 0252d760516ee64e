"""Serving runtimes that need no training stack.

``secllm.runtime.onnx`` exports a fine-tuned classifier directory to ONNX (fp32, and int8 by
dynamic quantisation) and runs it with ONNX Runtime on CPU. Importing this package, or running a
detector with ``backend="onnx"``, never imports torch or transformers; only ``export_onnx`` does.
"""

from __future__ import annotations

from pathlib import Path


def resolve_backend(model_dir: str | Path, backend: str = "auto", prefer_torch: bool = False) -> str:
    """``auto``: the ONNX graph when the directory has an export (no torch needed): fp32, else int8
    (the shipped model carries only the int8 graph); else PyTorch. With ``prefer_torch`` (``secllm
    detect``: gradient evidence), PyTorch when it is installed, ONNX only without it.

        >>> resolve_backend("/nonexistent", "auto"), resolve_backend("/nonexistent", "onnx-int8")
        ('torch', 'onnx-int8')
    """
    if backend != "auto":
        return backend
    d = Path(model_dir)
    has_onnx = (d / "onnx.json").exists()
    # an ONNX-only directory (e.g. an exported task model) has no weights for PyTorch to load
    if prefer_torch and _has_torch() and ((d / "model.safetensors").exists() or not has_onnx):
        return "torch"
    if has_onnx:
        if (d / "model.onnx").exists():
            return "onnx"
        if (d / "model.int8.onnx").exists():
            return "onnx-int8"
    return "torch"


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None
