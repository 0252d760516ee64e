"""The ``secllm`` command line: a thin layer over the library.

    secllm demo                                   # judge built-in samples with the shipped model
    secllm detect "id=1' or '1'='1"               # one item
    secllm detect --file requests.txt --json      # one item per line (or --jsonl)
    secllm corpus build --out runs/corpus         # unlabeled corpus from the datasets' training splits
    secllm pretrain --corpus runs/corpus --out runs/base
    secllm finetune web-attack --base runs/base/model --out runs/web

Options fall back to environment variables (``SECLLM_MODEL``, ``SECLLM_DATASETS``, ``SECLLM_HOME``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from secllm import __version__

DEMO_SAMPLES = [
    ("benign-query", "q=wireless+headphones&page=2&sort=price_asc"),
    ("sqli-payload", "1' UNION SELECT username, password FROM users--"),
    ("xss-request",
     "POST /comment HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
     "User-Agent: Mozilla/5.0\r\nContent-Length: 64\r\n\r\n"
     "name=alice&comment=%3Cscript%3Edocument.location%3D%27//evil%27%3C/script%3E"),
    ("traversal-url", "/download.php?file=..%2F..%2F..%2Fetc%2Fpasswd"),
    ("benign-url", "/blog/2023/05/hello-world?utm_source=newsletter&ref=home"),
    ("cmdi-payload", "127.0.0.1; cat /etc/passwd"),
]


@click.group()
@click.version_option(__version__)
def main() -> None:
    """SecLLM: security foundation model toolkit (pretrain, fine-tune, detect)."""


# ----------------------------------------------------------------------------------------------
# detect
# ----------------------------------------------------------------------------------------------

def _detect_stream(det, items, out_json: bool, batch: int, progress: bool, evidence: bool, profile_scorer=None,
                   kind: str = "auto"):
    from tqdm.auto import tqdm

    from secllm.detect.detector import Detection, Status
    from secllm.detect.io import format_table, write_json

    bar = tqdm(unit="item", disable=not progress, file=sys.stderr, desc="detect")
    counts: dict[str, int] = {}

    def flush(buf):
        todo = [(k, it) for k, it in enumerate(buf) if it.error is None]
        kw = {"kind": kind} if kind != "auto" else {}          # web-attack only: other tasks have no kinds
        dets = det.detect([it.text for _, it in todo], ids=[it.id for _, it in todo], evidence=evidence,
                          **kw) if todo else []
        res: list[Detection] = [None] * len(buf)  # type: ignore[list-item]
        for (k, it), d in zip(todo, dets):
            if it.invalid_utf8:
                d.warnings.append("invalid_utf8: decoded as latin-1")
            res[k] = d
        for k, it in enumerate(buf):
            if it.error is not None:
                res[k] = Detection(id=it.id, status=Status.BAD_JSON, error=it.error)
        for r in res:
            key = r.label if r.status == Status.OK else r.status
            counts[key] = counts.get(key, 0) + 1
        profs = _profile_results(profile_scorer, buf, res) if profile_scorer is not None else None
        if profs is not None:
            for pr in profs:
                if pr is not None and pr.verdict:
                    counts[f"profile_{pr.verdict}"] = counts.get(f"profile_{pr.verdict}", 0) + 1
        if out_json and profs is not None:
            for r, pr in zip(res, profs):
                sys.stdout.write(json.dumps({**r.to_json(), "profile": pr.to_json() if pr else None},
                                            ensure_ascii=False) + "\n")
            sys.stdout.flush()
        elif out_json:
            write_json(res, sys.stdout)
            sys.stdout.flush()
        else:
            click.echo(format_table(res))
            if profs is not None:
                click.echo(_format_profile_table(profs))
        bar.update(len(buf))

    buf = []
    for it in items:
        buf.append(it)
        if len(buf) >= batch:
            flush(buf)
            buf = []
    if buf:
        flush(buf)
    bar.close()
    return counts


def _profile_results(scorer, buf, res):
    """Profile results for a detect batch (None for items that could not be read)."""
    todo = [k for k, it in enumerate(buf) if it.error is None]
    prs = scorer.score([buf[k].text for k in todo], ids=[buf[k].id for k in todo],
                       detector_scores=[res[k].score for k in todo])
    out = [None] * len(buf)
    for k, pr in zip(todo, prs):
        out[k] = pr
    return out


def _format_profile_table(profs) -> str:
    from secllm.html_escape import term_safe

    lines = ["", "profile: id  verdict  score  evidence"]
    for pr in profs:
        if pr is None:
            continue
        if pr.status != "ok":
            lines.append(f"  {term_safe(pr.id)[:12]}  -  -  {pr.error}")
            continue
        ev = "; ".join(pr.evidence[:2])
        lines.append(f"  {term_safe(pr.id)[:12]}  {pr.verdict}  {pr.score:.3f}  {term_safe(ev)[:120]}")
    return "\n".join(lines)


def _input_items(texts, file_, jsonl: bool, raw_requests: bool = False):
    """(items, progress): TEXTS as items, else --file / stdin read as lines, JSONL or raw requests."""
    from secllm.detect.io import Item, iter_items

    if texts:
        return [Item(str(i + 1), t, None, False) for i, t in enumerate(texts)], False
    if file_ and file_ != "-":
        fh = open(file_, "rb")
    elif not sys.stdin.isatty() or file_ == "-":
        fh = sys.stdin.buffer
    else:
        raise click.UsageError("give TEXTS, --file PATH, or pipe items on stdin")
    if raw_requests:
        return _iter_request_items(fh.read()), True
    return iter_items(fh, fmt="jsonl" if jsonl else "text"), True


def _iter_request_items(raw: bytes):
    """Raw HTTP requests of one file as detect items (bytes kept via latin-1 when not UTF-8)."""
    from secllm.data.http import iter_raw_requests
    from secllm.detect.io import Item

    try:
        text, bad = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        text, bad = raw.decode("latin-1"), True
    for n, (start, _end, req) in enumerate(iter_raw_requests(text), 1):
        yield Item(f"req{n}@{start}", req, None, bad)

_PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
               b"\x0a\x0d\x0d\x0a")


def _looks_like_pcap(path: str) -> bool:
    """pcap/pcapng by magic bytes (or by name when gzip-compressed)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        return any(path.endswith(x) for x in (".pcap.gz", ".pcapng.gz", ".cap.gz"))
    return head in _PCAP_MAGIC


