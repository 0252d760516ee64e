"""A small, deliberately vulnerable web application for recording system-call traces (never deploy it).

It binds 127.0.0.1 only and is started by ``benchmarks/traces/record.py`` under ``strace -f``. It is
a forking HTTP/1.1 server: every connection is served by its own child process, so one traced child
is one client session (the shape of per-process host traces). Normal features: static files, a
product search (sqlite), a login (PBKDF2), uploads, a host lookup that shells out to ``getent`` and
a "plugin" runner that starts ``python3 plugins/NAME.py ARG``. Two of them are the vulnerabilities
the attack recipes use: ``/lookup?host=`` passes ``host`` to a shell (command injection) and
``/plugin`` also runs uploaded files (a web shell once someone uploads one).

Every request appends ``pid<TAB>tag<TAB>path`` to ``--log`` (``tag`` = the ``X-Trace-Tag`` header the
recorder's clients send), so the recorder can label each traced child as normal or attack.

    python victim_app.py --port 18080 --root SITE_DIR --log pids.log
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ForkingMixIn


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 20                                  # an idle keep-alive connection ends its child
    root = "."
    log_path = "pids.log"

    def log_message(self, fmt, *args):          # quiet: the trace is the record
        pass

    def _tag(self, path: str) -> None:
        with open(self.log_path, "a") as f:
            f.write(f"{os.getpid()}\t{self.headers.get('X-Trace-Tag', '-')}\t{path[:80]}\n")

    def _send(self, code: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        self._tag(self.path)
        if u.path == "/":
            return self._static("index.html")
        if u.path.startswith("/static/"):
            return self._static(u.path[len("/static/"):])
        if u.path == "/search":
            db = sqlite3.connect(os.path.join(self.root, "shop.db"))
            rows = db.execute("SELECT name, price FROM products WHERE name LIKE ? LIMIT 20",
                              (f"%{q.get('q', '')}%",)).fetchall()
            db.close()
            body = "".join(f"<li>{html.escape(n)} {p:.2f}</li>" for n, p in rows)
            return self._send(200, f"<ul>{body}</ul>".encode())
        if u.path == "/lookup":
            # VULNERABLE on purpose: the host goes to a shell (command injection)
            out = subprocess.run(f"getent hosts {q.get('host', 'localhost')}", shell=True,
                                 capture_output=True, timeout=60)
            return self._send(200, html.escape(out.stdout.decode(errors="replace")).encode())
        if u.path == "/plugin":
            # VULNERABLE on purpose: uploaded files are plugins too
            name = os.path.basename(q.get("name", "stats"))
            for d in ("plugins", "uploads"):
                p = os.path.join(self.root, d, name + ".py")
                if os.path.isfile(p):
                    out = subprocess.run([sys.executable, p, q.get("arg", "")], capture_output=True, timeout=60)
                    return self._send(200, html.escape(out.stdout.decode(errors="replace")).encode())
            return self._send(404, b"no such plugin")
        return self._send(404, b"not found")

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        self._tag(self.path)
        body = self._body()
        if u.path == "/login":
            f = dict(urllib.parse.parse_qsl(body.decode(errors="replace")))
            db = sqlite3.connect(os.path.join(self.root, "shop.db"))
            row = db.execute("SELECT salt, hash FROM users WHERE name = ?", (f.get("user", ""),)).fetchone()
            db.close()
            ok = row is not None and hashlib.pbkdf2_hmac("sha256", f.get("password", "").encode(),
                                                         bytes.fromhex(row[0]), 2000).hex() == row[1]
            return self._send(200 if ok else 401, json.dumps({"ok": ok}).encode(), "application/json")
        if u.path == "/upload":
            name = os.path.basename(urllib.parse.parse_qs(u.query).get("name", ["note.txt"])[0])
            with open(os.path.join(self.root, "uploads", name), "wb") as fh:
                fh.write(body)
            return self._send(201, b"stored")
        return self._send(404, b"not found")

    def _static(self, rel: str):
        p = os.path.normpath(os.path.join(self.root, "static", rel))
        if not p.startswith(os.path.join(self.root, "static")) or not os.path.isfile(p):
            return self._send(404, b"not found")
        with open(p, "rb") as fh:
            data = fh.read()
        ctype = {"css": "text/css", "png": "image/png", "js": "text/javascript"}.get(p.rsplit(".", 1)[-1],
                                                                                     "text/html")
        return self._send(200, data, ctype)


class ForkingServer(ForkingMixIn, HTTPServer):
    allow_reuse_address = True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    Handler.root, Handler.log_path = os.path.abspath(a.root), os.path.abspath(a.log)
    srv = ForkingServer(("127.0.0.1", a.port), Handler)
    # SIGTERM stops the server (SIGINT is ignored in processes started in the background)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with open(a.log, "a") as f:
        f.write(f"{os.getpid()}\tserver\t-\n")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()


if __name__ == "__main__":
    main()
