"""`secllm models`: inspect, fit heads for and export model directories."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def models():
    """Inspect, export and extend model directories (ONNX graphs, lexical and text heads)."""


@models.command("info")
@click.argument("model_dir", required=False, type=click.Path(file_okay=False))
def models_info(model_dir):
    """Show a model directory's description (default: the shipped web-attack model).

    MODEL_DIR may also be the shipped base of the other tasks: the package's `secllm/assets/tasks` directory."""
    from secllm.model.modeling import read_meta
    from secllm.paths import DEFAULT_MODEL_DIR

    d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    try:
        meta = read_meta(d)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"path": str(d), **meta}, indent=2, ensure_ascii=False))


@models.command("lexical-heads")
@click.argument("model_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--task", "tasks", multiple=True, required=True, help="Task name (repeatable), or `all` (every adapter).")
@click.option("--datasets", envvar="SECLLM_DATASETS", type=click.Path(file_okay=False), default=None)
def models_lexical_heads(model_dir, tasks, datasets):
    """Fit a lexical head per task (token-bag logistic regression over the base tokenizer, C chosen
    on validation) into MODEL_DIR/lexical/<task>/; it is served instead of the task's adapter only
    where its validation macro-F1 is higher."""
    from secllm.tasks.head_fit import main_lexical as heads_main

    args = [str(model_dir)] + [x for t in tasks for x in ("--task", t)]
    if datasets:
        args += ["--datasets", str(datasets)]
    try:
        heads_main(args)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from exc


@models.command("text-heads")
@click.argument("model_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--task", "tasks", multiple=True, required=True, help="Task name (repeatable).")
@click.option("--datasets", envvar="SECLLM_DATASETS", type=click.Path(file_okay=False), default=None)
@click.option("--no-encoder", is_flag=True, help="Char n-grams only (no sentence encoder).")
def models_text_heads(model_dir, tasks, datasets, no_encoder):
    """Fit a text head per task (char n-gram TF-IDF + all-MiniLM-L6-v2 sentence embeddings, two
    logistic regressions averaged) beside its lexical head; served only where validation prefers it
    over what the task served before, beyond bootstrap noise."""
    from secllm.tasks.head_fit import main_text as text_main

    args = [str(model_dir)] + [x for t in tasks for x in ("--task", t)]
    if datasets:
        args += ["--datasets", str(datasets)]
    if no_encoder:
        args.append("--no-encoder")
    try:
        text_main(args)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from exc


@models.command("export")
@click.argument("model_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write a torch-free serving directory here (default: into MODEL_DIR).")
@click.option("--no-int8", is_flag=True, help="Skip the int8 (dynamic quantisation) graph.")
@click.option("--int8-only", is_flag=True, help="Keep only the int8 graph (about 4x smaller; what `serve` needs).")
@click.option("--task", default=None,
              help="Export this task's adapter of a multi-task directory (LoRA merged into the encoder), or `all` "
                   "(into OUT/<task>/, servable by `secllm serve --tasks-model OUT` without torch); needs --out.")
def models_export(model_dir, out_dir, no_int8, task, int8_only):
    """Export a fine-tuned model to ONNX (model.onnx, model.int8.onnx) for `--backend onnx`.

    With --task, a task adapter of a shared base (e.g. secllm/assets/tasks) becomes a standalone
    torch-free task directory: `secllm detect --task T --model OUT --backend onnx-int8`."""
    from secllm.runtime.onnx import export_onnx

    try:
        if not task:
            info = export_onnx(model_dir, out_dir, quantize=not no_int8)
            if int8_only and not no_int8:
                Path(info["onnx"]).unlink(missing_ok=True)
        else:
            from secllm.paths import adapter_tasks, check_task_name
            from secllm.tasks.adapt import export_task_onnx

            if task != "all":
                check_task_name(task)

            if not out_dir:
                raise click.UsageError("--task needs --out DIR (the merged task model is written there)")
            names = adapter_tasks(model_dir) if task == "all" else [task]
            if not names:
                raise click.ClickException(f"{model_dir} holds no task adapters")
            infos = {}
            for t in names:      # all: OUT/<task>/, what `secllm serve --tasks-model OUT` serves without torch
                dest = Path(out_dir) / t if task == "all" else Path(out_dir)
                info = infos[t] = export_task_onnx(model_dir, t, dest, quantize=not no_int8, int8_only=int8_only)
                if task == "all":
                    click.echo(f"{t}: {dest}", err=True)
            if task == "all":
                click.echo(json.dumps({t: i["parity"] for t, i in infos.items()}, indent=2))
                return
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from exc
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({k: info[k] for k in ("onnx", "int8", "parity")}, indent=2))
