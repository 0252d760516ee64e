"""Malicious URL classification: ISCX-URL-2016 (benign / phishing / malware / spam).

Split (``secllm.data.sources.url_iscx2016``): exact duplicates dropped, then a group split by
registered domain (80/10/10, seed 0), so one site never lands on both sides.

Drift test ``test:phishtank``: PhishTank's verified phishing URLs (2008-2020, another source and
time) against the *held-back* ISCX benign test URLs. PhishTank URLs whose registered domain
occurs in ISCX train/val, or whose prepared text occurs anywhere in ISCX, are dropped, so the
drift test keeps the domain rule too.

    >>> SPECS[0].prepare("HTTP://Example.com/a%20b?x=1")
    'http://example.com/a b?x=1'
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Any

from secllm.data.records import Record
from secllm.data.split import dedupe
from secllm.tasks.registry import TaskSpec, finalize_splits, prepare_text, splits_from_records

LABELS = ("benign", "phishing", "malware", "spam")
PHISHTANK = Path("url_iscx2016") / "phishtank_online_valid_2020-05.csv.gz"


def prep(text: str) -> str:
    """Canonicalised (decoding layers, lower case) and desensitised, as in the corpus."""
    return prepare_text(text.strip(), "url")


def phishtank(root: Path) -> list[Record]:
    """PhishTank dump as ``phishing`` URL Records (deduplicated, all in split ``test``)."""
    p = root / PHISHTANK
    with io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace", newline="") as f:
        rows = dedupe([r for r in csv.DictReader(f) if r.get("url")], key=lambda r: r["url"])
    return [Record(id=f"phishtank:{r.get('phish_id', i)}", modality="url", text=r["url"], label="phishing",
                   source="phishtank", meta={"split": "test:phishtank", "time": r.get("submission_time")})
            for i, r in enumerate(rows)]


def load(root: Path, *, with_phishtank: bool = True) -> dict[str, Any]:
    from secllm.data.sources import registered_domain, url_iscx2016

    recs = url_iscx2016(root)
    rows, dropped = splits_from_records(recs, prep)
    extra: dict[str, int] = {}
    if with_phishtank and (root / PHISHTANK).exists():
        seen_domains = {r.group for r in recs if r.meta["split"] in ("train", "val")}
        iscx_texts = {t for split_rows in rows.values() for t, *_ in split_rows}
        drift = []
        for r in phishtank(root):
            if registered_domain(r.text) in seen_domains:
                extra["phishtank_domain_in_iscx_train"] = extra.get("phishtank_domain_in_iscx_train", 0) + 1
                continue
            t = prep(r.text)
            if not t or t in iscx_texts:
                extra["phishtank_in_iscx"] = extra.get("phishtank_in_iscx", 0) + 1
                continue
            drift.append((t, "url", "phishing", "phishtank"))
        benign_test = [row for row in rows.get("test", []) if row[2] == "benign"]
        rows["test:phishtank"] = drift + benign_test
    out = finalize_splits(rows)
    out["_info"]["dropped"]["read"] = dict(dropped) | extra
    return out


SPECS = [TaskSpec(
    name="url", modality="url", labels=LABELS, benign_label="benign", loader=load,
    split_rule="ISCX-URL-2016: dedupe on the URL, group split by registered domain 80/10/10 (seed 0); "
               "test:phishtank = PhishTank verified phishing (domains seen in ISCX train/val dropped) + "
               "the held-back ISCX benign test URLs",
    baselines=("tfidf-lr", "lexical-forest", "length-only"), prepare=prep, input_kind="text",
    description="URL → benign / phishing / malware / spam",
    caveats=("ISCX benign URLs are Alexa-crawled 2016 http:// URLs with long paths: scheme, length and era "
             "are shortcuts (see the length-only baseline and the PhishTank drift test)",
             "the malware class is 77% duplicates in the raw file (deduplicated here)",
             "IP-address hosts are masked (<ipv4>) as in the pretraining corpus"),
)]
