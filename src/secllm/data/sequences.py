"""Event sequences from raw host data: ``strace`` output, system-call number lists, and log lines
grouped into sessions by a key field. Learning mode (:mod:`secllm.profile.sequence`) reads a
sequence as a sentence of events; these readers make the sentences.

**strace.** :func:`parse_strace` reads the text of ``strace`` (``-f`` with ``PID`` or ``[pid N]``
prefixes, ``-ff`` single-process files, optional ``-t/-tt/-ttt/-r`` timestamps, ``-T`` durations and
``-n`` numbers), keeps one event per system call (an ``<unfinished ...>`` call counts once, at its
start; its ``<... resumed>`` line only completes it), skips signals (``--- SIGCHLD ... ---``), exits
(``+++ exited with 0 +++``) and strace's own messages, and splits the events per process: threads
(``clone`` with ``CLONE_THREAD``) join their process, forked children are traces of their own with
``parent`` set.

    >>> text = '''10 execve("/bin/sh", ["sh"], 0x0 /* 1 var */) = 0
    ... 10 clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>
    ... 11 openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3
    ... 10 <... clone resumed>) = 11
    ... 11 --- SIGPIPE {si_signo=SIGPIPE} ---
    ... 11 read(3, "root:x:0:0"..., 4096) = 1024
    ... 11 +++ exited with 0 +++'''
    >>> [(t.pid, t.parent, t.events) for t in parse_strace(text)]
    [(10, None, ['execve', 'clone']), (11, 10, ['openat', 'read'])]

**Number lists.** :func:`parse_number_lists`: one trace per line, or one per file when every line
holds a single number; numbers separated by blanks or commas (``"6 6 63 6 42"``).
:func:`syscall_numbers` maps names to numbers (``x86_64`` or ``i386``, from the kernel headers).

**Sessions by key.** :func:`sessions_by_key` groups log lines by a block id, session id, PID or user
(a named field or a regular expression), in order of first appearance.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ABIS = ("x86_64", "i386")
SPLITS = ("process", "thread", "tree", "none")
_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "syscalls"

# [pid N] or "N " prefix (strace -f), then optional timestamp (-t 12:00:01, -tt .123, -ttt/-r 1.5)
_PREFIX = re.compile(r"^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?(?:\d+(?::\d\d:\d\d)?(?:\.\d+)?\s+)?(?:\[\s*\d+\]\s+)?")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|\?\?\?\?)\(")
_RESUMED = re.compile(r"<\.\.\. ([A-Za-z_][A-Za-z0-9_]*|\?\?\?\?) resumed>")
_RETURN = re.compile(r"\)\s+=\s+(-?\d+|0x[0-9a-fA-F]+|\?)")
_FORKS = {"clone", "clone3", "fork", "vfork"}


@dataclass
class Trace:
    """The events of one process (or thread, or file) in order.

    ``id`` is ``source:pid`` (``source`` alone for a whole-file trace); ``exe`` the last program
    ``execve``'d, when the trace shows it.
    """

    id: str
    events: list[str] = field(default_factory=list)
    pid: int | None = None
    parent: int | None = None
    exe: str | None = None


def parse_strace(text: str, source: str = "strace", split: str = "process", signals: bool = False) -> list[Trace]:
    """Traces of ``strace`` output ``text`` (see the module docstring); ``split``: ``process`` (threads
    join their process), ``thread`` (one trace per thread id), ``tree`` (each child of a top process
    together with everything it started, in time order: one trace per request a forking server
    handled, or per command a shell script ran; top processes alone) or ``none`` (the whole text is
    one trace). ``signals=True`` keeps delivered signals as events (``SIGCHLD``). Lines that are not
    strace lines are skipped; traces without events are dropped."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    events: dict[int, list[str]] = {}
    order: list[int] = []
    parent: dict[int, int] = {}
    tgid: dict[int, int] = {}           # thread id -> the process it belongs to
    exe: dict[int, str] = {}
    pending: dict[int, tuple[str, str]] = {}     # pid -> (syscall, argument text) of an unfinished call
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("strace:"):
            continue
        m = _PREFIX.match(line)
        pid = int(m.group(1) or m.group(2) or 0)
        rest = line[m.end():]
        if pid not in events:
            events[pid] = []
            order.append(pid)
        if rest.startswith("<..."):
            r = _RESUMED.match(rest)
            if r is None:
                continue
            name, args = pending.pop(pid, (r.group(1), ""))
            _finish(pid, name, args + rest[r.end():], parent, tgid)
            continue
        if rest.startswith("---"):
            if signals:
                sig = re.match(r"---\s+(SIG\w+)", rest)
                if sig:
                    events[pid].append(sig.group(1))
            continue
        if rest.startswith("+++"):
            continue
        c = _CALL.match(rest)
        if c is None:
            continue
        name = c.group(1)
        events[pid].append(name)
        if name == "execve" or name == "execveat":
            pm = re.match(r'\w+\((?:\w+,\s*)?"([^"]*)"', rest)
            if pm:
                exe[pid] = pm.group(1)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (name, rest[c.end():-len("<unfinished ...>")])
        elif name in _FORKS:
            _finish(pid, name, rest[c.end():], parent, tgid)
    if split == "none":
        ev = [e for _, e in _pid_events_in_order(text, signals)]
        return [Trace(source, ev)] if ev else []
    groups: dict[int, list[str]] = {}
    gorder: list[int] = []
    if split in ("process", "tree"):
        # thread events interleave into their process (or tree) in file (= time) order
        for line_pid, ev in _pid_events_in_order(text, signals):
            g = _root(line_pid, tgid)
            if split == "tree":
                g = _subtree(g, parent, tgid)
            if g not in groups:
                groups[g] = []
                gorder.append(g)
            groups[g].append(ev)
    else:
        groups, gorder = events, order
    out = []
    for g in gorder:
        if groups[g]:
            p = parent.get(g)
            out.append(Trace(f"{source}:{g}", groups[g], g, _root(p, tgid) if p is not None else None, exe.get(g)))
    return out


