"""Copy a fine-tuned model directory into the package as the shipped default: fp16 weights plus
the int8 ONNX graph exported from them (so a server installed without torch runs it; the fp32
graph is left out to keep the wheel small — ``secllm models export`` makes it where wanted).

    python -m secllm.model.ship runs/web-pretrained src/secllm/assets/default
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def ship(src: str | Path, dst: str | Path) -> Path:
    from safetensors.torch import load_file, save_file

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
    # fp16 halves the wheel; the loader casts back to fp32 for CPU inference.
    sd = {k: v.half().contiguous() if v.is_floating_point() else v for k, v in load_file(str(src / "model.safetensors")).items()}
    save_file(sd, str(dst / "model.safetensors"), metadata={"format": "pt"})
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
    return dst


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        raise SystemExit(2)
    print(ship(sys.argv[1], sys.argv[2]))
