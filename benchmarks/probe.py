"""Does pretraining give better features? A frozen-encoder linear probe, pretrained vs random base.

The fine-tune comparisons (README: USTC-TFC at 10% of the labels, 0.8908 vs 0.8785 on a GPU) let
both encoders learn, which hides what pretraining itself put in the weights. Here neither learns:
the encoder is frozen, each flow/text becomes the head's input (mean ⊕ max pooled last layer,
``secllm.tasks.grow.head_features``), and a multinomial logistic regression (scikit-learn,
standardised features, C from a grid chosen on validation macro-F1) is the only thing fitted, on
the same rows for both encoders. The random encoder has the same architecture and tokenizer,
seeded. Several label subsets (``--seeds``) show how much the subset matters.

    python benchmarks/probe.py --task traffic --base src/secllm/assets/tasks --train-fraction 0.1 \\
        --seeds 0,1,2 --out reports/probe/traffic-10pct.json

Prints, per seed, validation and test macro-F1 of both probes, the test difference with a 95%
paired bootstrap over test rows (and over the split's groups where it has them: URL domains, TRAM
reports), and the mean over seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def fit_probe(xtr, ytr, xva, yva, labels, grid=(0.01, 0.1, 1.0, 10.0)):
    """Standardise, fit LR per C, keep the best validation macro-F1. Returns (C, val F1, model)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    best = None
    for C in grid:
        m = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
        m.fit(xtr, ytr)
        f1 = f1_score(yva, m.predict(xva), labels=labels, average="macro", zero_division=0)
        if best is None or f1 > best[1]:
            best = (C, float(f1), m)
    return best


def paired_diff(y, a, b, labels, n=1000, seed=0, groups=None) -> dict[str, float]:
    """95% paired bootstrap of macro-F1(a) - macro-F1(b) (``bootstrap_ci``; ``groups``: whole groups)."""
    from sklearn.metrics import f1_score

    from secllm.eval.metrics import bootstrap_ci

    def diff(yy, pp):
        f1 = lambda col: f1_score(yy, pp[:, col], labels=labels, average="macro", zero_division=0)  # noqa: E731
        return f1(0) - f1(1)

    ci = bootstrap_ci(diff, np.asarray(y), np.stack([np.asarray(a), np.asarray(b)], axis=1), n=n, seed=seed,
                      groups=groups)
    return {"low": round(ci["low"], 4), "high": round(ci["high"], 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", required=True)
    ap.add_argument("--base", required=True, type=Path, help="pretrained base (kind mlm)")
    ap.add_argument("--train-fraction", type=float, default=None)
    ap.add_argument("--seeds", default="0", help="label subsets and random-encoder seeds, comma separated")
    ap.add_argument("--max-length", type=int, default=None, help="default: the task's")
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--out", type=Path, default=None, help="write the figures here (JSON)")
    a = ap.parse_args(argv)

    import dataclasses

    import torch
    from sklearn.metrics import f1_score

    from secllm.model.modeling import ModelConfig, load_classifier, new_classifier, read_meta
    from secllm.paths import datasets_dir
    from secllm.tasks.grow import head_features
    from secllm.tasks.registry import get_task, sample_examples

    spec = get_task(a.task)
    splits = spec.load(datasets_dir(a.datasets)).splits
    labels = spec.label_set(splits)
    max_length = a.max_length or spec.max_length
    val, test = splits["val"], splits["test"]
    t0 = time.time()
    pre, tok, _, _ = load_classifier(a.base, num_labels=len(labels), from_base=True)
    pre.float().eval()
    features = lambda model, ex: head_features(model, tok, ex, max_length)  # noqa: E731
    cache = {"pretrained": {"val": features(pre, val), "test": features(pre, test)}}
    cache["pretrained"]["train_all"] = features(pre, splits["train"])
    index = {t: i for i, t in enumerate(splits["train"].texts)}
    print(f"pretrained features: {time.time() - t0:.0f} s", flush=True)
    mcfg = ModelConfig.from_json(read_meta(a.base)["model_config"])
    rows = []
    for seed in (int(s) for s in a.seeds.split(",")):
        train = splits["train"]
        if a.train_fraction is not None:
            train = sample_examples(train, max(len(labels), round(a.train_fraction * len(train))), seed)
        pick = [index[t] for t in train.texts]
        torch.manual_seed(seed)
        rnd = new_classifier(dataclasses.replace(mcfg, vocab_size=tok.vocab_size), len(labels)).float().eval()
        t1 = time.time()
        feats = {"pretrained": {"train": cache["pretrained"]["train_all"][pick], **cache["pretrained"]},
                 "random-init": {"train": features(rnd, train), "val": features(rnd, val),
                                 "test": features(rnd, test)}}
        row = {"seed": seed, "train_rows": len(train), "random_features_s": round(time.time() - t1, 1)}
        preds = {}
        for name, f in feats.items():
            C, vf1, m = fit_probe(f["train"], list(train.labels), f["val"], list(val.labels), labels)
            preds[name] = m.predict(f["test"])
            tf1 = f1_score(list(test.labels), preds[name], labels=labels, average="macro", zero_division=0)
            row[name] = {"C": C, "val_macro_f1": round(vf1, 4), "test_macro_f1": round(float(tf1), 4)}
        row["test_difference_95"] = paired_diff(list(test.labels), preds["pretrained"], preds["random-init"], labels)
        if spec.group_of is not None:       # the split's unit (URL: registered domain; TRAM: report)
            groups = [spec.group_of(t, src) for t, src in zip(test.texts, test.sources or [""] * len(test))]
            row[f"test_difference_95_resampling_{spec.group_unit.replace(' ', '_')}s"] = paired_diff(
                list(test.labels), preds["pretrained"], preds["random-init"], labels, groups=groups)
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {
        "task": a.task, "base": str(a.base), "train_fraction": a.train_fraction, "max_length": max_length,
        "features": "frozen encoder, mean ⊕ max pooled last layer; standardised; LogisticRegression, C on validation",
        "rows": rows,
        "mean_test_macro_f1": {n: round(float(np.mean([r[n]["test_macro_f1"] for r in rows])), 4)
                               for n in ("pretrained", "random-init")},
    }
    print("mean test macro-F1:", json.dumps(summary["mean_test_macro_f1"]))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
