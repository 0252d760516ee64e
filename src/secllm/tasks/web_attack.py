"""The web-attack task: dataset adapter and label set.

Training data = HttpParams train (minus its 10% validation carve-out) + FuzzDB attack lists +
1book URLs (train split). Validation = the validation parts of the same sources. Test sets are
reported separately: the HttpParams author test split, the 1book test split, the FuzzDB test split.

Leakage rule: a training or validation row whose canonical text equals a row of any *test*
split (HttpParams test included) is removed from training and validation, so that the author's
test split stays intact and comparable with published numbers.

    >>> data = load_web_attack(datasets_dir())             # doctest: +SKIP
    >>> sorted(data)                                        # doctest: +SKIP
    ['test:1book', 'test:fuzzdb', 'test:http_params', 'train', 'val']
"""

from __future__ import annotations

from pathlib import Path

from secllm.data.corpus import model_text
from secllm.data.sources import WEB_LABELS, fuzzdb, http_params, web_urls_1book
from secllm.tasks.finetune import Examples

TASK = "web-attack"
LABELS = list(WEB_LABELS)


def _examples(recs) -> Examples:
    return Examples([r.text for r in recs], [r.modality for r in recs], [r.label for r in recs],
                    [r.source for r in recs])


def load_web_attack(root: Path, *, use_1book: bool = True, use_fuzzdb: bool = True,
                    max_good_xss: int | None = 20_000) -> dict[str, Examples]:
    """Splits of the web-attack task as ``{"train", "val", "test:<source>"}`` → Examples."""
    sources = {"http_params": http_params(root)}
    if use_fuzzdb:
        sources["fuzzdb"] = [r for r in fuzzdb(root) if r.label is not None]
    # the 1book test split is always built, so that "train without 1book, test on it" is possible
    sources["1book"] = web_urls_1book(root, max_good_xss=max_good_xss)

    tests = {f"test:{name}": [r for r in recs if r.meta["split"] == "test"] for name, recs in sources.items()}
    test_keys = {model_text(r.text, r.modality) for recs in tests.values() for r in recs}
    train, val = [], []
    dropped = 0
    for name, recs in sources.items():
        if name == "1book" and not use_1book:
            continue
        for r in recs:
            split = r.meta["split"]
            if split == "test":
                continue
            if model_text(r.text, r.modality) in test_keys:
                dropped += 1
                continue
            (train if split == "train" else val).append(r)
    out = {"train": _examples(train), "val": _examples(val)}
    out.update({k: _examples(v) for k, v in tests.items()})
    out["_dropped_overlap"] = dropped          # type: ignore[assignment]
    return out
