"""Lexical task heads: a linear model over the base tokenizer's tokens, served when it wins on validation.

On some tasks the small base's adapters lose to a bag of words (threat-intel sentences, Windows
events, BGL log lines: ``reports/tasks-shipped``). A serious tool serves what works: for every task
this module can fit the same linear model the web-attack cascade's first stage uses
(:mod:`secllm.detect.lexical`: multinomial logistic regression over the base tokenizer's token
unigrams + hashed bigrams, numpy inference, exact token attribution for evidence) on the task's
training split, pick C on validation (then token trigrams at that C, kept if validation prefers
them), and compare its validation macro-F1 with the task adapter's.
The head is *served* (``secllm detect --task``, ``secllm serve``) only when it is ahead on
validation beyond noise (the 5th percentile of a paired bootstrap of the macro-F1 difference over
the validation rows is above 0): a token-bag model is preferred over the pretrained adapter only
when it is clearly better, because it generalises worse to other sources (scripts: tied in
distribution, far behind on the cross-source JavaScript set). A third candidate is the ensemble
of head and adapter (mean of their class probabilities, its own validation threshold;
:class:`EnsembleBackend`), served when it beats that single choice by the same rule. The test
split plays no part. Both figures and the choice are written to the head's
``secllm.json``, and ``secllm eval`` reports both systems.

Layout: ``<model dir>/lexical/<task>/{lexical.safetensors, secllm.json}`` beside ``adapters/``;
the tokenizer is the model directory's own (one tokenizer for every task, as the issue asks).

    python -m secllm.tasks.lexical_head src/secllm/assets/tasks --task cti-attack --task log-bgl
    python -m secllm.tasks.lexical_head MODEL --task all          # every task with an adapter
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HEADS_DIR = "lexical"
HEAD_KIND = "lexical-head"
HEAD_BUCKETS = 1 << 15          # hashed bigram buckets (the web stage uses 1 << 16; heads are per task)
HEAD_TRIGRAMS = 1 << 16         # hashed token-trigram buckets, tried at the best C and kept if validation prefers
HEAD_MAX_LENGTH = 512           # tokens read per item: the linear model is cheap, so read more than the adapters


def head_dir(model_dir: str | Path, task: str) -> Path:
    from secllm.paths import check_task_name

    return Path(model_dir) / HEADS_DIR / check_task_name(task)


def serve_mode(model_dir: str | Path, task: str) -> str | None:
    """``"head"``, ``"ensemble"`` (head + adapter, mean of probabilities) or None (the adapter)."""
    try:
        meta = json.loads((head_dir(model_dir, task) / "secllm.json").read_text())
    except (OSError, ValueError):
        return None
    mode = meta.get("serve") if meta.get("kind") == HEAD_KIND else None
    return None if not mode else "head" if mode is True else str(mode)


def served_head(model_dir: str | Path, task: str) -> Path | None:
    """The task's lexical head directory when it exists and validation chose it, else None."""
    return head_dir(model_dir, task) if serve_mode(model_dir, task) else None


class EnsembleBackend:
    """The mean of the lexical head's and the adapter's class probabilities.

    Both read the same token ids; the adapter's are cut to its own ``max_length`` (``[SEP]`` kept).
    Evidence: each system's positive token attributions, normalised to sum 1, averaged.
    """

    name = "ensemble"

    def __init__(self, head, adapter, adapter_max_length: int, order: list[int] | None = None):
        self.head, self.adapter, self.ml = head, adapter, int(adapter_max_length)
        self.order = order              # adapter columns in the head's label order

    def _cut(self, seqs):
        ml = self.ml
        return [s if len(s) <= ml else list(s[:ml - 1]) + [s[-1]] for s in seqs]

    def predict_proba(self, seqs) -> np.ndarray:
        pa = self.adapter.predict_proba(self._cut(seqs))
        if self.order is not None:
            pa = pa[:, self.order]
        return (self.head.predict_proba(seqs) + pa) / 2

    def token_attribution(self, ids, target: int, ref: int) -> np.ndarray:
        a = np.clip(np.asarray(self.head.token_attribution(ids, target, ref), dtype=np.float64), 0, None)
        if self.order is not None:
            target, ref = self.order[target], self.order[ref]
        cut = self._cut([ids])[0]
        b = np.clip(np.asarray(self.adapter.token_attribution(cut, target, ref), dtype=np.float64), 0, None)
        out = np.zeros(len(ids))
        out += a / a.sum() if a.sum() > 0 else 0
        bb = np.zeros(len(ids))
        bb[:len(b) - 1] = b[:-1]                        # the cut's last id is [SEP]: map it to the real [SEP]
        bb[-1] += b[-1]
        out += bb / bb.sum() if bb.sum() > 0 else 0
        return out / 2


