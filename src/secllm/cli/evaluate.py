"""`secllm eval`: honest evaluation of the web-attack detector and every registered task."""

from __future__ import annotations

from pathlib import Path

import click

from secllm.cli.common import csv_list


class _TaskEvalGroup(click.Group):
    """``secllm eval NAME`` also resolves any registered task (besides the explicit commands)."""

    def list_commands(self, ctx):
        # listed in `secllm eval --help` too, not only resolved when typed
        from secllm.tasks.registry import list_tasks

        return sorted(set(super().list_commands(ctx)) | set(list_tasks()))

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            return cmd
        from secllm.tasks.registry import list_tasks

        if cmd_name in list_tasks():
            return _eval_task_command(cmd_name)
        return None


def _eval_task_command(task: str) -> click.Command:
    @click.command(task, help=f"Evaluate the {task} task: fine-tunes (pretrained, random init), baselines, report.",
                   short_help=f"Evaluate the {task} task: fine-tunes vs baselines.")
    @click.option("--base", "base_dir", type=click.Path(file_okay=False, exists=True), default=None,
                  help="Pretrained base: fine-tune from it (and from random init, same recipe).")
    @click.option("--model", "models", multiple=True, type=click.Path(file_okay=False, exists=True),
                  help="Already fine-tuned model or multi-task directory to evaluate (repeatable).")
    @click.option("--out", default=f"reports/{task}", show_default=True, type=click.Path(file_okay=False))
    @click.option("--datasets", envvar="SECLLM_DATASETS", type=click.Path(file_okay=False), default=None)
    @click.option("--limit", type=int, default=None, help="Cap rows per split (smoke runs).")
    @click.option("--epochs", default=3, show_default=True)
    @click.option("--max-minutes", type=float, default=None, help="Time cap per fine-tune.")
    @click.option("--probe", is_flag=True, help="Also a frozen-base linear probe (ablation).")
    @click.option("--lora", is_flag=True, help="Also a LoRA adapter on the shared base.")
    @click.option("--no-random", is_flag=True, help="Skip the random-init ablation.")
    @click.option("--bootstrap", default=200, show_default=True)
    def cmd(base_dir, models, out, datasets, limit, epochs, max_minutes, probe, lora, no_random, bootstrap):
        from secllm.tasks.evaluate import TaskEvalConfig, run_task_eval
        from secllm.tasks.finetune import FinetuneConfig

        if not base_dir and not models:
            raise click.UsageError("give --base DIR (fine-tune and evaluate) and/or --model DIR (evaluate)")
        cfg = TaskEvalConfig(task=task, out=Path(out), base=Path(base_dir) if base_dir else None,
                             models={f"secllm-model-{i + 1}" if len(models) > 1 else "secllm-model": Path(m)
                                     for i, m in enumerate(models)},
                             datasets=Path(datasets) if datasets else None, limit=limit, random_init=not no_random,
                             probe=probe, lora=lora, finetune=FinetuneConfig(epochs=epochs, max_minutes=max_minutes),
                             bootstrap=bootstrap, progress=True)
        try:
            index = run_task_eval(cfg)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"reports: {Path(out)}  ({', '.join(index['reports'])})")

    return cmd


@click.group("eval", cls=_TaskEvalGroup)
def eval_group():
    """Evaluate detectors honestly: rule engines, shallow baselines, cross-source, evasion, ablations."""


@eval_group.command("web-attack")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Fine-tuned SecLLM model (default: the shipped model).")
@click.option("--random", "random_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Same recipe from random initialisation (ablation).")
@click.option("--probe", "probe_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Frozen base + linear probe (ablation).")
@click.option("--model-no1book", type=click.Path(file_okay=False, exists=True), default=None,
              help="A model fine-tuned with --no-1book, for the cross-source 1book test.")
@click.option("--out", default="reports/eval-web-attack", show_default=True, type=click.Path(file_okay=False))
@click.option("--data", "data_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Your own labeled data: CSV or JSONL with text,label (benign/norm/normal/0 = benign).")
@click.option("--crs/--no-crs", default=True, show_default=True,
              help="OWASP CRS in ModSecurity (needs nginx + libnginx-mod-http-modsecurity + modsecurity-crs).")
