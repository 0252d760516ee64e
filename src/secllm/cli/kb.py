"""`secllm kb`: search and show the security knowledge base (ATT&CK Enterprise, CWE).

    secllm kb search "远程代码执行 缓解"               # Chinese or English, ids, keywords, meaning
    secllm kb search "credential dumping" --type technique --top 5 --json
    secllm kb show T1190                                # also CWE-89, M1050, G0016, S0002, TA0001, CVE-..., CAPEC-...
    secllm kb explain web-attack sqli                   # the knowledge a verdict carries
    secllm kb index                                     # build the dense index now (once; cached)
"""

from __future__ import annotations

import json
import sys

import click

KIND_CHOICES = ("technique", "tactic", "mitigation", "group", "campaign", "software", "cwe", "category")


def _catalog_error(exc: Exception) -> click.ClickException:
    return click.ClickException(f"{exc}")


@click.group("kb")
def kb() -> None:
    """Security knowledge: MITRE ATT&CK Enterprise and CWE, searchable in Chinese and English."""


@kb.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 200), help="How many answers.")
@click.option("--type", "kinds", multiple=True, type=click.Choice(KIND_CHOICES),
              help="Only entries of this kind (repeatable).")
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "dense"]), default="hybrid", show_default=True,
              help="hybrid: keyword + multilingual embedding ranks fused; keyword: BM25 only (no model).")
@click.option("--json", "out_json", is_flag=True, help="One JSON object on stdout.")
def search_cmd(query, top, kinds, mode, out_json):
    """Find catalogue entries by id, keywords or meaning (QUERY in Chinese or English)."""
    from secllm.knowledge import CatalogNotInstalled

    text = " ".join(query).strip()
    if not text:
        raise click.UsageError("give a query")
    try:
        from secllm.knowledge.search import KnowledgeBase

        kbase = KnowledgeBase(encoder=None if mode == "keyword" else "auto")
        if mode != "keyword" and not kbase.dense_ready():
            meta_note = _announce_build(kbase)
        else:
            meta_note = None
        res = kbase.search(text, top=top, kinds=kinds or None, mode=mode)
    except CatalogNotInstalled as exc:
        raise _catalog_error(exc) from exc
    if meta_note:
        res.warnings.append(meta_note)
    if out_json:
        sys.stdout.write(json.dumps(res.to_json(), ensure_ascii=False) + "\n")
        return
    from secllm.html_escape import term_safe

    cat = res.catalogs
    click.echo(f"query: {term_safe(text)}   (ATT&CK {cat['attack']}, CWE {cat['cwe']}; {mode})")
    if not res.hits:
        click.echo("no match")
    for n, h in enumerate(res.hits, 1):
        how = "+".join(h.matched)
        click.echo(f"{n:>2}. {h.id:<11} {h.kind:<10} {h.name}   [{how}]")
        if h.reason:
            click.echo(f"    {h.reason}")
        if h.snippet:
            click.echo(f"    {h.snippet[:160]}")
        click.echo(f"    {h.url}")


def _announce_build(kbase) -> str | None:
    """Build (or load) the dense index; say so on stderr when it is built for the first time."""
    import time

    t0 = time.perf_counter()

    def progress(done, total):
        if done == total or done % 512 == 0:
            click.echo(f"building the knowledge index (once): {done}/{total} entries", err=True)

    meta = kbase.build_index(progress=progress)
    if meta and not meta.get("cached"):
        return f"dense index built in {time.perf_counter() - t0:.0f} s and cached"
    return None


@kb.command("show")
@click.argument("ident")
@click.option("--json", "out_json", is_flag=True, help="The entry as JSON.")
def show_cmd(ident, out_json):
    """Show one entry: T1190, T1059.001, TA0001, M1050, G0016, S0002, CWE-89 (or 'cwe 89'), CVE-..., CAPEC-..."""
    from secllm.knowledge import CatalogNotInstalled, normalize_id
    from secllm.knowledge.cards import card, format_card

    if normalize_id(ident) is None:
        raise click.UsageError(f"{ident!r} is not a catalogue id (T1190, TA0001, M1050, G0016, S0002, CWE-89, "
                               f"CVE-2021-44228, CAPEC-66); to search by words use `secllm kb search`")
    try:
        c = card(ident)
    except CatalogNotInstalled as exc:
        raise _catalog_error(exc) from exc
    if c is None:
        raise click.ClickException(f"{normalize_id(ident)} is not in the installed catalogues "
                                   f"(try `secllm kb search {ident}`)")
    if out_json:
        sys.stdout.write(json.dumps(c, ensure_ascii=False) + "\n")
    else:
        click.echo(format_card(c))


@kb.command("explain")
@click.argument("task")
@click.argument("label")
@click.option("--json", "out_json", is_flag=True, help="The knowledge as JSON (what detect --json adds).")
def explain_cmd(task, label, out_json):
    """The knowledge a verdict carries: TASK (web-attack, url, script, traffic, log-bgl, log-hdfs,
    evtx-tactic, cti-attack, log-auth, profile) and LABEL (sqli, phishing, Zeus, T1059.001, ...)."""
    from secllm.knowledge import CatalogNotInstalled
    from secllm.knowledge.cards import format_knowledge
    from secllm.knowledge.verdicts import known_labels, knowledge_for

    try:
        k = knowledge_for(task, label)
    except CatalogNotInstalled as exc:
        raise _catalog_error(exc) from exc
    if k is None:
        labels = known_labels().get(task)
        hint = f"; known labels: {', '.join(labels)}" if labels else ""
        raise click.ClickException(f"no knowledge for {task}/{label} (benign, none or unknown){hint}")
    if out_json:
        sys.stdout.write(json.dumps(k, ensure_ascii=False) + "\n")
    else:
        click.echo(f"{task} / {k['label']}")
        click.echo(format_knowledge(k))


@kb.command("index")
@click.option("--json", "out_json", is_flag=True, help="One JSON object on stdout.")
def index_cmd(out_json):
    """Build the dense search index now (it is also built on first search, once, and cached)."""
    from secllm.knowledge import CatalogNotInstalled
    from secllm.knowledge.search import KnowledgeBase

    try:
        kbase = KnowledgeBase()
        note = _announce_build(kbase)
    except CatalogNotInstalled as exc:
        raise _catalog_error(exc) from exc
    meta = {k: v for k, v in kbase.index_meta.items() if k != "ids"}
    if out_json:
        sys.stdout.write(json.dumps(meta) + "\n")
    else:
        click.echo(note or "dense index already built (cached)")
        click.echo(f"{meta.get('n_docs')} entries, {meta.get('encoder')}, ATT&CK {meta['versions']['attack']}, "
                   f"CWE {meta['versions']['cwe']}; first build took {meta.get('build_seconds')} s")
