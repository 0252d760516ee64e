"""`secllm finetune`: a task head or adapter on labeled data."""

from __future__ import annotations

import click


@click.command()
@click.argument("task")
@click.option("--base", "base_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Pretrained base (kind mlm). Without it: --random-init.")
@click.option("--random-init", is_flag=True, help="Same architecture, random weights (ablation).")
@click.option("--size", default="cpu-small", show_default=True, help="Preset for --random-init.")
@click.option("--tokenizer", "tokenizer_dir", type=click.Path(file_okay=False), default=None,
              help="Tokenizer for --random-init (default: the base's).")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--datasets", envvar="SECLLM_DATASETS", type=click.Path(file_okay=False), default=None)
@click.option("--no-1book", is_flag=True, help="Leave the 1book URLs out of training (cross-source test).")
@click.option("--epochs", default=3, show_default=True)
@click.option("--lr", default=2e-4, show_default=True)
@click.option("--max-minutes", type=float, default=None)
@click.option("--freeze-base", is_flag=True, help="Linear probe: train the head only.")
@click.option("--adapter", "adapter", type=click.Choice(["none", "lora", "head"]), default="none", show_default=True,
              help="Other tasks: train a LoRA (or head-only) adapter into OUT/adapters/TASK on the shared --base.")
@click.option("--device", default="auto", show_default=True,
              help="Full fine-tunes: auto (a CUDA GPU when PyTorch sees one, bf16 autocast), cpu, cuda, cuda:N.")
@click.option("--seed", default=0, show_default=True,
              help="Seeds the new head's / adapter's initialisation and the batch order (run-to-run variance).")
def finetune(task, base_dir, random_init, size, tokenizer_dir, out, datasets, no_1book, epochs, lr,
             max_minutes, freeze_base, adapter, device, seed):
    """Fine-tune a task head on labeled data (model selection on validation only).

    TASK is web-attack or any task of `secllm.tasks.registry` (url, script, traffic, log-hdfs,
    log-bgl, cti-attack, evtx-tactic).
    """
    from secllm.paths import check_task_name

    try:
        check_task_name(task)             # it names directories (OUT/adapters/TASK)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if task != "web-attack":
        _finetune_task(task, base_dir, random_init, size, tokenizer_dir, out, datasets, epochs, lr, max_minutes,
                       freeze_base, adapter, device, seed)
        return
    from secllm.model.config import load_config
    from secllm.paths import datasets_dir
    from secllm.tasks.finetune import FinetuneConfig
    from secllm.tasks.finetune import finetune as run_finetune
    from secllm.tasks.web_attack import LABELS, load_web_attack
    from secllm.tokenizer import SecTokenizer

    if not base_dir and not random_init:
        raise click.UsageError("give --base DIR (a pretrained base) or --random-init")
    try:
        root = datasets_dir(datasets)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    data = load_web_attack(root, use_1book=not no_1book)
    data.pop("_dropped_overlap", None)
    cfg = FinetuneConfig(epochs=epochs, lr=lr, max_minutes=max_minutes, freeze_base=freeze_base, device=device,
                         seed=seed)
    kw = {}
    if random_init:
        tdir = tokenizer_dir or base_dir
        if not tdir:
            raise click.UsageError("--random-init needs --tokenizer DIR (or --base to borrow its tokenizer)")
        kw = {"tokenizer": SecTokenizer.load(tdir), "model_cfg": load_config(size)}
    path = run_finetune(data["train"], data["val"], LABELS, out, base_dir=None if random_init else base_dir,
                        cfg=cfg, task=task, **kw)
    click.echo(f"model: {path}")


def _finetune_task(task, base_dir, random_init, size, tokenizer_dir, out, datasets, epochs, lr, max_minutes,
                   freeze_base, adapter, device="auto", seed=0):
    """``secllm finetune NAME`` for the registered tasks other than web-attack."""
    from secllm.model.config import load_config
    from secllm.paths import datasets_dir
    from secllm.tasks.finetune import FinetuneConfig
    from secllm.tasks.finetune import finetune as run_finetune
    from secllm.tasks.registry import get_task, list_tasks
    from secllm.tokenizer import SecTokenizer

    try:
        spec = get_task(task)
    except KeyError:
        raise click.UsageError(f"unknown task {task!r}; available: {', '.join(list_tasks())}") from None
    if not base_dir and not random_init:
        raise click.UsageError("give --base DIR (a pretrained base) or --random-init")
    try:
        data = spec.load(datasets_dir(datasets))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    labels = spec.label_set(data)
    train, val = data.splits["train"], data.splits["val"]
    if adapter != "none":
        from secllm.tasks.adapt import train_adapter

        if not base_dir:
            raise click.UsageError("--adapter needs --base DIR (the shared base)")
        d = train_adapter(base_dir, task, train, val, labels, out, lora=adapter == "lora",
                          benign_label=spec.benign_label,
                          cfg=FinetuneConfig(epochs=epochs, lr=lr if lr != 2e-4 else 2e-3, max_minutes=max_minutes,
                                             seed=seed))
        click.echo(f"adapter: {d}")
        return
    cfg = FinetuneConfig(epochs=epochs, lr=lr, max_minutes=max_minutes, freeze_base=freeze_base, device=device,
                         seed=seed)
    kw = {}
    if random_init:
        tdir = tokenizer_dir or base_dir
        if not tdir:
            raise click.UsageError("--random-init needs --tokenizer DIR (or --base to borrow its tokenizer)")
        kw = {"tokenizer": SecTokenizer.load(tdir), "model_cfg": load_config(size)}
    path = run_finetune(train, val, labels, out, base_dir=None if random_init else base_dir, cfg=cfg, task=task,
                        benign_label=spec.benign_label, extra_meta={"split_rule": spec.split_rule}, **kw)
    click.echo(f"model: {path}")
