"""`secllm corpus build` and `secllm pretrain`: the unlabeled corpus and the base model."""

from __future__ import annotations

import json

import click


@click.group()
def corpus():
    """Build the unlabeled pretraining corpus."""


@corpus.command("build")
@click.option("--datasets", envvar="SECLLM_DATASETS", type=click.Path(file_okay=False), default=None,
              help="Folder of the public datasets (default: ../shared/datasets when found).")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--source", "sources", multiple=True, help="Only these sources (repeatable).")
def corpus_build(datasets, out, sources):
    """Training (and validation) splits of every source → desensitised corpus.jsonl."""
    from secllm.paths import datasets_dir
    from secllm.pretrain.recipe import build_corpus_from_datasets

    from secllm.data.sources import ALL_SOURCES

    unknown = [s for s in sources if s not in ALL_SOURCES]
    if unknown:
        raise click.BadParameter(f"unknown source {', '.join(map(repr, unknown))}; known: {', '.join(ALL_SOURCES)}",
                                 param_hint="--source")
    try:
        root = datasets_dir(datasets)
        m = build_corpus_from_datasets(root, out, list(sources) or None)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"train_rows": m["train"]["rows"], "val_rows": m["val"]["rows"],
                           "by_modality": m["train"]["by_modality"]}, indent=2))


@click.command()
@click.option("--corpus", "corpus_dir", required=True, type=click.Path(file_okay=False, exists=True),
              help="Output of `secllm corpus build`.")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--size", default="cpu-small", show_default=True, help="Model preset or JSON config file.")
@click.option("--steps", default=3000, show_default=True)
@click.option("--max-minutes", type=float, default=None, help="Stop (and save) after this many minutes.")
@click.option("--batch-tokens", default=4096, show_default=True)
@click.option("--max-length", default=128, show_default=True)
@click.option("--lr", default=5e-4, show_default=True)
@click.option("--tokenizer", "tokenizer_dir", type=click.Path(file_okay=False), default=None,
              help="Reuse a trained tokenizer instead of training one on the corpus.")
@click.option("--max-per-modality", default=60000, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.")
@click.option("--seed", default=0, show_default=True)
@click.option("--init", "init_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Continue pretraining this base (kind mlm; e.g. the shipped src/secllm/assets/tasks) on the "
                   "corpus instead of starting from random weights; keeps its tokenizer and size.")
@click.option("--warmup", default=200, show_default=True, help="Linear warm-up steps.")
@click.option("--accumulate", default=1, show_default=True, type=click.IntRange(1, 1024),
              help="Batches per process per step (global batch = processes x accumulate x batch).")
@click.option("--log-every", default=20, show_default=True, type=click.IntRange(1, None),
              help="Write the training loss to OUT/metrics.jsonl every this many steps.")
@click.option("--decay-by-time", is_flag=True,
              help="With --max-minutes: decay the learning rate over the time budget as well as the steps.")
def pretrain(corpus_dir, out, size, steps, max_minutes, batch_tokens, max_length, lr, tokenizer_dir,
             max_per_modality, resume, seed, init_dir, warmup, accumulate, log_every,
             decay_by_time):
    """Masked-LM pretraining of a base model (runs unchanged under `accelerate launch`)."""
    from secllm.pretrain.recipe import run_pretrain
    from secllm.pretrain.trainer import PretrainConfig

    if init_dir and tokenizer_dir:
        raise click.UsageError("--init keeps the base's tokenizer; drop --tokenizer")
    if decay_by_time and not max_minutes:
        raise click.UsageError("--decay-by-time needs --max-minutes")
    cfg = PretrainConfig(size=size, steps=steps, max_minutes=max_minutes, batch_tokens=batch_tokens,
                         max_length=max_length, lr=lr, seed=seed, warmup=warmup, decay_by_time=decay_by_time,
                         accumulate=accumulate, log_every=log_every)
    try:
        path = run_pretrain(corpus_dir, out, cfg=cfg, tokenizer_dir=tokenizer_dir,
                            max_per_modality=max_per_modality, resume=resume, init_dir=init_dir)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"base model: {path}")
