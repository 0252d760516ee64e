"""One module per origin of instructions. Each exposes ``build(...) -> list[Instruction]`` and an
``ORIGINS`` table (dataset or catalogue → licence) that the data card reads.

- :mod:`~secllm.sft.sources.labelled`: verdict + evidence explanations of labelled training items
  (the dataset's label is the verdict; the shipped detector's evidence spans are quoted when the
  detector agrees with the label).
- :mod:`~secllm.sft.sources.knowledge`: what / how to detect / how to mitigate, ATT&CK and CWE, en + zh.
- :mod:`~secllm.sft.sources.tools`: tool-calling traces (question → tool call → result → answer).
- :mod:`~secllm.sft.sources.incidents`: incident summaries from ``secllm incidents --json`` output.

Sources that need a tool from a higher floor (the detector, scan) take it as a callable: the CLI
wires the real one in, tests pass a stand-in.
"""

from __future__ import annotations

from secllm.sft.sources import incidents, knowledge, labelled, tools

__all__ = ["labelled", "knowledge", "tools", "incidents"]
