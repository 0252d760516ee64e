"""``secllm eval web-attack``: every system on every web-attack test, written as report directories.

What it does, in order (``EVALUATION.md`` is the rulebook):

1. loads the task's splits (:func:`secllm.tasks.web_attack.load_web_attack`) and **refuses** to go
   on when a test row (canonical text) also appears in the training or validation split;
2. builds the test sets: the HttpParams author test split, the 1book and FuzzDB test splits, the
   cross-source sets (learned baselines trained without 1book and tested on it; trained on 1book
   only and tested on HttpParams; trained without FuzzDB and tested on it), the **evasion** set
   (SQLi/XSS test items mutated by every operator of :mod:`secllm.eval.evasion`, sqlmap's tamper
   scripts included) and, with ``data_file``, the user's own labeled traffic;
3. runs the systems: the given SecLLM model directories (through the full ``detect`` path),
   OWASP CRS in ModSecurity (one nginx run at executing paranoia level 4 gives the anomaly score of
   every level; each level is one system), libinjection, TF-IDF + LR and the length-only shortcut
   (fitted on the training split, thresholds chosen on validation);
4. optionally fine-tunes the ablations from a base: leave one attack family out
   (:func:`leave_one_family_out`), low-label regimes (:func:`low_label`, pretrained vs random init)
   and a linear probe (:func:`linear_probe`);
5. writes one :func:`secllm.eval.report.write_report` directory per test set and a top-level
   ``report.md`` / ``report.json`` with the headline table, the evasion table and the data
   manifest (``split_manifest`` row hashes of every split used).

Thresholds are never chosen on a test set: SecLLM model directories carry the one their fine-tune
chose on validation, learned baselines choose theirs on the validation split (max F1), CRS uses its
own default inbound anomaly threshold (5) and libinjection is binary.

>>> cfg = WebEvalConfig(out=Path("reports/eval-web-attack"), crs=False, sample=200)
>>> cfg.paranoia
(1, 2, 3, 4)
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import random
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secllm.data.corpus import model_text
from secllm.data.split import split_manifest
from secllm.eval.evasion import DEFAULT_TAMPERS, Mutation, SqlmapUnavailable, builtin_ops, evade, sqlmap_tampers
from secllm.eval.report import jsonable, machine_info, write_report
from secllm.tasks.finetune import Examples, FinetuneConfig, best_threshold, finetune
from secllm.tasks.web_attack import LABELS, load_web_attack

__all__ = [
    "BENIGN_USER_LABELS",
    "LeakageError",
    "EvalSet",
    "WebEvalConfig",
    "check_leakage",
    "leave_one_family_out",
    "linear_probe",
    "load_user_data",
    "low_label",
    "run_web_eval",
    "stratified_fraction",
]

# User labels that mean "benign"; every other label counts as malicious (case-insensitive).
BENIGN_USER_LABELS = frozenset({"benign", "norm", "normal", "0"})
# CRS rule-file prefixes -> our attack types (REQUEST-930-APPLICATION-ATTACK-LFI.conf, ...).
_CRS_FAMILY = {"930": "path-traversal", "931": "rfi", "932": "cmdi", "941": "xss", "942": "sqli"}
_UNKNOWN_TYPE = "malicious"  # a flagged item whose attack type a system cannot tell


class LeakageError(ValueError):
    """A test row also appears in the data the systems were trained or tuned on."""


# --------------------------------------------------------------------------------------------
# configuration and test sets
# --------------------------------------------------------------------------------------------
@dataclass
class WebEvalConfig:
    """Everything ``secllm eval web-attack`` takes; see the CLI help for each option."""

    out: Path
    models: dict[str, Path] = field(default_factory=dict)   # system name -> fine-tuned model dir
    model_no1book: Path | None = None                        # fine-tuned without 1book (cross-source)
    datasets: Path | None = None
    data_file: Path | None = None
    crs: bool = True
    paranoia: tuple[int, ...] = (1, 2, 3, 4)
    sample: int | None = None
    seed: int = 0
    threads: int | None = None
    crs_threads: int = 2
    bootstrap: int = 200
    evasion: bool = True
    evasion_items: int = 200                                 # SQLi and XSS originals, each
    tampers: tuple[str, ...] = DEFAULT_TAMPERS
    ablations: bool = False
    base: Path | None = None
    families: tuple[str, ...] = ("sqli", "xss", "cmdi", "path-traversal")
    fractions: tuple[float, ...] = (0.01, 0.1)
    ablation_cfg: FinetuneConfig = field(default_factory=FinetuneConfig)
    progress: bool = True
    # Worker processes for the fits (ablation fine-tunes, TF-IDF baselines), each one CPU thread;
    # 1 = fit everything in this process, one after another.
    jobs: int = 1


@dataclass
class EvalSet:
    """One evaluated set: texts with their truth, and which training data its learned baselines use."""

    name: str
    title: str
    texts: list[str]
    labels: list[str]
    notes: list[str] = field(default_factory=list)
    baseline_train: str = "main"       # key of the training set the learned baselines are fitted on
    secllm: bool = True                # whether the given SecLLM models belong in this comparison
    binary_only: bool = False          # truth is benign/malicious only (user data with generic labels)

    def __len__(self) -> int:
        return len(self.texts)


_T0 = time.perf_counter()


def _log(cfg: WebEvalConfig, msg: str) -> None:
    if cfg.progress:
        print(f"[eval {time.perf_counter() - _T0:7.0f}s] {msg}", file=sys.stderr, flush=True)


def _key(text: str) -> str:
    """The leakage key: the exact string the model reads (``load_web_attack`` de-duplicates on it)."""
    return model_text(text, "payload")


def _key_index(train_sets: dict[str, Examples]) -> dict[str, str]:
    """``{leakage key: name of the first split holding it}`` over the training/validation splits."""
    seen: dict[str, str] = {}
    for name, ex in train_sets.items():
        for t in ex.texts:
            seen.setdefault(_key(t), name)
    return seen


def check_leakage(train_sets: dict[str, Examples], tests: Sequence[EvalSet], *,
                  index: dict[str, str] | None = None) -> None:
    """Raise :class:`LeakageError` when a test text (canonical form) is also a training/validation text.

        >>> tr = {"train": Examples(["' or 1=1"], ["payload"], ["sqli"])}
        >>> check_leakage(tr, [EvalSet("t", "t", ["hello"], ["benign"])])
        >>> check_leakage(tr, [EvalSet("t", "t", ["%27 OR 1=1"], ["sqli"])])
        Traceback (most recent call last):
        ...
        secllm.eval.web_eval.LeakageError: 1 row(s) of test set 't' also appear in train: ['%27 OR 1=1']
    """
    seen = _key_index(train_sets) if index is None else index
    for ts in tests:
        hits = [(t, seen[_key(t)]) for t in ts.texts if _key(t) in seen]
        if hits:
            where = sorted({w for _, w in hits})
            raise LeakageError(f"{len(hits)} row(s) of test set {ts.name!r} also appear in {', '.join(where)}: "
                               f"{[t for t, _ in hits[:5]]!r}")


def stratified_fraction(labels: Sequence[str], fraction: float, seed: int = 0) -> list[int]:
    """Indices of a seeded, per-label ``fraction`` of the rows (at least one row per label), sorted.

        >>> stratified_fraction(["a"] * 10 + ["b"] * 2, 0.1, seed=0)
        [6, 11]
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    keep: list[int] = []
    for lab in sorted(by_label):
        idx = by_label[lab]
        keep += rng.sample(idx, max(1, round(fraction * len(idx))))
    return sorted(keep)


