"""A real browsing session: headless Chromium (Selenium) browses a local documentation site that a
private nginx serves on 127.0.0.1, while tcpdump records the loopback traffic.

What it leaves in ``out_dir``:

* ``access.log`` (nginx ``combined`` format) and ``error.log`` (level ``info``);
* ``requests.pcap``: every client-to-server packet of the session (whole raw HTTP requests,
  headers and bodies, are reassembled from it with
  :func:`secllm.data.readers.reassemble_http_from_pcap`);
* ``session-small.pcap``: both directions, the first ``small_pcap_packets`` packets;
* ``session.json``: what was done (steps per action, port, host name, versions, timings).

The site is served in place (never copied). nginx adds two forms to every HTML page with
``sub_filter``: a GET search form (``/search?q=..&section=..&lang=en``, answered by the site's own
search page) and a POST feedback form (``/feedback``, answered with a redirect to ``/thanks``).
Chromium fills them with words from the page it is on and with values harvested from real data
(the ``values`` pools), clicks links, goes back, and uses the site's own quick-search box. All
choices come from ``random.Random(seed)``; timings (and so the exact request count) vary a little.

Needs: ``nginx``, ``chromium``, ``chromium-driver``, ``tcpdump`` (Debian) and ``selenium`` (PyPI),
and root for tcpdump. See ``scripts/install_corpus_deps.sh``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["BrowseConfig", "nginx_config", "forms_html", "run_browse"]

_NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")


@dataclass
class BrowseConfig:
    """Settings of one browsing session (all paths explicit; nothing is read from globals)."""

    site_dir: Path
    out_dir: Path
    seconds: float = 480.0
    max_steps: int = 100_000
    seed: int = 0
    host: str = "docs.python.test"  # resolved to 127.0.0.1 inside Chromium only
    values: dict[str, list[str]] = field(default_factory=dict)  # pools: name, email, country
    small_pcap_packets: int = 400
    chromium: str = "/usr/bin/chromium"
    chromedriver: str = "/usr/bin/chromedriver"
    page_timeout: float = 20.0


_SECTIONS = ("library", "tutorial", "reference", "howto", "faq", "c-api", "using")


def forms_html() -> str:
    """The two forms nginx appends to every page (one line: it goes into a ``sub_filter``)."""
    options = "".join(f'<option value="{s}">{s}</option>' for s in _SECTIONS)
    stars = "".join(f'<label><input type="radio" name="rating" value="{i}">{i}</label>' for i in range(1, 6))
    return (
        '<div id="corpus-forms" style="padding:1em">'
        '<form id="site-search" action="/search" method="get">'
        '<input id="site-q" type="text" name="q" placeholder="Search the docs">'
        f'<select id="site-section" name="section">{options}</select>'
        '<input type="hidden" name="lang" value="en">'
        '<button id="site-go" type="submit">Search</button></form>'
        '<form id="feedback" action="/feedback" method="post">'
        '<input id="fb-name" type="text" name="name" placeholder="Your name">'
        '<input id="fb-email" type="text" name="email" placeholder="E-mail">'
        '<input id="fb-country" type="text" name="country" placeholder="Country">'
        f'{stars}'
        '<textarea id="fb-comment" name="comment" rows="3"></textarea>'
        '<button id="fb-send" type="submit">Send feedback</button></form></div>'
    )


def nginx_config(site_dir: Path, out_dir: Path, work_dir: Path, port: int) -> str:
    """A self-contained nginx.conf serving ``site_dir`` on ``127.0.0.1:port``."""
    forms = forms_html().replace("\\", "\\\\").replace("'", "\\'")
    thanks = ("<!DOCTYPE html><html><head><title>Thanks</title></head><body><p>Thank you for your "
              "feedback.</p><p><a href=\"/index.html\">Back to the documentation</a></p></body></html>")
    temps = "\n".join(f"    {n}_temp_path {work_dir}/{n};" for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""# written by secllm.data.ordinary.browse
worker_processes 1;
pid {work_dir}/nginx.pid;
error_log {out_dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {out_dir}/access.log combined;
{temps}
    sendfile on;
    keepalive_timeout 65;
    gzip on;
    gzip_types text/css application/javascript text/plain application/json;
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        root {site_dir};
        index index.html;
        sub_filter '</body>' '{forms}</body>';
        sub_filter_once on;
        location = /search {{ rewrite ^ /search.html last; }}
        location = /feedback {{
            client_max_body_size 64k;
            if ($request_method != POST) {{ return 405; }}
            return 303 /thanks;
        }}
        location = /thanks {{ default_type text/html; return 200 '{thanks}'; }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _which(name: str, candidates: tuple[str, ...] = ()) -> str:
    found = shutil.which(name) or next((c for c in candidates if os.access(c, os.X_OK)), None)
    if not found:
        raise FileNotFoundError(f"{name} not found: run `bash scripts/install_corpus_deps.sh`")
    return found


def _version(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def _page_words(driver, rng: random.Random) -> list[str]:  # noqa: ANN001 - selenium WebDriver
    text = driver.execute_script("return document.body ? document.body.innerText.slice(0, 20000) : ''") or ""
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z_]{3,20}", text)]
    return words or ["python"]


def _page_sentence(driver, rng: random.Random) -> str:  # noqa: ANN001
    text = driver.execute_script("return document.body ? document.body.innerText.slice(0, 20000) : ''") or ""
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 30 <= len(s.strip()) <= 300 and "\n" not in s.strip()]
    return rng.choice(sents) if sents else "Thanks for the documentation."


def run_browse(cfg: BrowseConfig) -> dict:
    """Run one session; returns the summary also written to ``session.json``.

    Raises ``FileNotFoundError`` naming the install script when a tool is missing.
    """
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    nginx = _which("nginx", _NGINX_CANDIDATES)
    tcpdump = _which("tcpdump", ("/usr/bin/tcpdump", "/usr/sbin/tcpdump"))
    site = Path(cfg.site_dir).resolve()
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"no index.html in {site}: install python3-doc (scripts/install_corpus_deps.sh)")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("access.log", "error.log", "requests.pcap", "session-small.pcap"):
        (out / name).unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix="secllm-browse-"))
    port = _free_port()
    conf = work / "nginx.conf"
    conf.write_text(nginx_config(site, out.resolve(), work, port))
    rng = random.Random(cfg.seed)
    base = f"http://{cfg.host}:{port}"
    procs: list[subprocess.Popen] = []
    driver = None
    steps: Counter = Counter()
    t0 = time.time()
    try:
        subprocess.run([nginx, "-t", "-q", "-e", str(work / "startup.log"), "-c", str(conf), "-p", str(work)], check=True, capture_output=True)
        ngx = subprocess.Popen([nginx, "-e", str(work / "startup.log"), "-c", str(conf), "-p", str(work), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        procs.append(ngx)
        filt = f"tcp port {port}"
        dump_all = subprocess.Popen([tcpdump, "-i", "lo", "-s", "0", "-U", "-w", str(out / "requests.pcap"),
                                     f"tcp dst port {port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        dump_small = subprocess.Popen([tcpdump, "-i", "lo", "-s", "0", "-U", "-c", str(cfg.small_pcap_packets),
                                       "-w", str(out / "session-small.pcap"), filt],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs += [dump_all, dump_small]
        for _ in range(100):  # wait for nginx to listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)  # tcpdump needs a moment to attach before the first packet
        opts = webdriver.ChromeOptions()
        opts.binary_location = cfg.chromium
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-proxy-server",
                    "--disable-dev-shm-usage", f"--user-data-dir={work / 'profile'}",
                    f"--host-resolver-rules=MAP {cfg.host} 127.0.0.1", "--window-size=1280,900"):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service(cfg.chromedriver), options=opts)
        driver.set_page_load_timeout(cfg.page_timeout)
        driver.get(base + "/index.html")
        steps["start"] += 1
        values = {k: v for k, v in cfg.values.items() if v}
        while time.time() - t0 < cfg.seconds and sum(steps.values()) < cfg.max_steps:
            r = rng.random()
            try:
                if r < 0.66:
                    # One round trip for all same-site links (one per element would cost seconds).
                    links = driver.execute_script(
                        "return Array.from(document.querySelectorAll('a[href]'))"
                        ".filter(a => a.href.startsWith(arguments[0])).map(a => [a, a.href]);", base) or []
                    if not links:
                        driver.get(base + "/index.html")
                        steps["home"] += 1
                        continue
                    link, href = rng.choice(links)
                    try:
                        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
                        link.click()
                        steps["click"] += 1
                    except WebDriverException:
                        driver.get(href)  # hidden or covered link: follow it as a typed URL
                        steps["follow"] += 1
                elif r < 0.76:
                    boxes = driver.find_elements(By.CSS_SELECTOR, "form.search input[name=q], form.inline-search input[name=q]")
                    visible = [b for b in boxes if b.is_displayed()]
                    if not visible:
                        steps["skip"] += 1
                        continue
                    box = visible[0]
                    box.clear()
                    box.send_keys(" ".join(rng.sample(_page_words(driver, rng), k=rng.choice((1, 1, 1, 2)))))
                    box.submit()
                    steps["quick-search"] += 1
                elif r < 0.86:
                    q = driver.find_element(By.ID, "site-q")
                    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", q)
                    q.clear()
                    q.send_keys(" ".join(rng.sample(_page_words(driver, rng), k=rng.choice((1, 2, 3)))))
                    Select(driver.find_element(By.ID, "site-section")).select_by_index(rng.randrange(len(_SECTIONS)))
                    driver.find_element(By.ID, "site-go").click()
                    steps["site-search"] += 1
                elif r < 0.92:
                    for fid, pool in (("fb-name", "name"), ("fb-email", "email"), ("fb-country", "country")):
                        el = driver.find_element(By.ID, fid)
                        el.clear()
                        if values.get(pool) and rng.random() < 0.9:
                            el.send_keys(rng.choice(values[pool]))
                    radios = driver.find_elements(By.CSS_SELECTOR, "#feedback input[name=rating]")
                    if radios and rng.random() < 0.8:
                        driver.execute_script("arguments[0].click();", rng.choice(radios))
                    comment = driver.find_element(By.ID, "fb-comment")
                    comment.clear()
                    comment.send_keys(_page_sentence(driver, rng))
                    driver.find_element(By.ID, "fb-send").click()
                    steps["feedback-post"] += 1
                elif r < 0.97:
                    driver.back()
                    steps["back"] += 1
                else:
                    driver.get(base + rng.choice(("/index.html", "/genindex.html", "/py-modindex.html",
                                                  "/contents.html", "/glossary.html")))
                    steps["typed"] += 1
            except WebDriverException as e:
                steps["error:" + type(e).__name__] += 1
                try:
                    driver.get(base + "/index.html")
                except WebDriverException:
                    pass
        elapsed = time.time() - t0
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        time.sleep(1.0)  # let the last packets reach tcpdump
        for p in reversed(procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGINT if p is not procs[0] else signal.SIGQUIT)
                    p.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        "site_dir": str(site), "host": cfg.host, "port": port, "seed": cfg.seed, "seconds": round(elapsed, 1),
        "steps": dict(sorted(steps.items())), "nginx": _version([nginx, "-v"]),
        "chromium": _version([cfg.chromium, "--version"]), "chromedriver": _version([cfg.chromedriver, "--version"]),
        "tcpdump": _version([tcpdump, "--version"]), "capture": "tcpdump -i lo (loopback), reassembled in Python",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items() if k != "values"},
        "value_pools": {k: len(v) for k, v in cfg.values.items()},
    }
    (out / "session.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary
