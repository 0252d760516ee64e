"""Copy a fine-tuned model directory into the package as the shipped default: fp16 weights plus
the int8 ONNX graph exported from them (so a server installed without torch runs it; the fp32
graph is left out to keep the wheel small — ``secllm models export`` makes it where wanted).

A cascade's fast model (``src/fast``, see ``secllm.detect.cascade``) is shipped with it, the same way.

``--tasks`` ships a multi-task directory instead (the shared pretrained base, fp16, with its
``adapters/<task>`` LoRA adapters and heads): ``secllm detect --task NAME`` reads it offline.

    python -m secllm.model.ship --tasks runs/tasks-mt src/secllm/assets/tasks

    python -m secllm.model.ship runs/web-pretrained src/secllm/assets/default
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def _fp16_weights(src: Path, dst: Path) -> None:
    from safetensors.torch import load_file, save_file

    # fp16 halves the wheel; the loader casts back to fp32 for CPU inference.
    sd = {k: v.half().contiguous() if v.is_floating_point() else v for k, v in load_file(str(src)).items()}
    save_file(sd, str(dst), metadata={"format": "pt"})


def ship_tasks(src: str | Path, dst: str | Path) -> Path:
    """Ship a multi-task directory: the base (fp16), every ``adapters/<task>`` and every lexical task
    head ``lexical/<task>`` (:mod:`secllm.tasks.heads`; files as they are)."""
    from secllm.model.modeling import read_meta
    from secllm.paths import adapter_tasks
    from secllm.tasks.heads import HEADS_DIR
    from secllm.tasks.multitask import ADAPTERS, BASE_FILES

    src, dst = Path(src), Path(dst)
    meta = read_meta(src)
    tasks = adapter_tasks(src)
    if not tasks:
        raise ValueError(f"{src} holds no task adapters (adapters/<task>/task.json)")
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in BASE_FILES:
        if name != "model.safetensors":
            shutil.copy2(src / name, dst / name)
    _fp16_weights(src / "model.safetensors", dst / "model.safetensors")
    meta["shipped_from"] = str(src)
    meta["weights_dtype"] = "float16"
    meta["tasks"] = tasks
    (dst / "secllm.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    for t in tasks:
        shutil.copytree(src / ADAPTERS / t, dst / ADAPTERS / t)
    if (src / HEADS_DIR).is_dir():
        shutil.copytree(src / HEADS_DIR, dst / HEADS_DIR)
    return dst


def ship(src: str | Path, dst: str | Path) -> Path:
    from secllm.model.modeling import read_meta

    src, dst = Path(src), Path(dst)
    meta = read_meta(src)
    if meta["kind"] != "classifier":
        raise ValueError("only fine-tuned classifiers are shipped")
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "secllm.json"):
        shutil.copy2(src / name, dst / name)
    _fp16_weights(src / "model.safetensors", dst / "model.safetensors")
    meta["shipped_from"] = str(src)
    meta["weights_dtype"] = "float16"
    (dst / "secllm.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    from secllm.runtime.onnx import INT8_FILE, MANIFEST_FILE, ONNX_FILE, export_onnx

    export_onnx(dst, dst)
    (dst / ONNX_FILE).unlink()
    manifest = json.loads((dst / MANIFEST_FILE).read_text())
    manifest["files"].pop(ONNX_FILE, None)
    manifest["shipped"] = "int8 graph only (the fp32 graph is not shipped)"
    (dst / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    if INT8_FILE not in manifest["files"]:
        raise RuntimeError("int8 export failed: nothing to ship for torch-free serving")
    from secllm.detect.cascade import FAST_DIR

    if (src / FAST_DIR / "secllm.json").is_file():        # the cascade's fast model, shipped the same way
        ship(src / FAST_DIR, dst / FAST_DIR)
    from secllm.detect.lexical import LEXICAL_DIR

    if (src / LEXICAL_DIR / "secllm.json").is_file():     # the cascade's lexical first stage (numpy only)
        shutil.copytree(src / LEXICAL_DIR, dst / LEXICAL_DIR)
    return dst


if __name__ == "__main__":
    args = sys.argv[1:]
    tasks = args[:1] == ["--tasks"]
    args = args[1:] if tasks else args
    if len(args) != 2:
        print(__doc__)
        raise SystemExit(2)
    print(ship_tasks(*args) if tasks else ship(*args))
