"""A small OpenAI-compatible chat endpoint for a (LoRA-tuned) causal LM: ``POST /v1/chat/completions``.

    >>> app = create_app(load("runs/sft/smollm2-135m-instruct", "runs/sft/lora/adapter"))   # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8081)  — `secllm sft serve` does this

Request: ``{"model", "messages", "tools"?, "max_tokens"?, "temperature"?}`` (OpenAI chat format;
``tool`` messages and assistant ``tool_calls`` are accepted). When ``tools`` is given they are
listed in a system turn, as in training (:func:`secllm.sft.sources.tools.system_prompt` format);
``<tool_call>`` blocks the model writes come back as OpenAI ``tool_calls`` with
``finish_reason: "tool_calls"``, so an OpenAI client (the assistant's LLM mode) drives its tools
through it unchanged. Streaming is not implemented (``stream: true`` is refused with 400).
The server is meant for 127.0.0.1: the CLI binds there by default.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from secllm.sft.chat import parse_tool_calls, prompt_ids
from secllm.sft.evaluate import LoadedModel, load

__all__ = ["create_app", "load"]

MAX_TOKENS = 1024


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat request this server reads (others are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    stream: bool = False


def _tools_system(tools: list[dict[str, Any]]) -> str:
    specs = json.dumps([t.get("function", t) for t in tools], ensure_ascii=False)
    return "Call a tool when you need facts; answer only from tool results. Tools (JSON): " + specs + \
        "\nTo call one, write <tool_call>{\"name\": ..., \"arguments\": {...}}</tool_call>."


def create_app(lm: LoadedModel):
    """The FastAPI app serving ``lm`` (one generation at a time: the model is not thread-safe)."""
    import torch
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="SecLLM SFT model", version="1")
    lock = threading.Lock()

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": lm.name, "object": "model", "owned_by": "secllm"}]}

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest) -> dict:
        if req.stream:
            raise HTTPException(400, "stream is not supported by this server")
        msgs = [dict(m) for m in req.messages]
        for m in msgs:
            if m.get("role") not in ("system", "user", "assistant", "tool"):
                raise HTTPException(400, f"unknown role {m.get('role')!r}")
            if isinstance(m.get("content"), list):       # OpenAI content parts: keep the text ones
                m["content"] = "".join(p.get("text", "") for p in m["content"] if isinstance(p, dict))
        if req.tools:
            sys_text = _tools_system(req.tools)
            if msgs and msgs[0]["role"] == "system":
                msgs[0] = {"role": "system", "content": f"{msgs[0].get('content') or ''}\n{sys_text}"}
            else:
                msgs.insert(0, {"role": "system", "content": sys_text})
        n_new = max(1, min(req.max_completion_tokens or req.max_tokens or 256, MAX_TOKENS))
        try:
            p = prompt_ids(lm.tokenizer, msgs)
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(400, f"cannot render these messages: {exc}") from exc
        dev = next(lm.model.parameters()).device
        ids = torch.tensor([p], device=dev)
        sample = bool(req.temperature and req.temperature > 0)
        kw = {"do_sample": True, "temperature": req.temperature} if sample else {"do_sample": False}
        with lock, torch.no_grad():
            out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_new,
                                    pad_token_id=lm.tokenizer.pad_token_id, **kw)
        new = out[0, len(p):]
        text = lm.tokenizer.decode(new, skip_special_tokens=True)
        calls, rest = parse_tool_calls(text) if req.tools else ([], text)
        msg: dict[str, Any] = {"role": "assistant", "content": rest if not calls else (rest or None)}
        finish = "length" if len(new) >= n_new else "stop"
        if calls:
            msg["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                                  "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
                                 for c in calls]
            finish = "tool_calls"
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion", "created": int(time.time()),
                "model": req.model or lm.name,
                "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                "usage": {"prompt_tokens": len(p), "completion_tokens": int(len(new)),
                          "total_tokens": len(p) + int(len(new))}}

    return app
