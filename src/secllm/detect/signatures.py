"""Known attack-tool signatures: the request says which scanner sent it.

A vulnerability scanner's probe is often an ordinary-looking request (``GET /admin.php``) whose
only tell is the tool's name in the ``User-Agent`` or a marker header or path the tool always
sends. No model can learn that a ``GET /`` is hostile from the request alone; a WAF flags it by
name. These lists are the OWASP Core Rule Set's scanner-detection data (CRS 3.3.4,
``REQUEST-913-SCANNER-DETECTION``: ``scanners-user-agents.data`` for rule 913100,
``scanners-headers.data`` for 913110, ``scanners-urls.data`` for 913120; Apache License 2.0),
matched the way CRS does (case-insensitive substring). One entry is left out: ``QQGameHall``, the
user agent of Tencent's game client, which flags ordinary traffic in China.

The module also carries CRS's paranoia-level-1 file rules on the URL-decoded path: the
restricted-files list (930130: ``/.env``, ``/.git/``, ``wp-config.php``, ``.ssh/id_rsa`` ...), the
editor backup files (920500: ``index.php~``) and, **only when asked** (``extensions=True``,
``secllm detect --restricted-extensions``), the restricted basename extensions (920440: ``.bak``,
``.old``, ``.sql``, ``.ini``, ``.log``, ``.dll`` ...): on the 1book *training* URLs that rule fires
on 2.4% of the benign rows (495 of 20,435; validation 64 of 2,555) and 0.09% of the attacks, too
broad for a default (CRS users tune that policy per site). On the same benign training URLs the
default lists fire on 0.2% (913120 40, 930130 8, 920500 2).

A hit makes the detection malicious with ``attack_type`` ``scanner`` (``restricted-file`` for the
file rules) unless the model already found an attack, whose type is kept; the matched name is the evidence and is listed in
``Detection.signatures``. Turn it off with ``WebAttackDetector.signatures = False`` or
``secllm detect --no-signatures``.

    >>> [h.name for h in match_parts([_P("header:user-agent", "Mozilla/5.00 (Nikto/2.1.6)", 10)])]
    ['nikto']
    >>> match_parts([_P("header:user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", 0)])
    []
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable, NamedTuple

# CRS 3.3.4 scanners-user-agents.data (913100), minus QQGameHall (see the module docstring)
USER_AGENTS = (
    "(hydra)", ".nasl", "absinthe", "advanced email extractor", "arachni/", "autogetcontent", "bilbo",
    "BFAC", "brutus", "brutus/aet", "bsqlbf", "cgichk", "cisco-torch", "commix", "core-project/1.0",
    "crimscanner/", "datacha0s", "dirbuster", "domino hunter", "dotdotpwn", "email extractor",
    "fhscan core 1.", "floodgate", "F-Secure Radar", "get-minimal", "gobuster",
    "gootkit auto-rooter scanner", "grabber", "grendel-scan", "havij", "inspath", "internet ninja",
    "jaascois", "zmeu", "Jorgee", "masscan", "metis", "morfeus fucking scanner", "mysqloit",
    "n-stealth", "nessus", "netsparker", "nikto", "nmap nse", "nmap scripting engine", "nmap-nse",
    "nsauditor", "Nuclei", "openvas", "pangolin", "paros", "pmafind", "prog.customcrawler",
    "qualys was", "s.t.a.l.k.e.r.", "security scan", "springenwerk", "sql power injector", "sqlmap",
    "sqlninja", "sysscan", "teh forest lobster", "this is an exploit", "toata dragostea",
    "toata dragostea mea pentru diavola", "uil2pn", "user-agent:", "vega/", "voideye", "w3af.sf.net",
    "w3af.sourceforge.net", "w3af.org", "webbandit", "webinspect", "webshag",
    "webtrends security analyzer", "webvulnscan", "Wfuzz", "Fuzz Faster U Fool", "whatweb", "whcc/",
    "wordpress hash grabber", "xmlrpc exploit", "WPScan", "struts-pwn", "Detectify", "zgrab",
)
# CRS 3.3.4 scanners-headers.data (913110): header names and values
HEADERS = (
    "acunetix-product", "(acunetix web vulnerability scanner", "acunetix-scanning-agreement",
    "acunetix-user-agreement", "myvar=1234", "x-ratproxy-loop",
    "bytes=0-,5-0,5-1,5-2,5-3,5-4,5-5,5-6,5-7,5-8,5-9,5-10,5-11,5-12,5-13,5-14", "x-scanner",
)
# CRS 3.3.4 scanners-urls.data (913120): request path and parameter values
URLS = (
    "/.adSensepostnottherenonobook", "/<invalid>hello.html", "/actSensepostnottherenonotive",
    "/acunetix-wvs-test-for-some-inexistent-file", "/antidisestablishmentarianism",
    "/appscan_fingerprint/mac_address", "/arachni-", "/cybercop", "/nessus_is_probing_you_",
    "/nessustest", "/netsparker-", "/rfiinc.txt", "/thereisnowaythat-you-canbethere",
    "/w3af/remotefileinclude.html", "appscan_fingerprint", "w00tw00t.at.ISC.SANS.DFind",
    "w00tw00t.at.blackhats.romanian.anti-sec",
)


# CRS 3.3.4 restricted-files.data (930130, paranoia level 1): files a site should never serve,
# looked for in the request's path after URL-decoding and path normalisation, as CRS does
RESTRICTED_FILES = (
    ".htaccess", ".htdigest", ".htpasswd", ".aptitude/config", ".bash_config", ".bash_history",
    ".bash_logout", ".bash_profile", ".bashrc", ".cache/notify-osd.log", ".config/odesk/odesk team.conf",
    ".cshrc", ".drush/", ".gitconfig", ".gnupg/", ".hplip/hplip.conf", ".ksh_history", ".lesshst", ".lftp/",
    ".lhistory", ".lldb-history", ".local/share/mc/", ".my.cnf", ".mysql_history", ".nano_history",
    ".node_repl_history", ".nsr", ".pearrc", ".php_history", ".pki/", ".profile", ".psql_history",
    ".python_history", ".rediscli_history", ".Rhistory", ".sh_history", ".sqlite_history",
    ".ssh/authorized_keys", ".ssh/config", ".ssh/id_dsa", ".ssh/id_dsa.pub", ".ssh/id_rsa", ".ssh/id_rsa.pub",
    ".ssh/identity", ".ssh/identity.pub", ".ssh/known_hosts", ".subversion/auth", ".subversion/config",
    ".subversion/servers", ".tconn/tconn.conf", ".tcshrc", ".vidalia/vidalia.conf", ".viminfo", ".vimrc",
    ".xauthority", ".zhistory", ".zshrc", ".zsh_history", ".nsconfig", "/.git/", "/.gitignore", "/.hg/",
    "/.hgignore", "/.svn/", "wp-config.php", "wp-config.bak", "wp-config.old", "wp-config.temp",
    "wp-config.tmp", "wp-config.txt", "/config/config.yml", "/config/config_dev.yml",
    "/config/config_prod.yml", "/config/config_test.yml", "/config/parameters.yml", "/config/routing.yml",
    "/config/security.yml", "/config/services.yml", "/sites/default/default.settings.php",
    "/sites/default/settings.php", "/sites/default/settings.local.php", "/app/etc/local.xml",
    "/sftp-config.json", "/Web.config", "/package.json", "/package-lock.json", "/gruntfile.js",
    "/npm-debug.log", "/ormconfig.json", "/tsconfig.json", "/webpack.config.js", "/yarn.lock",
    "/composer.json", "/composer.lock", "/packages.json", "/.env", "/.DS_Store", "/.ws_ftp.ini", ".netrc",
    ".thunderbird/", ".vmware/", ".kube/", ".java/", ".anydesk/", ".docker/", ".npm/", ".nvm/",
    ".minikube/", ".atom/", ".aws/config", ".aws/credentials", ".cups/", ".dbus/", ".boto", ".gem/",
    ".gnonme/", ".gsutil/", ".idea", "nbproject/", "bower.json", ".bowerrc", ".eslintrc", ".jshintrc",
    ".gitlab-ci.yml", ".travis.yml", "database.yml", "Dockerfile",
)
# CRS 3.3.4 tx.restricted_extensions (rule 920440, paranoia level 1): the request's basename may not
# end in these; and rule 920500: editor backup files ("index.php~")
RESTRICTED_EXTENSIONS = frozenset(
    """.asa .asax .ascx .axd .backup .bak .bat .cdx .cer .cfg .cmd .com .config .conf .cs .csproj .csr
    .dat .db .dbf .dll .dos .htr .htw .ida .idc .idq .inc .ini .key .licx .lnk .log .mdb .old .pass .pdb
    .pol .printer .pwd .rdb .resources .resx .sql .swp .sys .vb .vbs .vbproj .vsdisco .webinfo .xsd
    .xsx""".split())
_BACKUP_FILE = re.compile(r"\.[^.~]+~(?:/.*|)$")
ATTACK_TYPES = {"913100": "scanner", "913110": "scanner", "913120": "scanner", "930130": "restricted-file",
                "920440": "restricted-file", "920500": "restricted-file"}


def _words(words: Iterable[str]) -> re.Pattern:
    # lower-cased literals, longest first so that "toata dragostea mea pentru diavola" wins over
    # "toata dragostea"; matched against lower-cased text (3x faster than re.IGNORECASE or a find loop)
    return re.compile("|".join(re.escape(w) for w in sorted({w.lower() for w in words}, key=len, reverse=True)))


_UA = _words(USER_AGENTS)
_HEADERS = _words(HEADERS)
_URLS = _words(URLS)
_RESTRICTED = _words(RESTRICTED_FILES)
_LISTS = {"ua": _UA, "headers": _HEADERS, "urls": _URLS}


def _filename(decoded: str) -> str:
    """REQUEST_FILENAME as CRS 930130 reads it: (URL-decoded,) Windows/dot segments normalised, lower case."""
    import posixpath

    p = decoded.replace("\\", "/")
    norm = posixpath.normpath(p) if p else p
    if p.endswith("/") and not norm.endswith("/"):
        norm += "/"
    return _lower(norm)


def _lower(text: str) -> str:
    """Lower-case without changing the length (so offsets index the original text)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _find(words: re.Pattern, low: str) -> tuple[str, int] | None:
    """The leftmost list entry found in the lower-cased text, and where."""
    m = words.search(low)
    return (m.group(0), m.start()) if m else None