def _detect_task(task, texts, file_, jsonl, out_json, model_dir, batch, no_evidence, threads, backend="auto"):
    """``secllm detect --task NAME`` for the registered tasks other than web-attack."""
    from secllm.detect.detector import Status
    from secllm.detect.generic import TaskDetector
    from secllm.detect.io import format_table, write_json
    from secllm.paths import default_model_dir
    from secllm.tasks.registry import get_task, list_tasks

    try:
        spec = get_task(task)
    except KeyError:
        raise click.UsageError(f"unknown task {task!r}; available: {', '.join(list_tasks())}") from None
    from secllm.runtime import resolve_backend

    d = Path(model_dir) if model_dir else default_model_dir(task)
    try:
        det = TaskDetector.load(d, task=task, threads=threads, backend=resolve_backend(d, backend, prefer_torch=True))
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"no model for task {task!r} in {d}: {exc}") from exc
    if spec.input_kind == "flow" and file_ and file_ != "-" and Path(file_).is_file() and _looks_like_pcap(file_):
        res = det.detect_pcap(file_, evidence=not no_evidence)
        if out_json:
            write_json(res, sys.stdout)
        else:
            click.echo(format_table(res))
        counts: dict[str, int] = {}
        for r in res:
            key = r.label if r.status == Status.OK else r.status
            counts[key] = counts.get(key, 0) + 1
    else:
        items, progress = _input_items(texts, file_, jsonl)
        counts = _detect_stream(det, items, out_json, batch, progress, evidence=not no_evidence)
    click.echo("summary: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())), err=True)


@main.command()
@click.argument("texts", nargs=-1)
@click.option("--file", "file_", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read items from a file (one per line); '-' for stdin.")
@click.option("--jsonl", is_flag=True, help='Input lines are JSON objects {"id": ..., "text": ...}.')
@click.option("--requests", "raw_requests", is_flag=True,
              help="The input holds raw HTTP requests (several per file, blank-line separated); each is one item.")
@click.option("--json", "out_json", is_flag=True, help="One JSON result per line on stdout.")
@click.option("--task", default="web-attack", show_default=True, help="Detection task.")
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False),
              help="Fine-tuned model directory (default: the shipped model).")
