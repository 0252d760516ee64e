"""Fit a linear layer over sparse TF-IDF rows with PyTorch: softmax, partial-label or one-vs-rest.

The knowledge mappers have hundreds of classes (≈900 CWE weaknesses, ≈690 ATT&CK techniques) and
10⁵ n-gram features; scikit-learn's multinomial solvers are slow there and cannot learn from
*partial* labels (an NVD row labelled with the category CWE-264 means "one of the weaknesses below
CWE-284"). Here the weight matrix is a dense ``(features, classes)`` tensor, a step is one
``torch.sparse.mm`` of the batch's TF-IDF rows with it (large batches keep the steps few) and a
dense Adam update, and three losses share one loop:

* ``softmax`` / ``partial`` — ``-log Σ_{c∈S} softmax(z)_c`` for a label set ``S`` (one element:
  ordinary cross-entropy);
* ``sigmoid`` — independent per-class binary cross-entropy with the set as the positives (an empty
  set is a real "none" row).

Regularisation is early stopping: the caller scores each epoch on validation (``on_epoch``) and
keeps the best. The result is a dense ``(classes, features)`` matrix and intercepts, which
:meth:`secllm.knowledge.textmodel.SparseLinear.from_dense` prunes and stores for numpy serving.

    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.eye(4)); sets = [[0], [1], [0, 1], [1]]
    >>> w, b, _ = fit_sparse_linear(X, sets, 2, loss="partial", epochs=30, lr=0.3, batch_size=2)
    >>> int(np.argmax(X[0] @ w.T + b)), int(np.argmax(X[1] @ w.T + b))
    (0, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["fit_sparse_linear"]


def fit_sparse_linear(X, sets: Sequence[Sequence[int]], n_classes: int, *, loss: str = "softmax",
                      epochs: int = 10, lr: float = 0.05, batch_size: int = 128, seed: int = 0,
                      sample_weight: Sequence[float] | None = None, pos_weight: float = 1.0,
                      rank: int | None = None,
                      on_epoch: Callable[[int, np.ndarray, np.ndarray], float] | None = None,
                      log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Train; returns ``(coef (classes, features), intercept (classes,), info)``.

    ``info``: ``history`` (per epoch), ``epoch`` (kept) and, with ``rank``, ``factors`` — the kept
    epoch's ``(A (features, rank), B (rank, classes))``.

    ``on_epoch(epoch, coef, intercept) -> score`` (higher is better) picks the epoch kept; without it
    the last epoch is kept.
    """
    import torch

    if loss not in ("softmax", "partial", "sigmoid"):
        raise ValueError(f"loss must be softmax, partial or sigmoid, not {loss!r}")
    X = X.tocsr().astype(np.float32)
    n, n_feat = X.shape
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # a dense (features, classes) matrix and large batches: one sparse × dense product per step and a
    # dense Adam update; measured ~10× cheaper per epoch on one core than EmbeddingBag + SparseAdam
    # (whose per-row coalescing dominated with ~900 classes)
    # rank=r: W = A·B with A (features, r), B (r, classes) — fastText's shape, several times cheaper per
    # step with ~900 classes; the product is what ships (pruned by SparseLinear.from_dense)
    bias = torch.nn.Parameter(torch.zeros(n_classes))
    if rank:
        A = torch.nn.Parameter(torch.randn(n_feat, rank) * (1.0 / np.sqrt(rank)))
        B = torch.nn.Parameter(torch.zeros(rank, n_classes))
        params = [A, B, bias]
    else:
        weight = torch.nn.Parameter(torch.zeros(n_feat, n_classes))
        params = [weight, bias]
    opt = torch.optim.Adam(params, lr=lr)

    def full_weight():
        return (A @ B) if rank else weight
    sw = torch.as_tensor(np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64),
                         dtype=torch.float32)
    history: list[dict[str, float]] = []
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    factors: tuple[np.ndarray, np.ndarray] | None = None
    for ep in range(1, epochs + 1):
        order = rng.permutation(n)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            sub = X[idx].tocoo()
            xb = torch.sparse_coo_tensor(np.vstack([sub.row, sub.col]).astype(np.int64), sub.data,
                                         (len(idx), n_feat), check_invariants=False)
            z = (torch.sparse.mm(xb, A) @ B if rank else torch.sparse.mm(xb, weight)) + bias   # (b, classes)
            mask = torch.zeros_like(z, dtype=torch.bool)
            for r, i in enumerate(idx):
                if len(sets[i]):
                    mask[r, list(sets[i])] = True
            if loss == "sigmoid":
                per = torch.nn.functional.binary_cross_entropy_with_logits(
                    z, mask.float(), reduction="none",
                    pos_weight=torch.full((n_classes,), float(pos_weight))).sum(1)
            else:
                ok = mask.any(1)
                per = torch.logsumexp(z, 1) - torch.logsumexp(z.masked_fill(~mask, float("-inf")), 1)
                per = torch.where(ok, per, torch.zeros_like(per))               # a row without a set: no loss
            w = sw[idx]
            l_ = (per * w).sum() / w.sum()
            opt.zero_grad()
            l_.backward()
            opt.step()
            total += float(l_.detach()) * len(idx)
        with torch.no_grad():
            coef = full_weight().numpy().T.copy()
        b = bias.detach().numpy().copy()
        rec = {"epoch": ep, "loss": total / n}
        if on_epoch is not None:
            score = float(on_epoch(ep, coef, b))
            rec["val"] = score
            if best is None or score > best[0] + 1e-9:
                best = (score, coef, b)
                if rank:
                    factors = (A.detach().numpy().copy(), B.detach().numpy().copy())
        else:
            best = (0.0, coef, b)
            if rank:
                factors = (A.detach().numpy().copy(), B.detach().numpy().copy())
        history.append(rec)
        if log:
            log(f"epoch {ep}: loss {rec['loss']:.4f}" + (f" val {rec['val']:.4f}" if "val" in rec else ""))
    assert best is not None
    chosen = max(history, key=lambda r: r.get("val", 0.0))["epoch"] if on_epoch is not None else epochs
    return best[1], best[2], {"history": history, "epoch": chosen, "factors": factors}


