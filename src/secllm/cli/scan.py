"""`secllm scan`: files and streams end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from secllm.cli.incidents import correlation_options


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["auto", "access-log", "http", "pcap", "lines", "jsonl", "csv"]),
              default="auto", show_default=True, help="Input format (auto: from name and first bytes).")
@click.option("--out", "out_file", type=click.Path(writable=True), default=None,
              help="Write findings here (default: stdout). --engine spark: a Parquet directory, or JSONL "
                   "when the name ends in .jsonl.")
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
@click.option("--raw-text", is_flag=True,
              help="Write findings' text and evidence as they are (default: e-mails, keys, card/ID/phone numbers masked).")
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
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="spark: read and judge on Apache Spark executors (PATHS may be directories, globs, "
                   "hdfs:/s3a: URIs); needs Java and pip install secllm[spark].")
@click.option("--master", default="local[2]", show_default=True,
              help="--engine spark: the Spark master (local[N], spark://HOST:7077, yarn, ...).")
@click.option("--partitions", type=click.IntRange(1, 100_000), default=None,
              help="--engine spark: judge in this many tasks (default: twice the default parallelism).")
@click.option("--incidents", "incidents_file", type=click.Path(dir_okay=False), default=None,
              help="Also correlate the findings into incidents (JSON lines here, each as it closes; see "
                   "`secllm incidents`).")
@correlation_options
def scan(paths, fmt, out_file, out_format, all_items, follow, model_dir, backend, text_field, batch, threads,
         no_evidence, raw_ips, raw_text, ip_key, no_progress, poll, max_seconds, no_cascade, no_signatures, web_only,
         workers, engine, master, partitions, incidents_file, quiet, min_score, host_of):
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

    if engine == "spark":
        if incidents_file:
            raise click.UsageError("--incidents correlates a local scan; with Spark, run `secllm incidents` "
                                   "on the findings")
        _scan_spark(paths, fmt, out_file, out_format, all_items, follow, model_dir, backend, text_field, batch,
                    threads, no_evidence, raw_ips, raw_text, ip_key, no_cascade, no_signatures, web_only, workers,
                    master, partitions)
        return
    if follow and len(paths) != 1:
        raise click.UsageError("--follow tails exactly one PATH")
    # a followed log may appear later, but then its format cannot be sniffed
    missing = [p for p in paths if not Path(p).exists() and not (follow and fmt != "auto")]
    if missing:
        raise click.UsageError(f"no such file: {missing[0]}")
    dirs = [p for p in paths if Path(p).is_dir()]
    if dirs:
        raise click.UsageError(f"a directory: {dirs[0]} (name its files, or use --engine spark)")
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
    sink = None
    if incidents_file:
        from secllm.cli.incidents import IncidentSink

        sink = IncidentSink(incidents_file, quiet, min_score, host_of)
    try:
        summary = run_scan(paths, det, out, fmt=fmt, out_format=out_format, all_items=all_items, batch=batch,
                           evidence=not no_evidence, follow=follow, poll=poll, max_seconds=max_seconds,
                           text_field=text_field, ip_key=ip_key.encode() if ip_key else None, raw_ips=raw_ips,
                           progress=not no_progress, signatures=not no_signatures, raw_text=raw_text,
                           on_item=sink)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if out_file:
            out.close()
        if workers > 1:
            web.close()
        if sink is not None:
            sink.close()
    click.echo(summary.format(), err=True)


def _scan_spark(paths, fmt, out_file, out_format, all_items, follow, model_dir, backend, text_field, batch,
                threads, no_evidence, raw_ips, raw_text, ip_key, no_cascade, no_signatures, web_only, workers, master,
                partitions):
    """`scan --engine spark`: the same findings, judged on Spark executors."""
    if follow:
        raise click.UsageError("--follow tails one local file: use the local engine")
    if workers > 1:
        raise click.UsageError("--workers is the local engine's process pool; with Spark use --master local[N]")
    if out_format == "csv":
        raise click.UsageError("--engine spark writes Parquet (--out DIR) or JSONL (--out FILE.jsonl)")
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise click.ClickException("--engine spark needs PySpark: pip install 'secllm[spark]'") from exc
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    from secllm.spark import DetectorSpec, java_available, spark_scan

    if not java_available():
        raise click.ClickException("--engine spark needs Java 17+ (Debian: apt-get install default-jre-headless; "
                                   "see scripts/install_system_deps.sh)")
    from secllm.paths import DEFAULT_MODEL_DIR

    d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    if not d.is_dir():
        raise click.ClickException(f"no model directory: {d}")
    spec = DetectorSpec(str(d), backend, threads or 1, not no_cascade, not no_signatures, routed=not web_only)
    try:
        res = spark_scan(paths, spec, out_file or "-", master=master, fmt=fmt, all_items=all_items, batch=batch,
                         evidence=not no_evidence, text_field=text_field,
                         ip_key=ip_key.encode() if ip_key else None, raw_ips=raw_ips, raw_text=raw_text,
                         partitions=partitions)
    except (PySparkException, Py4JError, ValueError, OSError) as exc:   # a missing path, a bad master
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"spark: {msg}") from exc
    click.echo(res.summary.format(), err=True)
    click.echo(f"spark: {res.partitions} partitions, {res.model_loads} model load(s) across the executors",
               err=True)
