"""Instruction tuning (floor 3, training code): a recipe that turns an open causal LM into a SecLLM
assistant model. The serving path and the assistant never import this package; they reach a tuned
model over its OpenAI-compatible endpoint.

    secllm sft data  --out runs/sft/data                   # instructions with provenance + DATA_CARD.md
    secllm sft train --model HF_DIR --data runs/sft/data --out runs/sft/lora [--resume]
    secllm sft eval  --model HF_DIR [--adapter runs/sft/lora/adapter]
    secllm sft serve --model HF_DIR [--adapter ...]        # POST /v1/chat/completions on 127.0.0.1

Modules: ``records`` (the instruction record), ``sources/`` (one module per origin), ``build``
(dedupe, MCQ-overlap filter, group split, data card), ``mcq`` (the evaluation-only MCQ sets),
``chat`` (chat-template encoding, assistant-only labels, tool-call text), ``train`` (LoRA SFT),
``evaluate`` (MCQ log-likelihood / generation, instruction metrics), ``serve`` (the endpoint),
``gguf`` (a GGUF inside a package → a model directory).

    >>> from secllm.sft import Instruction, TrainConfig
    >>> TrainConfig().lora_r
    8
"""

from __future__ import annotations

from secllm.sft.build import BuildReport, build_dataset, deduplicate
from secllm.sft.chat import Encoded, TemplateError, encode, flatten, parse_tool_calls
from secllm.sft.mcq import MCQ, load_cybermetric, load_seceval
from secllm.sft.records import Instruction, load_split, read_jsonl, write_jsonl
from secllm.sft.train import TrainConfig, TrainResult, train

__all__ = ["Instruction", "read_jsonl", "write_jsonl", "load_split", "build_dataset", "BuildReport", "deduplicate",
           "MCQ", "load_cybermetric", "load_seceval", "encode", "Encoded", "flatten", "parse_tool_calls",
           "TemplateError", "TrainConfig", "TrainResult", "train"]
