"""`secllm scan`: files and streams end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
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
@click.option("--web-only", is_flag=True,
              help="Judge every item with the web model, as earlier versions did (no identification or routing).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes, one detector each (1 model thread each unless --threads): use the cores "
                   "for parsing too, as a web server's workers do.")
def scan(paths, fmt, out_file, out_format, all_items, follow, model_dir, backend, text_field, batch, threads,
         no_evidence, raw_ips, ip_key, no_progress, poll, max_seconds, no_cascade, no_signatures, web_only, workers):
    """Scan access logs, raw HTTP requests, pcaps, line logs, JSONL or CSV.

    Every file (or, in a mixed file, every line) is identified and judged only by the task made for
    its kind: web requests and access logs by the web model, authentication logs for brute force,
    BGL logs by the BGL model, scripts, threat-intel text; other kinds are counted as unsupported.
    Streams in constant memory; corrupt lines/records/packets are counted and skipped; a summary
    (verdicts, kinds, attack types, top sources) goes to stderr.
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
    web = det
    if not web_only:
        from secllm.detect.route import Router

        det = Router(d, backend=backend, threads=threads, web=web)
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
            web.close()
    click.echo(summary.format(), err=True)
