"""Log mode: the same learning mechanism for line logs and session sequences.

**Lines.** A line becomes a template by masking what varies (numbers, hex, IPs, block/ids, paths
with digits): ``Receiving block blk_-1608 src: /10.250.19.102:54106`` ->
``Receiving block <id> src: /<ip>:<num>``. The model keeps each template's frequency and, per
template and token position, the keyed fingerprints of the values seen there (a position that always
held ``50010`` or ``INFO`` is an enumeration; another value is a deviation). Nothing raw is kept:
templates are masked (:func:`secllm.data.desensitize.desensitize` after the variable-field masks)
and position values are fingerprints (:func:`secllm.data.desensitize.fingerprint`). Score = ``-log`` of the template's
smoothed frequency (an unseen template scores highest) + 1 per deviating position; an unseen
template also gets up to +3 for the share of its words that no learned template holds (a new
arrangement of known words is less unusual than a message made of new words). Identifiers that mix
letters and digits (``R02-M1-N0-C:J12-U11``, ``node-12``) are masked like numbers (Drain's rule
that a token holding digits is a variable), and date-like tokens are never enumerations.

**Sessions** (HDFS-style: one session = a sequence of events, given as space-separated event keys
or as a list of lines). The model keeps event frequencies, event-to-event transitions, each
event's count range per session and the session length range. Score = unseen events + unseen
transitions + counts outside the learned range.

    >>> lm = LogModel.fit_lines([f"INFO open file /data/{i}.txt by user{i % 3}" for i in range(40)])
    >>> s, ev = lm.score_line("ERROR disk /dev/sda1 failed")
    >>> ev[0]
    'log template `ERROR disk <path> failed` never seen'
"""

from __future__ import annotations

import math
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from secllm.profile.structure import mask_name, value_fingerprint

_MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "<ip>"),
    (re.compile(r"\bblk_-?\d+\b"), "<id>"),
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<id>"),
    (re.compile(r"(?:/[\w.-]+)*/[\w.-]*\d[\w.-]*(?:/[\w.-]+)*"), "<path>"),   # paths holding digits
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>"),
    # identifiers mixing letters and digits (host/node names, MACs): a run of word characters and
    # ``. : - $ # @`` holding both, not part of a mask already placed
    (re.compile(r"(?<![\w.:$#@<>-])(?=[\w.:$#@-]*[A-Za-z])(?=[\w.:$#@-]*\d)[\w.:$#@-]*\w"), "<id>"),
    (re.compile(r"(?<![\w<])[+-]?\d+(?:\.\d+)?(?![\w>])"), "<num>"),
]
_TOKEN = re.compile(r"[^\s:/=,;()\[\]{}\"']+")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")   # never an enumeration
_WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
_NOVEL_WORDS = 3.0        # an unseen template of only new words adds this much
_ENUM_TRACK = 10          # a position with at most this many distinct values is an enumeration
_MIN_TEMPLATE = 20        # ... judged only once the template has this many lines


def log_template(line: str) -> str:
    """Mask variable fields of a log line.

        >>> log_template("081109 203615 148 INFO dfs.DataNode: Receiving block blk_-1608 src: /10.250.19.102:54106")
        '<num> <num> <num> INFO dfs.DataNode: Receiving block <id> src: /<ip>:<num>'
    """
    t = line.strip()
    for rx, mask in _MASKS:
        t = rx.sub(mask, t)
    # what the variable-field masks leave (e-mails, keys, tokens) is masked before it is stored
    return mask_name(" ".join(t.split()))


def _template_words(template: str) -> list[str]:
    """Alphabetic words of a template, masks excluded (lower-cased)."""
    return [w.lower() for w in _WORD.findall(re.sub(r"<\w+>", " ", template))]


def _tokens(line: str) -> list[str]:
    """Tokens for the position model: split on blanks and on the separators of ``ip:port``,
    paths and ``key=value`` so that a port or a flag is a position of its own."""
    return _TOKEN.findall(line)


def _pos_key(template: str, toks: list[str]) -> str:
    # lines of one template can split into different token counts (a masked path of 2 or 3
    # segments): each count gets its own position table
    return f"{template}\t{len(toks)}"


def _short(s: str, n: int = 80) -> str:
    s = s if len(s) <= n else s[:n] + "…"
    return s.encode("unicode_escape", "backslashreplace").decode("ascii").replace("`", "'")


