"""The structure of a site's normal requests (Kruegel & Vigna, CCS 2003 style), learned without labels.

A request is reduced to an :class:`Observation`: its method, its endpoint (the path with numeric,
hex and UUID segments generalised, ``/item/42`` -> ``/item/{int}``), its parameters (query, body,
cookie, header and multipart parts of :func:`secllm.data.http.split_web_input`) and its header
names. :class:`StructureModel` learns, per endpoint and per parameter:

* presence/absence and pairwise order of parameter names (KV "attribute presence/order"),
* value length: mean and variance, scored with the Chebyshev bound (KV "attribute length"),
* character distribution: the idealised character distribution and a chi-square test (KV "ICD"),
* enumerations: parameters that take a handful of values (KV "token finder"),
* value shapes: numeric, hex, UUID, e-mail, URL, JWT, base64, word, free text ... with frequencies,

and request-wide: methods, endpoints, file extensions and header names. Scoring returns the
anomaly score (a weighted sum of per-model scores, each in 0-1, as in KV) and :class:`Finding` s
that say which part deviates and how.

    >>> m = StructureModel().fit([parse_observation(f"/item?id={i}") for i in range(50)])
    >>> score, findings = m.score(parse_observation("/item?id=1'%20or%20'1'='1"))
    >>> print(findings[0].text)
    parameter `id` is numeric in 100% of learned requests; here it holds a quoted string
"""

from __future__ import annotations

import functools
import math
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import numpy as np

from secllm.data.canonical import canonicalize
from secllm.data.desensitize import desensitize, fingerprint
from secllm.data.http import HttpParseError, Part, parse_http_request, split_web_input
from secllm.data.readers import parse_access_log_line
from secllm.profile.stats import chi2_sf

# ------------------------------------------------------------------------------------------------
# Observations: what the structure model sees of one request
# ------------------------------------------------------------------------------------------------

