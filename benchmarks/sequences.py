"""Sequence-mode learning benchmark: language models of normal event sequences vs STIDE and the current profile.

Data (nothing is labelled for learning; labels only score the test side):

* **HDFS** (``hdfs_deeplog``): 20% of ``hdfs_train`` (seed 0) is held back as normal test data (there is
  no independent normal test set in the shared data); the rest is split 75/25 (seed 1) into learning
  and held-back calibration sessions; every ``hdfs_test_abnormal`` session is a positive. HDFS normals
  repeat: figures are also given on the de-duplicated test set (each distinct sequence once) and on the
  test normals whose sequence never occurs in the learning set.
* **Recorded host traces** (``benchmarks/traces/record.py`` -> ``--traces``): ``strace -f`` of normal
  workloads and of attack-like behaviour on this machine. Unit: one trace per process tree under the
  traced top process (one request session of the forking web app with everything it started, one
  command of a shell script; ``traces-seen-per-process``: one trace per process instead); traces
  shorter than ``--min-events`` (100) are dropped. Split by workload run: the last two runs are test
  normals, the run before them calibrates (model choice + thresholds), earlier runs learn (6 runs:
  0-2 learn, 3 calibrates, 4-5 test); every attack-labelled trace of every attack run is a positive
  (family = the run's attack). ``traces-unseen``: ``git``, ``archive`` and ``sqlite`` are never learned
  (their test traces are normal programs the model has not met). The seen setting is also run end to
  end as system-call number lists (x86_64 numbering) through ``secllm learn/profiles score --format
  syscalls``. The window length and the combination rule were chosen on runs 0-1 (learn run 0,
  calibrate/test halves of run 1): rows "attacks of runs >= 2 only" use attacks those choices never saw.

Systems: ``profile-v1`` (the previous session profile: unseen events + unseen transitions + count
ranges, ``LogModel.fit_sessions``), ``stide-3`` / ``stide-6`` (rate of windows never seen),
``length-only`` (the shortcut baseline: number of events), and the sequence model
(``secllm.profile.sequence.SequenceModel``: language model chosen on held-back likelihood + calibrated
features, max rule), with its parts (the chosen model's mean surprise, worst window, unseen rate) and
the neural LM alone (``sequence-model[lstm]``) for reference. Nothing is chosen on test rows.

    python benchmarks/sequences.py --out reports/sequences --traces /work/data/traces
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from secllm.data.sequences import parse_strace, syscall_numbers
from secllm.eval.metrics import threshold_for_fpr, tpr_at_fpr
from secllm.paths import datasets_dir
from secllm.profile.logs import LogModel
from secllm.profile.sequence import SequenceModel, StideModel, Vocab

FPRS = (0.01, 0.05)
UNSEEN_WORKLOADS = ("git", "archive", "sqlite")


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------

def load_hdfs(root: Path, seed: int = 0) -> dict[str, Any]:
    d = root / "hdfs_deeplog"
    read = lambda p: [ln.split() for ln in gzip.open(p, "rt") if ln.strip()]   # noqa: E731
    normal, abnormal = read(d / "hdfs_train.txt.gz"), read(d / "hdfs_test_abnormal.txt.gz")
    idx = list(range(len(normal)))
    random.Random(seed).shuffle(idx)
    n_test = int(round(0.2 * len(idx)))
    test_idx, rest = idx[:n_test], idx[n_test:]
    random.Random(seed + 1).shuffle(rest)
    n_cal = int(round(0.25 * len(rest)))
    return {"learn": [normal[i] for i in rest[n_cal:]], "cal": [normal[i] for i in rest[:n_cal]],
            "test": [normal[i] for i in test_idx] + abnormal,
            "y": np.array([0] * n_test + [1] * len(abnormal)), "family": ["hdfs-anomaly"] * (n_test + len(abnormal))}


def trace_items(traces_dir: Path, min_events: int = 1, split: str = "tree") -> list[dict[str, Any]]:
    """Every trace of every recorded run (``split``: per process tree under the top process, or per
    process; see :func:`secllm.data.sequences.parse_strace`), with its label (see ``record.py``): in
    an attack run, a trace is an attack when the app child it descends from served an attack session."""
    manifest = json.loads((traces_dir / "manifest.json").read_text())
    items = []
    for run in manifest["runs"]:
        if "error" in run:
            continue
        text = gzip.open(traces_dir / run["file"], "rt", errors="replace").read()
        traces = parse_strace(text, source=f"{run['workload']}/run{run['run']}", split=split)
        parent = {t.pid: t.parent for t in traces}
        tags = {int(k): v for k, v in run.get("pid_tags", {}).items()}
        for t in traces:
            label = "normal"
            if run["kind"] == "attack":
                p, seen = t.pid, set()
                while p is not None and p not in tags and p not in seen:
                    seen.add(p)
                    p = parent.get(p)
                label = "attack" if tags.get(p) == "attack" else "normal"
            if len(t.events) >= min_events:
                items.append({"id": t.id, "workload": run["workload"], "run": run["run"], "kind": run["kind"],
                              "label": label, "family": run["family"] if label == "attack" else None,
                              "exe": t.exe, "events": t.events})
    return items


def split_traces(items: list[dict[str, Any]], unseen: tuple[str, ...] = ()) -> dict[str, Any]:
    """By workload run: the last two runs are test normals, the run before calibrates, earlier runs
    learn; every attack-labelled trace (any run) is a positive. ``unseen`` workloads are never learned."""
    runs = sorted({x["run"] for x in items})
    if len(runs) < 4:
        raise ValueError(f"need at least 4 runs per workload, have {runs}")
    cal_run, test_runs = runs[-3], set(runs[-2:])
    learn = [x for x in items if x["kind"] == "normal" and x["run"] < cal_run and x["workload"] not in unseen]
    cal = [x for x in items if x["kind"] == "normal" and x["run"] == cal_run and x["workload"] not in unseen]
    test = [x for x in items if (x["label"] == "normal" and x["run"] in test_runs) or x["label"] == "attack"]
    return {"learn": [x["events"] for x in learn], "cal": [x["events"] for x in cal],
            "test": [x["events"] for x in test], "y": np.array([int(x["label"] == "attack") for x in test]),
            "family": [x["family"] or "normal" for x in test], "test_workload": [x["workload"] for x in test],
            "test_ids": [x["id"] for x in test], "test_run": [x["run"] for x in test]}


# ------------------------------------------------------------------------------------------------
# Systems: each gives (calibration scores, test scores, learn s, score s)
# ------------------------------------------------------------------------------------------------

def profile_v1(learn, cal, test) -> dict[str, Any]:
    t0 = time.perf_counter()
    m = LogModel.fit_sessions(learn)
    t1 = time.perf_counter()
    test_s = np.array([m.score_session(s)[0] for s in test])
    t2 = time.perf_counter()
    return {"cal": np.array([m.score_session(s)[0] for s in cal]), "test": test_s, "learn_s": t1 - t0,
            "score_s": t2 - t1}


def stide(learn, cal, test, n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    vocab = Vocab.build(learn)
    m = StideModel(n).fit([vocab.encode(s) for s in learn], len(vocab))
    t1 = time.perf_counter()
    rate = lambda xs: np.array([m.unseen(vocab.encode(s)).mean() for s in xs])   # noqa: E731
    test_s = rate(test)
    t2 = time.perf_counter()
    return {"cal": rate(cal), "test": test_s, "learn_s": t1 - t0, "score_s": t2 - t1}


def sequence_systems(learn, cal, test, candidates) -> tuple[dict[str, dict], dict]:
    """The sequence model (the library's defaults: its combined score) and, for reference, each feature."""
    t0 = time.perf_counter()
    m = SequenceModel(candidates=candidates).fit(learn, cal)
    t1 = time.perf_counter()
    res = m.score(test, evidence=0)
    t2 = time.perf_counter()
    cal_res = m.score(cal, evidence=0)
    out = {"sequence-model": {"cal": np.array([r.score for r in cal_res]), "test": np.array([r.score for r in res]),
                              "learn_s": t1 - t0, "score_s": t2 - t1}}
    for f in m.features:
        label = f"  {m.model_name_} {f} only" if f != "counts" else "  counts only"
        out[label] = {"cal": np.array([r.features[f] for r in cal_res]), "test": np.array([r.features[f] for r in res]),
                      "learn_s": float("nan"), "score_s": float("nan")}
    info = {"chosen": m.model_name_, "why": m.why, "selection": m.selection_}
    return out, {"model": m, **info}


# ------------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------------

def metrics(y: np.ndarray, score: np.ndarray, cal: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    out: dict[str, Any] = {"n_pos": int(y.sum()), "n_neg": int((y == 0).sum())}
    out["roc_auc"] = float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")
    for f in FPRS:
        out[f"tpr@{f:g}"] = float(tpr_at_fpr(y, score, f))
        t = threshold_for_fpr(cal, f)                       # threshold from the held-back normals
        flag = score >= t
        out[f"cal{f:g}_test_fpr"] = float(flag[y == 0].mean()) if (y == 0).any() else float("nan")
        out[f"cal{f:g}_tpr"] = float(flag[y == 1].mean()) if y.any() else float("nan")
    return out


def evaluate(name: str, systems: dict[str, dict], y: np.ndarray, family: list[str],
             subsets: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    rows = []
    fams = sorted({f for f, yy in zip(family, y) if yy == 1})
    subsets = subsets or {}
    for sname, s in systems.items():
        score, cal = np.asarray(s["test"], dtype=np.float64), np.asarray(s["cal"], dtype=np.float64)
        r = {"dataset": name, "system": sname, "family": "all", **metrics(y, score, cal),
             "learn_s": s["learn_s"], "score_s": s["score_s"]}
        rows.append(r)
        for fam in fams:
            sel = (y == 0) | np.array([f == fam for f in family])
            rows.append({"dataset": name, "system": sname, "family": fam, **metrics(y[sel], score[sel], cal)})
        for sub, sel in subsets.items():
            rows.append({"dataset": name, "system": sname, "family": sub, **metrics(y[sel], score[sel], cal)})
    return rows


# ------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------

def length_only(learn, cal, test) -> dict[str, Any]:
    """The shortcut baseline: the number of events (long = unusual)."""
    n = lambda xs: np.array([len(s) for s in xs], dtype=np.float64)    # noqa: E731
    return {"cal": n(cal), "test": n(test), "learn_s": 0.0, "score_s": 0.0}


def run_dataset(name: str, data: dict[str, Any], candidates, subsets=None, neural: tuple[str, ...] = ()
                ) -> tuple[list[dict], dict]:
    learn, cal, test, y = data["learn"], data["cal"], data["test"], data["y"]
    systems = {"profile-v1": profile_v1(learn, cal, test), "stide-3": stide(learn, cal, test, 3),
               "stide-6": stide(learn, cal, test, 6), "length-only": length_only(learn, cal, test)}
    seq, info = sequence_systems(learn, cal, test, candidates)
    systems.update(seq)
    model = info.pop("model")
    for arch in neural:                  # the neural LM alone, for reference (not a default candidate)
        nseq, ninfo = sequence_systems(learn, cal, test, (arch,))
        systems[f"sequence-model[{arch}]"] = nseq["sequence-model"]
        info.setdefault("neural", {})[arch] = ninfo["selection"][0]
    rows = evaluate(name, systems, y, data["family"], subsets)
    info.update({"learn": len(learn), "cal": len(cal), "test_normal": int((y == 0).sum()),
                 "test_attack": int(y.sum()), "learn_events": int(sum(len(s) for s in learn)),
                 "test_events": int(sum(len(s) for s in test)),
                 "test_length_median": float(np.median([len(s) for s in test])),
                 "vocab": len(model.vocab_) - 4})
    return rows, {"info": info, "model": model}


def hdfs_subsets(data: dict[str, Any]) -> dict[str, np.ndarray]:
    seen: set[tuple[str, ...]] = set()
    uniq = []
    for s in data["test"]:
        t = tuple(s)
        uniq.append(t not in seen)
        seen.add(t)
    learned = {tuple(s) for s in data["learn"]}
    y = data["y"]
    novel = np.array([(yy == 1) or (tuple(s) not in learned) for s, yy in zip(data["test"], y)])
    return {"dedup": np.array(uniq), "normals-not-in-learn": novel}


def speed(data: dict[str, Any], candidates, n_learn: int = 1000, n_score: int = 5000, seed: int = 0) -> dict:
    """Learning on ``n_learn`` sequences and scoring ``n_score`` (wall and CPU seconds)."""
    rng = random.Random(seed)
    pool = data["learn"] + data["cal"]
    learn = [rng.choice(pool) for _ in range(n_learn)]
    cut = int(0.8 * len(learn))
    score = [rng.choice(data["test"]) for _ in range(n_score)]
    w0, c0 = time.perf_counter(), time.process_time()
    m = SequenceModel(candidates=candidates).fit(learn[:cut], learn[cut:])
    w1, c1 = time.perf_counter(), time.process_time()
    m.score(score, evidence=1)
    w2, c2 = time.perf_counter(), time.process_time()
    return {"learn_sequences": n_learn, "learn_events": sum(len(s) for s in learn), "score_sequences": n_score,
            "score_events": sum(len(s) for s in score), "learn_wall_s": round(w1 - w0, 1),
            "learn_cpu_s": round(c1 - c0, 1), "score_wall_s": round(w2 - w1, 1), "score_cpu_s": round(c2 - c1, 1),
            "chosen": m.model_name_, "load_average": os.getloadavg()[0]}


def cli_numbers(data: dict[str, Any], work: Path) -> dict[str, Any]:
    """End to end through the CLI on number lists: learn files, score files, ROC-AUC of the scores."""
    from sklearn.metrics import roc_auc_score

    def write(seqs, d: Path) -> list[str]:
        d.mkdir(parents=True)
        paths = []
        for i, s in enumerate(seqs):
            p = d / f"t{i:06d}.txt"
            p.write_text(" ".join(syscall_numbers(s)) + "\n")
            paths.append(str(p))
        return paths

    learn = write(data["learn"] + data["cal"], work / "learn")
    test = write(data["test"], work / "test")
    env = {**os.environ, "SECLLM_HOME": str(work / "home")}
    exe = [sys.executable, "-m", "secllm.cli"]
    cal_frac = len(data["cal"]) / (len(data["learn"]) + len(data["cal"]))
    t0 = time.perf_counter()
    r = subprocess.run(exe + ["learn", "--profile", "nums", "--format", "syscalls", "--calibrate-fraction",
                              f"{cal_frac:.4f}", *learn], capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError(r.stderr)
    t1 = time.perf_counter()
    r = subprocess.run(exe + ["profiles", "score", "nums", "--all", *test], capture_output=True, text=True, env=env)
    if r.returncode:
        raise RuntimeError(r.stderr)
    t2 = time.perf_counter()
    res = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    by = {x["id"]: x for x in res}
    scores = np.array([by[p]["deviation"] for p in test])
    flags = np.array([by[p]["verdict"] == "anomalous" for p in test])
    y = data["y"]
    return {"roc_auc": float(roc_auc_score(y, scores)), "learn_wall_s": round(t1 - t0, 1),
            "score_wall_s": round(t2 - t1, 1), "verdict_test_fpr": float(flags[y == 0].mean()),
            "verdict_tpr": float(flags[y == 1].mean()), "learn_stdout": r.stderr.strip()[-200:]}


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------

def _f(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def table(rows: list[dict], families: bool) -> str:
    head = ("| dataset | system | subset | pos/neg | ROC-AUC | TPR@1% | TPR@5% | cal@1%: test FPR / TPR | "
            "cal@5%: test FPR / TPR |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if (r["family"] != "all") != families:
            continue
        out.append(f"| {r['dataset']} | {r['system']} | {r['family']} | {r['n_pos']}/{r['n_neg']} | "
                   f"{_f(r['roc_auc'])} | {_f(r['tpr@0.01'])} | {_f(r['tpr@0.05'])} | "
                   f"{_f(r['cal0.01_test_fpr'])} / {_f(r['cal0.01_tpr'])} | {_f(r['cal0.05_test_fpr'])} / "
                   f"{_f(r['cal0.05_tpr'])} |")
    return "\n".join(out)


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--traces", default="/work/data/traces", help="Recorded traces (benchmarks/traces/record.py).")
    ap.add_argument("--out", default="reports/sequences")
    ap.add_argument("--candidates", default="kn-3,kn-5,kn-8")
    ap.add_argument("--only", choices=("hdfs", "traces"), default=None)
    ap.add_argument("--min-events", type=int, default=100,
                    help="Drop recorded traces shorter than this (the held-out host traces are a few hundred "
                         "events and more).")
    ap.add_argument("--neural", default="lstm", help="Neural LMs to report alone (comma list; '' for none).")
    ap.add_argument("--no-cli", action="store_true", help="Skip the end-to-end number-list run through the CLI.")
    args = ap.parse_args(argv)
    cands = tuple(args.candidates.split(","))
    neural = tuple(x for x in args.neural.split(",") if x)
    rows: list[dict] = []
    results: dict[str, Any] = {"candidates": cands, "min_events": args.min_events}
    evidence: dict[str, Any] = {}
    if args.only in (None, "hdfs"):
        data = load_hdfs(datasets_dir(args.datasets))
        r, info = run_dataset("hdfs", data, cands, hdfs_subsets(data), neural)
        rows += r
        results["hdfs"] = info["info"]
        results["hdfs"]["speed"] = speed(data, cands)
        print("  done hdfs", file=sys.stderr, flush=True)
    if args.only in (None, "traces"):
        by_split = {sp: trace_items(Path(args.traces), args.min_events, sp) for sp in ("tree", "process")}
        results["traces"] = {sp: {"traces": Counter(x["workload"] for x in it),
                                  "attack_traces": Counter(x["family"] for x in it if x["label"] == "attack")}
                             for sp, it in by_split.items()}
        for setting, sp, unseen in (("traces-seen", "tree", ()), ("traces-unseen", "tree", UNSEEN_WORKLOADS),
                                    ("traces-seen-per-process", "process", ())):
            data = split_traces(by_split[sp], unseen)
            # design choices (window, combine rule) were made on runs 0-1: attacks of later runs are untouched
            subsets = {"attacks of runs >= 2 only": np.array(
                [(yy == 0) or (r >= 2) for yy, r in zip(data["y"], data["test_run"])])}
            if unseen:
                subsets["normal workloads never learned"] = np.array(
                    [(yy == 1) or (w in unseen) for yy, w in zip(data["y"], data["test_workload"])])
            r, info = run_dataset(setting, data, cands, subsets, neural if setting == "traces-seen" else ())
            rows += r
            results[setting] = info["info"]
            model = info["model"]
            # evidence for the three highest-scoring attack traces of each family
            res = model.score(data["test"], evidence=2)
            ev = {}
            for fam in sorted(set(data["family"]) - {"normal"}):
                idx = [i for i, f in enumerate(data["family"]) if f == fam]
                best = sorted(idx, key=lambda i: -res[i].score)[:2]
                ev[fam] = [{"id": data["test_ids"][i], "score": round(res[i].score, 2),
                            "evidence": model.describe(res[i], 2)} for i in best]
            evidence[setting] = ev
            if setting == "traces-seen":
                results[setting]["speed"] = speed(data, cands)
                if not args.no_cli:
                    with tempfile.TemporaryDirectory() as work:
                        results[setting]["cli_number_lists"] = cli_numbers(data, Path(work))
            print(f"  done {setting}", file=sys.stderr, flush=True)
    results["rows"] = rows
    od = Path(args.out)
    od.mkdir(parents=True, exist_ok=True)
    (od / "results.json").write_text(json.dumps(_json_safe(results), indent=1, default=str))
    (od / "evidence.json").write_text(json.dumps(_json_safe(evidence), indent=1, ensure_ascii=False))
    cmd = "python benchmarks/sequences.py " + " ".join(argv if argv is not None else sys.argv[1:])
    diag = {k: {kk: vv for kk, vv in v.items()} for k, v in results.items() if isinstance(v, dict)}
    md = (f"# Sequence-mode learning (HDFS sessions, recorded host traces)\n\nCommand: `{cmd.strip()}`\n\n"
          f"## All attacks\n\n{table(rows, False)}\n\n## Per attack family and subsets\n\n{table(rows, True)}\n\n"
          "TPR@x% reads the test ROC; cal@x% uses the threshold that flags x% of the held-back calibration "
          "normals and reports the test FPR and TPR it gives.\n\n"
          f"Data, model choice and timings:\n\n```\n{json.dumps(_json_safe(diag), indent=1, default=str)}\n```\n")
    (od / "report.md").write_text(md)
    print(table(rows, False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
