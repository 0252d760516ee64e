"""Rule-engine baselines for the web-attack evaluation: libinjection and OWASP CRS in ModSecurity.

Both are the real engines, not re-implementations, with the scikit-learn-ish interface the other
baselines use (``predict(texts)`` and a per-item ``score(texts)``); neither needs ``fit``.

* :class:`Libinjection` -- PyPI ``libinjection-python`` run on every decoded parameter value that
  :func:`secllm.data.http.split_web_input` finds; an item is flagged when any part is.

      >>> li = Libinjection()
      >>> li.predict(["' or 1=1--", "/a?q=%3Cscript%3Ealert(1)%3C/script%3E", "hello"]).tolist()
      ['sqli', 'xss', 'benign']

* :class:`ModSecurityCRS` -- Debian's nginx with ``libnginx-mod-http-modsecurity`` and
  ``modsecurity-crs`` (CRS 3.3.x), started on 127.0.0.1 on a free port from a private temporary
  directory (the system's ``/etc/nginx`` setup is never touched); each item is sent as a real HTTP
  request and the HTTP status plus the inbound anomaly score are read back.

      >>> with ModSecurityCRS(paranoia_level=1) as waf:              # doctest: +SKIP
      ...     waf.score(["' or 1=1--", "hello"]).tolist(), waf.predict(["' or 1=1--"]).tolist()
      ([5.0, 0.0], ['malicious'])

How the anomaly score is obtained: ModSecurity cannot put a transaction variable into the response,
so one extra rule, placed after every detection rule and right before CRS's blocking evaluation
(REQUEST-949), logs ``secllm-score <id> <pl1> <pl2> <pl3> <pl4>`` to nginx's error log for
every transaction. ``<id>`` is a random id sent in an ``X-Secllm-Id`` request header and made the
ModSecurity transaction id (``modsecurity_transaction_id``), so lines and requests are matched
exactly even with a thread pool; the line is written in phase 2, before nginx answers, so it is on
disk by the time the response arrives. The score is the sum of CRS's per-level counters
``tx.anomaly_score_pl1..pl{paranoia_level}`` -- what CRS itself compares to the inbound threshold
(rules 949060-949110) -- and the per-level counters are kept, so one run at
``executing_paranoia_level=4`` gives the scores of all four paranoia levels at once
(:meth:`CRSResult.score_at`).

:func:`is_available` tells whether nginx, the module and the CRS files are installed
(``scripts/install_system_deps.sh`` installs them).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any
from urllib.parse import quote

import numpy as np

from secllm.data.canonical import canonicalize
from secllm.data.http import split_web_input

__all__ = [
    "Availability",
    "CRSResult",
    "Libinjection",
    "ModSecurityCRS",
    "is_available",
]


def _as_texts(texts: Iterable[str]) -> list[str]:
    return ["" if t is None else str(t) for t in texts]


# --------------------------------------------------------------------------------------------
# libinjection
# --------------------------------------------------------------------------------------------
def _import_libinjection() -> ModuleType:
    try:
        import libinjection  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the libinjection baseline needs the PyPI package 'libinjection-python': "
            "pip install libinjection-python"
        ) from exc
    return libinjection


class Libinjection:
    """libinjection's SQLi and XSS detectors on each decoded parameter value.

    ``predict`` gives ``"sqli"``, ``"xss"`` or ``"benign"`` per item; ``score`` gives 1.0 for a
    flagged item and 0.0 otherwise (libinjection has no graded output, so its "curve" is one
    point). Within a part SQLi is checked first; the item takes the label of its first flagged part.

        >>> Libinjection().predict(["1 union select 1,2", "<img src=x onerror=alert(1)>"]).tolist()
        ['sqli', 'xss']
    """

    classes_ = np.asarray(["benign", "sqli", "xss"])

    def __init__(self) -> None:
        self._lib = _import_libinjection()

    def fit(self, texts: Sequence[str] | None = None, labels: Sequence[Any] | None = None) -> Libinjection:
        """No-op (a rule engine learns nothing); here so evaluation loops can treat all systems alike."""
        return self

    def explain(self, text: str) -> list[tuple[str, str, str]]:
        """Every flagged part as ``(part name, "sqli"|"xss", decoded value)``.

            >>> Libinjection().explain("/a?id=1%27%20or%20%271%27%3D%271&x=ok")
            [('query:id', 'sqli', "1' or '1'='1")]
        """
        hits: list[tuple[str, str, str]] = []
        for name, value in self._decoded_parts(text):
            label = self._check(value)
            if label is not None:
                hits.append((name, label, value))
        return hits

    def predict(self, texts: Iterable[str], kinds: Sequence[str] | None = None) -> np.ndarray:
        """``"sqli"`` / ``"xss"`` / ``"benign"`` per item (``kinds``: what each item is, see
        :func:`secllm.data.http.split_web_input`)."""
        items = _as_texts(texts)
        kind_list = list(kinds) if kinds is not None else ["auto"] * len(items)
        out = []
        for text, kind in zip(items, kind_list):
            label = "benign"
            for _, value in self._decoded_parts(text, kind):
                hit = self._check(value)
                if hit is not None:
                    label = hit
                    break
            out.append(label)
        return np.asarray(out, dtype=object)

    def score(self, texts: Iterable[str]) -> np.ndarray:
        """1.0 where any part is flagged, else 0.0."""
        return (self.predict(texts) != "benign").astype(np.float64)

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _decoded_parts(text: str, kind: str = "auto") -> list[tuple[str, str]]:
        _, parts = split_web_input(text, kind)
        decoded = []
        for part in parts:
            # "+" means a space only in form-encoded query strings and bodies; in a bare SQL payload
            # ("1+1") or a path it is a literal plus, and turning it into a space changes the SQL.
            plus = part.name.startswith(("query", "body"))
            decoded.append((part.name, canonicalize(part.text, lower=False, plus_as_space=plus).text))
        return decoded

    def _check(self, value: str) -> str | None:
        if not value:
            return None
        # The binding encodes with strict UTF-8 and raises on lone surrogates (possible after
        # latin-1 fallbacks upstream); replace them rather than fail the whole evaluation.
        value = value.encode("utf-8", "replace").decode("utf-8")
        if self._lib.is_sql_injection(value)["is_sqli"]:
            return "sqli"
        if self._lib.is_xss(value)["is_xss"]:
            return "xss"
        return None


# --------------------------------------------------------------------------------------------
# OWASP CRS in ModSecurity (nginx)
# --------------------------------------------------------------------------------------------
_NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
_MODULE_PATH = Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so")
_CRS_RULES_DIR = Path("/usr/share/modsecurity-crs/rules")
_UNICODE_MAPPING = Path("/etc/nginx/unicode.mapping")

_SCORE_RULE_ID = 9_990_001
_SCORE_LINE = re.compile(r'\[msg "secllm-score (\S+) (\d*) (\d*) (\d*) (\d*)"\]')
_RULE_LINE = re.compile(r'\[id "(\d+)"\].*?\[unique_id "([^"]*)"\]')
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})")
# Evaluation / correlation rules that restate the score rather than detect anything.
_BOOKKEEPING_RULES = frozenset({"949110", "959100", "980130", "980140", str(_SCORE_RULE_ID)})
# What a browser sends: a bare request would collect "missing Accept / User-Agent" points at
# paranoia level 2+ and "Host is a numeric IP" at level 1, which have nothing to do with the item.
_CLIENT_HEADERS = (
    "Host: localhost\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
)


@dataclass(frozen=True)
class Availability:
    """Result of :func:`is_available`: truthy when the engine can run, else ``reason`` says why."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