def _finish(pid: int, name: str, args: str, parent: dict[int, int], tgid: dict[int, int]) -> None:
    """Record the child of a completed clone/fork: its parent, and its process if it is a thread."""
    if name not in _FORKS:
        return
    r = _RETURN.search(args)
    if r is None or not r.group(1).lstrip("-").isdigit() or int(r.group(1)) <= 0:
        return
    child = int(r.group(1))
    if "CLONE_THREAD" in args:
        tgid[child] = tgid.get(pid, pid)
    else:
        parent[child] = pid


def _root(pid: int, tgid: dict[int, int]) -> int:
    return tgid.get(pid, pid)


def _subtree(pid: int, parent: dict[int, int], tgid: dict[int, int]) -> int:
    """The ancestor of ``pid`` whose parent is a top process (``pid`` itself if it is top or a child of one)."""
    seen = set()
    while True:
        p = parent.get(pid)
        if p is None:
            return pid
        p = _root(p, tgid)
        if parent.get(p) is None or p in seen:
            return pid
        seen.add(pid)
        pid = p


def _pid_events_in_order(text: str, signals: bool) -> Iterable[tuple[int, str]]:
    """``(pid, event)`` in file order (the same rules as :func:`parse_strace`)."""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("strace:"):
            continue
        m = _PREFIX.match(line)
        rest = line[m.end():]
        pid = int(m.group(1) or m.group(2) or 0)
        if rest.startswith(("<...", "+++")):
            continue
        if rest.startswith("---"):
            sig = re.match(r"---\s+(SIG\w+)", rest) if signals else None
            if sig:
                yield pid, sig.group(1)
            continue
        c = _CALL.match(rest)
        if c is not None:
            yield pid, c.group(1)


