"""Readers of the real sources of ordinary data; each yields :class:`OrdinaryItem`s.

Every reader takes explicit paths (so tests can point it at tiny fixture folders), walks its inputs
in sorted order and never raises because of one unreadable file (it is skipped). De-duplication,
caps and writing happen in :mod:`secllm.data.ordinary.build`.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "avail"
    >>> _ = p.write_text("Package: nginx\\nVersion: 1.22\\nHomepage: https://nginx.org\\n\\n")
    >>> [(i.text, i.group, i.origin) for i in debian_homepages(p)]
    [('https://nginx.org', 'nginx.org', 'debian:nginx 1.22')]
"""

from __future__ import annotations

import ast
import csv
import gettext
import gzip
import hashlib
import html
import io
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from email.parser import HeaderParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from secllm.data.ordinary.items import OrdinaryItem
from secllm.data.ordinary.text import (
    clean_url,
    en_sentences,
    find_urls,
    html_links,
    html_paragraphs,
    is_chinese_prose,
    is_english_prose,
    paragraphs,
    read_text_file,
    render_manpage,
    zh_sentences,
)
from secllm.data.sources import registered_domain

__all__ = [
    "LOGHUB_FAMILIES",
    "MALICIOUS_CAPTURE_TOKENS",
    "MALICIOUS_NDPI_RISKS",
    "sample_paths",
    "url_group",
    "parse_dumpavail",
    "debian_homepages",
    "python_urls",
    "npm_urls",
    "doc_urls",
    "prose_en",
    "prose_zh",
    "loghub_lines",
    "local_log_lines",
    "script_files",
    "ndpi_captures",
    "harvested_values",
]


def sample_paths(paths: Iterable[Path], cap: int | None, seed: int = 0) -> list[Path]:
    """A deterministic sample of at most ``cap`` paths: those with the smallest salted hash.

    The choice depends only on each path and the seed, not on how many other files exist, so
    adding a file elsewhere does not reshuffle the sample.

        >>> [p.name for p in sample_paths([Path(f"f{i}") for i in range(5)], 2)]
        ['f1', 'f3']
    """
    ps = sorted(set(paths))
    if cap is None or len(ps) <= cap:
        return ps
    key = lambda p: hashlib.sha256(f"{seed}\x00{p}".encode("utf-8", "surrogateescape")).digest()  # noqa: E731
    return sorted(sorted(ps, key=key)[:cap])


def _walk(roots: Iterable[str | Path], pattern: re.Pattern[str] | None = None,
          skip_dirs: Sequence[str] = ()) -> Iterator[Path]:
    """Regular files under ``roots`` (sorted, symlinked dirs not followed) whose name matches."""
    for root in roots:
        root = Path(root)
        if root.is_file():
            if pattern is None or pattern.search(root.name):
                yield root
            continue
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
            for name in sorted(filenames):
                if pattern is None or pattern.search(name):
                    p = Path(dirpath) / name
                    if p.is_file() and not p.is_symlink():
                        yield p


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------


def parse_dumpavail(path: str | Path) -> Iterator[dict[str, str]]:
    """Stanzas of an ``apt-cache dumpavail`` file as dicts (first line of each field only)."""
    text = read_text_file(path, max_bytes=1 << 30) or ""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            k, _, v = line.partition(":")
            fields.setdefault(k.strip(), v.strip())
        if "Package" in fields:
            yield fields


def debian_homepages(dumpavail: str | Path, source: str = "debian-homepages") -> Iterator[OrdinaryItem]:
    """The ``Homepage:`` of every package stanza (one item per distinct URL; first package wins)."""
    for st in sorted(parse_dumpavail(dumpavail), key=lambda s: (s["Package"], s.get("Version", ""))):
        url = clean_url(st.get("Homepage", ""))
        if url:
            yield OrdinaryItem.make(source, "url", "homepage", f"debian:{st['Package']} {st.get('Version', '')}".strip(),
                                    url_group(url), url)