def _sample(ts: EvalSet, n: int | None, seed: int) -> EvalSet:
    """A seeded, label-stratified subsample of ``n`` items (every label keeps at least one when n allows)."""
    if n is None or len(ts) <= n:
        return ts
    rng = random.Random(f"{seed}:{ts.name}")
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(ts.labels):
        by_label.setdefault(lab, []).append(i)
    quota = {lab: max(1, math.floor(n * len(idx) / len(ts))) for lab, idx in by_label.items()}
    while sum(quota.values()) > n:  # too many labels for n: drop from the largest quotas
        big = max(quota, key=lambda k: quota[k])
        if quota[big] == 1:
            break
        quota[big] -= 1
    keep = sorted(i for lab, idx in by_label.items() for i in rng.sample(idx, min(quota[lab], len(idx))))
    return dataclasses.replace(ts, texts=[ts.texts[i] for i in keep], labels=[ts.labels[i] for i in keep],
                               notes=[*ts.notes, f"Seeded stratified sample of {len(keep)} of {len(ts)} items "
                                                 f"(--sample {n}, seed {seed})."])


def load_user_data(path: Path) -> EvalSet:
    """A user's labeled file (CSV with ``text`` and ``label`` columns, or JSONL ``{"text", "label"}``).

    Labels ``benign``/``norm``/``normal``/``0`` (any case) are benign, every other label malicious.
    When every malicious label is one of the task's attack types, per-type metrics are kept;
    otherwise the set is scored as benign vs malicious. Unreadable rows and rows without a label
    are skipped (their count goes into the notes).
    """
    from secllm.data.readers import read_jsonl, read_payload_csv

    p = Path(path)
    if p.suffix.lower() in (".jsonl", ".json", ".ndjson") or p.name.lower().endswith((".jsonl.gz", ".json.gz")):
        recs = list(read_jsonl(p, source="user"))
    else:
        recs = list(read_payload_csv(p, text_col="text", label_col="label", source="user"))
    texts, raw = [], []
    skipped = 0
    for r in recs:
        if r.error or r.label is None or not str(r.label).strip():
            skipped += 1
            continue
        texts.append(r.text)
        raw.append(str(r.label).strip().lower())
    if not texts:
        raise ValueError(f"{p}: no labeled rows (need 'text' and 'label')")
    mal = {lab for lab in raw if lab not in BENIGN_USER_LABELS}
    typed = mal <= set(LABELS)
    labels = ["benign" if lab in BENIGN_USER_LABELS else (lab if typed else _UNKNOWN_TYPE) for lab in raw]
    notes = [f"User data from {p.name}: {len(texts)} labeled rows"
             + (f", {skipped} unreadable or unlabeled rows skipped" if skipped else "") + ".",
             "Labels benign/norm/normal/0 are benign; every other label is malicious."
             + ("" if typed else " The malicious labels are not all attack types of this task, so the set is "
                                 "scored as benign vs malicious.")]
    return EvalSet("user_data", f"Web attack — user data ({p.name})", texts, labels, notes=notes,
                   binary_only=not typed)


# --------------------------------------------------------------------------------------------
# systems
# --------------------------------------------------------------------------------------------
class _System:
    """A detector under test: a malicious score and a best attack type per item, cached by text.

    Items repeat across test sets (the evasion originals, the benign rows re-used by the ablation
    sets); each system judges a text once.
    """

    kind = "system"
    #: What each text is (``payload``/``url``/...; default ``auto``), for the systems that parse
    #: their input (detector, libinjection, CRS): a test row from a payload list is a parameter
    #: value even when it starts with ``/``. Set by :func:`run_web_eval` for its sets.
    kinds: dict[str, str] = {}

    def __init__(self, name: str, threshold: float) -> None:
        self.name = name
        self.threshold = float(threshold)
        self._cache: dict[str, tuple[float, str | None]] = {}
        self.seconds = 0.0
        self.items = 0
        self.extra_timing: dict[str, Any] = {}

    def _judge(self, texts: list[str]) -> list[tuple[float, str | None]]:
        raise NotImplementedError

    def judge(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str | None]]:
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            t0 = time.perf_counter()
            for t, r in zip(todo, self._judge(todo)):
                self._cache[t] = r
            self.seconds += time.perf_counter() - t0
            self.items += len(todo)
        res = [self._cache[t] for t in texts]
        return np.asarray([s for s, _ in res], dtype=np.float64), [k for _, k in res]

    def timing(self) -> dict[str, Any]:
        out = dict(self.extra_timing)
        out["judged_items"] = self.items
        out["predict_s"] = round(self.seconds, 2)
        if self.seconds > 0:
            out["items_per_s"] = round(self.items / self.seconds, 1)
        return out


class _DetectorSystem(_System):
    """A fine-tuned SecLLM model through the full detect path (parts, canonicalisation, max over parts)."""

    kind = "secllm"

    def __init__(self, name: str, model_dir: Path, threads: int | None, cascade: bool = True,
                 det: Any = None) -> None:
        from secllm.detect.detector import WebAttackDetector

        self.det = det if det is not None else WebAttackDetector.load(model_dir, threads=threads)
        self.cascade = cascade
        super().__init__(name, self.det.threshold)
        self.model_dir = Path(model_dir)

    def _judge(self, texts: list[str]) -> list[tuple[float, str | None]]:
        out: list[tuple[float, str | None]] = []
        benign = self.det.labels[self.det.benign_idx]
        for i in range(0, len(texts), 256):
            chunk = texts[i:i + 256]
            for r in self.det.detect(chunk, evidence=False, kind=[self.kinds.get(t, "auto") for t in chunk],
                                     cascade=self.cascade):
                # An item the detector cannot judge (empty, too large) is not detected.
                attacks = {k: v for k, v in r.class_scores.items() if k != benign}
                top = max(attacks, key=lambda k: attacks[k]) if attacks else None
                out.append((float(r.score) if r.score is not None else 0.0, top))
        return out


class _BaselineSystem(_System):
    """A learned baseline (TF-IDF + LR, length-only) on the model's canonical text."""

    kind = "baseline"

    def __init__(self, name: str, model: Any, threshold: float, fit_s: float, train_rows: int) -> None:
        super().__init__(name, threshold)
        self.model = model
        self.extra_timing = {"fit_s": round(fit_s, 2), "train_rows": train_rows}

    def _judge(self, texts: list[str]) -> list[tuple[float, str | None]]:
        p = self.model.predict_proba([_key(t) for t in texts])
        classes = [str(c) for c in self.model.classes_]
        bi = classes.index("benign")
        q = p.copy()
        q[:, bi] = -1.0
        top = q.argmax(1)
        return [(float(1.0 - p[i, bi]), classes[top[i]] if len(classes) > 1 else None) for i in range(len(texts))]


