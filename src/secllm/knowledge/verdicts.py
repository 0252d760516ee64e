"""Verdict → knowledge: the reviewed table that gives every verdict its CWE, ATT&CK and mitigations.

``knowledge_for(task, label)`` answers for any label a shipped task (or the web signatures, the
fail-closed guard, learning mode, the auth-log rules) emits:

    >>> k = knowledge_for("web-attack", "sqli")                                  # doctest: +SKIP
    >>> k["cwe"], k["attack"], k["tactics"], k["severity"]["level"]               # doctest: +SKIP
    (['CWE-89'], ['T1190'], ['initial-access'], 'critical')
    >>> [m["id"] for m in k["mitigations"]][:3]                                  # doctest: +SKIP
    ['M1050', 'M1016', 'M1051']
    >>> knowledge_for("web-attack", "benign") is None, knowledge_for("traffic", "Facetime") is None
    (True, True)
    >>> knowledge_for("cti-attack", "T1059.001")["tactics"]                      # doctest: +SKIP
    ['execution']

How the table was made (review it here, not in the output):
- **CWE**: the weakness an attack of that class exploits, at the most specific level that is
  still true for the whole class (CWE-89 for SQL injection, not CWE-74). Malware, phishing,
  post-exploitation activity and operational failures exploit no software weakness: empty.
- **ATT&CK**: what the adversary does, as Enterprise 18.1 names it. Web injections are
  ``T1190 Exploit Public-Facing Application`` plus the follow-on technique the payload itself
  performs (``T1059.004 Unix Shell`` for command injection). Traffic families: the command-and-
  control techniques ATT&CK records for that family (or its successor) as software, since a flow
  shows C2. EVTX tactic labels: the tactic plus techniques seen in that class's recordings.
- **Tactics**: from the techniques (kill-chain order) unless the verdict *is* a tactic.
- **Severity**: ``severity.SCALE`` — CVSS v3.1 base score of a representative vector (stated per
  entry with the reason); verdicts that are not attacks (hardware faults, unknown flows) get an
  explicit score with the reason instead.
- **Mitigations**: ATT&CK mitigations of the mapped techniques (``mitigates`` relationships),
  the reviewed ``prefer`` ones first, then by how many mapped techniques each covers and how
  specific it is; then the CWE's potential mitigations (High effectiveness first).
- Where no honest mapping exists the entry says why (``note``) instead of guessing.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from secllm.knowledge.attack import TACTIC_ORDER, load_attack
from secllm.knowledge.cwe import capec_url, load_cwe
from secllm.knowledge.ids import normalize_id
from secllm.knowledge.severity import SCALE, cvss31_base, describe_vector, level

__all__ = ["knowledge_for", "known_labels", "Entry", "TABLE", "BENIGN", "TACTIC_SEVERITY", "warm"]

MAX_ATTACK_MITIGATIONS = 5
MAX_CWE_MITIGATIONS = 3
MAX_CAPEC = 5


@dataclass(frozen=True)
class Entry:
    """One reviewed row of the table."""

    summary: str                                   # what the verdict means, one line
    cwe: tuple[str, ...] = ()
    attack: tuple[str, ...] = ()
    tactics: tuple[str, ...] | None = None         # None: the techniques' tactics
    vector: str | None = None                      # CVSS v3.1 base vector of a typical successful attack
    score: float | None = None                     # instead of a vector, for verdicts that are not attacks
    reason: str = ""                               # one line: why this severity
    prefer: tuple[str, ...] = ()                   # ATT&CK mitigations listed first
    aliases: tuple[str, ...] = ()                  # other spellings of the label
    note: str = ""                                 # caveats; why a mapping is empty


_WEB_MIT = ("M1050", "M1016", "M1051", "M1048")   # WAF/exploit protection, scanning, patching, isolation
_RCE = "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
_READ = "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
_REFLECTED = "AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"

_WEB: dict[str, Entry] = {
    "sqli": Entry("SQL injection: input changes the structure of a database query",
                  ("CWE-89",), ("T1190",), vector=_RCE, prefer=_WEB_MIT,
                  reason="unauthenticated SQL injection reads and alters the database and often reaches the host",
                  aliases=("sql-injection", "sql")),
    "xss": Entry("cross-site scripting: input is served back as script in other users' browsers",
                 ("CWE-79",), ("T1189", "T1059.007"), vector=_REFLECTED, prefer=("M1021", "M1050"),
                 reason="runs script in a victim's session (needs the victim to open it); steals session data",
                 aliases=("cross-site-scripting",),
                 note="ATT&CK has no XSS technique: drive-by compromise and JavaScript execution are what it enables"),
    "cmdi": Entry("OS command injection: input reaches a shell command",
                  ("CWE-78", "CWE-77"), ("T1190", "T1059.004"), vector=_RCE, prefer=_WEB_MIT,
                  reason="arbitrary commands with the web server's rights, without authentication",
                  aliases=("command-injection", "os-command-injection", "rce", "code-injection")),
    "path-traversal": Entry("path traversal: ../ sequences reach files outside the web root",
                            ("CWE-22",), ("T1190", "T1005"), vector=_READ, prefer=_WEB_MIT,
                            reason="reads any file the server can read (configuration, credentials, source)",
                            aliases=("directory-traversal", "traversal", "dir-traversal")),
    "lfi": Entry("local file inclusion: input names a local file the application includes",
                 ("CWE-98", "CWE-22"), ("T1190", "T1005"), vector=_READ, prefer=_WEB_MIT,
                 reason="discloses local files; with log poisoning can become code execution",
                 aliases=("local-file-inclusion",)),
    "rfi": Entry("remote file inclusion: input makes the application load and run remote code",
                 ("CWE-98",), ("T1190", "T1105"), vector=_RCE, prefer=_WEB_MIT,
                 reason="the included remote script runs on the server: remote code execution",
                 aliases=("remote-file-inclusion",)),
    "ldap-injection": Entry("LDAP injection: input changes an LDAP filter",
                            ("CWE-90",), ("T1190",), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N", prefer=_WEB_MIT,
                            reason="directory data disclosure and authentication bypass through altered filters",
                            aliases=("ldapi", "ldap")),
    "xpath-injection": Entry("XPath injection: input changes an XPath query",
                             ("CWE-643",), ("T1190",), vector=_READ, prefer=_WEB_MIT,
                             reason="reads the whole XML document the query runs on; bypasses XML-backed logins",
                             aliases=("xpath", "xpathi")),
    "nosqli": Entry("NoSQL injection: input changes a NoSQL query (operators, JavaScript)",
                    ("CWE-943",), ("T1190",), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N", prefer=_WEB_MIT,
                    reason="reads and alters data; operator injection bypasses authentication",
                    aliases=("nosql-injection", "nosql")),
    "xxe": Entry("XML external entity: a DTD makes the parser read files or fetch URLs",
                 ("CWE-611",), ("T1190", "T1005"), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:L", prefer=_WEB_MIT,
                 reason="local file disclosure and server-side requests; entity expansion can exhaust memory",
                 aliases=("xml-external-entity", "xml")),
    "ssi": Entry("server-side include injection: SSI directives in input are executed by the server",
                 ("CWE-97",), ("T1190", "T1059"), vector=_RCE, prefer=_WEB_MIT,
                 reason="<!--#exec--> runs commands on the server",
                 aliases=("ssi-injection", "server-side-include")),
    "ssti": Entry("server-side template injection: input is evaluated by a template engine",
                  ("CWE-1336", "CWE-94"), ("T1190", "T1059"), vector=_RCE, prefer=_WEB_MIT,
                  reason="template expressions reach the language runtime: remote code execution",
                  aliases=("template-injection", "server-side-template-injection")),
    "open-redirect": Entry("open redirect: input chooses where the site redirects its users",
                           ("CWE-601",), ("T1566.002", "T1204.001"), vector=_REFLECTED,
                           prefer=("M1054", "M1021", "M1017"),
                           reason="a trusted domain forwards victims to a phishing or malware site",
                           aliases=("redirect", "url-redirect")),
    "format-string": Entry("format string: input is used as a printf-style format",
                           ("CWE-134",), ("T1190",), vector="AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", prefer=_WEB_MIT,
                           reason="memory disclosure and writes (%n) in native code; exploitation takes work",
                           aliases=("format-strings", "fmt")),
    "log4shell": Entry("Log4Shell / JNDI injection: a ${jndi:...} lookup makes Java load remote code",
                       ("CWE-917", "CWE-502"), ("T1190", "T1105"), vector="AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                       prefer=_WEB_MIT,
                       reason="any logged string triggers remote class loading (CVE-2021-44228 is scored 10.0)",
                       aliases=("jndi", "jndi-injection", "log4j", "cve-2021-44228")),
    "shellshock": Entry("Shellshock: a function definition in an environment variable makes bash run trailing code",
                        ("CWE-78",), ("T1190", "T1059.004"), vector=_RCE, prefer=_WEB_MIT,
                        reason="CGI headers become bash environment variables: remote code execution (CVE-2014-6271)",
                        aliases=("cve-2014-6271", "bash-injection")),
    "crlf": Entry("CRLF / HTTP header injection: line breaks in input add headers or split the response",
                  ("CWE-93", "CWE-113"), ("T1190",), vector=_REFLECTED, prefer=_WEB_MIT,
                  reason="forged headers and responses: cache poisoning, session fixation, XSS",
                  aliases=("crlf-injection", "header-injection", "http-header-injection", "response-splitting",
                           "http-response-splitting")),
    "scanner": Entry("known attack tool: the request carries a scanner's user agent, header or path marker",
                     (), ("T1595.002",), vector="AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N", prefer=("M1056",),
                     reason="reconnaissance: finds what is already exposed; dangerous as a precursor",
                     aliases=("vulnerability-scanner", "attack-tool"),
                     note="scanning exploits no weakness by itself: no CWE"),
    "restricted-file": Entry("request for a file a site must never serve (/.env, /.git/, wp-config.php, backups)",
                             ("CWE-538", "CWE-530", "CWE-527"), ("T1595.003", "T1552.001"), vector=_READ,
                             prefer=("M1022", "M1047", "M1056"),
                             reason="if served, it discloses secrets (keys, database passwords) or source history",
                             aliases=("restricted-files", "sensitive-file", "forced-browsing")),
    "too-complex": Entry("fail-closed verdict: the input exceeded the judging budget (size, decoding depth, parts)",
                         (), ("T1027",), score=5.0, prefer=("M1049",),
                         reason="not judged, so its impact is unknown; nested encodings are a known WAF-evasion method",
                         aliases=("too-large", "fail-closed"),
                         note="no content verdict was made; T1027 describes why over-complex input is suspicious"),
    "malicious": Entry("web attack of an unspecified type",
                       ("CWE-20",), ("T1190",), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L", prefer=_WEB_MIT,
                       reason="an attack on a public-facing application whose type was not determined",
                       aliases=("attack", "anom", "anomalous")),
}

_URL: dict[str, Entry] = {
    "phishing": Entry("phishing URL: a page that imitates a trusted site to steal credentials or data",
                      (), ("T1566.002", "T1598.003", "T1204.001"), vector="AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:N/A:N",
                      prefer=("M1054", "M1021", "M1017"),
                      reason="a victim who follows it gives away credentials usable on other systems",
                      note="phishing exploits people, not a software weakness: no CWE"),
    "malware": Entry("malware URL: a link that serves malicious code",
                     (), ("T1204.001", "T1189", "T1105"), vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
                     prefer=("M1021", "M1031", "M1017"),
                     reason="running what it serves gives the attacker the victim's host",
                     note="malware distribution exploits no specific software weakness: no CWE"),
    "spam": Entry("spam URL: a link advertised through unsolicited bulk messages",
                  (), ("T1566.002",), vector="AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N", prefer=("M1054", "M1017"),
                  reason="mostly a nuisance; the same channel delivers phishing and malware",
                  note="ATT&CK has no spam technique; link phishing is the nearest, sharing its mitigations"),
    "defacement": Entry("defaced website URL", ("CWE-20",), ("T1491.002",),
                        vector="AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N", reason="the site's content was replaced",
                        note="the site was compromised earlier by an unknown weakness; CWE-20 is a placeholder class"),
    "malicious": Entry("malicious URL of an unspecified type", (), ("T1204.001",),
                       vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:L/A:N", prefer=("M1021", "M1017"),
                       reason="a link whose visit harms the user", aliases=("anom", "bad")),
}

_SCRIPT: dict[str, Entry] = {
    "malicious": Entry("malicious script (PowerShell download cradle or loader, malicious JavaScript, PHP webshell)",
                       ("CWE-506",), ("T1059.001", "T1059.007", "T1505.003", "T1027", "T1105"),
                       vector="AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", prefer=("M1042", "M1038", "M1049"),
                       reason="running it hands the host to the attacker (download, injection, remote shell)",
                       note="the label does not say the language: the techniques cover PowerShell, JavaScript and webshells"),
    "powershell": Entry("malicious PowerShell script", ("CWE-506",), ("T1059.001", "T1027", "T1105"),
                        vector="AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", prefer=("M1042", "M1045", "M1049"),
                        reason="download cradles and in-memory loaders give the attacker the host"),
    "javascript": Entry("malicious JavaScript (exploit kit, dropper)", ("CWE-506",), ("T1059.007", "T1189", "T1027"),
                        vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", prefer=("M1021", "M1048", "M1050"),
                        reason="drive-by exploitation of the browser or a dropped payload", aliases=("js",)),
    "webshell": Entry("PHP webshell: a script that gives remote control of the web server",
                      ("CWE-506", "CWE-434"), ("T1505.003", "T1059"), vector=_RCE, prefer=("M1047", "M1026"),
                      reason="anyone who knows its URL runs commands on the server",
                      aliases=("php-webshell", "php", "web-shell")),
}

# USTC-TFC 2016 malware families (the flow is C2 traffic; techniques are the family's C2 techniques
# in ATT&CK where it is catalogued as software, else the C2 behaviour the family is known for)
_C2 = ("M1031", "M1037")
_TRAFFIC: dict[str, Entry] = {
    "cridex": Entry("Cridex: banking trojan and worm (the Bugat lineage that became Dridex, S0384)", (),
                    ("T1071.001", "T1573.002", "T1090", "T1041"), vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N",
                    prefer=_C2, reason="steals banking credentials and changes transactions on an infected host",
                    note="ATT&CK catalogues its successor Dridex (S0384), whose C2 techniques are used"),
    "geodo": Entry("Geodo (Emotet, S0367): banking trojan turned malware loader", (),
                   ("T1071.001", "T1573.001", "T1105", "T1571", "T1041"), vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
                   prefer=_C2, reason="loads further malware (ransomware precursors) and spreads laterally",
                   aliases=("emotet",)),
    "htbot": Entry("Htbot: proxy bot that rents infected hosts out as HTTP proxies", (),
                   ("T1090", "T1071.001", "T1105"), vector="AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:L",
                   prefer=_C2, reason="others' traffic is relayed through the victim; downloads further payloads",
                   note="not catalogued as ATT&CK software: techniques from its proxy behaviour"),
    "miuref": Entry("Miuref (Boaxxe): click-fraud trojan", (), ("T1071.001", "T1496", "T1105"),
                    vector="AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:L", prefer=_C2,
                    reason="uses the host's browser and bandwidth for fraud; can fetch other malware",
                    note="not catalogued as ATT&CK software: techniques from its behaviour"),
    "neris": Entry("Neris: IRC-controlled botnet (spam, click fraud)", (), ("T1071", "T1095", "T1105"),
                   vector="AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:L", prefer=_C2,
                   reason="remote-controlled bot used for spam and fraud",
                   note="not catalogued as ATT&CK software: IRC C2 is an application-layer / non-application protocol"),
    "nsis-ay": Entry("Nsis-ay: NSIS-installer trojan downloader", (), ("T1105", "T1071.001", "T1204.002"),
                     vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", prefer=_C2,
                     reason="installs further malware chosen by its operator",
                     aliases=("nsis",), note="not catalogued as ATT&CK software: downloader behaviour"),
    "shifu": Entry("Shifu: banking trojan built on the Shiz trojan", (), ("T1071.001", "T1185", "T1041"),
                   vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N", prefer=_C2,
                   reason="hooks the browser to steal and alter online-banking sessions",
                   note="not catalogued as ATT&CK software: techniques from its behaviour"),
    "tinba": Entry("Tinba (Tiny Banker): small banking trojan with web injects", (), ("T1071.001", "T1185", "T1568.002"),
                   vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N", prefer=_C2,
                   reason="injects into banking pages to steal credentials; DGA domains for C2",
                   aliases=("tinybanker", "tiny-banker"),
                   note="not catalogued as ATT&CK software: techniques from its behaviour"),
    "virut": Entry("Virut: file-infecting virus with an IRC botnet", (), ("T1071", "T1080", "T1105"),
                   vector="AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", prefer=_C2,
                   reason="infects executables and shares, and obeys remote commands",
                   note="not catalogued as ATT&CK software: techniques from its behaviour"),
    "zeus": Entry("Zeus: banking trojan (Zeus Panda S0330, P2P ZeuS S0016)", (), ("T1071.001", "T1105", "T1185"),
                  vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N", prefer=_C2,
                  reason="steals banking credentials through browser injection", aliases=("zbot",)),
    "unknown": Entry("flow of no known class (out of distribution for the traffic model)", score=3.0,
                     reason="not recognised as any known application or family: review, do not assume an attack",
                     aliases=("anomalous", "anomaly", "unknown-flow"),
                     note="an unrecognised flow is not evidence of a technique: no mapping"),
}
_TRAFFIC_BENIGN = ("bittorrent", "facetime", "ftp", "gmail", "mysql", "outlook", "skype", "smb", "weibo",
                   "worldofwarcraft", "benign")

_BGL_NOTE = "a supercomputer hardware/software failure alert, not an attack: no CWE or ATT&CK technique"
_BGL: dict[str, Entry] = {
    "alert": Entry("BGL alert: a log line that administrators flagged as a failure", score=5.0,
                   reason="a node or job failure: availability at risk, no confidentiality impact", note=_BGL_NOTE,
                   aliases=("anomaly", "anomalous", "malicious")),
}
for _cat, _what, _score in (("kerndtlb", "kernel data TLB error (hardware)", 5.0),
                            ("kernstor", "kernel storage error", 5.0),
                            ("appsev", "application severe error", 5.0),
                            ("kernmntf", "kernel mount failure (file system unavailable)", 5.0),
                            ("kernterm", "kernel terminated (node down)", 6.0),
                            ("kernrec", "kernel recovery / error report", 4.0),
                            ("appres", "application resource error", 4.0),
                            ("appread", "application read error", 4.0),
                            ("kernrtsp", "kernel RTS panic (node down)", 6.0),
                            ("appto", "application timeout", 4.0),
                            ("appchild", "application child-process failure", 4.0)):
    _BGL[_cat] = Entry(f"BGL alert {_cat.upper()}: {_what}", score=_score,
                       reason="lost node or job: availability only" if _score >= 5 else "a degraded job: availability only",
                       note=_BGL_NOTE)

_HDFS: dict[str, Entry] = {
    "anomaly": Entry("anomalous HDFS block session (event sequence unlike normal block life cycles)", score=4.0,
                     reason="failed writes or replication put data blocks at risk: availability/integrity",
                     aliases=("anomalous", "alert", "malicious"),
                     note="HDFS anomalies are operational faults in this data set, not attacks: no CWE or ATT&CK"),
}

# EVTX-ATTACK-SAMPLES folders: the tactic plus techniques recorded in that folder's files
_EVTX: dict[str, Entry] = {
    "command-and-control": Entry("Windows events of command and control (RDP tunnelling, BITS, tunnels)", (),
                                 ("T1572", "T1105", "T1071"), ("command-and-control",),
                                 vector="AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N", prefer=("M1031", "M1037"),
                                 reason="an operator controls the host remotely"),
    "credential-access": Entry("Windows events of credential access (LSASS dumps, DCSync, password stores, spraying)",
                               (), ("T1003.001", "T1003.006", "T1555", "T1110.003"), ("credential-access",),
                               vector="AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N", prefer=("M1043", "M1027", "M1026"),
                               reason="stolen credentials open other systems (scope change)"),
    "defense-evasion": Entry("Windows events of defense evasion (log clearing, tampering, injection, DLL hijack)", (),
                             ("T1070.001", "T1562.001", "T1055", "T1574.001"), ("defense-evasion",),
                             vector="AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:H/A:N", prefer=("M1022", "M1047", "M1040"),
                             reason="the attacker blinds monitoring; integrity of logs and defences lost"),
    "discovery": Entry("Windows events of discovery (account, group, share and session enumeration)", (),
                       ("T1087", "T1069", "T1135", "T1018"), ("discovery",),
                       vector="AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", prefer=("M1028",),
                       reason="information gathering inside the network; a precursor"),
    "execution": Entry("Windows events of execution (LOLBins: rundll32, mshta, regsvr32, XSL; MSI, scripts)", (),
                       ("T1218.011", "T1218.005", "T1218.010", "T1220", "T1059"), ("execution",),
                       vector="AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", prefer=("M1038", "M1042", "M1050"),
                       reason="attacker code runs on the host"),
    "lateral-movement": Entry("Windows events of lateral movement (PsExec/SMB, WinRM, WMI, DCOM, pass the hash, RDP)",
                              (), ("T1021.002", "T1021.006", "T1047", "T1021.003", "T1550.002"), ("lateral-movement",),
                              vector="AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", prefer=("M1026", "M1035", "M1030"),
                              reason="the attacker reaches further hosts with stolen access"),
    "persistence": Entry("Windows events of persistence (run keys, WMI subscriptions, accounts, BITS, accessibility)",
                         (), ("T1547.001", "T1546.003", "T1136.001", "T1197", "T1546.008"), ("persistence",),
                         vector="AV:L/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", prefer=("M1026", "M1018", "M1028"),
                         reason="the attacker keeps access across reboots and credential changes"),
    "privilege-escalation": Entry("Windows events of privilege escalation (UAC bypass, token theft/potatoes, exploits)",
                                  (), ("T1548.002", "T1134.001", "T1068"), ("privilege-escalation",),
                                  vector="AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", prefer=("M1052", "M1026", "M1051"),
                                  reason="a user-level foothold becomes SYSTEM or administrator"),
    "automatedtestingtools": Entry("Windows events from automated attack simulations (Atomic Red Team, malware emulation: "
                                   "side-loading, injection, rundll32, run keys, UAC bypass)", (),
                                   ("T1574.001", "T1055", "T1218.011", "T1547.001", "T1548.002"),
                                   ("defense-evasion", "persistence", "privilege-escalation"),
                                   vector="AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", prefer=("M1038", "M1040"),
                                   reason="emulated malware behaviour: code runs, persists and escalates",
                                   aliases=("automated-testing-tools",)),
    "other": Entry("Windows events of other attacks in the set (Emotet PowerShell, maldoc mshta, BlueKeep RDP scan)", (),
                   ("T1059.001", "T1218.005", "T1210"), ("execution", "defense-evasion", "lateral-movement"),
                   vector="AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", prefer=("M1042", "M1051"),
                   reason="malware execution and remote-service exploitation"),
}

_AUTH: dict[str, Entry] = {
    "brute-force": Entry("authentication brute force: a burst of failed logins from one source", ("CWE-307", "CWE-521"),
                         ("T1110.001",), vector="AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", prefer=("M1036", "M1032", "M1027"),
                         reason="succeeds only against weak passwords (AC:H), then gives the account's access",
                         aliases=("bruteforce", "failed-login-burst", "failed-logins", "password-guessing",
                                  "auth-failure-burst", "failed-login")),
    "password-spraying": Entry("password spraying: few passwords tried against many accounts", ("CWE-307", "CWE-521"),
                               ("T1110.003",), vector="AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N",
                               prefer=("M1036", "M1032", "M1027"),
                               reason="evades per-account lockout; one weak password gives access",
                               aliases=("spraying",)),
    "credential-stuffing": Entry("credential stuffing: leaked username/password pairs tried", ("CWE-307",),
                                 ("T1110.004",), vector="AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", prefer=("M1032", "M1036"),
                                 reason="reused passwords give access without guessing"),
}

_LOG_PROFILE_NOTE = "a learned-profile deviation in system logs says 'unlike normal', not which attack: no mapping"
_PROFILE: dict[str, Entry] = {
    "unseen-endpoint": Entry("request to an endpoint the site never served (forced browsing, probing)", ("CWE-425",),
                             ("T1595.003",), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", prefer=("M1056",),
                             reason="probing for unlinked resources; harmful if one is exposed",
                             aliases=("endpoint",)),
    "unseen-extension": Entry("request for a file type the site never served (backups, archives, configs)",
                              ("CWE-530", "CWE-425"), ("T1595.003",), vector=_READ, prefer=("M1056",),
                              reason="backup and archive files disclose source and secrets if present",
                              aliases=("extension",)),
    "unseen-method": Entry("HTTP method the site never received (PUT, DELETE, TRACE, WebDAV)", ("CWE-650",),
                           ("T1595.002",), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N", prefer=("M1056",),
                           reason="probing for write or debug methods the server may accept", aliases=("method",)),
    "unseen-parameter": Entry("parameter never seen on this endpoint (tampering, fuzzing, mass assignment)",
                              ("CWE-20", "CWE-915"), ("T1595.002",), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N",
                              prefer=("M1056",), reason="hidden or debug parameters can change behaviour",
                              aliases=("param-unseen", "parameter")),
    "missing-parameter": Entry("a parameter that normal requests always send is missing", ("CWE-20",), ("T1595.002",),
                               vector="AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", prefer=("M1056",),
                               reason="hand-made or tool requests; may reach untested code paths",
                               aliases=("param-missing",)),
    "parameter-order": Entry("parameters in an order normal clients never use", ("CWE-20",), ("T1595.002",),
                             score=2.0, reason="a hand-made or tool request; weak evidence on its own",
                             prefer=("M1056",), aliases=("order",)),
    "anomalous-value": Entry("parameter value unlike the learned ones (length, characters, shape, enumeration)",
                             ("CWE-20",), ("T1190",), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L", prefer=_WEB_MIT,
                             reason="injected payloads change value length and character mix",
                             aliases=("length", "chardist", "shape", "enum", "value")),
    "unseen-header": Entry("HTTP header never sent by normal clients", ("CWE-20",), ("T1595.002",),
                           vector="AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", prefer=("M1056",),
                           reason="tools and exploits add headers (X-Forwarded-For spoofing, payload carriers)",
                           aliases=("header-unseen", "header")),
    "missing-header": Entry("a header that normal clients always send is missing", (), ("T1595.002",), score=2.0,
                            reason="typical of scripts and scanners rather than browsers; weak evidence",
                            prefer=("M1056",), aliases=("header-missing",),
                            note="a missing header is no weakness: no CWE"),
    "embedding-outlier": Entry("the request's content is far from the site's normal traffic (density model)",
                               ("CWE-20",), ("T1190",), vector="AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L", prefer=_WEB_MIT,
                               reason="content unlike anything normal: a possible injection",
                               aliases=("density", "outlier")),
    "anomalous": Entry("request unlike the learned site profile", ("CWE-20",), ("T1190",),
                       vector="AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L", prefer=_WEB_MIT,
                       reason="a deviation that may be an attack on the application",
                       aliases=("deviation", "anomaly", "web-anomaly")),
    "unseen-template": Entry("log line of a template never seen in normal operation", score=3.0,
                             reason="new behaviour of the system; review", note=_LOG_PROFILE_NOTE,
                             aliases=("template", "new-template")),
    "rare-template": Entry("log line of a template that is rare in normal operation", score=2.0,
                           reason="unusual but known behaviour", note=_LOG_PROFILE_NOTE),
    "anomalous-token": Entry("a known log template with a value never seen at that position", score=2.0,
                             reason="a new value (user, host, code) in a known message", note=_LOG_PROFILE_NOTE,
                             aliases=("token", "log-value")),
    "sequence-anomaly": Entry("session whose event sequence is unlike normal sessions (unseen events/transitions)",
                              score=3.0, reason="the system did something in an order it never does",
                              note=_LOG_PROFILE_NOTE,
                              aliases=("unseen-event", "unseen-transition", "sequence", "event", "transition")),
    "log-anomaly": Entry("log line or session unlike the learned system profile", score=3.0,
                         reason="a deviation from normal operation; review", note=_LOG_PROFILE_NOTE,
                         aliases=("log-anomalous",)),
}

TABLE: dict[str, dict[str, Entry]] = {
    "web-attack": _WEB, "url": _URL, "script": _SCRIPT, "traffic": _TRAFFIC, "log-bgl": _BGL, "log-hdfs": _HDFS,
    "evtx-tactic": _EVTX, "log-auth": _AUTH, "profile": _PROFILE,
}
BENIGN: dict[str, tuple[str, ...]] = {
    "web-attack": ("benign", "norm", "normal", "none"), "url": ("benign", "none"), "script": ("benign", "none"),
    "traffic": _TRAFFIC_BENIGN, "log-bgl": ("normal", "benign", "-"), "log-hdfs": ("normal", "benign"),
    "evtx-tactic": ("benign", "none", "normal"), "log-auth": ("normal", "benign", "success"),
    "profile": ("normal", "benign"), "cti-attack": ("none", "no-technique", "other", "[other]", "benign"),
}
TASK_ALIASES = {"web": "web-attack", "evtx": "evtx-tactic", "cti": "cti-attack", "auth": "log-auth",
                "bgl": "log-bgl", "hdfs": "log-hdfs"}

# a technique's severity when only the technique is known (cti-attack): the worst of its tactics
TACTIC_SEVERITY: dict[str, tuple[str, str]] = {
    "reconnaissance": ("AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N", "information gathering only"),
    "resource-development": ("AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", "preparation outside the victim's network"),
    "initial-access": ("AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", "a foothold from outside"),
    "execution": ("AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "attacker code runs on the host"),
    "persistence": ("AV:L/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", "access that survives reboots (needs prior access)"),
    "privilege-escalation": ("AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", "user rights become system rights"),
    "defense-evasion": ("AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:H/A:N", "defences and logs lose integrity"),
    "credential-access": ("AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N", "stolen credentials open other systems"),
    "discovery": ("AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N", "information gathering inside the network"),
    "lateral-movement": ("AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", "the attacker reaches further hosts"),
    "collection": ("AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", "data gathered for theft"),
    "command-and-control": ("AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N", "remote control of a compromised host"),
    "exfiltration": ("AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N", "data leaves the organisation"),
    "impact": ("AV:N/AC:L/PR:L/UI:N/S:C/C:N/I:H/A:H", "destruction, encryption or denial of service"),
}
# CWE lists its strongest advice first; only a stated "High" moves ahead, weak kinds move back
_EFFECTIVENESS_RANK = {"High": 0, "Moderate": 1, None: 1, "Defense in Depth": 2, "Limited": 3, "Incidental": 4,
                       "Discouraged Common Practice": 9}


def _norm_label(label: str) -> str:
    return re.sub(r"[\s_]+", "-", label.strip().lower())


def _norm_task(task: str) -> str:
    t = task.strip().lower()
    return TASK_ALIASES.get(t, t)


@functools.lru_cache(maxsize=1)
def _index() -> dict[tuple[str, str], str]:
    """(task, any spelling) → canonical label."""
    idx: dict[tuple[str, str], str] = {}
    for task, rows in TABLE.items():
        for lab, e in rows.items():
            for a in (lab, *e.aliases):
                idx.setdefault((task, _norm_label(a)), lab)
    return idx


def _severity(vector: str | None, score: float | None, reason: str) -> dict:
    s = cvss31_base(vector) if vector else float(score or 0.0)
    out = {"level": level(s), "score": s, "scale": SCALE, "reason": reason}
    if vector:
        out["vector"] = f"CVSS:3.1/{vector}"
        out["reason"] = f"{reason} ({describe_vector(vector)})"
    return out


def _attack_mitigations(techniques: tuple[str, ...], prefer: tuple[str, ...]) -> list[dict]:
    att = load_attack()
    cover: dict[str, int] = {}
    for t in techniques:
        for m in att.techniques[t].mitigations:
            cover[m] = cover.get(m, 0) + 1
    ranked = [m for m in prefer if m in cover]
    rest = sorted((m for m in cover if m not in ranked),
                  key=lambda m: (-cover[m], len(att.mitigations[m].techniques), m))
    out = []
    for m in (ranked + rest)[:MAX_ATTACK_MITIGATIONS]:
        mit = att.mitigations[m]
        out.append({"id": mit.id, "name": mit.name, "url": mit.url, "source": "attack",
                    "for": [t for t in techniques if m in att.techniques[t].mitigations]})
    return out


def _first_sentence(text: str, limit: int = 200) -> str:
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def _cwe_mitigations(cwes: tuple[str, ...]) -> list[dict]:
    cat = load_cwe()
    out = []
    for cid in cwes[:1]:      # the primary weakness: its catalogue advice, strongest first
        w = cat.weaknesses[cid]
        order = sorted(range(len(w.mitigations)),
                       key=lambda i: (_EFFECTIVENESS_RANK.get(w.mitigations[i].effectiveness, 1), i))
        for i in order[:MAX_CWE_MITIGATIONS]:
            m = w.mitigations[i]
            label = m.strategy or (m.phases[0] if m.phases else "Mitigation")
            out.append({"id": f"{cid}/{m.mitigation_id or f'#{i + 1}'}", "name": f"{label}: {_first_sentence(m.description)}",
                        "url": f"{w.url}#Potential_Mitigations", "source": "cwe", "for": [cid],
                        "phases": list(m.phases), "effectiveness": m.effectiveness})
    return out


def _tactics_of(techniques: tuple[str, ...]) -> list[str]:
    att = load_attack()
    found = {s for t in techniques for s in att.techniques[t].tactics}
    return [s for s in TACTIC_ORDER if s in found]


def _refs(cwes, techniques, tactics) -> list[dict]:
    att, cat = load_attack(), load_cwe()
    refs = [{"id": c, "name": cat.weaknesses[c].name, "url": cat.weaknesses[c].url, "kind": "cwe"} for c in cwes]
    refs += [{"id": t, "name": att.techniques[t].full_name, "url": att.techniques[t].url, "kind": "technique"}
             for t in techniques]
    for s in tactics:
        ta = att.tactic(s)
        refs.append({"id": ta.id, "name": ta.name, "url": ta.url, "kind": "tactic", "shortname": s})
    capec = list(dict.fromkeys(c for cid in cwes for c in cat.weaknesses[cid].capec))[:MAX_CAPEC]
    refs += [{"id": c, "name": None, "url": capec_url(c), "kind": "capec"} for c in capec]
    return refs


def _build(task: str, label: str, e: Entry) -> dict:
    att = load_attack()
    tactics = [s for s in TACTIC_ORDER if s in e.tactics] if e.tactics is not None else _tactics_of(e.attack)
    out = {
        "task": task, "label": label, "summary": e.summary,
        "cwe": list(e.cwe), "attack": list(e.attack), "tactics": tactics,
        "severity": _severity(e.vector, e.score, e.reason),
        "mitigations": _attack_mitigations(e.attack, e.prefer) + _cwe_mitigations(e.cwe),
        "refs": _refs(e.cwe, e.attack, tactics),
        "catalogs": {"attack": att.version, "cwe": load_cwe().version},
    }
    if e.note:
        out["note"] = e.note
    return out


# answers are kept as JSON text: decoding one (~20 µs) is a private copy, 5-10x faster than deepcopy
@functools.lru_cache(maxsize=1)
def _table() -> dict[tuple[str, str], str]:
    return {(task, lab): json.dumps(_build(task, lab, e)) for task, rows in TABLE.items() for lab, e in rows.items()}


@functools.lru_cache(maxsize=1024)
def _technique(tid: str) -> str | None:
    att = load_attack()
    t = att.current(tid)
    if t is None:
        return None
    tactics = [s for s in TACTIC_ORDER if s in t.tactics]
    worst = max(tactics, key=lambda s: cvss31_base(TACTIC_SEVERITY[s][0])) if tactics else None
    vector, why = TACTIC_SEVERITY[worst] if worst else (None, "")
    e = Entry(f"{t.id} {t.full_name}", attack=(t.id,), tactics=tuple(tactics), vector=vector,
              score=None if vector else 0.0, reason=f"worst tactic {worst}: {why}" if worst else "no tactic",
              note="" if t.id == tid else f"{tid} was revoked; {t.id} replaced it")
    return json.dumps(_build("cti-attack", t.id, e))


def knowledge_for(task: str, label: str) -> dict | None:
    """The knowledge of one verdict: ``{"cwe", "attack", "tactics", "severity", "mitigations",
    "refs", "catalogs", "summary", ("note")}``, or ``None`` for benign/none labels and labels
    the table does not know. The first call loads the catalogues (~1 s); later calls are a dict
    lookup plus a private copy (the caller may change the result freely).

    ``task`` is a registered task name (``web-attack``, ``url``, ``script``, ``traffic``,
    ``log-bgl``, ``log-hdfs``, ``evtx-tactic``, ``cti-attack``) or ``log-auth`` / ``profile``;
    ``label`` the attack type or class (any case, ``_``/space/``-`` alike; aliases accepted:
    ``jndi`` → ``log4shell``, ``too_complex`` → ``too-complex``). For ``cti-attack`` any ATT&CK
    technique id (revoked ids follow their replacement).
    """
    t = _norm_task(task)
    lab = _norm_label(label)
    if lab in BENIGN.get(t, ()):
        return None
    if t == "cti-attack":
        tid = normalize_id(label)
        if tid is None or not tid.startswith("T") or tid.startswith("TA"):
            return None
        hit = _technique(tid)
        return json.loads(hit) if hit is not None else None
    canon = _index().get((t, lab))
    if canon is None:
        return None
    return json.loads(_table()[(t, canon)])


def known_labels(task: str | None = None) -> dict[str, list[str]]:
    """The canonical labels the table answers for, per task (``cti-attack``: any technique id)."""
    tasks = [_norm_task(task)] if task else list(TABLE)
    return {t: list(TABLE.get(t, {})) for t in tasks}


def warm() -> None:
    """Load the catalogues and precompute the table now (servers call this at start-up)."""
    _table()
