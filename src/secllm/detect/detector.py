"""The web-attack detector: payloads, URLs and whole raw HTTP requests, with evidence.

An input is split into the parts an attacker controls (``secllm.data.http.split_web_input``):
a URL gives its path+query and each parameter value, a raw request also its body fields, cookies
and attacker-controlled headers. Every part is canonicalised and scored by the fine-tuned model;
the input's score is the highest part score, its attack type that part's most likely attack
class, and its evidence the characters of that part that pushed the score up (gradient × input
attribution over tokens, mapped back through the decoding layers to the original characters).

    >>> det = WebAttackDetector.load()                         # the shipped default model
    >>> r = det.detect(["id=1' union select password from users--"])[0]
    >>> r.label, r.attack_type                                  # doctest: +SKIP
    ('malicious', 'sqli')

Per-item failures are data: an empty, huge or undecodable item gets ``status`` set to an error
code and the rest of the batch goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secllm.data.canonical import Canonical, canonicalize, span_to_original
from secllm.data.corpus import scrub_surrogates
from secllm.data.http import Part, split_web_input
from secllm.detect.analyzers import STRONG, analyze, plausible
from secllm.detect.cascade import band_limits
from secllm.detect.prefilter import is_bare_token
from secllm.detect.signatures import ATTACK_TYPES, match_parts
from secllm.paths import DEFAULT_MODEL_DIR

# Budgets. Every part of an item is judged, and every character of a part (long parts are read in
# overlapping windows of the model's length). Past a budget the item is never called benign: it is
# flagged with the ``over_budget`` verdict (fail closed), whatever its scored parts looked like.
MAX_ITEM_CHARS = 64 * 1024       # larger items: status "too_large", verdict ``over_budget``
MAX_PARTS = 1024                 # parts judged per item
MAX_WINDOWS = 2048               # model sequences (parts × windows) judged per item
MAX_CANON_CHARS = 2 * MAX_ITEM_CHARS   # a part's decoded text (NFKC may expand it 18x)
OVER_BUDGET = ("malicious", "too_complex")


class Status:
    OK = "ok"
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    BAD_JSON = "bad_json"
    BAD_INPUT = "bad_input"
    INTERNAL = "internal_error"
    UNSUPPORTED = "unsupported"          # identified as a kind no task judges (see secllm.detect.route)


@dataclass
class Evidence:
    part: str                 # which part of the input: "value", "path", "query:id", "header:user-agent"
    start: int                # character span in the ORIGINAL input
    end: int
    text: str
    weight: float             # share of the positive attribution (0-1)


@dataclass
class Detection:
    id: str
    label: str | None = None             # "benign" / "malicious"
    score: float | None = None           # P(malicious), 0-1
    attack_type: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    status: str = Status.OK
    kind: str | None = None              # payload / url / http
    part: str | None = None              # the part that decided
    class_scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    stage: str | None = None             # what decided: "full" model, "fast" model, "lexical" stage, "prefilter", "signature";
                                         # tasks: "adapter", "lexical" head, "ensemble", "text" head
    signatures: list[str] = field(default_factory=list)   # known attack-tool names/markers found (CRS 913 lists)
    attack_types: list[str] = field(default_factory=list)  # every attack type that applies (attack_type first)
    input_kind: str | None = None        # what the input was identified as (secllm.identify), e.g. "log-line/openssh"
    task: str | None = None              # the task that judged it ("web-attack", "log-auth"...); None: unsupported
    details: dict[str, Any] = field(default_factory=dict)   # judge-specific facts (brute force: source, count)
    # CWE, ATT&CK, tactics, severity, mitigations of the verdict (secllm.detect.knowledge.attach_knowledge)
    knowledge: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("input_kind", "task", "details", "knowledge"):   # only when set: the plain output stays as it was
            if not d[k]:
                d.pop(k)
        if self.score is not None:
            d["score"] = round(self.score, 6)
        d["class_scores"] = {k: round(v, 6) for k, v in self.class_scores.items()}
        return d


# Binary content (a protobuf or OCSP body, TLS after CONNECT, WebSocket frames, a percent-encoded
# hash) is not text the model can read: judged whole it looks like nothing it was trained on and is
# flagged at random. Like `strings`, its runs of printable ASCII are judged instead, so an attack
# string hidden among binary bytes is still read.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_PRINTABLE_RUN = re.compile(r"[\x20-\x7e]{8,}")
BINARY_SHARE = 0.1


def _binary_strings(part: Part, canon) -> list[Part] | None:
    """``None`` for text; for binary content (>= 10% control or undecodable characters after
    decoding) its runs of >= 8 printable ASCII characters as ``<name>:strings`` parts, with offsets
    into the input (mapped back through the decoding).

        >>> raw = chr(0) * 3 + "' OR 1=1--" + chr(3) * 2
        >>> [(p.name, p.text, p.start) for p in _binary_strings(Part("body", raw, 10, 25), canonicalize(raw))]
        [('body:strings', "' OR 1=1--", 13)]
    """
    t = canon.text
    if t.isprintable():
        return None
    bad = len(_CONTROL.findall(t))
    if bad < max(2, BINARY_SHARE * len(t)):
        return None
    subs = []
    for m in _PRINTABLE_RUN.finditer(t):
        a, b = span_to_original(canon, m.start(), m.end())
        subs.append(Part(f"{part.name}:strings", part.text[a:b], part.start + a, part.start + b))
    return subs


def flag_by_signatures(res: Detection, found: list, text: str, evidence: bool = True, max_evidence: int = 5,
                       part: str | None = None) -> None:
    """A judged result the model did not flag becomes malicious when ``found`` (signature hits,
    spans into ``text``) is not empty: the input names the tool that sent it. ``part`` names the
    part for the evidence instead of each hit's own (e.g. a User-Agent read from a log line)."""
    if not found or res.status != Status.OK or res.label == "malicious":
        return
    res.label, res.score, res.attack_type = "malicious", 1.0, ATTACK_TYPES[found[0].rule]
    res.stage, res.part = "signature", part or found[0].part
    if evidence:
        res.evidence = [Evidence(part=part or h.part, start=h.start, end=h.end, text=text[h.start:h.end],
                                 weight=round(1.0 / len(found), 4)) for h in found[:max_evidence]]


