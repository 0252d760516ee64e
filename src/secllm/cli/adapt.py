"""`secllm adapt`: a new class or task from a handful of examples."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--task", required=True, help="Task to extend (or to create on --base).")
@click.option("--examples", "examples_file", required=True, type=click.Path(dir_okay=False, exists=True),
              help='JSONL, one {"text": ..., "label": ...} per line: the new class(es), plus old-class rows if any.')
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False), default=None,
              help="Model holding the task (classifier dir or multi-task dir; default: the shipped model).")
@click.option("--base", "base_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Shared base: create the task as a new adapter on it (OUT becomes a multi-task directory).")
@click.option("--method", type=click.Choice(["auto", "linear", "prototype"]), default="auto", show_default=True,
              help="How the new head rows are fitted (auto: linear when old-class rows are given).")
@click.option("--lora/--no-lora", default=False, show_default=True,
              help="With --base: train a LoRA adapter too, not only the head.")
@click.option("--epochs", default=5, show_default=True, help="With --base: adapter training epochs.")
@click.option("--max-old-flip", type=click.FloatRange(0, 1), default=0.005, show_default=True,
              help="Linear method: lower the new class's bias until at most this share of held-out old-class "
                   "examples would move to it in what the task serves (1 = no guard).")
@click.option("--guard-examples", "guard_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="JSONL of old-class rows ({\"text\", \"label\"}) used only to set that bias (never fitted on): "
                   "a few hundred measure a 0.5% share far better than the examples' own halves.")
def adapt(task, examples_file, out, model_dir, base_dir, method, lora, epochs, max_old_flip, guard_file):
    """Add a new class (or a new task) from a handful of labeled examples, without retraining the base.

    With --model (or the shipped model) what the task serves grows by one row per new label — its
    adapter's head, and its lexical head, head + adapter ensemble or text head where validation chose
    one; encoder and old rows stay frozen, so old-class scores do not change. With --base the examples define a new
    task, trained as a head (or --lora adapter) on the frozen shared base.
    """
    from secllm.data.records import MODALITIES
    from secllm.paths import check_task_name, default_model_dir
    from secllm.tasks.adapt import adapt_model_dir, read_examples_jsonl, train_adapter
    from secllm.tasks.finetune import FinetuneConfig
    from secllm.tasks.registry import get_task

    try:
        check_task_name(task)             # it becomes a directory under --out: no "../../x"
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        spec = get_task(task)
        modality, prep = spec.modality, spec.prep
    except KeyError:
        spec, modality, prep = None, "payload", None      # a brand-new task: text as it is
    ex, skipped = read_examples_jsonl(examples_file, modality, prep)
    if skipped:
        click.echo(f"warning: {skipped} example rows skipped (no text/label, or not valid for {task})", err=True)
    if not len(ex):
        raise click.ClickException(f"no usable examples in {examples_file}")
    try:
        if base_dir:
            if modality not in MODALITIES:
                raise ValueError(f"unknown modality {modality!r}")
            labels = list(spec.labels) if spec and spec.labels and set(ex.labels) <= set(spec.labels) \
                else sorted(set(ex.labels))
            benign = spec.benign_label if spec else ("benign" if "benign" in labels else None)
            d = train_adapter(base_dir, task, ex, ex, labels, out, lora=lora, benign_label=benign,
                              cfg=FinetuneConfig(epochs=epochs, lr=2e-3))
            click.echo(json.dumps({"adapter": str(d), "labels": labels, "examples": len(ex),
                                   "note": "validation = the examples themselves (too few to hold out)"}))
            return
        guard = None
        if guard_file:
            guard, gskipped = read_examples_jsonl(guard_file, modality, prep)
            if gskipped:
                click.echo(f"warning: {gskipped} guard rows skipped", err=True)
        info = adapt_model_dir(model_dir or default_model_dir(task), task, ex, out, method=method,
                               max_old_flip=None if max_old_flip >= 1 else max_old_flip, guard_examples=guard)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"out": out, **info}))
