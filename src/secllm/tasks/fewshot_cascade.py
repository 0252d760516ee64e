"""Few-shot new class on a *served web cascade*: the experiment :func:`secllm.tasks.adapt.fewshot_experiment`
runs with ``cascade=True``.

The web-attack detector serves a cascade (lexical first stage → fast model → full model,
:mod:`secllm.detect.cascade`, :mod:`secllm.detect.lexical`), and ``secllm adapt`` grows all three
(:func:`secllm.tasks.adapt._adapt_classifier_dir`). Here the experiment's old-class models become
such a cascade — the pretrained old-class model as the full model, the random-init one as the
"fast" model (same size: the cascade logic is what is measured, not its speed), a lexical stage
fitted on the old classes' training rows — calibrated on the old classes' validation rows with the
shipped recipe's rules (:func:`secllm.detect.calibrate.calibrate`, :func:`secllm.detect.calibrate.build_stage`),
grown with the same examples and guard rows as the other systems, and scored by what the detector
reports: the verdict (benign, or the attack class when the malicious score passes the model's
threshold) from the stage that decided each part.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np


def _verdicts(det, texts: list[str], mods: list[str]) -> tuple[list[str], np.ndarray]:
    from secllm.detect.cascade import verdict_labels

    proba, stage = det.cascade_scores(texts, mods)
    return verdict_labels(proba, det.labels, det.benign_idx, det.threshold), stage


def cascade_rows(work: Path, full_dir: Path, fast_dir: Path, *, train, old_train, old_val, test, old_test_idx,
                 old_labels: list[str], new_class: str, pool: list[int], shots, replay, guard_rows, targets,
                 seed: int = 0, max_f1_drop: float = 0.002) -> dict[str, Any]:
    """Build the old-class cascade, grow it per (shots, guard target), score the served verdicts.
    ``max_f1_drop``: the lexical stage's calibration rule (:func:`secllm.detect.calibrate.build_stage`)."""
    from secllm.data.corpus import model_text
    from secllm.detect.calibrate import build_stage, calibrate
    from secllm.detect.cascade import attach
    from secllm.detect.detector import WebAttackDetector
    from secllm.tasks.adapt import (
        _adapt_classifier_dir,
        _fewshot_examples,
        _fewshot_scores,
        _per_class_f1,
    )

    t0 = time.time()
    d = Path(work) / "cascade-old"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(full_dir, d)
    vt = [model_text(t, m) for t, m in zip(old_val.texts, old_val.modalities)]
    bands = calibrate(d, fast_dir, vt, list(old_val.modalities), list(old_val.labels))
    attach(d, fast_dir, bands)
    lex = build_stage(d, old_train, old_val, max_f1_drop=max_f1_drop)
    build_s = time.time() - t0
    tt = [model_text(t, m) for t, m in zip(test.texts, test.modalities)]
    tm = list(test.modalities)
    det = WebAttackDetector.load(d, backend="torch")
    det.set_cache_size(0)
    if [n for n, _, _ in det.cascade_stages()] != ["lexical", "fast"]:
        raise RuntimeError(f"the old-class cascade did not load both stages: {det.cascade_stages()}")
    before_all, stage0 = _verdicts(det, tt, tm)
    before = [before_all[i] for i in old_test_idx]
    old_test = test.subset(old_test_idx)
    f1_before = _per_class_f1(old_test.labels, before, old_labels)
    rows = []
    all_labels = old_labels + [new_class]
    new_rows = np.array([lab == new_class for lab in test.labels])
    for k, target in ((k, t) for k in shots for t in targets):
        ex = _fewshot_examples(train, pool, k, replay)
        out = Path(work) / f"cascade-{k}-{target}"
        t1 = time.time()
        info = _adapt_classifier_dir(d, out, ex, method="auto", max_old_flip=target, guard_examples=guard_rows)
        adapt_s = time.time() - t1
        grown = WebAttackDetector.load(out, backend="torch")
        grown.set_cache_size(0)
        stages = [n for n, _, _ in grown.cascade_stages()]
        pred, stage = _verdicts(grown, tt, tm)
        rows.append({"shots": k, "max_old_flip": target, "method": info.get("method"),
                     **_fewshot_scores(test, pred, all_labels, new_class, old_test_idx, before, f1_before, old_labels),
                     "adapt_s": round(adapt_s, 2), "stages_after": stages,
                     "new_rows_decided_by": {s: int(((stage == s) & new_rows).sum()) for s in ("lexical", "fast", "full")},
                     "stage_share_after": {s: round(float(np.mean(stage == s)), 4) for s in ("lexical", "fast", "full")},
                     "old_class_guard": None if target is None else {
                         "full": info.get("old_class_guard"),
                         "lexical": (info.get("lexical_stage") or {}).get("old_class_guard"),
                         "fast": (info.get("fast_stage") or {}).get("old_class_guard")}})
        shutil.rmtree(out, ignore_errors=True)
    return {"rows": rows, "old_per_class_f1_before": f1_before, "build_s": round(build_s, 1),
            "stage_share_before": {s: round(float(np.mean(stage0 == s)), 4) for s in ("lexical", "fast", "full")},
            "fast_bands": {k: bands[k] for k in ("benign_below", "malicious_above", "val_fast_share")},
            "lexical_bands": {k: lex[k] for k in ("C", "benign_below", "malicious_above", "val_stage_share")},
            "note": "verdicts as served (threshold on the malicious score, the deciding stage's attack class); "
                    "the 'fast' model is the random-init old-class model (same size as the full one)"}
