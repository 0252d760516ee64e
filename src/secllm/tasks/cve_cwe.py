"""CVE description → CWE: data, year split, label views and training of the shipped mapper.

Data (``shared/datasets/cve_cwe_cvedetails``: 18,133 NVD descriptions with one CWE each, published
1999–2005, 2010–2013 and January 2022) plus what the CWE catalogue itself says (``cwe2``, 4.14):
the CVEs it cites as observed examples (CVE id + a one-line description) and every weakness's
name, description and extended description.

Split by publication date, so that everything tested is newer than everything trained on:

* **train**: published ≤ 2012 (+ the CWE catalogue's observed examples and weakness texts);
* **val**: published 2013, and January 2022 up to the 12th (``2022-dev``);
* **test**: published 2022-01-13 and later (read once, by the report).

The shipped model is fitted on train only; its epoch and compaction were chosen on the whole
validation split (88% of it is 2013 — see docs/knowledge.md for what that costs on 2022 CVEs).
An observed example whose CVE id is a test CVE, or whose text equals a test description, is
dropped (and counted): CWE 4.14 cites CVEs of 2021–2022 too; one that is a validation CVE is kept
out of train as well (``_refit_extra``, for a later refit on train + val).

Labels. NVD used CWE *categories* until ~2016 (CWE-264, -399, -189, -16, -255, -310 ...); today it
assigns weaknesses (CWE-787, -416, -862 ...). Three views of one prediction against one gold id:

* **raw** — the ids as written;
* **mapped** — both sides through :meth:`CweCatalog.nearest_weakness` (a category → one weakness);
* **covered** — right when the predicted weakness is one the gold id stands for
  (:func:`label_set`: a category's member weaknesses and the weaknesses its mapping notes point to,
  with their descendants; a weakness → itself).

The model is trained on today's ids: a row labelled with a category (or, as an option, with a
weakness CWE marks "Discouraged" such as CWE-119) is a *partial label*: the loss is
``-log Σ_{c ∈ label_set(y)} p(c)``, so the finer labelled rows (observed examples, 2013, 2022) decide
which member a description means.

    >>> split_of("2012-12-31"), split_of("2013-03-01"), split_of("2022-01-12"), split_of("2022-01-13")
    ('train', 'val', 'val', 'test')
"""

from __future__ import annotations

import csv
import gzip
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["CveRow", "load_rows", "split_of", "load_splits", "label_set", "mapped", "catalog_rows",
           "DEV_2022_LAST_DAY"]

DATA_FILE = Path("cve_cwe_cvedetails") / "cve_cwe.csv.gz"
DEV_2022_LAST_DAY = "2022-01-12"


@dataclass(frozen=True)
class CveRow:
    id: str              # CVE-2013-0001, or "CWE-89:desc" for a catalogue text
    text: str
    cwe: str             # the gold id as written (CWE-264 ...)
    published: str       # YYYY-MM-DD ("" for catalogue rows)
    source: str          # nvd / observed / cwe-text
    split: str = "train"


def split_of(published: str) -> str:
    """The split of an NVD row from its publication date (see the module docstring)."""
    if published[:4] <= "2012":
        return "train"
    if published[:4] == "2013" or published <= DEV_2022_LAST_DAY:
        return "val"
    return "test"


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def load_rows(root: str | Path) -> list[CveRow]:
    """The NVD rows of the shared dataset, with their split."""
    path = Path(root) / DATA_FILE
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [CveRow(r["cve_id"], " ".join(r["summary"].split()), r["cwe_id"], r["published"], "nvd",
                       split_of(r["published"])) for r in csv.DictReader(f)]


def catalog_rows(cwe, exclude_ids: set[str], exclude_texts: set[str]) -> tuple[list[CveRow], dict[str, int]]:
    """Training rows from the catalogue: observed examples and weakness texts (active weaknesses).

    Observed examples whose CVE id is in ``exclude_ids`` or whose normalised text is in
    ``exclude_texts`` are dropped and counted.
    """
    rows: list[CveRow] = []
    dropped: Counter = Counter()
    seen: set[tuple[str, str]] = set()
    for w in cwe.weaknesses.values():
        if w.deprecated:
            continue
        for o in w.observed_examples:
            text = " ".join(o.description.split())
            if not text:
                continue
            if o.cve.upper() in exclude_ids:
                dropped["observed_test_cve"] += 1
                continue
            if _norm(text) in exclude_texts:
                dropped["observed_test_text"] += 1
                continue
            if (w.id, text) in seen:
                continue
            seen.add((w.id, text))
            rows.append(CveRow(o.cve.upper(), text, w.id, "", "observed"))
        body = " ".join(f"{w.name}. {w.description} {w.extended_description}".split())
        rows.append(CveRow(f"{w.id}:text", body[:2000], w.id, "", "cwe-text"))
    return rows, dict(dropped)