_HOST_HEADER = re.compile(r"^host[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_CANON_CACHE_MAX_CHARS = 256
CANON_CACHE_BYTES = 32 << 20     # the process-wide cache of canonical forms, by approximate size


class _ByteLRU:
    """A least-recently-used map bounded by the approximate bytes of its values, not their count
    (a canonical form keeps one offset pair per character: 64 bytes each)."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self._d: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str):
        with self._lock:
            hit = self._d.get(key)
            if hit is not None:
                self._d.move_to_end(key)
                return hit[0]
        return None

    def put(self, key: str, value: Any, size: int) -> None:
        with self._lock:
            if key in self._d:
                return
            self._d[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes and self._d:
                _, (_, n) = self._d.popitem(last=False)
                self.bytes -= n

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._d)


_CANON_CACHE = _ByteLRU(CANON_CACHE_BYTES)


def _canonical(text: str):
    """The canonical form the models read, bounded to ``MAX_CANON_CHARS`` (never mutated
    afterwards: short parts are cached — header values, cookies and parameters repeat heavily)."""
    short = len(text) <= _CANON_CACHE_MAX_CHARS
    if short:
        hit = _CANON_CACHE.get(text)
        if hit is not None:
            return hit
    canon = canonicalize(text, max_chars=MAX_CANON_CHARS)
    canon.text = scrub_surrogates(canon.text)
    if short:
        _CANON_CACHE.put(text, canon, 200 + 4 * len(text) + 72 * len(canon.offsets))
    return canon


class WebAttackDetector:
    """Load a fine-tuned web-attack model directory and judge web inputs."""

    def __init__(self, backend, tokenizer, meta: dict, model_dir: Path):
        self.backend = backend
        self.tok = tokenizer
        self.meta = meta
        self.model_dir = model_dir
        self.labels: list[str] = meta["labels"]
        self.benign_idx = self.labels.index(meta.get("benign_label", "benign"))
        self.threshold: float = float(meta.get("threshold", 0.5))
        self.max_length: int = int(meta.get("max_length", 128))
        # the cheap first stage (secllm.detect.prefilter); off only for measuring its effect
        self.prefilter: bool = True
        self.signatures: bool = True        # known scanner names/markers (secllm.detect.signatures)
        self.restricted_extensions: bool = False    # also CRS 920440 (.bak .old .sql ...): off by default
        # the verdict when an item exceeds a budget (size, parts, windows): never "benign"
        self.over_budget: str = "malicious"
        # structural analyzers (secllm.detect.analyzers): attack constructs the model was not trained
        # on (Log4Shell, SSTI, Shellshock...), every type a value carries, and each model class's
        # plausibility check (a class whose syntax is absent gets no probability)
        self.analyzers: bool = True
        # Exact score cache: (modality, canonical text) -> class probabilities. The model is a
        # pure function of its input, so a hit returns what the model would return; real traffic
        # repeats header values (User-Agent, Accept, Referer), paths and parameter values heavily.
        # Keys are 16-byte BLAKE2b digests (memory stays bounded whatever the item length).
        # ``cache_size = 0`` turns it off.
        self.cache_size: int = 65536
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0
        # The cascade (secllm.detect.cascade): a small model in model_dir/fast decides the clear parts.
        self.fast: WebAttackDetector | None = None
        self.bands: dict[str, Any] | None = None
        # Its first stage (secllm.detect.lexical): a linear model over the tokens, in model_dir/lexical.
        self.lexical: WebAttackDetector | None = None
        self.lexical_bands: dict[str, Any] | None = None
        self.cascade: bool = True

    @classmethod
    def load(cls, model_dir: str | Path | None = None, threads: int | None = None,
             backend: str = "torch") -> "WebAttackDetector":
        """Load a fine-tuned detector directory (default: the shipped model).

        ``backend="torch"`` runs the PyTorch weights; other backends register in
        ``secllm.detect.backends``.
        """
        from secllm.model.modeling import load_tokenizer_checked, read_meta

        d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        meta = read_meta(d)
        if meta.get("kind") != "classifier":
            raise ValueError(f"{d} holds a {meta.get('kind')} model, not a fine-tuned detector; "
                             "run `secllm finetune` on it first")
        if backend == "torch":
            import torch

            from secllm.detect.backends import TorchBackend
            from secllm.model.modeling import load_classifier

            if threads:
                torch.set_num_threads(threads)
            model, tok, _, meta = load_classifier(d)
            model.float().eval()
            be = TorchBackend(model, tok.pad_id)
        else:
            from secllm.detect import backends

            factory = getattr(backends, "BACKENDS", {}).get(backend)
            if factory is None:
                raise ValueError(f"unknown backend {backend!r}")
            tok = load_tokenizer_checked(d, meta)
            be = factory(d, tok, threads=threads)
        det = cls(be, tok, meta, d)
        det._load_fast(threads, backend)
        det._load_lexical()
        return det

    def cascade_stages(self) -> list[tuple[str, "WebAttackDetector", dict[str, Any]]]:
        """The cheaper stages in the order they judge, ``(name, detector, bands)``: lexical, fast."""
        return [(name, det, bands) for name, det, bands in
                (("lexical", self.lexical, self.lexical_bands), ("fast", self.fast, self.bands))
                if det is not None and bands is not None]

    @property
    def has_cascade(self) -> bool:
        """Whether a cheaper stage (lexical and/or fast model) can decide parts before the full model."""
        return bool(self.cascade_stages())

    def _load_lexical(self) -> None:
        from secllm.detect.lexical import LEXICAL_DIR, load_backend

        ld = self.model_dir / LEXICAL_DIR
        if not (ld / "secllm.json").is_file():
            return
        be, meta = load_backend(ld)
        bands = meta.get("cascade")
        if not bands or meta.get("labels") != self.labels \
                or meta.get("tokenizer_fingerprint") not in (None, self.meta.get("tokenizer_fingerprint")):
            return
        lex = WebAttackDetector(be, self.tok, {**meta, "threshold": self.threshold}, ld)
        self.lexical, self.lexical_bands = lex, bands

    def _load_fast(self, threads: int | None, backend: str) -> None:
        from secllm.detect.cascade import FAST_DIR
        from secllm.model.modeling import read_meta
        from secllm.runtime import resolve_backend

        fd = self.model_dir / FAST_DIR
        if not (fd / "secllm.json").is_file():
            return
        bands = read_meta(fd).get("cascade")
        fb = backend if backend == "torch" else resolve_backend(fd, "auto")
        if not bands or (backend != "torch" and fb == "torch"):   # never pull torch into an ONNX server
            return
        fast = WebAttackDetector.load(fd, threads=threads, backend=fb)
        if fast.labels == self.labels:
            self.fast, self.bands = fast, bands

    # -------------------------------------------------------------------------------------
    def score_texts(self, texts: list[str], modalities: list[str]) -> np.ndarray:
        """Class probabilities (n, n_labels) for already-canonical texts."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.cache_size <= 0:
            return self._model_proba(texts, modalities)
        keys = [hashlib.blake2b(f"{m}\x00{t}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
                for t, m in zip(texts, modalities)]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        todo: dict[bytes, list[int]] = {}
        with self._cache_lock:
            for i, key in enumerate(keys):
                row = self._cache.get(key)
                if row is not None:
                    self._cache.move_to_end(key)
                    out[i] = row
                    self.cache_hits += 1
                else:
                    todo.setdefault(key, []).append(i)      # repeats inside the batch: one model call
        if todo:
            first = [idx[0] for idx in todo.values()]
            proba = self._model_proba([texts[i] for i in first], [modalities[i] for i in first])
            with self._cache_lock:
                self.cache_misses += len(first)
                for (key, idx), row in zip(todo.items(), proba):
                    out[idx] = row
                    self._cache[key] = row.copy()
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def cascade_scores(self, texts: list[str], modalities: list[str],
                       cascade: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and, per text, the stage that decided it (``lexical``, ``fast``,
        ``full``): each cheaper stage decides the parts outside its bands, the rest go on."""
        stage = np.full(len(texts), "full", dtype=object)
        use = self.cascade if cascade is None else cascade
        stages = self.cascade_stages() if use else []
        if not texts or not stages:
            return self.score_texts(texts, modalities), stage
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        rest = np.arange(len(texts))
        for name, det, bands in stages:
            mods = [modalities[i] for i in rest]
            p = det.score_texts([texts[i] for i in rest], mods)
            mal = 1.0 - p[:, self.benign_idx]
            lo, hi = band_limits(bands, mods)
            sure = (mal < lo) | (mal > hi)
            out[rest[sure]] = p[sure]
            stage[rest[sure]] = name
            rest = rest[~sure]
            if not len(rest):
                return out, stage
        out[rest] = self.score_texts([texts[i] for i in rest], [modalities[i] for i in rest])
        return out, stage

    def _model_proba(self, texts: list[str], modalities: list[str]) -> np.ndarray:
        enc = self.tok.encode_batch(texts, modalities, max_length=self.max_length, pad=False, offsets=False)
        return self.backend.predict_proba(enc.input_ids)

    def clear_cache(self) -> None:
        """Empty the score cache (and the process-wide cache of canonical forms)."""
        _CANON_CACHE.clear()
        with self._cache_lock:
            self._cache.clear()
            self.cache_hits = self.cache_misses = 0
        for _, stage, _ in self.cascade_stages():
            stage.clear_cache()

    def set_cache_size(self, size: int) -> None:
        """Entries of the exact score cache (0: off), for this model and its cascade stages."""
        self.cache_size = size
        for _, stage, _ in self.cascade_stages():
            stage.set_cache_size(size)

    def attribute(self, text: str, modality: str, target: int) -> list[tuple[int, int, float]]:
        """Token attributions of (logit[target] - logit[benign]) as character spans.

        Returns ``(start, end, weight)`` spans of ``text`` (the canonical text) for tokens with
        positive attribution, weights normalised to sum to 1.
        """
        enc = self.tok.encode_batch([text], [modality], max_length=self.max_length, pad=False)
        attr = self.backend.token_attribution(enc.input_ids[0], target, self.benign_idx)
        spans = [(s, e, float(a)) for (s, e), a in zip(enc.offsets[0], attr) if e > s and a > 0]
        total = sum(a for _, _, a in spans) or 1.0
        return [(s, e, a / total) for s, e, a in spans]

    # -------------------------------------------------------------------------------------
    def detect(self, items: list[str], ids: list[str] | None = None, evidence: bool = True,
               max_evidence: int = 5, kind: str | list[str] = "auto",
               cascade: bool | None = None) -> list[Detection]:
        """Judge a batch of raw inputs (payloads, URLs or raw HTTP requests).

        ``kind`` says what the inputs are (one for all, or one per item): ``auto`` guesses from
        the text; ``payload``, ``url``, ``query``, ``http`` state it (see
        :func:`secllm.data.http.split_web_input`). ``cascade``: let the fast model decide the
        clear parts (default: ``self.cascade``; only when the model directory has one).

        Every part is judged, long parts window by window; an item past a budget (``MAX_ITEM_CHARS``,
        ``MAX_PARTS``, ``MAX_WINDOWS``, ``MAX_CANON_CHARS``) gets the ``over_budget`` verdict
        (``malicious`` with attack type ``too_complex``, or the label ``too_complex``), never benign.
        """
        if self.over_budget not in OVER_BUDGET:
            raise ValueError(f"over_budget must be one of {OVER_BUDGET}, not {self.over_budget!r}")
        ids = ids or [str(i) for i in range(len(items))]
        kinds = [kind] * len(items) if isinstance(kind, str) else list(kind)
        if len(kinds) != len(items):
            raise ValueError(f"{len(kinds)} kinds for {len(items)} items")
        results = [Detection(id=i) for i in ids]
        # (item index, part, canonical (a window of the part's canonical for long parts), modality)
        jobs: list[tuple[int, Any, Any, str]] = []
        prefiltered: set[int] = set()
        hits: dict[int, list] = {}
        over: dict[int, str] = {}              # item -> why a budget was exceeded
        found: dict[int, list] = {}            # item -> [(analyzer finding, part, canonical)]
        for k, (item, res) in enumerate(zip(items, results)):
            try:
                if not isinstance(item, str):
                    res.status, res.error = Status.BAD_INPUT, f"expected text, got {type(item).__name__}"
                    continue
                if len(item) > MAX_ITEM_CHARS:
                    res.status, res.error = Status.TOO_LARGE, f"{len(item)} chars > limit {MAX_ITEM_CHARS}"
                    over[k] = res.error
                    continue
                if not item.strip():
                    res.status, res.error = Status.EMPTY, "empty input"
                    continue
                kind_k, parts = split_web_input(item, kinds[k], with_target=True)
                res.kind = kind_k
                path = next((q.text for q in parts if q.name == "path"), None)
                host = None
                if kind_k == "http":
                    hm = _HOST_HEADER.search(item, 0, item.find("\n\r\n") if "\n\r\n" in item else len(item))
                    host = hm.group(1).strip().lower() if hm else None
                if self.signatures:
                    hits[k] = match_parts(parts, item, extensions=self.restricted_extensions)
                    res.signatures = [h.name for h in hits[k]]
                if len(parts) > MAX_PARTS:
                    over[k] = f"{len(parts)} parts > limit {MAX_PARTS}"
                    parts = parts[:MAX_PARTS]
                n_jobs = 0
                q = 0
                while q < len(parts):
                    p = parts[q]
                    q += 1
                    if not p.text.strip():
                        continue
                    canon = _canonical(p.text)
                    if canon.truncated:
                        over[k] = f"{p.name}: decoded text > limit {MAX_CANON_CHARS} chars"
                    if not canon.text.strip():
                        continue
                    subs = None if p.name.endswith(":strings") else _binary_strings(p, canon)
                    if subs is not None:
                        room = MAX_PARTS - len(parts)
                        res.warnings.append(f"binary {p.name}: {len(subs)} printable strings judged")
                        if len(subs) > room:
                            over[k] = f"{p.name}: {len(subs)} printable strings > room {max(room, 0)}"
                        parts = parts + subs[:max(room, 0)]
                        continue
                    if self.prefilter and is_bare_token(canon.text):
                        prefiltered.add(k)      # benign by construction: no model call
                        continue
                    if self.analyzers:
                        for f in analyze(canon.text, p.name, host, path):
                            found.setdefault(k, []).append((f, p, canon))
                    # the model saw whole URLs (path + query) with the url tag, parameter values with payload
                    mod = "url" if p.name in ("url", "target", "path") else "payload"
                    spans = self.tok.windows(canon.text, self.max_length)
                    if n_jobs + len(spans) > MAX_WINDOWS:
                        over[k] = f"more than {MAX_WINDOWS} model windows"
                        spans = spans[:max(0, MAX_WINDOWS - n_jobs)]
                    for a, b in spans:
                        win = canon if (a, b) == (0, len(canon.text)) else \
                            Canonical(canon.text[a:b], canon.offsets[a:b], canon.layers)
                        jobs.append((k, p, win, mod))
                    n_jobs += len(spans)
                    if n_jobs >= MAX_WINDOWS:
                        over.setdefault(k, f"more than {MAX_WINDOWS} model windows")
                        break
            except Exception as exc:  # noqa: BLE001 — one bad item must not kill the batch
                res.status, res.error = Status.INTERNAL, f"{type(exc).__name__}: {exc}"
        proba, stage = self.cascade_scores([j[2].text for j in jobs], [j[3] for j in jobs], cascade)
        mal_all, top_all = self._plausible_scores(proba, [j[2].text for j in jobs], [j[3] == "url" for j in jobs])
        best: dict[int, tuple[float, int]] = {}
        flagged: dict[int, list[int]] = {}     # item -> its jobs judged malicious
        for n, (k, _, _, _) in enumerate(jobs):
            mal = float(mal_all[n])
            if k not in best or mal > best[k][0]:
                best[k] = (mal, n)
            if mal >= self.threshold:
                flagged.setdefault(k, []).append(n)
        for k, res in enumerate(results):
            if res.status != Status.OK:
                continue
            if k not in best:
                # every part was a bare token (first stage) or empty: benign by construction
                res.label, res.score, res.attack_type = "benign", 0.0, None
                res.part = "prefilter" if k in prefiltered else None
                res.stage = "prefilter" if k in prefiltered else None
                if k not in prefiltered:
                    res.warnings.append("no scorable content")
                continue
            mal, n = best[k]
            p = proba[n]
            res.score = mal
            res.label = "malicious" if mal >= self.threshold else "benign"
            res.class_scores = {lab: float(p[i]) for i, lab in enumerate(self.labels)}
            top = int(top_all[n])
            res.attack_type = self.labels[top] if res.label == "malicious" else None
            # every type the flagged parts/windows carry, the deciding one first
            types = [self.labels[int(top_all[m])] for m in flagged.get(k, [])]
            res.attack_types = list(dict.fromkeys(([res.attack_type] if res.attack_type else []) + types))
            _, part, canon, mod = jobs[n]
            res.part = part.name
            res.stage = str(stage[n])
            if float(1.0 - p[self.benign_idx]) >= self.threshold > mal:
                res.warnings.append(f"model class {self.labels[int(np.argmax(np.where(np.arange(len(p)) == self.benign_idx, -1, p)))]}"
                                    " dismissed: its syntax is absent")
            if evidence and res.label == "malicious":
                try:
                    explainer = {"fast": self.fast, "lexical": self.lexical}.get(res.stage) or self
                    spans = explainer.attribute(canon.text, mod, top)
                    res.evidence = self._evidence(items[k], part, canon, spans, max_evidence)
                except Exception as exc:  # noqa: BLE001
                    res.warnings.append(f"evidence failed: {type(exc).__name__}")
        for k, fs in found.items():
            self._add_findings(results[k], items[k], fs, evidence, max_evidence)
        for k, found in hits.items():
            flag_by_signatures(results[k], found, items[k], evidence, max_evidence)
        for k, why in over.items():
            self._fail_closed(results[k], why)
        return results

    def _plausible_scores(self, proba: np.ndarray, texts: list[str],
                          urls: list[bool] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per job: the malicious probability and the attack class. When the most likely attack
        class lacks its syntax in the text (:func:`secllm.detect.analyzers.plausible`), only the
        classes whose syntax is there count, and the most likely of those is the class; otherwise
        (and without analyzers) the model's sum and argmax stand."""
        attack = proba.copy()
        if len(texts):
            attack[:, self.benign_idx] = 0.0
        mal = attack.sum(1) if len(texts) else np.zeros(0)
        top = attack.argmax(1) if len(texts) else np.zeros(0, dtype=int)
        if self.analyzers:
            floor = 0.05 * self.threshold                 # a clearly benign part needs no check
            for n, t in enumerate(texts):
                u = bool(urls[n]) if urls is not None else False
                if mal[n] < floor or plausible(self.labels[top[n]], t, u):
                    continue
                keep = np.array([c != self.benign_idx and attack[n, c] > 1e-4 and plausible(self.labels[c], t, u)
                                 for c in range(attack.shape[1])])
                row = np.where(keep, attack[n], 0.0)
                mal[n], top[n] = row.sum(), row.argmax()
        return mal, top

    def _add_findings(self, res: Detection, item: str, fs: list, evidence: bool, max_evidence: int) -> None:
        """Fold the structural analyzers' findings into a result: each construct is an attack of
        its type, with its span as evidence. Every type is listed; the first is a construct only
        the analyzers see or one more specific than the model's class (:data:`STRONG`: Log4Shell,
        template injection, command injection read as path traversal...), else the model's own."""
        if res.status != Status.OK:
            return
        types = list(dict.fromkeys(f.type for f, _, _ in fs))
        was_malicious = res.label == "malicious"
        strong = [t for t in types if t in STRONG]
        if was_malicious and res.attack_type and not strong:
            res.attack_types = list(dict.fromkeys(res.attack_types + types))
        else:
            res.attack_types = list(dict.fromkeys(types + res.attack_types))
        res.attack_type = res.attack_types[0]
        if not was_malicious:
            res.label, res.score, res.stage = "malicious", 1.0, "analyzer"
            res.part = fs[0][1].name
            res.evidence = []
        if evidence:
            spans = []
            for f, part, canon in fs:
                a, b = span_to_original(canon, f.start, f.end)
                spans.append(Evidence(part=part.name, start=part.start + a, end=part.start + b,
                                      text=item[part.start + a:part.start + b], weight=1.0))
            keep = spans[:max_evidence]
            for e in keep:
                e.weight = round(1.0 / len(keep), 4)
            ev = (keep + res.evidence)[:max_evidence] if not was_malicious or strong \
                else (res.evidence + keep)[:max_evidence]
            total = sum(e.weight for e in ev) or 1.0           # construct and model spans share one total
            for e in ev:
                e.weight = round(e.weight / total, 4)
            res.evidence = ev

    def _fail_closed(self, res: Detection, why: str) -> None:
        """An item past a budget: part of it was not judged, so it is never called benign."""
        res.warnings.append(f"over budget: {why}")
        if self.over_budget == "too_complex":
            res.label = "too_complex"
        else:
            res.label = "malicious"
            res.attack_type = res.attack_type or "too_complex"
        res.attack_types = list(dict.fromkeys([*res.attack_types, "too_complex"]))
        res.score = 1.0 if res.score is None else max(res.score, self.threshold)
        res.stage = res.stage if res.attack_type not in (None, "too_complex") else "budget"

    @staticmethod
    def _evidence(item: str, part, canon, spans, max_evidence: int) -> list[Evidence]:
        """Merge adjacent attributed tokens into spans and map them to the original input."""
        spans = sorted(spans)
        merged: list[list[float]] = []
        for s, e, w in spans:
            if merged and s <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], e)
                merged[-1][2] += w
            else:
                merged.append([s, e, w])
        merged.sort(key=lambda m: -m[2])
        out = []
        for s, e, w in merged[:max_evidence]:
            os_, oe = span_to_original(canon, int(s), int(e))
            a, b = part.start + os_, part.start + oe
            out.append(Evidence(part=part.name, start=a, end=b, text=item[a:b], weight=round(float(w), 4)))
        return out
