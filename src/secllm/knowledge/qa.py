"""Multiple-choice security questions answered from the knowledge base, without a generative model.

An information-retrieval solver in the manner of Clark et al. (2016, "Combining Retrieval,
Statistics, and Inference to Answer Elementary Science Questions"): each option is scored by how
well the catalogues support it, and the best-supported option wins. Per option ``o`` of question ``q``:

- ``bm25``: the best BM25 score of the words of ``o`` among the 50 catalogue passages that BM25
  finds for ``q`` (passages: every search document plus CWE mitigations, consequences, detection
  methods and observed examples, ATT&CK procedure examples and detection analytics — ~27,000);
- ``dense``: the best cosine between ``o`` and the entries retrieved for ``q`` (multilingual-e5);
- ``qsim``: the cosine between ``q`` and ``o`` (how on-topic the option is; no catalogue involved).

Features are standardised across the options of one question and mixed with weights chosen on a
development split (``benchmarks/knowledge.py``). Multi-answer questions (SecEval) choose every
option within ``delta`` of the best mixed score (at least one). Every answer cites the passages
that supported the chosen options.

    >>> qa = McqAnswerer(KnowledgeBase())                                          # doctest: +SKIP
    >>> a = qa.answer("Which technique dumps LSASS memory?", ["Phishing", "LSASS Memory", "DCSync", "Ping"])  # doctest: +SKIP
    >>> a.choices, a.citations[0]["entry"]                                         # doctest: +SKIP
    (['B'], 'T1003.001')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from secllm.knowledge.attack import load_attack
from secllm.knowledge.cwe import load_cwe
from secllm.knowledge.search import Bm25, Doc, KnowledgeBase, tokenize

__all__ = ["Passage", "McqAnswerer", "Answer", "FEATURES", "build_passages", "mix"]

FEATURES = ("bm25", "dense", "qsim")
LETTERS = "ABCDEFGH"
DENSE_TOP = 30                 # entries retrieved for a question, among which options look for support
BM25_TOP = 50                  # passages retrieved for a question, ditto


@dataclass(frozen=True)
class Passage:
    id: str                    # the entry's id, plus "#..." for a part of it (CWE-89#mitigation-2)
    entry: str                 # the catalogue entry it belongs to (CWE-89, T1003.001, DET0080)
    text: str
    url: str


def build_passages(docs: Sequence[Doc]) -> list[Passage]:
    """Search documents plus the longer texts the catalogues carry about them."""
    att, cwe = load_attack(), load_cwe()
    out = [Passage(d.id, d.id, f"{d.name}. {' '.join(d.aliases)} {d.description}", d.url) for d in docs]
    for w in cwe.weaknesses.values():
        if w.deprecated:
            continue
        for i, m in enumerate(w.mitigations, 1):
            out.append(Passage(f"{w.id}#mitigation-{i}", w.id,
                               f"{w.name} mitigation ({m.strategy or ', '.join(m.phases)}): {m.description}",
                               f"{w.url}#Potential_Mitigations"))
        for i, c in enumerate(w.consequences, 1):
            if c.note:
                out.append(Passage(f"{w.id}#consequence-{i}", w.id,
                                   f"{w.name} consequence {', '.join(c.scopes)}: {', '.join(c.impacts)}. {c.note}",
                                   f"{w.url}#Common_Consequences"))
        for i, dm in enumerate(w.detection_methods, 1):
            out.append(Passage(f"{w.id}#detection-{i}", w.id, f"{w.name} detection ({dm.method}): {dm.description}",
                               f"{w.url}#Detection_Methods"))
        for o in w.observed_examples:
            out.append(Passage(f"{w.id}#{o.cve}", w.id, f"{w.name}: {o.description}", o.link or w.url))
    for k, p in enumerate(att.procedures):
        t = att.techniques.get(p.technique)
        if t is not None and t.active:
            out.append(Passage(f"{p.technique}#{p.source_id}", p.technique, f"{t.full_name}: {p.text}", t.url))
    for s in att.detection_strategies.values():
        for a in s.analytics:
            an = att.analytics.get(a)
            if an is not None and s.techniques:
                out.append(Passage(f"{s.id}/{a}", s.techniques[0], f"{s.name}: {an.description}", an.url or s.url))
    return out


@dataclass
class Answer:
    choices: list[str]                              # letters, e.g. ["B"] or ["A", "C"]
    scores: list[float]                             # mixed score per option
    features: list[dict[str, float]]                # raw (unstandardised) features per option
    citations: list[dict] = field(default_factory=list)   # passages that supported the chosen options

    def to_json(self) -> dict:
        return {"choices": self.choices, "scores": [round(s, 4) for s in self.scores],
                "features": [{k: round(v, 4) for k, v in f.items()} for f in self.features],
                "citations": self.citations}


def _z(x: np.ndarray) -> np.ndarray:
    """Standardise across the options of one question (all equal → zeros)."""
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def mix(feats: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Mixed option scores: ``Σ_f w_f · z_f`` with ``z`` standardised within the question.

        >>> mix(np.array([[1.0, 0.2, 0.0], [3.0, 0.2, 0.0]]), [1, 1, 1]).round(2).tolist()
        [-1.0, 1.0]
    """
    z = np.stack([_z(feats[:, j]) for j in range(feats.shape[1])], axis=1)     # (n_options, n_features)
    return z @ np.asarray(weights, dtype=np.float64)