# Hosts where each project has its own path (github.com/OWNER/...): the site is host + owner.
_PROJECT_HOSTS = frozenset({
    "github.com", "gitlab.com", "bitbucket.org", "sourceforge.net", "launchpad.net", "salsa.debian.org",
    "codeberg.org", "pypi.org", "pypi.python.org", "npmjs.com", "metacpan.org", "search.cpan.org",
    "cran.r-project.org", "hackage.haskell.org", "crates.io", "packagist.org", "rubygems.org",
    "gitlab.gnome.org", "invent.kde.org", "git.sr.ht", "sr.ht", "code.google.com", "gitlab.freedesktop.org",
    "savannah.gnu.org", "savannah.nongnu.org", "packages.debian.org", "tracker.debian.org", "wiki.debian.org"})
# Domains whose subdomains are separate sites (project.github.io, project.readthedocs.io).
_SUBDOMAIN_SITES = frozenset({"github.io", "gitlab.io", "readthedocs.io", "readthedocs.org", "sourceforge.io",
                              "sf.net", "sourceforge.net", "googlecode.com", "blogspot.com", "wordpress.com", "netlify.app",
                              "pages.dev", "gnu.org", "debian.org", "apache.org", "kde.org", "gnome.org"})


def url_group(url: str) -> str:
    """The split group of a URL: its registered domain, refined for hosting platforms so that one
    platform (github.com hosts a third of Debian's home pages) does not fill one split alone.

        >>> url_group("https://www.python.org/downloads/"), url_group("https://github.com/psf/requests/issues")
        ('python.org', 'github.com/psf')
        >>> url_group("https://requests.readthedocs.io/en/latest/")
        'requests.readthedocs.io'
    """
    domain = registered_domain(url)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().removeprefix("www.")
    except ValueError:
        return domain
    if host in _PROJECT_HOSTS:
        segs = [s for s in parts.path.split("/") if s]
        # metacpan.org/release/X, cran.r-project.org/web/packages/X: the project is deeper.
        skip = {"release", "pod", "dist", "web", "packages", "package", "projects", "p", "~", "wiki", "pypi"}
        seg = next((s for s in segs if s.lower() not in skip), "")
        return f"{host}/{seg.lower()}"
    if domain in _SUBDOMAIN_SITES:
        return host
    return domain


def _url_item(source: str, family: str, origin: str, url: str) -> OrdinaryItem | None:
    url = clean_url(url.strip())
    if not url:
        return None
    return OrdinaryItem.make(source, "url", family, origin, url_group(url), url)


def _dist_metadata(site_dirs: Sequence[str | Path]) -> Iterator[tuple[str, str, object]]:
    """``(name, version, email.message)`` for each distribution's metadata file under ``site_dirs``."""
    parser = HeaderParser()
    for d in site_dirs:
        d = Path(d)
        if not d.is_dir():
            continue
        for info in sorted(d.iterdir()):
            if info.suffix not in (".dist-info", ".egg-info"):
                continue
            meta = info / ("METADATA" if info.suffix == ".dist-info" else "PKG-INFO")
            if info.is_file():  # old-style single-file egg-info
                meta = info
            text = read_text_file(meta) if meta.exists() else None
            if not text:
                continue
            msg = parser.parsestr(text)
            name, version = msg.get("Name") or info.stem, msg.get("Version") or ""
            yield str(name), str(version), msg