def load_head(d: str | Path):
    """``(LexicalBackend, meta)`` of a head directory (numpy + safetensors only)."""
    from safetensors.numpy import load_file

    from secllm.detect.lexical import WEIGHTS_FILE, LexicalBackend

    d = Path(d)
    meta = json.loads((d / "secllm.json").read_text())
    if meta.get("kind") != HEAD_KIND:
        raise ValueError(f"{d} holds a {meta.get('kind')} model, not a lexical task head")
    t = load_file(str(d / WEIGHTS_FILE))
    return LexicalBackend(t["weight"], t["bias"], meta["vocab_size"], meta["n_buckets"],
                          meta.get("n_trigrams", 0)), meta


def verdicts(proba: np.ndarray, labels: list[str], benign: str | None, threshold: float) -> list[str]:
    """The label a detector reports per row: argmax, or benign/attack class against ``threshold``."""
    if benign is None or benign not in labels:
        return [labels[i] for i in proba.argmax(1)]
    from secllm.detect.cascade import verdict_labels

    return verdict_labels(proba, labels, labels.index(benign), threshold)


def _macro_f1(y: list[str], pred: list[str], labels: list[str]) -> float:
    from secllm.eval.metrics import multiclass_metrics

    return float(multiclass_metrics(y, pred, labels)["macro_f1"])


def _macro_f1_codes(y: np.ndarray, p: np.ndarray, k: int) -> float:
    """Macro-F1 of integer labels over the classes present in ``y`` or ``p`` (as the reports count it)."""
    tp = np.bincount(y[y == p], minlength=k).astype(float)
    n_true, n_pred = np.bincount(y, minlength=k), np.bincount(p, minlength=k)
    seen = (n_true + n_pred) > 0
    f1 = 2 * tp[seen] / (n_true[seen] + n_pred[seen])
    return float(f1.mean()) if f1.size else float("nan")


def paired_bootstrap(y: list[str], a: list[str], b: list[str], labels: list[str], n: int = 1000,
                     seed: int = 0) -> dict[str, float]:
    """Paired bootstrap of macro-F1(a) - macro-F1(b) over the same resampled rows.

        >>> r = paired_bootstrap(list("xxyy") * 25, list("xxyy") * 25, list("xyyy") * 25, ["x", "y"], n=200)
        >>> r["low"] > 0
        True
    """
    idx = {lab: i for i, lab in enumerate(labels)}
    extra = len(labels)
    code = lambda v: np.array([idx.get(x, extra) for x in v])      # noqa: E731 — unknown labels: one extra code
    yy, aa, bb = code(y), code(a), code(b)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n)
    for i in range(n):
        s = rng.integers(0, len(yy), len(yy))
        diffs[i] = _macro_f1_codes(yy[s], aa[s], extra + 1) - _macro_f1_codes(yy[s], bb[s], extra + 1)
    return {"mean": round(float(np.nanmean(diffs)), 4), "low": round(float(np.nanpercentile(diffs, 5)), 4),
            "high": round(float(np.nanpercentile(diffs, 95)), 4), "resamples": n}


