"""`secllm detect` and `secllm demo`: judge items given as arguments, lines, JSONL or raw requests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secllm.cli.common import open_input

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



def _echo_summary(counts: dict[str, int]) -> None:
    """The per-label count line on stderr, for batches: for one item the table's row already says it."""
    if sum(counts.values()) > 1:
        click.echo("summary: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())), err=True)


def _detect_stream(det, items, out_json: bool, batch: int, progress: bool, evidence: bool, profile_scorer=None,
                   kind: str = "auto", explain: bool = False):
    from tqdm.auto import tqdm

    from secllm.detect.detector import Detection, Status
    from secllm.detect.io import format_table, write_json

    bar = tqdm(unit="item", disable=not progress, file=sys.stderr, desc="detect", delay=2.0)  # short jobs stay silent
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
                res[k] = Detection(id=it.id, status=getattr(it, "status", None) or Status.BAD_JSON, error=it.error)
        profs = _profile_results(profile_scorer, buf, res) if profile_scorer is not None else None
        if profs is not None:
            _combine_verdicts(res, profs, counts)
        for r in res:
            key = r.label if r.status == Status.OK else r.status
            counts[key] = counts.get(key, 0) + 1
        if out_json or explain:
            _knowledge(det, res)
        if out_json and profs is not None:
            from secllm.data.bounded import json_line

            for r, pr in zip(res, profs):
                sys.stdout.write(json_line({**r.to_json(), "profile": pr.to_json() if pr else None}) + "\n")
            sys.stdout.flush()
        elif out_json:
            write_json(res, sys.stdout)
            sys.stdout.flush()
        else:
            click.echo(format_table(res))
            if profs is not None:
                click.echo(_format_profile_table(profs))
            if explain:
                _echo_explanations(res)
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


def _knowledge(det, res) -> None:
    """The ``knowledge`` field of malicious results (CWE, ATT&CK, severity, mitigations)."""
    from secllm.detect.knowledge import attach_knowledge, task_of

    attach_knowledge(res, task_of(det))


def _echo_explanations(res) -> None:
    """``--explain``: what each malicious verdict is, how bad, and what to do, for people."""
    from secllm.html_escape import term_safe
    from secllm.knowledge.cards import format_knowledge

    for r in res:
        if r.knowledge:
            click.echo(f"\n{term_safe(r.id)[:40]}: {r.knowledge['label']}")
            click.echo(format_knowledge(r.knowledge))
        elif r.label == "malicious" and r.warnings:
            click.echo(f"\n{term_safe(r.id)[:40]}: " + "; ".join(w for w in r.warnings if w.startswith("knowledge")))


def _combine_verdicts(res, profs, counts: dict[str, int]) -> None:
    """One top-level verdict per item from the detector and the site profile (issue 17): the
    detector's ``malicious`` stands; a detector ``benign`` that the profile finds anomalous becomes
    ``anomalous`` (never left as benign). The parts stay visible: ``details.detector_label`` and the
    ``profile`` field."""
    for r, pr in zip(res, profs):
        if r.status == "ok" and pr is not None and pr.verdict:
            counts[f"profile_{pr.verdict}"] = counts.get(f"profile_{pr.verdict}", 0) + 1
            r.details = {**(r.details or {}), "detector_label": r.label, "profile_verdict": pr.verdict}
            if r.label != "malicious" and pr.verdict == "anomalous":
                r.label = "anomalous"
                r.score = max(float(r.score or 0.0), float(getattr(pr, "score", 0.0) or 0.0))


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
    from secllm.detect.io import iter_items

    if texts:
        return [_arg_item(str(i + 1), t) for i, t in enumerate(texts)], False
    fh = open_input(file_)
    if raw_requests:
        raw = fh.read(MAX_REQUESTS_BYTES + 1)
        rest = 0
        if len(raw) > MAX_REQUESTS_BYTES:           # count (never hold) what is past the bound
            raw = raw[:MAX_REQUESTS_BYTES]
            rest = 1
            while chunk := fh.read(1 << 20):
                rest += len(chunk)
        return _iter_request_items(raw, rest), True
    return iter_items(fh, fmt="jsonl" if jsonl else "text"), True


def _arg_item(rid: str, text: str):
    """An item from a command-line argument: bytes that were not UTF-8 reach Python as lone
    surrogates (surrogateescape); they are judged as latin-1, like undecodable stdin lines, and
    never reach a writer (which cannot encode them)."""
    from secllm.data.corpus import scrub_surrogates
    from secllm.detect.io import Item

    try:
        text.encode("utf-8")
        return Item(rid, text, None, False)
    except UnicodeEncodeError:
        pass
    try:
        return Item(rid, text.encode("utf-8", "surrogateescape").decode("latin-1"), None, True)
    except UnicodeEncodeError:
        return Item(rid, scrub_surrogates(text), None, False)


def _iter_request_items(raw: bytes, rest: int = 0):
    """Raw HTTP requests of one file as detect items (bytes kept via latin-1 when not UTF-8); ``rest``
    bytes past ``MAX_REQUESTS_BYTES`` (not read) end the stream as one ``too_large`` item."""
    from secllm.data.corpus import scrub_surrogates
    from secllm.data.http import iter_raw_requests
    from secllm.detect.io import Item

    try:
        text, bad = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        text, bad = raw.decode("latin-1"), True
    n = 0
    for n, (start, _end, req) in enumerate(iter_raw_requests(text), 1):
        if rest and _end >= len(text):          # the request the bound cut in two is not judged
            break
        yield Item(f"req{n}@{start}", scrub_surrogates(req), None, bad)
    if rest:
        yield Item(f"req{n + 1}@rest", None, f"input past {MAX_REQUESTS_BYTES} bytes not read "
                                              f"({rest} more bytes); split the file", False, "too_large")

MAX_REQUESTS_BYTES = 256 << 20    # --requests reads one whole file/stream: this much at most

_PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
               b"\x0a\x0d\x0d\x0a")


