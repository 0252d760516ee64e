"""The one door to the knowledge layer (``secllm.knowledge``, issue 20) from the correlator.

``knowledge(task, label)`` returns what the knowledge layer knows about a verdict --
``{"cwe", "attack", "tactics", "severity": {"level", "score", "scale", "reason"}, "mitigations",
"catalogs"}`` -- or ``None``. Until ``secllm.knowledge`` lands on this branch, a small stand-in
table answers for the labels the tests and the replay use; it goes away with the merge.

    >>> knowledge("web-attack", "sqli")["tactics"]
    ['initial-access']
    >>> knowledge("web-attack", "no-such-label") is None
    True
    >>> TACTIC_ORDER.index("reconnaissance") < TACTIC_ORDER.index("impact")
    True
"""

from __future__ import annotations

import copy
import functools
from typing import Any

try:  # the real knowledge layer, once merged (issue 20)
    from secllm.knowledge import TACTIC_ORDER as _KB_TACTIC_ORDER  # type: ignore[attr-defined]
    from secllm.knowledge import knowledge_for as _kb_knowledge_for  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the merge state
    _KB_TACTIC_ORDER = None
    _kb_knowledge_for = None

# The 14 ATT&CK Enterprise tactics in kill-chain order (shortnames as ATT&CK's STIX writes them).
TACTIC_ORDER: tuple[str, ...] = tuple(_KB_TACTIC_ORDER) if _KB_TACTIC_ORDER else (
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence",
    "privilege-escalation", "defense-evasion", "credential-access", "discovery", "lateral-movement",
    "collection", "command-and-control", "exfiltration", "impact")
TACTIC_RANK = {t: i for i, t in enumerate(TACTIC_ORDER)}

_ATTACK_URL = "https://attack.mitre.org/mitigations/{}/"


def _sev(level: str, score: float, reason: str) -> dict[str, Any]:
    return {"level": level, "score": score, "scale": "0-10, CVSS-like base impact", "reason": reason}


def _mit(mid: str, name: str) -> dict[str, str]:
    return {"id": mid, "name": name, "url": _ATTACK_URL.format(mid)}


# Stand-in until secllm.knowledge is merged: the labels the correlator's tests and the replay need.
_M1050 = _mit("M1050", "Exploit Protection")
_M1016 = _mit("M1016", "Vulnerability Scanning")
_M1026 = _mit("M1026", "Privileged Account Management")
_M1032 = _mit("M1032", "Multi-factor Authentication")
_M1036 = _mit("M1036", "Account Use Policies")
_M1038 = _mit("M1038", "Execution Prevention")
_M1042 = _mit("M1042", "Disable or Remove Feature or Program")
_M1048 = _mit("M1048", "Application Isolation and Sandboxing")
_M1031 = _mit("M1031", "Network Intrusion Prevention")
_M1056 = _mit("M1056", "Pre-compromise")
_CATALOGS = {"attack": "stand-in", "cwe": "stand-in"}


def _entry(cwe, attack, tactics, sev, mitigations) -> dict[str, Any]:
    return {"cwe": list(cwe), "attack": list(attack), "tactics": list(tactics), "severity": sev,
            "mitigations": list(mitigations), "catalogs": _CATALOGS}