@click.option("--batch", default=256, show_default=True, help="Items judged per model batch.")
@click.option("--no-evidence", is_flag=True, help="Skip evidence spans (faster).")
@click.option("--threads", type=int, default=None, help="CPU threads for the model.")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnx", "onnx-int8"]), default="auto",
              show_default=True,
              help="auto: PyTorch when installed (gradient evidence), else the model's ONNX graph.")
@click.option("--kind", type=click.Choice(["auto", "payload", "url", "query", "http"]), default="auto",
              show_default=True,
              help="What the items are: guessed from each item (auto), or stated: parameter values "
                   "(payload: '/etc/passwd' is then a value, not a URL), URLs, query strings, raw requests.")
@click.option("--profile", "profile_name", default=None,
              help="Also compare each item with this site profile (`secllm learn`): adds a `profile` field "
                   "(deviation, combined score and verdict, evidence).")
@click.option("--no-cascade", is_flag=True,
              help="Judge every part with the full model (off: the model's small fast model decides the clear parts).")
@click.option("--no-signatures", is_flag=True,
              help="Do not flag requests that name a known scanner (OWASP CRS 913 lists: Nikto, sqlmap, ...).")
@click.option("--restricted-extensions", is_flag=True,
              help="Also flag paths ending in CRS's restricted extensions (.bak .old .sql .ini .log ...; rule 920440).")
def detect(texts, file_, jsonl, raw_requests, out_json, task, model_dir, batch, no_evidence, threads, backend, kind,
           profile_name, no_cascade, no_signatures, restricted_extensions):
    """Judge web input: payloads, URLs or raw HTTP requests.

    Items come from TEXTS, --file, or stdin (when no TEXTS and stdin is not a terminal): one item
    per line, or JSONL with --jsonl, or whole raw HTTP requests with --requests (ids are
    ``req<N>@<offset>``). A raw request given as an argument is one item.
    """

    if task != "web-attack":
        _detect_task(task, texts, file_, jsonl, out_json, model_dir, batch, no_evidence, threads, backend)
        return
    from secllm.detect.detector import WebAttackDetector

    prof = None
    if profile_name:
        from secllm.profile import ProfileError, load_profile

        try:
            prof = load_profile(profile_name)
        except ProfileError as exc:
            raise click.ClickException(str(exc)) from exc
        if prof.kind != "web":
            raise click.ClickException(f"profile {profile_name!r} is a {prof.kind} profile; score log items with "
                                       f"`secllm profiles score {profile_name} FILE`")
        if not model_dir and prof.model:
            model_dir = prof.model["dir"]          # the detector the profile was calibrated with
    from secllm.paths import DEFAULT_MODEL_DIR
    from secllm.runtime import resolve_backend

    try:
        det = WebAttackDetector.load(model_dir, threads=threads,
                                     backend=resolve_backend(model_dir or DEFAULT_MODEL_DIR, backend, prefer_torch=True))
    except (FileNotFoundError, ValueError, ImportError) as exc:
        raise click.ClickException(str(exc)) from exc
    det.cascade = not no_cascade
    det.signatures = not no_signatures
    det.restricted_extensions = restricted_extensions
    scorer = None
    if prof is not None:
        from secllm.profile import ProfileError, ProfileScorer
        from secllm.profile.site import check_model

        try:
            check_model(prof, det.model_dir)
        except ProfileError as exc:
            raise click.ClickException(str(exc)) from exc
        scorer = ProfileScorer(prof, detector=det)
    items, progress = _input_items(texts, file_, jsonl, raw_requests)
    counts = _detect_stream(det, items, out_json, batch, progress, evidence=not no_evidence, profile_scorer=scorer,
                            kind="http" if raw_requests else kind)
    click.echo("summary: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())), err=True)


@main.command()
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False),
              help="Fine-tuned model directory (default: the shipped model).")
