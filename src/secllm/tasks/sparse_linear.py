"""Fit a linear layer over sparse TF-IDF rows with PyTorch: softmax, partial-label or one-vs-rest.

The knowledge mappers have hundreds of classes (≈900 CWE weaknesses, ≈690 ATT&CK techniques) and
10⁵ n-gram features; scikit-learn's multinomial solvers are slow there and cannot learn from
*partial* labels (an NVD row labelled with the category CWE-264 means "one of the weaknesses below
CWE-284"). Here the weight matrix is an ``EmbeddingBag(features, classes, mode="sum")`` whose
``per_sample_weights`` are the TF-IDF values, so a step touches only the rows of the features
present (sparse gradients, ``SparseAdam``), and three losses share one loop:

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
                      on_epoch: Callable[[int, np.ndarray, np.ndarray], float] | None = None,
                      log: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Train; returns ``(coef (classes, features), intercept (classes,), history)``.

    ``on_epoch(epoch, coef, intercept) -> score`` (higher is better) picks the epoch kept; without it
    the last epoch is kept.
    """
    import torch

    if loss not in ("softmax", "partial", "sigmoid"):
        raise ValueError(f"loss must be softmax, partial or sigmoid, not {loss!r}")
    X = X.tocsr()
    n, n_feat = X.shape
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    emb = torch.nn.EmbeddingBag(n_feat, n_classes, mode="sum", sparse=True)
    torch.nn.init.zeros_(emb.weight)
    bias = torch.nn.Parameter(torch.zeros(n_classes))
    opt_s = torch.optim.SparseAdam(list(emb.parameters()), lr=lr)
    opt_d = torch.optim.Adam([bias], lr=lr)
    sw = torch.as_tensor(np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64),
                         dtype=torch.float32)
    history: list[dict[str, float]] = []
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for ep in range(1, epochs + 1):
        order = rng.permutation(n)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            sub = X[idx]
            inp = torch.as_tensor(sub.indices, dtype=torch.long)
            off = torch.as_tensor(sub.indptr[:-1], dtype=torch.long)
            psw = torch.as_tensor(sub.data, dtype=torch.float32)
            z = emb(inp, off, per_sample_weights=psw) + bias                    # (b, classes)
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
            opt_s.zero_grad()
            opt_d.zero_grad()
            l_.backward()
            opt_s.step()
            opt_d.step()
            total += float(l_) * len(idx)
        coef = emb.weight.detach().numpy().T.copy()
        b = bias.detach().numpy().copy()
        rec = {"epoch": ep, "loss": total / n}
        if on_epoch is not None:
            score = float(on_epoch(ep, coef, b))
            rec["val"] = score
            if best is None or score > best[0] + 1e-9:
                best = (score, coef, b)
        else:
            best = (0.0, coef, b)
        history.append(rec)
        if log:
            log(f"epoch {ep}: loss {rec['loss']:.4f}" + (f" val {rec['val']:.4f}" if "val" in rec else ""))
    assert best is not None
    chosen = max(history, key=lambda r: r.get("val", 0.0))["epoch"] if on_epoch is not None else epochs
    return best[1], best[2], {"history": history, "epoch": chosen}