def _find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    # /usr/sbin is not on a non-root user's PATH on Debian.
    return next((c for c in _NGINX_CANDIDATES if os.access(c, os.X_OK)), None)


def is_available() -> Availability:
    """Whether nginx, its ModSecurity module and the OWASP CRS rules are installed.

        >>> avail = is_available()
        >>> isinstance(avail.ok, bool) and (avail.ok or bool(avail.reason))
        True
    """
    if _find_nginx() is None:
        return Availability(False, "nginx binary not found (apt-get install nginx)")
    if not _MODULE_PATH.is_file():
        return Availability(False, f"{_MODULE_PATH} missing (apt-get install libnginx-mod-http-modsecurity)")
    if not (_CRS_RULES_DIR / "REQUEST-901-INITIALIZATION.conf").is_file():
        return Availability(False, f"CRS rules missing under {_CRS_RULES_DIR} (apt-get install modsecurity-crs)")
    return Availability(True, "")


@dataclass
class CRSResult:
    """What the WAF did with one item.

    ``level_scores`` are CRS's per-level counters ``tx.anomaly_score_pl1..pl4`` (each level's own
    rules only; levels above ``executing_paranoia_level`` stay 0). ``score`` is the inbound anomaly
    score at the instance's paranoia level, or :attr:`ModSecurityCRS.REJECTED_SCORE` when the front
    end refused the request for another reason (a malformed request that nginx answers 400, a body
    ModSecurity cannot parse, no response at all): blocked at any threshold.
    """

    kind: str  # "payload" | "url" | "http", as split_web_input decided
    status: int | None  # HTTP status, None when no response came back
    blocked: bool  # the request did not reach the application behind the WAF
    score: float
    level_scores: tuple[int, int, int, int] = (0, 0, 0, 0)
    rules: list[str] = field(default_factory=list)  # CRS rule ids that matched (best effort)
    error: str | None = None

    def score_at(self, paranoia_level: int) -> float:
        """The inbound anomaly score this item would get at ``paranoia_level`` (needs that level executed)."""
        if self.score == ModSecurityCRS.REJECTED_SCORE:
            return self.score
        return float(sum(self.level_scores[:paranoia_level]))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Last-resort cleanup: SIGKILL nginx's process group if its master is still running."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; lone surrogates from ``surrogateescape`` decoding become their byte again."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte: nothing faithful to send
        return text.encode("utf-8", "replace")