def _threshold(spec, labels: list[str], val, proba: np.ndarray) -> float:
    from secllm.tasks.evaluate import _threshold as thr

    return float(thr(spec, labels, val, proba)) if spec.benign_label in labels else 0.5


def fit_head(model_dir: str | Path, task: str, splits: dict | None = None, *, datasets: str | None = None,
             grid: tuple[float, ...] = (1.0, 5.0, 20.0, 50.0, 200.0), n_buckets: int = HEAD_BUCKETS,
             max_length: int = HEAD_MAX_LENGTH, compare_adapter: bool = True, log=print,
             n_trigrams: int = HEAD_TRIGRAMS) -> dict[str, Any]:
    """Fit, select on validation, compare with the adapter, save ``<model_dir>/lexical/<task>/``.

    ``splits`` (``{"train": Examples, "val": Examples, ...}``) defaults to the task's own loader
    over the shared datasets. Returns the head's ``secllm.json``.
    """
    from safetensors.numpy import save_file

    from secllm.detect.lexical import WEIGHTS_FILE, fit_lexical
    from secllm.tasks.finetune import encode_examples
    from secllm.tasks.registry import get_task
    from secllm.tokenizer import SecTokenizer

    spec = get_task(task)
    model_dir = Path(model_dir)
    if splits is None:
        from secllm.paths import datasets_dir

        splits = spec.load(datasets_dir(datasets)).splits
    train, val = splits["train"], splits["val"]
    labels = spec.label_set(splits)
    tok = SecTokenizer.load(model_dir)
    t0 = time.time()
    s_train, s_val = encode_examples(tok, train, max_length), encode_examples(tok, val, max_length)
    candidates, best = [], None
    for C in grid:
        t1 = time.time()
        b = fit_lexical(s_train, list(train.labels), labels, tok.vocab_size, C=C, n_buckets=n_buckets,
                        max_iter=1000)
        p = b.predict_proba(s_val)
        thr = _threshold(spec, labels, val, p)
        f1 = _macro_f1(list(val.labels), verdicts(p, labels, spec.benign_label, thr), labels)
        candidates.append({"C": C, "val_macro_f1": round(f1, 4), "threshold": thr, "fit_s": round(time.time() - t1, 1)})
        log(f"{task}: C={C} validation macro-F1 {f1:.4f}")
        if best is None or f1 > best[0] + 1e-9:
            best = (f1, C, b, thr, verdicts(p, labels, spec.benign_label, thr), p)
    if n_trigrams:                  # token trigrams at the chosen C: kept only if validation prefers them
        t1 = time.time()
        b = fit_lexical(s_train, list(train.labels), labels, tok.vocab_size, C=best[1], n_buckets=n_buckets,
                        max_iter=1000, n_trigrams=n_trigrams)
        p = b.predict_proba(s_val)
        thr = _threshold(spec, labels, val, p)
        f1 = _macro_f1(list(val.labels), verdicts(p, labels, spec.benign_label, thr), labels)
        candidates.append({"C": best[1], "n_trigrams": n_trigrams, "val_macro_f1": round(f1, 4), "threshold": thr,
                           "fit_s": round(time.time() - t1, 1)})
        log(f"{task}: C={best[1]} + token trigrams validation macro-F1 {f1:.4f}")
        if f1 > best[0] + 1e-9:
            best = (f1, best[1], b, thr, verdicts(p, labels, spec.benign_label, thr), p)
    f1, C, backend, thr, head_pred, head_proba = best
    adapter_f1, boot, ens = None, None, None
    serve: bool | str = "head"
    if compare_adapter and (model_dir / "adapters" / task).exists():
        from secllm.tasks.evaluate import _model_predictor

        alabels, ameta, predict = _model_predictor(model_dir, task)
        ab = ameta.get("benign_label", spec.benign_label)
        adapter_proba = predict(val)
        adapter_pred = verdicts(adapter_proba, alabels, ab if ab in alabels else None, float(ameta.get("threshold", 0.5)))
        adapter_f1 = _macro_f1(list(val.labels), adapter_pred, labels)
        boot = paired_bootstrap(list(val.labels), head_pred, adapter_pred, labels)
        log(f"{task}: adapter validation macro-F1 {adapter_f1:.4f}; head - adapter {boot}")
        # the head only when it is ahead beyond validation noise (one-sided 95% paired bootstrap)
        head_wins = f1 > adapter_f1 and boot["low"] > 0
        single_pred, single_f1 = (head_pred, f1) if head_wins else (adapter_pred, adapter_f1)
        serve = "head" if head_wins else False
        if sorted(alabels) == sorted(labels):
            # the mean of both systems' probabilities, served when it beats the single choice beyond noise
            p_ens = (head_proba + adapter_proba[:, [alabels.index(lab) for lab in labels]]) / 2
            ethr = _threshold(spec, labels, val, p_ens)
            ens_pred = verdicts(p_ens, labels, spec.benign_label, ethr)
            ens_f1 = _macro_f1(list(val.labels), ens_pred, labels)
            eboot = paired_bootstrap(list(val.labels), ens_pred, single_pred, labels)
            ens = {"val_macro_f1": round(ens_f1, 4), "threshold": ethr,
                   "adapter_max_length": int(ameta.get("max_length", 128)),
                   "vs_single_bootstrap": eboot, "single": "head" if head_wins else "adapter"}
            log(f"{task}: head+adapter ensemble validation macro-F1 {ens_f1:.4f}; minus the single choice {eboot}")
            if ens_f1 > single_f1 and eboot["low"] > 0:
                serve = "ensemble"
    meta = {
        "format": "secllm-model", "version": 1, "kind": HEAD_KIND, "task": task, "labels": labels,
        "benign_label": spec.benign_label if spec.benign_label in labels else None, "threshold": thr,
        "max_length": max_length, "vocab_size": tok.vocab_size, "tokenizer_fingerprint": tok.fingerprint(),
        "n_buckets": n_buckets, "n_trigrams": backend.n_trigrams, "C": C,
        "weights_dtype": "float16", "val_macro_f1": round(f1, 4),
        "adapter_val_macro_f1": round(adapter_f1, 4) if adapter_f1 is not None else None,
        "val_difference_bootstrap": boot, "ensemble": ens,
        "serve": serve, "selection": "head: served when its validation macro-F1 beats the adapter's beyond noise (the "
                                     "5th percentile of a paired bootstrap of the difference over validation rows > 0); "
                                     "ensemble (mean of head and adapter probabilities): served when it beats that "
                                     "single choice by the same rule; test unused",
        "rows": {"train": len(train), "val": len(val)}, "candidates": candidates,
        "fit_s": round(time.time() - t0, 1),
    }
    d = head_dir(model_dir, task)
    d.mkdir(parents=True, exist_ok=True)
    save_file({"weight": backend.weight.astype(np.float16), "bias": backend.bias}, str(d / WEIGHTS_FILE))
    (d / "secllm.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    log(f"{task}: lexical head C={C} val {f1:.4f} vs adapter {adapter_f1}: serves {serve or 'the adapter'}")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m secllm.tasks.lexical_head", description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", help="a multi-task model directory (base + adapters/)")
    ap.add_argument("--task", action="append", required=True, help="task name, repeatable, or 'all'")
    ap.add_argument("--datasets", default=None, help="the shared datasets folder (default: found as usual)")
    ap.add_argument("--no-compare", action="store_true", help="serve the head without comparing with the adapter")
    a = ap.parse_args(argv)
    tasks = a.task
    if tasks == ["all"]:
        tasks = sorted(p.name for p in (Path(a.model_dir) / "adapters").iterdir() if p.is_dir())
    summary = {}
    for t in tasks:
        m = fit_head(a.model_dir, t, datasets=a.datasets, compare_adapter=not a.no_compare,
                     log=lambda msg: print(msg, file=sys.stderr, flush=True))
        summary[t] = {k: m[k] for k in ("C", "val_macro_f1", "adapter_val_macro_f1", "serve")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