@click.option("--json", "out_json", is_flag=True, help="JSON output.")
def demo(model_dir, out_json):
    """Judge a few built-in samples (benign, SQLi, XSS in a raw request, traversal...)."""
    from secllm.detect.detector import WebAttackDetector
    from secllm.detect.io import format_table, write_json

    try:
        det = WebAttackDetector.load(model_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    res = det.detect([t for _, t in DEMO_SAMPLES], ids=[i for i, _ in DEMO_SAMPLES])
    if out_json:
        write_json(res, sys.stdout)
    else:
        click.echo(f"model: {det.model_dir}  (threshold {det.threshold:.3f})")
        click.echo(format_table(res, width=80))


# ----------------------------------------------------------------------------------------------
# corpus / pretrain / finetune
# ----------------------------------------------------------------------------------------------

@main.group()
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

    try:
        root = datasets_dir(datasets)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    m = build_corpus_from_datasets(root, out, list(sources) or None)
    click.echo(json.dumps({"train_rows": m["train"]["rows"], "val_rows": m["val"]["rows"],
                           "by_modality": m["train"]["by_modality"]}, indent=2))


@main.command()
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
@click.option("--decay-by-time", is_flag=True,
              help="With --max-minutes: decay the learning rate over the time budget as well as the steps.")
def pretrain(corpus_dir, out, size, steps, max_minutes, batch_tokens, max_length, lr, tokenizer_dir,
             max_per_modality, resume, seed, init_dir, warmup, decay_by_time):
    """Masked-LM pretraining of a base model (runs unchanged under `accelerate launch`)."""
    from secllm.pretrain.recipe import run_pretrain
    from secllm.pretrain.trainer import PretrainConfig

    if init_dir and tokenizer_dir:
        raise click.UsageError("--init keeps the base's tokenizer; drop --tokenizer")
    if decay_by_time and not max_minutes:
        raise click.UsageError("--decay-by-time needs --max-minutes")
    cfg = PretrainConfig(size=size, steps=steps, max_minutes=max_minutes, batch_tokens=batch_tokens,
                         max_length=max_length, lr=lr, seed=seed, warmup=warmup, decay_by_time=decay_by_time)
    try:
        path = run_pretrain(corpus_dir, out, cfg=cfg, tokenizer_dir=tokenizer_dir,
                            max_per_modality=max_per_modality, resume=resume, init_dir=init_dir)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"base model: {path}")


@main.command()
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


class _TaskEvalGroup(click.Group):
    """``secllm eval NAME`` also resolves any registered task (besides the explicit commands)."""

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            return cmd
        from secllm.tasks.registry import list_tasks

        if cmd_name in list_tasks():
            return _eval_task_command(cmd_name)
        return None


def _eval_task_command(task: str) -> click.Command:
    @click.command(task, help=f"Evaluate the {task} task: fine-tunes (pretrained, random init), baselines, report.")
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


# ----------------------------------------------------------------------------------------------
# eval
# ----------------------------------------------------------------------------------------------

@main.group("eval", cls=_TaskEvalGroup)
def eval_group():
    """Evaluate detectors honestly: rule engines, shallow baselines, cross-source, evasion, ablations."""


def _csv_list(text: str, cast=str) -> tuple:
    return tuple(cast(x.strip()) for x in text.split(",") if x.strip())


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
        levels = _csv_list(paranoia, int)
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
        tampers=DEFAULT_TAMPERS if tampers == "default" else () if tampers == "none" else _csv_list(tampers),
        ablations=ablations,
        base=Path(base_dir) if base_dir else None, families=_csv_list(families),
        fractions=_csv_list(fractions, float),
        ablation_cfg=FinetuneConfig(epochs=ablation_epochs, max_minutes=ablation_max_minutes), jobs=jobs,
        progress=True,  # a run takes minutes: say what it is doing (stderr)
    )
    try:
        index = run_web_eval(cfg)
    except (FileNotFoundError, LeakageError, RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"report: {Path(out) / 'report.md'}  ({len(index['reports'])} test sets)")


@main.group()
def models():
    """Inspect model directories."""


@models.command("info")
@click.argument("model_dir", required=False, type=click.Path(file_okay=False))
def models_info(model_dir):
    """Show a model directory's description (default: the shipped web-attack model).

    The shipped base of the other tasks is ``secllm models info`` of ``secllm/assets/tasks``."""
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
    from secllm.tasks.lexical_head import main as heads_main

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
    from secllm.tasks.text_head import main as text_main

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
            from secllm.paths import adapter_tasks
            from secllm.tasks.adapt import export_task_onnx

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


