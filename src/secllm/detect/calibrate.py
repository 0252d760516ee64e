"""Build the web cascade's first stages: calibrate the fast model, fit the lexical stage.

Both run the detector on the validation split, so they live here, above the serving modules
(:mod:`secllm.detect.detector`, :mod:`secllm.detect.cascade`, :mod:`secllm.detect.lexical`),
which never import them.

    python -m secllm.detect.calibrate fast runs/web-pretrained runs/web-fast   # calibrate, attach as fast/
    python -m secllm.detect.calibrate lexical runs/web-pretrained              # fit, calibrate, attach as lexical/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from secllm.detect.cascade import (
    MAX_DISAGREEMENT,
    attach,
    band_limits,
    choose_bands,
    narrow_for_evasion,
    verdict_codes,
    verdict_labels,
)
from secllm.detect.detector import WebAttackDetector
from secllm.detect.lexical import LEXICAL_DIR, fit_lexical, save_stage


def mutated_validation(val, seed: int = 1):
    """Evasion-style variants of the validation split's SQLi and XSS rows (built-in operators of
    :mod:`secllm.eval.evasion`; the test sets are never touched): ``Examples`` of payloads."""
    from secllm.eval.evasion import builtin_ops, evade
    from secllm.tasks.examples import Examples

    idx = [i for i, lab in enumerate(val.labels) if lab in ("sqli", "xss")]
    muts = evade([val.texts[i] for i in idx], [val.labels[i] for i in idx], builtin_ops(), seed=seed)
    label_of = {val.texts[i]: val.labels[i] for i in idx}
    return Examples([m.mutated for m in muts], ["payload"] * len(muts), [label_of[m.original] for m in muts])


def calibrate(full_dir: str | Path, fast_dir: str | Path, texts: list[str], modalities: list[str],
              labels: list[str] | None = None, *, max_disagreement: float = MAX_DISAGREEMENT,
              mutated: list[str] | None = None, mutated_disagreement: float = 0.001) -> dict[str, Any]:
    """Choose the bands on validation parts (``texts`` as the model reads them); with ``labels``
    also the validation macro-F1 of the full model, the fast model and the cascade; with
    ``mutated`` (evasion variants of validation attacks, as the model reads them) narrowed by
    :func:`narrow_for_evasion`."""
    full = WebAttackDetector.load(full_dir)
    fast = WebAttackDetector.load(fast_dir)
    if fast.labels != full.labels:
        raise ValueError(f"the fast model's labels {fast.labels} differ from the full model's {full.labels}")
    full.cache_size = fast.cache_size = 0
    pf = fast.score_texts(texts, modalities)
    pg = full.score_texts(texts, modalities)
    bands = choose_bands(pf, pg, full.benign_idx, full.threshold, max_disagreement)
    if not mutated and labels is None:
        return bands
    if mutated:
        mods = ["payload"] * len(mutated)
        bands = narrow_for_evasion(bands, fast.score_texts(mutated, mods), full.score_texts(mutated, mods),
                                   full.benign_idx, full.threshold, mutated_disagreement)
    lo, hi = band_limits(bands, modalities)
    mal = 1.0 - pf[:, full.benign_idx]
    sure = (mal < lo) | (mal > hi)                 # the parts the fast model decides
    if mutated:                                   # the validation figures with the narrowed bands
        _, fc = verdict_codes(pf, full.benign_idx, full.threshold)
        _, gc = verdict_codes(pg, full.benign_idx, full.threshold)
        bands["val_fast_share"] = round(float(sure.mean()), 4)
        bands["val_disagreement"] = round(float(np.mean(np.where(sure, fc, gc) != gc)), 5)
    if labels is not None:
        from secllm.eval.metrics import multiclass_metrics

        casc = pg.copy()
        casc[sure] = pf[sure]
        bands["val_macro_f1"] = {
            name: round(float(multiclass_metrics(
                labels, verdict_labels(p, full.labels, full.benign_idx, full.threshold), full.labels)["macro_f1"]), 4)
            for name, p in (("full", pg), ("fast", pf), ("cascade", casc))}
    return bands


def build_stage(full_dir: str | Path, train, val, *, grid: tuple[float, ...] = (10.0, 50.0, 200.0),
                budgets: tuple[float, ...] = (0.0005, 0.001, 0.002), max_f1_drop: float = 0.002,
                mutated=None, mutated_disagreement: float = 0.001, min_class_rows: int = 15,
                out_dir: str | Path | None = None, threads: int | None = None) -> dict[str, Any]:
    """Fit the lexical stage on ``train``, pick C and the bands on ``val``, attach it to ``full_dir``.

    ``train``/``val`` are :class:`secllm.tasks.examples.Examples` of the web-attack task (raw texts,
    modalities, labels). For every C of ``grid`` and disagreement budget of ``budgets`` the bands
    come from :func:`secllm.detect.cascade.choose_bands`; the whole cascade (lexical -> fast ->
    full) is then run on validation, and the candidate deciding the largest share of parts
    lexically is kept among those whose cascade macro-F1 (over the classes with at least
    ``min_class_rows`` validation rows) is at most ``max_f1_drop`` below the full model's. With
    ``mutated`` (:func:`secllm.detect.cascade.mutated_validation`) each candidate's bands are first
    narrowed so that evasion variants of validation attacks are not passed where the full model
    catches them (:func:`secllm.detect.cascade.narrow_for_evasion`). Every candidate's figures are
    stored in ``secllm.json`` under ``cascade.candidates``.
    """
    from secllm.data.corpus import model_text
    from secllm.eval.metrics import multiclass_metrics
    from secllm.runtime import resolve_backend

    full_dir = Path(full_dir)
    out_dir = Path(out_dir) if out_dir else full_dir / LEXICAL_DIR
    det = WebAttackDetector.load(full_dir, threads=threads, backend=resolve_backend(full_dir, "auto"))
    det.set_cache_size(0)
    det.lexical = det.lexical_bands = None
    labels, bi = det.labels, det.benign_idx

    def encode(ex):
        texts = [model_text(t, m) for t, m in zip(ex.texts, ex.modalities)]
        enc = det.tok.encode_batch(texts, list(ex.modalities), max_length=det.max_length, pad=False, offsets=False)
        return texts, enc.input_ids

    def names(p: np.ndarray) -> list[str]:
        return verdict_labels(p, labels, bi, det.threshold)

    counts = {lab: list(val.labels).count(lab) for lab in labels}
    major = [lab for lab in labels if counts[lab] >= min_class_rows] or [lab for lab in labels if counts[lab]]

    def f1(v: list[str]) -> float:
        """Macro-F1 over the classes with >= ``min_class_rows`` validation rows: on a class with
        one to eight rows a single flipped part moves the 13-class macro-F1 by 0.01-0.03 (noise)."""
        per = multiclass_metrics(list(val.labels), v, labels)["per_class"]
        return round(float(np.mean([per[lab]["f1"] for lab in major])), 4)

    _, tr_ids = encode(train)
    va_texts, va_ids = encode(val)
    va_mods = list(val.modalities)
    full_p = det.score_texts(va_texts, va_mods)
    full_v = names(full_p)
    use_mutated = mutated is not None and len(mutated) > 0
    if use_mutated:
        mu_texts, mu_ids = encode(mutated)
        mu_full = det.score_texts(mu_texts, list(mutated.modalities))
    full_f1 = f1(full_v)
    meta = {"labels": labels, "benign_label": labels[bi], "threshold": det.threshold,
            "max_length": det.max_length, "tokenizer_fingerprint": det.tok.fingerprint(), "train_rows": len(tr_ids)}
    candidates, best = [], None
    for C in grid:
        be = fit_lexical(tr_ids, list(train.labels), labels, det.tok.vocab_size, C=C)
        lex_p = be.predict_proba(va_ids)
        det.lexical = WebAttackDetector(be, det.tok, {**meta, "threshold": det.threshold}, out_dir)
        det.lexical.cache_size = 0
        mu_p = be.predict_proba(mu_ids) if use_mutated else None
        for budget in budgets:
            bands = choose_bands(lex_p, full_p, bi, det.threshold, budget)
            if mu_p is not None:
                bands = narrow_for_evasion(bands, mu_p, mu_full, bi, det.threshold, mutated_disagreement)
            det.lexical_bands = bands
            casc_p, stage = det.cascade_scores(va_texts, va_mods)
            casc_v = names(casc_p)
            row = {"C": C, "max_disagreement": budget, "benign_below": bands["benign_below"],
                   "malicious_above": bands["malicious_above"],
                   **{k: v for k, v in bands.items() if k.startswith("mutated_") or k == "by_modality"},
                   "val_stage_share": {s: round(float(np.mean(stage == s)), 4) for s in ("lexical", "fast", "full")},
                   "val_cascade_disagreement": round(float(np.mean([a != b for a, b in zip(full_v, casc_v)])), 5),
                   "val_macro_f1": {"full": full_f1, "cascade": f1(casc_v)}}
            candidates.append(row)
            ok = row["val_macro_f1"]["cascade"] >= full_f1 - max_f1_drop
            if ok and (best is None or row["val_stage_share"]["lexical"] > best[1]["val_stage_share"]["lexical"]):
                best = (be, row)
    if best is None:
        raise RuntimeError(f"no lexical stage keeps the validation macro-F1 within {max_f1_drop} of the full "
                           f"model's ({full_f1}); candidates: {candidates}")
    be, row = best
    bands = {**row, "max_f1_drop": max_f1_drop, "f1_classes": major, "val_parts": len(va_ids),
             "candidates": candidates}
    save_stage(be, {**meta, "cascade": bands}, out_dir)
    return bands


def main_fast(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Calibrate a fast model against a full web-attack model on the "
                                             "validation split and attach it as FULL/fast.")
    ap.add_argument("full", type=Path)
    ap.add_argument("fast", type=Path)
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--max-disagreement", type=float, default=MAX_DISAGREEMENT)
    ap.add_argument("--no-mutated", action="store_true",
                    help="do not narrow the bands on evasion variants of the validation attacks")
    args = ap.parse_args(argv)
    from secllm.data.corpus import model_text
    from secllm.paths import datasets_dir
    from secllm.tasks.web_attack import load_web_attack

    val = load_web_attack(datasets_dir(args.datasets))["val"]
    texts = [model_text(t, m) for t, m in zip(val.texts, val.modalities)]
    mutated = None if args.no_mutated else [model_text(t, "payload") for t in mutated_validation(val).texts]
    bands = calibrate(args.full, args.fast, texts, list(val.modalities), list(val.labels),
                      max_disagreement=args.max_disagreement, mutated=mutated)
    print(json.dumps(bands, indent=1))
    print(attach(args.full, args.fast, bands))
    return 0


def main_lexical(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Fit the lexical first stage of a web-attack model on its training "
                                             "split, calibrate it on validation and attach it as MODEL/lexical.")
    ap.add_argument("model", type=Path)
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--max-f1-drop", type=float, default=0.002,
                    help="largest validation macro-F1 loss of the cascade against the full model alone")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-mutated", action="store_true",
                    help="do not narrow the bands on evasion variants of the validation attacks")
    args = ap.parse_args(argv)
    from secllm.paths import datasets_dir
    from secllm.tasks.web_attack import load_web_attack

    data = load_web_attack(datasets_dir(args.datasets))
    mutated = None if args.no_mutated else mutated_validation(data["val"])
    bands = build_stage(args.model, data["train"], data["val"], max_f1_drop=args.max_f1_drop, mutated=mutated,
                        threads=args.threads)
    print(json.dumps({k: v for k, v in bands.items() if k != "candidates"}, indent=1))
    for c in bands["candidates"]:
        print(c["C"], c["max_disagreement"], c["val_stage_share"], c["val_cascade_disagreement"], c["val_macro_f1"])
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("fast", "lexical"):
        print("usage: python -m secllm.detect.calibrate {fast FULL FAST | lexical MODEL} [options]", file=sys.stderr)
        return 2
    return (main_fast if argv[0] == "fast" else main_lexical)(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
