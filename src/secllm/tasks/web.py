"""The web-attack task in the registry: a thin wrapper over :mod:`secllm.tasks.web_attack`.

Detection for this task keeps its own detector (``WebAttackDetector``: request splitting,
decoding layers, evidence mapped back to the raw request); the registry only describes it.

    >>> SPECS[0].name, SPECS[0].detector
    ('web-attack', 'web')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from secllm.data.corpus import model_text
from secllm.tasks.registry import TaskSpec


def load(root: Path) -> dict[str, Any]:
    from secllm.tasks.web_attack import load_web_attack

    data = load_web_attack(root)
    dropped = data.pop("_dropped_overlap", 0)
    out: dict[str, Any] = dict(data)
    out["_info"] = {"dropped": {"train+val": {"in_any_test": dropped}},
                    "counts": {k: len(v) for k, v in data.items()}}
    return out


def _prep(text: str) -> str:
    # web text is canonicalised at encoding time by finetune/detector; not desensitised, as the
    # web-attack recipe always did (an IP inside a payload can be the attack)
    return model_text(text, "payload")


def _spec() -> TaskSpec:
    from secllm.data.sources import WEB_LABELS

    return TaskSpec(
        name="web-attack", modality="payload", labels=tuple(WEB_LABELS), benign_label="benign", loader=load,
        split_rule="HttpParams author train/test (val = stratified 10% of train, seed 0); FuzzDB and 1book "
                   "stratified 80/10/10 (seed 0) after dedupe; train/val rows equal to any test row "
                   "(canonical text) removed",
        baselines=("tfidf-lr", "length-only", "lexical-forest"), prepare=_prep, input_kind="text",
        description="payloads, URLs and raw HTTP requests → benign or attack type", detector="web",
        caveats=("SQLi rows are sqlmap-generated (templated)", "1book benign and attack rows come from "
                 "different sites (site-style shortcut)"),
    )


SPECS = [_spec()]