def load_splits(root: str | Path, cwe=None) -> dict[str, Any]:
    """``{"train", "val", "test"}`` → rows, plus ``"_info"`` (counts, dropped overlaps)."""
    if cwe is None:
        from secllm.knowledge import load_cwe

        cwe = load_cwe()
    nvd = load_rows(root)
    out: dict[str, list[CveRow]] = {"train": [], "val": [], "test": []}
    for r in nvd:
        out[r.split].append(r)
    test_ids = {r.id for r in out["test"]}
    test_texts = {_norm(r.text) for r in out["test"]}
    # the validation CVEs must not be trained on either while choices are made on them
    val_ids = {r.id for r in out["val"]}
    val_texts = {_norm(r.text) for r in out["val"]}
    cat, dropped = catalog_rows(cwe, test_ids, test_texts)
    in_val = [r for r in cat if r.source == "observed" and (r.id in val_ids or _norm(r.text) in val_texts)]
    dropped["observed_val_overlap_kept_out_of_train_until_refit"] = len(in_val)
    val_overlap = set(map(id, in_val))
    out["train"] += [r for r in cat if id(r) not in val_overlap]
    out["_refit_extra"] = in_val            # rows allowed back in when train + val are refitted
    info = {"counts": {k: len(v) for k, v in out.items() if not k.startswith("_")},
            "sources": {k: dict(Counter(r.source for r in v)) for k, v in out.items() if not k.startswith("_")},
            "val_parts": dict(Counter("2022-dev" if r.published.startswith("2022") else "2013" for r in out["val"])),
            "dropped": dropped, "catalog_version": cwe.version,
            "split_rule": f"NVD published ≤2012 train; 2013 and 2022-01-01..{DEV_2022_LAST_DAY} val; "
                          "2022-01-13.. test; CWE observed examples + weakness texts train (test CVE ids/texts dropped)"}
    out["_info"] = info
    return out


# ---------------------------------------------------------------------------------------------
# label views
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _descendants(cwe_id: str) -> frozenset[str]:
    from secllm.knowledge import load_cwe

    cwe = load_cwe()
    out, stack = set(), [cwe_id]
    while stack:
        k = stack.pop()
        if k in out or k not in cwe.weaknesses:
            continue
        out.add(k)
        stack.extend(cwe.weaknesses[k].children)
    return frozenset(x for x in out if not cwe.weaknesses[x].deprecated)


@lru_cache(maxsize=None)
def label_set(cwe_id: str, discouraged: bool = False) -> frozenset[str]:
    """The active weaknesses a gold id stands for (see the module docstring).

    A category: its member weaknesses and the weaknesses its mapping notes name, each with its
    descendants (CWE-264 → CWE-284 and everything below it). An active weakness: itself, or with
    ``discouraged=True`` and CWE marking it Discouraged (CWE-119, CWE-20 ...), itself and its
    descendants. A deprecated weakness: what it points to.
    """
    from secllm.knowledge import load_cwe

    cwe = load_cwe()
    w = cwe.weaknesses.get(cwe_id)
    if w is not None and not w.deprecated:
        if discouraged and (w.mapping_usage or "").startswith("Discouraged"):
            return _descendants(cwe_id)
        return frozenset({cwe_id})
    roots: list[str] = []
    cat = cwe.categories.get(cwe_id)
    if cat is not None:
        roots += cwe.member_weaknesses(cwe_id)
        roots += [f"CWE-{n}" for n in re.findall(r"CWE-(\d+)", cat.mapping_comment)]
    if not roots:
        near = cwe.nearest_weakness(cwe_id)
        roots = [near] if near else []
    out: set[str] = set()
    for r in roots:
        out |= _descendants(r)
    return frozenset(out)


def mapped(cwe_id: str) -> str:
    """The mapped view of one id: ``nearest_weakness`` (itself when already an active weakness)."""
    from secllm.knowledge import load_cwe

    return load_cwe().nearest_weakness(cwe_id) or cwe_id


# ---------------------------------------------------------------------------------------------
# features, fitting, evaluation
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipe:
    """How the mapper is fitted (chosen on validation; saved with the model)."""

    word_max: int = 25_000            # word 1–2-gram TF-IDF features (min_df 2)
    char_max: int = 25_000            # char_wb 3–5-gram TF-IDF features (min_df 3)
    discouraged_partial: bool = False  # rows labelled CWE-119/-20/... also count as partial labels
    text_weight: float = 0.3          # weight of a weakness's own catalogue text as a training row
    epochs: int = 8
    lr: float = 0.005
    batch_size: int = 1024
    rank: int | None = 128             # W = A·B during training (fastText's shape); the product ships
    keep: float = 0.05                # fraction of the largest weights kept when shipping (if per_class is None)
    per_class: int | None = 300       # or: the largest weights kept per class (chosen on validation)


