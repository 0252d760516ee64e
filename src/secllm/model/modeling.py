"""The SecLLM base model and its artifact directory.

The network is Hugging Face's BERT encoder (``BertForMaskedLM`` for pretraining, the same
encoder with a pooled linear head, ``SecLLMClassifier``, for task heads): a real, well-tested implementation that
exports to ONNX and works with peft/accelerate. What SecLLM adds is the artifact contract:

    model_dir/
      secllm.json        # {"format": "secllm-model", "kind": "mlm"|"classifier", model_config,
                         #  tokenizer_fingerprint, task metadata (labels, threshold, max_length)}
      config.json        # the BertConfig (written by save_pretrained)
      model.safetensors  # weights (never pickle)
      tokenizer.json     # the security tokenizer

Loading checks that the tokenizer, the config and the weights belong together.

    >>> from secllm.model.config import preset
    >>> m = new_mlm(preset("tiny"))
    >>> sum(p.numel() for p in m.parameters()) > 0
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from secllm.model.config import ModelConfig
from secllm.tokenizer import SecTokenizer

FORMAT = "secllm-model"
FORMAT_VERSION = 1
# Weight files SecLLM never opens: pickles run code when loaded (torch.load, joblib, numpy pickles).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")


class ModelFormatError(ValueError):
    """A model directory whose weights are not safetensors (a pickle ``.bin``, or none at all)."""


def require_safetensors(path: str | Path) -> Path:
    """``path`` (a ``.safetensors`` file) if it exists; else :class:`ModelFormatError` saying what
    was found instead. SecLLM never unpickles weights: a directory with only ``pytorch_model.bin``
    is refused with one line, not loaded (a pickle can run code) and not a traceback.

        >>> try:
        ...     require_safetensors("/nonexistent/model.safetensors")
        ... except ModelFormatError as e:
        ...     print(e)
        no /nonexistent/model.safetensors: SecLLM loads safetensors weights only
    """
    p = Path(path)
    if p.is_file():
        return p
    d = p.parent
    pickles = sorted(q.name for q in d.iterdir() if q.suffix.lower() in PICKLE_SUFFIXES) if d.is_dir() else []
    if pickles:
        raise ModelFormatError(f"{d} holds {', '.join(pickles[:3])} but no {p.name}: SecLLM loads safetensors "
                               "weights only and never unpickles a .bin/.pt file (it can run code); convert it with "
                               "safetensors in a trusted environment or re-export the model")
    raise ModelFormatError(f"no {p}: SecLLM loads safetensors weights only")


def new_mlm(cfg: ModelConfig):
    """A randomly initialised masked-LM model of the given size."""
    from transformers import BertForMaskedLM

    return BertForMaskedLM(cfg.to_bert())


def _classifier_class():
    """``SecLLMClassifier``: the BERT encoder + mean-and-max pooled linear head.

    Why not BERT's [CLS] pooler: small models fine-tuned on short security strings collapse the
    [CLS] state (nearly identical for every input); pooling over all tokens keeps the signal of
    one malicious token (max) and of the whole input (mean). Defined lazily so that importing
    this module does not import torch.
    """
    global _CLASSIFIER
    if _CLASSIFIER is not None:
        return _CLASSIFIER
    import torch
    from torch import nn
    from transformers import BertModel, BertPreTrainedModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    class SecLLMClassifier(BertPreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.num_labels = config.num_labels
            self.bert = BertModel(config, add_pooling_layer=False)
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
            self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels)
            self.post_init()

        def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, **kwargs):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          inputs_embeds=inputs_embeds).last_hidden_state                 # (b, t, h)
            if attention_mask is None:
                attention_mask = torch.ones(h.shape[:2], dtype=torch.long, device=h.device)
            m = attention_mask.unsqueeze(-1).to(h.dtype)                                  # (b, t, 1)
            mean = (h * m).sum(1) / m.sum(1).clamp(min=1.0)                               # (b, h)
            mx = h.masked_fill(m == 0, torch.finfo(h.dtype).min).max(1).values            # (b, h)
            logits = self.classifier(self.dropout(torch.cat([mean, mx], -1)))             # (b, labels)
            loss = None
            if labels is not None:
                loss = nn.functional.cross_entropy(logits, labels)
            return SequenceClassifierOutput(loss=loss, logits=logits)

    _CLASSIFIER = SecLLMClassifier
    return SecLLMClassifier


_CLASSIFIER = None


def new_classifier(cfg: ModelConfig, num_labels: int):
    """A randomly initialised classifier (the "(b) random init" ablation)."""
    return _classifier_class()(cfg.to_bert(num_labels=num_labels))


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    p = Path(model_dir) / "secllm.json"
    if not p.exists():
        raise FileNotFoundError(f"{model_dir} is not a secllm model directory (no secllm.json); "
                                "make one with `secllm pretrain` or `secllm finetune`")
    meta = json.loads(p.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{p} is not a secllm model description")
    if meta.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{p} was written by a newer secllm (format {meta['version']}); upgrade secllm")
    return meta


def load_tokenizer_checked(model_dir: str | Path, meta: dict[str, Any] | None = None) -> SecTokenizer:
    meta = meta or read_meta(model_dir)
    tok = SecTokenizer.load(model_dir)
    want = meta.get("tokenizer_fingerprint")
    if want and tok.fingerprint() != want:
        raise ValueError(f"tokenizer.json in {model_dir} does not belong to these weights "
                         f"(fingerprint {tok.fingerprint()} != {want})")
    return tok


def save_model(model, tokenizer: SecTokenizer, cfg: ModelConfig, model_dir: str | Path,
               kind: str, **task: Any) -> Path:
    """Write the artifact directory (safetensors weights, configs, tokenizer)."""
    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    if model.config.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"model vocab {model.config.vocab_size} != tokenizer vocab {tokenizer.vocab_size}")
    model.save_pretrained(str(d), safe_serialization=True)
    tokenizer.save(d)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "model_config": cfg.to_json(),
        "tokenizer_fingerprint": tokenizer.fingerprint(),
        **task,
    }
    (d / "secllm.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return d


def load_mlm(model_dir: str | Path):
    """Load a pretrained base: ``(model, tokenizer, ModelConfig, meta)``."""
    from transformers import BertForMaskedLM

    from secllm.model.quiet import quiet_libraries

    quiet_libraries()
    meta = read_meta(model_dir)
    require_safetensors(Path(model_dir) / "model.safetensors")
    tok = load_tokenizer_checked(model_dir, meta)
    model = BertForMaskedLM.from_pretrained(str(model_dir), use_safetensors=True)
    return model, tok, ModelConfig.from_json(meta["model_config"]), meta


def load_classifier(model_dir: str | Path, num_labels: int | None = None, from_base: bool = False):
    """Load a classifier; ``from_base=True`` initialises a fresh head on a pretrained MLM base."""
    from transformers.utils import logging as hf_logging

    from secllm.model.quiet import quiet_libraries

    quiet_libraries()
    meta = read_meta(model_dir)
    require_safetensors(Path(model_dir) / "model.safetensors")
    tok = load_tokenizer_checked(model_dir, meta)
    kwargs: dict[str, Any] = {"use_safetensors": True}
    if num_labels is not None:
        kwargs["num_labels"] = num_labels
    verbosity = hf_logging.get_verbosity()
    if from_base:
        # the "newly initialized classifier weights" warning is expected here
        hf_logging.set_verbosity_error()
    try:
        model = _classifier_class().from_pretrained(str(model_dir), **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
    return model, tok, ModelConfig.from_json(meta["model_config"]), meta