@dataclass
class LogModel:
    """Template frequencies and per-position values (lines) or event statistics (sessions)."""

    mode: str = "lines"                                         # "lines" | "sessions"
    n: int = 0
    templates: dict[str, int] = field(default_factory=dict)
    # "template\tn" -> per token position {fingerprint: count}; None: too many values to be an enumeration
    positions: dict[str, list[dict[str, int] | None]] = field(default_factory=dict)
    transitions: dict[str, int] = field(default_factory=dict)  # sessions: "a\tb" -> count
    count_range: dict[str, list[int]] = field(default_factory=dict)   # sessions: event -> [min, max]
    length_range: list[int] = field(default_factory=lambda: [0, 0])
    key: str = field(default_factory=lambda: secrets.token_hex(16))     # this profile's fingerprint key

    # -- lines ----------------------------------------------------------------------------------
    @classmethod
    def fit_lines(cls, lines: list[str]) -> "LogModel":
        m = cls("lines")
        for line in lines:
            if not line.strip():
                continue
            m.n += 1
            t = log_template(line)
            m.templates[t] = m.templates.get(t, 0) + 1
            toks = _tokens(line)
            pos = m.positions.setdefault(_pos_key(t, toks), [{} for _ in toks])
            for i, tok in enumerate(toks[:len(pos)]):
                slot = pos[i]
                if slot is None:
                    continue
                if _DATE.search(tok):
                    pos[i] = None
                    continue
                fp = value_fingerprint(tok, m.key)
                if fp not in slot and len(slot) >= _ENUM_TRACK:
                    pos[i] = None
                else:
                    slot[fp] = slot.get(fp, 0) + 1
        return m

    def score_line(self, line: str) -> tuple[float, list[str]]:
        t = log_template(line)
        cnt = self.templates.get(t, 0)
        # smoothed template frequency; an unseen template gets 0.5 / (n + 1)
        score = -math.log((cnt + 0.5) / (self.n + 1))
        ev: list[str] = []
        if cnt == 0:
            ev.append(f"log template `{_short(t)}` never seen")
            words = _template_words(t)
            new = [w for w in dict.fromkeys(words) if w not in self._words()]
            if words and new:
                score += _NOVEL_WORDS * sum(w in new for w in words) / len(words)
                ev.append(f"{len(new)} word(s) no learned line holds: " + ", ".join(f"`{_short(w, 30)}`"
                                                                                   for w in new[:5]))
        else:
            if cnt / self.n < 0.001:
                ev.append(f"log template `{_short(t)}` is rare ({cnt} of {self.n} learned lines)")
            toks = _tokens(line)
            pos = self.positions.get(_pos_key(t, toks)) or []
            if cnt >= _MIN_TEMPLATE:
                for i, tok in enumerate(toks[:len(pos)]):
                    slot = pos[i]
                    if slot is not None and value_fingerprint(tok, self.key) not in slot:
                        score += 1.0
                        which = "a single value" if len(slot) == 1 else f"one of {len(slot)} values"
                        ev.append(f"token {i + 1} of template `{_short(t, 50)}` takes {which} in learned lines; "
                                  f"here `{_short(mask_name(tok[:120]), 30)}`")
        return score, ev

    def _words(self) -> set[str]:
        """Words of the learned templates (derived from ``templates``, so nothing new is stored)."""
        cache = self.__dict__.get("_word_cache")
        if cache is None or cache[0] != len(self.templates):
            cache = (len(self.templates), {w for t in self.templates for w in _template_words(t)})
            self.__dict__["_word_cache"] = cache
        return cache[1]

    # -- sessions -------------------------------------------------------------------------------
    @classmethod
    def fit_sessions(cls, sessions: list[list[str]]) -> "LogModel":
        m = cls("sessions")
        counts = [Counter(events) for events in sessions if events]
        for events in sessions:
            if not events:
                continue
            m.n += 1
            for e in events:
                m.templates[e] = m.templates.get(e, 0) + 1
            for a, b in zip(events, events[1:]):
                m.transitions[f"{a}\t{b}"] = m.transitions.get(f"{a}\t{b}", 0) + 1
        for e in m.templates:                # an event absent from a session counts 0 there
            vals = [c.get(e, 0) for c in counts]
            m.count_range[e] = [min(vals), max(vals)]
        if counts:
            lengths = [sum(c.values()) for c in counts]
            m.length_range = [min(lengths), max(lengths)]
        return m

    def score_session(self, events: list[str]) -> tuple[float, list[str]]:
        score, ev = 0.0, []
        c = Counter(events)
        for e in c:
            if e not in self.templates:
                score += 2.0
                ev.append(f"event `{_short(e, 60)}` never seen")
        seen_pairs = set()
        for a, b in zip(events, events[1:]):
            if (a, b) in seen_pairs or a not in self.templates or b not in self.templates:
                continue
            seen_pairs.add((a, b))
            if f"{a}\t{b}" not in self.transitions:
                score += 1.0
                ev.append(f"transition `{_short(a, 30)}` → `{_short(b, 30)}` never seen")
        for e, (lo, hi) in self.count_range.items():
            k = c.get(e, 0)
            if k < lo or k > hi:
                score += 1.0
                ev.append(f"event `{_short(e, 30)}` occurs {k} times; learned sessions have {lo}–{hi}")
        lo, hi = self.length_range
        if not lo <= len(events) <= hi:
            score += 0.5
            ev.append(f"session has {len(events)} events; learned sessions have {lo}–{hi}")
        return score, ev

    # -- dispatch and artifacts -----------------------------------------------------------------
    def score(self, item: str | list[str]) -> tuple[float, list[str]]:
        if self.mode == "lines":
            return self.score_line(item if isinstance(item, str) else " ".join(item))
        return self.score_session(split_session(item))

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "n": self.n, "templates": self.templates, "positions": self.positions,
                "transitions": self.transitions, "count_range": self.count_range,
                "length_range": self.length_range, "key": self.key}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "LogModel":
        m = cls(**d)
        if "key" not in d:        # written before issue 18: raw position values, fingerprint them now
            m.positions = {k: [None if slot is None else {value_fingerprint(v, m.key): c for v, c in slot.items()}
                               for slot in pos] for k, pos in m.positions.items()}
        return m


def split_session(item: str | list[str]) -> list[str]:
    """A session as a list of events: a list as is, a string split on blanks (event keys) or on
    line breaks (one log line per event, templated).

        >>> split_session("5 5 22 11"), split_session("open blk_1 ok\\nclose blk_1 ok")
        (['5', '5', '22', '11'], ['open <id> ok', 'close <id> ok'])
    """
    if isinstance(item, list):
        return [log_template(x) if " " in x else x for x in item]
    if "\n" in item.strip():
        return [log_template(x) for x in item.splitlines() if x.strip()]
    return item.split()
