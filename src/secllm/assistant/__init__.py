"""The language interface: ask SecLLM in Chinese or English (floor 6: above detect, knowledge,
profile and scan; below serve and cli).

    >>> from secllm.assistant import Assistant                             # doctest: +SKIP
    >>> r = Assistant().ask("请帮我检查这个请求是否是SQL注入: id=1' or 1=1--")   # doctest: +SKIP
    >>> r.language, r.intent, r.citations                                  # doctest: +SKIP
    ('zh', 'judge', ['CWE-89', 'T1190'])

The embedded default needs no generative model and no network: :func:`parse` finds the intent
and arguments by patterns and cue words, a :class:`Toolbox` runs the project's own read-only
tools (the routed detectors, scan, the ATT&CK/CWE catalogues and search, learning-mode profiles),
and the answer is written from their results (:class:`Reply` carries the tool calls and the
citations). :class:`LLMAssistant` optionally drives the same tools through any OpenAI-compatible
chat endpoint (``secllm.assistant.llm``). Method and measurements: ``docs/assistant.md``.
"""

from secllm.assistant.intents import INTENTS, Parsed, detect_language, parse
from secllm.assistant.llm import LLMAssistant, LLMConfig, LLMError
from secllm.assistant.session import Assistant, Reply, ToolCall
from secllm.assistant.tools import TOOL_SPECS, Toolbox

__all__ = ["INTENTS", "Parsed", "detect_language", "parse", "Assistant", "Reply", "ToolCall", "Toolbox",
           "TOOL_SPECS", "LLMAssistant", "LLMConfig", "LLMError"]
