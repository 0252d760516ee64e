"""The few-shot experiment: a held-out class learnt from a handful of examples, and what it costs the old ones.

Protocol (:func:`fewshot_experiment`): ``new_class`` is removed from train/val; a classifier for the
old classes is fine-tuned (from the pretrained base and, as the ablation, from random weights);
then for each ``k`` in ``shots``, ``k`` seeded examples of the new class (plus replayed old-class
rows) are added as ``secllm adapt`` adds them — the encoder and the old head rows frozen
(:func:`secllm.tasks.grow.add_classes`) — and TF-IDF + LR is refitted on old train + the same
``k`` rows as the baseline. Scores on the test split: the new class's F1, the old classes'
macro-F1 before/after, and the share of old-class test predictions that changed.

Optional systems, grown with the same examples and guard rows and scored the same way:

* ``heads`` / ``text_head`` — the systems ``secllm detect`` serves for most tasks (a lexical head,
  the ensemble of that head with the pretrained model, a text head), fitted on the old classes and
  grown jointly (:func:`secllm.tasks.grow_rows.grow_parts`);
* ``cascade`` (web attack) — the old-class models as a *served web cascade*: the pretrained
  old-class model as the full model, the random-init one as the "fast" model (same size: the
  cascade logic is what is measured, not its speed), a lexical stage fitted on the old classes'
  training rows — calibrated on the old classes' validation rows with the shipped recipe's rules
  (:func:`secllm.detect.calibrate.calibrate`, :func:`secllm.detect.calibrate.build_stage`), grown as
  ``secllm adapt`` grows one (:func:`secllm.tasks.adapt.adapt_classifier_dir`), and scored by what
  the detector reports: the verdict (benign, or the attack class when the malicious score passes
  the model's threshold) from the stage that decided each part.

    python benchmarks/tasks.py --task url --base runs/base/model --out reports/url-fewshot \\
        --fewshot phishing --shots 4,16,64 --heads
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from secllm.tasks.examples import Examples
from secllm.tasks.finetune import FinetuneConfig
from secllm.tasks.grow import add_classes, head_features
from secllm.tasks.grow_rows import DEFAULT_MAX_OLD_FLIP

__all__ = ["fewshot_experiment"]


# --------------------------------------------------------------------------------------------
# scoring and examples
# --------------------------------------------------------------------------------------------

def _per_class_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    out = {}
    for c in labels:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == c and p != c)
        out[c] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return out


def _mean(xs) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return float(np.mean(xs)) if xs else float("nan")


def _fewshot_examples(train: Examples, pool: list[int], k: int, replay: Examples) -> Examples:
    """The replayed old-class rows + the first ``k`` seeded new-class training rows."""
    new_ex = train.subset(pool[:k])
    return Examples(replay.texts + new_ex.texts, replay.modalities + new_ex.modalities, replay.labels + new_ex.labels)


def _fewshot_scores(test: Examples, pred: list[str], labels: Sequence[str], new_class: str, old_test_idx: list[int],
                    before: list[str], f1_before: dict[str, float], old_labels: list[str]) -> dict[str, float]:
    """New-class F1 on all test rows; the old classes' macro-F1 before/after and the share of old-class
    test predictions that changed (``before``: the old model's predictions on the old-class rows)."""
    old_true = [test.labels[i] for i in old_test_idx]
    after_old = [pred[i] for i in old_test_idx]
    f1_after = _per_class_f1(old_true, after_old, labels)
    return {"new_f1": _per_class_f1(test.labels, pred, labels)[new_class],
            "old_macro_f1_before": _mean(f1_before[c] for c in old_labels),
            "old_macro_f1_after": _mean(f1_after[c] for c in old_labels),
            "old_changed": float(np.mean([a != b for a, b in zip(before, after_old)])) if before else 0.0}


def _predict_labels(model, tok, ex: Examples, labels: Sequence[str], max_length: int) -> list[str]:
    from secllm.tasks.finetune import encode_examples, predict_proba_ids

    if not len(ex):
        return []
    proba = predict_proba_ids(model, encode_examples(tok, ex, max_length), tok.pad_id)
    return [labels[i] for i in proba.argmax(1)]


# --------------------------------------------------------------------------------------------
# the served systems: lexical head, ensemble, text head
# --------------------------------------------------------------------------------------------

def _text_parts(old_train, old_val, old_labels) -> tuple[list, dict[str, Any]]:
    """A text head's two parts (char n-gram TF-IDF + LR, MiniLM embeddings + LR) fitted on the old
    classes, each C on validation (:func:`secllm.tasks.head_fit.fit_text_head`'s grids), as ``(W, b, features)``."""
    from sklearn.linear_model import LogisticRegression

    from secllm.data.corpus import model_text
    from secllm.tasks.grow import char_features
    from secllm.tasks.head_fit import fit_char, linear_in_order
    from secllm.tasks.heads import SentenceEncoder

    tx = lambda ex: [model_text(t, m) for t, m in zip(ex.texts, ex.modalities)]  # noqa: E731
    t0 = time.time()
    tr, va = tx(old_train), tx(old_val)

    def val_f1(p: np.ndarray) -> float:
        return _mean(_per_class_f1(old_val.labels, [old_labels[i] for i in p.argmax(1)], old_labels).values())

    char = max((fit_char(tr, list(old_train.labels), old_labels, C)[0] for C in (3.0, 10.0, 30.0)),
               key=lambda m: val_f1(m.predict_proba(va)))
    enc = SentenceEncoder()
    etr, eva = enc.embed(tr).astype(np.float64), enc.embed(va).astype(np.float64)
    sent = []
    for C in (1.0, 5.0, 20.0, 50.0):
        lr = LogisticRegression(C=C, max_iter=3000, random_state=0).fit(etr, list(old_train.labels))
        w, b = linear_in_order(lr.coef_, lr.intercept_, [str(c) for c in lr.classes_], old_labels)
        sent.append((val_f1(eva @ w.T + b), C, w, b))
    _, sc, sw, sb = max(sent, key=lambda r: r[0])
    parts = [(char.coef.astype(np.float64), char.intercept.astype(np.float64), lambda ex: char_features(char, tx(ex))),
             (sw, sb, lambda ex: enc.embed(tx(ex)).astype(np.float64))]
    return parts, {"sentence_C": sc, "fit_s": round(time.time() - t0, 1)}


def _fewshot_heads(train, old_train, old_val, test, old_test_idx, old_labels, new_class, pool, shots, replay,
                   guard_rows, max_old_flip, seed, grid, pretrained, tokenizer, base_dir,
                   text: bool = False) -> dict[str, Any]:
    """The lexical head, head + pretrained-model ensemble and (``text``) text head rows of
    :func:`fewshot_experiment`."""
    from secllm.detect.lexical import fit_lexical
    from secllm.tasks.finetune import encode_examples
    from secllm.tasks.grow import lexical_features
    from secllm.tasks.grow_rows import grow_parts, served_proba
    from secllm.tasks.head_fit import HEAD_MAX_LENGTH

    if pretrained is not None:
        model, tok, ml, W0, b0 = pretrained
    else:
        from secllm.tokenizer import SecTokenizer

        tok = tokenizer or SecTokenizer.load(base_dir)
    enc = lambda ex: encode_examples(tok, ex, HEAD_MAX_LENGTH)  # noqa: E731
    t0 = time.time()
    s_tr, s_va = enc(old_train), enc(old_val)
    best = None
    for C in grid:
        lex = fit_lexical(s_tr, list(old_train.labels), old_labels, tok.vocab_size, C=C, n_buckets=1 << 15, max_iter=1000)
        pv = lex.predict_proba(s_va).argmax(1)
        f1 = _mean(_per_class_f1(old_val.labels, [old_labels[i] for i in pv], old_labels).values())
        if best is None or f1 > best[0]:
            best = (f1, C, lex)
    _, C, lex = best
    fit_s = time.time() - t0
    lab2id = {lab: i for i, lab in enumerate(old_labels + [new_class])}

    def lex_part(ex):
        return lexical_features(lex, enc(ex))

    def ad_part(ex):
        return head_features(model, tok, ex, ml).astype(np.float64)

    systems: dict[str, list] = {"lexical head": [(lex.weight.T.astype(np.float64), lex.bias.astype(np.float64), lex_part)]}
    if pretrained is not None:
        systems["ensemble (pretrained + lexical head)"] = [(W0.astype(np.float64), b0.astype(np.float64), ad_part),
                                                          systems["lexical head"][0]]
    text_info = None
    if text:
        systems["text head"], text_info = _text_parts(old_train, old_val, old_labels)
    targets = list(max_old_flip) if isinstance(max_old_flip, (list, tuple)) else [max_old_flip]
    old_test = test.subset(old_test_idx)
    out: dict[str, Any] = {}
    for name, parts in systems.items():
        test_f = [f(test) for _, _, f in parts]
        guard_f = [f(guard_rows) for _, _, f in parts] if guard_rows is not None else None
        old_logits = [np.asarray(x @ W.T) + b for (W, b, _), x in zip(parts, test_f)]
        empty = [np.zeros((len(test), 0)) for _ in parts]
        before_all = [old_labels[i] for i in served_proba(old_logits, empty).argmax(1)]
        before = [before_all[i] for i in old_test_idx]
        f1_before = _per_class_f1(old_test.labels, before, old_labels)
        rows = []
        all_labels = old_labels + [new_class]
        for k in shots:
            ex = _fewshot_examples(train, pool, k, replay)
            y = np.array([lab2id[lab] for lab in ex.labels])
            ex_parts = [(W, b, f(ex)) for W, b, f in parts]         # features once per k, for every target
            for target in targets:
                t1 = time.time()
                grown, ginfo = grow_parts(ex_parts, y, 1, max_old_flip=target, guard=guard_f, seed=seed)
                adapt_s = time.time() - t1
                new_logits = [np.asarray(x @ w.T.astype(np.float64)) + bn for (w, bn), x in zip(grown, test_f)]
                pred = [all_labels[i] for i in served_proba(old_logits, new_logits).argmax(1)]
                rows.append({"shots": k, "max_old_flip": target, "method": ginfo.get("method"),
                             **_fewshot_scores(test, pred, all_labels, new_class, old_test_idx, before, f1_before,
                                               old_labels),
                             "adapt_s": round(adapt_s, 2), "old_class_guard": ginfo if target is not None else None})
        out[name] = {"rows": rows, "old_per_class_f1_before": f1_before, "head_C": C, "head_fit_s": round(fit_s, 1),
                     "note": "served-system growth (secllm.tasks.grow): old rows frozen, joint guard"}
        if name == "text head":
            out[name].update({"head_C": None, "head_fit_s": text_info["fit_s"], "sentence_C": text_info["sentence_C"]})
    return out


# --------------------------------------------------------------------------------------------
# the served web cascade
# --------------------------------------------------------------------------------------------

def _cascade_verdicts(det, texts: list[str], mods: list[str]) -> tuple[list[str], np.ndarray]:
    from secllm.detect.cascade import verdict_labels

    proba, stage = det.cascade_scores(texts, mods)
    return verdict_labels(proba, det.labels, det.benign_idx, det.threshold), stage


def _cascade_rows(work: Path, full_dir: Path, fast_dir: Path, *, train, old_train, old_val, test, old_test_idx,
                  old_labels: list[str], new_class: str, pool: list[int], shots, replay, guard_rows, targets,
                  seed: int = 0, max_f1_drop: float = 0.002) -> dict[str, Any]:
    """Build the old-class cascade, grow it per (shots, guard target), score the served verdicts.
    ``max_f1_drop``: the lexical stage's calibration rule (:func:`secllm.detect.calibrate.build_stage`)."""
    from secllm.data.corpus import model_text
    from secllm.detect.calibrate import build_stage, calibrate
    from secllm.detect.cascade import attach
    from secllm.detect.detector import WebAttackDetector
    from secllm.tasks.adapt import adapt_classifier_dir

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
    before_all, stage0 = _cascade_verdicts(det, tt, tm)
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
        info = adapt_classifier_dir(d, out, ex, method="auto", max_old_flip=target, guard_examples=guard_rows)
        adapt_s = time.time() - t1
        grown = WebAttackDetector.load(out, backend="torch")
        grown.set_cache_size(0)
        stages = [n for n, _, _ in grown.cascade_stages()]
        pred, stage = _cascade_verdicts(grown, tt, tm)
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


# --------------------------------------------------------------------------------------------
# the experiment
# --------------------------------------------------------------------------------------------

def fewshot_experiment(data: dict[str, Examples], new_class: str, *, base_dir: str | Path | None,
                       labels: Sequence[str], shots: Sequence[int] = (4, 16, 64), replay_per_class: int = 16,
                       random_init: bool = True, model_cfg=None, tokenizer=None,
                       cfg: FinetuneConfig | None = None, method: str = "auto", seed: int = 0,
                       work_dir: str | Path | None = None, test_key: str = "test",
                       baseline: bool = True, benign_label: str | None = None,
                       guard_per_class: int = 0,
                       max_old_flip: float | None | Sequence[float | None] = DEFAULT_MAX_OLD_FLIP,
                       heads: bool = False, head_grid: Sequence[float] = (5.0, 50.0, 200.0),
                       text_head: bool = False, cascade: bool = False,
                       cascade_max_f1_drop: float = 0.002) -> dict[str, Any]:
    """F1 on a held-out class learnt from few examples, from the pretrained base vs a random base
    vs TF-IDF + LR, and the old classes' F1 before and after adding it.

    Protocol: ``new_class`` is removed from train/val; a classifier for the old classes is
    fine-tuned (per init: ``pretrained`` from ``base_dir``, ``random`` from ``model_cfg`` +
    ``tokenizer``, or the base's tokenizer and config); then for each ``k`` in ``shots``, ``k``
    seeded examples of the new class (from train) plus ``replay_per_class`` old-class rows per
    class are added with :func:`add_classes` (encoder and old head rows frozen). TF-IDF + LR is
    refitted on old train + the same ``k`` rows. Scores on ``data[test_key]``: the new class's F1
    (all test rows), the old classes' macro-F1 on the old-class test rows before/after, and the
    share of old-class test predictions that changed. ``guard_per_class`` > 0: that many old-class
    *validation* rows per class (seeded) set the old-class guard's bias (``add_classes``'s
    ``guard_examples``) instead of the replayed examples' held-out halves. ``max_old_flip``: the
    guard's target share (``add_classes``; ``None`` turns the guard off); several targets give one
    row per (shots, target) on the same old-class model and examples.

    ``heads``: also the systems ``secllm detect`` serves for most tasks, grown by
    :mod:`secllm.tasks.grow` — a lexical head (token-bag logistic regression over the base tokenizer,
    fitted on the old classes' training rows, C from ``head_grid`` on their validation rows) and the
    ensemble of that head with the pretrained old-class model (mean of probabilities; both grown
    jointly under one guard). ``text_head``: also a text head (char n-grams + MiniLM sentence
    embeddings, :mod:`secllm.tasks.heads`) fitted on the old classes and grown the same way.
    ``cascade`` (web attack; needs both inits): the old-class models as a served web cascade, grown
    as ``secllm adapt`` grows one (:func:`_cascade_rows`).
    Same examples, guard rows and old/new scoring (argmax) as the others.
    """
    import tempfile

    from secllm.model.config import ModelConfig
    from secllm.tasks.finetune import finetune

    cfg = cfg or FinetuneConfig(epochs=3)
    labels = list(labels)
    if new_class not in labels:
        raise ValueError(f"{new_class!r} is not a label of the task ({labels})")
    old_labels = [l for l in labels if l != new_class]
    train, val, test = data["train"], data["val"], data[test_key]
    keep = lambda ex: ex.subset(i for i, l in enumerate(ex.labels) if l != new_class)  # noqa: E731
    old_train, old_val = keep(train), keep(val)
    pool = [i for i, l in enumerate(train.labels) if l == new_class]
    if not pool:
        raise ValueError(f"no training rows of {new_class!r}")
    rng = random.Random(seed)
    rng.shuffle(pool)
    old_test_idx = [i for i, l in enumerate(test.labels) if l != new_class]
    old_test = test.subset(old_test_idx)
    by_old: dict[str, list[int]] = {}
    for i, l in enumerate(old_train.labels):
        by_old.setdefault(l, []).append(i)
    replay_idx = sorted(i for idx in by_old.values() for i in random.Random(seed).sample(idx, min(len(idx), replay_per_class)))
    replay = old_train.subset(replay_idx)
    guard_rows = None
    if guard_per_class > 0:
        by_val: dict[str, list[int]] = {}
        for i, l in enumerate(old_val.labels):
            by_val.setdefault(l, []).append(i)
        guard_rows = old_val.subset(sorted(i for idx in by_val.values()
                                           for i in random.Random(seed + 1).sample(idx, min(len(idx), guard_per_class))))

    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="secllm-fewshot-"))
    inits: dict[str, dict[str, Any]] = {}
    if base_dir is not None:
        inits["pretrained"] = {"base_dir": base_dir}
    if random_init:
        if tokenizer is None or model_cfg is None:
            if base_dir is None:
                raise ValueError("random_init needs model_cfg= and tokenizer= (or base_dir to borrow them)")
            from secllm.model.modeling import read_meta
            from secllm.tokenizer import SecTokenizer

            tokenizer = tokenizer or SecTokenizer.load(base_dir)
            model_cfg = model_cfg or ModelConfig.from_json(read_meta(base_dir)["model_config"])
        inits["random"] = {"tokenizer": tokenizer, "model_cfg": model_cfg}
    shots = [k for k in shots if k <= len(pool)] or [len(pool)]
    result: dict[str, Any] = {"new_class": new_class, "old_labels": old_labels, "shots": list(shots),
                              "replay_per_class": replay_per_class, "guard_per_class": guard_per_class,
                              "max_old_flip": max_old_flip,
                              "method": method, "test_key": test_key,
                              "test_rows": len(test), "test_new_rows": len(test) - len(old_test),
                              "systems": {}}
    for name, kw in inits.items():
        from secllm.model.modeling import load_classifier

        t0 = time.time()
        d = finetune(old_train, old_val, old_labels, work / f"old-{name}", cfg=cfg, progress=False,
                     task="fewshot", benign_label=benign_label, **kw)
        ft_s = time.time() - t0
        model, tok, _, meta = load_classifier(d)
        model.float().eval()
        ml = int(meta.get("max_length", 128))
        before = _predict_labels(model, tok, old_test, old_labels, ml)
        f1_before = _per_class_f1(old_test.labels, before, old_labels)
        W0, b0 = model.classifier.weight.detach().clone(), model.classifier.bias.detach().clone()
        rows = []
        targets = list(max_old_flip) if isinstance(max_old_flip, (list, tuple)) else [max_old_flip]
        for k, target in ((k, t) for k in shots for t in targets):
            import torch

            with torch.no_grad():        # back to the old head for every k
                head = torch.nn.Linear(W0.shape[1], W0.shape[0])
                head.weight.copy_(W0)
                head.bias.copy_(b0)
            model.classifier = head.eval()
            model.config.num_labels = len(old_labels)
            ex = _fewshot_examples(train, pool, k, replay)
            _, new_meta, info = add_classes(model, tok, {**meta, "labels": old_labels}, ex, method=method, seed=seed,
                                            guard_examples=guard_rows, max_old_flip=target)
            all_labels = new_meta["labels"]
            pred = _predict_labels(model, tok, test, all_labels, ml)
            rows.append({"shots": k, "max_old_flip": target, "method": info["method"],
                         **_fewshot_scores(test, pred, all_labels, new_class, old_test_idx, before, f1_before,
                                           old_labels),
                         "adapt_s": info["elapsed_s"], "old_class_guard": info.get("old_class_guard")})
        result["systems"][name] = {"finetune_old_s": round(ft_s, 1), "rows": rows,
                                   "old_per_class_f1_before": f1_before}
        if name == "pretrained":
            kept = (model, tok, ml, W0.numpy().copy(), b0.numpy().copy())
    if cascade:
        if not {"pretrained", "random"} <= set(inits):
            raise ValueError("the cascade system needs both the pretrained and the random-init old-class models")
        result["systems"]["served cascade (pretrained full + random fast + lexical stage)"] = _cascade_rows(
            work, work / "old-pretrained", work / "old-random", train=train, old_train=old_train, old_val=old_val,
            test=test, old_test_idx=old_test_idx, old_labels=old_labels, new_class=new_class, pool=pool,
            shots=shots, replay=replay, guard_rows=guard_rows,
            targets=list(max_old_flip) if isinstance(max_old_flip, (list, tuple)) else [max_old_flip], seed=seed,
            max_f1_drop=cascade_max_f1_drop)
    if heads or text_head:
        result["systems"].update(_fewshot_heads(train, old_train, old_val, test, old_test_idx, old_labels, new_class,
                                                pool, shots, replay, guard_rows, max_old_flip, seed, head_grid,
                                                kept if base_dir is not None else None,
                                                tokenizer if base_dir is None else None, base_dir, text=text_head))
    if baseline:
        from secllm.eval.baselines import TfidfLogReg

        rows = []
        base_old = TfidfLogReg().fit(old_train.texts, old_train.labels)
        before = list(base_old.predict(old_test.texts)) if len(old_test) else []
        f1_before = _per_class_f1(old_test.labels, before, old_labels)
        for k in shots:
            new_ex = train.subset(pool[:k])
            m = TfidfLogReg().fit(old_train.texts + new_ex.texts, old_train.labels + new_ex.labels)
            pred = list(m.predict(test.texts))
            rows.append({"shots": k, **_fewshot_scores(test, pred, labels, new_class, old_test_idx, before, f1_before,
                                                       old_labels)})
        result["systems"]["tfidf-lr"] = {"rows": rows, "note": "refitted on old train + k new rows"}
    return result
