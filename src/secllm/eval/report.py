"""Write an evaluation report directory: ``report.json``, ``report.md`` and PNG plots.

One report compares several *systems* (the model, its ablations, the baselines) on one task's
test split, on every metric of ``EVALUATION.md``:

* ``report.json`` -- all numbers (``nan`` written as ``null``);
* ``report.md`` -- headline table (macro-F1, ROC-AUC, PR-AUC, TPR at 1% / 0.1% FPR, precision at
  1:1000 prevalence, false alerts per million benign), bootstrap intervals, operating points,
  per-class F1, manifest, machine, timings, notes;
* ``roc.png`` (log-x) and ``pr.png`` with all systems, ``confusion_<system>.png`` per system,
  ``per_class_f1.png`` (grouped bars).

Plots use ``matplotlib.figure.Figure`` directly (Agg canvas): no pyplot, no global backend change.

>>> import tempfile
>>> sys_a = {"y_true": ["benign", "sqli", "sqli", "benign"], "y_pred": ["benign", "sqli", "benign", "benign"],
...          "y_score": [0.1, 0.9, 0.4, 0.2], "labels": ["benign", "sqli"], "timing": {"predict_s": 0.01}}
>>> rep = write_report(tempfile.mkdtemp(), title="demo", manifest={"task": "demo"},
...                    systems={"tfidf": sys_a}, machine={"cpu": "test"}, bootstrap=0)
>>> rep["systems"]["tfidf"]["binary"]["roc_auc"]
1.0
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from secllm.eval.metrics import binary_metrics, bootstrap_ci, macro_f1_codes, multiclass_metrics, tpr_at_fpr

__all__ = ["HEADLINE", "machine_info", "write_report"]

# (json key, column title) of the headline table; macro-F1 comes from the multiclass metrics.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("macro_f1", "macro-F1"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("tpr_at_fpr_1e-2", "TPR@1%FPR"),
    ("tpr_at_fpr_1e-3", "TPR@0.1%FPR"),
    ("precision_at_prevalence_1e-3", "precision @1:1000"),
    ("false_alerts_per_million", "false alerts / 1M benign"),
)
_BINARY_LABELS = {0, 1, True, False}


# --------------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 2)  # kB -> GiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 2)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info() -> dict[str, Any]:
    """Describe the machine the numbers were measured on.

    Package versions are read from the installed metadata (``torch`` is not imported for
    that); GPU facts are added only when ``torch`` is already imported by the caller.

    >>> info = machine_info()
    >>> sorted(k for k in ("cpu_count", "cpu_model", "python", "platform") if k in info)
    ['cpu_count', 'cpu_model', 'platform', 'python']
    """
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_gib": _ram_gib(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    versions: dict[str, str | None] = {}
    for pkg in ("secllm", "numpy", "scikit-learn", "torch", "transformers", "tokenizers"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    info["packages"] = versions
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            t: dict[str, Any] = {"num_threads": torch.get_num_threads(), "cuda_available": torch.cuda.is_available()}
            if t["cuda_available"]:
                t["cuda_device"] = torch.cuda.get_device_name(0)
                t["cuda_version"] = torch.version.cuda
            info["torch"] = t
        except Exception as exc:  # pragma: no cover - depends on the torch build
            info["torch"] = {"error": repr(exc)}
    return info


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def jsonable(x: Any) -> Any:
    """Recursively turn numpy values into Python ones and nan/inf into None."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "system"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}_{i}", i + 1
    taken.add(slug)
    return slug


def _binary_truth(name: str, s: Mapping[str, Any], y_true: np.ndarray, labels: list[Any]) -> np.ndarray:
    """0/1 "malicious" truth of a system: ``y_true_binary``, else ``y_true != benign_label``."""
    if s.get("y_true_binary") is not None:
        return np.asarray(s["y_true_binary"]).astype(np.int64)
    if "benign_label" in s:
        return (y_true != s["benign_label"]).astype(np.int64)
    if labels and set(labels) <= _BINARY_LABELS:
        return y_true.astype(np.int64)
    if "benign" in labels:
        return (y_true != "benign").astype(np.int64)
    raise ValueError(
        f"system {name!r}: cannot tell benign from malicious; give 'benign_label' or 'y_true_binary'"
    )