_INT = re.compile(r"[+-]?\d+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_SEGMENT = re.compile(r"(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}")
_METHOD_OK = re.compile(r"[A-Za-z]{1,20}")


@dataclass
class Observation:
    """One request as the structure model sees it.

    ``params`` holds ``(part name, raw value)`` in order (``query:id``, ``body:user.name``,
    ``cookie:sid``, ``header:user-agent``, ``filename:upload``); ``parts`` are the detector's parts
    (offsets into ``text``), used for embeddings; ``model_text`` is what the generic detector
    judges (the request, or the target of an access-log line).
    """

    kind: str                                  # http / url / access-log
    method: str | None                         # None for bare URLs (method unknown)
    endpoint: str                              # path template
    path: str                                  # decoded path as sent
    params: list[tuple[str, str]]
    headers: list[str]                         # lower-case header names (raw requests only)
    parts: list[Part] = field(default_factory=list)
    model_text: str = ""


@functools.lru_cache(maxsize=1 << 14)
def _masked_short(text: str) -> str:
    return desensitize(text)


def mask_name(text: str) -> str:
    """A name that a profile stores (endpoint template, parameter or part name), masked with
    :func:`secllm.data.desensitize.desensitize`: ``/reset/<email>``, ``query:<secret>``.
    Names repeat, so short ones are cached."""
    return _masked_short(text) if len(text) <= 512 else desensitize(text)


def value_fingerprint(value: str, key: str) -> str:
    """What a profile keeps of a value it must recognise: a keyed fingerprint of the masked value
    (:func:`secllm.data.desensitize.fingerprint`); repeated values are cached."""
    return _fingerprint_cached(value, key) if len(value) <= 512 else fingerprint(value, key)


@functools.lru_cache(maxsize=1 << 14)
def _fingerprint_cached(value: str, key: str) -> str:
    return fingerprint(value, key)


def _generalise(seg: str) -> str | None:
    if _INT.fullmatch(seg):
        return "{int}"
    if _UUID.fullmatch(seg):
        return "{uuid}"
    if _HEX_SEGMENT.fullmatch(seg):
        return "{hex}"
    return None


def endpoint_template(path: str) -> str:
    """Generalise a (decoded) path: numeric, hex (>= 8 chars) and UUID segments become placeholders,
    also as a file name's stem (``/img/9f86d081884c.png`` -> ``/img/{hex}.png``).

        >>> endpoint_template("/user/42/avatar/9f86d081884c7d65/x"), endpoint_template("/i/123.jpg")
        ('/user/{int}/avatar/{hex}/x', '/i/{int}.jpg')
        >>> endpoint_template("/reset/bob@corp.com/confirm"), endpoint_template("/k/sk_live_4eC39HqLyjWDarjtT1")
        ('/reset/<email>/confirm', '/k/<secret>')

    The template is masked (:func:`mask_name`): a profile never stores an address or a key that
    sat in a path.
    """
    segs = []
    for seg in path.split("/"):
        g = _generalise(seg)
        if g is None and "." in seg:
            stem, ext = seg.rsplit(".", 1)
            g2 = _generalise(stem)
            g = f"{g2}.{ext}" if g2 else None
        segs.append(g or seg)
    return mask_name("/".join(segs) or "/")


def _directory(endpoint: str) -> str:
    return endpoint.rsplit("/", 1)[0] + "/"


_EXTENSION = re.compile(r"[a-z0-9]{1,10}")


def _extension(path: str) -> str:
    """The file extension of a path's last segment; ``?`` for anything that is not a short
    alphanumeric extension (it is stored: ``/f.sk_live_...`` must not leave part of a key behind)."""
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return ""
    ext = last.rsplit(".", 1)[-1].lower()
    return ext if _EXTENSION.fullmatch(ext) else "?"


def _observation(kind: str, method: str | None, text: str, parts: list[Part], headers: list[str],
                 model_text: str) -> Observation:
    path = "/"
    params: list[tuple[str, str]] = []
    for p in parts:
        if p.name == "path":
            path = unquote(p.text)
        elif p.name in ("fragment", "trailing", "value"):
            continue
        else:
            params.append((mask_name(p.name), p.text))
    return Observation(kind, method, endpoint_template(path), path, params, headers, parts, model_text)


def parse_observation(item: str, fmt: str = "auto") -> Observation | None:
    """Parse a raw HTTP request, a URL or a combined/common access-log line; None if it is none of them.

    ``fmt`` is ``auto``, ``http``, ``url`` or ``access-log`` (what ``auto`` tries, in this order:
    access-log line, raw request, URL).

        >>> o = parse_observation('1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "POST /login?next=%2F HTTP/1.1" 200 5 "-" "ua"')
        >>> o.kind, o.method, o.endpoint, o.params
        ('access-log', 'POST', '/login', [('query:next', '%2F')])
        >>> parse_observation("just some words") is None
        True
    """
    if not isinstance(item, str) or not item.strip():
        return None
    if fmt in ("auto", "access-log") and item.lstrip()[:1] not in ("/", "") and " " in item.strip():
        d = parse_access_log_line(item)
        if d is not None:
            target = d.get("target") or ""
            method = d.get("method")
            if method is None or not target.startswith(("/", "http://", "https://")):
                return None                                     # scanner junk, not a request
            kind, parts = split_web_input(target)
            if kind != "url":
                return None
            return _observation("access-log", method.upper(), target, parts, [], target)
        if fmt == "access-log":
            return None
    kind, parts = split_web_input(item)
    if kind == "http" and fmt in ("auto", "http"):
        try:
            req = parse_http_request(item)
        except HttpParseError:
            return None
        method = req.method.upper() if _METHOD_OK.fullmatch(req.method) else req.method
        headers = [mask_name(n.lower()) for n, _, _, _ in req.headers]
        return _observation("http", method, item, parts, headers, item)
    if kind == "url" and fmt in ("auto", "url"):
        return _observation("url", None, item, parts, [], item)
    return None


# ------------------------------------------------------------------------------------------------
# Value shapes
# ------------------------------------------------------------------------------------------------

# (shape, description used in evidence, test) — tried in order, first match wins. Markup and
# quotes are tested before the permissive URL/path shapes so that "/x'--" reads as quoted.
_SHAPES: list[tuple[str, str, re.Pattern[str] | None]] = [
    ("empty", "an empty value", None),
    ("int", "numeric", re.compile(r"[+-]?\d+")),
    ("decimal", "a decimal number", re.compile(r"[+-]?\d*\.\d+")),
    ("uuid", "a UUID", _UUID),
    ("hex", "a hex string", re.compile(r"(?:0x)?(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}")),
    ("date", "a date/time", re.compile(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?\S*)?")),
    ("version", "a dotted number", re.compile(r"\d+(?:\.\d+){2,}")),
    ("markup", "markup (< or >)", re.compile(r".*[<>].*", re.S)),
    ("quoted", "a quoted string", re.compile(r".*['\"`].*", re.S)),
    ("email", "an e-mail address", re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")),
    ("url", "a URL", re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")),
    ("jwt", "a JWT", re.compile(r"[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")),
    ("base64", "base64-like data",
     re.compile(r"(?=.*[A-Z])(?=.*[a-z])(?=.*\d)[A-Za-z0-9+/_-]{16,}={0,2}|[A-Za-z0-9+/]{8,}={1,2}")),
    ("word", "a word", re.compile(r"[^\W\d_]+")),
    ("token", "an identifier-like token", re.compile(r"[\w.-]+")),
    ("path", "a path", re.compile(r"/[^\s]*")),
    ("list", "a comma-separated list", re.compile(r"[^\s,]+(?:,[^\s,]+)+")),
    ("symbols", "a token with symbols", re.compile(r"\S+")),
    ("text", "free text", re.compile(r"[\w\s.,:/@+*~!?-]+")),
    # whitespace plus brackets, operators or separators: what injected code looks like
    ("code", "text with code-like punctuation", None),
]
SHAPE_DESCRIPTIONS = {name: desc for name, desc, _ in _SHAPES}


def decoded(value: str) -> str:
    """The value as the application sees it (percent/entity decoded, case kept)."""
    return canonicalize(value, lower=False).text


def value_shape(value: str) -> str:
    """The shape of a (decoded) value.

        >>> [value_shape(v) for v in ["42", "9f86d081", "a@b.io", "1' or '1'='1", "hello world", "1) or (1=1", ""]]
        ['int', 'hex', 'email', 'quoted', 'text', 'code', 'empty']
    """
    if not value:
        return "empty"
    for name, _, rx in _SHAPES[1:-1]:
        if rx is not None and rx.fullmatch(value):
            return name
    return "code"


# ------------------------------------------------------------------------------------------------
# Character distribution (KV's idealised character distribution, binned for the chi-square test)
# ------------------------------------------------------------------------------------------------

# Bins of the sorted relative character frequencies, as in Kruegel & Vigna: the most frequent
# char, the next 3, next 3, next 5, next 4, the rest.
_ICD_BINS = [(0, 1), (1, 4), (4, 7), (7, 12), (12, 16), (16, 256)]


def char_distribution(value: str) -> np.ndarray:
    """Sorted relative character frequencies of ``value``, summed into the 6 KV bins. Shape (6,)."""
    counts = sorted(Counter(value).values(), reverse=True)
    total = sum(counts) or 1
    freq = np.zeros(256)
    freq[:min(256, len(counts))] = np.array(counts[:256], dtype=np.float64) / total
    return np.array([freq[a:b].sum() for a, b in _ICD_BINS])


def chi_square_pvalue(value: str, icd: np.ndarray) -> float:
    """KV's test: do ``value``'s sorted char counts fit the learned idealised distribution?"""
    n = len(value)
    if n == 0:
        return 1.0
    observed = char_distribution(value) * n
    expected = np.maximum(icd * n, 1e-3)
    stat = float(((observed - expected) ** 2 / expected).sum())
    return chi2_sf(stat, len(_ICD_BINS) - 1)


# ------------------------------------------------------------------------------------------------
# Per-parameter model
# ------------------------------------------------------------------------------------------------

ENUM_MAX_VALUES = 10        # a parameter with at most this many distinct values (and enough
ENUM_MIN_SAMPLES = 20       # samples) is an enumeration: any other value is an anomaly
_ENUM_TRACK = 32            # distinct values tracked before giving up on "enumeration"
_ENUM_MAX_LEN = 64
SHAPE_RARE = 0.05           # a shape seen in >= 5% of values is normal; rarer ones score up to 1


@dataclass
class ParamModel:
    """What one parameter's values look like (all statistics on the decoded value).

    No value is stored: the enumeration test keeps keyed fingerprints of the masked values
    (:func:`secllm.data.desensitize.fingerprint`, ``key`` is the profile's), so a profile file
    holds lengths, character-distribution bins, shape counts and 16-hex-digit fingerprints only.
    """

    n: int = 0
    len_sum: float = 0.0
    len_sq: float = 0.0
    icd_sum: list[float] = field(default_factory=lambda: [0.0] * len(_ICD_BINS))
    shapes: dict[str, int] = field(default_factory=dict)
    values: dict[str, int] = field(default_factory=dict)      # fingerprint -> count
    values_overflow: bool = False

    def add(self, value: str, key: str = "") -> None:
        v = decoded(value)
        self.n += 1
        self.len_sum += len(v)
        self.len_sq += len(v) ** 2
        if v:
            self.icd_sum = list(np.asarray(self.icd_sum) + char_distribution(v))
        s = value_shape(v)
        self.shapes[s] = self.shapes.get(s, 0) + 1
        if not self.values_overflow:
            fp = value_fingerprint(v, key) if len(v) <= _ENUM_MAX_LEN else ""
            if not fp or (fp not in self.values and len(self.values) >= _ENUM_TRACK):
                self.values_overflow, self.values = True, {}
            else:
                self.values[fp] = self.values.get(fp, 0) + 1

    # -- derived statistics -------------------------------------------------------------------
    @property
    def mean_len(self) -> float:
        return self.len_sum / max(self.n, 1)

    @property
    def var_len(self) -> float:
        return max(0.0, self.len_sq / max(self.n, 1) - self.mean_len ** 2)

    @property
    def icd(self) -> np.ndarray:
        nonempty = self.n - self.shapes.get("empty", 0)
        return np.asarray(self.icd_sum) / max(nonempty, 1)

    @property
    def is_enum(self) -> bool:
        return (not self.values_overflow and self.n >= ENUM_MIN_SAMPLES
                and len(self.values) <= min(ENUM_MAX_VALUES, self.n // 4))

    @property
    def confidence(self) -> float:
        """Few samples, weak beliefs: scales every value score of this parameter."""
        return self.n / (self.n + 5.0)

    def score(self, value: str, label: str, key: str = "") -> list["Finding"]:
        """Findings for one value of this parameter; ``label`` names it in the evidence, ``key`` is
        the profile's fingerprint key."""
        v = decoded(value)
        c = self.confidence
        out: list[Finding] = []
        # length: Chebyshev bound P(|X - mu| >= t) <= var / t^2, only for values longer than usual
        # (KV: short values are not suspicious). A variance floor of 1 keeps a constant-length
        # field from flagging one extra character.
        excess = len(v) - self.mean_len
        if excess > 0:
            p = min(1.0, max(self.var_len, 1.0) / excess ** 2)
            if 1 - p > 0:
                out.append(Finding("length", c * (1 - p),
                                   f"{label} is {len(v)} chars long; learned values average "
                                   f"{self.mean_len:.0f} ± {self.var_len ** 0.5:.0f}"))
        if v:
            p = chi_square_pvalue(v, self.icd)
            out.append(Finding("chardist", c * (1 - p),
                               f"{label} has an unusual character distribution (chi-square p={p:.2g})"))
        shape = value_shape(v)
        f = self.shapes.get(shape, 0) / max(self.n, 1)
        # a never-seen shape scores 1; a rare one by its log-frequency (1 at 1/100 of SHAPE_RARE):
        # a 1%-shape and a 0.05%-shape are not equally odd on a parameter of many shapes
        f_smooth = (self.shapes.get(shape, 0) + 0.5) / (self.n + 1)
        if f < SHAPE_RARE:
            rarity = 1.0 if f == 0 else min(1.0, max(0.0, math.log10(SHAPE_RARE / f_smooth) / 2))
            top, top_n = max(self.shapes.items(), key=lambda kv: kv[1])
            if top_n / self.n >= 0.5:
                text = (f"{label} is {SHAPE_DESCRIPTIONS[top]} in {_pct(top_n / self.n)} of learned "
                        f"requests; here it holds {SHAPE_DESCRIPTIONS[shape]}")
            else:       # a mixed-type parameter: say how rare this shape is instead
                text = (f"{label} holds {SHAPE_DESCRIPTIONS[shape]}, seen in {_pct(f)} of learned requests "
                        f"(most often {SHAPE_DESCRIPTIONS[top]}, {_pct(top_n / self.n)})")
            out.append(Finding("shape", c * rarity, text))
        if self.is_enum and value_fingerprint(v, key) not in self.values:
            which = "a single learned value" if len(self.values) == 1 else f"one of {len(self.values)} learned values"
            out.append(Finding("enum", c, f"{label} takes {which} (an enumeration); here {_show(v)}"))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "len_sum": self.len_sum, "len_sq": self.len_sq,
                "icd_sum": [float(x) for x in self.icd_sum], "shapes": self.shapes,
                "values": self.values, "values_overflow": self.values_overflow}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ParamModel":
        return cls(**d)


@dataclass
class Finding:
    """One deviation: which model (``component``), how strong (0-1 before weighting), and why."""

    component: str
    score: float
    text: str


def _pct(f: float) -> str:
    s = f"{100 * f:.1f}".rstrip("0").rstrip(".")
    return f"{s}%"


def _show(v: str, n: int = 40) -> str:
    """A value quoted for evidence text: masked, bounded, control characters escaped."""
    v = mask_name(v[:4 * n])
    r = v if len(v) <= n else v[:n] + "…"
    return "`" + r.encode("unicode_escape", "backslashreplace").decode("ascii", "replace").replace("`", "'") + "`"


def param_label(part_name: str) -> str:
    """``query:id`` -> "parameter `id`", ``cookie:sid`` -> "cookie `sid`", ...

        >>> param_label("body:user.name"), param_label("header:user-agent")
        ('body field `user.name`', 'header `user-agent`')
    """
    where, _, name = part_name.partition(":")
    kinds = {"query": "parameter", "body": "body field", "cookie": "cookie", "header": "header",
             "filename": "upload file name of", "body-key": "JSON key"}
    if not name:
        return {"query": "bare query token", "body": "bare body token", "cookie": "bare cookie token",
                "query-name": "unusual parameter name", "body-name": "unusual body field name",
                "cookie-name": "unusual cookie name"}.get(where, f"`{where}`")
    return f"{kinds.get(where, where)} `{name}`"


# ------------------------------------------------------------------------------------------------
# Per-endpoint and whole-site model
# ------------------------------------------------------------------------------------------------

# Weights of each component in the total (KV sum the per-model anomaly scores, each 0-1).
# Structural novelties (a method, endpoint or parameter name never seen) are certain facts and
# weigh 2; the statistical value tests are noisy on short values (the chi-square test on a
# 16-char token rejects now and then) and weigh 1 or less, so that several weak blips on a normal
# request do not outrank one real novelty.
WEIGHTS = {
    "method": 2.0, "endpoint": 2.0, "extension": 1.0, "param_unseen": 2.0, "param_missing": 0.5,
    "order": 1.0, "length": 1.0, "chardist": 0.5, "shape": 1.5, "enum": 1.5, "header_unseen": 1.0,
    "header_missing": 0.5,
}
# The Kruegel & Vigna (2003) models only: the baseline the benchmark compares against.
KV_COMPONENTS = frozenset({"param_unseen", "param_missing", "order", "length", "chardist", "enum"})
SITE_WIDE = ("header:", "cookie:")      # parameters modelled site-wide, not per endpoint
MIN_PARAM_SAMPLES = 5                   # fewer values on an endpoint: fall back to the site-wide model
PRESENCE_REQUIRED = 0.9                 # present in >= 90% of an endpoint's requests: missing is odd


@dataclass
class EndpointModel:
    n: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    presence: dict[str, int] = field(default_factory=dict)     # name -> requests holding it
    order: dict[str, int] = field(default_factory=dict)        # "a\tb" -> times a came before b
    params: dict[str, ParamModel] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "methods": self.methods, "presence": self.presence, "order": self.order,
                "params": {k: v.to_json() for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "EndpointModel":
        return cls(d["n"], d["methods"], d["presence"], d["order"],
                   {k: ParamModel.from_json(v) for k, v in d["params"].items()})


def _first_positions(names: list[str]) -> dict[str, int]:
    pos: dict[str, int] = {}
    for i, n in enumerate(names):
        pos.setdefault(n, i)
    return pos


@dataclass
class StructureModel:
    """The site's structure: endpoints, methods, parameters, header names (fit/score, JSON round trip)."""

    n: int = 0
    n_http: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    extensions: dict[str, int] = field(default_factory=dict)
    headers: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, EndpointModel] = field(default_factory=dict)
    site_params: dict[str, ParamModel] = field(default_factory=dict)    # by part name, all endpoints
    key: str = field(default_factory=lambda: secrets.token_hex(16))     # this profile's fingerprint key

    def fit(self, observations: list[Observation]) -> "StructureModel":
        for o in observations:
            self.add(o)
        return self

    def add(self, o: Observation) -> None:
        self.n += 1
        if o.method:
            self.methods[o.method] = self.methods.get(o.method, 0) + 1
        ext = _extension(o.path)
        self.extensions[ext] = self.extensions.get(ext, 0) + 1
        if o.kind == "http":
            self.n_http += 1
            for h in set(o.headers):
                self.headers[h] = self.headers.get(h, 0) + 1
        ep = self.endpoints.setdefault(o.endpoint, EndpointModel())
        ep.n += 1
        if o.method:
            ep.methods[o.method] = ep.methods.get(o.method, 0) + 1
        names = [n for n, _ in o.params if not n.startswith(SITE_WIDE)]
        for n in set(names):
            ep.presence[n] = ep.presence.get(n, 0) + 1
        pos = _first_positions(names)
        for a in pos:
            for b in pos:
                if a != b and pos[a] < pos[b]:
                    key = f"{a}\t{b}"
                    ep.order[key] = ep.order.get(key, 0) + 1
        for name, value in o.params:
            self.site_params.setdefault(name, ParamModel()).add(value, self.key)
            if not name.startswith(SITE_WIDE):
                ep.params.setdefault(name, ParamModel()).add(value, self.key)

    # ------------------------------------------------------------------------------------------
    def score(self, o: Observation, components: frozenset[str] | None = None) -> tuple[float, list[Finding]]:
        """``(anomaly score, findings sorted by weighted strength)``; ``components`` restricts the sum
        (e.g. :data:`KV_COMPONENTS` for the Kruegel-Vigna baseline)."""
        f: list[Finding] = []
        ep = self.endpoints.get(o.endpoint)
        if o.method:
            if self.methods and o.method not in self.methods:
                f.append(Finding("method", 1.0, f"method {_show(o.method)[1:-1]} never seen"))
            elif ep is not None and ep.methods and o.method not in ep.methods:
                f.append(Finding("method", 0.5, f"method {o.method} never seen on `{o.endpoint}`"))
        if ep is None:
            # a new page under a known directory (a new image, a new post) is less odd than a new tree
            d = _directory(o.endpoint)
            known_dir = any(k.startswith(d) for k in self.endpoints) if d != "/" else False
            f.append(Finding("endpoint", 0.5 if known_dir else 1.0, f"endpoint {_show(o.endpoint, 80)} never seen"
                             + (f" (its directory `{d}` is known)" if known_dir else "")))
            ext = _extension(o.path)
            if ext and ext not in self.extensions:
                f.append(Finding("extension", 1.0, f"file extension `.{_show(ext)[1:-1]}` never seen"))
        names = [n for n, _ in o.params if not n.startswith(SITE_WIDE)]
        if ep is not None:
            for n in dict.fromkeys(names):
                if n not in ep.presence:
                    elsewhere = n in self.site_params
                    f.append(Finding("param_unseen", 0.5 if elsewhere else 1.0,
                                     f"{param_label(n)} never seen on `{o.endpoint}`"
                                     + (" (seen on other endpoints)" if elsewhere else "")))
            for n, cnt in ep.presence.items():
                r = cnt / ep.n
                if r >= PRESENCE_REQUIRED and n not in names and ep.n >= MIN_PARAM_SAMPLES:
                    f.append(Finding("param_missing", r,
                                     f"{param_label(n)} is present in {_pct(r)} of requests to "
                                     f"`{o.endpoint}`; missing here"))
            pos = _first_positions(names)
            for a in pos:
                for b in pos:
                    if a != b and pos[a] < pos[b] and ep.order.get(f"{a}\t{b}", 0) == 0 \
                            and ep.order.get(f"{b}\t{a}", 0) >= MIN_PARAM_SAMPLES:
                        f.append(Finding("order", 1.0, f"{param_label(a)} comes before {param_label(b)}; "
                                                       f"learned requests always have the opposite order"))
        for name, value in o.params:
            pm = ep.params.get(name) if ep is not None else None
            if pm is None or pm.n < MIN_PARAM_SAMPLES:
                pm = self.site_params.get(name)
            if pm is None:
                if ep is None and not name.startswith(SITE_WIDE):
                    continue                       # the unseen endpoint already says it all
                if name.startswith(SITE_WIDE):
                    f.append(Finding("param_unseen", 0.5, f"{param_label(name)} never seen"))
                continue
            f.extend(pm.score(value, param_label(name), self.key))
        if o.kind == "http" and self.n_http >= MIN_PARAM_SAMPLES:
            present = set(o.headers)
            for h in present - set(self.headers):
                f.append(Finding("header_unseen", 1.0, f"header `{_show(h)[1:-1]}` never seen"))
            for h, cnt in self.headers.items():
                r = cnt / self.n_http
                if r >= 0.98 and h not in present:
                    f.append(Finding("header_missing", r, f"header `{h}` is sent in {_pct(r)} of "
                                                          "learned requests; missing here"))
        if components is not None:
            f = [x for x in f if x.component in components]
        for x in f:
            x.score = WEIGHTS[x.component] * x.score
        f.sort(key=lambda x: -x.score)
        return float(sum(x.score for x in f)), f

    # ------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "n_http": self.n_http, "methods": self.methods, "extensions": self.extensions,
                "headers": self.headers, "endpoints": {k: v.to_json() for k, v in self.endpoints.items()},
                "site_params": {k: v.to_json() for k, v in self.site_params.items()}, "key": self.key}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StructureModel":
        m = cls(d["n"], d["n_http"], d["methods"], d["extensions"], d["headers"],
                {k: EndpointModel.from_json(v) for k, v in d["endpoints"].items()},
                {k: ParamModel.from_json(v) for k, v in d["site_params"].items()})
        if "key" in d:
            m.key = d["key"]
        else:       # a profile written before issue 18 kept raw values: fingerprint them now
            for pm in [*m.site_params.values(), *(p for ep in m.endpoints.values() for p in ep.params.values())]:
                fps: dict[str, int] = {}
                for v, c in pm.values.items():
                    fps[value_fingerprint(v, m.key)] = fps.get(value_fingerprint(v, m.key), 0) + c
                pm.values = fps
        return m
