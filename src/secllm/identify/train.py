"""Training the identifier's learned part (PyTorch, CPU; never imported by the serving path).

Recipe: hashed byte n-gram means + prefix indicators + standardised shape values
(:mod:`secllm.identify.features`) → a multinomial logistic regression whose n-gram weights are
factorised from the start into a ``dim``-dimensional embedding and a projection (fastText's
architecture: serving gathers ``dim`` numbers per n-gram instead of one per class, several times
faster) → feature configurations compared on the validation split, the cheapest of the best kept
→ the ``unknown`` threshold picked on the validation split → a model directory (``config.json`` +
``model.safetensors``) that :class:`secllm.identify.Identifier` loads with numpy alone.

    python -m secllm.identify.train --datasets ../shared/datasets --ordinary /work/data/ordinary \\
        --out src/secllm/assets/identify
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from secllm.identify.corpus import LabelledItem, build_corpus, read_corpus, write_corpus
from secllm.identify.features import FeatureConfig, featurize

_log = logging.getLogger(__name__)


def label_of(item: LabelledItem) -> str:
    """The fine class the model predicts: a kind, or ``log-line:<family>`` for log lines."""
    return f"log-line:{item.family}" if item.kind == "log-line" else item.kind


def balanced_sample(items: list[LabelledItem], cap_per_source: int, seed: int = 0,
                    source_caps: dict[str, int] | None = None) -> list[LabelledItem]:
    """At most ``cap_per_source`` items of each (source, label): big lists cannot drown small ones.
    ``source_caps`` raises (or lowers) the cap of named sources: the varied ones (prose, form
    values, code) need more examples than one cap gives them."""
    by: dict[tuple[str, str], list[LabelledItem]] = defaultdict(list)
    for it in items:
        by[(it.source, label_of(it))].append(it)
    rng = random.Random(seed)
    out: list[LabelledItem] = []
    for key in sorted(by):
        group = by[key]
        cap = (source_caps or {}).get(key[0], cap_per_source)
        out += group if len(group) <= cap else rng.sample(group, cap)
    return out


def _bags(texts: list[str], cfg: FeatureConfig):
    """Flattened n-gram ids with per-item offsets and weights (1 / item's n-gram count), prefix ids
    (-1 = none) and raw dense values: the inputs of the low-rank trainer, item by item."""
    ids_all, w_all, offsets, prefixes, denses = [], [], [], [], []
    pos = 0
    for start in range(0, len(texts), 2048):
        f = featurize(texts[start:start + 2048], cfg)
        per_order = [np.split(ids, np.cumsum(c)[:-1]) for ids, c in zip(f.ids, f.counts)]
        for j in range(f.n_items):
            row = np.concatenate([po[j] for po in per_order]) if per_order else np.zeros(0, np.int64)
            offsets.append(pos)
            ids_all.append(row)
            w_all.append(np.full(row.size, 1.0 / max(f.total[j], 1), dtype=np.float32))
            pos += row.size
        prefixes.append(f.prefix_ids)
        denses.append(f.dense)
    return (np.concatenate(ids_all), np.concatenate(w_all), np.array(offsets, dtype=np.int64),
            np.concatenate(prefixes), np.concatenate(denses))


def fit_lowrank(train: list[LabelledItem], cfg: FeatureConfig, dim: int, *, epochs: int = 6, lr: float = 0.02,
                weight_decay: float = 1e-6, batch: int = 512, seed: int = 0) -> dict:
    """The same linear model with the n-gram weights factorised from the start (fastText style):
    mean of ``dim``-dimensional n-gram embeddings → projection, plus prefix rows, shape values and a
    bias; softmax cross-entropy with balanced class weights, (Sparse)Adam with a one-cycle schedule
    (PyTorch, CPU)."""
    import torch

    torch.manual_seed(seed)
    labels = sorted({label_of(it) for it in train})
    index = {lab: i for i, lab in enumerate(labels)}
    y = np.array([index[label_of(it)] for it in train])
    ids, wts, offs, pref, dense = _bags([it.text for it in train], cfg)
    # (a floor on the spread: a shape value that is nearly constant in training must not get a huge weight)
    mean, std = dense.mean(0), np.maximum(dense.std(0), 0.01)
    dz = ((dense - mean) / std).astype(np.float32)
    n_buckets, n_prefix, k = 1 << cfg.buckets_log2, 1 << cfg.prefix_log2, len(labels)
    # Sparse gradients: a batch touches a fraction of the buckets, and the optimiser updates only those.
    emb = torch.nn.EmbeddingBag(n_buckets, dim, mode="sum", sparse=True)
    proj = torch.nn.Linear(dim, k, bias=False)
    pemb = torch.nn.EmbeddingBag(n_prefix + 1, k, mode="sum", padding_idx=n_prefix, sparse=True)
    dlin = torch.nn.Linear(dz.shape[1], k)
    for m in (emb, pemb):
        torch.nn.init.normal_(m.weight, std=0.01)
    with torch.no_grad():
        pemb.weight[n_prefix].zero_()
    opts = [torch.optim.SparseAdam([emb.weight, pemb.weight], lr=lr),
            torch.optim.Adam([*proj.parameters(), *dlin.parameters()], lr=lr, weight_decay=weight_decay)]
    counts = np.bincount(y, minlength=k)
    cw = torch.tensor(len(y) / (k * np.maximum(counts, 1)), dtype=torch.float32)
    ends = np.append(offs[1:], ids.size)
    pref_t = torch.from_numpy(np.where(pref >= 0, pref, n_prefix))
    rng = np.random.default_rng(seed)
    steps = epochs * ((len(y) + batch - 1) // batch)
    scheds = [torch.optim.lr_scheduler.OneCycleLR(o, max_lr=lr, total_steps=steps, pct_start=0.1, cycle_momentum=False)
              for o in opts]
    for ep in range(epochs):
        order = rng.permutation(len(y))
        tot = 0.0
        for s in range(0, len(y), batch):
            b = order[s:s + batch]
            lens = ends[b] - offs[b]
            flat = np.concatenate([np.arange(offs[i], ends[i]) for i in b])
            bi = torch.from_numpy(ids[flat])
            bw = torch.from_numpy(wts[flat])
            bo = torch.from_numpy(np.concatenate([[0], np.cumsum(lens)[:-1]]))
            logits = proj(emb(bi, bo, per_sample_weights=bw)) + pemb(pref_t[b]) + dlin(torch.from_numpy(dz[b]))
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[b]), weight=cw)
            for o in opts:
                o.zero_grad()
            loss.backward()
            for o, sc in zip(opts, scheds):
                o.step()
                sc.step()
            tot += float(loss.detach()) * len(b)
        _log.info("epoch %d: loss %.4f", ep + 1, tot / len(y))
    with torch.no_grad():
        wd = dlin.weight.T.numpy().astype(np.float32)                 # (D, K) on standardised values
        return {
            "labels": labels,
            "embed": emb.weight.numpy().astype(np.float32),
            "proj": proj.weight.T.numpy().astype(np.float32),
            "w_prefix": pemb.weight[:n_prefix].numpy().astype(np.float32),
            "w_dense": wd / std[:, None].astype(np.float32),
            "bias": (dlin.bias.numpy() - (mean / std) @ wd).astype(np.float32),
            "dense_mean": mean, "dense_std": std,
        }


def _identifier(w: dict, cfg: FeatureConfig, threshold: float = 0.0):
    """An Identifier over trained weights, rounded as the model file stores them (int8 / float16)."""
    from secllm.identify.model import Identifier, dequantize_embedding, quantize_embedding

    return Identifier(cfg, w["labels"], dequantize_embedding(*quantize_embedding(w["embed"].T)), w["proj"],
                      w["w_prefix"].astype(np.float16), w["w_dense"], w["bias"], threshold)


def evaluate(idf, items: list[LabelledItem]) -> dict:
    """Kind accuracy of rules + model (``unknown`` counts wrong) and log-family accuracy on ``items``."""
    res = idf.identify_batch([it.text for it in items])
    right = [r.kind == it.kind for r, it in zip(res, items)]
    fam = [r.family == it.family for r, it in zip(res, items) if it.kind == "log-line" and r.kind == "log-line"]
    by: dict[str, list[bool]] = defaultdict(list)
    for ok, it in zip(right, items):
        by[it.source].append(ok)
    return {"accuracy": float(np.mean(right)), "log_family_accuracy": float(np.mean(fam)) if fam else None,
            "worst_sources": sorted(((round(float(np.mean(v)), 4), k) for k, v in by.items()))[:5],
            "results": res}


def pick_threshold(results, items: list[LabelledItem], grid=None) -> tuple[float, list[dict]]:
    """The highest confidence threshold that costs at most 0.1 point of validation accuracy: below
    it the model says ``unknown``, which is mostly where it was wrong anyway."""
    grid = grid or [round(x, 2) for x in np.arange(0.0, 0.96, 0.05)]
    conf = np.array([r.confidence if r.method == "model" else 1.0 for r in results])
    right = np.array([r.kind == it.kind for r, it in zip(results, items)])
    curve = []
    for t in grid:
        keep = conf >= t
        curve.append({"threshold": t, "accuracy": round(float(np.mean(right & keep)), 5),
                      "coverage": round(float(np.mean(keep)), 5),
                      "precision_kept": round(float(np.mean(right[keep])), 5) if keep.any() else None})
    base = curve[0]["accuracy"]
    best = max((c["threshold"] for c in curve if c["accuracy"] >= base - 0.001), default=0.0)
    return best, curve


DEFAULT_GRID = [
    {"dim": 32, "buckets_log2": 15, "prefix_log2": 12},
    {"dim": 24, "buckets_log2": 15, "prefix_log2": 12},
    {"dim": 32, "buckets_log2": 16, "prefix_log2": 12},
]
MAX_MODEL_BYTES = 2_000_000   # shipped inside the package: a candidate above this is reported, not chosen


def model_bytes(dim: int, cfg: FeatureConfig, n_labels: int) -> int:
    """Approximate size of the saved weights: int8 embedding + float16 prefix rows + the rest."""
    return (1 << cfg.buckets_log2) * dim + (1 << cfg.prefix_log2) * n_labels * 2 + dim * n_labels * 4 + 4096


def _cost(row: dict) -> tuple:
    f = row["features"]
    return (len(f["ngrams"]), f["max_bytes"], row["dim"], f["buckets_log2"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=None)
    ap.add_argument("--ordinary", type=Path, default=Path("/work/data/ordinary"))
    ap.add_argument("--corpus", type=Path, default=Path("runs/identify/corpus.jsonl.gz"),
                    help="cache of the labelled corpus (built when missing or with --rebuild)")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--report", type=Path, default=Path("reports/identify/selection.json"))
    ap.add_argument("--cap", type=int, default=2000, help="train items per (source, label)")
    ap.add_argument("--source-caps", default=None,
                    help='JSON {source: cap} overriding --cap for named sources, e.g. {"ordinary:prose-en": 10000}')
    ap.add_argument("--val-cap", type=int, default=1000, help="val items per (source, label)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--grid", default=None, help="JSON list of {dim, ngrams, max_bytes, buckets_log2} to compare on val")
    ap.add_argument("--candidates", type=Path, default=None, help="also save every compared model under this folder")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from secllm.identify.model import save_model
    from secllm.paths import datasets_dir

    if args.rebuild or not args.corpus.exists():
        items = build_corpus(datasets_dir(args.datasets), ordinary=args.ordinary)
        write_corpus(items, args.corpus)
    # The test split is never read here (benchmarks/identify.py reads it once).
    items = [i for i in read_corpus(args.corpus) if i.split != "test"]
    source_caps = json.loads(args.source_caps) if args.source_caps else None
    train = balanced_sample([i for i in items if i.split == "train"], args.cap, source_caps=source_caps)
    val = balanced_sample([i for i in items if i.split == "val"], args.val_cap, seed=1)
    _log.info("train %d, val %d", len(train), len(val))
    grid = json.loads(args.grid) if args.grid else DEFAULT_GRID
    rows, fitted = [], []
    for g in grid:
        g = dict(g)
        dim = int(g.pop("dim", 16))
        cfg = FeatureConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in g.items()})
        t0 = time.time()
        w = fit_lowrank(train, cfg, dim, epochs=args.epochs)
        fit_s = time.time() - t0
        ev = evaluate(_identifier(w, cfg), val)
        row = {"dim": dim, "features": cfg.to_json(), "model_bytes": model_bytes(dim, cfg, len(w["labels"])),
               "fit_seconds": round(fit_s), "val_accuracy": round(ev["accuracy"], 5),
               "val_log_family_accuracy": ev["log_family_accuracy"], "worst_sources": ev["worst_sources"]}
        _log.info("%s", json.dumps(row))
        rows.append(row)
        if args.candidates:
            save_model(args.candidates / f"candidate{len(rows)}", cfg=cfg, labels=w["labels"], embed=w["embed"],
                       proj=w["proj"], w_prefix=w["w_prefix"], w_dense=w["w_dense"], bias=w["bias"], threshold=0.0,
                       meta={"selection_row": row})
        fitted.append((row, w, cfg, ev))
    small = [f for f in fitted if f[0]["model_bytes"] <= MAX_MODEL_BYTES] or fitted
    best_acc = max(f[0]["val_accuracy"] for f in small)
    # Among configurations within 0.05 point of the best, the cheapest to serve wins.
    row, w, cfg, ev = min((f for f in small if f[0]["val_accuracy"] >= best_acc - 0.0005), key=lambda f: _cost(f[0]))
    # The threshold is picked on the whole validation split (its real mix of sources), not the capped one.
    val_all = [i for i in items if i.split == "val"]
    threshold, curve = pick_threshold(_identifier(w, cfg).identify_batch([i.text for i in val_all]), val_all)
    chosen = {**{k: v for k, v in row.items() if k != "worst_sources"}, "threshold": threshold}
    meta = {
        "trained": time.strftime("%Y-%m-%d"),
        "recipe": "python -m secllm.identify.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "train_items": dict(sorted(Counter(label_of(i) for i in train).items())),
        "train_sources": sorted({i.source for i in train}),
        "val_accuracy": row["val_accuracy"], "val_log_family_accuracy": row["val_log_family_accuracy"],
        "threshold_rule": "highest threshold costing <= 0.1 point of validation accuracy "
                          f"(the whole val split of the training corpus, {len(val_all):,} items)",
        "threshold_curve": curve, "val_accuracy_full_split": curve[0]["accuracy"],
        "source_caps": source_caps or {},
    }
    save_model(args.out, cfg=cfg, labels=w["labels"], embed=w["embed"], proj=w["proj"], w_prefix=w["w_prefix"],
               w_dense=w["w_dense"], bias=w["bias"], threshold=threshold, meta=meta)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({"grid": rows, "chosen": chosen, "threshold_curve": curve,
                                       "train": len(train), "val": len(val),
                                       "corpus_counts": {f"{s}|{k}|{sp}": n for (s, k, sp), n in sorted(
                                           Counter((i.source, i.kind, i.split) for i in items).items())}},
                                      indent=1) + "\n")
    _log.info("chosen %s -> %s", json.dumps(chosen), args.out)


if __name__ == "__main__":
    main()
