"""Serving runtimes that need no training stack.

``secllm.runtime.onnx`` exports a fine-tuned classifier directory to ONNX (fp32, and int8 by
dynamic quantisation) and runs it with ONNX Runtime on CPU. Importing this package, or running a
detector with ``backend="onnx"``, never imports torch or transformers; only ``export_onnx`` does.
"""

from __future__ import annotations

from pathlib import Path


def resolve_backend(model_dir: str | Path, backend: str = "auto") -> str:
    """``auto``: the ONNX graph when the directory has an export (no torch needed), else PyTorch.

        >>> resolve_backend("/nonexistent", "auto"), resolve_backend("/nonexistent", "onnx-int8")
        ('torch', 'onnx-int8')
    """
    if backend != "auto":
        return backend
    d = Path(model_dir)
    return "onnx" if (d / "model.onnx").exists() and (d / "onnx.json").exists() else "torch"