@functools.lru_cache(maxsize=1 << 16)
def _find_short(which: str, text: str) -> tuple[str, int] | None:
    return _find(_LISTS[which], _lower(text))


def _find_text(which: str, text: str) -> tuple[str, int] | None:
    """:func:`_find` on the lower-cased ``text``; short texts (header values repeat) are cached."""
    if len(text) <= 512:
        return _find_short(which, text)
    return _find(_LISTS[which], _lower(text))


class _P(NamedTuple):            # the fields of secllm.data.http.Part this module reads
    name: str
    text: str
    start: int


@dataclass(frozen=True)
class SignatureHit:
    name: str        # the matched list entry, lower-cased ("nikto")
    rule: str        # which CRS rule's list: 913100 user agent, 913110 header, 913120 url, 930130 restricted file
    part: str        # the part it was found in ("header:user-agent")
    start: int       # span in the original input
    end: int


def match_parts(parts, item: str | None = None, extensions: bool = False) -> list[SignatureHit]:
    """Signature hits in an input's parts (:func:`secllm.data.http.split_web_input`), in order.

    User-agent names are looked for in ``header:user-agent``; scanner marker headers in every
    header's name and value; scanner paths in the target, path, query/body parameter values and
    bare payloads; restricted files (``/.env``, ``/.git/``, ``wp-config.php``) and editor backups in
    the decoded path; with ``extensions`` also CRS's restricted basename extensions (off by default:
    see the module docstring). Each list entry is reported once per input. ``item`` (the original input) lets
    a marker header's name be located for the evidence span; without it the span is the value's.
    """
    hits: list[SignatureHit] = []
    seen: set[str] = set()
    low_item = None                             # lower-cased item, made only when a header name hits

    def add(name: str, at: int | None, rule: str, part, length: int | None = None) -> None:
        """One hit per list entry: ``at`` is its offset in ``part`` (None: unknown, the whole part)."""
        if name in seen:
            return
        seen.add(name)
        if at is None:
            s, e = part.start, part.start + len(part.text)
        else:
            s = part.start + at
            e = s + (len(name) if length is None else length)
        hits.append(SignatureHit(name, rule, part.name, s, e))

    def add_found(found: tuple[str, int] | None, rule: str, part) -> None:
        if found is not None:
            add(found[0], found[1], rule, part)

    have_target = False
    for p in parts:
        n = p.name
        if n.startswith("header:"):
            if n == "header:user-agent":
                add_found(_find_text("ua", p.text), "913100", p)
            found = _find_text("headers", n[7:])                   # a marker header's name,
            if found is not None:                                  # just before its value
                if item is not None and low_item is None:
                    low_item = _lower(item)
                k = low_item.rfind(n[7:], 0, p.start) if low_item is not None else -1
                add(found[0], k + found[1] - p.start if k >= 0 else 0, "913110", p)
            add_found(_find_text("headers", p.text), "913110", p)
        elif n in ("target", "url", "value") or n.startswith("body:") or \
                (not have_target and (n == "path" or n.startswith("query:"))):
            # the whole target already holds the path and every query value
            have_target = have_target or n in ("target", "url")
            add_found(_find_text("urls", p.text), "913120", p)
        if n == "path":
            _path_hits(p, add, extensions)
    return hits


def _path_hits(p, add, extensions: bool) -> None:
    """The CRS file rules on the URL-decoded path: 930130 restricted files, 920500 editor backups,
    with ``extensions`` 920440 restricted basename extensions. Spans point into the raw path when
    the match reads the same there, else cover the whole path."""
    from urllib.parse import unquote

    decoded, raw_low = unquote(p.text), _lower(p.text)
    base = decoded.rstrip("/").rsplit("/", 1)[-1]
    if extensions and "." in base:
        ext = "." + base.rsplit(".", 1)[1].lower()
        if ext in RESTRICTED_EXTENSIONS:
            at = raw_low.rfind(ext)
            add(f"*{ext}", at if at >= 0 else None, "920440", p, length=len(ext))
    if _BACKUP_FILE.search(decoded) is not None:
        at = p.text.find("~")
        add("*~", at if at >= 0 else None, "920500", p, length=1)
    found = _find(_RESTRICTED, _filename(decoded))
    if found is not None:
        at = raw_low.find(found[0])
        add(found[0], at if at >= 0 else None, "930130", p)
