"""Streaming correlation: findings -> incidents with an attack path, in bounded memory.

Findings arrive in time order (:func:`merge_by_time` interleaves several files). Each one is
keyed by its **actor** -- client address, user, session, or for host-only events the host; a tool
signature only when nothing else names the actor -- and joins the open incident that holds one of
its keys (two incidents that turn out to share an actor are merged). A host that an incident
attacked with success becomes that incident's **asset**: later events *from* that host (a
pivot, the host's own EDR/HIDS events) join the same incident.

An incident **closes** after ``quiet`` seconds without a new non-routine finding of its actors and
is then emitted -- if it is **reportable** (see :meth:`Correlator._reportable`): enough
non-routine evidence, a second tactic, or a stage that worked. Routine third-party alerts
(:class:`~secllm.incidents.noise.NoiseModel`) never open an incident: they wait in a small
per-actor buffer and join when a non-routine finding of the same actor opens one.

Memory is bounded whatever the stream's length: open incidents (``max_open``), item ids kept per
incident (``max_items``), timeline events (``max_timeline``), buffered routine alerts per actor and
actors buffered, the noise model's pairs. Counts stay exact beyond the caps.

    >>> from secllm.incidents.findings import Finding
    >>> c = Correlator(CorrelatorConfig(quiet=600))
    >>> out = []
    >>> for i, (lab, st) in enumerate([("scanner", 404), ("sqli", 200), ("sqli", 200), ("cmdi", 200)]):
    ...     out += c.add(Finding(f"a.log:{i + 1}", 1000.0 + i, task="web-attack", label=lab, name=lab,
    ...                          rule=f"web-attack:{lab}", src="10.0.0.5", status=st, target=f"/x?{i}"))
    >>> out += c.flush()
    >>> [s["tactic"] for s in out[0].to_json()["stages"]]
    ['reconnaissance', 'initial-access', 'execution']
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from secllm.incidents.findings import Finding, iso
from secllm.incidents.knowledge import TACTIC_RANK, knowledge, tactics_of
from secllm.incidents.noise import NoiseModel
from secllm.incidents.taxonomy import classify

__all__ = ["Correlator", "CorrelatorConfig", "Incident", "merge_by_time", "correlate"]

_CLIENT_SIDE = {"xss", "open-redirect", "crlf"}

SCHEMA_VERSION = 1


@dataclass
class CorrelatorConfig:
    quiet: float = 1800.0           # seconds without a new non-routine finding before an incident closes
    max_duration: float = 86400.0   # an incident open this long is closed and a new one opens
    min_score: float = 10.0         # evidence score an incident needs to be reported
    routine_threshold: float = 0.5  # alerts at or above are routine: they never open an incident
    dedupe_window: float = 5.0      # same rule + target + asset within this many seconds: one event
    cross_sensor_window: float = 2.0  # same actor + tactic + asset from another sensor: a duplicate
    max_items: int = 10_000         # item ids kept per incident (count stays exact)
    max_timeline: int = 200         # distinct timeline events kept per incident
    max_open: int = 50_000          # open incidents (beyond: the least recently active closes early)
    buffer_per_actor: int = 32      # routine alerts remembered per actor before an incident opens
    max_buffered_actors: int = 20_000
    aggregate: bool = True          # derive scans and brute force from benign items (scan --all)
    storm_count: int = 20           # 4xx responses to one actor within storm_window -> wordlist scanning
    storm_window: float = 60.0
    auth_fail_count: int = 10       # 401/403 answers to one actor on one path within auth_window -> brute force
    auth_window: float = 300.0
    exfil_bytes: int = 256 * 1024  # a successful attack answered with this many bytes or more: data left
    min_actor_share: float = 0.0    # with scan --all context: flagged share of an actor's requests below
                                    # which its web findings alone do not make an incident (0 = off)
    # A tactic that a *classifier* names as its label (task -> {label: minimum score}) places a stage
    # only when that label is listed and its score reaches the minimum; otherwise the finding still
    # joins its incident (items, asset pivot, evidence score) but places no stage (``unplaced_items``),
    # because a wrong stage puts the attack path out of order. Tasks not listed are not gated. The
    # minimums are chosen on the task's validation split (``benchmarks/evtx_tactic_gate.py``, stages
    # right >= 90% of the time): for the shipped evtx-tactic model no class gets there at any score
    # (reports/incidents/evtx_gate.json), so its labels place no stage.
    tactic_min_score: dict[str, dict[str, float]] = field(default_factory=lambda: {"evtx-tactic": {}})


# ------------------------------------------------------------------------------------------------
# incident state
# ------------------------------------------------------------------------------------------------

@dataclass
class _Stage:
    tactic: str
    first: float
    last: float
    count: int = 0
    techniques: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    success: list[str] = field(default_factory=list)     # why it looks successful (first few reasons)
    verdicts: set = field(default_factory=set)           # (task, label) pairs seen, for knowledge
    statuses: dict = field(default_factory=dict)


@dataclass
class _Event:
    time: float
    last: float
    tactic: str | None
    name: str
    sensor: str
    asset: str | None
    count: int
    first_id: str
    routine: float
    succeeded: bool
    last_target: str | None = None


class Incident:
    """One incident while it is open, and what is emitted when it closes (:meth:`to_json`)."""

    def __init__(self, seq: int, t: float):
        self.seq = seq
        self.first = t
        self.last = t                    # last finding of any kind
        self.last_active = t             # last non-routine finding (drives the quiet-period close)
        self.keys: set[tuple[str, str]] = set()
        self.actor_kinds: dict[tuple[str, str], int] = {}
        self.stages: dict[str, _Stage] = {}
        self.events: list[_Event] = []
        self.event_index: dict[tuple, int] = {}
        self.items: list[str] = []
        self.item_count = 0
        self.routine_count = 0
        self.duplicates = 0
        self.assets: dict = {}
        self.owned: set[str] = set()
        self.tools: dict = {}
        self.sensors: dict = {}
        self.rule_weight: dict[str, float] = {}
        self.rule_count: dict = {}
        self.max_severity = 0.0
        self.reported_at: float | None = None
        self.context_total = 0           # benign items of its actors (scan --all)
        self.flagged_total = 0
        self.targets: dict = {}
        self.bytes_out = 0
        self.closed_reason = ""
        self.unplaced = 0
        self.outcome_success = False
        self.scored_tactics: set[str] = set()    # tactics with non-routine evidence (the +3 per tactic)
        self.id = ""

    # -- scoring ------------------------------------------------------------------------------
    def score(self, cfg: CorrelatorConfig) -> float:
        """Evidence that this is an attack: the weight of each distinct non-routine rule (log-scaled
        by how often it fired), +3 per tactic beyond the first, +3 when a source says an attempt
        worked (an alert of success, accepted credentials after failures), +3 when a known attack
        tool names itself. An HTTP 200 alone adds nothing: most probes are answered 200."""
        s = sum(w * (1.0 + math.log10(self.rule_count.get(r, 1))) for r, w in self.rule_weight.items())
        n_tactics = len(self.scored_tactics)
        s += 3.0 * max(0, n_tactics - 1)
        if self.outcome_success:
            s += 3.0
        if self.tools:
            s += 3.0
        if cfg.min_actor_share > 0 and self.context_total:
            share = self.flagged_total / (self.flagged_total + self.context_total)
            if share < cfg.min_actor_share and n_tactics <= 1:
                s *= share / cfg.min_actor_share
        return s

    # -- output -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return incident_json(self)


MAX_KEYS_PER_COUNT = 256          # distinct keys kept per count (paths, assets, labels...): memory stays bounded


def _bump(d: dict, key: Any, n: int = 1) -> None:
    """``d[key] += n``, keeping at most MAX_KEYS_PER_COUNT distinct keys (new ones beyond are not counted)."""
    v = d.get(key)
    if v is not None:
        d[key] = v + n
    elif len(d) < MAX_KEYS_PER_COUNT:
        d[key] = n


def _add_all(into: dict, other: dict) -> None:
    for k, v in other.items():
        _bump(into, k, v)


def _top(d: dict, n: int | None = None) -> list[tuple[Any, int]]:
    return sorted(d.items(), key=lambda kv: -kv[1])[:n]


def _actor_value(kind: str, value: str) -> str:
    return value if kind == "ip" else f"{kind}:{value}"


def _stage_order(inc: Incident) -> list[_Stage]:
    return sorted(inc.stages.values(), key=lambda s: (TACTIC_RANK.get(s.tactic, 99), s.first))


def _succeeded(inc: Incident, st: _Stage) -> tuple[bool, list[str]]:
    """A stage looks successful when a finding of it says so (HTTP 2xx/3xx where the response
    matters, an alert that names a success) or when the same actor went on to a later tactic."""
    reasons = list(st.success)
    rank = TACTIC_RANK.get(st.tactic, 99)
    later = [s for s in inc.stages.values() if TACTIC_RANK.get(s.tactic, 99) > rank and s.first >= st.first]
    if later:
        nxt = min(later, key=lambda s: s.first)
        reasons.append(f"the same actor reached {nxt.tactic} afterwards ({iso(nxt.first)})")
    return bool(reasons), reasons[:4]


_NEXT_ACTIONS = {
    "reconnaissance": "Rate-limit or block {actors} at the edge; check which probed paths answered 200 and "
                      "remove what should not be served.",
    "initial-access": "Fix or virtual-patch the attacked input ({targets}); review the application and "
                      "database logs around {first} for data the attacker read or changed.",
    "execution": "Treat {assets} as compromised: isolate it, capture its processes and network "
                 "connections, and look for the command's effects.",
    "persistence": "Search {assets} for files written around {first} (web shells in upload and web "
                   "directories, new services, cron entries) and remove them after capture.",
    "privilege-escalation": "Audit privileged accounts and sudo/su use on {assets}; rotate credentials "
                            "that the attacker could read.",
    "defense-evasion": "Check logging and security tooling on {assets} for tampering.",
    "credential-access": "Reset the passwords of the targeted accounts{users}, enable lockout and MFA, "
                         "and look for logins that followed.",
    "discovery": "Expect lateral movement: review what {assets} can reach.",
    "lateral-movement": "Isolate the hosts reached from {assets}; review remote logins from it.",
    "collection": "Identify the data gathered on {assets}.",
    "command-and-control": "Block the remote endpoints at the egress; hunt for the same indicators on "
                           "other hosts.",
    "exfiltration": "Estimate what left ({bytes} bytes in responses to the actor) and start the "
                    "data-breach procedure.",
    "impact": "Restore the affected services on {assets}; keep the evidence.",
}


def _fmt_bytes(n: int) -> str:
    return f"{n:,}"


def incident_json(inc: Incident) -> dict[str, Any]:
    """The emitted incident (schema in ``docs/incidents.md``)."""
    actors = sorted(inc.actor_kinds.items(), key=lambda kv: -kv[1])
    actor_list = [_actor_value(k, v) for (k, v), _ in actors if k != "tool"][:20]
    if not actor_list:
        actor_list = [_actor_value(k, v) for (k, v), _ in actors][:20]
    stages_out = []
    path = []
    for st in _stage_order(inc):
        ok, reasons = _succeeded(inc, st)
        know = []
        for task, label in sorted(st.verdicts)[:4]:
            k = knowledge(task, label)
            if k:
                know.append({"verdict": {"task": task, "label": label}, **k})
        stages_out.append({
            "tactic": st.tactic,
            "techniques": [t for t, _ in _top(st.techniques, 8)],
            "first_seen": iso(st.first), "last_seen": iso(st.last), "count": st.count,
            "succeeded": ok, "success_evidence": reasons,
            "labels": dict(_top(st.labels, 8)),
            "http_statuses": {str(k): v for k, v in _top(st.statuses, 6)},
            "knowledge": know,
        })
        path.append((st.first, st.tactic))
    chrono = [t for _, t in sorted(path)]
    in_order = all(TACTIC_RANK.get(a, 99) <= TACTIC_RANK.get(b, 99) for a, b in zip(chrono, chrono[1:]))
    sev = _severity(inc, stages_out)
    assets = [a for a, _ in _top(inc.assets, 10)]
    users = sorted({v for (k, v) in inc.actor_kinds if k == "user"})[:10]
    targets = [t for t, _ in _top(inc.targets, 5)]
    fill = {"actors": ", ".join(actor_list[:5]) or "the actor", "assets": ", ".join(assets[:3]) or "the target",
            "targets": ", ".join(targets[:3]) or "the attacked inputs", "first": iso(inc.first),
            "users": (" (" + ", ".join(users) + ")") if users else "", "bytes": _fmt_bytes(inc.bytes_out)}
    actions = []
    for s in stages_out:
        tmpl = _NEXT_ACTIONS.get(s["tactic"])
        if tmpl:
            actions.append({"tactic": s["tactic"], "action": tmpl.format(**fill)})
        for k in s["knowledge"][:1]:
            for m in (k.get("mitigations") or [])[:2]:
                actions.append({"tactic": s["tactic"], "action": f"Mitigation {m.get('id')}: {m.get('name')}",
                                "url": m.get("url")})
    tactic_names = " -> ".join(s["tactic"] for s in stages_out) or "no placed stage"
    worked = [s["tactic"] for s in stages_out if s["succeeded"]]
    summary = (f"{', '.join(actor_list[:3]) or 'An unknown actor'} {'reached' if len(stages_out) > 1 else 'showed'} "
               f"{tactic_names} between {iso(inc.first)} and {iso(inc.last)} ({inc.item_count} findings"
               f"{', ' + str(inc.routine_count) + ' routine' if inc.routine_count else ''})"
               f"{'; looks successful: ' + ', '.join(worked) if worked else ''}"
               f"{'; assets: ' + ', '.join(assets[:3]) if assets else ''}.")
    timeline = [{"time": iso(e.time), "last": iso(e.last), "tactic": e.tactic, "name": e.name, "sensor": e.sensor,
                 "asset": e.asset, "count": e.count, "item": e.first_id, "routine": round(e.routine, 3),
                 "succeeded": e.succeeded} for e in sorted(inc.events, key=lambda e: e.time)]
    return {
        "schema": SCHEMA_VERSION,
        "id": inc.id,
        "actors": actor_list,
        "actor_details": [{"kind": k, "value": v, "findings": n} for (k, v), n in actors[:50]],
        "first_seen": iso(inc.first), "last_seen": iso(inc.last),
        "reported_at": iso(inc.reported_at),
        "stages": stages_out,
        "path_in_kill_chain_order": in_order,
        "severity": sev,
        "summary": summary,
        "assets": assets,
        "tools": [t for t, _ in _top(inc.tools, 8)],
        "sensors": dict(_top(inc.sensors)),
        "item_count": inc.item_count,
        "items": list(inc.items),
        "items_truncated": inc.item_count > len(inc.items),
        "routine_items": inc.routine_count,
        "duplicates": inc.duplicates,
        "unplaced_items": inc.unplaced,
        "timeline": timeline,
        "next_actions": actions,
        "closed": inc.closed_reason,
    }


def _severity(inc: Incident, stages: list[dict[str, Any]]) -> dict[str, Any]:
    """0-10: the most severe stage, +1 when a stage past reconnaissance worked, +0.5 per extra tactic."""
    reasons = []
    base, why = 0.0, ""
    for s in stages:
        for k in s["knowledge"]:
            sc = (k.get("severity") or {}).get("score")
            if isinstance(sc, (int, float)) and sc > base:
                base, why = float(sc), f"{k['verdict']['label']} ({', '.join(k.get('cwe') or []) or s['tactic']}): " \
                                       f"{(k.get('severity') or {}).get('reason', '')}"
    if inc.max_severity > base:
        base, why = inc.max_severity, "the most severe alert's own severity"
    if base == 0.0 and stages:
        base, why = 4.0, "placed stages without a known severity"
    if why:
        reasons.append(f"base {base:.1f}: {why}")
    score = base
    worked = [s["tactic"] for s in stages if s["succeeded"] and s["tactic"] != "reconnaissance"]
    if worked:
        score += 1.0
        reasons.append(f"+1: looks successful at {', '.join(worked)}")
    extra = max(0, len(stages) - 1)
    if extra:
        score += min(2.0, 0.5 * extra)
        reasons.append(f"+{min(2.0, 0.5 * extra):.1f}: {len(stages)} tactics reached")
    if inc.assets:
        reasons.append(f"assets: {', '.join(a for a, _ in _top(inc.assets, 3))}")
    score = round(min(10.0, score), 1)
    level = "critical" if score >= 9 else "high" if score >= 7 else "medium" if score >= 4 else "low"
    return {"level": level, "score": score, "scale": "0-10", "reasons": reasons}


# ------------------------------------------------------------------------------------------------
# the correlator
# ------------------------------------------------------------------------------------------------

@dataclass
class CorrelatorStats:
    findings: int = 0
    context: int = 0
    routine: int = 0
    buffered: int = 0
    incidents_opened: int = 0
    incidents_reported: int = 0
    incidents_suppressed: int = 0
    merged: int = 0
    duplicates: int = 0
    derived: int = 0
    closed_early: int = 0
    untimed: int = 0
    tactic_gated: int = 0           # classifier-named tactics below their minimum score (no stage placed)

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


class _ActorWindow:
    """Per-actor sliding counts for the aggregate rules (4xx storms, authentication failures)."""

    __slots__ = ("errors", "auth", "storming_until", "brute_until", "brute_paths", "first_t", "first_id", "last_t")

    def __init__(self) -> None:
        self.errors: deque = deque()
        self.auth: dict[str, deque] = {}
        self.storming_until = 0.0
        self.brute_until = 0.0
        self.brute_paths: set[str] = set()
        self.first_t: float | None = None       # the actor's current run of benign-looking activity
        self.first_id = ""
        self.last_t = 0.0


def _path_of(target: str | None) -> str:
    if not target:
        return ""
    return target.split("?", 1)[0][:200]


class Correlator:
    """Feed findings with :meth:`add` (time order); closed reportable incidents come back from
    ``add`` and from :meth:`flush` at the end of the stream."""

    def __init__(self, config: CorrelatorConfig | None = None, noise: NoiseModel | None = None,
                 *, learn_noise: bool = True, noise_kinds: tuple[str, ...] = ("alert",),
                 host_of: dict[str, str] | None = None):
        self.config = config or CorrelatorConfig()
        self.noise = noise if noise is not None else NoiseModel()
        self.learn_noise = learn_noise            # False: the model was learned beforehand (two-pass)
        self.noise_kinds = noise_kinds
        self.host_of = host_of or {}
        self.open: dict[int, Incident] = {}
        self.index: dict[tuple[str, str], int] = {}
        self.asset_owner: dict[str, tuple[int, int]] = {}    # asset -> (incident, deepest tactic rank on it)
        self.aliases: dict[str, str] = {}                    # agent name <-> agent address
        self.buffer: OrderedDict[tuple[str, str], deque] = OrderedDict()
        self.windows: OrderedDict[str, _ActorWindow] = OrderedDict()
        self.now = -math.inf
        self.stats = CorrelatorStats()
        self._seq = itertools.count(1)
        self._last_sweep = -math.inf
        self._last_time: float | None = None
        self._pending: list[Incident | None] = []     # closed outside a sweep: returned by the next one

    # -- public -------------------------------------------------------------------------------
    def add(self, f: Finding) -> list[Incident]:
        """Take one finding; returns the incidents that closed (reportable ones only)."""
        if f.time is None:                        # an untimed item takes the stream's last time
            self.stats.untimed += 1
            if self._last_time is None:
                return []
            f.time = self._last_time
        self._last_time = f.time
        if f.host is None and f.file and f.file in self.host_of:
            f.host = self.host_of[f.file]
        out: list[Incident] = []
        if f.time > self.now:
            self.now = f.time
        if self.now - self._last_sweep >= min(60.0, self.config.quiet / 4):
            out += self._sweep()
            self._last_sweep = self.now
        if f.kind == "context":
            self.stats.context += 1
            for d in self._aggregate(f):
                self._place(d)
            self._context(f)
            return out
        self.stats.findings += 1
        if self.config.aggregate and f.kind == "web" and f.status is not None:
            for d in self._aggregate(f):
                self._place(d)
        self._place(f)
        x = self._exfiltration(f)
        if x is not None:
            self._place(x)
        if len(self.open) > self.config.max_open:
            out += self._close_oldest(len(self.open) - self.config.max_open)
        return out

    def flush(self) -> list[Incident]:
        """Close every open incident (end of input) and return the reportable ones."""
        out = [i for i in self._pending if i is not None]
        self._pending.clear()
        for seq in list(self.open):
            inc = self._close(seq, "end of input")
            if inc is not None:
                out.append(inc)
        return sorted(out, key=lambda i: i.first)

    # -- placing a finding ----------------------------------------------------------------------
    def _keys(self, f: Finding) -> list[tuple[str, str]]:
        keys = []
        if f.src:
            keys.append(("ip", f.src))
        if f.user:
            keys.append(("user", f.user))
        if f.session:
            keys.append(("session", f.session))
        if not keys and f.host and f.kind in ("host", "log", "alert", "profile"):
            keys.append(("host", f.host))
        if not keys:
            keys.extend(("tool", t) for t in f.tools[:2])
        return keys

    def _routine(self, f: Finding) -> float:
        if f.kind not in self.noise_kinds:
            return 0.0
        if self.learn_noise:
            self.noise.observe(f)
        else:
            self.noise.track(f)
        return self.noise.routine(f)

    def _place(self, f: Finding) -> None:
        r = self._routine(f)
        routine = r >= self.config.routine_threshold
        keys = self._keys(f)
        # user keys link only through non-routine findings (every user logs in every day)
        link_keys = [k for k in keys if not (routine and k[0] == "user")]
        found = {self.index[k] for k in link_keys if k in self.index}
        pivot = None
        for a in (f.src, f.host if not f.src else None, self.aliases.get(f.host) if f.host and not f.src else None):
            if a and a in self.asset_owner and self.asset_owner[a][0] in self.open:
                pivot = self.asset_owner[a][0]
                break
        if pivot is not None and not routine:
            found.add(pivot)
        if not found:
            if routine or not keys:
                if routine:
                    self.stats.routine += 1
                    self._buffer(keys, f, r)
                return
            inc = self._new(f)
            for k in keys:
                for bf, br in self._drain(k):
                    self._attach(inc, bf, br, keys)
            self._browsing_before(inc, f, keys)
        else:
            seqs = sorted(found, key=lambda s: self.open[s].first)
            inc = self.open[seqs[0]]
            for s in seqs[1:]:
                self._merge(inc, self.open[s])
            if routine:
                self.stats.routine += 1
        # an incident open for too long is closed and starts again (bounded lifetime, timely output)
        if f.time - inc.first > self.config.max_duration and not routine:
            self._pending.append(self._close(inc.seq, "maximum duration"))
            inc = self._new(f)
        elif pivot is not None and inc.seq == pivot and all(k[0] == "host" for k in keys):
            keys = []          # the host's own events: it is the incident's asset, not one of its actors
        self._attach(inc, f, r, keys)

    def _new(self, f: Finding) -> Incident:
        inc = Incident(next(self._seq), f.time)
        self.open[inc.seq] = inc
        self.stats.incidents_opened += 1
        return inc

    def _attach(self, inc: Incident, f: Finding, r: float, keys: list[tuple[str, str]]) -> None:
        cfg = self.config
        routine = r >= cfg.routine_threshold
        for k in keys:
            if routine and k[0] == "user":
                continue
            if k not in inc.keys and len(inc.keys) < MAX_KEYS_PER_COUNT:
                inc.keys.add(k)
                self.index[k] = inc.seq
            _bump(inc.actor_kinds, k)
        inc.last = max(inc.last, f.time)
        inc.first = min(inc.first, f.time)
        if not routine:
            inc.last_active = max(inc.last_active, f.time)
        count = int(f.extra.get("count", 1)) if f.extra else 1
        ids = f.extra.get("items") if f.extra and f.extra.get("items") else [f.id]
        if f.extra and f.extra.get("same_item"):
            ids = []
        inc.item_count += len(ids)
        room = cfg.max_items - len(inc.items)
        if room > 0:
            inc.items.extend(ids[:room])
        if routine:
            inc.routine_count += len(ids)
        _bump(inc.sensors, f.sensor)
        for t in f.tools:
            _bump(inc.tools, t)
        inc.flagged_total += 1
        # the stage
        tactic, techniques, sev, verdict = self._stage_of(inc, f)
        if f.target and f.kind == "web" and tactic not in (None, "reconnaissance"):
            _bump(inc.targets, _path_of(f.target))          # attacked inputs (not every probed path)
        asset = f.host or f.dst
        if asset and asset != f.src:
            _bump(inc.assets, asset)
        # every name of the asset (agent name, its address, the target address)
        names = self._asset_names(f)
        looks_ok, why = self._looks_successful(f, tactic)
        if f.outcome == "success" and not routine and tactic is not None:
            inc.outcome_success = True
        if tactic is None:
            inc.unplaced += 1
        else:
            st = inc.stages.get(tactic)
            if st is None:
                st = inc.stages[tactic] = _Stage(tactic, f.time, f.time)
            st.first, st.last = min(st.first, f.time), max(st.last, f.time)
            st.count += count
            for t in techniques:
                _bump(st.techniques, t)
            _bump(st.labels, f.label or f.name)
            if f.status is not None:
                _bump(st.statuses, f.status)
            if verdict:
                st.verdicts.add(verdict)
            if looks_ok and len(st.success) < 3 and why not in st.success:
                st.success.append(why)
            # a host the incident got into is its asset: later events from that host join it
            # (an attempt that worked, or a stage that means code ran there: execution and beyond)
            rank = TACTIC_RANK.get(tactic, 0)
            if not routine and ((looks_ok and rank >= TACTIC_RANK["initial-access"])
                                or rank >= TACTIC_RANK["execution"]):
                for a in names:
                    # the incident that got furthest on a host owns it (a later, shallower attack does not)
                    cur = self.asset_owner.get(a)
                    if cur is None or cur[0] == inc.seq or cur[0] not in self.open or rank >= cur[1]:
                        inc.owned.add(a)
                        self.asset_owner[a] = (inc.seq, max(rank, cur[1] if cur and cur[0] == inc.seq else rank))
                        self._adopt_host_candidates(inc, a)
        if f.size and f.status and 200 <= f.status < 300:
            inc.bytes_out += f.size
        # weight of evidence (routine alerts weigh nothing)
        if not routine:
            w = (sev if sev is not None else (5.0 if tactic else 2.0)) * max(0.0, min(1.0, f.score)) * (1.0 - r)
            if w > inc.rule_weight.get(f.rule, 0.0) and (f.rule in inc.rule_weight or len(inc.rule_weight) < 1024):
                inc.rule_weight[f.rule] = w
            if w > 0 and tactic:
                inc.scored_tactics.add(tactic)
            _bump(inc.rule_count, f.rule, count)
            if f.severity is not None and f.severity * (1.0 - r) > inc.max_severity:
                inc.max_severity = f.severity * (1.0 - r)
        # the timeline, de-duplicated
        self._event(inc, f, tactic, asset, r, looks_ok, count)
        if inc.reported_at is None and inc.score(cfg) >= cfg.min_score:
            inc.reported_at = f.time

    def _event(self, inc: Incident, f: Finding, tactic: str | None, asset: str | None, r: float,
               looks_ok: bool, count: int) -> None:
        cfg = self.config
        key = (f.rule, _path_of(f.target), asset)
        idx = inc.event_index.get(key)
        if idx is not None and f.time - inc.events[idx].last <= cfg.dedupe_window:
            e = inc.events[idx]
        else:
            # the same thing seen by another sensor at the same moment is one event
            xkey = ("x", tactic, asset)
            idx = inc.event_index.get(xkey) if tactic else None
            e = inc.events[idx] if idx is not None else None
            if e is None or e.sensor == f.sensor or abs(f.time - e.last) > cfg.cross_sensor_window:
                e = None
        if e is not None:
            # the same request again, or the same thing from another sensor: a duplicate; another
            # request of the same rule to the same path within the window: the event grows
            if e.last_target == f.target or e.sensor != f.sensor:
                inc.duplicates += 1
                self.stats.duplicates += 1
            e.count += count
            e.last = max(e.last, f.time)
            e.succeeded = e.succeeded or looks_ok
            e.last_target = f.target
            return
        if len(inc.events) >= cfg.max_timeline:
            return
        e = _Event(f.time, f.time, tactic, f.name[:200], f.sensor, asset, count, f.id, r, looks_ok, f.target)
        inc.events.append(e)
        inc.event_index[key] = len(inc.events) - 1
        if tactic:
            inc.event_index[("x", tactic, asset)] = len(inc.events) - 1

    def _stage_of(self, inc: Incident, f: Finding) -> tuple[str | None, tuple[str, ...], float | None,
                                                             tuple[str, str] | None]:
        """The tactic of a finding: the source's own, else the knowledge layer's, else the alert
        taxonomy's. With several candidates (command injection: initial access and execution)
        the later one is taken when the attempt looks successful (it ran), else the earlier.
        A classifier's tactic label below its minimum score (``CorrelatorConfig.tactic_min_score``)
        places no stage."""
        gate = self.config.tactic_min_score.get(f.task) if f.task else None
        if gate is not None and not f.score >= gate.get(f.label or "", math.inf):
            self.stats.tactic_gated += 1
            return None, (), f.severity, None
        verdict = (f.task, f.label) if f.task and f.label else None
        k_tactics, k_tech, k_sev = tactics_of(*verdict) if verdict else ((), (), None)
        if verdict and not k_tactics and f.label:
            k_tactics, k_tech, k_sev = tactics_of("log-auth", f.label)  # e.g. brute-force from any log task
            if k_tactics:
                verdict = ("log-auth", f.label)
        tactics = f.tactics or k_tactics
        techniques = f.techniques or k_tech
        if not tactics:
            c = classify(f.name or f.label or "")
            tactics, techniques = c.tactics, techniques or c.techniques
            if c.verdict:
                verdict = c.verdict
                _, _, k_sev = tactics_of(*c.verdict)
        tactics = tuple(t for t in tactics if t in TACTIC_RANK)
        if not tactics:
            return None, techniques, f.severity if f.severity is not None else k_sev, verdict if k_tactics else None
        if len(tactics) == 1:
            tactic = tactics[0]
        else:
            ordered = sorted(tactics, key=TACTIC_RANK.__getitem__)
            ok = f.outcome == "success" or (f.status is not None and 200 <= f.status < 300)
            # client-side attacks run in the victim's browser: a server's answer never shows that step
            if (f.label or "").lower() in _CLIENT_SIDE:
                ok = False
            tactic = ordered[-1] if ok else ordered[0]
        sev = f.severity if f.severity is not None else k_sev
        return tactic, techniques, sev, verdict if (k_tactics or verdict) else None

    def _browsing_before(self, inc: Incident, f: Finding, keys: list[tuple[str, str]]) -> None:
        """An actor's first attack often follows a look around the site (a crawler's crawl, a
        person's clicks): its benign-looking requests of the last quiet period are reconnaissance
        (ATT&CK T1594, search victim-owned websites). It places that stage in time and weighs
        nothing: an incident is never reported for it."""
        w = self.windows.get(f.src) if f.src else None
        if w is None or w.first_t is None or not f.time - self.config.quiet <= w.first_t < f.time:
            return
        d = Finding(id=w.first_id, time=w.first_t, kind="web", sensor="secllm-correlate",
                    name="requests to the site before the first attack", rule="derived:pre-attack-browsing",
                    score=0.0, severity=0.0, src=f.src, host=f.host, tactics=("reconnaissance",),
                    techniques=("T1594",), file=f.file)
        self.stats.derived += 1
        self._attach(inc, d, 0.0, keys)

    def _asset_names(self, f: Finding) -> set[str]:
        """Every name of the asset a finding happened on: agent name, its address, the target
        address -- and the aliases learned from agents that report both (Wazuh: name + ip)."""
        host_ip = f.extra.get("host_ip") if f.extra else None
        if f.host and host_ip and f.host != host_ip:
            if len(self.aliases) < 100_000:
                self.aliases[f.host] = host_ip
                self.aliases[host_ip] = f.host
        names = {a for a in (f.host, f.dst, host_ip) if a and a != f.src}
        names |= {self.aliases[a] for a in names if a in self.aliases}
        names.discard(f.src)
        return names

    def _adopt_host_candidates(self, inc: Incident, asset: str) -> None:
        """Events of a host that came just before the incident got into it (a file written a second
        before the web shell alert) sit in a candidate incident keyed by the host: it joins."""
        for name in (asset, self.aliases.get(asset)):
            seq = self.index.get(("host", name)) if name else None
            if seq is None or seq == inc.seq or seq not in self.open:
                continue
            other = self.open[seq]
            if all(k[0] == "host" for k in other.keys):
                self._merge(inc, other)

    def _looks_successful(self, f: Finding, tactic: str | None) -> tuple[bool, str]:
        if f.outcome == "success":
            return True, f"{f.sensor}: {f.name[:80]}"
        if f.status is None or tactic is None:
            return False, ""
        if tactic == "reconnaissance":
            ok = 200 <= f.status < 300
        else:
            ok = 200 <= f.status < 400
        if not ok:
            return False, ""
        size = f" ({f.size} bytes)" if f.size else ""
        return True, f"HTTP {f.status}{size} to {f.label or f.name}"

    # -- aggregate rules on benign items (scan --all) ---------------------------------------------
    def _aggregate(self, f: Finding) -> list[Finding]:
        cfg = self.config
        if not cfg.aggregate or not f.src or f.status is None:
            return []
        w = self.windows.get(f.src)
        if w is None:
            if len(self.windows) >= cfg.max_buffered_actors:
                self.windows.popitem(last=False)
            w = self.windows[f.src] = _ActorWindow()
        else:
            self.windows.move_to_end(f.src)
        out = []
        t = f.time
        if f.kind == "context":
            if w.first_t is None or t - w.last_t > cfg.quiet:
                w.first_t, w.first_id = t, f.id
            w.last_t = t
        if f.status in (400, 401, 403, 404, 405):
            w.errors.append(t)
            while w.errors and t - w.errors[0] > cfg.storm_window:
                w.errors.popleft()
            if len(w.errors) >= cfg.storm_count or t <= w.storming_until:
                if t > w.storming_until:
                    n = len(w.errors)
                else:
                    n = 1
                w.storming_until = t + cfg.storm_window
                if f.kind == "context":     # the malicious 4xx items are findings themselves already
                    out.append(self._derived(f, "many 4xx responses (wordlist scanning)", "aggregate:4xx-storm",
                                             ("reconnaissance",), ("T1595.003",), 4.0, n))
        path = _path_of(f.target)
        if f.status in (401, 403) and f.method in ("POST", "PUT", None):
            dq = w.auth.setdefault(path, deque())
            dq.append(t)
            while dq and t - dq[0] > cfg.auth_window:
                dq.popleft()
            if len(w.auth) > 64:                  # bounded: the oldest paths go
                w.auth.pop(next(iter(w.auth)))
            if len(dq) >= cfg.auth_fail_count or (t <= w.brute_until and path in w.brute_paths):
                w.brute_until = t + cfg.auth_window
                w.brute_paths.add(path)
                if f.kind == "context":
                    out.append(self._derived(f, f"repeated authentication failures on {path}", "aggregate:auth-fail",
                                             ("credential-access",), ("T1110",), 7.5, 1, verdict=("log-auth", "brute-force")))
        elif path in w.brute_paths and 200 <= f.status < 400 and t <= w.brute_until + cfg.auth_window \
                and f.method in ("POST", "PUT", None):
            d = self._derived(f, f"authentication accepted on {path} after failures", "aggregate:auth-success",
                              ("credential-access",), ("T1110",), 7.5, 1, verdict=("log-auth", "brute-force"))
            d.outcome = "success"
            w.brute_paths.discard(path)
            out.append(d)
        if out:
            self.stats.derived += len(out)
        return out

    def _exfiltration(self, f: Finding) -> Finding | None:
        """A web attack that worked and was answered with a large body (``exfil_bytes``): data left
        the server in the response (ATT&CK T1041, exfiltration over the channel in use)."""
        if f.kind != "web" or f.size is None or f.size < self.config.exfil_bytes or f.status is None \
                or not 200 <= f.status < 300 or f.rule.startswith("aggregate:") or not f.src:
            return None
        if (f.label or "") in ("scanner", "restricted-file"):
            return None
        self.stats.derived += 1
        d = self._derived(f, f"large response to an attack ({f.size:,} bytes)", "derived:exfiltration",
                          ("exfiltration",), ("T1041",), 7.5, 1)
        d.extra = {"same_item": True}          # a second reading of an item already counted
        return d

    def _derived(self, f: Finding, name: str, rule: str, tactics: tuple[str, ...], techniques: tuple[str, ...],
                 severity: float, n: int, verdict: tuple[str, str] | None = None) -> Finding:
        return Finding(id=f.id, time=f.time, kind="web", sensor="secllm-correlate", name=name, rule=rule,
                       task=verdict[0] if verdict else None, label=verdict[1] if verdict else None,
                       score=1.0, severity=severity, src=f.src, user=f.user, session=f.session, host=f.host,
                       dst=f.dst, tactics=tactics, techniques=techniques, status=f.status, size=f.size,
                       method=f.method, target=f.target, text=f.text, file=f.file, line=f.line)

    def _context(self, f: Finding) -> None:
        """A benign item: counts toward its actor's share. One case tells more: a large answer to
        a path that the same actor is attacking (a web shell the incident already ran commands
        through) is data leaving, even when the request itself reads as benign."""
        if f.src and ("ip", f.src) in self.index:
            inc = self.open.get(self.index[("ip", f.src)])
            if inc is not None:
                inc.context_total += 1
                if f.size is not None and f.size >= self.config.exfil_bytes and f.status is not None \
                        and 200 <= f.status < 300 and _path_of(f.target) in inc.targets \
                        and any(t in inc.stages for t in ("execution", "persistence", "collection")):
                    self.stats.derived += 1
                    self._place(self._derived(f, f"large response from an attacked path ({f.size:,} bytes)",
                                              "derived:exfiltration", ("exfiltration",), ("T1041",), 7.5, 1))

    # -- buffering routine alerts ----------------------------------------------------------------
    def _buffer(self, keys: list[tuple[str, str]], f: Finding, r: float) -> None:
        cfg = self.config
        for k in keys[:1]:
            dq = self.buffer.get(k)
            if dq is None:
                if len(self.buffer) >= cfg.max_buffered_actors:
                    self.buffer.popitem(last=False)
                dq = self.buffer[k] = deque(maxlen=cfg.buffer_per_actor)
            else:
                self.buffer.move_to_end(k)
            dq.append((f, r))
            self.stats.buffered += 1

    def _drain(self, key: tuple[str, str]) -> list[tuple[Finding, float]]:
        dq = self.buffer.pop(key, None)
        if not dq:
            return []
        horizon = self.now - self.config.quiet
        return [(f, r) for f, r in dq if f.time >= horizon]

    # -- closing ----------------------------------------------------------------------------------
    def _sweep(self) -> list[Incident]:
        out = [i for i in self._pending if i is not None]
        self._pending.clear()
        horizon = self.now - self.config.quiet
        for seq in [s for s, inc in self.open.items() if inc.last_active < horizon]:
            inc = self._close(seq, "quiet period")
            if inc is not None:
                out.append(inc)
        return out

    def _close_oldest(self, n: int) -> list[Incident]:
        out = []
        for seq in sorted(self.open, key=lambda s: self.open[s].last_active)[:n]:
            self.stats.closed_early += 1
            inc = self._close(seq, "too many open incidents")
            if inc is not None:
                out.append(inc)
        return out

    def _close(self, seq: int, reason: str) -> Incident | None:
        inc = self.open.pop(seq, None)
        if inc is None:
            return None
        for k in inc.keys:
            if self.index.get(k) == seq:
                del self.index[k]
        for a in inc.owned:
            if self.asset_owner.get(a, (None,))[0] == seq:
                del self.asset_owner[a]
        inc.closed_reason = reason
        if inc.reported_at is None:
            self.stats.incidents_suppressed += 1
            return None
        self.stats.incidents_reported += 1
        h = hashlib.sha256(f"{inc.first}|{sorted(inc.keys)}|{inc.items[:1]}".encode()).hexdigest()[:12]
        inc.id = f"inc-{h}"
        return inc

    def _merge(self, into: Incident, other: Incident) -> None:
        """Two open incidents share an actor: one incident from now on."""
        self.stats.merged += 1
        del self.open[other.seq]
        for k in other.keys:
            self.index[k] = into.seq
        into.keys |= other.keys
        _add_all(into.actor_kinds, other.actor_kinds)
        for t, st in other.stages.items():
            mine = into.stages.get(t)
            if mine is None:
                into.stages[t] = st
                continue
            mine.first, mine.last = min(mine.first, st.first), max(mine.last, st.last)
            mine.count += st.count
            _add_all(mine.techniques, st.techniques)
            _add_all(mine.labels, st.labels)
            _add_all(mine.statuses, st.statuses)
            mine.verdicts |= st.verdicts
            mine.success = (mine.success + st.success)[:3]
        room = self.config.max_timeline - len(into.events)
        for e in other.events[:max(0, room)]:
            into.events.append(e)
        into.event_index = {}
        into.items.extend(other.items[: max(0, self.config.max_items - len(into.items))])
        into.item_count += other.item_count
        into.routine_count += other.routine_count
        into.duplicates += other.duplicates
        _add_all(into.assets, other.assets)
        for a in other.owned:
            into.owned.add(a)
            if self.asset_owner.get(a, (None,))[0] == other.seq:
                self.asset_owner[a] = (into.seq, self.asset_owner[a][1])
        _add_all(into.tools, other.tools)
        _add_all(into.sensors, other.sensors)
        for r, w in other.rule_weight.items():
            into.rule_weight[r] = max(w, into.rule_weight.get(r, 0.0))
        _add_all(into.rule_count, other.rule_count)
        into.max_severity = max(into.max_severity, other.max_severity)
        into.first, into.last = min(into.first, other.first), max(into.last, other.last)
        into.last_active = max(into.last_active, other.last_active)
        into.context_total += other.context_total
        into.flagged_total += other.flagged_total
        _add_all(into.targets, other.targets)
        into.bytes_out += other.bytes_out
        into.unplaced += other.unplaced
        into.outcome_success = into.outcome_success or other.outcome_success
        into.scored_tactics |= other.scored_tactics
        if other.reported_at is not None:
            into.reported_at = min(x for x in (into.reported_at, other.reported_at) if x is not None)


# ------------------------------------------------------------------------------------------------
# driving
# ------------------------------------------------------------------------------------------------

def merge_by_time(streams: Iterable[Iterable[Any]]) -> Iterator[Any]:
    """Interleave time-ordered streams of findings by time (a k-way merge: one item per stream in
    memory). Items without a time keep their place after the previous item of their stream; items
    that are not findings (read errors) pass through at once."""
    def keyed(i: int, s: Iterable[Any]) -> Iterator[tuple[float, int, int, Any]]:
        last = -math.inf
        for n, x in enumerate(s):
            t = getattr(x, "time", None)
            if t is None:
                t = last
            else:
                last = t
            yield (t, i, n, x)

    for _, _, _, x in heapq.merge(*(keyed(i, s) for i, s in enumerate(streams))):
        yield x


def correlate(findings: Iterable[Finding], config: CorrelatorConfig | None = None,
              noise: NoiseModel | None = None, **kw: Any) -> Iterator[Incident]:
    """Incidents of a finding stream, each as soon as it closes (then the rest at the end).

        >>> from secllm.incidents.findings import Finding
        >>> fs = [Finding(f"a:{i}", 100.0 + i, label="sqli", task="web-attack", name="sqli",
        ...               rule="web-attack:sqli", src="10.0.0.7", status=500, target=f"/?id={i}") for i in range(3)]
        >>> [i.to_json()["items"] for i in correlate(fs)]
        [['a:0', 'a:1', 'a:2']]
    """
    c = Correlator(config, noise, **kw)
    for f in findings:
        yield from c.add(f)
    yield from c.flush()


@dataclass
class ReadStats:
    """Items that could not be read, counted (the first few kept) while the stream goes on."""

    errors: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.errors += 1
        if len(self.first) < 5:
            self.first.append(f"{where}: {message}")


def _findings_only(stream: Iterable[Any], stats: ReadStats) -> Iterator[Finding]:
    for x in stream:
        if isinstance(x, Finding):
            yield x
        else:
            stats.add(getattr(x, "id", "?"), getattr(x, "error", str(x)))


def correlate_files(paths: list[Any], fmt: str = "auto", config: CorrelatorConfig | None = None, *,
                    noise: str = "two-pass", noise_model: NoiseModel | None = None,
                    host_of: dict[str, str] | None = None, read_stats: ReadStats | None = None,
                    correlator: list | None = None) -> Iterator[Incident]:
    """Incidents of findings/alert files (any mix of :data:`~secllm.incidents.alerts.ALERT_FORMATS`),
    interleaved by time.

    ``noise``: ``two-pass`` (learn what is routine from all the files first, then correlate: the
    files are read twice), ``online`` (learn while correlating: early alerts are judged on little
    history), ``off``. A ``noise_model`` learned earlier replaces learning. ``correlator``, when a
    list, receives the :class:`Correlator` used (its ``stats`` and ``noise`` after the run).
    """
    from secllm.incidents.alerts import read_findings

    stats = read_stats if read_stats is not None else ReadStats()
    if noise not in ("two-pass", "online", "off"):
        raise ValueError(f"noise must be two-pass, online or off, not {noise!r}")
    model = noise_model
    learn = False
    if model is None and noise == "two-pass":
        model = NoiseModel()
        quiet_stats = ReadStats()
        for f in _findings_only(merge_by_time(read_findings(p, fmt) for p in paths), quiet_stats):
            if f.kind == "alert":
                model.observe(f)
        model.finish()
    elif model is None:
        model = NoiseModel()
        learn = noise == "online"
    c = Correlator(config, model, learn_noise=learn, noise_kinds=() if noise == "off" else ("alert",),
                   host_of=host_of)
    if correlator is not None:
        correlator.append(c)
    for f in _findings_only(merge_by_time(read_findings(p, fmt) for p in paths), stats):
        yield from c.add(f)
    yield from c.flush()
