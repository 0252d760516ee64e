"""Threat-intelligence sentence → MITRE ATT&CK technique (TRAM 2 single-label sentences).

Split by report (``doc_title``), 80/10/10 group split (seed 0) (``secllm.data.sources.tram``): the
sentences of one report are near-duplicates of each other, so a sentence split would leak. After
preparation, sentences that repeat across reports are dropped from val/test when they occur in
train (and duplicates within a split are dropped; the 21 texts with two labels keep the first).
The label set is the techniques present in the training split (rare techniques can land wholly
in one split; they are then absent from training and reported as such).

    >>> SPECS[0].prepare("The actor used PowerShell to contact 192.0.2.7.")
    'The actor used PowerShell to contact <ipv4>.'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secllm.tasks.registry import TaskSpec, finalize_splits, group_from_source, prepare_text, splits_from_records


def prep(text: str) -> str:
    return prepare_text(" ".join(text.split()), "cti")


def load(root: Path) -> dict[str, Any]:
    from secllm.data.sources import tram

    recs = tram(root)
    rows, dropped = splits_from_records(recs, prep, source_fn=lambda r: f"{r.source}:{r.group}")
    out = finalize_splits(rows, modality="cti")
    train_labels = set(out["train"].labels)
    for split in ("val", "test"):
        missing = sorted(set(out[split].labels) - train_labels)
        if missing:
            # a technique never seen in training cannot be predicted: keep the rows (they count as
            # errors, honestly) but say so in the manifest
            out["_info"].setdefault("labels_not_in_train", {})[split] = missing
    # val rows with a label outside the training label set would break fine-tuning
    keep = [i for i, lab in enumerate(out["val"].labels) if lab in train_labels]
    if len(keep) != len(out["val"]):
        out["_info"]["dropped"].setdefault("val", {})["label_not_in_train"] = len(out["val"]) - len(keep)
        out["val"] = out["val"].subset(keep)
    out["_info"]["dropped"]["read"] = dict(dropped)
    return out


SPECS = [TaskSpec(
    name="cti-attack", modality="cti", labels=(), benign_label=None, loader=load,
    group_of=group_from_source, group_unit="report",
    split_rule="TRAM 2 single-label sentences: group split by report (doc_title) 80/10/10 (seed 0); "
               "prepared duplicates dropped within splits and from val/test when in train",
    baselines=("tfidf-lr", "tfidf-word-lr"), prepare=prep, input_kind="text",
    description="threat-intel sentence → ATT&CK technique ID (50 techniques)",
    caveats=("many sentences are short fragments", "classes are very imbalanced (T1027 685 … T1557.001 4)",
             "test techniques absent from training are kept and count as errors"),
)]