# ----------------------------------------------------------------------------------------------
# learning mode: site / system profiles
# ----------------------------------------------------------------------------------------------

@main.command()
@click.option("--profile", "name", required=True, help="Profile name (stored under $SECLLM_HOME/profiles/NAME).")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["auto", "http", "access-log", "urls", "jsonl", "log", "sessions"]),
              default="auto", show_default=True,
              help="Input format (auto: per file, from name and first line). log: one log line per item; "
                   "sessions: one session (space-separated event keys) per line.")
@click.option("--fpr", default=0.01, show_default=True, type=float,
              help="False-positive rate on the held-back normal traffic that sets the threshold.")
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False), default=None,
              help="Fine-tuned detector for the density model and the combined score (default: the shipped model).")
@click.option("--no-model", is_flag=True, help="Structure model only (no detector, no embeddings).")
@click.option("--calibrate-fraction", default=0.2, show_default=True, type=float,
              help="Last fraction of the items (in order) held back to set the threshold.")
@click.option("--combine", type=click.Choice(["max", "fisher"]), default="max", show_default=True,
              help="How component p-values combine: strongest signal (max) or Fisher's method.")
@click.option("--text-field", default="text", show_default=True, help="JSONL field holding the item.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write the profile here instead of $SECLLM_HOME/profiles/NAME.")
@click.option("--force", is_flag=True, help="Replace an existing profile of that name.")
def learn(name, files, fmt, fpr, model_dir, no_model, calibrate_fraction, combine, text_field, out_dir, force):
    """Learn a site (or system) profile from normal traffic in FILES, without labels.

    The first items (in file order) are learned; the last --calibrate-fraction set the decision
    threshold at --fpr. Use it with `secllm detect --profile NAME`.
    """
    from secllm.profile import ProfileError, learn_profile
    from secllm.profile.inputs import read_learning_items

    try:
        items, learn_fmt = read_learning_items(files, fmt, text_field=text_field)
        prof = learn_profile(items, name, out_dir=out_dir, model_dir=model_dir, calibrate_fraction=calibrate_fraction,
                             fpr=fpr, fmt=learn_fmt, combine=combine, use_model=not no_model, overwrite=force)
    except (ProfileError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    m = prof.meta
    click.echo(f"profile {name!r}: {prof.path}  ({prof.kind}; learned {m['n_learn']}, calibrated on "
               f"{m['n_calibrate']}, skipped {m['n_skipped']}; components {', '.join(sorted(prof.calibrators))}; "
               f"{m['learn_seconds']:.1f}s)")
    for note in m.get("notes", []):
        click.echo(f"note: {note}", err=True)


@main.group()
def profiles():
    """List, show and remove learned profiles."""


@profiles.command("list")
@click.option("--json", "out_json", is_flag=True, help="JSON output.")
def profiles_list(out_json):
    """The profiles under $SECLLM_HOME/profiles."""
    from secllm.profile import list_profiles, profiles_dir

    rows = list_profiles()
    if out_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no profiles in {profiles_dir()}; learn one with `secllm learn --profile NAME FILE...`")
        return
    for r in rows:
        click.echo(f"{r['name']}\t{r.get('kind')}\tlearned {r.get('n_learn')}\tcalibrated {r.get('n_calibrate')}"
                   f"\tfpr {r.get('fpr')}\t{r.get('created')}")


@profiles.command("show")
@click.argument("name")
def profiles_show(name):
    """A profile's summary as JSON: sizes, thresholds, endpoints or log templates."""
    from secllm.profile import ProfileError, load_profile

    try:
        prof = load_profile(name)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(prof.summary(), indent=2, ensure_ascii=False, default=str))


@profiles.command("remove")
@click.argument("name")
def profiles_remove(name):
    """Delete a profile."""
    from secllm.profile import ProfileError, remove_profile

    try:
        d = remove_profile(name)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"removed {d}")


@profiles.command("score")
@click.argument("name")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["auto", "http", "access-log", "urls", "jsonl", "log", "sessions"]),
              default="auto", show_default=True, help="Input format (as for `secllm learn`).")
@click.option("--model", "model_dir", type=click.Path(file_okay=False), default=None,
              help="Detector directory if the one recorded in the profile moved (same weights).")
