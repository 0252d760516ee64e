"""Deterministic, leakage-aware train/val/test splits and a manifest to verify them.

Every function returns one split name per input index (``"train"``, ``"val"`` or ``"test"``),
so callers can split any parallel lists (texts, labels, records) the same way. The same inputs
and seed always give the same assignment, on any machine (numpy ``RandomState`` is frozen).

Example::

    >>> texts = ["a", "b", "a", "c", "d"]
    >>> dedupe(texts)
    ['a', 'b', 'c', 'd']
    >>> stratified_split(["x", "x", "y", "y"], fractions=(0.5, 0.0, 0.5), seed=0)
    ['test', 'train', 'test', 'train']
    >>> check_disjoint(["a", "b"], ["b", "c"])
    {'b'}
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "SPLITS",
    "stable_hash",
    "dedupe",
    "stratified_split",
    "group_split",
    "time_split",
    "check_disjoint",
    "split_manifest",
    "label_report",
]

SPLITS = ("train", "val", "test")

_log = logging.getLogger(__name__)
T = TypeVar("T")


def stable_hash(text: str) -> str:
    """SHA-256 hex digest of the UTF-8 text (stable across runs, unlike ``hash()``).

    Lone surrogates are encoded with ``surrogatepass`` so that any ``str`` hashes.

    Example::

        >>> stable_hash("abc")[:16]
        'ba7816bf8f01cfea'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def dedupe(items: Iterable[T], key: Callable[[T], Hashable] = lambda x: x) -> list[T]:
    """Keep the first occurrence of each ``key(item)``, preserving order.

    Example::

        >>> dedupe(["B", "a", "b", "A"], key=str.lower)
        ['B', 'a']
    """
    seen: set[Hashable] = set()
    out: list[T] = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (train, val, test), got {tuple(fractions)!r}")
    fr = tuple(float(f) for f in fractions)
    if any(not math.isfinite(f) or f < 0 for f in fr) or sum(fr) <= 0:
        raise ValueError(f"fractions must be finite, non-negative and not all zero, got {fr!r}")
    total = sum(fr)
    # Normalised so (8, 1, 1) means the same as (0.8, 0.1, 0.1).
    return (fr[0] / total, fr[1] / total, fr[2] / total)


