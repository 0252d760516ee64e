"""What a third-party alert is about: its ATT&CK tactic and technique, from what the alert says.

Suricata, Wazuh, ModSecurity and alert CSVs name their alerts in free text (``ET SCAN Nmap
Scripting Engine User-Agent Detected``, ``sshd: authentication failed``, ``SQL Injection Attack
Detected via libinjection``), often with a category or tags. This module maps that text to a
stage of an attack path with a reviewed table of patterns (first match wins, most specific first);
where a pattern names a verdict the knowledge layer knows (``("web-attack", "sqli")``), the
correlator asks the knowledge layer for CWE, severity and mitigations. An alert the table cannot
place keeps no tactic: it still joins its actor's incident, but adds no stage.

    >>> c = classify("ET SCAN Nmap Scripting Engine User-Agent Detected (Nmap NSE)")
    >>> c.tactics, c.techniques
    (('reconnaissance',), ('T1595',))
    >>> classify("sshd: Attempt to login using a non-existent user").verdict
    ('log-auth', 'brute-force')
    >>> classify("SURICATA STREAM ESTABLISHED packet out of window").tactics
    ()
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["Classified", "classify", "crs_class", "tactic_shortname"]


@dataclass(frozen=True)
class Classified:
    tactics: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()
    verdict: tuple[str, str] | None = None     # (task, label) the knowledge layer may know
    outcome: str | None = None                 # "success" when the alert itself says an attempt worked


_W = "web-attack"
# (pattern, tactic, technique, verdict). Order matters: the first pattern that matches decides.
_RULES: list[tuple[str, str | None, str | None, tuple[str, str] | None]] = [
    # noise families that name attack words in passing ("ET INFO ... SQL", "POLICY ... scan")
    (r"^(?:et|gpl) (?:policy|info|hunting|user_agents|games|chat|p2p|tor)\b", None, None, None),
    (r"^suricata\b", None, None, None),
    # outcomes of authentication
    (r"\b(?:login|logon|authentication|auth) (?:session opened|success|succeeded)|accepted (?:password|publickey)"
     r"|session opened|successful (?:login|logon|sudo|su)", "initial-access", "T1078", None),
    # credential access
    (r"mimikatz|lsass|credential dump|hashdump|/etc/shadow|ntds\.dit|kerberoast", "credential-access", "T1003", None),
    (r"brute.?forc|password guess|authentication fail|login fail|logon fail|failed password|invalid (?:user|login)"
     r"|non-existent user|multiple (?:failed|authentication|login)|auth(?:entication)? failures?|"
     r"attempt to login|wrong password|user login failed", "credential-access", "T1110", ("log-auth", "brute-force")),
    # the answer of a compromised service (ET/GPL ATTACK_RESPONSE): the attempt worked
    (r"attack_response|id check returned|command (?:output|response) (?:detected|returned)|uid=0\(root\)",
     "execution", "T1059", None),
    # execution / persistence on a web server
    (r"web ?shell|c99|r57|china ?chopper|b374k|weevely", "persistence", "T1505.003", None),
    (r"reverse shell|bind shell|netcat|\bnc -e|/bin/(?:ba)?sh -i", "execution", "T1059", None),
    (r"command injection|os command|remote command|cmd(?:\.exe)? exec|shellshock|code execution|\brce\b|"
     r"\battack-rce\b|command execution|php injection", "execution", "T1059", (_W, "cmdi")),
    # web application attacks
    (r"sql ?injection|\bsqli\b|sql_injection|union select|blind sql", "initial-access", "T1190", (_W, "sqli")),
    (r"\bxss\b|cross.?site scripting", "initial-access", "T1189", (_W, "xss")),
    (r"remote file inclusion|\brfi\b", "initial-access", "T1190", (_W, "rfi")),
    (r"path traversal|directory traversal|\blfi\b|local file inclusion|\.\./", "initial-access", "T1190",
     (_W, "path-traversal")),
    (r"\bxxe\b|xml external entit", "initial-access", "T1190", (_W, "xxe")),
    (r"restricted file|forbidden file|sensitive file|\.git/|\.env\b|wp-config", "reconnaissance", "T1595.003",
     (_W, "restricted-file")),
    # privilege escalation
    (r"privilege escalation|became root|\bsudo\b.*(?:fail|incorrect|not in sudoers)|\bsu\b.*fail|setuid|"
     r"first time user executed sudo|successful sudo to root|uid 0|to root", "privilege-escalation", "T1548", None),
    # command and control, exfiltration, lateral movement, impact
    (r"exfil|dnscat|iodine|dnsteal|dns tunnel|data (?:theft|transfer)|large (?:dns|upload)|excessive dns",
     "exfiltration", "T1048", None),
    (r"\btrojan\b|malware|\bcnc\b|\bc2\b|command and control|beacon|botnet|coinminer|\brat\b|backdoor",
     "command-and-control", "T1071", None),
    (r"lateral|psexec|pass.the.hash|\bwmi\b.*(?:exec|remote)|\brsh\b|\brlogin\b|remote service",
     "lateral-movement", "T1021", None),
    (r"\bd?dos\b|denial of service|\bflood|mstream|trinoo|\btfn\b|stacheldraht", "impact", "T1498", None),
    (r"service (?:stop|stopped|disabled|terminated)|ransom|defac|wiper|data destr", "impact", "T1489", None),
    (r"rootkit|rootcheck|trojaned|hidden (?:file|process)", "persistence", "T1014", None),
    # reconnaissance and discovery
    (r"\bscan|sweep|\bprobe|nmap|masscan|zmap|nikto|dirb|gobuster|wpscan|wfuzz|sqlmap|nessus|openvas|"
     r"enumerat|fingerprint|portmap|\bping\b|icmp echo|web server 400 error|multiple web server 400|"
     r"400 error code|404 (?:not found|error)|scanner|attack-reputation-scanner", "reconnaissance", "T1595", None),
    (r"whoami|ipconfig|systeminfo|net (?:user|group)|discovery", "discovery", "T1087", None),
    # exploitation in general (after the specific families above)
    (r"exploit|overflow|shellcode|attempted.(?:admin|user)|privilege gain|\bcve-\d|web application attack",
     "initial-access", "T1190", None),
]
_COMPILED = [(re.compile(p, re.I), t, tech, v) for p, t, tech, v in _RULES]

# Suricata/Snort classtype descriptions (alert.category) when the name says nothing placeable.
_CATEGORIES = {
    "attempted administrator privilege gain": ("initial-access", "T1190"),
    "attempted user privilege gain": ("initial-access", "T1190"),
    "successful administrator privilege gain": ("initial-access", "T1190"),
    "successful user privilege gain": ("initial-access", "T1190"),
    "web application attack": ("initial-access", "T1190"),
    "detection of a network scan": ("reconnaissance", "T1595"),
    "attempted information leak": ("reconnaissance", "T1595"),
    "information leak": ("discovery", "T1082"),
    "large scale information leak": ("exfiltration", "T1048"),
    "a network trojan was detected": ("command-and-control", "T1071"),
    "malware command and control activity detected": ("command-and-control", "T1071"),
    "domain observed used for c2 detected": ("command-and-control", "T1071"),
    "detection of a denial of service attack": ("impact", "T1498"),
    "attempted denial of service": ("impact", "T1498"),
    "denial of service": ("impact", "T1498"),
    "executable code was detected": ("execution", "T1203"),
    "exploit kit activity detected": ("initial-access", "T1189"),
    "attempted login with suspicious username": ("credential-access", "T1110"),
    "an attempted login using a suspicious username was detected": ("credential-access", "T1110"),
}

# Wazuh/OSSEC rule groups, when the description says nothing placeable.
_GROUPS = {
    "authentication_failed": ("credential-access", "T1110", ("log-auth", "brute-force")),
    "authentication_failures": ("credential-access", "T1110", ("log-auth", "brute-force")),
    "invalid_login": ("credential-access", "T1110", ("log-auth", "brute-force")),
    "sql_injection": ("initial-access", "T1190", (_W, "sqli")),
    "web_scan": ("reconnaissance", "T1595", None),
    "recon": ("reconnaissance", "T1595", None),
    "exploit_attempt": ("initial-access", "T1190", None),
    "attack": ("initial-access", "T1190", None),
    "rootcheck": ("persistence", "T1014", None),
    "authentication_success": ("initial-access", "T1078", None),
}

# CRS rule files (the hundreds digit of the rule id) -> the verdict they detect.
_CRS_FILES = {913: (_W, "scanner"), 930: (_W, "path-traversal"), 931: (_W, "rfi"), 932: (_W, "cmdi"),
              933: (_W, "cmdi"), 934: (_W, "cmdi"), 941: (_W, "xss"), 942: (_W, "sqli"), 944: (_W, "cmdi")}
_CRS_TAGS = {"attack-sqli": (_W, "sqli"), "attack-xss": (_W, "xss"), "attack-rce": (_W, "cmdi"),
             "attack-lfi": (_W, "path-traversal"), "attack-rfi": (_W, "rfi"), "attack-injection-php": (_W, "cmdi"),
             "attack-injection-java": (_W, "cmdi"), "attack-reputation-scanner": (_W, "scanner")}


def tactic_shortname(name: str) -> str:
    """ATT&CK tactic name as shortname: ``"Command and Control"`` -> ``"command-and-control"``.

        >>> tactic_shortname("Privilege Escalation"), tactic_shortname("initial-access")
        ('privilege-escalation', 'initial-access')
    """
    return re.sub(r"[\s_]+", "-", name.strip().lower())


@functools.lru_cache(maxsize=65536)
def classify(name: str, category: str = "", groups: tuple[str, ...] = ()) -> Classified:
    """Place an alert by its name, then its category (Suricata classtype), then its groups (Wazuh)."""
    outcome = "success" if re.search(r"\bsuccess(?:ful)?\b|\bsucceeded\b|attack_response|id check returned",
                                     name, re.I) else None
    for rx, tactic, tech, verdict in _COMPILED:
        if rx.search(name):
            if tactic is None:
                break
            return Classified((tactic,), (tech,) if tech else (), verdict, outcome)
    cat = _CATEGORIES.get(category.strip().lower())
    if cat:
        return Classified((cat[0],), (cat[1],), None, outcome)
    for g in groups:
        hit = _GROUPS.get(g.strip().lower())
        if hit:
            return Classified((hit[0],), (hit[1],), hit[2], "success" if g == "authentication_success" else outcome)
    return Classified((), (), None, outcome)


def crs_class(rule_id: str, tags: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """The verdict an OWASP CRS rule detects, from its tags or its rule file (``942100`` -> sqli).

        >>> crs_class("942100"), crs_class("920350"), crs_class("1", ("attack-xss",))
        (('web-attack', 'sqli'), None, ('web-attack', 'xss'))
    """
    for t in tags:
        if t.lower() in _CRS_TAGS:
            return _CRS_TAGS[t.lower()]
    try:
        return _CRS_FILES.get(int(rule_id) // 1000)
    except ValueError:
        return None