def lowrank_textmodel(vecs, labels: list[str], factors: tuple[np.ndarray, np.ndarray], intercept: np.ndarray,
                      rank: int, keep: float = 1.0, meta: dict[str, Any] | None = None):
    """The shipped form of a factorised fit: a :class:`~secllm.knowledge.textmodel.TextModel` whose
    linear layer is the rank-``rank`` SVD of ``A·B`` in int8, keeping the fraction ``keep`` of the
    features with the largest rows (the others leave the vocabulary too).

    The numpy model is what is scored on validation to choose ``rank`` and ``keep`` (dropping
    features changes each block's L2 norm slightly, so scikit-learn's transform is not the judge).
    """
    from secllm.knowledge.textmodel import LowRankLinear, TextModel, TfidfBlock

    A, B = factors
    lin = LowRankLinear.from_factors(A, B, intercept, rank=rank)
    blocks = [TfidfBlock.from_sklearn(v) for v in vecs]
    if keep < 1.0:
        norms = np.abs(lin.f_q).max(axis=1) * lin.f_scale          # ≈ the row's largest weight
        n_keep = max(1, int(round(keep * len(norms))))
        kept = np.sort(np.argsort(-norms, kind="stable")[:n_keep])
        lin = lin.subset(kept)
        new_blocks, start = [], 0
        for blk in blocks:
            end = start + len(blk.vocab)
            mine = kept[(kept >= start) & (kept < end)] - start
            new_blocks.append(TfidfBlock(blk.analyzer, blk.ngram_range, [blk.vocab[i] for i in mine], blk.idf[mine]))
            start = end
        blocks = new_blocks
    return TextModel(blocks, [1.0] * len(blocks), lin, labels, "softmax",
                     {**(meta or {}), "rank": rank, "keep_features": keep})
