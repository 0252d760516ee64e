"""Tests for secllm.data.split: determinism, exact fractions, groups, time order, leakage."""

from __future__ import annotations

import hashlib
import logging
import random

import pytest

from secllm.data.split import (
    check_disjoint,
    dedupe,
    group_split,
    label_report,
    split_manifest,
    stable_hash,
    stratified_split,
    time_split,
)


def test_stable_hash() -> None:
    assert stable_hash("abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(stable_hash("\ud800 lone surrogate")) == 64  # never raises


def test_dedupe_keeps_first_in_order() -> None:
    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert dedupe([("x", 1), ("y", 2), ("x", 3)], key=lambda r: r[0]) == [("x", 1), ("y", 2)]
    assert dedupe([]) == []


def test_stratified_deterministic_and_exact() -> None:
    labels = ["benign"] * 100 + ["sqli"] * 30 + ["xss"] * 10 + ["rare"]
    a = stratified_split(labels, seed=7)
    assert a == stratified_split(labels, seed=7)
    assert a != stratified_split(labels, seed=8)
    report = label_report(a, labels)
    assert [report.get(s, {}).get("benign", 0) for s in ("train", "val", "test")] == [80, 10, 10]
    assert [report.get(s, {}).get("sqli", 0) for s in ("train", "val", "test")] == [24, 3, 3]
    assert [report.get(s, {}).get("xss", 0) for s in ("train", "val", "test")] == [8, 1, 1]
    assert report["train"]["rare"] == 1  # a singleton class still reaches train
    assert set(a) <= {"train", "val", "test"}


def test_stratified_fraction_validation() -> None:
    assert stratified_split(["a"] * 10, fractions=(8, 1, 1)) == stratified_split(["a"] * 10)
    with pytest.raises(ValueError):
        stratified_split(["a"], fractions=(0.5, 0.5))
    with pytest.raises(ValueError):
        stratified_split(["a"], fractions=(1.0, -0.1, 0.1))
    assert stratified_split([]) == []


def test_group_split_keeps_groups_whole() -> None:
    rng = random.Random(0)
    groups = [f"domain{rng.randrange(40)}" for _ in range(500)] + [None] * 20
    a = group_split(groups, seed=3)
    assert a == group_split(groups, seed=3)
    side: dict[str, str] = {}
    for g, s in zip(groups, a):
        if g is not None:
            assert side.setdefault(g, s) == s, f"group {g} on two sides"
    counts = {s: a.count(s) for s in ("train", "val", "test")}
    assert abs(counts["train"] - 0.8 * len(groups)) < 0.1 * len(groups)
    assert counts["val"] > 0 and counts["test"] > 0


def test_group_split_zero_fraction_and_labels(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="secllm.data.split")
    groups = ["a", "a", "b", "c", "c", "c", "d"]
    labels = ["x", "x", "y", "x", "x", "x", "y"]
    a = group_split(groups, fractions=(0.5, 0.0, 0.5), seed=0, labels=labels)
    assert "val" not in a
    assert len(set(zip(groups, a))) == len(set(groups))
    assert a == group_split(groups, fractions=(0.5, 0.0, 0.5), seed=0)  # labels never change the split
    assert any("label counts" in r.getMessage() for r in caplog.records)


def test_time_split_chronological() -> None:
    times = [5.0, 1.0, 3.0, 2.0, 4.0, 3.0, 0.0, 6.0, 7.0, 8.0]
    a = time_split(times)
    train = [t for t, s in zip(times, a) if s == "train"]
    test = [t for t, s in zip(times, a) if s == "test"]
    assert len(train) == 7 and len(test) == 3
    assert max(train) <= min(test)
    # Ties are stable: of two equal times the earlier index goes first.
    b = time_split([1.0, 1.0, 1.0, 1.0], fractions=(0.5, 0.0, 0.5))
    assert b == ["train", "train", "test", "test"]
    with pytest.raises(ValueError):
        time_split([1.0, None])  # type: ignore[list-item]


def test_check_disjoint() -> None:
    assert check_disjoint(["a", "b"], ["b", "c"]) == {"b"}
    assert check_disjoint([], ["x"]) == set()


def test_no_leakage_after_dedupe_and_split() -> None:
    rng = random.Random(0)
    rows = [(f"payload {rng.randrange(60)}", rng.choice(["benign", "attack"])) for _ in range(300)]
    rows = dedupe(rows, key=lambda r: r[0])
    texts = [t for t, _ in rows]
    a = stratified_split([lab for _, lab in rows], seed=0)
    by = {s: [t for t, x in zip(texts, a) if x == s] for s in ("train", "val", "test")}
    assert check_disjoint(by["train"], by["test"]) == set()
    assert check_disjoint(by["train"], by["val"]) == set()
    assert check_disjoint(by["val"], by["test"]) == set()


def test_split_manifest() -> None:
    texts = ["a", "b", "c", "d"]
    a = ["train", "train", "val", "test"]
    m = split_manifest(texts, a)
    assert m["total"] == 4
    assert {k: v["count"] for k, v in m["splits"].items()} == {"train": 2, "val": 1, "test": 1}
    expected = hashlib.sha256("\n".join(sorted([stable_hash("a"), stable_hash("b")])).encode()).hexdigest()
    assert m["splits"]["train"]["sha256"] == expected
    assert split_manifest(texts[::-1], a[::-1]) == m  # order-independent
    assert split_manifest(["a", "x", "c", "d"], a)["splits"]["train"]["sha256"] != expected
    with pytest.raises(ValueError):
        split_manifest(texts, a[:2])
