"""`secllm identify`: what an input is (kind, family, confidence)."""

from __future__ import annotations

import json
import sys

import click


def _line(label: str, conf: float, status: str, method: str, what: str) -> str:
    from secllm.html_escape import term_safe

    extra = "" if status == "ok" else f"  [{status}]"
    return f"{label:<28} {conf:5.3f}  {method:<5}  {term_safe(what)}{extra}"


@click.command()
@click.argument("texts", nargs=-1)
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Identify a file: its kind, whether its lines agree (and each line's kind with --lines).")
@click.option("--lines", "lines_", is_flag=True, help="With --file: also print every line's kind.")
@click.option("--max-lines", type=int, default=100_000, show_default=True, help="With --lines: stop after this many.")
@click.option("--json", "as_json", is_flag=True, help="JSON output (one object per input; JSON lines for --lines).")
@click.option("--model", "model_dir", envvar="SECLLM_IDENTIFY_MODEL", type=click.Path(file_okay=False), default=None,
              help="Identifier model directory (default: the shipped one).")
def identify(texts, file_, lines_, max_lines, as_json, model_dir):
    """Say what each input is: raw HTTP request, URL, payload, access-log line, log line (and
    which system), Windows event, script language, threat-intel prose, plain text, capture ...

    \b
      secllm identify "GET / HTTP/1.1" "1' or 1=1--" "https://example.com/"
      secllm identify --file /var/log/auth.log
      secllm identify --file mixed.txt --lines --json
    Without TEXTS or --file, reads one item per line from stdin.
    """
    from secllm.identify import Identifier

    if lines_ and not file_:
        raise click.UsageError("--lines needs --file")
    try:
        idf = Identifier.load(model_dir)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(f"{e} (pass --model DIR or unset SECLLM_IDENTIFY_MODEL)") from None
    out = sys.stdout
    if file_:
        f = idf.identify_file(file_)
        if as_json:
            out.write(json.dumps({"file": file_, **f.to_json()}, ensure_ascii=False) + "\n")
        else:
            mix = "mixed: route line by line" if f.mixed else f"unit: {f.unit}"
            out.write(f"{f.label}  confidence {f.confidence:.3f}  {mix}  ({f.lines_sampled} lines sampled)\n")
            if f.status != "ok" or f.message:
                out.write(f"  status {f.status}{': ' + f.message if f.message else ''}\n")
            for lab, n in sorted(f.counts.items(), key=lambda kv: -kv[1])[:10]:
                out.write(f"  {n:6d}  {lab}\n")
        if lines_:
            _identify_lines(idf, file_, max_lines, as_json, out)
        return
    items = list(texts) if texts else [ln.rstrip("\r\n") for ln in sys.stdin if ln.strip()]
    if not items:
        raise click.UsageError("give TEXTS, --file, or items on stdin")
    for text, r in zip(items, idf.identify_batch(items)):
        if as_json:
            out.write(json.dumps({"text": text[:200], **r.to_json()}, ensure_ascii=False) + "\n")
        else:
            out.write(_line(r.label, r.confidence, r.status, r.method, text[:80]) + "\n")


def _identify_lines(idf, path: str, max_lines: int, as_json: bool, out) -> None:
    """Every line's kind, in batches (gzip read through)."""
    import gzip
    import zlib

    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    batch: list[tuple[int, bytes]] = []

    def flush() -> None:
        for (no, raw), r in zip(batch, idf.identify_batch([b for _, b in batch])):
            if as_json:
                out.write(json.dumps({"line": no, **r.to_json()}, ensure_ascii=False) + "\n")
            else:
                out.write(_line(r.label, r.confidence, r.status, r.method, f"{no}: " + raw[:80].decode("utf-8", "replace")) + "\n")
        batch.clear()

    try:
        with opener(path, "rb") as fh:
            for no, raw in enumerate(fh, 1):
                if no > max_lines:
                    break
                raw = raw.rstrip(b"\r\n")
                if raw.strip():
                    batch.append((no, raw))
                if len(batch) >= 4096:
                    flush()
    except (OSError, EOFError, zlib.error) as e:
        flush()
        raise click.ClickException(f"{path}: stopped reading: {e}") from None
    flush()
