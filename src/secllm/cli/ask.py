"""`secllm ask` and `secllm chat`: ask SecLLM in Chinese or English (the embedded assistant, or an
OpenAI-compatible LLM when ``--llm-url`` / ``SECLLM_LLM_URL`` is set)."""

from __future__ import annotations

import json
import sys

import click


def _assistant(llm_url, llm_model, llm_key):
    from secllm.assistant import Assistant, LLMAssistant, LLMConfig, LLMError

    if not llm_url:
        return Assistant()
    try:
        return LLMAssistant(LLMConfig(llm_url.rstrip("/"), llm_model or "default", llm_key or ""))
    except LLMError as exc:
        raise click.ClickException(str(exc)) from exc


def _echo_reply(reply, out_json: bool) -> None:
    from secllm.html_escape import term_safe

    if out_json:
        click.echo(json.dumps(reply.to_json(), ensure_ascii=False))
        return
    for line in reply.answer.split("\n"):          # answers quote hostile input: no terminal controls
        click.echo(term_safe(line))
    if reply.citations:
        click.echo(("引用：" if reply.language == "zh" else "cites: ") + ", ".join(reply.citations))


def _ask_once(asst, question: str, files) -> object:
    from secllm.assistant import LLMError

    try:
        return asst.ask(question, list(files))
    except LLMError as exc:
        raise click.ClickException(str(exc)) from exc


_LLM_OPTS = [
    click.option("--llm-url", envvar="SECLLM_LLM_URL", default=None,
                 help="OpenAI-compatible endpoint (…/v1) to drive the tools; default: the embedded assistant."),
    click.option("--llm-model", envvar="SECLLM_LLM_MODEL", default=None, help="Model name at that endpoint."),
    click.option("--llm-key", envvar="SECLLM_LLM_KEY", default=None, help="API key for that endpoint."),
]


def _llm_options(fn):
    for opt in reversed(_LLM_OPTS):
        fn = opt(fn)
    return fn


@click.command()
@click.argument("question")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "out_json", is_flag=True,
              help='JSON: {"answer", "language", "intent", "arguments", "tool_calls", "citations"}.')
@_llm_options
def ask(question, files, out_json, llm_url, llm_model, llm_key):
    """Ask a security question in Chinese or English; FILES are scanned when the question is about them.

    \b
    secllm ask "请帮我检查这个请求是否是SQL注入: id=1' or 1=1--"
    secllm ask "What is T1190 and how do I mitigate it?"
    secllm ask "what happened in these logs?" access.log --json
    """
    asst = _assistant(llm_url, llm_model, llm_key)
    _echo_reply(_ask_once(asst, question, files), out_json)


@click.command()
@click.option("--json", "out_json", is_flag=True, help="One JSON reply per line.")
@_llm_options
def chat(out_json, llm_url, llm_model, llm_key):
    """A terminal conversation that keeps context ("and the second one?"). Files: `/file PATH…`
    then the question; `/quit` (or Ctrl-D) ends it."""
    import shlex

    asst = _assistant(llm_url, llm_model, llm_key)
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo("SecLLM — ask in Chinese or English; /file PATH… to give files; /quit to end.")
    files: list[str] = []
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit", "/q"):
            break
        if line.startswith("/file"):
            try:
                files = shlex.split(line[5:])
            except ValueError as exc:
                click.echo(f"error: {exc}", err=True)
            continue
        try:
            reply = asst.ask(line, files)
        except Exception as exc:  # noqa: BLE001 — one failed question must not end the session
            click.echo(f"error: {type(exc).__name__}: {str(exc)[:200]}", err=True)
            continue
        files = []
        _echo_reply(reply, out_json)
