"""Routine noise of third-party alerts, learned from the alerts themselves.

Most alerts of an IDS or HIDS are routine: the nightly update job, every user's TLS oddity, the
log rotation's file-integrity change. Routine is a property of a **rule on a host** over time,
so the model keeps, per ``(host, rule)``, a few running statistics (no alert is stored):

* **persistence** -- in how many of the time buckets (default one hour) of the observed span the
  pair fired, and on how many distinct days: an attack fires in a few buckets of one day;
* **periodicity** -- the coefficient of variation of the gaps between its alerts (cron jobs,
  monitoring probes: CV near 0; bursts and Poisson noise: CV >= 1), over at least an hour;
* **spread** -- on how many hosts and for how many distinct actors the rule fires across the
  whole data (a rule that every client trips is background; an attacker is one actor).

``routine(f)`` in [0, 1] is the largest of the three, damped by a **burst** test: when the current
bucket's count for the pair (or for the actor and rule) is far above what that pair usually does
per active bucket (log-count mean + 3 standard deviations), the alert is not routine at that
moment -- a directory scan trips the same "web server 400 error code" rule as users' typos, but a
thousand times an hour. Nothing here was fitted on an evaluation set: the constants are stated in
:class:`NoiseConfig` and in ``docs/incidents.md``.

Learning is online (``observe`` as alerts stream by; judgement uses what was seen so far) or
two-pass (``observe`` every alert of the files, then judge in a second pass with ``track``), and
the learned state round-trips through JSON (``to_json``/``from_json``) to judge a live stream
with yesterday's model. Memory is bounded: at most ``max_keys`` pairs (the rarest are dropped).

    >>> m = NoiseModel()
    >>> for h in range(48):                      # a health check every hour for two days
    ...     m.observe(_Demo(f"t{h}", 1700000000.0 + h * 3600, "monitor 1", "web01", "10.0.0.2"))
    >>> round(m.routine(_Demo("x", 1700000000.0 + 48 * 3600, "monitor 1", "web01", "10.0.0.2")), 2)
    1.0
    >>> m.routine(_Demo("y", 1700000000.0 + 48 * 3600, "sqli 1", "web01", "10.0.0.66"))
    0.0
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

__all__ = ["NoiseConfig", "NoiseModel"]


class _Demo(NamedTuple):            # the fields the model reads from a Finding (used by the doctest)
    id: str
    time: float
    rule: str
    host: str | None
    src: str | None
    user: str | None = None
    name: str = ""


@dataclass
class NoiseConfig:
    bucket: float = 3600.0              # seconds per time bucket
    min_span_buckets: int = 12          # persistence needs at least this much observed time
    persist_low: float = 0.05           # share of the span's buckets: below -> not persistent
    persist_high: float = 0.25          # at or above -> fully routine
    days_routine: int = 3               # active on this many distinct days -> routine
    min_gaps: int = 6                   # periodicity needs this many gaps...
    min_gap: float = 5.0                # ...of at least this many seconds (alerts closer are one episode)
    period_cv: float = 0.5              # CV of gaps at or above -> not periodic
    period_span: float = 3600.0         # and periodic only over at least this long (a tunnel's steady
                                        # minutes are not a cron job's days)
    spread_actors: int = 16             # distinct actors for a rule to be background everywhere
    spread_min_actors: int = 4
    burst_sigmas: float = 3.0           # log-count above mean + this many sd -> a burst
    burst_min: int = 10                 # and at least this many alerts in the bucket
    max_keys: int = 200_000
    max_set: int = 64                   # distinct hosts/actors remembered per rule (then saturates)


class _Welford:
    __slots__ = ("n", "mean", "m2")

    def __init__(self, n: int = 0, mean: float = 0.0, m2: float = 0.0):
        self.n, self.mean, self.m2 = n, mean, m2

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)

    @property
    def sd(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0

    def state(self) -> list[float]:
        return [self.n, self.mean, self.m2]


class _Pair:
    """Running statistics of one (host, rule)."""

    __slots__ = ("n", "first", "last", "buckets", "days", "cur", "cur_n", "last_day", "counts", "gaps", "name",
                 "last_episode")

    def __init__(self, t: float, name: str):
        self.n = 0
        self.first = self.last = self.last_episode = t
        self.buckets = 0            # active buckets
        self.days = 0               # active days
        self.cur = -1               # current bucket id
        self.cur_n = 0              # alerts in it
        self.last_day = -1
        self.counts = _Welford()    # log1p(alerts per active bucket), completed buckets only
        self.gaps = _Welford()      # gaps between episodes (seconds)
        self.name = name


class _Rule:
    __slots__ = ("hosts", "actors", "hosts_sat", "actors_sat", "actor_counts")

    def __init__(self) -> None:
        self.hosts: set[str] = set()
        self.actors: set[str] = set()
        self.hosts_sat = 0
        self.actors_sat = 0
        self.actor_counts = _Welford()      # log1p(alerts per actor per active bucket)


def _clip(x: float) -> float:
    return 0.0 if x <= 0 else 1.0 if x >= 1 else x


class NoiseModel:
    """Learns what is routine per host and rule; see the module doc."""

    def __init__(self, config: NoiseConfig | None = None):
        self.config = config or NoiseConfig()
        self.pairs: dict[tuple[str, str], _Pair] = {}
        self.rules: dict[str, _Rule] = {}
        self.first: float | None = None
        self.last: float | None = None
        self.seen = 0
        # (actor, rule) -> [bucket, count]: the current bucket only (folded into the rule's stats)
        self._actor_cur: dict[tuple[str, str], list[int]] = {}
        self._actor_bucket = -1
        # judging in a second pass: running counts of the current bucket, kept apart from learning
        self._track_pair: dict[tuple[str, str], list[int]] = {}
        self._track_actor: dict[tuple[str, str], list[int]] = {}
        self._track_bucket = -1

    # -- learning -----------------------------------------------------------------------------
    def observe(self, f: Any) -> None:
        """Learn from one alert (time-ordered input; late alerts are counted in their own bucket)."""
        t = f.time
        if t is None:
            return
        cfg = self.config
        self.seen += 1
        self.first = t if self.first is None else min(self.first, t)
        self.last = t if self.last is None else max(self.last, t)
        b = int(t // cfg.bucket)
        key = (f.host or "-", f.rule)
        p = self.pairs.get(key)
        if p is None:
            if len(self.pairs) >= cfg.max_keys:
                self._shrink()
            p = self.pairs[key] = _Pair(t, f.name or f.rule)
        p.n += 1
        if b != p.cur:
            if p.cur_n:
                p.counts.add(math.log1p(p.cur_n))
            p.cur, p.cur_n = b, 0
            p.buckets += 1
            day = int(t // 86400)
            if day != p.last_day:
                p.days += 1
                p.last_day = day
        p.cur_n += 1
        gap = t - p.last_episode
        if gap >= cfg.min_gap:
            if p.n > 1:
                p.gaps.add(gap)
            p.last_episode = t
        p.last = max(p.last, t)
        r = self.rules.get(f.rule)
        if r is None:
            r = self.rules[f.rule] = _Rule()
        if f.host:
            if f.host not in r.hosts:
                if len(r.hosts) < cfg.max_set:
                    r.hosts.add(f.host)
                else:
                    r.hosts_sat += 1
        actor = f.src or f.user
        if actor:
            if actor not in r.actors:
                if len(r.actors) < cfg.max_set:
                    r.actors.add(actor)
                else:
                    r.actors_sat += 1
            if b != self._actor_bucket:
                self._fold_actor_counts(keep_bucket=b)
                self._actor_bucket = b
            ac = self._actor_cur.get((actor, f.rule))
            if ac is None:
                self._actor_cur[(actor, f.rule)] = [b, 1]
            else:
                ac[1] += 1

    def finish(self) -> NoiseModel:
        """Fold the last buckets' counts into the statistics (call after the learning pass)."""
        for p in self.pairs.values():
            if p.cur_n:
                p.counts.add(math.log1p(p.cur_n))
                p.cur_n = 0
        self._fold_actor_counts(keep_bucket=None)
        return self

    def _fold_actor_counts(self, keep_bucket: int | None) -> None:
        done = [k for k, v in self._actor_cur.items() if v[0] != keep_bucket]
        for k in done:
            b, n = self._actor_cur.pop(k)
            r = self.rules.get(k[1])
            if r is not None:
                r.actor_counts.add(math.log1p(n))

    def _shrink(self) -> None:
        """Drop the rarest half of the pairs (bounded memory on endless streams)."""
        keep = sorted(self.pairs.items(), key=lambda kv: kv[1].n, reverse=True)[: self.config.max_keys // 2]
        self.pairs = dict(keep)

    # -- judging ------------------------------------------------------------------------------
    def track(self, f: Any) -> None:
        """Count ``f`` in the current bucket for the burst test without learning from it
        (the second pass of two-pass mode; online mode counts in ``observe``)."""
        if f.time is None:
            return
        b = int(f.time // self.config.bucket)
        if b != self._track_bucket:
            self._track_pair.clear()
            self._track_actor.clear()
            self._track_bucket = b
        k = (f.host or "-", f.rule)
        self._track_pair[k] = [b, self._track_pair.get(k, [b, 0])[1] + 1]
        actor = f.src or f.user
        if actor:
            ka = (actor, f.rule)
            self._track_actor[ka] = [b, self._track_actor.get(ka, [b, 0])[1] + 1]

    def _current_counts(self, f: Any, p: _Pair | None) -> tuple[int, int]:
        actor = f.src or f.user
        if self._track_bucket >= 0:      # two-pass: the running counts of this pass
            c_pair = self._track_pair.get((f.host or "-", f.rule), [0, 0])[1]
            c_actor = self._track_actor.get((actor, f.rule), [0, 0])[1] if actor else 0
            return c_pair, c_actor
        b = int(f.time // self.config.bucket) if f.time is not None else -1
        c_pair = p.cur_n if p is not None and p.cur == b else 0
        ac = self._actor_cur.get((actor, f.rule)) if actor else None
        return c_pair, (ac[1] if ac and ac[0] == b else 0)

    def _burst(self, count: int, stats: _Welford) -> float:
        cfg = self.config
        if count < cfg.burst_min or stats.n < 3:
            return 0.0
        limit = stats.mean + cfg.burst_sigmas * max(stats.sd, 0.25)
        return _clip((math.log1p(count) - limit) / math.log(4.0) + 0.5) if math.log1p(count) > limit else 0.0

    def explain(self, f: Any) -> dict[str, float]:
        """The parts of ``routine(f)``: persistence, periodicity, spread, burst (each 0..1)."""
        cfg = self.config
        p = self.pairs.get((f.host or "-", f.rule))
        r = self.rules.get(f.rule)
        out = {"persistence": 0.0, "periodicity": 0.0, "spread": 0.0, "burst": 0.0}
        if p is None:
            return out
        if self.first is not None and self.last is not None:
            span = int(self.last // cfg.bucket) - int(self.first // cfg.bucket) + 1
            if span >= cfg.min_span_buckets:
                share = p.buckets / span
                out["persistence"] = _clip((share - cfg.persist_low) / (cfg.persist_high - cfg.persist_low))
            span_days = int(self.last // 86400) - int(self.first // 86400) + 1
            if span_days >= cfg.days_routine and p.buckets >= cfg.days_routine:
                out["persistence"] = max(out["persistence"], _clip((p.days - 1) / (cfg.days_routine - 1)))
        if p.gaps.n >= cfg.min_gaps and p.gaps.mean > 0 and p.last - p.first >= cfg.period_span:
            cv = p.gaps.sd / p.gaps.mean
            out["periodicity"] = _clip(1.0 - cv / cfg.period_cv)
        if r is not None:
            n_actors = len(r.actors) + r.actors_sat
            n_hosts = len(r.hosts) + r.hosts_sat
            s = _clip((n_actors - cfg.spread_min_actors) / (cfg.spread_actors - cfg.spread_min_actors))
            if n_hosts >= 3:      # the same rule on many hosts for several actors: background
                s = max(s, _clip((n_actors - 1) / cfg.spread_min_actors) * _clip((n_hosts - 2) / 3))
            out["spread"] = s
        c_pair, c_actor = self._current_counts(f, p)
        b = self._burst(c_pair, p.counts)
        if r is not None:
            b = max(b, self._burst(c_actor, r.actor_counts))
        out["burst"] = b
        return out

    def routine(self, f: Any) -> float:
        """How routine this alert is, 0 (new, rare or bursting) .. 1 (what this host always sees)."""
        e = self.explain(f)
        return max(e["persistence"], e["periodicity"], e["spread"]) * (1.0 - e["burst"])

    # -- reporting and persistence --------------------------------------------------------------
    def report(self, top: int = 50) -> list[dict[str, Any]]:
        """The most frequent (host, rule) pairs with their statistics and routine parts."""
        out = []
        for (host, rule), p in sorted(self.pairs.items(), key=lambda kv: -kv[1].n)[:top]:
            probe = _Demo("", p.last, rule, None if host == "-" else host, None)
            e = self.explain(probe)
            out.append({"host": host, "rule": rule, "name": p.name, "count": p.n, "active_buckets": p.buckets,
                        "days": p.days, "gap_cv": round(p.gaps.sd / p.gaps.mean, 3) if p.gaps.n > 1 and p.gaps.mean
                        else None, "hosts": len(self.rules[rule].hosts) if rule in self.rules else 0,
                        "actors": len(self.rules[rule].actors) if rule in self.rules else 0,
                        **{k: round(v, 3) for k, v in e.items() if k != "burst"},
                        "routine": round(max(e["persistence"], e["periodicity"], e["spread"]), 3)})
        return out

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "config": asdict(self.config), "first": self.first, "last": self.last,
                "seen": self.seen,
                "pairs": [[h, r, p.name, p.n, p.first, p.last, p.buckets, p.days, p.counts.state(), p.gaps.state()]
                          for (h, r), p in self.pairs.items()],
                "rules": {k: {"hosts": sorted(v.hosts), "actors": sorted(v.actors), "hosts_sat": v.hosts_sat,
                              "actors_sat": v.actors_sat, "actor_counts": v.actor_counts.state()}
                          for k, v in self.rules.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NoiseModel:
        if d.get("version") != 1:
            raise ValueError("not a secllm noise model (version 1)")
        cfg = NoiseConfig(**{k: v for k, v in d.get("config", {}).items() if k in NoiseConfig.__dataclass_fields__})
        m = cls(cfg)
        m.first, m.last, m.seen = d.get("first"), d.get("last"), int(d.get("seen", 0))
        for h, r, name, n, first, last, buckets, days, counts, gaps in d.get("pairs", []):
            p = _Pair(first, name)
            p.n, p.last, p.buckets, p.days = n, last, buckets, days
            p.counts, p.gaps = _Welford(*counts), _Welford(*gaps)
            m.pairs[(h, r)] = p
        for k, v in d.get("rules", {}).items():
            ru = _Rule()
            ru.hosts, ru.actors = set(v.get("hosts", [])), set(v.get("actors", []))
            ru.hosts_sat, ru.actors_sat = int(v.get("hosts_sat", 0)), int(v.get("actors_sat", 0))
            ru.actor_counts = _Welford(*v.get("actor_counts", [0, 0.0, 0.0]))
            m.rules[k] = ru
        return m
