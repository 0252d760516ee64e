"""Log anomaly detection: HDFS sessions (event-ID sequences) and BGL lines (alert or not).

``log-hdfs`` (``secllm.data.sources.hdfs_deeplog``): one item per block session, written as event
keys ``"e5 e5 e22 ..."``. Unique sequences only. Normal sessions: 20% held back as the normal test
data (the public normal test file is missing: see the datasets README); of the remaining 80%, one
eighth (seed 0) is the validation set (so 70/10/20 overall). Anomalous sessions: 80/10/10.

``log-bgl`` (``secllm.data.sources.loghub``, BGL_2k): one item per line, label ``normal`` /
``alert``, split **chronologically**: the first 60% of lines train, the next 10% validate, the
last 30% test (the loader's 70/30 cut, with validation taken from the end of the training part,
so nothing is ever trained on the future). The alert-category token is stripped (it is the
label) and the time fields (epoch, date, timestamp) are removed: alerts come in bursts, so time
is a shortcut.

    >>> get_hdfs = SPECS[0].prepare; get_hdfs("5 5 22")
    'e5 e5 e22'
    >>> SPECS[1].prepare("KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 "
    ...                  "2005-06-11-17.32.07.581048 R30-M0-N9-C:J16-U01 RAS KERNEL FATAL data TLB error")
    'R30-M0-N9-C:J16-U01 R30-M0-N9-C:J16-U01 RAS KERNEL FATAL data TLB error'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


from secllm.data.split import stratified_split, time_split
from secllm.tasks.registry import TaskSpec, finalize_splits, prepare_text, splits_from_records

HDFS_LABELS = ("normal", "anomaly")
BGL_LABELS = ("normal", "alert")
_EVENT = re.compile(r"^[eE]?(\d{1,4})$")
_BGL_LABEL = re.compile(r"^(?:-|[A-Z][A-Z_]*) (?=\d{9,11} \d{4}\.\d\d\.\d\d )")
_BGL_TIME = re.compile(r"(?:^|(?<= ))(?:\d{9,11}|\d{4}\.\d\d\.\d\d|\d{4}-\d\d-\d\d-\d\d\.\d\d\.\d\d\.\d+)(?= |$)")


def hdfs_prep(text: str) -> str:
    """Event keys (``"5 22 11"``, ``"e5,e22"``) → ``"e5 e22 e11"``; anything else is bad input."""
    toks = [t for t in re.split(r"[\s,;]+", text.strip()) if t]
    out = []
    for t in toks:
        m = _EVENT.match(t)
        if not m:
            raise ValueError(f"expected HDFS event keys like '5 22 11', got {t[:20]!r}")
        out.append(f"e{int(m.group(1))}")
    return " ".join(out)


def bgl_prep(text: str) -> str:
    """A BGL line without its label token (if present) and without time fields, desensitised."""
    line = _BGL_LABEL.sub("", text.strip(), count=1)
    # only the leading fields are time: cut them out of the first 80 characters
    head, tail = line[:80], line[80:]
    head = re.sub(r" {2,}", " ", _BGL_TIME.sub("", head)).strip()
    return prepare_text((head + tail).strip(), "log")


def load_hdfs(root: Path) -> dict[str, Any]:
    from secllm.data.sources import hdfs_deeplog

    recs = hdfs_deeplog(root)
    normal_train = [r for r in recs if r.label == "normal" and r.meta["split"] == "train"]
    for r, s in zip(normal_train, stratified_split(["n"] * len(normal_train), fractions=(7, 1, 0), seed=0)):
        r.meta["split"] = s
    rows, dropped = splits_from_records(recs, hdfs_prep)
    out = finalize_splits(rows, modality="log")
    out["_info"]["dropped"]["read"] = dict(dropped)
    return out


def load_bgl(root: Path) -> dict[str, Any]:
    from secllm.data.sources import loghub

    recs = [r for r in loghub(root) if r.source == "loghub:BGL"]
    train = [r for r in recs if r.meta["split"] == "train"]
    for r, s in zip(train, time_split([r.time for r in train], fractions=(6, 1, 0))):
        r.meta["split"] = s
    rows, dropped = splits_from_records(recs, bgl_prep)
    out = finalize_splits(rows, modality="log")
    out["_info"]["dropped"]["read"] = dict(dropped)
    return out


SPECS = [
    TaskSpec(
        name="log-hdfs", modality="log", labels=HDFS_LABELS, benign_label="normal", loader=load_hdfs,
        split_rule="DeepLog HDFS: unique sequences; normal 70/10/20 (seed 0; the 20% held back is the only "
                   "normal test data), anomalous 80/10/10 (seed 0); no time stamps exist in this form",
        baselines=("count-lr", "tfidf-word-lr"), prepare=hdfs_prep, input_kind="text",
        description="HDFS block session (event-key sequence) → normal / anomaly",
        caveats=("the public normal test file (~553k sessions) is missing; false-positive rates come from "
                 "the 20% of unique normal training sequences held back",
                 "sequences are deduplicated, so frequent normal patterns count once"),
    ),
    TaskSpec(
        name="log-bgl", modality="log", labels=BGL_LABELS, benign_label="normal", loader=load_bgl,
        split_rule="BGL_2k lines in file order: first 60% train, next 10% val, last 30% test "
                   "(chronological, never random); label token stripped; time fields removed",
        baselines=("count-lr", "tfidf-lr"), prepare=bgl_prep, input_kind="text",
        description="BGL log line → normal / alert",
        caveats=("tiny: 143 alert lines in 2,000, bursty in time; a chronological split can leave few "
                 "alerts in validation or test", "alert categories are merged into one 'alert' class"),
    ),
]