def _escape_target(target: str) -> str:
    """Percent-encode only what cannot appear raw in a request line (blanks, controls, non-ASCII).

    Everything else -- quotes, angle brackets, stray ``%`` -- goes out as written, so the WAF sees
    the item as an attacker would send it.

        >>> _escape_target("/a b?q=<x>&r=caf\u00e9%zz")
        '/a%20b?q=<x>&r=caf%C3%A9%zz'
    """
    return "".join(quote(_utf8(ch), safe="") if not 0x20 < ord(ch) < 0x7F else ch for ch in target)


def _url_target(url: str) -> str:
    """The origin-form request target of a URL item (``scheme://host`` is dropped, ``/`` ensured)."""
    m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", url)
    if m:
        url = url[m.end() :]
    if not url.startswith("/"):
        url = "/" + url
    return _escape_target(url)


_FIRST_LINE = re.compile(r"\A(?:\r?\n)*[^\r\n]*(\r?\n)")


class ModSecurityCRS:
    """OWASP CRS 3.3 in ModSecurity v3 behind a private nginx on ``127.0.0.1:<free port>``.

    Use it as a context manager: nginx starts on ``__enter__`` and is stopped on ``__exit__``, also
    when the body raises. Items are sent as real HTTP/1.1 requests over raw sockets (so malformed
    items still go out): a bare payload as ``GET /?q=<percent-encoded payload>``, a URL as the
    request target (only blanks, controls and non-ASCII are escaped), a raw HTTP request replayed
    byte for byte with one ``X-Secllm-Id`` header added after the request line. Allowed requests
    are proxied to a tiny backend (a unix socket of the same nginx) that answers 200, so any other
    status means the WAF front end stopped the request.

        >>> with ModSecurityCRS(paranoia_level=2, anomaly_threshold=5) as waf:   # doctest: +SKIP
        ...     results = waf.send(["' or 1=1--", "/index.php?id=5", "hello"])
        ...     [(r.status, r.score) for r in results]
        [(403, 28.0), (200, 0.0), (200, 0.0)]

    ``executing_paranoia_level`` (default: ``paranoia_level``) may be higher to also record the
    scores of higher levels (:meth:`CRSResult.score_at`) without letting them block. After every
    :meth:`send` / :meth:`score` / :meth:`predict`, ``last_timing`` holds the measured throughput.
    """

    #: Score given to requests refused before or outside CRS scoring (see :class:`CRSResult`).
    REJECTED_SCORE = 1000.0

    def __init__(
        self,
        paranoia_level: int = 1,
        *,
        anomaly_threshold: int = 5,
        executing_paranoia_level: int | None = None,
        threads: int = 1,
        nginx_workers: int = 1,
        timeout: float = 10.0,
        extra_rules: str = "",
        batch_size: int = 512,
    ) -> None:
        if not 1 <= paranoia_level <= 4:
            raise ValueError("paranoia_level must be 1..4")
        executing = paranoia_level if executing_paranoia_level is None else executing_paranoia_level
        if not paranoia_level <= executing <= 4:
            raise ValueError("executing_paranoia_level must be in paranoia_level..4")
        self.paranoia_level = paranoia_level
        self.executing_paranoia_level = executing
        self.anomaly_threshold = int(anomaly_threshold)
        self.threads = max(1, int(threads))
        self.nginx_workers = max(1, int(nginx_workers))
        self.timeout = float(timeout)
        self.extra_rules = extra_rules  # extra SecAction/SecRule lines for crs-setup (e.g. allowed methods)
        self.batch_size = max(1, int(batch_size))
        self.last_timing: dict[str, Any] = {}
        self.port: int | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._finalizer: weakref.finalize | None = None
        self._user_line = ""
        self._lock = threading.Lock()  # one send() at a time: batches share the error log

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> ModSecurityCRS:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> ModSecurityCRS:
        """Write the private config and start nginx; returns ``self``. Raises RuntimeError with nginx's log on failure."""
        if self.running:
            return self
        avail = is_available()
        if not avail:
            raise RuntimeError(f"ModSecurity CRS is not available: {avail.reason}")
        self._tmp = tempfile.TemporaryDirectory(prefix="secllm-crs-")
        tmp = Path(self._tmp.name)
        try:
            self._prepare_dir(tmp)
            last_error = ""
            # Another process may grab the free port between our probe and nginx's bind: retry.
            for _ in range(3):
                self.port = _free_port()
                self._write_config(tmp)
                err = self._spawn(tmp)
                if err is None:
                    self._self_check(tmp)
                    return self
                last_error = err
                if "Address already in use" not in err:
                    break
            raise RuntimeError(f"nginx with ModSecurity failed to start:\n{last_error}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop nginx (graceful, then forceful) and delete the temporary directory. Idempotent."""
        proc, self._proc = self._proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is not None and proc.poll() is None:
            # SIGQUIT = graceful shutdown: the master waits for its workers and removes the pid file.
            # Signals go to the whole process group (master and workers); the group id stays ours
            # until we reap the master, so this never hits an unrelated process.
            for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.port = None
        self._log_offset = 0

    # -- public API -------------------------------------------------------------------------------
    def send(self, texts: Iterable[str], *, threads: int | None = None,
             kinds: Sequence[str] | None = None) -> list[CRSResult]:
        """Send every item as an HTTP request and return one :class:`CRSResult` per item.

        ``kinds`` (one per item, see :func:`secllm.data.http.split_web_input`): ``payload`` sends
        the item as a query parameter value even when it looks like a URL path.
        """
        if not self.running:
            raise RuntimeError("the WAF is not running: use `with ModSecurityCRS(...) as waf:` or call start()")
        items = _as_texts(texts)
        kind_list = list(kinds) if kinds is not None else ["auto"] * len(items)
        if len(kind_list) != len(items):
            raise ValueError(f"{len(kind_list)} kinds for {len(items)} items")
        n_threads = self.threads if threads is None else max(1, int(threads))
        results: list[CRSResult] = []
        t0 = time.perf_counter()
        with self._lock, ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else _NoPool() as pool:
            for start in range(0, len(items), self.batch_size):
                results.extend(self._send_batch(items[start : start + self.batch_size], pool,
                                                kind_list[start : start + self.batch_size]))
        seconds = time.perf_counter() - t0
        self.last_timing = {
            "items": len(items),
            "threads": n_threads,
            "nginx_workers": self.nginx_workers,
            "seconds": seconds,
            "requests_per_s": len(items) / seconds if seconds > 0 else float("nan"),
        }
        return results

    def score(self, texts: Iterable[str], *, threads: int | None = None) -> np.ndarray:
        """Inbound anomaly score per item (higher = more suspicious); see :class:`CRSResult`."""
        return np.asarray([r.score for r in self.send(texts, threads=threads)], dtype=np.float64)

    def predict(self, texts: Iterable[str], threshold: float | None = None, *, threads: int | None = None) -> np.ndarray:
        """``"malicious"`` where the score reaches ``threshold`` (default: the instance's anomaly threshold)."""
        thr = self.anomaly_threshold if threshold is None else threshold
        scores = self.score(texts, threads=threads)
        return np.where(scores >= thr, "malicious", "benign").astype(object)

    def benchmark(self, texts: Sequence[str], *, threads: int = 4, kinds: Sequence[str] | None = None) -> dict[str, Any]:
        """Requests/s sequentially and with a ``threads``-thread client pool; also stored in ``last_timing``."""
        self.send(texts, threads=1, kinds=kinds)
        seq = self.last_timing
        self.send(texts, threads=threads, kinds=kinds)
        par = self.last_timing
        self.last_timing = {
            "items": len(texts),
            "nginx_workers": self.nginx_workers,
            "sequential_requests_per_s": seq["requests_per_s"],
            "threads": threads,
            "threaded_requests_per_s": par["requests_per_s"],
            "requests_per_s": par["requests_per_s"],
        }
        return self.last_timing

    # -- config -----------------------------------------------------------------------------------
    def _prepare_dir(self, tmp: Path) -> None:
        self._user_line = ""
        if os.geteuid() == 0:
            # As root nginx would switch its workers to "nobody"; they must then be able to reach the
            # backend socket and ModSecurity's scratch dir inside our private directory.
            try:
                nobody = pwd.getpwnam("nobody")
            except KeyError:
                self._user_line = "user root;"  # no unprivileged account here: keep workers as root
            else:
                group = grp.getgrgid(nobody.pw_gid).gr_name
                self._user_line = f"user nobody {group};"
                tmp.chmod(0o755)
        scratch = tmp / "modsec"
        scratch.mkdir()
        scratch.chmod(0o1777)

    def _write_config(self, tmp: Path) -> None:
        rules = sorted(p for p in _CRS_RULES_DIR.glob("*.conf"))
        unicode_map = (
            f"SecUnicodeMapFile {_UNICODE_MAPPING} 20127" if _UNICODE_MAPPING.is_file() else "# no unicode.mapping"
        )
        crs_setup = f"""# Written by secllm.eval.rules -- CRS setup in anomaly-scoring mode.
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level={self.paranoia_level}"
SecAction "id:900001,phase:1,nolog,pass,t:none,setvar:tx.executing_paranoia_level={self.executing_paranoia_level}"
SecAction "id:900110,phase:1,nolog,pass,t:none,setvar:tx.inbound_anomaly_score_threshold={self.anomaly_threshold},setvar:tx.outbound_anomaly_score_threshold=4"
SecAction "id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334"
{self.extra_rules}
"""
        (tmp / "crs-setup.conf").write_text(crs_setup, encoding="utf-8")
        # One line per transaction that reaches the end of phase 2 (every allowed request and every
        # CRS block). The data sits in [msg], near the start of the error-log line, so nginx's 2 KB
        # line limit never cuts it even when the URI logged further on is long. (Not in phase 5:
        # that line would come after the response, and `noauditlog` would silence it in v3.)
        score_rule = (
            f'SecAction "id:{_SCORE_RULE_ID},phase:2,pass,log,t:none,'
            "msg:'secllm-score %{UNIQUE_ID} %{tx.anomaly_score_pl1} %{tx.anomaly_score_pl2} "
            "%{tx.anomaly_score_pl3} %{tx.anomaly_score_pl4}'\"\n"
        )
        (tmp / "secllm-score.conf").write_text(score_rule, encoding="utf-8")
        # The score rule goes right before the blocking evaluation (REQUEST-949): every detection
        # rule of phases 1-2 has run by then, and 949110 may deny and end the phase.
        before = [p for p in rules if p.name < "REQUEST-949"]
        after = [p for p in rules if p.name >= "REQUEST-949"]
        includes = "\n".join(
            [f"Include {p}" for p in before] + [f"Include {tmp}/secllm-score.conf"] + [f"Include {p}" for p in after]
        )
        modsec = f"""# Written by secllm.eval.rules -- Debian's recommended modsecurity.conf, blocking on.
SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\\+|/)|text/)xml" \\
     "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" \\
     "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecArgumentsLimit 1000
SecRule &ARGS "@ge 1000" "id:200007,phase:2,t:none,log,deny,status:400,msg:'Too many arguments'"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'"
SecRule MULTIPART_UNMATCHED_BOUNDARY "@eq 1" "id:200004,phase:2,t:none,log,deny,msg:'Multipart parser detected a possible unmatched boundary.'"
SecPcreMatchLimit 1000
SecPcreMatchLimitRecursion 1000
SecRule TX:/^MSC_/ "!@streq 0" "id:200005,phase:2,t:none,deny,msg:'ModSecurity internal error flagged: %{{MATCHED_VAR_NAME}}'"
# The backend answers "ok": nothing to inspect on the way out, and skipping it saves time.
SecResponseBodyAccess Off
SecTmpDir {tmp}/modsec
SecDataDir {tmp}/modsec
SecAuditEngine Off
SecArgumentSeparator &
SecCookieFormat 0
{unicode_map}
Include {tmp}/crs-setup.conf
{includes}
"""
        (tmp / "modsecurity.conf").write_text(modsec, encoding="utf-8")
        nginx_conf = f"""# Written by secllm.eval.rules -- a private nginx, never the system's.
{self._user_line}
worker_processes {self.nginx_workers};
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
load_module {_MODULE_PATH};
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    # Let long items reach ModSecurity instead of dying on nginx's default limits (414/413).
    large_client_header_buffers 8 64k;
    client_max_body_size 16m;
    client_body_buffer_size 1m;
    client_header_timeout {int(self.timeout)}s;
    client_body_timeout {int(self.timeout)}s;
    keepalive_timeout 0;
    server {{
        listen 127.0.0.1:{self.port} default_server;
        server_name _;
        modsecurity on;
        modsecurity_rules_file {tmp}/modsecurity.conf;
        modsecurity_transaction_id "$http_x_secllm_id";
        location / {{
            # A real upstream, not "return": nginx's return runs before ModSecurity's phase 2.
            proxy_pass http://unix:{tmp}/backend.sock;
            # The client half-closes after sending; without this nginx reads that as an abort (499).
            proxy_ignore_client_abort on;
        }}
    }}
    server {{
        listen unix:{tmp}/backend.sock;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""
        (tmp / "nginx.conf").write_text(nginx_conf, encoding="utf-8")

    def _spawn(self, tmp: Path) -> str | None:
        """Start nginx; None once it accepts connections, else the reason it did not."""
        log = tmp / "error.log"
        log.touch()
        self._log_offset = 0
        nginx = _find_nginx()
        assert nginx is not None
        cmd = [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(log)]
        stderr_path = tmp / "stderr.log"
        with open(stderr_path, "wb") as stderr:
            # Own process group, so stop() can signal master and workers together.
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True
            )
        # If the caller never stops us (no `with`, a crash), kill nginx when the object goes away
        # or the interpreter exits rather than leave an orphan server behind.
        self._finalizer = weakref.finalize(self, _kill_group, self._proc)
        deadline = time.monotonic() + 30.0  # loading ~500 CRS rules takes a second or two
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                reason = stderr_path.read_text(errors="replace") + log.read_text(errors="replace")
                code, self._proc = self._proc.returncode, None
                return reason.strip() or f"nginx exited with status {code}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):  # type: ignore[arg-type]
                    return None
            except OSError:
                time.sleep(0.05)
        _kill_group(self._proc)
        self._proc = None
        return "nginx did not open its port within 30 s:\n" + log.read_text(errors="replace")

    def _self_check(self, tmp: Path) -> None:
        """One benign request must come back 200 with a score line, or the setup is broken.

        Catches what a started nginx cannot tell us: workers unable to reach the backend socket
        (a 502 for every allowed item), or a rule set that does not log the score.
        """
        _, probe = self._request_bytes("hello", "selfcheck")
        status, err = self._exchange(probe)
        scores, _ = self._collect({"selfcheck"} if status == 200 else set())
        if status != 200 or "selfcheck" not in scores:
            log = (tmp / "error.log").read_text(errors="replace")[-4000:]
            raise RuntimeError(f"ModSecurity self-check failed (status {status}, {err or 'no score line'}):\n{log}")

    # -- sending ------------------------------------------------------------------------------------
    def _request_bytes(self, text: str, rid: str, kind: str = "auto") -> tuple[str, bytes]:
        kind, _ = split_web_input(text, kind)
        tag = f"X-Secllm-Id: {rid}\r\n"
        if kind == "http":
            # Replay as-is; the id header goes right after the request line, with its line ending.
            m = _FIRST_LINE.match(text)
            if m:
                text = text[: m.end()] + tag.replace("\r\n", m.group(1)) + text[m.end() :]
            return kind, _utf8(text)
        if kind == "url":
            target = _url_target(text)
        else:
            target = "/?q=" + quote(_utf8(text), safe="")
        head = f"GET {target} HTTP/1.1\r\n{_CLIENT_HEADERS}{tag}Connection: close\r\n\r\n"
        return kind, head.encode("ascii", "replace")

    def _exchange(self, payload: bytes) -> tuple[int | None, str | None]:
        """Send one request, read the reply until the server closes; (status, error)."""
        assert self.port is not None
        data = b""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout) as sock:
                sock.sendall(payload)
                # Half-close: an incomplete request (short body, no blank line) then ends with EOF
                # and nginx answers or closes at once instead of waiting for its timeout.
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                while len(data) < 65536:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except TimeoutError:
            if not data:
                return None, "timeout waiting for the response"
        except OSError as exc:
            # A reset after the answer arrived (nginx closing on unread body bytes) is not an error.
            if not data:
                return None, f"connection error: {exc}"
        m = _STATUS_LINE.match(data)
        if m is None:
            return None, "no HTTP response (connection closed)" if not data else "unparseable response"
        return int(m.group(1)), None

    def _send_batch(self, items: list[str], pool: Any, kinds: list[str] | None = None) -> list[CRSResult]:
        ids = [secrets.token_hex(8) for _ in items]
        kinds = kinds or ["auto"] * len(items)
        prepared = [self._request_bytes(t, rid, k) for t, rid, k in zip(items, ids, kinds)]
        replies = list(pool.map(self._exchange, [p for _, p in prepared]))
        # A 200 went through all of phase 2, so its score line must be there; a refused request
        # (nginx's 400, a phase-1 deny) may have none.
        must = {rid for rid, (status, _) in zip(ids, replies) if status == 200}
        scores, rules = self._collect(must)
        out = []
        for (kind, _), rid, (status, err) in zip(prepared, ids, replies):
            levels = scores.get(rid)
            out.append(self._result(kind, status, err, levels, rules.get(rid, [])))
        return out

    def _result(
        self, kind: str, status: int | None, err: str | None, levels: tuple[int, ...] | None, rules: list[str]
    ) -> CRSResult:
        lv = tuple(levels[:4]) if levels else (0, 0, 0, 0)
        anomaly = float(sum(lv[: self.paranoia_level]))
        if status == 200:
            blocked, score = False, anomaly
            if levels is None:
                err = "no anomaly score logged"
        elif status == 403 and levels is not None and anomaly >= self.anomaly_threshold:
            blocked, score = True, anomaly  # CRS's own blocking decision
        elif status is not None and status >= 500:
            # The backend failed: the WAF let it through, the item is not "detected".
            blocked, score, err = False, anomaly, err or f"server error {status}"
        else:
            # 400/413/414/... from nginx, a ModSecurity deny outside anomaly scoring, or no answer.
            blocked, score = True, self.REJECTED_SCORE
            if err is None and status != 403:
                err = f"rejected with status {status}"
        return CRSResult(kind, status, blocked, score, lv, rules, err)  # type: ignore[arg-type]

    def _collect(self, must: set[str]) -> tuple[dict[str, tuple[int, ...]], dict[str, list[str]]]:
        """Read this batch's score and rule lines from the error log, then empty the log.

        ModSecurity writes them in phase 2, before nginx answers, so by the time every response of
        the batch is in, every line is on disk; the short retry loop only guards against surprises
        for the requests that certainly went through phase 2 (``must``: those answered 200).
        """
        assert self._tmp is not None
        log = Path(self._tmp.name) / "error.log"
        scores: dict[str, tuple[int, ...]] = {}
        rules: dict[str, list[str]] = {}
        pending = b""
        deadline = time.monotonic() + min(self.timeout, 2.0)
        while True:
            with open(log, "rb") as fh:
                fh.seek(self._log_offset)
                chunk = fh.read()
            self._log_offset += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                m = _SCORE_LINE.search(line)
                if m:
                    scores[m.group(1)] = tuple(int(x or 0) for x in m.groups()[1:])
                    continue
                r = _RULE_LINE.search(line)
                if r and r.group(1) not in _BOOKKEEPING_RULES:
                    rules.setdefault(r.group(2), []).append(r.group(1))
            if must.issubset(scores) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        # Start the next batch on an empty log: it would otherwise grow by a few KB per request.
        # nginx opened it with O_APPEND, so its next write lands at the new end.
        os.truncate(log, 0)
        self._log_offset = 0
        return scores, rules


class _NoPool:
    """Sequential stand-in for a ThreadPoolExecutor (no thread hop when threads == 1)."""

    def __enter__(self) -> _NoPool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def map(fn: Any, items: Iterable[Any]) -> Iterable[Any]:
        return map(fn, items)