def pick(scores: np.ndarray, delta: float | None) -> list[int]:
    """Single answer (``delta`` None): the best option; multi-answer: every option within ``delta`` of it."""
    best = int(np.argmax(scores))
    if delta is None:
        return [best]
    return [i for i in range(len(scores)) if scores[i] >= scores[best] - delta]


class McqAnswerer:
    """Scores the options of multiple-choice questions against the knowledge base."""

    def __init__(self, kb: KnowledgeBase, passages: Sequence[Passage] | None = None):
        self.kb = kb
        self.passages = list(passages) if passages is not None else build_passages(kb.docs)
        self.bm25 = Bm25([Doc(p.id, "passage", "", p.text, p.url) for p in self.passages])

    def embed(self, question: str, options: Sequence[str]) -> np.ndarray | None:
        """``(1 + n_options, dim)`` query embeddings of the question and its options (None without an encoder)."""
        enc = self.kb.encoder
        return None if enc is None else enc.query([question, *options])

    def features(self, question: str, options: Sequence[str], vecs: np.ndarray | None = None,
                 ) -> tuple[np.ndarray, list[dict]]:
        """``(n_options, 3)`` raw features (``FEATURES`` order) and, per option, its best passages.
        ``vecs``: ``embed(question, options)`` when computed beforehand."""
        n = len(options)
        feats = np.zeros((n, len(FEATURES)), dtype=np.float64)
        support: list[dict] = [{} for _ in range(n)]
        sq = self.bm25.scores(tokenize(question))
        evidence = np.argsort(-sq, kind="stable")[:BM25_TOP]            # the question's passages
        evidence = evidence[sq[evidence] > 0]
        for i, o in enumerate(options):
            so = self.bm25.scores(tokenize(o))[evidence]                  # the option's words in them
            if len(so) and so.max() > 0:
                k = int(np.argmax(so))
                feats[i, 0] = float(so[k])
                p = self.passages[int(evidence[k])]
                support[i]["bm25"] = {"id": p.id, "entry": p.entry, "url": p.url, "score": round(float(so[k]), 3)}
        if vecs is None:
            vecs = self.embed(question, options)                        # (1 + n, dim)
        if vecs is not None:
            self.kb.build_index()
            emb = self.kb._emb                                          # (n_docs, dim)
            qv, ov = vecs[0], vecs[1:]
            sims = emb @ qv
            top = np.argpartition(-sims, DENSE_TOP)[:DENSE_TOP] if len(sims) > DENSE_TOP else np.arange(len(sims))
            sup = ov @ emb[top].T                                       # (n, DENSE_TOP)
            for i in range(n):
                k = int(np.argmax(sup[i]))
                feats[i, 1] = float(sup[i, k])
                d = self.kb.docs[int(top[k])]
                support[i]["dense"] = {"id": d.id, "entry": d.id, "url": d.url, "score": round(float(sup[i, k]), 3)}
            feats[:, 2] = ov @ qv
        return feats, support

    def answer(self, question: str, options: Sequence[str], weights: Sequence[float] = (1.0, 1.0, 0.0),
               delta: float | None = None) -> Answer:
        """The best-supported option(s), with the passages that supported them."""
        feats, support = self.features(question, options)
        return self.decide(feats, support, weights, delta)

    @staticmethod
    def decide(feats: np.ndarray, support: list[dict], weights: Sequence[float], delta: float | None) -> Answer:
        scores = mix(feats, weights)
        chosen = pick(scores, delta)
        cites: list[dict] = []
        seen = set()
        for i in chosen:
            for how in ("bm25", "dense"):
                c = support[i].get(how)
                if c and c["id"] not in seen:
                    seen.add(c["id"])
                    cites.append({**c, "option": LETTERS[i], "retriever": how})
        return Answer([LETTERS[i] for i in chosen], scores.tolist(),
                      [dict(zip(FEATURES, f.tolist())) for f in feats], cites)