class _LibinjectionSystem(_System):
    kind = "rule"

    def __init__(self) -> None:
        from secllm.eval.rules import Libinjection

        super().__init__("libinjection", 0.5)
        self.li = Libinjection()

    def _judge(self, texts: list[str]) -> list[tuple[float, str | None]]:
        preds = self.li.predict(texts, kinds=[self.kinds.get(t, "auto") for t in texts])
        return [(0.0, None) if p == "benign" else (1.0, str(p)) for p in preds]


class _CRSLevelSystem(_System):
    """One CRS paranoia level, read from results of a single nginx run at executing level 4."""

    kind = "rule"

    def __init__(self, level: int, results: dict[str, Any], anomaly_threshold: int, timing: dict[str, Any]) -> None:
        super().__init__(f"owasp-crs-pl{level}", anomaly_threshold)
        self.level = level
        self.results = results
        self.extra_timing = dict(timing)

    def _judge(self, texts: list[str]) -> list[tuple[float, str | None]]:
        out = []
        for t in texts:
            r = self.results[t]
            fams = Counter(_CRS_FAMILY.get(rule[:3]) for rule in r.rules if rule[:3] in _CRS_FAMILY)
            out.append((r.score_at(self.level), fams.most_common(1)[0][0] if fams else _UNKNOWN_TYPE))
        return out

    def rejected(self, texts: Sequence[str]) -> int:
        from secllm.eval.rules import ModSecurityCRS

        return sum(self.results[t].score == ModSecurityCRS.REJECTED_SCORE for t in texts)


def _fit_baseline(cls: Callable[..., Any], name: str, train: Examples, val: Examples) -> _BaselineSystem:
    """Fit on ``train``; the threshold maximises binary F1 on ``val`` (as benchmarks/web_attack.py does)."""
    t0 = time.perf_counter()
    model = cls().fit([model_text(t, m) for t, m in zip(train.texts, train.modalities)], train.labels)
    fit_s = time.perf_counter() - t0
    classes = [str(c) for c in model.classes_]
    if "benign" not in classes:
        raise ValueError(f"{name}: the training data has no benign rows")
    p = model.predict_proba([model_text(t, m) for t, m in zip(val.texts, val.modalities)])
    bi = classes.index("benign")
    thr = best_threshold(np.array([y != "benign" for y in val.labels]), 1.0 - p[:, bi]) if len(val) else 0.5
    return _BaselineSystem(name, model, thr, fit_s, len(train))