def python_urls(site_dirs: Sequence[str | Path], source: str = "python-urls") -> Iterator[OrdinaryItem]:
    """Home-page, Download-URL and Project-URL fields of installed Python distributions, plus the
    links in their long descriptions (README text: documentation pages, badges, issue trackers)."""
    for name, version, msg in _dist_metadata(site_dirs):
        origin = f"pypi:{name}=={version}"
        for field in ("Home-page", "Download-URL"):
            value = msg.get(field)  # type: ignore[attr-defined]
            if value and value.strip().upper() != "UNKNOWN":
                it = _url_item(source, "project-url", origin, value)
                if it:
                    yield it
        for value in msg.get_all("Project-URL") or []:  # type: ignore[attr-defined]
            it = _url_item(source, "project-url", origin, value.rpartition(",")[2])
            if it:
                yield it
        body = msg.get_payload() or ""  # type: ignore[attr-defined]
        desc = (msg.get("Description") or "") + "\n" + (body if isinstance(body, str) else "")  # type: ignore[attr-defined]
        for url in find_urls(desc):
            it = _url_item(source, "doc-link", origin, url)
            if it:
                yield it


def _npm_url(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("url")
    if not isinstance(value, str):
        return None
    value = value.strip()
    if value.startswith("git+"):
        value = value[4:]
    if value.endswith(".git") and value.startswith("http"):
        value = value[:-4]
    return value if value.startswith(("http://", "https://")) else None


def npm_urls(node_dirs: Sequence[str | Path], source: str = "npm-urls") -> Iterator[OrdinaryItem]:
    """``homepage``, ``repository`` and ``bugs`` URLs of every ``package.json`` under ``node_dirs``,
    plus the links in the packages' README files."""
    for pj in _walk(node_dirs, re.compile(r"^package\.json$")):
        try:
            data = json.loads(pj.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            continue
        origin = f"npm:{data['name']}@{data.get('version', '')}"
        for key in ("homepage", "repository", "bugs"):
            url = _npm_url(data.get(key))
            it = _url_item(source, "project-url", origin, url) if url else None
            if it:
                yield it
        for readme in sorted(pj.parent.glob("[Rr][Ee][Aa][Dd][Mm][Ee]*")):
            for url in find_urls(read_text_file(readme) or ""):
                it = _url_item(source, "doc-link", origin, url)
                if it:
                    yield it


_DOC_NAME = re.compile(r"(?i)^(readme|news|faq|todo|usage|install|changes|thanks|bugs|authors|"
                       r"copyright|.*\.(txt|md|rst|html?))(\.gz)?$")


def doc_urls(doc_dirs: Sequence[str | Path], html_dirs: Sequence[str | Path] = (),
             man_texts: Iterable[tuple[str, str]] = (), source: str = "doc-urls",
             cap_files: int | None = None, seed: int = 0) -> Iterator[OrdinaryItem]:
    """URLs written in installed documentation: ``/usr/share/doc`` text files, external links of
    HTML doc sets, and rendered man pages (``man_texts``: ``(origin, text)`` pairs)."""
    for path in sample_paths(_walk(doc_dirs, _DOC_NAME), cap_files, seed):
        text = read_text_file(path)
        if text:
            if re.search(r"\.html?(\.gz)?$", path.name):
                text = html.unescape(text)  # "&amp;" inside hrefs is "&" in the URL
            for url in find_urls(text):
                it = _url_item(source, "doc-link", f"doc:{path}", url)
                if it:
                    yield it
    for path in _walk(html_dirs, re.compile(r"\.html?$")):
        text = read_text_file(path)
        if text:
            for href in html_links(text):
                if href.startswith(("http://", "https://")):
                    it = _url_item(source, "doc-link", f"html:{path}", href)
                    if it:
                        yield it
    for origin, text in man_texts:
        for url in find_urls(text):
            it = _url_item(source, "doc-link", origin, url)
            if it:
                yield it


# --------------------------------------------------------------------------------------------
# Prose
# --------------------------------------------------------------------------------------------

_MAN_SECTION = re.compile(r"^man[1-8]$")


def man_pages(man_dirs: Sequence[str | Path], cap: int | None = None, seed: int = 0) -> list[Path]:
    """The page files in ``man1..man8`` of each man dir (language subfolders are not entered)."""
    pages: list[Path] = []
    for d in man_dirs:
        d = Path(d)
        if d.is_dir():
            for sec in sorted(p for p in d.iterdir() if _MAN_SECTION.match(p.name) and p.is_dir()):
                pages.extend(p for p in sorted(sec.iterdir()) if p.is_file() and not p.is_symlink())
    return sample_paths(pages, cap, seed)


def rendered_man_texts(pages: Sequence[Path]) -> Iterator[tuple[str, str]]:
    """``("man:<path>", plain text)`` for each page groff can render (others are skipped)."""
    for page in pages:
        try:
            text = render_manpage(page)
        except (OSError, ValueError, Exception):  # noqa: BLE001 - one bad page is not fatal
            continue
        # Drop the running header/footer lines (command name, section, date).
        lines = text.splitlines()
        yield f"man:{page}", "\n".join(lines[1:-1])


def _prose_items(source: str, kind: str, origin: str, group: str, paras: Iterable[str],
                 max_chars: int = 2000) -> Iterator[OrdinaryItem]:
    """Paragraph items and the sentence items inside them, for English or Chinese prose."""
    is_prose = is_english_prose if kind == "text-en" else is_chinese_prose
    split = en_sentences if kind == "text-en" else zh_sentences
    for para in paras:
        para = para.strip()
        if not para or len(para) > max_chars or not is_prose(para):
            continue
        sents = [s for s in split(para) if is_prose(s)]
        if len(sents) > 1 or not sents:
            yield OrdinaryItem.make(source, kind, "paragraph", origin, group, para)
        for s in sents:
            yield OrdinaryItem.make(source, kind, "sentence", origin, group, s)


def prose_en(man_texts: Iterable[tuple[str, str]] = (), html_dirs: Sequence[str | Path] = (),
             doc_dirs: Sequence[str | Path] = (), python_files: Sequence[Path] = (),
             source: str = "prose-en", cap_doc_files: int | None = None, seed: int = 0) -> Iterator[OrdinaryItem]:
    """English paragraphs and sentences from rendered man pages, HTML doc sets (``<p>``/``<li>``),
    ``/usr/share/doc`` text files, and the docstrings of Python modules. Group = document."""
    for origin, text in man_texts:
        yield from _prose_items(source, "text-en", origin, origin, paragraphs(text))
    for path in _walk(html_dirs, re.compile(r"\.html?$")):
        text = read_text_file(path)
        if text:
            origin = f"html:{path}"
            yield from _prose_items(source, "text-en", origin, origin, html_paragraphs(text))
    for path in sample_paths(_walk(doc_dirs, _DOC_NAME), cap_doc_files, seed):
        if path.name.lower().startswith("copyright") or re.search(r"\.html?(\.gz)?$", path.name):
            continue  # licence boilerplate; HTML goes through html_dirs
        text = read_text_file(path)
        if text:
            origin = f"doc:{path}"
            yield from _prose_items(source, "text-en", origin, origin, paragraphs(text))
    for path in python_files:
        text = read_text_file(path)
        if not text:
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        docs = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    docs.extend(p for p in paragraphs(doc) if ">>>" not in p)
        origin = f"docstring:{path}"
        yield from _prose_items(source, "text-en", origin, origin, docs)


def prose_zh(man_texts: Iterable[tuple[str, str]] = (), locale_dirs: Sequence[str | Path] = (),
             doc_files: Sequence[Path] = (), source: str = "prose-zh") -> Iterator[OrdinaryItem]:
    """Chinese paragraphs and sentences from rendered Chinese man pages (``manpages-zh``), the
    Chinese translations of gettext catalogues (``zh_*/LC_MESSAGES/*.mo``) and Chinese text files
    (e.g. a README shipped by a package). Group = document / catalogue."""
    for origin, text in man_texts:
        yield from _prose_items(source, "text-zh", origin, origin, paragraphs(text))
    for path in _walk(locale_dirs, re.compile(r"\.mo$")):
        if not re.search(r"/zh[_A-Za-z]*/LC_MESSAGES/", str(path)):
            continue
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)
        except (OSError, ValueError, UnicodeDecodeError, KeyError):
            continue
        origin = f"gettext:{path}"
        msgs = []
        for key, value in sorted(catalog._catalog.items(), key=lambda kv: str(kv[0])):  # noqa: SLF001 - no public accessor
            if key and isinstance(value, str):
                # Strip accelerators ("文件(_F)") and keep one paragraph per message.
                msgs.extend(paragraphs(re.sub(r"\(?_[A-Za-z]\)?", "", value)))
        yield from _prose_items(source, "text-zh", origin, origin, msgs)
    for path in doc_files:
        text = read_text_file(path)
        if text:
            origin = f"doc:{path}"
            yield from _prose_items(source, "text-zh", origin, origin, paragraphs(text))


# --------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------

#: loghub system -> log family (the identifier's refinement of ``log-line``).
LOGHUB_FAMILIES = {
    "Android": "android", "Apache": "apache-error", "BGL": "bgl", "HDFS": "hdfs", "HPC": "hpc",
    "Hadoop": "hadoop", "HealthApp": "healthapp", "Linux": "linux-syslog", "Mac": "mac-syslog",
    "OpenSSH": "openssh", "OpenStack": "openstack", "Proxifier": "proxifier", "Spark": "spark",
    "Thunderbird": "thunderbird-syslog", "Windows": "windows-cbs", "Zookeeper": "zookeeper",
}

_SSH_PID = re.compile(r"sshd(?:\(pam_unix\))?\[(\d+)\]")
_SSH_HOST = re.compile(r"(?:rhost=|\bfrom |\[)(\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9][\w.-]*\.[A-Za-z]{2,})")
_AUTH_FAIL = re.compile(r"authentication failure|Failed (?:password|none|publickey)|[Ii]nvalid user|"
                        r"Too many authentication failures|POSSIBLE BREAK-IN ATTEMPT")
# Lines that stand for several failures ("message repeated 5 times: [ Failed password ...]",
# "PAM 5 more authentication failures").
_REPEATS = re.compile(r"message repeated (\d+) times|PAM (\d+) more authentication failures")
#: A source host with at least this many authentication failures in one file is brute-forcing.
BRUTE_FORCE_MIN_FAILURES = 3


def brute_force_lines(lines: Sequence[str], min_failures: int = BRUTE_FORCE_MIN_FAILURES) -> tuple[set[int], Counter]:
    """Indices of sshd lines that belong to brute-force sessions, and the failures per source.

    A source (IP or host name after ``rhost=`` / ``from`` / ``[``) with ``min_failures`` or more
    authentication-failure lines is a brute-force source; every line of an sshd process that
    mentions such a source belongs to the attack (also its lines without the address, such as
    ``check pass; user unknown``).

        >>> ls = ["sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2"] * 3 + [
        ...       "sshd[1]: message repeated 2 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]",
        ...       "sshd[1]: Disconnecting: Too many authentication failures",
        ...       "sshd[9]: Accepted password for alice from 10.0.0.2 port 22 ssh2"]
        >>> idx, per_source = brute_force_lines(ls)
        >>> sorted(idx), per_source
        ([0, 1, 2, 3, 4], Counter({'1.2.3.4': 5}))
    """
    fails: Counter = Counter()
    pid_hosts: dict[str, set[str]] = defaultdict(set)
    for ln in lines:
        pid = _SSH_PID.search(ln)
        hosts = set(_SSH_HOST.findall(ln)) if pid else set()
        if pid:
            pid_hosts[pid.group(1)] |= hosts
        if hosts and _AUTH_FAIL.search(ln):
            rep = _REPEATS.search(ln)
            for h in hosts:
                fails[h] += int(rep.group(1) or rep.group(2)) if rep else 1
    bad = {h for h, n in fails.items() if n >= min_failures}
    bad_pids = {pid for pid, hosts in pid_hosts.items() if hosts & bad}
    out = set()
    for i, ln in enumerate(lines):
        pid = _SSH_PID.search(ln)
        if pid and (pid.group(1) in bad_pids or set(_SSH_HOST.findall(ln)) & bad):
            out.add(i)
    return out, Counter({h: fails[h] for h in bad})


def _time_halves(source: str, family: str, origin: str, lines: Sequence[str],
                 skip: set[int] = frozenset()) -> Iterator[OrdinaryItem]:  # type: ignore[assignment]
    """Lines in file (time) order: the earlier half is calib, the later half test."""
    n = len(lines)
    for i, ln in enumerate(lines):
        if i in skip or not ln.strip():
            continue
        half = "early" if i < n / 2 else "late"
        yield OrdinaryItem.make(source, "log-line", family, f"{origin}:{i + 1}", f"{origin}@{half}",
                                ln, split="calib" if half == "early" else "test")


def loghub_lines(loghub_dir: str | Path, source: str = "loghub",
                 apart_source: str = "loghub-bruteforce") -> Iterator[OrdinaryItem]:
    """The ordinary lines of every ``loghub_2k`` system, tagged with their family.

    BGL: only lines whose label token is ``-`` (token stripped). OpenSSH and Linux: the lines of
    brute-force sessions (:func:`brute_force_lines`) are yielded under ``apart_source`` instead:
    they are real attacks, to be counted apart, not ordinary operation.
    """
    d = Path(loghub_dir)
    for system, family in sorted(LOGHUB_FAMILIES.items()):
        path = d / f"{system}_2k.log.gz"
        if not path.exists():
            continue
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            lines = [ln.rstrip("\r\n") for ln in f]
        skip: set[int] = set()
        if system == "BGL":
            stripped = []
            for i, ln in enumerate(lines):
                tag, _, rest = ln.partition(" ")
                if tag != "-":
                    skip.add(i)
                stripped.append(rest)
            lines = stripped
        origin = f"loghub:{path.name}"
        attack, _ = brute_force_lines(lines) if system in ("OpenSSH", "Linux") else (set(), None)
        yield from _time_halves(source, family, origin, lines, skip | attack)
        for i in sorted(attack - skip):
            half = "early" if i < len(lines) / 2 else "late"
            yield OrdinaryItem.make(apart_source, "log-line", family, f"{origin}:{i + 1}", f"{origin}@{half}",
                                    lines[i], split="calib" if half == "early" else "test")


def local_log_lines(files: Sequence[tuple[str, str | Path]], source: str = "local-logs") -> Iterator[OrdinaryItem]:
    """Lines of this machine's own logs: ``files`` is ``(family, path)`` pairs (dpkg, apt,
    nginx-error ...); missing files are skipped. Time-ordered halves, as for loghub."""
    for family, path in files:
        text = read_text_file(path, max_bytes=64 << 20)
        if text:
            yield from _time_halves(source, family, f"log:{path}", text.splitlines())


# --------------------------------------------------------------------------------------------
# Scripts
# --------------------------------------------------------------------------------------------

_SHELL_SHEBANG = re.compile(rb"^#![ \t]*(?:/usr)?/bin/(?:env[ \t]+)?(?:ba|da|k|z|)sh\b")


def is_shell_script(path: Path) -> bool:
    """A file that starts with a ``sh``/``bash``/``dash``/``ksh``/``zsh`` shebang."""
    try:
        with open(path, "rb") as f:
            return bool(_SHELL_SHEBANG.match(f.read(64)))
    except OSError:
        return False


def _snippet(text: str, key: str, min_lines: int = 5, max_lines: int = 25) -> str | None:
    """A contiguous window of lines chosen by hashing ``key`` (deterministic)."""
    lines = text.splitlines()
    if len(lines) < min_lines * 2:
        return None
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()[:8], "big")
    size = min_lines + h % (max_lines - min_lines + 1)
    start = (h >> 16) % max(1, len(lines) - size)
    snippet = "\n".join(lines[start : start + size]).strip("\n")
    return snippet if len(snippet.strip()) >= 40 else None


