"""The small web shop the incident replay attacks (``benchmarks/incidents_replay.py``).

A Starlette app behind nginx (nginx serves ``/static``, proxies the rest over a unix socket):

* ``/`` and ``/about``, ``/products`` (list), ``/product?id=N`` -- **SQL injection** (the id is
  pasted into the query, as in the textbook bug), ``/search?q=`` -- SQL injection in a LIKE;
* ``/login`` (GET form, POST ``user``/``password``: 302 to ``/account`` or 401) -- the query is
  built by string formatting too;
* ``/upload`` (GET form, POST multipart ``file``) stores any file under ``/uploads/`` without a
  check -- the **webshell upload** bug;
* ``/uploads/NAME`` serves it; a stored ``.php`` file whose content calls ``system($_GET[...])``
  is answered as PHP would run it -- **emulated**: nothing is executed, a fixed table of plausible
  outputs answers ``id``, ``uname -a``, ``cat /etc/passwd``, ``ls``, ``tar ...|base64`` (a large
  random body: the exfiltration) and anything else with ``sh: not found``;
* ``/api/items`` (JSON for the page script).

It runs only on a unix socket inside the benchmark's temporary directory, reachable only through
the private nginx on 127.0.0.1.

    uvicorn --uds /tmp/x/app.sock replay_app:app       # what the harness does
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import html
import os
import random
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

ROOT = Path(os.environ.get("REPLAY_APP_DIR", "/tmp/replay-app"))
UPLOADS = ROOT / "uploads"
DB = ROOT / "shop.db"
PRODUCTS = ["blue running shoes", "red coffee mug", "wool winter hat", "leather wallet", "garden hose 20m",
            "kitchen knife set", "yoga mat", "desk lamp", "travel backpack", "bluetooth speaker", "green tea 100g",
            "cotton t-shirt", "umbrella", "wireless mouse", "notebook a5", "water bottle"]


def init_db() -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    UPLOADS.mkdir(exist_ok=True)
    con = sqlite3.connect(DB)
    con.executescript("DROP TABLE IF EXISTS products; DROP TABLE IF EXISTS users;"
                      "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL, descr TEXT);"
                      "CREATE TABLE users (id INTEGER PRIMARY KEY, user TEXT, password TEXT, email TEXT);")
    rng = random.Random(0)
    for i, p in enumerate(PRODUCTS, 1):
        con.execute("INSERT INTO products VALUES (?, ?, ?, ?)", (i, p, round(rng.uniform(3, 120), 2),
                                                                   f"A good {p}, sold by the replay shop."))
    for i, (u, pw) in enumerate([("alice", "wonderland42"), ("bob", "builder2024"), ("admin", "tivoli")], 1):
        con.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (i, u, pw, f"{u}@shop.test"))
    con.commit()
    con.close()


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<link rel="stylesheet" href="/static/site.css"><script src="/static/site.js" defer></script></head><body>
<nav><a href="/">Home</a> <a href="/products">Products</a> <a href="/about">About</a> <a href="/login">Login</a>
<a href="/upload">Upload</a> <form action="/search" method="get" style="display:inline">
<input name="q" id="q"><button id="go">Search</button></form></nav>
<h1>{html.escape(title)}</h1>{body}<img src="/static/logo.png" alt="logo"></body></html>""", status_code=status)


def _query(sql: str) -> tuple[list[tuple], str | None]:
    con = sqlite3.connect(DB)
    try:
        return con.execute(sql).fetchall(), None
    except sqlite3.Error as exc:               # the error text leaks, as in the textbook bug
        return [], str(exc)
    finally:
        con.close()


async def home(request: Request) -> Response:
    items = "".join(f'<li><a href="/product?id={i}">{html.escape(p)}</a></li>' for i, p in enumerate(PRODUCTS[:6], 1))
    return _page("Replay shop", f"<p>Welcome.</p><ul id='featured'>{items}</ul>")


async def about(request: Request) -> Response:
    return _page("About", "<p>A small shop used to replay attacks against.</p>")


async def products(request: Request) -> Response:
    rows, _ = _query("SELECT id, name, price FROM products")
    items = "".join(f'<li><a href="/product?id={r[0]}">{html.escape(r[1])}</a> {r[2]}</li>' for r in rows)
    return _page("Products", f"<ul>{items}</ul>")


async def product(request: Request) -> Response:
    pid = request.query_params.get("id", "1")
    rows, err = _query(f"SELECT id, name, price, descr FROM products WHERE id = {pid}")     # SQL injection
    if err:
        return _page("Error", f"<pre>{html.escape(err)}</pre>", 500)
    if not rows:
        return _page("Not found", "<p>No such product.</p>", 404)
    body = "".join(f"<h2>{html.escape(str(r[1]))}</h2><p>{html.escape(str(r[3]))}</p><p>{r[2]}</p>" for r in rows)
    return _page("Product", body)