@click.option("--all", "all_items", is_flag=True, help="Print every item, not only anomalous ones.")
def profiles_score(name, files, fmt, model_dir, all_items):
    """Score FILES against a profile (web or log): one JSON result per anomalous item."""
    from secllm.profile import ProfileError, ProfileScorer
    from secllm.profile.inputs import read_learning_items

    try:
        scorer = ProfileScorer.load(name, model_dir=model_dir)
        items, _ = read_learning_items(files, fmt)
    except (ProfileError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    n_anom = 0
    for start in range(0, len(items), 512):
        chunk = items[start:start + 512]
        for r in scorer.score(chunk, ids=[str(start + i + 1) for i in range(len(chunk))]):
            n_anom += r.verdict == "anomalous"
            if all_items or r.verdict == "anomalous":
                click.echo(json.dumps(r.to_json(), ensure_ascii=False))
    click.echo(f"summary: {len(items)} items, {n_anom} anomalous", err=True)


# ----------------------------------------------------------------------------------------------
# scan / serve
# ----------------------------------------------------------------------------------------------

@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["auto", "access-log", "http", "pcap", "lines", "jsonl", "csv"]),
              default="auto", show_default=True, help="Input format (auto: from name and first bytes).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write findings here (default: stdout).")
@click.option("--out-format", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--all", "all_items", is_flag=True, help="Write every item, not only malicious ones.")
@click.option("--follow", is_flag=True, help="Keep reading a growing log (survives rotation); Ctrl-C stops.")
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False),
              help="Fine-tuned model directory (default: the shipped model).")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnx", "onnx-int8"]), default="auto",
              show_default=True, help="auto: ONNX when the model directory has an export, else torch.")
@click.option("--text-field", default=None, help="JSONL field / CSV column to judge (default: text, payload...).")
@click.option("--batch", default=256, show_default=True, help="Items judged per model batch.")
@click.option("--threads", type=int, default=None, help="CPU threads for the model.")
@click.option("--no-evidence", is_flag=True, help="Skip evidence spans (faster).")
@click.option("--raw-ips", is_flag=True, help="Write client addresses as they are (default: keyed pseudonyms).")
@click.option("--ip-key", envvar="SECLLM_SCAN_IP_KEY", default=None,
              help="Key for the client pseudonyms, to keep them stable across scans (env SECLLM_SCAN_IP_KEY).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("--poll", type=float, default=0.5, hidden=True)
@click.option("--max-seconds", type=float, default=None, hidden=True)
@click.option("--no-cascade", is_flag=True, help="Judge every part with the full model (no fast first model).")
@click.option("--no-signatures", is_flag=True,
              help="Do not flag requests that name a known scanner (OWASP CRS 913 lists: Nikto, sqlmap, ...).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes, one detector each (1 model thread each unless --threads): use the cores "
                   "for parsing too, as a web server's workers do.")
def scan(paths, fmt, out_file, out_format, all_items, follow, model_dir, backend, text_field, batch, threads,
         no_evidence, raw_ips, ip_key, no_progress, poll, max_seconds, no_cascade, no_signatures, workers):
    """Scan access logs, raw HTTP requests, pcaps, line logs, JSONL or CSV for web attacks.

    Streams in constant memory; corrupt lines/records/packets are counted and skipped; a summary
    (verdicts, attack types, top sources) goes to stderr.
    """
    from secllm.detect.detector import WebAttackDetector
    from secllm.paths import DEFAULT_MODEL_DIR
    from secllm.runtime import resolve_backend
    from secllm.scan import scan as run_scan

    if follow and len(paths) != 1:
        raise click.UsageError("--follow tails exactly one PATH")
    # a followed log may appear later, but then its format cannot be sniffed
    missing = [p for p in paths if not Path(p).exists() and not (follow and fmt != "auto")]
    if missing:
        raise click.UsageError(f"no such file: {missing[0]}")
    d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    try:
        if workers > 1:
            from secllm.detect.pool import DetectorPool

            det = DetectorPool(d, workers=workers, backend=resolve_backend(d, backend), threads=threads or 1,
                               cascade=not no_cascade, signatures=not no_signatures)
        else:
            det = WebAttackDetector.load(d, threads=threads, backend=resolve_backend(d, backend))
            det.cascade = not no_cascade
            det.signatures = not no_signatures
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    out = open(out_file, "w", encoding="utf-8", newline="") if out_file else sys.stdout
    try:
        summary = run_scan(paths, det, out, fmt=fmt, out_format=out_format, all_items=all_items, batch=batch,
                           evidence=not no_evidence, follow=follow, poll=poll, max_seconds=max_seconds,
                           text_field=text_field, ip_key=ip_key.encode() if ip_key else None, raw_ips=raw_ips,
                           progress=not no_progress, signatures=not no_signatures)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if out_file:
            out.close()
        if workers > 1:
            det.close()
    click.echo(summary.format(), err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs an API key.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False),
              help="Fine-tuned model directory (default: the shipped model).")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnx", "onnx-int8"]), default="auto",
              show_default=True, help="auto: ONNX when the model directory has an export, else torch.")