@click.option("--paranoia", default="1,2,3,4", show_default=True, help="CRS paranoia levels to report.")
@click.option("--sample", type=int, default=None, help="Seeded stratified sample of N items per test set.")
@click.option("--datasets", envvar="SECLLM_DATASETS", type=click.Path(file_okay=False), default=None)
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", type=int, default=None, help="CPU threads for the models.")
@click.option("--bootstrap", default=200, show_default=True, help="Bootstrap resamples for 95% intervals (0: off).")
@click.option("--evasion/--no-evasion", default=True, show_default=True)
@click.option("--evasion-items", default=200, show_default=True, help="SQLi and XSS originals to mutate, each.")
@click.option("--tampers", default="default", show_default=True,
              help="sqlmap tamper scripts, comma-separated; 'default' = ten common ones, 'none' = no tampers.")
@click.option("--ablations", is_flag=True, help="Fine-tune the ablations from --base (slow).")
@click.option("--base", "base_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Pretrained base for --ablations.")
@click.option("--families", default="sqli,xss,cmdi,path-traversal", show_default=True,
              help="Attack families for leave-one-family-out.")
@click.option("--fractions", default="0.01,0.1", show_default=True, help="Low-label fractions.")
@click.option("--ablation-epochs", default=3, show_default=True)
@click.option("--ablation-max-minutes", type=float, default=None, help="Time cap per ablation fine-tune.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes for the fits (ablation fine-tunes, TF-IDF baselines), one CPU thread each.")
def eval_web_attack(model_dir, random_dir, probe_dir, model_no1book, out, data_file, crs, paranoia, sample, datasets,
                    seed, threads, bootstrap, evasion, evasion_items, tampers, ablations, base_dir, families,
                    fractions, ablation_epochs, ablation_max_minutes, jobs):
    """Evaluate the web-attack detector on the test splits and write a report directory.

    Systems: SecLLM models, OWASP CRS at each paranoia level, libinjection, TF-IDF + LR and a
    length-only shortcut; tests: in-source, cross-source, evasion, your --data, and (--ablations)
    leave-one-family-out, low-label and linear probe.
    """
    from secllm.eval.evasion import DEFAULT_TAMPERS
    from secllm.eval.web_eval import LeakageError, WebEvalConfig, run_web_eval
    from secllm.paths import DEFAULT_MODEL_DIR
    from secllm.tasks.finetune import FinetuneConfig

    if ablations and not base_dir:
        raise click.UsageError("--ablations needs --base DIR (a pretrained base)")
    try:
        levels = csv_list(paranoia, int)
    except ValueError as exc:
        raise click.UsageError(f"--paranoia: {exc}") from exc
    if not levels or any(not 1 <= lv <= 4 for lv in levels):
        raise click.UsageError("--paranoia takes levels 1..4, e.g. 1,2,3,4")
    models = {}
    if model_dir:
        models["secllm-pretrained"] = Path(model_dir)
    elif (DEFAULT_MODEL_DIR / "secllm.json").is_file():
        models["secllm-pretrained"] = DEFAULT_MODEL_DIR
    else:
        click.echo(f"warning: no --model and no shipped model in {DEFAULT_MODEL_DIR}: evaluating the baselines only",
                   err=True)
    if random_dir:
        models["secllm-random-init"] = Path(random_dir)
    if probe_dir:
        models["secllm-linear-probe"] = Path(probe_dir)
    cfg = WebEvalConfig(
        out=Path(out), models=models, model_no1book=Path(model_no1book) if model_no1book else None,
        datasets=Path(datasets) if datasets else None, data_file=Path(data_file) if data_file else None,
        crs=crs, paranoia=levels, sample=sample, seed=seed, threads=threads, bootstrap=bootstrap,
        evasion=evasion, evasion_items=evasion_items,
        tampers=DEFAULT_TAMPERS if tampers == "default" else () if tampers == "none" else csv_list(tampers),
        ablations=ablations,
        base=Path(base_dir) if base_dir else None, families=csv_list(families),
        fractions=csv_list(fractions, float),
        ablation_cfg=FinetuneConfig(epochs=ablation_epochs, max_minutes=ablation_max_minutes), jobs=jobs,
        progress=True,  # a run takes minutes: say what it is doing (stderr)
    )
    try:
        index = run_web_eval(cfg)
    except (FileNotFoundError, LeakageError, RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"report: {Path(out) / 'report.md'}  ({len(index['reports'])} test sets)")
