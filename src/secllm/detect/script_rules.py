"""Malicious constructs in PHP, JavaScript, shell and Python source — the languages no model here
was trained on (the script model learned PowerShell only).

Each rule is a construct that ordinary code of that language does not need: code executed straight
from the request (a webshell: ``eval($_POST[...])``), decoded-and-executed blobs (``eval(base64_
decode(...))``, ``eval(unescape(...))``), reverse shells (``bash -i >& /dev/tcp/``,
``nc -e /bin/sh``, a socket duplicated onto a shell), download-and-run chains (``curl ... | sh``).
A file is ``malicious`` when one rule fires, with the rule and its span as evidence; otherwise it is
``benign`` *for these rules* (stage ``rules``: no model judged it). False alarms on the ordinary
scripts of installed packages are measured in ``benchmarks/open_world.py``.

    >>> [f.rule for f in scan_script('<?php @eval($_POST["cmd"]); ?>', "script-php")]
    ['php-exec-request']
    >>> scan_script("function add(a, b) { return a + b; }", "script-javascript")
    []
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SCAN_CHARS = 512 * 1024          # a script is read up to here (the rest is flagged by the caller)

_REQ = r"\$_(?:GET|POST|REQUEST|COOKIE|SERVER|FILES)\b|\$HTTP_(?:GET|POST)_VARS|getallheaders\s*\(|php://input"
_PHP_EXEC = r"\b(?:eval|assert|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|create_function|" \
            r"call_user_func(?:_array)?|preg_replace\s*\(\s*['\"][^'\"]*/e['\"]?|include|require(?:_once)?|" \
            r"include_once|array_map|usort|uasort|array_filter|ob_start)\b"
_DECODE = r"\b(?:base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|hex2bin|convert_uudecode|" \
          r"rawurldecode|urldecode|pack)\s*\("

RULES: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "script-php": [
        ("php-exec-request", re.compile(r"(?:" + _PHP_EXEC + r")\s*\(\s*[@(]*\s*(?:stripslashes\s*\(\s*)?(?:"
                                        + _REQ + r")", re.IGNORECASE)),
        ("php-exec-decoded", re.compile(r"\b(?:eval|assert|create_function)\s*\(\s*[@(]*\s*(?:" + _DECODE + r")",
                                        re.IGNORECASE)),
        ("php-variable-function-request", re.compile(r"\$\w+\s*=\s*(?:" + _REQ + r")[^;]*;\s*[^;]*\$\w+\s*\(\s*"
                                                     r"(?:" + _REQ + r")", re.IGNORECASE)),
        ("php-dynamic-call-request", re.compile(r"(?:" + _REQ + r")\s*\[[^\]]*\]\s*\(\s*(?:" + _REQ + r")",
                                                re.IGNORECASE)),
        ("php-upload-webshell", re.compile(r"move_uploaded_file\s*\(\s*\$_FILES[^)]*\)\s*.{0,200}?(?:echo|print)",
                                           re.IGNORECASE | re.DOTALL)),
    ],
    "script-javascript": [
        ("js-eval-decoded", re.compile(r"\b(?:eval|Function|setTimeout|setInterval)\s*\(\s*(?:unescape|atob|"
                                       r"String\.fromCharCode|decodeURIComponent|escape)\s*\(", re.IGNORECASE)),
        ("js-write-decoded", re.compile(r"document\.write(?:ln)?\s*\(\s*(?:unescape|atob|String\.fromCharCode)\s*\(",
                                        re.IGNORECASE)),
        ("js-activex-shell", re.compile(r"ActiveXObject\s*\(\s*['\"](?:WScript\.Shell|Shell\.Application|"
                                        r"Scripting\.FileSystemObject|ADODB\.Stream|MSXML2\.XMLHTTP)", re.IGNORECASE)),
        ("js-hidden-iframe", re.compile(r"<iframe[^>]+(?:width\s*=\s*['\"]?[01]['\"\s>]|height\s*=\s*['\"]?[01]['\"\s>]|"
                                        r"visibility\s*:\s*hidden|display\s*:\s*none)[^>]*src\s*=\s*['\"]?https?://",
                                        re.IGNORECASE)),
        ("js-charcode-blob", re.compile(r"String\.fromCharCode\s*\((?:\s*\d+\s*,){40,}", re.IGNORECASE)),
        ("js-child-process-shell", re.compile(r"child_process['\"]?\)?\s*\.\s*(?:exec|spawn)\w*\s*\(\s*['\"`]"
                                              r"(?:/bin/)?(?:sh|bash)\b[^'\"`]*-i", re.IGNORECASE)),
    ],
    "script-shell": [
        ("sh-dev-tcp", re.compile(r"(?:bash|sh)\s+-i\s*[>&]+\s*/dev/(?:tcp|udp)/|>\s*&?\s*/dev/tcp/\S+\s+0>&1")),
        ("sh-nc-exec", re.compile(r"\b(?:nc|ncat|netcat)\b[^\n|;]*\s-(?:e|c)\s+/?(?:bin/)?(?:ba)?sh\b")),
        ("sh-download-run", re.compile(r"\b(?:curl|wget)\b[^\n|;]*(?:https?|ftp)://[^\s|;]+[^\n|;]*\|\s*(?:sudo\s+)?"
                                       r"(?:ba|z|k|da)?sh\b")),
        ("sh-mkfifo-shell", re.compile(r"mkfifo\s+\S+[^\n]*\|\s*/bin/(?:ba)?sh\s+-i")),
        ("sh-fetch-chmod-run", re.compile(r"\b(?:wget|curl)\b[^\n]*(?:https?|ftp)://[^\n]*(?:&&|;)\s*chmod\s+\+?[0-7x]+"
                                          r"\s+\S+\s*(?:&&|;)\s*\./")),
    ],
    "script-python": [
        ("py-socket-shell", re.compile(r"socket\.socket\(.{0,400}?\.connect\(.{0,400}?os\.dup2\(.{0,400}?"
                                       r"(?:subprocess\.call|pty\.spawn|os\.system)\s*\(\s*\[?\s*['\"]/bin/(?:ba)?sh",
                                       re.DOTALL)),
        ("py-exec-decoded", re.compile(r"\bexec\s*\(\s*(?:base64\.b64decode|zlib\.decompress|codecs\.decode|"
                                       r"bytes\.fromhex|marshal\.loads)\s*\(")),
        ("py-exec-fetched", re.compile(r"\bexec\s*\(\s*(?:urllib\.request\.urlopen|requests\.get|urlopen)\s*\(")),
    ],
}


@dataclass(frozen=True)
class ScriptFinding:
    rule: str
    start: int
    end: int


def languages() -> tuple[str, ...]:
    """The script kinds these rules cover."""
    return tuple(RULES)


def scan_script(text: str, kind: str) -> list[ScriptFinding]:
    """Every rule of ``kind``'s language that fires on ``text`` (its first ``MAX_SCAN_CHARS``)."""
    t = text[:MAX_SCAN_CHARS]
    out = []
    for name, rx in RULES.get(kind, []):
        m = rx.search(t)
        if m:
            out.append(ScriptFinding(name, m.start(), m.end()))
    return out