def script_files(kind: str, files: Sequence[tuple[Path, str]], source: str,
                 max_bytes: int = 100_000, snippets: bool = True) -> Iterator[OrdinaryItem]:
    """File-level items (``family="file"``) and one snippet per file (``family="snippet"``).

    ``files`` is ``(path, group)`` pairs (group = package / library). Files over ``max_bytes``,
    binary or undecodable ones are skipped.
    """
    for path, group in files:
        try:
            if path.stat().st_size > max_bytes:
                continue
        except OSError:
            continue
        text = read_text_file(path, max_bytes=max_bytes)
        if not text or not text.strip():
            continue
        origin = f"file:{path}"
        yield OrdinaryItem.make(source, kind, "file", origin, group, text)
        if snippets:
            snip = _snippet(text, origin)
            if snip:
                yield OrdinaryItem.make(source, kind, "snippet", origin, group, snip)


# --------------------------------------------------------------------------------------------
# Captures
# --------------------------------------------------------------------------------------------

#: Capture names holding these tokens are attacks, malware, scans or fuzzer output, not ordinary.
MALICIOUS_CAPTURE_TOKENS = ("webattack", "sql_injection", "xss", "log4j", "trickbot", "malware", "bot",
                            "synscan", "tcp_scan", "tls_malicious", "emotet", "fuzz", "exploit", "exf",
                            "shell", "iodine")
