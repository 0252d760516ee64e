"""The ordinary-data recipe on tiny fixture sources made in the test (no system folders, no network).

The full build over this machine's packages is a benchmark (``docs/ordinary-data.md``), not a test.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from secllm.data.ordinary import KINDS, SPLITS, OrdinaryItem, iter_ordinary, split_for_group
from secllm.data.ordinary.browse import forms_html, nginx_config
from secllm.data.ordinary.build import SOURCE_ORDER, OrdinaryConfig, build
from secllm.data.ordinary.sources import (
    brute_force_lines,
    ndpi_captures,
    url_group,
)
from secllm.data.ordinary.text import clean_url, find_urls, html_paragraphs, is_english_prose, zh_sentences

PROSE = ("The server reads its configuration at start-up and writes a short report to the log. "
         "Each worker handles many connections at once, so a slow client never blocks the others.")


def _gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)


def _fixtures(root: Path) -> OrdinaryConfig:
    """Tiny stand-ins for every system folder the recipe reads."""
    (root / "dumpavail").write_text(
        "Package: nginx\nVersion: 1.22.1\nMaintainer: Debian Nginx Maintainers <pkg-nginx-maintainers@lists.debian.org>\n"
        "Installed-Size: 1234\nSection: httpd\nDescription: small, powerful, scalable web/proxy server\n"
        " Long description line.\nHomepage: https://nginx.org\n\n"
        "Package: nginx-common\nVersion: 1.22.1\nMaintainer: Jane Roe <jane@example.org>\nHomepage: https://nginx.org\n"
        "Description: small, powerful, scalable web/proxy server - common files\n\n"
        "Package: python3-requests\nVersion: 2.28\nHomepage: https://github.com/psf/requests\n"
        "Description: elegant and simple HTTP library for Python3\n\n"
        "Package: broken\nHomepage: not a url\n\n"
    )
    site = root / "site-packages"
    meta = site / "requests-2.28.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.28\nHome-page: https://requests.readthedocs.io\n"
        "Project-URL: Source, https://github.com/psf/requests\n\n"
        "Read the docs at https://requests.readthedocs.io/en/latest/user/quickstart/#make-a-request.\n"
    )
    pkg = site / "demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(f'"""{PROSE}"""\n\n\ndef add(a, b):\n    return a + b\n' + "\n".join(
        f"X{i} = {i}" for i in range(30)) + "\n")
    (site / "jieba").mkdir()
    (site / "jieba" / "dict.txt").write_text("中华人民共和国 8 ns\n电脑 100 n\nA 1 x\n")
    (site / "cwe2").mkdir()  # a security catalogue: never ordinary
    (site / "cwe2" / "views.py").write_text('"""Improper neutralization of SQL commands in queries."""\n' * 12)
    (pkg / "data.csv").write_text("name,date,price\nAlice Smith,2020-01-02,12.50\nBob Jones,2020-01-03,7\n")
    (root / "stdlib").mkdir()
    (root / "stdlib" / "mod.py").write_text('"""Helpers for reading configuration files written by people."""\n'
                                            + "\n".join(f"def f{i}():\n    return {i}\n" for i in range(12)))
    node = root / "node_modules" / "leftpad"
    node.mkdir(parents=True)
    (node / "package.json").write_text(json.dumps({"name": "leftpad", "version": "1.0.0",
                                                   "homepage": "https://github.com/x/leftpad#readme",
                                                   "repository": {"url": "git+https://github.com/x/leftpad.git"}}))
    (node / "index.js").write_text("module.exports = function leftpad(s, n) {\n" + "\n".join(
        f"  // step {i}\n  s = ' ' + s;" for i in range(10)) + "\n  return s;\n};\n")
    doc = root / "doc" / "nginx"
    doc.mkdir(parents=True)
    (doc / "README").write_text(PROSE + "\n\nSee https://nginx.org/en/docs/http/ngx_http_core_module.html?lang=en for more.\n")
    (doc / "README.zh_CN.txt").write_text("这是一个小型的网络服务器。它可以同时处理很多连接，速度很快。\n")
    html = root / "html"
    html.mkdir()
    (html / "index.html").write_text(f"<html><body><p>{PROSE}</p><a href='https://docs.python.org/3/'>x</a>"
                                     "<a href='library/re.html'>re</a></body></html>")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "hello").write_text("#!/bin/sh\nset -e\n" + "\n".join(f'echo "line {i}"' for i in range(12)) + "\n")
    (bin_dir / "binary").write_bytes(b"\x7fELF\x00\x00")
    php = root / "php" / "lib"
    php.mkdir(parents=True)
    (php / "a.php").write_text("<?php\nfunction hello($name) {\n    return 'Hello ' . $name;\n}\n")
    iso = root / "iso"
    iso.mkdir()
    (iso / "iso_3166-1.json").write_text(json.dumps({"3166-1": [{"alpha_2": "FR", "alpha_3": "FRA", "name": "France"}]}))
    (root / "words").write_text("apple\nbanana\ncherry\n")
    (root / "dpkg.log").write_text("\n".join(f"2026-01-01 10:00:{i:02d} status installed pkg{i}:amd64 1.0" for i in range(10)))
    ds = root / "datasets"
    _gz(ds / "loghub_2k" / "BGL_2k.log.gz", "- 1117838570 R02 RAS KERNEL INFO instruction cache parity error corrected\n"
        "KERNDTLB 1117838571 R02 RAS KERNEL FATAL data TLB error interrupt\n"
        "- 1117838572 R03 RAS KERNEL INFO generating core.2275\n")
    _gz(ds / "loghub_2k" / "OpenSSH_2k.log.gz",
        "".join(f"Dec 10 06:55:4{i} LabSZ sshd[24200]: Failed password for root from 5.6.7.8 port 22 ssh2\n" for i in range(4))
        + "Dec 10 06:56:00 LabSZ sshd[24200]: Disconnecting: Too many authentication failures for root [preauth]\n"
        + "Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from 119.137.62.142 port 49116 ssh2\n"
        + "Dec 10 09:32:20 LabSZ sshd[24680]: pam_unix(sshd:session): session opened for user fztu by (uid=0)\n")
    ndpi = ds / "pcap_ndpi_tests"
    for name in ("google_ssl.pcap", "xss.pcap", "instagram.pcap", "dhcp-fuzz.pcapng"):
        _gz(ndpi / "pcap" / f"{name}.gz", "")
    _gz(ndpi / "flows_ndpi_labels.csv.gz", "pcap,flow_idx,ndpi_risks\ngoogle_ssl.pcap,1,\n"
        "instagram.pcap,1,** Malicious Fingerpint **\n")
    return OrdinaryConfig(
        out=root / "out", datasets=ds, dumpavail=root / "dumpavail", site_dirs=[str(site)],
        stdlib_dir=str(root / "stdlib"), npm_dirs=[str(root / "node_modules")], js_dirs=[], doc_dirs=[str(root / "doc")],
        html_dirs=[str(html)], man_dirs=[], zh_man_dirs=[], locale_dirs=[], shell_dirs=[str(bin_dir)],
        php_dirs=[str(root / "php")], iso_codes_dir=str(iso), words_file=str(root / "words"),
        local_logs=[("dpkg", str(root / "dpkg.log"))], caps={},
    )


NON_BROWSER = [s for s in SOURCE_ORDER if not s.startswith("browser-")]


@pytest.fixture()
def built(tmp_path: Path) -> tuple[OrdinaryConfig, dict]:
    cfg = _fixtures(tmp_path)
    manifest = build(cfg, NON_BROWSER, log=lambda _: None)
    return cfg, manifest


def _lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_format_and_manifest(built: tuple[OrdinaryConfig, dict]) -> None:
    cfg, manifest = built
    fields = {"id", "source", "kind", "family", "origin", "group", "split", "text"}
    ids = set()
    for name, info in manifest["sources"].items():
        rows = _lines(Path(cfg.out) / f"{name}.jsonl.gz")
        assert len(rows) == info["items"]
        assert sum(sum(per.values()) for per in info["kinds"].values()) == len(rows)
        for r in rows:
            assert set(r) == fields and r["source"] == name
            assert r["kind"] in KINDS and r["split"] in SPLITS and r["text"] and r["origin"] and r["group"]
            assert r["id"] not in ids
            ids.add(r["id"])
        assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert {"debian-homepages", "prose-en", "prose-zh", "loghub", "scripts-python", "scripts-shell",
            "scripts-javascript", "scripts-php", "pcap-ndpi", "values", "local-logs"} <= set(manifest["sources"])
    assert manifest["versions"]["python"] and manifest["builds"][-1]["seconds"] >= 0


def test_sources_content(built: tuple[OrdinaryConfig, dict]) -> None:
    cfg, _ = built
    by = lambda **kw: [it for it in iter_ordinary(cfg.out, **kw)]  # noqa: E731
    homepages = [it.text for it in by(source="debian-homepages")]
    assert sorted(homepages) == ["https://github.com/psf/requests", "https://nginx.org"]  # dedupe, bad URL dropped
    py_urls = {it.text for it in by(source="python-urls")}
    # github.com/psf/requests is already a Debian home page: cross-source de-duplication drops it.
    assert "https://github.com/psf/requests" not in py_urls
    assert "https://requests.readthedocs.io/en/latest/user/quickstart/#make-a-request" in py_urls
    assert {it.text for it in by(source="npm-urls")} >= {"https://github.com/x/leftpad#readme", "https://github.com/x/leftpad"}
    assert "https://nginx.org/en/docs/http/ngx_http_core_module.html?lang=en" in {it.text for it in by(source="doc-urls")}
    en = by(source="prose-en")
    assert any(it.family == "sentence" and it.text.startswith("Each worker handles") for it in en)
    assert any(it.family == "paragraph" for it in en)
    zh = [it.text for it in by(kind="text-zh")]
    assert "它可以同时处理很多连接，速度很快。" in zh
    logs = by(source="loghub")
    assert {it.family for it in logs} == {"bgl", "openssh"}
    assert not any(it.text.startswith(("-", "KERNDTLB")) or "TLB error" in it.text for it in logs)  # BGL alert dropped
    assert not any("5.6.7.8" in it.text or "Too many" in it.text for it in logs)  # brute force is apart
    apart = [json.loads(line) for line in gzip.open(Path(cfg.out) / "apart" / "loghub-bruteforce.jsonl.gz", "rt")]
    assert len(apart) == 5 and not list(iter_ordinary(cfg.out, source="loghub-bruteforce"))
    assert {it.text.rsplit("/", 1)[-1] for it in by(kind="pcap")} == {"google_ssl.pcap.gz"}
    shells = by(kind="script-shell")
    assert {it.family for it in shells} == {"file", "snippet"} and all("ELF" not in it.text for it in shells)
    assert any(it.text.startswith("<?php") for it in by(kind="script-php"))
    assert any("leftpad" in it.text for it in by(kind="script-javascript"))
    pys = by(kind="script-python")
    assert {it.group for it in pys} == {"site:demo", "stdlib:mod"}
    assert not any("SQL" in it.text for it in by(kind="text-en") + pys)
    values = {(it.family, it.text) for it in by(source="values")}
    assert {("person-name", "Jane Roe"), ("place", "France"), ("search-term", "banana"), ("date", "2020-01-02"),
            ("number", "12.50"), ("product-text", "elegant and simple HTTP library for Python3"),
            ("search-term-zh", "电脑"), ("search-term-zh", "中华人民共和国")} <= values
    assert ("search-term-zh", "A") not in values


def test_splits_stable_and_grouped(built: tuple[OrdinaryConfig, dict], tmp_path: Path) -> None:
    cfg, _ = built
    # Golden values: the split of a group must never change between versions or machines.
    assert [split_for_group(g) for g in ("python.org", "nginx.org", "github.com/psf", "loghub:x@early")] == \
        ["calib", "test", "calib", "calib"]
    groups: dict[str, set[str]] = {}
    for it in iter_ordinary(cfg.out):
        groups.setdefault(it.group, set()).add(it.split)
        if it.kind != "log-line":
            assert it.split == split_for_group(it.group)
    assert all(len(s) == 1 for s in groups.values())
    logs = sorted(iter_ordinary(cfg.out, source="local-logs"), key=lambda it: int(it.origin.rsplit(":", 1)[1]))
    assert [it.split for it in logs] == ["calib"] * 5 + ["test"] * 5  # time order: early half calib
    # A rebuild gives byte-identical files.
    first = {p.name: p.read_bytes() for p in Path(cfg.out).glob("*.jsonl.gz")}
    shutil.rmtree(cfg.out)
    build(cfg, NON_BROWSER, log=lambda _: None)
    assert {p.name: p.read_bytes() for p in Path(cfg.out).glob("*.jsonl.gz")} == first


def test_caps_are_deterministic(tmp_path: Path) -> None:
    cfg = _fixtures(tmp_path)
    cfg.caps = {"values": 3}
    build(cfg, ["values"], log=lambda _: None)
    a = [it.text for it in iter_ordinary(cfg.out, source="values")]
    cfg.out = tmp_path / "out2"
    build(cfg, ["values"], log=lambda _: None)
    assert len(a) == 3 and a == [it.text for it in iter_ordinary(cfg.out, source="values")]
    # Per-document cap: one README with several links keeps one.
    cfg.doc_caps = {"doc-urls": 1}
    (tmp_path / "doc" / "nginx" / "NEWS").write_text("https://a.example.org/1 https://b.example.org/2 https://c.example.org/3\n")
    m = build(cfg, ["doc-urls"], log=lambda _: None)
    origins = [it.origin for it in iter_ordinary(cfg.out, source="doc-urls")]
    assert len(origins) == len(set(origins)) and m["sources"]["doc-urls"]["over_document_cap"] >= 2


def test_unknown_source_and_missing_corpus(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown source"):
        build(OrdinaryConfig(out=tmp_path), ["nope"])
    with pytest.raises(FileNotFoundError, match="python -m secllm.data.ordinary build"):
        list(iter_ordinary(tmp_path / "missing"))
    with pytest.raises(ValueError, match="unknown kind"):
        OrdinaryItem.make("s", "prose", "f", "o", "g", "t")


def test_helpers() -> None:
    assert find_urls("see <https://a.example.org/x?y=1&z=2>, and http://$HOST/ or (https://b.org/c).") == [
        "https://a.example.org/x?y=1&z=2", "https://b.org/c"]
    assert clean_url("https://localhost/") is None
    assert url_group("https://foo.github.io/bar") == "foo.github.io"
    assert url_group("https://sourceforge.net/projects/zsh/") == "sourceforge.net/zsh"
    assert is_english_prose(PROSE) and not is_english_prose("ls -l --color=auto /etc/passwd | grep root")
    assert zh_sentences("第一句。第二句！") == ["第一句。", "第二句！"]
    assert html_paragraphs("<p>a <code>b</code> c</p><pre><p>x</p></pre>") == ["a b c"]
    idx, per_source = brute_force_lines(["sshd[1]: Accepted password for bob from 1.2.3.4 port 22 ssh2"])
    assert not idx and not per_source


def test_ndpi_rule(tmp_path: Path) -> None:
    cfg = _fixtures(tmp_path)
    items, excluded = ndpi_captures(Path(cfg.datasets) / "pcap_ndpi_tests")
    assert [it.origin for it in items] == ["ndpi:google_ssl.pcap"]
    assert excluded == {"xss.pcap": "name", "dhcp-fuzz.pcapng": "name",
                        "instagram.pcap": "ndpi-risk: Malicious Fingerpint"}


def test_nginx_config_is_loopback_only(tmp_path: Path) -> None:
    conf = nginx_config(tmp_path / "site", tmp_path / "out", tmp_path / "work", 8123)
    assert "listen 127.0.0.1:8123;" in conf and "access_log" in conf and "combined" in conf
    assert 'action="/feedback" method="post"' in forms_html() and "'" not in forms_html()


def test_browser_sources_from_a_capture(tmp_path: Path) -> None:
    """Requests reassembled from a (scapy-made) loopback capture become http/url/value/log items."""
    scapy = pytest.importorskip("scapy.all")
    cfg = _fixtures(tmp_path)
    browse = cfg.browse_dir
    browse.mkdir(parents=True)
    body = "name=Jane+Roe&country=France&comment=Nice+page."
    reqs = [
        "GET /search?q=regular+expressions&section=library&lang=en HTTP/1.1\r\nHost: docs.python.test:8123\r\n"
        "Referer: http://docs.python.test:8123/library/re.html\r\n\r\n",
        f"POST /feedback HTTP/1.1\r\nHost: docs.python.test:8123\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}",
    ]
    pkts = []
    for i, raw in enumerate(reqs):
        sport = 40000 + i
        pkts.append(scapy.IP(src="127.0.0.1", dst="127.0.0.1") / scapy.TCP(sport=sport, dport=8123, flags="S", seq=100))
        pkts.append(scapy.IP(src="127.0.0.1", dst="127.0.0.1") / scapy.TCP(sport=sport, dport=8123, flags="PA", seq=101)
                    / raw.encode())
    scapy.wrpcap(str(browse / "requests.pcap"), pkts)
    scapy.wrpcap(str(browse / "session-small.pcap"), pkts[:2])
    (browse / "access.log").write_text(
        '127.0.0.1 - - [02/Dec/2026:03:28:48 +0000] "GET /search?q=regular+expressions HTTP/1.1" 200 3437 "-" "Mozilla/5.0"\n')
    (browse / "error.log").write_text("2026/12/02 03:28:29 [notice] 16118#16118: start worker processes\n")
    (browse / "session.json").write_text(json.dumps({"host": "docs.python.test", "port": 8123}))
    build(cfg, ["local-logs", "browser-urls", "browser-pcap", "browser-http", "browser-access-log", "browser-values"],
          log=lambda _: None)
    http = list(iter_ordinary(cfg.out, kind="http-request"))
    assert len(http) == 2 and any(it.text.endswith(body) for it in http)
    values = {(it.family, it.text) for it in iter_ordinary(cfg.out, source="browser-values")}
    assert {("q", "regular expressions"), ("section", "library"), ("name", "Jane Roe"), ("comment", "Nice page.")} <= values
    urls = {it.text for it in iter_ordinary(cfg.out, source="browser-urls")}
    assert "http://docs.python.test:8123/search?q=regular+expressions&section=library&lang=en" in urls
    assert "http://docs.python.test:8123/library/re.html" in urls
    assert len(list(iter_ordinary(cfg.out, kind="access-log"))) == 1
    assert [it.family for it in iter_ordinary(cfg.out, source="local-logs") if "worker" in it.text] == ["nginx-error"]
    assert [it.kind for it in iter_ordinary(cfg.out, source="browser-pcap")] == ["pcap"]


def test_summary_command(built: tuple[OrdinaryConfig, dict], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from secllm.data.ordinary.build import main

    cfg, manifest = built
    assert main(["summary", str(cfg.out)]) == 0
    text = capsys.readouterr().out
    n = manifest["sources"]["debian-homepages"]["items"]
    assert f"| debian-homepages | url |" in text and "loghub-bruteforce" in text and f"| {n} |" in text
    assert main(["summary", str(tmp_path / "none")]) == 2