@click.option("--api-key", "api_keys", multiple=True,
              help="Accepted API key (repeatable). Prefer SECLLM_API_KEYS=k1,k2: arguments show in `ps`.")
@click.option("--max-body-bytes", default=1_000_000, show_default=True)
@click.option("--max-batch", default=1000, show_default=True, help="Most items per request.")
@click.option("--threads", type=int, default=None, help="CPU threads for the model.")
@click.option("--tasks", "tasks_", default="all", show_default=True,
              help="Tasks to serve, comma-separated; 'all' = web-attack and every task adapter found.")
@click.option("--tasks-model", "tasks_dir", type=click.Path(file_okay=False), default=None,
              help="The other tasks: a multi-task directory (shared base + adapters; PyTorch) or a folder of "
                   "exported task models (`secllm models export --task all --out DIR`; ONNX Runtime only) "
                   "(default: the shipped base + adapters, or --model's own adapters).")
@click.option("--no-cascade", is_flag=True, help="Web attacks: every part through the full model.")
def serve(host, port, model_dir, backend, api_keys, max_body_bytes, max_batch, threads, tasks_, tasks_dir, no_cascade):
    """Start the REST API (FastAPI/uvicorn): /v1/detect, /v1/tasks, /v1/models, /health, /metrics, /docs."""
    from secllm.serve.app import check_bind, create_app, keys_from_env

    keys = list(api_keys) or keys_from_env()
    try:
        check_bind(host, keys)
        app = create_app(model_dir, backend=backend, api_keys=keys, max_body_bytes=max_body_bytes,
                         max_batch=max_batch, threads=threads,
                         tasks=None if tasks_ == "all" else list(_csv_list(tasks_)), tasks_dir=tasks_dir)
        if "web-attack" in app.state.detectors:
            app.state.detectors["web-attack"].cascade = not no_cascade
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    import uvicorn

    dets = app.state.detectors
    served = ", ".join(f"{t} ({det.backend.name})" for t, det in dets.items())
    click.echo(f"serving http://{host}:{port} (model {next(iter(dets.values())).model_dir.name}; tasks: {served}; "
               f"API keys: {'on' if keys else 'off'}; docs at /docs)", err=True)
    # uvicorn's own access log is off: the app writes a desensitised JSON one
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", server_header=False)


# ----------------------------------------------------------------------------------------------
# adapt
# ----------------------------------------------------------------------------------------------

@main.command()
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
                   "a few hundred measure a 0.5%% share far better than the examples' own halves.")
def adapt(task, examples_file, out, model_dir, base_dir, method, lora, epochs, max_old_flip, guard_file):
    """Add a new class (or a new task) from a handful of labeled examples, without retraining the base.

    With --model (or the shipped model) what the task serves grows by one row per new label — its
    adapter's head, and its lexical head, head + adapter ensemble or text head where validation chose
    one; encoder and old rows stay frozen, so old-class scores do not change. With --base the examples define a new
    task, trained as a head (or --lora adapter) on the frozen shared base.
    """
    from secllm.data.records import MODALITIES
    from secllm.paths import default_model_dir
    from secllm.tasks.adapt import adapt_model_dir, read_examples_jsonl, train_adapter
    from secllm.tasks.finetune import FinetuneConfig
    from secllm.tasks.registry import get_task

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


if __name__ == "__main__":
    main()
