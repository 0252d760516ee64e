"""`secllm incidents`: findings and SOC alerts correlated into incidents and attack paths."""

from __future__ import annotations

from pathlib import Path

import click


def host_map(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise click.UsageError(f"--host-of wants FILE=HOST, got {v!r}")
        f, h = v.split("=", 1)
        out[Path(f).name] = h
    return out


class IncidentSink:
    """`scan --incidents FILE`: every judged item goes to a correlator (findings open incidents,
    benign items are context); incidents are written as JSON lines as they close."""

    def __init__(self, path: str, quiet: float, min_score: float, host_of: tuple[str, ...]):
        from secllm.incidents import Correlator

        self.correlator = Correlator(make_config(quiet, min_score), host_of=host_map(host_of))
        self.out = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.written = 0

    def _write(self, incs) -> None:
        import json

        for inc in incs:
            self.out.write(json.dumps(inc.to_json(), ensure_ascii=False) + "\n")
            self.written += 1
        self.out.flush()

    def __call__(self, obj: dict) -> None:
        from secllm.incidents import finding_from_scan

        f = finding_from_scan(obj)
        if f is not None:
            self._write(self.correlator.add(f))

    def close(self) -> None:
        self._write(self.correlator.flush())
        self.out.close()


def correlation_options(fn):
    """Options shared by `secllm incidents` and `secllm scan --incidents`."""
    fn = click.option("--quiet", "quiet", type=float, default=1800.0, show_default=True,
                      help="Seconds without new activity of its actors after which an incident closes.")(fn)
    fn = click.option("--min-score", type=float, default=10.0, show_default=True,
                      help="Evidence an incident needs to be reported (see docs/incidents.md).")(fn)
    fn = click.option("--host-of", multiple=True, metavar="FILE=HOST",
                      help="The host the findings of FILE come from (an access log's server), for asset linking.")(fn)
    return fn


def make_config(quiet: float, min_score: float):
    from secllm.incidents import CorrelatorConfig

    if quiet <= 0:
        raise click.UsageError("--quiet must be positive")
    return CorrelatorConfig(quiet=quiet, min_score=min_score)


def summary_line(inc: dict) -> str:
    from secllm.html_escape import term_safe

    path = " -> ".join(s["tactic"] + ("*" if s["succeeded"] else "") for s in inc["stages"]) or "-"
    return term_safe(f"{inc['id']}  {inc['severity']['level']:<8} {inc['severity']['score']:>4}  "
                     f"{', '.join(inc['actors'][:3]):<28} {inc['first_seen']} .. {inc['last_seen']}  "
                     f"{path}  ({inc['item_count']} findings)")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["auto", "findings", "eve", "wazuh", "modsec", "alerts-csv", "raw"]),
              default="auto", show_default=True,
              help="Input format (auto: per file; files that are neither findings nor alerts are scanned first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per incident on stdout.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="Write the incidents as JSON lines here.")
@click.option("--markdown", "md_file", type=click.Path(dir_okay=False), default=None, help="Write a Markdown report.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Write a self-contained HTML report with timeline charts.")
@click.option("--stix", "stix_file", type=click.Path(dir_okay=False), default=None, help="Write a STIX 2.1 bundle.")
@correlation_options
@click.option("--noise", type=click.Choice(["two-pass", "online", "off"]), default="two-pass", show_default=True,
              help="Routine-noise learning for third-party alerts: from all the files first, while reading, or none.")
@click.option("--noise-model", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Judge routine noise with a model saved earlier (--save-noise) instead of learning.")
@click.option("--save-noise", type=click.Path(dir_okay=False), default=None,
              help="Save the learned routine-noise model (JSON) and print its top routine rules on stderr.")
@click.option("--keep-findings", type=click.Path(dir_okay=False), default=None,
              help="Raw inputs are scanned first: keep their findings (every item, JSONL) here.")
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False),
              help="Web model for scanning raw inputs (default: the shipped model).")