def _run_crs(texts: Sequence[str], cfg: WebEvalConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send every distinct text once through nginx + ModSecurity + CRS; ``{text: CRSResult}``, timing."""
    from secllm.eval.rules import ModSecurityCRS, is_available

    avail = is_available()
    if not avail:
        raise RuntimeError(f"OWASP CRS is not available ({avail.reason}); install it with "
                           "scripts/install_system_deps.sh or run with --no-crs")
    uniq = list(dict.fromkeys(texts))
    # Blocking happens at PL1 (the instance's level); executing up to the highest requested level
    # records the per-level counters, so every level's score comes from this one run.
    with ModSecurityCRS(paranoia_level=1, executing_paranoia_level=max(cfg.paranoia),
                        threads=cfg.crs_threads) as waf:
        results = waf.send(uniq, kinds=[_System.kinds.get(t, "auto") for t in uniq])
        timing = dict(waf.last_timing)
        threshold = waf.anomaly_threshold
    timing = {"requests_per_s": round(float(timing.get("requests_per_s", float("nan"))), 1),
              "crs_requests": len(uniq), "crs_threads": cfg.crs_threads, "anomaly_threshold": threshold}
    return dict(zip(uniq, results)), timing


# --------------------------------------------------------------------------------------------
# ablations (fine-tuning from a base)
# --------------------------------------------------------------------------------------------
def leave_one_family_out(family: str, train: Examples, val: Examples, out_dir: str | Path, *,
                         base_dir: str | Path, labels: Sequence[str] = LABELS,
                         cfg: FinetuneConfig | None = None, progress: bool = False) -> Path:
    """Fine-tune from ``base_dir`` with every ``family`` row removed from training and validation.

    The family is also dropped from the label set, so the model cannot name it: the question is
    whether it still flags the family's items as *malicious* (some other attack class) -- the
    zero-day question.

        >>> leave_one_family_out("xss", train, val, "runs/lofo-xss", base_dir="runs/base/model")  # doctest: +SKIP
    """
    if family not in labels or family == "benign":
        raise ValueError(f"{family!r} is not an attack family of {list(labels)}")
    keep_tr = [i for i, lab in enumerate(train.labels) if lab != family]
    keep_va = [i for i, lab in enumerate(val.labels) if lab != family]
    if len(keep_tr) == len(train):
        raise ValueError(f"no {family!r} rows in the training data: nothing to leave out")
    return finetune(train.subset(keep_tr), val.subset(keep_va), [lab for lab in labels if lab != family], out_dir,
                    base_dir=base_dir, cfg=cfg, progress=progress,
                    extra_meta={"ablation": {"kind": "leave-one-family-out", "family": family,
                                             "dropped_train_rows": len(train) - len(keep_tr),
                                             "dropped_val_rows": len(val) - len(keep_va)}})


def _fraction_sets(train: Examples, val: Examples, fraction: float, seed: int) -> tuple[Examples, Examples]:
    """A stratified ``fraction`` of the training and of the validation rows (seeded)."""
    tr = train.subset(stratified_fraction(train.labels, fraction, seed))
    va = val.subset(stratified_fraction(val.labels, fraction, seed)) if len(val) else val
    return tr, va


def low_label(fraction: float, train: Examples, val: Examples, out_dir: str | Path, *,
              base_dir: str | Path, labels: Sequence[str] = LABELS, cfg: FinetuneConfig | None = None,
              seed: int = 0, init: str = "pretrained", progress: bool = False) -> Path:
    """Fine-tune on a stratified ``fraction`` of the training labels (and of validation: a team with
    1% of the labels also has 1% for choosing the threshold), from the pretrained base or -- with
    ``init="random"`` -- the same architecture and tokenizer randomly initialised.

        >>> low_label(0.01, train, val, "runs/low-1pct", base_dir="runs/base/model")  # doctest: +SKIP
    """
    from secllm.model.config import ModelConfig
    from secllm.model.modeling import read_meta
    from secllm.tokenizer import SecTokenizer

    if init not in ("pretrained", "random"):
        raise ValueError(f"init must be 'pretrained' or 'random', got {init!r}")
    tr, va = _fraction_sets(train, val, fraction, seed)
    meta = {"ablation": {"kind": "low-label", "fraction": fraction, "seed": seed, "init": init,
                         "train_rows": len(tr), "val_rows": len(va)}}
    if init == "random":
        base_meta = read_meta(base_dir)
        return finetune(tr, va, list(labels), out_dir, tokenizer=SecTokenizer.load(base_dir),
                        model_cfg=ModelConfig.from_json(base_meta["model_config"]), cfg=cfg,
                        progress=progress, extra_meta=meta)
    return finetune(tr, va, list(labels), out_dir, base_dir=base_dir, cfg=cfg, progress=progress, extra_meta=meta)


def linear_probe(train: Examples, val: Examples, out_dir: str | Path, *, base_dir: str | Path,
                 labels: Sequence[str] = LABELS, cfg: FinetuneConfig | None = None, progress: bool = False) -> Path:
    """The frozen-base ablation: only the classification head is trained."""
    cfg = dataclasses.replace(cfg or FinetuneConfig(), freeze_base=True)
    return finetune(train, val, list(labels), out_dir, base_dir=base_dir, cfg=cfg, progress=progress,
                    extra_meta={"ablation": {"kind": "linear-probe"}})


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------
def _labels_of(ts: EvalSet) -> list[str]:
    present = set(ts.labels)
    if ts.binary_only:
        return ["benign", _UNKNOWN_TYPE]
    known = [lab for lab in LABELS if lab in present]
    return known + sorted(present - set(known))


def _entry(system: _System, ts: EvalSet) -> dict[str, Any]:
    """One system on one test set, in the shape ``write_report`` takes."""
    scores, types = system.judge(ts.texts)
    flagged = scores >= system.threshold
    if ts.binary_only:
        y_pred = [_UNKNOWN_TYPE if f else "benign" for f in flagged]
    else:
        y_pred = [(k or _UNKNOWN_TYPE) if f else "benign" for f, k in zip(flagged, types)]
    return {"y_true": ts.labels, "y_pred": y_pred, "y_score": scores.tolist(), "labels": _labels_of(ts),
            "benign_label": "benign", "threshold": system.threshold, "timing": system.timing()}


def _headline_row(test: str, name: str, r: dict[str, Any]) -> dict[str, Any]:
    b, m = r["binary"], r["multiclass"]
    return {"test_set": test, "system": name, "n": r["n"], "macro_f1": m["macro_f1"], "roc_auc": b["roc_auc"],
            "pr_auc": b["pr_auc"], "tpr_at_fpr_1e-2": b["tpr_at_fpr_1e-2"], "tpr_at_fpr_1e-3": b["tpr_at_fpr_1e-3"],
            "recall": b["recall"], "fpr": b["fpr"], "precision_at_prevalence_1e-3": b["precision_at_prevalence_1e-3"],
            "false_alerts_per_million": b["false_alerts_per_million"]}


def _split_manifest_of(ts: EvalSet) -> dict[str, Any]:
    return {"rows": len(ts), "label_counts": dict(sorted(Counter(ts.labels).items())),
            "split": split_manifest(ts.texts, ["test"] * len(ts))["splits"]["test"]}


def _evasion_table(systems: Sequence[_System], pairs: Sequence[tuple[str, str, str]],
                   ops: Sequence[Mutation]) -> dict[str, Any]:
    """Detection rate before/after, per system and operator, on exactly the pairs each operator changed."""
    family = {op.name: op.family for op in ops}
    out: dict[str, Any] = {}
    for sys_ in systems:
        before_s, _ = sys_.judge([p[1] for p in pairs])
        after_s, _ = sys_.judge([p[2] for p in pairs])
        before, after = before_s >= sys_.threshold, after_s >= sys_.threshold
        rows: dict[str, Any] = {}
        # Row order: all pairs, then each operator family, then each operator (in operator order).
        groups: dict[str, list[int]] = {"all": list(range(len(pairs)))}
        for op in ops:
            groups.setdefault(f"family:{op.family}", [])
        for op in ops:
            groups.setdefault(op.name, [])
        for i, p in enumerate(pairs):
            groups.setdefault(f"family:{family.get(p[0], '?')}", []).append(i)
            groups.setdefault(p[0], []).append(i)
        groups = {g: idx for g, idx in groups.items() if idx}
        for g, idx in groups.items():
            b, a = before[idx], after[idx]
            rows[g] = {"n": len(idx), "before": float(b.mean()), "after": float(a.mean()),
                       "evaded": int(np.sum(b & ~a)),        # detected before, missed after
                       "gained": int(np.sum(~b & a))}        # missed before, detected after
        out[sys_.name] = rows
    return out


def _evasion_markdown(table: dict[str, Any], rejected: dict[str, int]) -> str:
    if not table:
        return ""
    systems = list(table)
    groups = list(next(iter(table.values())))
    lines = ["", "## Evasion: detection rate before → after mutation", "",
             "Each row holds the SQLi/XSS test items the operator changed (n); a system's cell is the share it "
             "flagged at its own threshold before → after. `evaded` counts items detected before and missed after.",
             "", "| operator | n | " + " | ".join(s.replace("|", "\\|") for s in systems) + " |",
             "|---|---|" + "---|" * len(systems)]
    for g in groups:
        n = table[systems[0]][g]["n"]
        cells = [f"{table[s][g]['before']:.3f} → {table[s][g]['after']:.3f} (evaded {table[s][g]['evaded']})"
                 for s in systems]
        lines.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
    if rejected:
        lines += ["", "Mutated requests nginx itself refused (counted as detected by CRS): "
                  + ", ".join(f"{k}: {v}" for k, v in rejected.items()) + "."]
    return "\n".join(lines) + "\n"


def _append_evasion(report_dir: Path, table: dict[str, Any], ops: Sequence[Mutation], rejected: dict[str, int]) -> None:
    """Add the before/after table to the evasion report (``report.md`` section, ``report.json`` key)."""
    md = report_dir / "report.md"
    md.write_text(md.read_text(encoding="utf-8") + _evasion_markdown(table, rejected), encoding="utf-8")
    js = report_dir / "report.json"
    rep = json.loads(js.read_text(encoding="utf-8"))
    rep["evasion"] = jsonable({"operators": [{"name": o.name, "family": o.family, "applies_to": sorted(o.applies_to)}
                                              for o in ops], "detection_rate": table, "crs_rejected": rejected})
    js.write_text(json.dumps(rep, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")


def _training_sets(data: dict[str, Examples]) -> dict[str, tuple[Examples, Examples]]:
    """Training/validation pairs of the learned baselines, by name (cross-source ones need row sources)."""
    train, val = data["train"], data["val"]
    out = {"main": (train, val)}
    if train.sources and val.sources:
        def pick(ex: Examples, keep: Callable[[str], bool]) -> Examples:
            return ex.subset([i for i, s in enumerate(ex.sources) if keep(s)])

        def is_1book(s: str) -> bool:
            return s.startswith("1book")

        out["no_1book"] = (pick(train, lambda s: not is_1book(s)), pick(val, lambda s: not is_1book(s)))
        out["1book_only"] = (pick(train, is_1book), pick(val, is_1book))
        out["no_fuzzdb"] = (pick(train, lambda s: s != "fuzzdb"), pick(val, lambda s: s != "fuzzdb"))
    return out


def _usable(tr: tuple[Examples, Examples]) -> bool:
    train, _ = tr
    return len(train) > 0 and "benign" in train.labels and len(set(train.labels)) > 1


def _build_tests(data: dict[str, Examples] | None, cfg: WebEvalConfig,
                 trainsets: dict[str, tuple[Examples, Examples]]) -> list[EvalSet]:
    tests: list[EvalSet] = []
    if data is not None:
        common = ["Thresholds: each system's own, chosen on validation (SecLLM: its fine-tune; TF-IDF/length: max "
                  "F1 on the validation split); CRS: its default inbound anomaly threshold 5; libinjection: binary.",
                  "length-only is a shortcut baseline: how far input length alone separates the classes."]
        spec = [("test:http_params", "http_params", "Web attack — HttpParams author test split", []),
                ("test:1book", "1book", "Web attack — 1book URL test split",
                 ["1book benign and attack lines come from different sites: site style is a shortcut here; "
                  "see cross_source_1book."]),
                ("test:fuzzdb", "fuzzdb", "Web attack — FuzzDB test split (attack-only)",
                 ["FuzzDB is attack-only: FPR/ROC are undefined here; read recall and per-class F1."])]
        for key, name, title, notes in spec:
            if key in data and len(data[key]):
                tests.append(EvalSet(name, title, list(data[key].texts), list(data[key].labels), [*common, *notes]))
        by = {t.name: t for t in tests}
        cross = [("cross_source_1book", "1book", "no_1book",
                  "Cross-source: learned baselines trained without any 1book row, tested on the 1book test split"),
                 ("cross_source_http_params", "http_params", "1book_only",
                  "Cross-source: learned baselines trained on 1book URLs only, tested on the HttpParams test split"),
                 ("cross_source_fuzzdb", "fuzzdb", "no_fuzzdb",
                  "Cross-source: learned baselines trained without FuzzDB, tested on the FuzzDB test split")]
        for name, src, train_key, title in cross:
            if src in by and train_key in trainsets and _usable(trainsets[train_key]):
                notes = [f"Learned baselines (TF-IDF, length) are fitted on the '{train_key}' training subset and "
                         "its validation subset; rule engines learn nothing and are repeated for reference.",
                         "The SecLLM models given with --model were fine-tuned on every source, so they are left "
                         "out here" + (" (except the --model-no1book model)" if name == "cross_source_1book" else "")
                         + "; the pretrained base saw only unlabeled *training* rows of every source."]
                if train_key == "1book_only":
                    notes.append("1book has only benign/sqli/xss labels: other attack types cannot be named.")
                tests.append(EvalSet(name, title, by[src].texts, by[src].labels, notes, baseline_train=train_key,
                                     secllm=False))
    if cfg.data_file is not None:
        tests.append(load_user_data(cfg.data_file))
    return [_sample(t, cfg.sample, cfg.seed) if not t.name.startswith("cross_source") else t for t in tests]


def _resample_cross(tests: list[EvalSet]) -> list[EvalSet]:
    """Cross-source sets reuse the (sampled) items of their in-source set, so both compare on the same rows."""
    by = {t.name: t for t in tests}
    src = {"cross_source_1book": "1book", "cross_source_http_params": "http_params", "cross_source_fuzzdb": "fuzzdb"}
    out = []
    for t in tests:
        if t.name in src and src[t.name] in by:
            s = by[src[t.name]]
            extra = [n for n in s.notes if n.startswith("Seeded stratified sample")]
            t = dataclasses.replace(t, texts=s.texts, labels=s.labels, notes=[*t.notes, *extra])
        out.append(t)
    return out


def _evasion_set(tests: Sequence[EvalSet], cfg: WebEvalConfig, train_keys: dict[str, str]) -> tuple[
        EvalSet | None, list[tuple[str, str, str]], list[Mutation], list[str]]:
    """SQLi/XSS originals from the in-source test sets, mutated by every operator (and tamper script)."""
    notes: list[str] = []
    ops = builtin_ops()
    try:
        ops += sqlmap_tampers(cfg.tampers) if cfg.tampers else []
    except SqlmapUnavailable as exc:
        notes.append(f"sqlmap tamper scripts not used: {exc}")
    pool: dict[str, str] = {}
    for t in tests:
        if t.name in ("http_params", "1book", "fuzzdb"):
            for text, lab in zip(t.texts, t.labels):
                if lab in ("sqli", "xss"):
                    pool.setdefault(text, lab)
    originals: list[tuple[str, str]] = []
    rng = random.Random(f"{cfg.seed}:evasion")
    for lab in ("sqli", "xss"):
        items = sorted(t for t, lab2 in pool.items() if lab2 == lab)
        originals += [(t, lab) for t in rng.sample(items, min(cfg.evasion_items, len(items)))]
    if not originals:
        return None, [], ops, notes
    pairs = [tuple(m) for m in evade([t for t, _ in originals], [lab for _, lab in originals], ops, seed=cfg.seed)]
    # A mutation can land exactly on a training row (e.g. "1 || 1=1"): that pair would measure memory.
    leaked = [p for p in pairs if _key(p[2]) in train_keys]
    pairs = [p for p in pairs if _key(p[2]) not in train_keys]
    label_of = dict(originals)
    mutated = list(dict.fromkeys(p[2] for p in pairs))
    mut_label = {p[2]: label_of[p[1]] for p in pairs}
    benign = next((t for t in tests if t.name == "http_params"), None)
    b_texts = [x for x, lab in zip(benign.texts, benign.labels) if lab == "benign"] if benign else []
    notes += [f"{len(originals)} SQLi/XSS originals (up to {cfg.evasion_items} per class, seeded) from the in-source "
              f"test sets; {len(ops)} operators; {len(pairs)} changed (operator, item) pairs, {len(mutated)} distinct "
              "mutated items.",
              "The report's systems table scores the distinct mutated items together with the benign HttpParams test "
              "items (for FPR/ROC); the before → after table compares each system on the same items.",
              "Encoding operators test robustness to encodings a server may decode; whether a given backend decodes "
              "them is a separate question."]
    if leaked:
        notes.append(f"{len(leaked)} mutated items equal to a training row were dropped.")
    ts = EvalSet("evasion", "Web attack — evasion (mutated SQLi/XSS test items)", mutated + b_texts,
                 [mut_label[m] for m in mutated] + ["benign"] * len(b_texts), notes)
    return ts, pairs, ops, notes


def _lofo_set(family: str, tests: Sequence[EvalSet]) -> EvalSet | None:
    texts: dict[str, str] = {}
    for t in tests:
        if t.name in ("http_params", "1book", "fuzzdb"):
            for x, lab in zip(t.texts, t.labels):
                if lab == family or (lab == "benign" and t.name == "http_params"):
                    texts.setdefault(x, lab)
    if family not in texts.values():
        return None
    return EvalSet(f"lofo_{family}", f"Novel family: {family} left out of fine-tuning", list(texts),
                   list(texts.values()), baseline_train=f"lofo_{family}", notes=
                   [f"The lofo models never saw a {family} row (nor its label) in fine-tuning; their per-class F1 "
                    f"for {family} is 0 by construction. The question is the binary one: is the family still "
                    "flagged malicious (recall), at what false-positive rate on the benign HttpParams test items.",
                    "The SecLLM model trained with the family and the rule engines are shown for reference."])


def run_web_eval(cfg: WebEvalConfig) -> dict[str, Any]:
    """Run the whole evaluation and write the report directories under ``cfg.out``; returns the index."""
    from secllm.paths import datasets_dir

    t_start = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    data: dict[str, Examples] | None
    dropped = None
    try:
        root = datasets_dir(cfg.datasets)
        _log(cfg, f"loading web-attack splits from {root}")
        data = load_web_attack(root)
        dropped = data.pop("_dropped_overlap", None)  # type: ignore[arg-type]
    except FileNotFoundError:
        if cfg.data_file is None:
            raise
        data = None  # user data only: no training split, so no learned baselines or built-in sets
    trainsets = _training_sets(data) if data is not None else {}
    tests = _resample_cross(_build_tests(data, cfg, trainsets))
    train_sets = {"train": data["train"], "val": data["val"]} if data is not None else {}

    # Data snooping check: no built-in test row may be a training or validation row.
    train_keys = _key_index(train_sets)  # canonicalising ~100k rows takes seconds: once
    check_leakage(train_sets, [t for t in tests if t.name != "user_data"], index=train_keys)
    for i, t in enumerate(tests):
        if t.name == "user_data" and train_keys:
            keep = [j for j, x in enumerate(t.texts) if _key(x) not in train_keys]
            if len(keep) < len(t):
                tests[i] = dataclasses.replace(t, texts=[t.texts[j] for j in keep], labels=[t.labels[j] for j in keep],
                                               notes=[*t.notes, f"{len(t) - len(keep)} rows equal to a training or "
                                                      "validation row (canonical text) were removed: the systems "
                                                      "were fitted on them."])
    pairs: list[tuple[str, str, str]] = []
    ops: list[Mutation] = []
    if cfg.evasion and data is not None:
        ev, pairs, ops, _ = _evasion_set(tests, cfg, train_keys)
        if ev is not None:
            tests.append(ev)
    # Payload-list rows are parameter values: every system that parses input is told so (a bare
    # "/etc/passwd" is a value, not a URL); a mutated item is what its original was.
    kinds: dict[str, str] = {}
    if data is not None:
        for key, ex in data.items():
            if key.startswith("test:"):
                for t, m in zip(ex.texts, ex.modalities):
                    if m == "payload":
                        kinds[t] = "payload"
    for _, orig, mut in pairs:
        if kinds.get(orig) == "payload":
            kinds[mut] = "payload"
    _System.kinds = kinds

    # Systems --------------------------------------------------------------------------------
    secllm: list[_System] = []
    for name, d in cfg.models.items():
        main_sys = _DetectorSystem(name, d, cfg.threads)
        secllm.append(main_sys)
        if main_sys.det.has_cascade:   # the cascade's cost: the same model, every part on the full model
            secllm.append(_DetectorSystem(f"{name} (no cascade)", d, cfg.threads, cascade=False, det=main_sys.det))
    if cfg.ablations and (cfg.base is None or data is None):
        raise ValueError("ablations need --base DIR (a pretrained base) and the datasets")
    lofo_fams = [fam for fam in cfg.families if data is not None and fam in data["train"].labels] \
        if cfg.ablations else []
    for fam in lofo_fams:
        # The novel-family question for the shallow baseline too: TF-IDF fitted without the family.
        tr, va = trainsets["main"]
        trainsets[f"lofo_{fam}"] = (tr.subset([i for i, lab in enumerate(tr.labels) if lab != fam]),
                                    va.subset([i for i, lab in enumerate(va.labels) if lab != fam]))
        lt = _lofo_set(fam, tests)
        if lt is not None:
            tests.append(lt)
    needed = {t.baseline_train for t in tests} | {f"lofo_{fam}" for fam in lofo_fams}
    baseline_keys = [k for k in sorted(needed) if k in trainsets and _usable(trainsets[k])]

    # Every fit is submitted first (the longest, the fine-tunes, at the head of the queue); with
    # jobs > 1 they run in worker processes while this process drives nginx + CRS.
    fits = _Fits(cfg)
    timings: dict[str, Any] = {"jobs": cfg.jobs}
    try:
        if cfg.ablations:
            assert data is not None
            _submit_ablations(cfg, data, out / "ablations" / "models", fits)
        for key in baseline_keys:
            tr, va = trainsets[key]
            fits.submit(f"baselines:{key}", _fit_baselines, key, tr, va)

        rules: list[_System] = [_LibinjectionSystem()]
        crs_timing: dict[str, Any] = {}
        if cfg.crs:
            texts = [x for t in tests for x in t.texts] + [p[1] for p in pairs]
            _log(cfg, f"OWASP CRS: sending {len(set(texts))} distinct requests through nginx + ModSecurity")
            t0 = time.perf_counter()
            results, crs_timing = _run_crs(texts, cfg)
            timings["crs_s"] = round(time.perf_counter() - t0, 1)
            rules += [_CRSLevelSystem(lvl, results, crs_timing["anomaly_threshold"], crs_timing)
                      for lvl in cfg.paranoia]

        ablation_info: dict[str, Any] = {}
        lofo_systems: dict[str, _System] = {}
        low_systems: list[_System] = []
        if cfg.ablations:
            ablation_info, lofo_systems, low_systems, probe = _collect_ablations(cfg, data, fits)
            if probe is not None and not any(s.name == "secllm-linear-probe" for s in secllm):
                secllm.append(probe)
        baselines: dict[str, list[_System]] = {key: fits.result(f"baselines:{key}") for key in baseline_keys}
    finally:
        fits.close()
    timings["fits_s"] = {k: round(v, 1) for k, v in fits.seconds.items()}
    timings["fits_wall_s"] = round(fits.wall_s, 1)
    no1 = _DetectorSystem("secllm (no 1book)", cfg.model_no1book, cfg.threads) if cfg.model_no1book else None

    # Reports --------------------------------------------------------------------------------
    headline: list[dict[str, Any]] = []
    reports: dict[str, str] = {}
    manifests: dict[str, Any] = {}
    crs_rejected: dict[str, int] = {}
    evasion_table: dict[str, Any] = {}
    for ts in tests:
        systems: list[_System] = []
        if ts.name.startswith("lofo_"):
            fam = ts.name[len("lofo_"):]
            systems += [lofo_systems[fam], *baselines.get(f"lofo_{fam}", []), *secllm[:1], *rules]
        else:
            if ts.secllm:
                systems += secllm
            elif ts.name == "cross_source_1book" and no1 is not None:
                systems.append(no1)
            systems += rules
            systems += baselines.get(ts.baseline_train, [])
        if not systems:
            continue
        _log(cfg, f"evaluating {len(systems)} systems on {ts.name} ({len(ts)} items)")
        t0 = time.perf_counter()
        entries = {s.name: _entry(s, ts) for s in systems}
        notes = list(ts.notes)
        crs = [s for s in systems if isinstance(s, _CRSLevelSystem)]
        if crs:
            n_rej = crs[0].rejected(ts.texts)
            crs_rejected[ts.name] = n_rej
            notes.append(f"OWASP CRS: {n_rej} of {len(ts)} requests were refused by nginx/ModSecurity outside anomaly "
                         "scoring (e.g. 400 for a malformed request); they count as detected (score "
                         "REJECTED_SCORE) at every paranoia level. CRS's anomaly score is the curve score; "
                         "all levels come from one run at executing paranoia level "
                         f"{max(cfg.paranoia)} (blocking at level 1).")
        manifest = {"task": "web-attack", "test_set": ts.name, "test": _split_manifest_of(ts)}
        if data is not None and ts.name != "user_data":
            tr, va = trainsets.get(ts.baseline_train, trainsets["main"])
            manifest["baseline_training"] = {"name": ts.baseline_train, "train_rows": len(tr), "val_rows": len(va)}
        rep = write_report(out / ts.name, title=ts.title, manifest=manifest, systems=entries, machine=machine,
                           notes=notes, bootstrap=cfg.bootstrap, seed=cfg.seed)
        if ts.name == "evasion":
            rej = {}
            if crs:
                rej = {"mutated": crs[0].rejected(list(dict.fromkeys(p[2] for p in pairs))),
                       "originals": crs[0].rejected(list(dict.fromkeys(p[1] for p in pairs)))}
            evasion_table = _evasion_table([s for s in systems if s.name in entries], pairs, ops)
            _append_evasion(out / ts.name, evasion_table, ops, rej)
        reports[ts.name] = f"{ts.name}/report.md"
        manifests[ts.name] = manifest["test"]
        timings.setdefault("report_s", {})[ts.name] = round(time.perf_counter() - t0, 1)
        headline += [_headline_row(ts.name, n, r) for n, r in rep["systems"].items()]

    if low_systems and data is not None:
        hp = next((t for t in tests if t.name == "http_params"), None)
        if hp is not None:
            entries = {s.name: _entry(s, hp) for s in [*low_systems, *secllm]}
            rep = write_report(out / "low_label", title="Ablation — low-label fine-tuning (HttpParams test split)",
                               manifest={"task": "web-attack", "test_set": "http_params (low-label)",
                                         "test": _split_manifest_of(hp), "ablations": ablation_info.get("low_label")},
                               systems=entries, machine=machine, bootstrap=cfg.bootstrap, seed=cfg.seed,
                               notes=["Same recipe on a stratified fraction of the training (and validation) labels, "
                                      "from the pretrained base and from random initialisation; TF-IDF + LR on the "
                                      "same fraction. If pretrained does not beat random init, that is the finding."])
            reports["low_label"] = "low_label/report.md"
            headline += [_headline_row("low_label", n, r) for n, r in rep["systems"].items()]

    index = _write_index(out, cfg, data, trainsets, dropped, tests, headline, reports, manifests, evasion_table,
                         crs_rejected, ablation_info, machine, time.perf_counter() - t_start, crs_timing,
                         timings)
    _log(cfg, f"done in {time.perf_counter() - t_start:.0f} s")
    return index


def _worker_init() -> None:
    """A fit worker: one CPU thread (the workers share the machine's cores)."""
    import os

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # the TF-IDF fits need no torch
        pass


def _timed(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(*args, **kw), time.perf_counter() - t0


class _Fits:
    """The evaluation's fits by name: in ``cfg.jobs`` worker processes (spawned, one thread each),
    or one after another in this process when ``jobs <= 1``."""

    def __init__(self, cfg: WebEvalConfig) -> None:
        self.cfg = cfg
        self.pool = None
        self.pending: dict[str, Any] = {}
        self.results: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self._t0 = time.perf_counter()
        self.wall_s = 0.0
        if cfg.jobs > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(cfg.jobs, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_init)

    @property
    def progress(self) -> bool:
        """Progress bars only when fitting here (workers' bars would interleave)."""
        return self.cfg.progress and self.pool is None

    def submit(self, name: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        if self.pool is None:
            _log(self.cfg, f"fitting {name}")
            self.results[name], self.seconds[name] = _timed(fn, *args, **kw)
        else:
            self.pending[name] = self.pool.submit(_timed, fn, *args, **kw)

    def result(self, name: str) -> Any:
        fut = self.pending.pop(name, None)
        if fut is not None:
            self.results[name], self.seconds[name] = fut.result()
            _log(self.cfg, f"fitted {name} ({self.seconds[name]:.0f} s)")
        self.wall_s = time.perf_counter() - self._t0
        return self.results[name]

    def close(self) -> None:
        if self.pool is not None:
            for fut in self.pending.values():
                fut.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _fit_baselines(key: str, train: Examples, val: Examples) -> list[_System]:
    """TF-IDF + LR (and, except for the leave-one-family-out sets, the length-only shortcut)."""
    from secllm.eval.baselines import LengthOnly, TfidfLogReg

    suffix = "" if key == "main" else f" ({key.replace('_', ' ')})"
    out: list[_System] = [_fit_baseline(TfidfLogReg, f"tfidf-char-lr{suffix}", train, val)]
    if not key.startswith("lofo_"):
        out.append(_fit_baseline(LengthOnly, f"length-only{suffix}", train, val))
    return out


def _submit_ablations(cfg: WebEvalConfig, data: dict[str, Examples], models_dir: Path, fits: _Fits) -> None:
    """Submit the ablation fine-tunes from ``cfg.base`` (and the low-label TF-IDF fits)."""
    from secllm.eval.baselines import TfidfLogReg

    assert cfg.base is not None
    train, val = data["train"], data["val"]
    common = {"base_dir": cfg.base, "cfg": cfg.ablation_cfg, "progress": fits.progress}
    for fam in cfg.families:
        if fam in train.labels:
            fits.submit(f"lofo:{fam}", leave_one_family_out, fam, train, val, models_dir / f"lofo-{fam}", **common)
    for frac in cfg.fractions:
        pct = f"{frac * 100:g}%"
        for init in ("pretrained", "random"):
            fits.submit(f"low:{init}@{pct}", low_label, frac, train, val,
                        models_dir / f"low-{pct.rstrip('%')}pct-{init}", seed=cfg.seed, init=init, **common)
    if "secllm-linear-probe" not in cfg.models:
        fits.submit("probe", linear_probe, train, val, models_dir / "linear-probe", **common)
    for frac in cfg.fractions:
        tr, va = _fraction_sets(train, val, frac, cfg.seed)
        if _usable((tr, va)):
            fits.submit(f"low:tfidf@{frac * 100:g}%", _fit_baseline, TfidfLogReg, f"tfidf-char-lr@{frac * 100:g}%",
                        tr, va)


def _collect_ablations(cfg: WebEvalConfig, data: dict[str, Examples], fits: _Fits) -> tuple[
        dict[str, Any], dict[str, _System], list[_System], _System | None]:
    """Wait for the ablation fits of :func:`_submit_ablations` and wrap them as systems."""
    train = data["train"]
    info: dict[str, Any] = {"base": str(cfg.base), "finetune_config": dataclasses.asdict(cfg.ablation_cfg),
                            "lofo": {}, "low_label": {}}
    lofo: dict[str, _System] = {}
    for fam in cfg.families:
        if fam not in train.labels:
            info["lofo"][fam] = "skipped: no training rows"
            continue
        d = fits.result(f"lofo:{fam}")
        lofo[fam] = _DetectorSystem(f"secllm-lofo-{fam}", d, cfg.threads)
        info["lofo"][fam] = str(d)
    low: list[_System] = []
    for frac in cfg.fractions:
        pct = f"{frac * 100:g}%"
        for init in ("pretrained", "random"):
            d = fits.result(f"low:{init}@{pct}")
            low.append(_DetectorSystem(f"secllm-{'pretrained' if init == 'pretrained' else 'random-init'}@{pct}",
                                       d, cfg.threads))
            info["low_label"][f"{init}@{pct}"] = str(d)
        if f"low:tfidf@{pct}" in fits.pending or f"low:tfidf@{pct}" in fits.results:
            low.append(fits.result(f"low:tfidf@{pct}"))
    probe = None
    if "secllm-linear-probe" not in cfg.models:
        d = fits.result("probe")
        probe = _DetectorSystem("secllm-linear-probe", d, cfg.threads)
        info["linear_probe"] = str(d)
    return info, lofo, low, probe


def _fmt(x: Any, count: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{float(x):,.0f}" if count else f"{float(x):.4f}"


def _write_index(out: Path, cfg: WebEvalConfig, data: dict[str, Examples] | None,
                 trainsets: dict[str, tuple[Examples, Examples]], dropped: Any, tests: Sequence[EvalSet],
                 headline: list[dict[str, Any]], reports: dict[str, str], manifests: dict[str, Any],
                 evasion_table: dict[str, Any], crs_rejected: dict[str, int], ablations: dict[str, Any],
                 machine: dict[str, Any], elapsed: float, crs_timing: dict[str, Any],
                 timings: dict[str, Any] | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {"task": "web-attack", "test_sets": manifests}
    if data is not None:
        tr, va = data["train"], data["val"]
        manifest.update({
            "split_rule": "HttpParams: author train/test, val = stratified 10% of train (seed 0); 1book: dedupe, "
                          "stratified 80/10/10 (seed 0), good-xss subsampled (seed 0); FuzzDB: stratified 80/10/10 "
                          "by category (seed 0). Train/val rows whose canonical text equals a test row of any source "
                          "were removed before anything was fitted.",
            "dropped_train_val_rows_equal_to_a_test_row": dropped,
            "train": {"rows": len(tr), "label_counts": dict(sorted(Counter(tr.labels).items())),
                      "source_counts": dict(sorted(Counter(tr.sources).items())) if tr.sources else None},
            "val": {"rows": len(va), "label_counts": dict(sorted(Counter(va.labels).items()))},
            "train_val_split": split_manifest(tr.texts + va.texts, ["train"] * len(tr) + ["val"] * len(va))["splits"],
            "baseline_training_sets": {k: {"train_rows": len(a), "val_rows": len(b)} for k, (a, b) in trainsets.items()},
        })
    manifest["models"] = {n: str(p) for n, p in cfg.models.items()}
    if cfg.model_no1book:
        manifest["models"]["secllm (no 1book)"] = str(cfg.model_no1book)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()
                if k not in ("models", "ablation_cfg", "progress")}
    evasion_summary = {s: rows.get("all") for s, rows in evasion_table.items()}
    index = {
        "title": "SecLLM evaluation — web-attack",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
        "settings": settings,
        "headline": headline,
        "evasion": evasion_summary,
        "crs_rejected": crs_rejected,
        "ablations": ablations or None,
        "reports": reports,
        "manifest": manifest,
        "machine": machine,
        "timings": {"total_s": round(elapsed, 1), "crs": crs_timing or None, **(timings or {})},
    }
    index = jsonable(index)
    (out / "report.json").write_text(json.dumps(index, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")

    lines = [f"# {index['title']}", "", f"Created {index['created']} by `{index['command']}` in {elapsed:.0f} s.", "",
             "Every number comes from the test splits below, read once here; thresholds were chosen on validation "
             "(CRS: its default anomaly threshold 5; libinjection: binary). Details, plots and per-class results are "
             "in each test set's folder.", ""]
    cols = [("macro_f1", "macro-F1"), ("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"), ("tpr_at_fpr_1e-2", "TPR@1%FPR"),
            ("tpr_at_fpr_1e-3", "TPR@0.1%FPR"), ("recall", "recall"), ("fpr", "FPR"),
            ("precision_at_prevalence_1e-3", "precision @1:1000"), ("false_alerts_per_million", "false alerts / 1M")]
    order = list(dict.fromkeys(r["test_set"] for r in headline))
    lines += ["## Headline", ""]
    for test in order:
        rows = [r for r in headline if r["test_set"] == test]
        link = reports.get(test)
        lines += [f"### {test} (n = {rows[0]['n']})" + (f" — [report]({link})" if link else ""), "",
                  "| system | " + " | ".join(t for _, t in cols) + " |", "|---|" + "---|" * len(cols)]
        for r in rows:
            cells = [_fmt(r[k], count=(k == "false_alerts_per_million")) for k, _ in cols]
            name = str(r["system"]).replace("|", "\\|")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    if evasion_summary:
        lines += ["## Evasion (all operators)", "", "| system | n | detected before | detected after | evaded |",
                  "|---|---|---|---|---|"]
        for s, r in evasion_summary.items():
            if r:
                lines.append(f"| {s} | {r['n']} | {r['before']:.4f} | {r['after']:.4f} | {r['evaded']} |")
        lines += ["", "Per operator: [evasion/report.md](evasion/report.md).", ""]
    if crs_rejected:
        lines += ["CRS requests refused by nginx/ModSecurity outside anomaly scoring (counted as detected): "
                  + ", ".join(f"{k}: {v}" for k, v in crs_rejected.items()) + ".", ""]
    if ablations:
        lines += ["## Ablations", "", "```json", json.dumps(jsonable(ablations), indent=2), "```", ""]
    lines += ["## Data manifest", "", "Row hashes: `sha256` of the sorted `sha256(text)` of each split "
              "(`secllm.data.split.split_manifest`).", "", "```json", json.dumps(index["manifest"], indent=2,
                                                                                ensure_ascii=False), "```", "",
              "## Machine", "", "```json", json.dumps(machine, indent=2), "```", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return index
