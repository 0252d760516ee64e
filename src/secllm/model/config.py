"""Model size presets. Config is data: a typed dataclass, saved as JSON beside the weights.

    >>> cfg = preset("tiny")
    >>> cfg.hidden_size, cfg.num_layers
    (32, 2)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelConfig:
    name: str = "cpu-small"
    vocab_size: int = 8192
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 1024
    max_position: int = 256
    dropout: float = 0.1

    def to_bert(self, **extra):
        """The Hugging Face ``BertConfig`` this preset stands for."""
        from transformers import BertConfig

        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_position,
            type_vocab_size=1,
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.dropout,
            pad_token_id=0,
            **extra,
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**d)


PRESETS: dict[str, ModelConfig] = {
    # tests: seconds on a CPU
    "tiny": ModelConfig("tiny", vocab_size=1024, hidden_size=32, num_layers=2, num_heads=2,
                        intermediate_size=64, max_position=128),
    # the shipped default: pretrains in about an hour on 2 CPU cores, ~5M parameters
    "cpu-small": ModelConfig("cpu-small"),
    # the cascade's fast first model (secllm.detect.cascade): ~16x fewer operations per token
    "cpu-fast": ModelConfig("cpu-fast", hidden_size=128, num_layers=2, num_heads=2, intermediate_size=512),
    # GPU sizes: same code, launched under `accelerate launch`
    "base": ModelConfig("base", vocab_size=16384, hidden_size=512, num_layers=8, num_heads=8,
                        intermediate_size=2048, max_position=512),
    "large": ModelConfig("large", vocab_size=32000, hidden_size=768, num_layers=12, num_heads=12,
                         intermediate_size=3072, max_position=512),
}


def preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model size {name!r}; choose one of {sorted(PRESETS)} "
                         "or pass a JSON config file") from None


def load_config(name_or_path: str) -> ModelConfig:
    """A preset name or a JSON file holding ModelConfig fields."""
    p = Path(name_or_path)
    if p.suffix == ".json" and p.exists():
        return ModelConfig.from_json(json.loads(p.read_text()))
    return preset(name_or_path)
