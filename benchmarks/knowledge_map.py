"""Knowledge mappers: train the shipped CVE → CWE and text → ATT&CK models, and measure them.

    # fit on the training splits, choose epoch / pruning / thresholds on validation, write the models
    OMP_NUM_THREADS=1 python benchmarks/knowledge_map.py train --out src/secllm/assets/knowledge
    # read the test splits once: model vs frequency baseline vs knowledge search (zero-shot), latency
    OMP_NUM_THREADS=1 python benchmarks/knowledge_map.py eval --out reports/knowledge

Data (read in place from ``$SECLLM_DATASETS`` or ``/work/shared/datasets``):

* **CVE → CWE** — :mod:`secllm.tasks.cve_cwe`: NVD rows published ≤ 2012 + CWE 4.14's observed
  examples and weakness texts train; 2013 and 2022-01-01..12 validate; 2022-01-13.. test (934 CVEs).
  Scored in the "covered" view (a prediction is right when it is the gold weakness or one the gold
  retired category stands for) and the raw view (ids as written).
* **text → ATT&CK** — :mod:`secllm.tasks.attack_map`: TRAM reports split by report (13 test reports,
  sentences with and without techniques) and ATT&CK 18.1 procedure examples split by actor (113 test
  actors); technique texts, TRAM bootstrap sentences and group/campaign/mitigation sentences train.

Baselines: **frequency** (the training split's most frequent labels, the same for every text; for
ATT&CK the majority outcome of a TRAM sentence is "no technique") and **search** — the knowledge
base's own search (:class:`secllm.knowledge.search.KnowledgeBase`, keyword/BM25 mode, restricted to
CWE weaknesses or to techniques) used as a zero-shot mapper: its ranked hits are the prediction, and
it has no "no technique" outcome. Latency: p50/p95 of one lookup (one text, warm model) on one core.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(os.environ.get("SECLLM_DATASETS", "/work/shared/datasets"))
SIZE_BUDGET = 2.5e6          # bytes per shipped model directory (two models ≈ 5 MB)


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


def dir_size(d: Path) -> int:
    return sum(f.stat().st_size for f in d.iterdir() if f.is_file())


def _covered_top1(P, labels, rows) -> float:
    from secllm.tasks.cve_cwe import label_set

    top = np.argmax(P, axis=1)
    return float(np.mean([labels[i] == r.cwe or labels[i] in label_set(r.cwe) for i, r in zip(top, rows)]))


RANK_GRID = (24, 32)
KEEP_GRID = (0.8, 1.0)


def _pick_compact(build, score, tried_log: dict):
    """Score every (rank, keep) shipped form with numpy on validation; the best under the size
    budget (ties within 0.003: the smaller)."""
    import tempfile

    cands = []
    for rank in RANK_GRID:
        for keep in KEEP_GRID:
            m = build(rank, keep)
            with tempfile.TemporaryDirectory() as tmp:
                size = dir_size(m.save(Path(tmp)))
            v = score(m)
            tried_log[f"rank{rank}/keep{keep}"] = {"val": round(v, 4), "bytes": size}
            log(f"  rank {rank} keep {keep}: val {v:.4f}, {size / 1e6:.2f} MB")
            cands.append((v, -size, rank, keep, size))
    ok = [c for c in cands if c[4] <= SIZE_BUDGET] or [min(cands, key=lambda c: c[4])]
    best = max(c[0] for c in ok)
    v, _, rank, keep, _ = max((c for c in ok if c[0] >= best - 0.003), key=lambda c: c[1])
    return rank, keep


def train_cwe(out: Path, over: dict) -> dict:
    from secllm.tasks import cve_cwe

    log("CVE→CWE: loading splits")
    s = cve_cwe.load_splits(ROOT)
    recipe = replace(cve_cwe.Recipe(), **over)
    vecs, labels, coef, b, hist = cve_cwe.fit(s["train"], recipe, val=s["val"], log=log)
    del coef
    from secllm.knowledge import load_cwe
    from secllm.tasks.sparse_linear import lowrank_textmodel

    vtexts = [r.text for r in s["val"]]
    tried: dict = {}
    rank, keep = _pick_compact(lambda rk, kp: lowrank_textmodel(vecs, labels, hist["factors"], b, rk, kp),
                               lambda m: _covered_top1(m.scores(vtexts), m.labels, s["val"]), tried)
    m = lowrank_textmodel(vecs, labels, hist["factors"], b, rank, keep)
    val = _covered_top1(m.scores(vtexts), labels, s["val"])
    meta = {"task": "cve-cwe", "catalog": {"cwe": load_cwe().version}, "split": s["_info"]["split_rule"],
            "recipe": asdict(recipe), "trained_on": s["_info"]["counts"]["train"],
            "train_sources": s["_info"]["sources"]["train"], "dropped": s["_info"]["dropped"],
            "val": {"top1_covered": round(val, 4), "n": len(s["val"]), "epoch": hist["epoch"],
                    "compact_tried": tried, "history": hist["history"]}}
    m.meta.update(meta)
    d = m.save(out / "cve_cwe")
    log(f"CVE→CWE saved {d} ({dir_size(d) / 1e6:.2f} MB), val top-1 covered {val:.4f}")
    return meta


def train_attack(out: Path, over: dict) -> dict:
    from secllm.knowledge import load_attack
    from secllm.tasks import attack_map as am

    log("text→ATT&CK: loading splits")
    s = am.load_splits(ROOT)
    recipe = replace(am.Recipe(), **over)
    vecs, labels, coef, b, hist = am.fit(s["train"], recipe, val=s["val"], log=log)
    del coef
    from secllm.tasks.sparse_linear import lowrank_textmodel

    vtexts = [r.text for r in s["val"]]
    tried: dict = {}
    rank, keep = _pick_compact(lambda rk, kp: lowrank_textmodel(vecs, labels, hist["factors"], b, rk, kp),
                               lambda m: am.top1_with_none(m.scores(vtexts), s["val"], m.labels), tried)
    m = lowrank_textmodel(vecs, labels, hist["factors"], b, rank, keep)
    P = m.scores(vtexts)
    gold = [r.labels for r in s["val"]]
    grid = {}
    for tau in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        for ratio in (1.0, 0.5, 0.25):
            pred = am.predict_sets(P, labels, tau, ratio)
            grid[f"{tau}/{ratio}"] = float(np.mean([am.set_f1(p, g) for p, g in zip(pred, gold)]))
    best = max(grid, key=grid.get)
    tau, ratio = (float(x) for x in best.split("/"))
    log(f"text→ATT&CK: none threshold {tau}, ratio {ratio}: val sentence set-F1 {grid[best]:.4f}")
    meta = {"task": "text-attack", "catalog": {"attack": load_attack().version}, "split": s["_info"]["split_rule"],
            "recipe": asdict(recipe), "trained_on": len(s["train"]), "train_sources": s["_info"]["counts"]["train"],
            "dropped": s["_info"]["dropped"], "none_threshold": tau, "ratio": ratio,
            "val": {"top1_with_none": round(am.top1_with_none(P, s["val"], labels), 4),
                    "sentence_set_f1": round(grid[best], 4), "n": len(s["val"]), "epoch": hist["epoch"],
                    "threshold_grid": {k: round(v, 4) for k, v in grid.items()},
                    "compact_tried": tried, "history": hist["history"]}}
    m.meta.update(meta)
    d = m.save(out / "attack")
    log(f"text→ATT&CK saved {d} ({dir_size(d) / 1e6:.2f} MB)")
    return meta


# ---------------------------------------------------------------------------------------------
# evaluation (test splits, read once)
# ---------------------------------------------------------------------------------------------

def _latency(fn, texts, n=300) -> dict:
    times = []
    for t in texts[:n]:
        t0 = time.perf_counter()
        fn(t)
        times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=20)
    return {"n": len(times), "p50_ms": round(statistics.median(times), 3), "p95_ms": round(q[18], 3)}


def _topk(hit_lists: list[list[bool]], k: int) -> float:
    return round(float(np.mean([any(h[:k]) for h in hit_lists])), 4) if hit_lists else float("nan")


def _sample(idx: list[int], n: int | None) -> list[int]:
    """A fixed (seed 0) sample of ``n`` positions, in order; all when ``n`` is None or larger."""
    if n is None or n >= len(idx):
        return idx
    rng = np.random.default_rng(0)
    return sorted(rng.choice(idx, size=n, replace=False).tolist())


def eval_cwe(kb, kb_dense=None, dense_n: int | None = None) -> dict:
    from secllm.knowledge.cwe_map import CweMapper
    from secllm.tasks import cve_cwe

    s = cve_cwe.load_splits(ROOT)
    test, train = s["test"], s["train"]
    mapper = CweMapper.load()
    labels = mapper.model.labels

    def hit(p, g):
        return p == g or p in cve_cwe.label_set(g)

    P = mapper.model.scores([r.text for r in test])
    model_top = [[labels[i] for i in np.argsort(-row)[:5]] for row in P]
    freq = [c for c, _ in Counter(c for r in train if r.source == "nvd" for c in [cve_cwe.mapped(r.cwe)]).most_common(5)]
    search_top = [[h.id for h in kb.search(r.text[:1000], top=5, kinds=("cwe",), mode="keyword").hits] for r in test]
    out = {"n": len(test), "split": s["_info"]["split_rule"], "catalog": s["_info"]["catalog_version"],
           "gold_top": Counter(r.cwe for r in test).most_common(5)}
    for name, tops in (("model", model_top), ("frequency", [freq] * len(test)), ("search_keyword", search_top)):
        covered = [[hit(p, r.cwe) for p in t] for t, r in zip(tops, test)]
        raw = [[p == r.cwe for p in t] for t, r in zip(tops, test)]
        out[name] = {"top1": _topk(covered, 1), "top3": _topk(covered, 3), "top5": _topk(covered, 5),
                     "top1_raw": _topk(raw, 1), "top5_raw": _topk(raw, 5)}
        if name == "model":
            out[name].update(cve_cwe.scores_of(tops, test)["mapped"])
    if kb_dense is not None:
        sub = _sample(list(range(len(test))), dense_n)
        tops = [[h.id for h in kb_dense.search(test[i].text[:1000], top=5, kinds=("cwe",)).hits] for i in sub]
        covered = [[hit(p, test[i].cwe) for p in t] for t, i in zip(tops, sub)]
        mt = [[hit(p, test[i].cwe) for p in model_top[i]] for i in sub]
        out["search_hybrid"] = {"n": len(sub), "top1": _topk(covered, 1), "top3": _topk(covered, 3),
                                "top5": _topk(covered, 5), "model_on_same_items_top1": _topk(mt, 1),
                                "model_on_same_items_top5": _topk(mt, 5)}
    out["model"]["latency"] = _latency(lambda t: mapper.map([t], top=5), [r.text for r in test])
    out["search_keyword"]["latency"] = _latency(
        lambda t: kb.search(t[:1000], top=5, kinds=("cwe",), mode="keyword"), [r.text for r in test], n=100)
    return out


def eval_attack(kb, kb_dense=None, dense_n: int | None = None) -> dict:
    from secllm.knowledge.technique_map import TechniqueMapper
    from secllm.tasks import attack_map as am

    s = am.load_splits(ROOT)
    test, train = s["test"], s["train"]
    mapper = TechniqueMapper.load()
    labels, tau, ratio = mapper.model.labels, mapper.none_threshold, mapper.ratio
    P = mapper.model.scores([r.text for r in test])
    pred_sets = am.predict_sets(P, labels, tau, ratio)
    model_rank = [[labels[i] for i in np.argsort(-row[1:])[:5] + 1] for row in P]
    freq = [c for c, _ in Counter(c for r in train if r.source in ("tram-sentence", "procedure")
                                  for c in r.labels).most_common(5)]
    search_rank = [[h.id for h in kb.search(r.text[:1000], top=5, kinds=("technique",), mode="keyword").hits]
                   for r in test]
    out: dict = {"split": s["_info"]["split_rule"], "catalog": s["_info"]["attack_version"],
                 "reports": s["_info"]["reports"], "actors": s["_info"]["actors"]}
    for part in ("tram-sentence", "procedure"):
        idx = [i for i, r in enumerate(test) if r.source == part]
        lab = [i for i in idx if test[i].labels]
        res: dict = {"n": len(idx), "n_with_technique": len(lab)}
        for name, ranks in (("model", model_rank), ("frequency", [freq] * len(test)), ("search_keyword", search_rank)):
            hits = [[p in test[i].labels for p in ranks[i]] for i in lab]
            res[name] = {"top1": _topk(hits, 1), "top5": _topk(hits, 5)}
        if kb_dense is not None:
            sub = _sample(lab, dense_n)
            ranks = [[h.id for h in kb_dense.search(test[i].text[:1000], top=5, kinds=("technique",)).hits]
                     for i in sub]
            hits = [[p in test[i].labels for p in rk] for rk, i in zip(ranks, sub)]
            mh = [[p in test[i].labels for p in model_rank[i]] for i in sub]
            res["search_hybrid"] = {"n": len(sub), "top1": _topk(hits, 1), "top5": _topk(hits, 5),
                                    "model_on_same_items_top1": _topk(mh, 1), "model_on_same_items_top5": _topk(mh, 5)}
        # set F1 per sentence (the model's sets, with its "no technique" outcome)
        res["model"]["sentence_set_f1"] = round(float(np.mean([am.set_f1(pred_sets[i], test[i].labels) for i in idx])), 4)
        if part == "tram-sentence":
            none_gold = np.array([not test[i].labels for i in idx])
            none_pred = np.array([not pred_sets[i] for i in idx])
            tp = int((none_gold & none_pred).sum())
            prec = tp / max(1, int(none_pred.sum()))
            rec = tp / max(1, int(none_gold.sum()))
            res["none_outcome"] = {"gold_none": int(none_gold.sum()), "predicted_none": int(none_pred.sum()),
                                   "precision": round(prec, 4), "recall": round(rec, 4),
                                   "f1": round(2 * prec * rec / max(1e-9, prec + rec), 4),
                                   "majority_always_none_accuracy": round(float(none_gold.mean()), 4),
                                   "model_none_accuracy": round(float((none_gold == none_pred).mean()), 4)}
            res["frequency"]["sentence_set_f1_always_none"] = round(float(none_gold.mean()), 4)
            # by report: the union of the sentences' predicted sets vs the report's techniques
            by_rep_pred, by_rep_gold = defaultdict(set), defaultdict(set)
            for i in idx:
                by_rep_pred[test[i].group] |= set(pred_sets[i])
                by_rep_gold[test[i].group] |= set(test[i].labels)
            f1s = [am.set_f1(tuple(by_rep_pred[g]), tuple(by_rep_gold[g])) for g in by_rep_gold]
            res["model"]["report_set_f1_mean"] = round(float(np.mean(f1s)), 4)
            res["n_reports"] = len(f1s)
        out[part] = res
    out["model_latency"] = _latency(lambda t: mapper.map([t]), [r.text for r in test])
    out["search_keyword_latency"] = _latency(
        lambda t: kb.search(t[:1000], top=5, kinds=("technique",), mode="keyword"), [r.text for r in test], n=100)
    out["none_threshold"], out["ratio"] = tau, ratio
    return out


def to_markdown(rep: dict) -> str:
    c, a = rep["cve_cwe"], rep["attack"]
    lines = ["# Knowledge mappers (test splits)", "", f"Command: `{rep['command']}`", "",
             f"## CVE → CWE ({c['n']} CVEs published 2022-01-13 and later; CWE {c['catalog']})", "",
             "| mapper | top-1 | top-3 | top-5 | top-1 raw ids | p50 ms |", "|---|---|---|---|---|---|"]
    for n in ("model", "frequency", "search_keyword"):
        v = c[n]
        lat = v.get("latency", {}).get("p50_ms", "")
        lines.append(f"| {n} | {v['top1']} | {v['top3']} | {v['top5']} | {v['top1_raw']} | {lat} |")
    if "search_hybrid" in c:
        h = c["search_hybrid"]
        lines.append(f"| search_hybrid ({h['n']} sampled) | {h['top1']} | {h['top3']} | {h['top5']} | | |")
        lines.append(f"| model on the same {h['n']} | {h['model_on_same_items_top1']} | | "
                     f"{h['model_on_same_items_top5']} | | |")
    lines += ["", f"Model macro-F1 (mapped view): {c['model'].get('macro_f1')} "
              f"(95% CI {c['model'].get('macro_f1_ci')}); top-1 95% CI {c['model'].get('top1_ci')}.", "",
              f"## Text → ATT&CK (ATT&CK {a['catalog']})", "",
              "| part | mapper | top-1 | top-5 | sentence set-F1 |", "|---|---|---|---|---|"]
    for part in ("tram-sentence", "procedure"):
        r = a[part]
        for n in ("model", "frequency", "search_keyword"):
            v = r[n]
            lines.append(f"| {part} ({r['n_with_technique']} with a technique / {r['n']}) | {n} | {v['top1']} | "
                         f"{v['top5']} | {v.get('sentence_set_f1', v.get('sentence_set_f1_always_none', ''))} |")
    for part in ("tram-sentence", "procedure"):
        h = a[part].get("search_hybrid")
        if h:
            lines.append(f"| {part} ({h['n']} sampled) | search_hybrid | {h['top1']} | {h['top5']} | |")
            lines.append(f"| {part} (same {h['n']}) | model | {h['model_on_same_items_top1']} | "
                         f"{h['model_on_same_items_top5']} | |")
    no = a["tram-sentence"]["none_outcome"]
    lines += ["", f"'No technique' on TRAM test sentences: precision {no['precision']}, recall {no['recall']}, "
              f"F1 {no['f1']} (gold none {no['gold_none']}, predicted none {no['predicted_none']}); "
              f"accuracy of the none/technique decision {no['model_none_accuracy']} vs always-none "
              f"{no['majority_always_none_accuracy']}.",
              f"TRAM by report ({a['tram-sentence']['n_reports']} test reports): mean set-F1 "
              f"{a['tram-sentence']['model']['report_set_f1_mean']}.",
              f"Latency (one text, one core): model p50 {a['model_latency']['p50_ms']} ms, "
              f"search p50 {a['search_keyword_latency']['p50_ms']} ms."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=("train", "eval"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--only", choices=("cwe", "attack"), help="one mapper only")
    ap.add_argument("--lr", type=float, help="train: Adam learning rate (default: the recipe's)")
    ap.add_argument("--epochs", type=int, help="train: epochs (the best on validation is kept)")
    ap.add_argument("--dense", type=int, default=None, metavar="N",
                    help="also the hybrid (keyword + e5) search baseline on a fixed sample of N items per test part")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.action == "train":
        over = {k: v for k, v in (("lr", args.lr), ("epochs", args.epochs)) if v is not None}
        if args.only in (None, "cwe"):
            train_cwe(args.out, over)
        if args.only in (None, "attack"):
            train_attack(args.out, over)
        return
    from secllm.knowledge.search import KnowledgeBase

    kb = KnowledgeBase(encoder=None)
    kb_dense = KnowledgeBase() if args.dense else None
    cmd = "OMP_NUM_THREADS=1 python benchmarks/knowledge_map.py eval --out reports/knowledge"
    rep = {"command": cmd + (f" --dense {args.dense}" if args.dense else ""),
           "cve_cwe": eval_cwe(kb, kb_dense, args.dense), "attack": eval_attack(kb, kb_dense, args.dense)}
    (args.out / "map.json").write_text(json.dumps(rep, indent=1, ensure_ascii=False, default=str))
    (args.out / "map.md").write_text(to_markdown(rep))
    print(to_markdown(rep))


if __name__ == "__main__":
    main()
