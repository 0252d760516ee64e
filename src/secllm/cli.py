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

def _detect_stream(det, items, out_json: bool, batch: int, progress: bool, evidence: bool):
    from tqdm.auto import tqdm

    from secllm.detect.detector import Detection, Status
    from secllm.detect.io import format_table, write_json

    bar = tqdm(unit="item", disable=not progress, file=sys.stderr, desc="detect")
    counts: dict[str, int] = {}

    def flush(buf):
        todo = [(k, it) for k, it in enumerate(buf) if it.error is None]
        dets = det.detect([it.text for _, it in todo], ids=[it.id for _, it in todo], evidence=evidence) if todo else []
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
        if out_json:
            write_json(res, sys.stdout)
            sys.stdout.flush()
        else:
            click.echo(format_table(res))
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
def detect(texts, file_, jsonl, raw_requests, out_json, task, model_dir, batch, no_evidence, threads):
    """Judge web input: payloads, URLs or raw HTTP requests.

    Items come from TEXTS, --file, or stdin (when no TEXTS and stdin is not a terminal): one item
    per line, or JSONL with --jsonl, or whole raw HTTP requests with --requests (ids are
    ``req<N>@<offset>``). A raw request given as an argument is one item.
    """
    from secllm.detect.io import Item, iter_items

    if task != "web-attack":
        raise click.UsageError(f"task {task!r} is not available yet; available: web-attack")
    from secllm.detect.detector import WebAttackDetector

    try:
        det = WebAttackDetector.load(model_dir, threads=threads)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    fmt = "jsonl" if jsonl else "text"
    if texts:
        items = [Item(str(i + 1), t, None, False) for i, t in enumerate(texts)]
        progress = False
    else:
        if file_ and file_ != "-":
            fh = open(file_, "rb")
        elif not sys.stdin.isatty() or file_ == "-":
            fh = sys.stdin.buffer
        else:
            raise click.UsageError("give TEXTS, --file PATH, or pipe items on stdin")
        if raw_requests:
            items = _iter_request_items(fh.read())
        else:
            items = iter_items(fh, fmt=fmt)
        progress = True
    counts = _detect_stream(det, items, out_json, batch, progress, evidence=not no_evidence)
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
def pretrain(corpus_dir, out, size, steps, max_minutes, batch_tokens, max_length, lr, tokenizer_dir,
             max_per_modality, resume, seed):
    """Masked-LM pretraining of a base model (runs unchanged under `accelerate launch`)."""
    from secllm.pretrain.recipe import run_pretrain
    from secllm.pretrain.trainer import PretrainConfig

    cfg = PretrainConfig(size=size, steps=steps, max_minutes=max_minutes, batch_tokens=batch_tokens,
                         max_length=max_length, lr=lr, seed=seed)
    path = run_pretrain(corpus_dir, out, cfg=cfg, tokenizer_dir=tokenizer_dir,
                        max_per_modality=max_per_modality, resume=resume)
    click.echo(f"base model: {path}")


@main.command()
@click.argument("task", type=click.Choice(["web-attack"]))
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
def finetune(task, base_dir, random_init, size, tokenizer_dir, out, datasets, no_1book, epochs, lr,
             max_minutes, freeze_base):
    """Fine-tune a task head on labeled data (model selection on validation only)."""
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
    cfg = FinetuneConfig(epochs=epochs, lr=lr, max_minutes=max_minutes, freeze_base=freeze_base)
    kw = {}
    if random_init:
        tdir = tokenizer_dir or base_dir
        if not tdir:
            raise click.UsageError("--random-init needs --tokenizer DIR (or --base to borrow its tokenizer)")
        kw = {"tokenizer": SecTokenizer.load(tdir), "model_cfg": load_config(size)}
    path = run_finetune(data["train"], data["val"], LABELS, out, base_dir=None if random_init else base_dir,
                        cfg=cfg, task=task, **kw)
    click.echo(f"model: {path}")


# ----------------------------------------------------------------------------------------------
# eval
# ----------------------------------------------------------------------------------------------

@main.group("eval")
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
def eval_web_attack(model_dir, random_dir, probe_dir, model_no1book, out, data_file, crs, paranoia, sample, datasets,
                    seed, threads, bootstrap, evasion, evasion_items, tampers, ablations, base_dir, families,
                    fractions, ablation_epochs, ablation_max_minutes):
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
        ablation_cfg=FinetuneConfig(epochs=ablation_epochs, max_minutes=ablation_max_minutes),
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
    """Show a model directory's description (default: the shipped model)."""
    from secllm.model.modeling import read_meta
    from secllm.paths import DEFAULT_MODEL_DIR

    d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    try:
        meta = read_meta(d)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"path": str(d), **meta}, indent=2, ensure_ascii=False))


@models.command("export")
@click.argument("model_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write a torch-free serving directory here (default: into MODEL_DIR).")
@click.option("--no-int8", is_flag=True, help="Skip the int8 (dynamic quantisation) graph.")
def models_export(model_dir, out_dir, no_int8):
    """Export a fine-tuned model to ONNX (model.onnx, model.int8.onnx) for `--backend onnx`."""
    from secllm.runtime.onnx import export_onnx

    try:
        info = export_onnx(model_dir, out_dir, quantize=not no_int8)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({k: info[k] for k in ("onnx", "int8", "parity")}, indent=2))


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
def scan(paths, fmt, out_file, out_format, all_items, follow, model_dir, backend, text_field, batch, threads,
         no_evidence, raw_ips, ip_key, no_progress, poll, max_seconds):
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
        det = WebAttackDetector.load(d, threads=threads, backend=resolve_backend(d, backend))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    out = open(out_file, "w", encoding="utf-8", newline="") if out_file else sys.stdout
    try:
        summary = run_scan(paths, det, out, fmt=fmt, out_format=out_format, all_items=all_items, batch=batch,
                           evidence=not no_evidence, follow=follow, poll=poll, max_seconds=max_seconds,
                           text_field=text_field, ip_key=ip_key.encode() if ip_key else None, raw_ips=raw_ips,
                           progress=not no_progress)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if out_file:
            out.close()
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
def serve(host, port, model_dir, backend, api_keys, max_body_bytes, max_batch, threads):
    """Start the REST API (FastAPI/uvicorn): /v1/detect, /v1/tasks, /v1/models, /health, /metrics, /docs."""
    from secllm.serve.app import check_bind, create_app, keys_from_env

    keys = list(api_keys) or keys_from_env()
    try:
        check_bind(host, keys)
        app = create_app(model_dir, backend=backend, api_keys=keys, max_body_bytes=max_body_bytes,
                         max_batch=max_batch, threads=threads)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    import uvicorn

    det = app.state.detectors["web-attack"]
    click.echo(f"serving http://{host}:{port} (model {det.model_dir.name}, backend {det.backend.name}, "
               f"API keys: {'on' if keys else 'off'}; docs at /docs)", err=True)
    # uvicorn's own access log is off: the app writes a desensitised JSON one
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", server_header=False)


if __name__ == "__main__":
    main()