async def search(request: Request) -> Response:
    q = request.query_params.get("q", "")
    rows, err = _query(f"SELECT id, name FROM products WHERE name LIKE '%{q}%'")          # SQL injection
    if err:
        return _page("Error", f"<pre>{html.escape(err)}</pre>", 500)
    items = "".join(f'<li><a href="/product?id={r[0]}">{html.escape(str(r[1]))}</a></li>' for r in rows)
    return _page("Search", f"<p>{len(rows)} result(s) for {html.escape(q)}</p><ul>{items}</ul>")


async def login(request: Request) -> Response:
    if request.method == "GET":
        return _page("Login", '<form method="post" action="/login"><input name="user" id="user">'
                              '<input name="password" id="password" type="password"><button id="signin">Sign in</button></form>')
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    user, pw = form.get("user", [""])[0], form.get("password", [""])[0]
    rows, _ = _query(f"SELECT id FROM users WHERE user = '{user}' AND password = '{pw}'")   # SQL injection
    if rows:
        resp = RedirectResponse("/account", status_code=302)
        resp.set_cookie("session", base64.b16encode(os.urandom(8)).decode())
        return resp
    return _page("Login failed", "<p>Wrong user or password.</p>", 401)


async def account(request: Request) -> Response:
    if "session" not in request.cookies:
        return RedirectResponse("/login", status_code=302)
    return _page("Your account", "<p>Orders: none yet.</p>")


async def upload(request: Request) -> Response:
    if request.method == "GET":
        return _page("Upload", '<form method="post" action="/upload" enctype="multipart/form-data">'
                               '<input type="file" name="file" id="file"><button id="send">Upload</button></form>')
    ctype = request.headers.get("content-type", "")
    body = await request.body()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + body)
    saved = []
    for part in msg.iter_parts() if msg.is_multipart() else []:
        name = part.get_filename()
        if not name:
            continue
        name = os.path.basename(name)             # no directory tricks; the extension is not checked (the bug)
        (UPLOADS / name).write_bytes(part.get_payload(decode=True) or b"")
        saved.append(name)
    if not saved:
        return _page("Upload", "<p>No file.</p>", 400)
    return _page("Uploaded", "".join(f'<p>Saved <a href="/uploads/{html.escape(n)}">/uploads/{html.escape(n)}</a></p>'
                                     for n in saved))


_OUTPUTS = {
    "id": "uid=33(www-data) gid=33(www-data) groups=33(www-data)\n",
    "whoami": "www-data\n",
    "uname -a": "Linux web01 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 x86_64 GNU/Linux\n",
    "pwd": "/srv/shop/uploads\n",
    "ls": "shop.db\nuploads\nconfig.ini\n",
    "ls -la /srv/shop": "total 64\ndrwxr-xr-x 3 www-data www-data 4096 .\n-rw-r--r-- 1 www-data www-data 8192 shop.db\n"
                        "-rw-r----- 1 www-data www-data  220 config.ini\ndrwxrwxrwx 2 www-data www-data 4096 uploads\n",
    "cat /etc/passwd": "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                       "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\n",
    "cat /srv/shop/config.ini": "[db]\npath=/srv/shop/shop.db\n[mail]\npassword=S3cr3t-mail\n",
}


async def uploads(request: Request) -> Response:
    name = os.path.basename(request.path_params["name"])
    p = UPLOADS / name
    if not p.is_file():
        return _page("Not found", "<p>No such file.</p>", 404)
    data = p.read_bytes()
    if name.endswith(".php") and b"system($_GET" in data:
        # emulated PHP webshell: a canned answer, nothing runs
        cmd = request.query_params.get("cmd", "")
        if cmd.startswith("tar ") or "base64" in cmd:
            rng = random.Random(len(cmd))
            out = base64.b64encode(rng.randbytes(400_000)).decode()
        else:
            out = _OUTPUTS.get(cmd.strip(), f"sh: 1: {cmd.split(' ')[0][:40]}: not found\n" if cmd else "")
        return PlainTextResponse(out)
    return Response(data, media_type="application/octet-stream")


async def api_items(request: Request) -> Response:
    rows, _ = _query("SELECT id, name, price FROM products LIMIT 8")
    return JSONResponse([{"id": r[0], "name": r[1], "price": r[2]} for r in rows])


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette):
    init_db()
    yield


app = Starlette(routes=[
    Route("/", home), Route("/about", about), Route("/products", products), Route("/product", product),
    Route("/search", search), Route("/login", login, methods=["GET", "POST"]), Route("/account", account),
    Route("/upload", upload, methods=["GET", "POST"]), Route("/uploads/{name}", uploads),
    Route("/api/items", api_items),
], lifespan=lifespan)