def vectorizers(texts: list[str], recipe: Recipe):
    from sklearn.feature_extraction.text import TfidfVectorizer
    import numpy as np

    wv = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=recipe.word_max,
                         dtype=np.float32)
    cv = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=3, sublinear_tf=True,
                         max_features=recipe.char_max, dtype=np.float32)
    wv.fit(texts)
    cv.fit(texts)
    return [wv, cv]


def transform(vecs, texts: list[str]):
    import scipy.sparse as sp

    return sp.hstack([v.transform(texts) for v in vecs]).tocsr()


def label_space(rows: list[CveRow], recipe: Recipe) -> list[str]:
    from secllm.knowledge import load_cwe

    cwe = load_cwe()
    labs = set()
    for r in rows:
        labs |= label_set(r.cwe, recipe.discouraged_partial)
    labs |= {r.cwe for r in rows if r.cwe in cwe.weaknesses and not cwe.weaknesses[r.cwe].deprecated}
    return sorted(labs, key=lambda c: int(c.split("-")[1]))


def fit(train: list[CveRow], recipe: Recipe, *, val: list[CveRow] | None = None, log=None):
    """Fit one mapper; returns ``(vecs, labels, coef, intercept, history)``.

    With ``val`` the epoch kept is the one with the best top-1 (covered view) on validation.
    """
    import numpy as np

    from secllm.tasks.sparse_linear import fit_sparse_linear

    vecs = vectorizers([r.text for r in train], recipe)
    X = transform(vecs, [r.text for r in train])
    labels = label_space(train, recipe)
    li = {c: i for i, c in enumerate(labels)}
    sets = [[li[c] for c in label_set(r.cwe, recipe.discouraged_partial) if c in li] for r in train]
    sw = [recipe.text_weight if r.source == "cwe-text" else 1.0 for r in train]
    on_epoch = None
    if val:
        Xv = transform(vecs, [r.text for r in val])
        gold = [r.cwe for r in val]

        def on_epoch(ep, W, b):
            top = np.argmax(Xv @ W.T + b, axis=1)
            return float(np.mean([labels[i] in label_set(g) for i, g in zip(top, gold)]))
    coef, intercept, hist = fit_sparse_linear(X, sets, len(labels), loss="partial", epochs=recipe.epochs,
                                              lr=recipe.lr, batch_size=recipe.batch_size, rank=recipe.rank,
                                              sample_weight=sw, on_epoch=on_epoch, log=log)
    return vecs, labels, coef, intercept, hist


def to_textmodel(vecs, labels, coef, intercept, recipe: Recipe, meta: dict | None = None):
    from dataclasses import asdict

    from secllm.knowledge.textmodel import SparseLinear, TextModel, TfidfBlock

    lin = SparseLinear.from_dense(coef, intercept, keep=recipe.keep, per_class=recipe.per_class)
    return TextModel([TfidfBlock.from_sklearn(v) for v in vecs], [1.0] * len(vecs), lin, labels, "softmax",
                     {"recipe": asdict(recipe), **(meta or {})})


def scores_of(pred_top: list[list[str]], rows: list[CveRow]) -> dict[str, Any]:
    """Top-1/top-3 accuracy and macro-F1 in the raw, mapped and covered views, with bootstrap CIs."""
    import numpy as np

    from secllm.eval.metrics import bootstrap_ci

    gold = [r.cwe for r in rows]
    out: dict[str, Any] = {"n": len(rows)}
    views = {
        "raw": (lambda p, g: p == g, lambda x: x),
        "mapped": (lambda p, g: mapped(p) == mapped(g), mapped),
        "covered": (lambda p, g: p == g or p in label_set(g), None),
    }
    for name, (hit, norm) in views.items():
        h1 = np.array([hit(p[0], g) if p else False for p, g in zip(pred_top, gold)], dtype=float)
        h3 = np.array([any(hit(x, g) for x in p[:3]) for p, g in zip(pred_top, gold)], dtype=float)
        ci = bootstrap_ci(lambda a, b: float(np.mean(b)), h1, h1, n=1000, seed=0)
        v = {"top1": round(float(h1.mean()), 4), "top1_ci": [round(ci["low"], 4), round(ci["high"], 4)],
             "top3": round(float(h3.mean()), 4)}
        if norm is not None:
            from sklearn.metrics import f1_score

            yt = [norm(g) for g in gold]
            yp = [norm(p[0]) if p else "" for p in pred_top]
            v["macro_f1"] = round(float(f1_score(yt, yp, labels=sorted(set(yt)), average="macro", zero_division=0)), 4)
            codes = {c: i for i, c in enumerate(sorted(set(yt) | set(yp)))}
            a, b = np.array([codes[x] for x in yt]), np.array([codes[x] for x in yp])
            labs = sorted(codes[x] for x in set(yt))
            mci = bootstrap_ci(lambda t, p_: float(f1_score(t, p_, labels=labs, average="macro", zero_division=0)),
                               a, b, n=300, seed=0)
            v["macro_f1_ci"] = [round(mci["low"], 4), round(mci["high"], 4)]
        out[name] = v
    return out