def _binary_score(s: Mapping[str, Any], y_pred: np.ndarray, labels: list[Any], benign: Any) -> tuple[np.ndarray, bool]:
    """The malicious score, or (for label-only systems such as rules) 1.0 for a non-benign prediction."""
    if s.get("y_score") is not None:
        return np.asarray(s["y_score"], dtype=np.float64).reshape(-1), False
    if labels and set(labels) <= _BINARY_LABELS and benign is None:
        return y_pred.astype(np.float64), True
    return (y_pred != (benign if benign is not None else "benign")).astype(np.float64), True


def _fmt(x: Any, kind: str = "rate") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if kind == "count":
        return f"{float(x):,.0f}"
    if kind == "int":
        return f"{int(x):,d}"
    return f"{float(x):.4f}"


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------
def _plot_roc(path: Path, curves: dict[str, dict[str, Any]]) -> None:
    fig = Figure(figsize=(6.4, 4.8), dpi=110)
    ax = fig.add_subplot()
    n_neg_max = max((c["n_neg"] for c in curves.values()), default=1000)
    xmin = min(1e-4, 10 ** math.floor(math.log10(0.5 / max(n_neg_max, 1))))
    for name, c in curves.items():
        fpr = np.maximum(c["fpr"], xmin)  # FPR 0 cannot sit on a log axis
        ax.step(fpr, c["tpr"], where="post", label=f"{name} (AUC {_fmt(c['auc'])})")
    for x in (1e-3, 1e-2):
        ax.axvline(x, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(xmin, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("false-positive rate (log; FPR 0 drawn at the left edge)")
    ax.set_ylabel("true-positive rate")
    ax.set_title("ROC (step: best TPR at FPR <= x)")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="lower right", fontsize="small")
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.93)  # fixed: tight_layout is slow on log axes
    fig.savefig(path)


def _plot_pr(path: Path, curves: dict[str, dict[str, Any]]) -> None:
    fig = Figure(figsize=(6.4, 4.8), dpi=110)
    ax = fig.add_subplot()
    for name, c in curves.items():
        ax.step(c["recall"], c["precision"], where="post", label=f"{name} (AP {_fmt(c['ap'])})")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision (at the test set's prevalence)")
    ax.set_title("Precision-recall")
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="lower left", fontsize="small")
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.11, top=0.93)
    fig.savefig(path)


def _plot_confusion(path: Path, name: str, confusion: list[list[int]], labels: list[str]) -> None:
    cm = np.asarray(confusion, dtype=np.float64).reshape(len(labels), len(labels))
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    k = len(labels)
    size = min(3.0 + 0.45 * k, 14.0)
    fig = Figure(figsize=(size + 1.0, size), dpi=110)
    ax = fig.add_subplot()
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(k), labels, fontsize="small")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion: {name}")
    if k <= 25:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize="x-small",
                        color="white" if frac[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path)