#: nDPI flow risks that mark a capture malicious (attack payloads, malware hosts and fingerprints,
#: DGA names, DNS tunnels, executable downloads).
MALICIOUS_NDPI_RISKS = ("RCE Injection", "SQL Injection", "XSS Attack", "Possible Exploit Attempt",
                        "Malicious Fingerpint", "Malicious SSL Cert/SHA1 Fingerp.",
                        "Client Contacted A Malware Host", "Susp DGA Domain name", "HTTP Susp Content",
                        "Susp DNS Traffic", "Binary App Transfer")


def _capture_name_malicious(name: str) -> bool:
    tokens = re.split(r"[^a-z0-9]+", name.lower())
    stem = name.lower()
    return any(t in tokens or (len(t) > 4 and t in stem) for t in MALICIOUS_CAPTURE_TOKENS)


def ndpi_captures(ndpi_dir: str | Path, source: str = "pcap-ndpi") -> tuple[list[OrdinaryItem], dict[str, str]]:
    """The ordinary captures of ``pcap_ndpi_tests`` by path, and why each other one was left out.

    A capture is left out when its name holds a token of :data:`MALICIOUS_CAPTURE_TOKENS` or any
    of its flows carries a risk of :data:`MALICIOUS_NDPI_RISKS` in ``flows_ndpi_labels.csv.gz``.
    """
    d = Path(ndpi_dir)
    risky: dict[str, set[str]] = defaultdict(set)
    labels = d / "flows_ndpi_labels.csv.gz"
    if labels.exists():
        with gzip.open(labels, "rt", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for risk in MALICIOUS_NDPI_RISKS:
                    if risk in (row.get("ndpi_risks") or ""):
                        risky[row["pcap"]].add(risk)
    items, excluded = [], {}
    for path in sorted((d / "pcap").glob("*")):
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        if _capture_name_malicious(name):
            excluded[name] = "name"
        elif risky.get(name):
            excluded[name] = "ndpi-risk: " + ", ".join(sorted(risky[name]))
        else:
            items.append(OrdinaryItem.make(source, "pcap", "ndpi-test", f"ndpi:{name}", f"pcap:{name}", str(path)))
    return items, excluded


# --------------------------------------------------------------------------------------------
# Ordinary values (parameter values)
# --------------------------------------------------------------------------------------------

_MAINTAINER = re.compile(r"^\s*\"?([^<\"]+?)\"?\s*<")


def harvested_values(dumpavail: str | Path | None = None, iso_codes_dir: str | Path | None = None,
                     csv_files: Sequence[Path] = (), words_file: str | Path | None = None,
                     zh_words_files: Sequence[Path] = (), source: str = "values", words_cap: int = 5000,
                     seed: int = 0) -> Iterator[OrdinaryItem]:
    """Ordinary form values from real data that installs here.

    * Debian metadata: maintainer names (``person-name``), package synopses (``product-text``),
      versions (``version``), sizes (``number``);
    * ``iso-codes`` JSON: countries, regions/cities, currencies, languages (``place``/``currency``/``language``);
    * CSV sample data shipped in Python packages: each cell (``number``/``date``/``text``);
    * a word list (``search-term``), a seeded sample of ``words_cap`` words, and the same from
      Chinese word lists (jieba's dictionary: ``search-term-zh``).
    Group = the datum's own file / package, so a package's values stay together.
    """
    if dumpavail:
        for st in sorted(parse_dumpavail(dumpavail), key=lambda s: (s["Package"], s.get("Version", ""))):
            origin, group = f"debian:{st['Package']}", f"debian:{st['Package']}"
            m = _MAINTAINER.match(st.get("Maintainer", ""))
            if m:
                name = m.group(1).strip()
                yield OrdinaryItem.make(source, "payload", "person-name", origin, f"maint:{name}", name)
            for field, family in (("Description", "product-text"), ("Version", "version"),
                                  ("Installed-Size", "number"), ("Section", "category")):
                v = st.get(field, "").strip()
                if v:
                    yield OrdinaryItem.make(source, "payload", family, origin, group, v)
    if iso_codes_dir:
        wanted = {"iso_3166-1.json": ("name", "place"), "iso_3166-2.json": ("name", "place"),
                  "iso_4217.json": ("name", "currency"), "iso_639-3.json": ("name", "language")}
        for fname, (key, family) in sorted(wanted.items()):
            p = Path(iso_codes_dir) / fname
            try:
                data = json.loads(p.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            for entries in data.values():
                for e in entries if isinstance(entries, list) else []:
                    for k in (key, "official_name", "code", "alpha_3"):
                        v = e.get(k)
                        if isinstance(v, str) and v.strip():
                            yield OrdinaryItem.make(source, "payload", family if k != "code" and k != "alpha_3" else "code",
                                                    f"iso-codes:{fname}", f"iso-codes:{fname}", v.strip())
    for path in csv_files:
        text = read_text_file(path, max_bytes=4 << 20)
        if not text:
            continue
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error:
            continue
        for row in rows[:2000]:
            for cell in row:
                cell = cell.strip()
                if not cell or len(cell) > 200:
                    continue
                family = ("date" if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*|\d{1,2}/\d{1,2}/\d{2,4}", cell)
                          else "number" if re.fullmatch(r"[-+]?[\d,]*\.?\d+(?:[eE][-+]?\d+)?", cell) else "text")
                yield OrdinaryItem.make(source, "payload", family, f"csv:{path}", f"csv:{path}", cell)
    if words_file:
        words = [w.strip() for w in (read_text_file(words_file, max_bytes=16 << 20) or "").splitlines()]
        chosen = sample_paths([Path(w) for w in words if w and "/" not in w], words_cap, seed)
        for w in chosen:
            yield OrdinaryItem.make(source, "payload", "search-term", f"words:{words_file}", f"word:{w}", str(w))
    for path in zh_words_files:
        words = [ln.split()[0] for ln in (read_text_file(path, max_bytes=64 << 20) or "").splitlines() if ln.strip()]
        for w in sample_paths([Path(w) for w in words if "/" not in w and is_chinese_prose(w, min_chars=2)], words_cap, seed):
            yield OrdinaryItem.make(source, "payload", "search-term-zh", f"words:{path}", f"word:{w}", str(w))


def query_values(url: str) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of a URL's query string (decoded, blanks kept)."""
    try:
        return parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return []