_INJECTION = [_M1050, _M1048, _M1016]
_STAND_IN: dict[tuple[str, str], dict[str, Any]] = {
    ("web-attack", "sqli"): _entry(["CWE-89"], ["T1190"], ["initial-access"],
                                   _sev("high", 8.6, "SQL injection can read or change the database"), _INJECTION),
    ("web-attack", "xss"): _entry(["CWE-79"], ["T1189"], ["initial-access"],
                                  _sev("medium", 6.1, "script runs in other users' browsers"), _INJECTION),
    ("web-attack", "cmdi"): _entry(["CWE-78"], ["T1190", "T1059"], ["initial-access", "execution"],
                                   _sev("critical", 9.8, "operating-system commands run on the server"),
                                   [_M1050, _M1038, _M1048]),
    ("web-attack", "path-traversal"): _entry(["CWE-22"], ["T1190", "T1083"], ["initial-access", "discovery"],
                                             _sev("high", 7.5, "files outside the web root can be read"),
                                             _INJECTION),
    ("web-attack", "rfi"): _entry(["CWE-98"], ["T1190", "T1105"], ["initial-access", "command-and-control"],
                                  _sev("critical", 9.8, "remote code is included and run"), _INJECTION),
    ("web-attack", "xxe"): _entry(["CWE-611"], ["T1190"], ["initial-access"],
                                  _sev("high", 7.5, "XML external entities read files or reach hosts"), _INJECTION),
    ("web-attack", "ssi"): _entry(["CWE-97"], ["T1190"], ["initial-access"],
                                  _sev("high", 7.3, "server-side includes run on the server"), _INJECTION),
    ("web-attack", "ldap-injection"): _entry(["CWE-90"], ["T1190"], ["initial-access"],
                                             _sev("high", 7.3, "directory queries are changed"), _INJECTION),
    ("web-attack", "xpath-injection"): _entry(["CWE-643"], ["T1190"], ["initial-access"],
                                              _sev("high", 7.3, "XML queries are changed"), _INJECTION),
    ("web-attack", "nosqli"): _entry(["CWE-943"], ["T1190"], ["initial-access"],
                                     _sev("high", 8.6, "database queries are changed"), _INJECTION),
    ("web-attack", "open-redirect"): _entry(["CWE-601"], ["T1566.002"], ["initial-access"],
                                            _sev("medium", 4.7, "users are sent to an attacker's site"),
                                            [_M1050]),
    ("web-attack", "format-string"): _entry(["CWE-134"], ["T1190"], ["initial-access"],
                                            _sev("high", 7.5, "format strings read or write memory"), _INJECTION),
    ("web-attack", "scanner"): _entry([], ["T1595.002"], ["reconnaissance"],
                                      _sev("low", 3.1, "a known scanner probes the site"), [_M1056]),
    ("web-attack", "restricted-file"): _entry(["CWE-538"], ["T1595.003"], ["reconnaissance"],
                                              _sev("medium", 5.3, "requests for files that should never be "
                                                   "served (secrets, repositories, backups)"), [_M1056, _M1042]),
    ("log", "brute-force"): _entry(["CWE-307"], ["T1110"], ["credential-access"],
                                   _sev("high", 7.5, "passwords are guessed until one works"),
                                   [_M1032, _M1036, _M1026]),
}
for _t in ("Execution", "Persistence", "Privilege Escalation", "Defense Evasion", "Credential Access",
           "Discovery", "Lateral Movement", "Command and Control"):
    _STAND_IN[("evtx-tactic", _t)] = _entry([], [], [_t.lower().replace(" ", "-")],
                                            _sev("high", 7.0, f"Windows events of {_t.lower()}"), [_M1031])


@functools.lru_cache(maxsize=4096)
def _cached(task: str, label: str) -> dict[str, Any] | None:
    if _kb_knowledge_for is not None:  # pragma: no cover - after the merge
        return _kb_knowledge_for(task, label)
    return _STAND_IN.get((task, label))


def knowledge(task: str, label: str) -> dict[str, Any] | None:
    """Knowledge for a verdict (a copy: callers may annotate it), or ``None`` when none is known."""
    k = _cached(task, label)
    return copy.deepcopy(k) if k is not None else None


def tactics_of(task: str, label: str) -> tuple[tuple[str, ...], tuple[str, ...], float | None]:
    """``(tactics, techniques, severity score)`` of a verdict (cached, no copy), or empty tuples."""
    k = _cached(task, label)
    if not k:
        return (), (), None
    sev = (k.get("severity") or {}).get("score")
    return (tuple(t for t in k.get("tactics") or () if t in TACTIC_RANK), tuple(k.get("attack") or ()),
            float(sev) if sev is not None else None)