def _plot_per_class(path: Path, per_class: dict[str, dict[str, float]], classes: list[str]) -> None:
    names = list(per_class)
    k, m = len(classes), max(len(names), 1)
    fig = Figure(figsize=(min(4.0 + 0.6 * k * m / 2, 18.0), 4.8), dpi=110)
    ax = fig.add_subplot()
    width = 0.8 / m
    x = np.arange(k)
    for i, name in enumerate(names):
        vals = [per_class[name].get(c, float("nan")) for c in classes]
        vals = [0.0 if v is None or not math.isfinite(v) else v for v in vals]
        ax.bar(x + (i - (m - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(x, classes, rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center")
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title("Per-class F1")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------
def _codes(y_true: np.ndarray, y_pred: np.ndarray, labels: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Labels as integer codes (index in ``labels``, -1 outside) for the fast bootstrap metric."""
    index = {str(lab): i for i, lab in enumerate(labels)}
    return (np.fromiter((index.get(str(x), -1) for x in y_true), dtype=np.int64, count=len(y_true)),
            np.fromiter((index.get(str(x), -1) for x in y_pred), dtype=np.int64, count=len(y_pred)))


def _evaluate_system(name: str, s: Mapping[str, Any], bootstrap: int, seed: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
    labels = list(s["labels"])
    y_true = np.asarray(list(s["y_true"]))
    y_pred = np.asarray(list(s["y_pred"]))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"system {name!r}: y_true has {y_true.shape[0]} items, y_pred {y_pred.shape[0]}")
    yb = _binary_truth(name, s, y_true, labels)
    benign = s.get("benign_label", "benign" if "benign" in labels else None)
    score, from_labels = _binary_score(s, y_pred, labels, benign)
    if score.shape[0] != yb.shape[0]:
        raise ValueError(f"system {name!r}: y_score has {score.shape[0]} items, y_true {yb.shape[0]}")
    threshold = float(s.get("threshold", 0.5))
    binary = binary_metrics(yb, score, threshold)
    multi = multiclass_metrics(y_true, y_pred, labels)
    out: dict[str, Any] = {
        "n": int(y_true.shape[0]),
        "threshold": threshold,
        "score_from_labels": from_labels,
        "binary": binary,
        "multiclass": multi,
        "timing": dict(s.get("timing") or {}),
    }
    if bootstrap > 0:
        codes = _codes(y_true, y_pred, labels)
        out["ci95"] = {
            "macro_f1": bootstrap_ci(lambda a, b: macro_f1_codes(a, b, len(labels)), *codes, n=bootstrap, seed=seed),
            "roc_auc": bootstrap_ci(
                lambda a, b: float(roc_auc_score(a, b)) if 0 < a.sum() < a.size else float("nan"),
                yb, score, n=bootstrap, seed=seed,
            ),
            "tpr_at_fpr_1e-2": bootstrap_ci(lambda a, b: tpr_at_fpr(a, b, 1e-2), yb, score, n=bootstrap, seed=seed),
        }
        if s.get("groups") is not None:          # the split's unit (e.g. registered domain): resample those
            out["ci95"]["macro_f1_by_group"] = bootstrap_ci(
                lambda a, b: macro_f1_codes(a, b, len(labels)), *codes, n=bootstrap, seed=seed, groups=s["groups"])
            out["ci95"]["macro_f1_by_group"]["unit"] = str(s.get("group_unit", "group"))
    curve = None
    if 0 < int(yb.sum()) < yb.size:
        fpr, tpr, _ = roc_curve(yb, score)
        prec, rec, _ = precision_recall_curve(yb, score)
        curve = {"fpr": fpr, "tpr": tpr, "precision": prec, "recall": rec, "n_neg": binary["n_neg"],
                 "auc": binary["roc_auc"], "ap": binary["pr_auc"]}
    return out, curve


def _markdown(rep: dict[str, Any]) -> str:
    systems: dict[str, Any] = rep["systems"]
    lines = [f"# {rep['title']}", "", f"Created {rep['created']} by `{rep['command']}`.", ""]

    lines += ["## Headline", ""]
    rows = []
    for name, r in systems.items():
        vals = [_fmt(r["multiclass"]["macro_f1"])]
        for key, _ in HEADLINE[1:]:
            vals.append(_fmt(r["binary"][key], "count" if key == "false_alerts_per_million" else "rate"))
        rows.append([_md_escape(name), *vals])
    lines += _md_table(["system", *(t for _, t in HEADLINE)], rows)
    lines += [
        "",
        "macro-F1 over the task's classes; the other columns score the binary malicious-vs-benign "
        "decision. TPR@x%FPR is the best TPR of any threshold with test FPR <= x (no interpolation). "
        "Precision @1:1000 and false alerts use each system's own threshold (see operating points).",
    ]
    small = {n: r["binary"]["n_neg"] for n, r in systems.items() if r["binary"]["n_neg"] < 1000}
    if small:
        lines += [
            "",
            "**Caution:** fewer than 1,000 benign test items ("
            + ", ".join(f"{_md_escape(n)}: {v}" for n, v in small.items())
            + "), so TPR@0.1%FPR is measured at FPR 0 and false alerts per million have a resolution "
            "of 1e6 / n_benign.",
        ]
    if any("ci95" in r for r in systems.values()):
        lines += ["", "### 95% bootstrap intervals", ""]
        grouped = next((r["ci95"]["macro_f1_by_group"] for r in systems.values()
                        if "macro_f1_by_group" in (r.get("ci95") or {})), None)
        ci_rows = []
        for name, r in systems.items():
            ci = r.get("ci95") or {}
            keys = ("macro_f1", *(("macro_f1_by_group",) if grouped else ()), "roc_auc", "tpr_at_fpr_1e-2")
            cells = [f"{_fmt(c.get('low'))} – {_fmt(c.get('high'))}" if c and _fmt(c.get("low")) != "–" else "–"
                     for c in map(ci.get, keys)]
            ci_rows.append([_md_escape(name), *cells])
        head = ["system", "macro-F1", *([f"macro-F1, resampling {grouped['unit']}s"] if grouped else []),
                "ROC-AUC", "TPR@1%FPR"]
        lines += _md_table(head, ci_rows)
        if grouped:
            lines += ["", f"The split keeps each {_md_escape(grouped['unit'])} in one split, and this test set has "
                      f"{grouped.get('n_groups', '?')} of them: rows of one {_md_escape(grouped['unit'])} rise and "
                      f"fall together, so the interval that resamples whole {_md_escape(grouped['unit'])}s (a "
                      "cluster bootstrap) is the one to read; the row interval beside it treats rows as "
                      "independent, which they are not."]

    lines += ["", "## Operating points (binary, flagged when score >= threshold)", ""]
    op_rows = []
    for name, r in systems.items():
        b = r["binary"]
        op_rows.append([
            _md_escape(name),
            f"{r['threshold']:.6g}" + (" (labels)" if r["score_from_labels"] else ""),
            _fmt(b["precision"]), _fmt(b["recall"]), _fmt(b["f1"]), _fmt(b["fpr"]),
            _fmt(b["tp"], "int"), _fmt(b["fp"], "int"), _fmt(b["tn"], "int"), _fmt(b["fn"], "int"),
        ])
    lines += _md_table(["system", "threshold", "precision", "recall", "F1", "FPR", "TP", "FP", "TN", "FN"], op_rows)

    classes: list[str] = []
    for r in systems.values():
        classes += [c for c in r["multiclass"]["labels"] if c not in classes]
    lines += ["", "## Per-class F1", ""]
    pc_rows = []
    for c in classes:
        cells, support = [], None
        for r in systems.values():
            pc = r["multiclass"]["per_class"].get(c)
            cells.append(_fmt(pc["f1"]) if pc else "–")
            if pc and support is None:
                support = pc["support"]
        pc_rows.append([_md_escape(c), _fmt(support, "int") if support is not None else "–", *cells])
    lines += _md_table(["class", "support", *(_md_escape(n) for n in systems)], pc_rows)

    lines += ["", "## Plots", "", "![ROC](roc.png) ![PR](pr.png)", "", "![per-class F1](per_class_f1.png)", ""]
    for name, r in systems.items():
        lines.append(f"![confusion {_md_escape(name)}]({r['confusion_png']})")

    lines += ["", "## Data and split manifest", ""]
    nested = {}
    for k, v in rep["manifest"].items():
        if isinstance(v, (dict, list)):
            nested[k] = v
        else:
            lines.append(f"- **{_md_escape(k)}**: {_md_escape(v)}")
    for k, v in nested.items():
        lines += ["", f"**{_md_escape(k)}**", "", "```json", json.dumps(v, indent=2, ensure_ascii=False), "```"]

    lines += ["", "## Machine", ""]
    for k, v in rep["machine"].items():
        lines.append(f"- **{_md_escape(k)}**: {_md_escape(json.dumps(v) if isinstance(v, (dict, list)) else v)}")

    keys: list[str] = []
    for r in systems.values():
        keys += [k for k in r["timing"] if k not in keys]
    lines += ["", "## Timings", ""]
    if keys:
        t_rows = [[_md_escape(n), *(_md_escape(r["timing"].get(k, "–")) for k in keys)] for n, r in systems.items()]
        lines += _md_table(["system", *(_md_escape(k) for k in keys)], t_rows)
    else:
        lines.append("(none recorded)")

    if rep["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in rep["notes"]]
    return "\n".join(lines) + "\n"


def write_report(
    out_dir: str | Path,
    *,
    title: str,
    manifest: dict[str, Any],
    systems: dict[str, dict[str, Any]],
    machine: dict[str, Any] | None = None,
    notes: Sequence[str] = (),
    bootstrap: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate every system and write ``report.json``, ``report.md`` and the plots to ``out_dir``.

    Each system is a dict with:

    * ``y_true``, ``y_pred`` -- class labels (multiclass metrics over ``labels``);
    * ``labels`` -- the class order;
    * ``y_score`` -- the binary malicious score (optional: without it, e.g. for a rule baseline,
      the score is 1.0 for a non-benign prediction, else 0.0);
    * ``threshold`` -- the operating threshold chosen on validation (default 0.5);
    * ``timing`` -- free-form ``{name: value}`` (seconds, items/s, MB ...).

    The binary truth is ``y_true_binary`` if given, else ``y_true != benign_label`` if given,
    else ``y_true`` itself when the labels are 0/1, else ``y_true != "benign"``.
    ``bootstrap`` resamples (0 disables) give 95% intervals of macro-F1, ROC-AUC and TPR@1%FPR.
    ``machine=None`` records :func:`machine_info`. Returns the dict written to ``report.json``.

    >>> import tempfile
    >>> s = {"y_true": [0, 1, 1, 0], "y_pred": [0, 1, 0, 0], "y_score": [.1, .9, .4, .2], "labels": [0, 1]}
    >>> write_report(tempfile.mkdtemp(), title="t", manifest={}, systems={"m": s}, machine={},
    ...              bootstrap=0)["systems"]["m"]["multiclass"]["confusion"]
    [[2, 0], [1, 1]]
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not systems:
        raise ValueError("write_report needs at least one system")
    evaluated: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for name, s in systems.items():
        res, curve = _evaluate_system(name, s, bootstrap, seed)
        png = f"confusion_{_slug(name, taken)}.png"
        _plot_confusion(out / png, name, res["multiclass"]["confusion"], res["multiclass"]["labels"])
        res["confusion_png"] = png
        evaluated[name] = res
        if curve is not None:
            curves[name] = curve

    _plot_roc(out / "roc.png", curves)
    _plot_pr(out / "pr.png", curves)
    classes: list[str] = []
    for r in evaluated.values():
        classes += [c for c in r["multiclass"]["labels"] if c not in classes]
    _plot_per_class(
        out / "per_class_f1.png",
        {n: {c: v["f1"] for c, v in r["multiclass"]["per_class"].items()} for n, r in evaluated.items()},
        classes,
    )

    rep: dict[str, Any] = {
        "title": title,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
        "manifest": manifest,
        "machine": machine_info() if machine is None else machine,
        "notes": list(notes),
        "systems": evaluated,
        "files": ["report.json", "report.md", "roc.png", "pr.png", "per_class_f1.png",
                  *(r["confusion_png"] for r in evaluated.values())],
    }
    rep = jsonable(rep)
    (out / "report.json").write_text(json.dumps(rep, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    (out / "report.md").write_text(_markdown(rep), encoding="utf-8")
    return rep
