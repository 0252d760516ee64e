"""Many tasks on one shared base, as served: task adapters switched in place on one loaded encoder.

**Multi-task directory.** A base model directory (``load_classifier``-compatible: a pretrained
``mlm`` base or a fine-tuned ``classifier``) may hold task adapters beside its weights::

    model_dir/
      secllm.json, config.json, model.safetensors, tokenizer.json     # the one shared base
      adapters/<task>/task.json              # labels, benign label, threshold, max_length, kind
      adapters/<task>/head.safetensors       # the task's linear head ("weight", "bias")
      adapters/<task>/adapter_config.json    # peft LoRA (query/value, r=8), only for kind "lora"
      adapters/<task>/adapter_model.safetensors

:class:`MultiTaskModel` loads the base once; :meth:`MultiTaskModel.use` switches task by
activating that task's LoRA weights (peft ``set_adapter``) and swapping the head, so serving N
tasks costs one base plus N small adapters (a LoRA adapter of the cpu-small base is ~0.1 MB).
Task kinds: ``lora`` (LoRA on the encoder + head), ``head`` (frozen encoder + head: a linear
probe) and ``native`` (the base's own classifier head, when the base is a fine-tuned classifier).
Adapters are trained and grown by :mod:`secllm.tasks.adapt`; this module only reads them.

    >>> spec = {"task": "url", "labels": ["benign", "phishing"], "kind": "head"}
    >>> sorted(_check_task_meta(spec))
    ['benign_label', 'kind', 'labels', 'max_length', 'task', 'threshold']
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

ADAPTERS = "adapters"
BASE_FILES = ("secllm.json", "config.json", "model.safetensors", "tokenizer.json")

__all__ = ["MultiTaskModel", "ADAPTERS", "BASE_FILES"]


def _check_task_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = {"task": meta["task"], "labels": list(meta["labels"]), "benign_label": meta.get("benign_label"),
           "threshold": float(meta.get("threshold", 0.5)), "max_length": int(meta.get("max_length", 128)),
           "kind": meta.get("kind", "head")}
    if out["kind"] not in ("lora", "head", "native"):
        raise ValueError(f"unknown adapter kind {out['kind']!r}")
    return {**meta, **out}


def _load_head(path: Path):
    """An adapter's ``head.safetensors`` as a ``torch.nn.Linear``."""
    import torch
    from safetensors.torch import load_file

    from secllm.model.modeling import require_safetensors

    sd = load_file(str(require_safetensors(path)))
    lin = torch.nn.Linear(sd["weight"].shape[1], sd["weight"].shape[0])
    with torch.no_grad():
        lin.weight.copy_(sd["weight"])
        lin.bias.copy_(sd["bias"])
    return lin


# --------------------------------------------------------------------------------------------
# serving: one base, many task adapters
# --------------------------------------------------------------------------------------------

class MultiTaskModel:
    """One shared base with switchable task adapters (see the module doc).

    ``use(task)`` returns ``(model, task_meta)``; the returned model object is the same for every
    task (its head and active LoRA weights change), so hold one task at a time per instance (not
    thread-safe). ``base_loads`` counts how often base weights were read (always 1).
    """

    def __init__(self, model_dir: str | Path):
        import torch

        from secllm.model.modeling import load_classifier, read_meta

        self.model_dir = Path(model_dir)
        self.base_meta = read_meta(self.model_dir)
        native = self.base_meta.get("kind") == "classifier"
        self.model, self.tok, self.mcfg, _ = load_classifier(self.model_dir, from_base=not native)
        self.model.float().eval()
        self.base_loads = 1
        self.heads: dict[str, torch.nn.Linear] = {}
        self.metas: dict[str, dict[str, Any]] = {}
        self.peft = None          # the PeftModel wrapping model.bert, once a LoRA task is loaded
        # held by each TaskDetector over "activate my task + run the model": tasks share one module
        self.lock = threading.RLock()
        self.active: str | None = None
        if native and self.base_meta.get("task"):
            t = self.base_meta["task"]
            self.heads[t] = self.model.classifier
            self.metas[t] = _check_task_meta({**self.base_meta, "kind": "native"})

    def available(self) -> list[str]:
        from secllm.paths import adapter_tasks

        return sorted(set(adapter_tasks(self.model_dir)) | set(self.metas))

    def _load(self, task: str) -> None:
        from secllm.paths import check_task_name

        d = self.model_dir / ADAPTERS / check_task_name(task)
        if not (d / "task.json").exists():
            raise KeyError(f"{self.model_dir} has no adapter for task {task!r}; available: {self.available()}")
        meta = _check_task_meta(json.loads((d / "task.json").read_text()))
        fp = meta.get("tokenizer_fingerprint")
        if fp and fp != self.tok.fingerprint():
            raise ValueError(f"adapter {task!r} was trained with another tokenizer than the base in {self.model_dir}")
        if meta["kind"] == "lora":
            self._load_lora(task, d)
        self.heads[task] = _load_head(d / "head.safetensors").eval()
        self.metas[task] = meta

    def _load_lora(self, task: str, d: Path) -> None:
        from peft import PeftModel

        from secllm.model.modeling import require_safetensors
        from secllm.model.quiet import no_peft_deprecation

        # peft falls back to torch.load (a pickle) on adapter_model.bin: refuse that first
        require_safetensors(d / "adapter_model.safetensors")
        with no_peft_deprecation():
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.model.bert, str(d), adapter_name=task, is_trainable=False)
                self.model.bert = self.peft
            else:
                self.peft.load_adapter(str(d), adapter_name=task, is_trainable=False)
        self.peft.eval()

    def use(self, task: str):
        """Activate ``task``: returns ``(model, task_meta)``; no base weights are read."""
        if task not in self.metas:
            self._load(task)
        meta = self.metas[task]
        if self.peft is not None:
            if meta["kind"] == "lora":
                self.peft.base_model.enable_adapter_layers()
                self.peft.set_adapter(task)
            else:
                self.peft.base_model.disable_adapter_layers()
        self.model.classifier = self.heads[task]
        self.model.config.num_labels = len(meta["labels"])
        self.active = task
        return self.model, meta

