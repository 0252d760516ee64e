"""Brute force in authentication logs: many failed logins from one source in a short time.

sshd and PAM write one line per failed attempt (``Failed password for root from 203.0.113.9``,
``authentication failure; ... rhost=203.0.113.9``). One failure is ordinary operation (a mistyped
password); a source that fails again and again within minutes is guessing. :class:`AuthBruteForce`
reads lines in order, keeps a bounded window of failure times per source, and flags a failure line
as ``brute-force`` once its source has ``min_failures`` failures within ``window`` seconds — with
the source, the user names tried and the count as evidence. Successful logins and all other lines
are ordinary (``benign``) and say so.

    >>> bf = AuthBruteForce(min_failures=3, window=600)
    >>> lines = [f"Dec 10 06:55:{s:02d} host sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2"
    ...          for s in (1, 2, 3)]
    >>> [v.label for v in bf.judge(lines)]
    ['benign', 'benign', 'malicious']
    >>> bf.judge(lines[:1])[0].details["count"]
    4
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_FAILURE = re.compile(
    r"failed (?:password|publickey|keyboard-interactive|none)|invalid user|authentication failure|"
    r"maximum authentication attempts exceeded|did not receive identification string|"
    r"connection closed by (?:invalid|authenticating) user|disconnected from (?:invalid|authenticating) user|"
    r"input_userauth_request: invalid user|reverse mapping checking getaddrinfo .* failed|"
    r"check pass; user unknown|pam_unix\([^)]*\): auth(?:entication)? failure|bad protocol version|"
    r"too many authentication failures",
    re.IGNORECASE)
_SOURCE = re.compile(r"(?:\bfrom|\brhost=|\bby)\s*(?:invalid user \S+ |authenticating user \S+ )?"
                     r"\[?((?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]*:[0-9a-f:]+|[a-z0-9][\w.-]*\.[a-z]{2,})\]?",
                     re.IGNORECASE)
_USER = re.compile(r"(?:for (?:invalid user )?|invalid user |\buser=?\s*)([\w.@-]{1,64})", re.IGNORECASE)
_SYSLOG_TIME = re.compile(r"^([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\b")
_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})")
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
MAX_SOURCES = 100_000         # sources tracked at once (least recently seen dropped first)


@dataclass
class AuthVerdict:
    """One line's verdict: ``malicious`` (``attack_type`` ``brute-force``) or ``benign``."""

    label: str
    attack_type: str | None = None
    failure: bool = False
    source: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    span: tuple[int, int] | None = None       # where the source address is in the line


def line_time(line: str, default: float | None = None) -> float | None:
    """Seconds of a syslog (``Dec 10 06:55:46``, year unknown: a fixed one) or ISO time stamp."""
    m = _SYSLOG_TIME.match(line)
    if m and m.group(1) in _MONTHS:
        mon, day, hh, mm, ss = _MONTHS[m.group(1)], *(int(g) for g in m.groups()[1:])
        try:
            return datetime(2000, mon, day, hh, mm, ss).timestamp()
        except ValueError:
            return default
    m = _ISO_TIME.match(line)
    if m:
        try:
            return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}").timestamp()
        except ValueError:
            return default
    return default


class AuthBruteForce:
    """Stateful judge of authentication log lines (sshd, PAM), fed in order."""

    def __init__(self, min_failures: int = 5, window: float = 600.0):
        self.min_failures, self.window = min_failures, window
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()
        self._users: dict[str, set[str]] = {}
        self._total: dict[str, int] = {}

    def judge(self, lines: list[str]) -> list[AuthVerdict]:
        return [self.judge_line(ln) for ln in lines]

    def judge_line(self, line: str) -> AuthVerdict:
        if not _FAILURE.search(line):
            return AuthVerdict("benign")
        m = _SOURCE.search(line)
        if not m:
            return AuthVerdict("benign", failure=True)
        src = m.group(1).lower()
        t = line_time(line, default=time.time())
        q = self._fails.get(src)
        if q is None:
            q = self._fails[src] = deque(maxlen=4 * self.min_failures)
            while len(self._fails) > MAX_SOURCES:
                old, _ = self._fails.popitem(last=False)
                self._users.pop(old, None)
                self._total.pop(old, None)
        else:
            self._fails.move_to_end(src)
        q.append(t)
        while q and t - q[0] > self.window:
            q.popleft()
        self._total[src] = self._total.get(src, 0) + 1
        u = _USER.search(line)
        if u:
            users = self._users.setdefault(src, set())
            if len(users) < 50:
                users.add(u.group(1))
        details = {"source": src, "count": self._total[src], "in_window": len(q), "window_s": self.window,
                   "users": sorted(self._users.get(src, ()))[:10]}
        if len(q) >= self.min_failures:
            return AuthVerdict("malicious", "brute-force", True, src, details, (m.start(1), m.end(1)))
        return AuthVerdict("benign", None, True, src, details, (m.start(1), m.end(1)))