@click.option("--raw-ips", is_flag=True, help="Raw inputs: keep client addresses (default: keyed pseudonyms).")
@click.option("--ip-key", envvar="SECLLM_SCAN_IP_KEY", default=None, help="Raw inputs: key for client pseudonyms.")
def incidents(paths, fmt, as_json, out_file, md_file, html_file, stix_file, quiet, min_score, host_of, noise,
              noise_model, save_noise, keep_findings, model_dir, raw_ips, ip_key):
    """Correlate findings and alerts into incidents: who attacked, in which order, what worked.

    PATHS: `secllm scan` findings (JSONL), Suricata EVE JSON, Wazuh/OSSEC alerts.json, ModSecurity
    audit logs (serial or JSON), alert CSVs (time,name,ip,host), or raw inputs that `secllm scan`
    reads (access logs, requests, pcaps...), which are scanned first.

    \b
      secllm incidents findings.jsonl eve.json --json
      secllm incidents access.log --raw-ips --html report.html --stix bundle.json
    """
    import json

    from secllm.incidents import NoiseModel, ReadStats, correlate_files, detect_format
    from secllm.incidents import render_html, render_markdown, stix_bundle_json

    config = make_config(quiet, min_score)
    hosts = host_map(host_of)
    alert_fmt = None if fmt in ("auto", "raw") else fmt
    known, raw = [], []
    for p in paths:
        kind = None if fmt == "raw" else (alert_fmt or detect_format(p))
        (known if kind else raw).append(p)
    tmp = None
    if raw:
        tmp = _scan_raw(raw, keep_findings, model_dir, raw_ips, ip_key)
        known.append(tmp)
    model = None
    if noise_model:
        try:
            model = NoiseModel.from_json(json.loads(Path(noise_model).read_text()))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"{noise_model}: {exc}") from exc
    stats = ReadStats()
    used: list = []
    out = open(out_file, "w", encoding="utf-8") if out_file else None
    collected = []
    try:
        for inc in correlate_files(known, alert_fmt or "auto", config, noise=noise, noise_model=model,
                                   host_of=hosts, read_stats=stats, correlator=used):
            d = inc.to_json()
            line = json.dumps(d, ensure_ascii=False)
            if out is not None:
                out.write(line + "\n")
                out.flush()
            if as_json:
                click.echo(line)
            elif out is None:
                click.echo(summary_line(d))
            if md_file or html_file or stix_file:
                collected.append(d)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if out is not None:
            out.close()
        if tmp is not None and not keep_findings:
            Path(tmp).unlink(missing_ok=True)
    collected.sort(key=lambda d: d["first_seen"] or "")
    meta = {"inputs": ", ".join(Path(p).name for p in paths[:8]) + (" …" if len(paths) > 8 else ""),
            "quiet period": f"{quiet:g} s", "noise": noise}
    if md_file:
        Path(md_file).write_text(render_markdown(collected, meta=meta), encoding="utf-8")
    if html_file:
        Path(html_file).write_text(render_html(collected, meta=meta), encoding="utf-8")
    if stix_file:
        Path(stix_file).write_text(stix_bundle_json(collected), encoding="utf-8")
    c = used[0] if used else None
    if save_noise and c is not None:
        Path(save_noise).write_text(json.dumps(c.noise.to_json()), encoding="utf-8")
        for r in c.noise.report(top=10):
            click.echo(f"routine {r['routine']:.2f}  {r['count']:>7}  {r['host']}  {r['name'][:70]}", err=True)
    if c is not None:
        s = c.stats
        click.echo(f"{s.incidents_reported} incident(s) from {s.findings} finding(s) "
                   f"({s.context} benign items as context, {s.routine} routine alerts, {s.duplicates} duplicates, "
                   f"{s.incidents_suppressed} weak candidates not reported)", err=True)
    if stats.errors:
        from secllm.html_escape import term_safe

        click.echo(f"skipped {stats.errors} unreadable item(s); first: " + "; ".join(term_safe(e) for e in stats.first),
                   err=True)


def _scan_raw(raw: list[str], keep: str | None, model_dir: str | None, raw_ips: bool, ip_key: str | None) -> str:
    """Scan raw inputs as ``secllm scan --all`` does (identified, routed to the task made for each
    kind), every item kept (benign items are the correlator's context)."""
    import tempfile

    from secllm.detect.detector import WebAttackDetector
    from secllm.detect.route import Router
    from secllm.paths import DEFAULT_MODEL_DIR
    from secllm.runtime import resolve_backend
    from secllm.scan import scan as run_scan

    d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    try:
        web = WebAttackDetector.load(d, backend=resolve_backend(d, "auto"))
        det = Router(d, backend="auto", web=web)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if keep:
        path = keep
    else:
        fd, path = tempfile.mkstemp(prefix="secllm-findings-", suffix=".jsonl")
        import os

        os.close(fd)
    with open(path, "w", encoding="utf-8") as out:
        try:
            summary = run_scan(raw, det, out, all_items=True, evidence=False, raw_ips=raw_ips,
                               ip_key=ip_key.encode() if ip_key else None, progress=False)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(summary.format(), err=True)
    return path
