"""Incidents: findings and third-party alerts correlated into attack paths, with reports.

The data flow, each step a module::

    scan findings / Suricata / Wazuh / ModSecurity / alert CSV   (alerts.py, findings.py: -> Finding)
      -> routine-noise model per host and rule                     (noise.py)
      -> streaming correlation by actor and time, de-duplication,
         ATT&CK stages, success, assets, severity, next actions    (correlate.py; knowledge.py, taxonomy.py)
      -> JSON lines, Markdown, HTML with timeline charts, STIX 2.1  (report.py)

    >>> from secllm.incidents import Finding, correlate
    >>> fs = [Finding(f"a.log:{i}", 1000.0 + i, task="web-attack", label="sqli", name="sqli", rule="web-attack:sqli",
    ...               src="10.0.0.5", status=200, target=f"/s?q={i}") for i in range(1, 4)]
    >>> [inc.to_json()["stages"][0]["tactic"] for inc in correlate(fs)]
    ['initial-access']
"""

from secllm.incidents.alerts import ALERT_FORMATS, ReadError, detect_format, finding_from_object, read_findings
from secllm.incidents.correlate import (
    SCHEMA_VERSION,
    Correlator,
    CorrelatorConfig,
    Incident,
    ReadStats,
    correlate,
    correlate_files,
    merge_by_time,
)
from secllm.incidents.findings import Finding, finding_from_scan, iso, parse_time
from secllm.incidents.knowledge import TACTIC_ORDER, knowledge
from secllm.incidents.noise import NoiseConfig, NoiseModel
from secllm.incidents.report import md_safe, render_html, render_markdown, stix_bundle_json, to_stix
from secllm.incidents.taxonomy import classify

__all__ = [
    "ALERT_FORMATS", "SCHEMA_VERSION", "TACTIC_ORDER", "Correlator", "CorrelatorConfig", "Finding", "Incident",
    "NoiseConfig", "NoiseModel", "ReadError", "ReadStats", "correlate_files", "classify", "correlate", "detect_format", "finding_from_object",
    "finding_from_scan", "iso", "knowledge", "md_safe", "merge_by_time", "parse_time", "read_findings",
    "render_html", "render_markdown", "stix_bundle_json", "to_stix",
]