def parse_number_lists(text: str) -> list[list[str]]:
    """Traces of system-call numbers: one per line, or the whole text when every line holds one number.

        >>> parse_number_lists("6 6 63 6 42\\n3,4,5\\n")
        [['6', '6', '63', '6', '42'], ['3', '4', '5']]
        >>> parse_number_lists("6\\n6\\n63\\n")
        [['6', '6', '63']]

    Raises ``ValueError`` naming the first token that is not a number.
    """
    lines = [re.split(r"[\s,;]+", line.strip()) for line in text.splitlines() if line.strip()]
    lines = [[t for t in toks if t] for toks in lines]
    for i, toks in enumerate(lines):
        bad = next((t for t in toks if not t.isdigit()), None)
        if bad is not None:
            raise ValueError(f"line {i + 1} is not a list of system-call numbers (token {bad[:30]!r})")
    if lines and all(len(t) == 1 for t in lines):
        return [[t[0] for t in lines]]
    return [t for t in lines if t]


@functools.lru_cache(maxsize=None)
def syscall_table(abi: str = "x86_64") -> dict[str, int]:
    """System-call name -> number of ``abi`` (``x86_64`` or ``i386``), from the Linux UAPI headers.

        >>> syscall_table()["read"], syscall_table("i386")["read"]
        (0, 3)
    """
    if abi not in ABIS:
        raise ValueError(f"unknown ABI {abi!r}; expected one of {ABIS}")
    return json.loads((_ASSETS / f"{abi}.json").read_text())["syscalls"]


def syscall_numbers(names: Iterable[str], abi: str = "x86_64") -> list[str]:
    """Names as number strings; ``syscall_0x1b3`` (strace's name for an unknown call) is its number,
    a name the table lacks stays as it is (a token of its own).

        >>> syscall_numbers(["read", "openat", "syscall_0x1b3", "SIGCHLD"])
        ['0', '257', '435', 'SIGCHLD']
    """
    table = syscall_table(abi)
    out = []
    for n in names:
        if n in table:
            out.append(str(table[n]))
        elif n.startswith("syscall_0x"):
            out.append(str(int(n[len("syscall_"):], 16)))
        else:
            out.append(n)
    return out


# named key fields for sessions_by_key: each regex's first non-empty group is the key
KEY_FIELDS: dict[str, str] = {
    "block": r"\b(blk_-?\d+)\b",
    "pid": r"\w\[(\d+)\]|\bpid[=: ]+(\d+)",
    "session": r"\bsession(?:[ _-]?id)?[=: ]+([\w.:-]+)|\b(session-\d+)\b",
    "user": r"\buser[=: ]+([\w.@-]+)|\bfor (?:invalid user )?([\w.@-]+) from\b|\blogname=\S* uid=\d+ euid=\d+ tty=\S+ "
            r"ruser=\S* rhost=\S+\s+user=([\w.@-]+)",
}


def key_pattern(key: str) -> re.Pattern[str]:
    """The regex of a named key field (:data:`KEY_FIELDS`) or ``key`` itself as a regex (its first
    group, or the whole match, is the key). Raises ``ValueError`` for a bad regex."""
    try:
        return re.compile(KEY_FIELDS.get(key, key))
    except re.error as exc:
        raise ValueError(f"session key {key!r} is neither a named field ({', '.join(KEY_FIELDS)}) nor a "
                         f"valid regular expression: {exc}") from exc


def sessions_by_key(lines: Iterable[str], key: str) -> tuple[list[tuple[str, list[str]]], int]:
    """Group log lines into sessions by ``key`` (a named field of :data:`KEY_FIELDS` or a regex), in
    order of first appearance; also the number of lines that hold no key (they belong to no session).

        >>> s, skipped = sessions_by_key(["open blk_1 a", "open blk_2 b", "close blk_1 c", "noise"], "block")
        >>> s, skipped
        ([('blk_1', ['open blk_1 a', 'close blk_1 c']), ('blk_2', ['open blk_2 b'])], 1)
    """
    rx = key_pattern(key)
    groups: dict[str, list[str]] = {}
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        m = rx.search(line)
        k = None
        if m is not None:
            k = next((g for g in m.groups() if g), None) if m.groups() else m.group(0)
        if not k:
            skipped += 1
            continue
        groups.setdefault(k, []).append(line)
    return list(groups.items()), skipped
