"""`secllm map`: map text onto catalogue ids.

    secllm map cwe "Use-after-free in the PDF parser allows remote code execution"
    secllm map cwe --file descriptions.txt --json        # one item per line
    secllm map cwe --jsonl cves.jsonl --top 5 --json     # {"id", "text"} per line
    secllm map attack "The actor dumped LSASS memory with procdump"   # ATT&CK techniques, or none
"""

from __future__ import annotations

import json
import sys

import click

from secllm.cli.common import open_input


@click.group("map")
def map_group() -> None:
    """Map vulnerability and threat text onto catalogue ids (CWE, ATT&CK)."""


def _items(texts, file_, jsonl):
    from secllm.detect.io import iter_items

    if texts:
        return iter_items(list(texts), fmt="text")
    return iter_items(open_input(file_), fmt="jsonl" if jsonl else "text")


def _run(items, batch, map_fn, bad, show, out_json):
    """Map items in batches; lines that could not be read become ``bad_json`` results."""
    from secllm.html_escape import term_safe

    def flush(buf):
        todo = [it for it in buf if it.error is None]
        res = iter(map_fn([it.text for it in todo], [it.id for it in todo]))
        for it in buf:
            r = bad(it) if it.error is not None else next(res)
            if out_json:
                sys.stdout.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
            elif r.status != "ok":
                click.echo(f"{term_safe(r.id)[:16]}: {r.status} ({term_safe(r.error or '')})")
            else:
                click.echo(f"{term_safe(r.id)[:16]}: {term_safe(show(r))}")
        sys.stdout.flush()

    buf = []
    for it in items:
        buf.append(it)
        if len(buf) >= batch:
            flush(buf)
            buf = []
    if buf:
        flush(buf)


def _map_options(top: int, top_help: str, model_env: str, model_help: str):
    """The options both map commands take (input, output, model, batch)."""
    def wrap(f):
        for opt in reversed((
                click.argument("texts", nargs=-1),
                click.option("--file", "file_", type=click.Path(dir_okay=False, allow_dash=True),
                             help="Read items from this file ('-' = stdin): one per line, or JSONL with --jsonl."),
                click.option("--jsonl", "jsonl", is_flag=True, help="Input lines are JSON objects {\"id\", \"text\"}."),
                click.option("--top", default=top, show_default=True, type=click.IntRange(1, 20), help=top_help),
                click.option("--json", "out_json", is_flag=True, help="One JSON object per item on stdout."),
                click.option("--model", "model_dir", type=click.Path(file_okay=False), envvar=model_env,
                             help=model_help),
                click.option("--batch", default=256, show_default=True, type=click.IntRange(1, 100_000),
                             help="Items per batch."))):
            f = opt(f)
        return f
    return wrap


@map_group.command("cwe")
@_map_options(3, "CWE ids per item.", "SECLLM_CWE_MODEL", "A CVE→CWE model directory (default: the shipped one).")
def map_cwe(texts, file_, jsonl, top, out_json, model_dir, batch):
    """Vulnerability descriptions (CVE-style TEXTS, a file or stdin) → the most likely CWE weaknesses."""
    from secllm.knowledge.cwe_map import CweMapper, CweResult

    try:
        mapper = CweMapper.load(model_dir)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load the CVE→CWE model: {exc}") from exc
    _run(_items(texts, file_, jsonl), batch, lambda xs, ids: mapper.map(xs, ids=ids, top=top),
         lambda it: CweResult(it.id, status="bad_json", error=it.error),
         lambda r: "; ".join(f"{c['id']} {c['score']:.2f} {c['name'][:60]}" for c in r.cwe), out_json)


@map_group.command("attack")
@_map_options(5, "Ranked candidates per item.", "SECLLM_ATTACK_MODEL",
              "A text→ATT&CK model directory (default: the shipped one).")
def map_attack(texts, file_, jsonl, top, out_json, model_dir, batch):
    """Threat-report sentences (TEXTS, a file or stdin) → ATT&CK techniques, or "no technique"."""
    from secllm.knowledge.technique_map import TechniqueMapper, TechniqueResult

    try:
        mapper = TechniqueMapper.load(model_dir)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load the text→ATT&CK model: {exc}") from exc

    def show(r):
        if r.none:
            best = r.candidates[0] if r.candidates else None
            return f"no technique (p={r.none_score:.2f})" + (f"; nearest {best['id']} {best['score']:.2f}" if best else "")
        return "; ".join(f"{c['id']} {c['score']:.2f} {c['name'][:60]}" for c in r.techniques)

    _run(_items(texts, file_, jsonl), batch, lambda xs, ids: mapper.map(xs, ids=ids, top=top),
         lambda it: TechniqueResult(it.id, status="bad_json", error=it.error), show, out_json)
