"""One way to batch token sequences: by length, so that padding stays small.

Inference (detectors, ONNX, profiles), fine-tuning and pretraining all group sequences with
:func:`length_batches` and pad them with :func:`pad_batch`; training passes an ``rng`` so the
batches are shuffled (lengths still sorted within windows of ``window`` items).

    >>> length_batches([5, 1, 3, 2], batch_tokens=6)
    [[1, 3, 2], [0]]
    >>> pad_batch([[7, 8], [9]], pad_id=0)[0].tolist()
    [[7, 8], [9, 0]]
"""

from __future__ import annotations

import random

import numpy as np


def length_batches(lengths: list[int], batch_tokens: int, rng: random.Random | None = None,
                   window: int = 4000) -> list[list[int]]:
    """Index batches whose padded size (longest × count) stays within ``batch_tokens``.

    Without ``rng``: every index sorted by length (the caller restores input order). With ``rng``
    (training): indices shuffled, sorted by length inside windows of ``window`` indices, and the
    batches shuffled — little padding without making every batch homogeneous in source.
    """
    idx = list(range(len(lengths)))
    if rng is None:
        idx.sort(key=lambda i: lengths[i])
        windows = [idx]
    else:
        rng.shuffle(idx)
        windows = [sorted(idx[w:w + window], key=lambda i: lengths[i]) for w in range(0, len(idx), window)]
    batches: list[list[int]] = []
    for part in windows:
        cur: list[int] = []
        width = 0
        for i in part:
            w2 = max(width, lengths[i])
            if cur and w2 * (len(cur) + 1) > batch_tokens:
                batches.append(cur)
                cur, w2 = [], lengths[i]
            cur.append(i)
            width = w2
        if cur:
            batches.append(cur)
    if rng is not None:
        rng.shuffle(batches)
    return batches


def pad_batch(seqs: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, attention_mask), both ``(b, longest)`` int64, right-padded with ``pad_id``."""
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    att = np.zeros((len(seqs), width), dtype=np.int64)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = s
        att[b, :len(s)] = 1
    return ids, att