def _allocate(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split ``n`` items into three counts that sum to ``n`` and follow ``fractions`` exactly.

    Largest-remainder rounding (ties go to the earlier split), then at least one item in train
    whenever ``n > 0``, taken from the largest other split, so no class is missing from training.

    Example: ``_allocate(10, (0.8, 0.1, 0.1)) == [8, 1, 1]``; ``_allocate(2, ...) == [2, 0, 0]``.
    """
    exact = [n * f for f in fractions]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(3), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    if n > 0 and counts[0] == 0:
        donor = 1 if counts[1] >= counts[2] else 2
        counts[donor] -= 1
        counts[0] += 1
    return counts


def stratified_split(
    labels: Sequence[Hashable], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[str]:
    """Split each label's items by ``fractions`` (exact counts per class, >= 1 item in train).

    Each label's indices are shuffled with a fresh ``np.random.RandomState(seed)``, so a class's
    assignment depends only on the seed and that class's items (adding a new class elsewhere
    leaves it unchanged).

    Example::

        >>> a = stratified_split(["x"] * 10 + ["y"] * 5, seed=1)
        >>> [a[:10].count(s) for s in ("train", "val", "test")], [a[10:].count(s) for s in ("train", "val", "test")]
        ([8, 1, 1], [4, 1, 0])
    """
    fr = _check_fractions(fractions)
    by_label: dict[Hashable, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    out = [""] * len(labels)
    for indices in by_label.values():
        n_train, n_val, _ = _allocate(len(indices), fr)
        perm = np.random.RandomState(seed).permutation(len(indices))
        for rank, p in enumerate(perm):
            out[indices[p]] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return out


def group_split(
    groups: Sequence[Hashable | None],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    labels: Sequence[Hashable] | None = None,
) -> list[str]:
    """Split so that every item of a group lands on the same side (no domain/session/file leaks).

    Groups (in first-appearance order) are shuffled with ``np.random.RandomState(seed)`` and
    assigned one by one to the split whose item count is furthest below its target
    (``fraction * total items``); splits with fraction 0 get nothing. An item whose group is
    ``None`` is its own group. ``labels``, when given, are only used to log per-split label counts
    (see :func:`label_report`) and a warning for labels that miss a split.

    Example::

        >>> group_split(["a", "a", "b", "c", "c", "c"], fractions=(0.5, 0.0, 0.5), seed=0)
        ['test', 'test', 'test', 'train', 'train', 'train']
    """
    fr = _check_fractions(fractions)
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(("item", i) if g is None else ("group", g), []).append(i)
    keys = list(members)
    order = np.random.RandomState(seed).permutation(len(keys))
    targets = [f * len(groups) for f in fr]
    sizes = [0, 0, 0]
    out = [""] * len(groups)
    for k in order:
        idx = members[keys[k]]
        # Largest remaining deficit; ties go to the earlier split (train first).
        best = max((s for s in range(3) if fr[s] > 0), key=lambda s: (targets[s] - sizes[s], -s))
        sizes[best] += len(idx)
        for i in idx:
            out[i] = SPLITS[best]
    if labels is not None:
        report = label_report(out, labels)
        _log.info("group_split label counts: %s", report)
        for label in report.get("train", {}):
            missing = [s for s in SPLITS[1:] if fr[SPLITS.index(s)] > 0 and label not in report.get(s, {})]
            if missing:
                _log.warning("group_split: label %r has no items in %s", label, ", ".join(missing))
    return out


def time_split(times: Sequence[float], fractions: Sequence[float] = (0.7, 0.0, 0.3)) -> list[str]:
    """Chronological split: the earliest items train, the latest test (no training on the future).

    Ties keep input order (stable sort), so equal timestamps split deterministically. Counts follow
    ``fractions`` exactly as in :func:`stratified_split`. Raises ``ValueError`` for a missing or
    NaN time, since such an item cannot be placed in time.

    Example::

        >>> time_split([5.0, 1.0, 3.0, 2.0], fractions=(0.5, 0.0, 0.5))
        ['test', 'train', 'test', 'train']
    """
    fr = _check_fractions(fractions)
    values: list[float] = []
    for i, t in enumerate(times):
        value = math.nan if t is None else float(t)
        if math.isnan(value):
            raise ValueError(f"time_split: item {i} has no time ({t!r})")
        values.append(value)
    n_train, n_val, _ = _allocate(len(values), fr)
    out = [""] * len(values)
    for rank, i in enumerate(sorted(range(len(values)), key=values.__getitem__)):
        out[i] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return out


def check_disjoint(a_texts: Iterable[str], b_texts: Iterable[str]) -> set[str]:
    """Texts present on both sides (empty set = no exact-duplicate leakage).

    Example::

        >>> check_disjoint(["x", "y"], ["z"])
        set()
    """
    return set(a_texts) & set(b_texts)


def label_report(assignment: Sequence[str], labels: Sequence[Hashable]) -> dict[str, dict[Any, int]]:
    """Count labels per split: ``{split: {label: count}}``.

    Example::

        >>> label_report(["train", "test", "train"], ["a", "a", "b"])
        {'train': {'a': 1, 'b': 1}, 'test': {'a': 1}}
    """
    if len(assignment) != len(labels):
        raise ValueError(f"{len(assignment)} assignments for {len(labels)} labels")
    report: dict[str, dict[Any, int]] = {}
    for split, label in zip(assignment, labels):
        counts = report.setdefault(split, {})
        counts[label] = counts.get(label, 0) + 1
    return report


def split_manifest(texts: Sequence[str], assignment: Sequence[str]) -> dict[str, Any]:
    """Counts and a content fingerprint per split, to store next to a dataset and verify later.

    A split's ``sha256`` hashes the sorted :func:`stable_hash` of its rows (one per line), so it
    depends on which texts are in the split, not on their order. The three standard splits are
    always present (count 0 when empty); any other split name that appears is added.

    Example::

        >>> m = split_manifest(["a", "b", "c"], ["train", "train", "test"])
        >>> m["total"], m["splits"]["train"]["count"], m["splits"]["val"]["count"]
        (3, 2, 0)
        >>> m == split_manifest(["b", "a", "c"], ["train", "train", "test"])
        True
    """
    if len(texts) != len(assignment):
        raise ValueError(f"{len(assignment)} assignments for {len(texts)} texts")
    rows: dict[str, list[str]] = {s: [] for s in SPLITS}
    for text, split in zip(texts, assignment):
        rows.setdefault(split, []).append(stable_hash(text))
    splits = {}
    for name, hashes in rows.items():
        digest = hashlib.sha256("\n".join(sorted(hashes)).encode("ascii")).hexdigest()
        splits[name] = {"count": len(hashes), "sha256": digest}
    return {"total": len(texts), "hash": "sha256(sorted sha256(utf-8 text), newline-joined)", "splits": splits}