def _looks_like_pcap(path: str) -> bool:
    """pcap/pcapng by magic bytes (or by name when gzip-compressed)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        return any(path.endswith(x) for x in (".pcap.gz", ".pcapng.gz", ".cap.gz"))
    return head in _PCAP_MAGIC


def _detect_task(task, texts, file_, jsonl, out_json, model_dir, batch, no_evidence, threads, backend="auto",
                 explain=False):
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
        det = TaskDetector.load(d, task=task, threads=threads, backend=resolve_backend(d, backend))
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"no model for task {task!r} in {d}: {exc}") from exc
    except ImportError as exc:           # e.g. a LoRA task without peft installed
        raise click.ClickException(f"task {task!r} needs {exc.name or exc}: pip install 'secllm[torch]'") from exc
    if spec.input_kind == "flow" and file_ and file_ != "-" and Path(file_).is_file() and _looks_like_pcap(file_):
        res = det.detect_pcap(file_, evidence=not no_evidence)
        if out_json or explain:
            _knowledge(det, res)
        if out_json:
            write_json(res, sys.stdout)
        else:
            click.echo(format_table(res))
            if explain:
                _echo_explanations(res)
        counts: dict[str, int] = {}
        for r in res:
            key = r.label if r.status == Status.OK else r.status
            counts[key] = counts.get(key, 0) + 1
    else:
        items, progress = _input_items(texts, file_, jsonl)
        counts = _detect_stream(det, items, out_json, batch, progress, evidence=not no_evidence, explain=explain)
    _echo_summary(counts)


@click.command()
@click.argument("texts", nargs=-1)
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="Read items from a file (one per line); '-' for stdin.")
@click.option("--jsonl", is_flag=True, help='Input lines are JSON objects {"id": ..., "text": ...}.')
@click.option("--requests", "raw_requests", is_flag=True,
              help="The input holds raw HTTP requests (several per file, blank-line separated); each is one item.")
@click.option("--json", "out_json", is_flag=True, help="One JSON result per line on stdout.")
@click.option("--task", default="auto", show_default=True,
              help="auto: identify each item and judge it with the task made for its kind (web requests, URLs and "
                   "values; auth and BGL log lines; scripts; threat-intel text; other kinds are `unsupported`), "
                   "or a task name (web-attack, url, script, traffic, log-hdfs, log-bgl, cti-attack, evtx-tactic).")
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False),
              help="Fine-tuned model directory (default: the shipped model).")
@click.option("--batch", default=256, show_default=True, help="Items judged per model batch.")
@click.option("--no-evidence", is_flag=True, help="Skip evidence spans (faster).")
@click.option("--explain", is_flag=True,
              help="Under the table, explain each malicious verdict: weakness (CWE), ATT&CK technique and tactic, "
                   "severity and mitigations (--json always carries them as `knowledge`).")
@click.option("--threads", type=int, default=None, help="CPU threads for the model.")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnx", "onnx-int8"]), default="auto",
              show_default=True,
              help="auto: the model's ONNX graph when it has one (fast start, occlusion evidence), else PyTorch; "
                   "torch: gradient x input evidence.")
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
def detect(texts, file_, jsonl, raw_requests, out_json, task, model_dir, batch, no_evidence, explain, threads, backend,
           kind, profile_name, no_cascade, no_signatures, restricted_extensions):
    """Judge items: web requests, URLs and values, log lines, scripts, threat-intel text.

    Items come from TEXTS, --file, or stdin (when no TEXTS and stdin is not a terminal): one item
    per line, or JSONL with --jsonl, or whole raw HTTP requests with --requests (ids are
    ``req<N>@<offset>``). A raw request given as an argument is one item. Each item is identified
    first (`input_kind`) and judged only by the task made for its kind (`task`); a kind no task
    judges is `unsupported`, never guessed.
    """
    if task == "auto" and (kind != "auto" or raw_requests or profile_name):
        task = "web-attack"                 # stated web input (or a site profile): the web model judges it
    if task == "auto":
        _detect_routed(texts, file_, jsonl, out_json, model_dir, batch, no_evidence, threads, backend, explain,
                       no_cascade, no_signatures, restricted_extensions)
        return
    if task != "web-attack":
        _detect_task(task, texts, file_, jsonl, out_json, model_dir, batch, no_evidence, threads, backend, explain)
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
                                     backend=resolve_backend(model_dir or DEFAULT_MODEL_DIR, backend))
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
                            kind="http" if raw_requests else kind, explain=explain)
    _echo_summary(counts)


def _detect_routed(texts, file_, jsonl, out_json, model_dir, batch, no_evidence, threads, backend, explain,
                   no_cascade, no_signatures, restricted_extensions):
    """``secllm detect`` without ``--task``: identify, route, judge (``secllm.detect.route``)."""
    from secllm.detect.route import Router

    router = Router(model_dir, backend=backend, threads=threads)
    try:
        web = router.web
    except (FileNotFoundError, ValueError, ImportError) as exc:
        raise click.ClickException(str(exc)) from exc
    web.cascade, web.signatures, web.restricted_extensions = not no_cascade, not no_signatures, restricted_extensions
    items, progress = _input_items(texts, file_, jsonl)
    counts = _detect_stream(router, items, out_json, batch, progress, evidence=not no_evidence, explain=explain)
    _echo_summary(counts)


@click.command()
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
