"""Measure the embedded assistant on the bilingual question set (issue 22).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/assistant.py --split test
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/assistant.py --split dev

Per question: intent + argument accuracy (exact: the pasted items, the ids, the files, the
follow-up ordinal; for knowledge searches the topic words must be in the query), and answer
checks against tool output computed independently here (a direct ``Router.judge`` of the item,
the catalogue entry of the id, a direct scan of the file, the previous answer's entries). Latency:
the full ``ask`` per question on one thread, scans excluded. Every miss is listed. Writes
``reports/assistant/<split>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests/fixtures/assistant"


_STOP = frozenset("from with into that this over under what when where which".split())


def args_ok(q: dict, r) -> tuple[bool, str]:
    """Whether the parsed arguments are the expected ones (and why not)."""
    exp, got = q["args"], r.args
    if r.intent != q["intent"]:
        return False, f"intent {r.intent} != {q['intent']}"
    if q["intent"] == "judge":
        ok = got.get("items") == exp["items"]
        return ok, "" if ok else f"items {got.get('items')!r} != {exp['items']!r}"
    if q["intent"] == "knowledge":
        ok = got.get("ids") == exp["ids"]
        return ok, "" if ok else f"ids {got.get('ids')} != {exp['ids']}"
    if q["intent"] == "search":
        query = (got.get("query") or "").lower()
        topic = exp["topic"].lower()
        if re.search(r"[\u3400-\u9fff]", topic):
            ok = topic.replace(" ", "") in query.replace(" ", "")
        else:
            words = [w for w in re.findall(r"[a-z0-9]+", topic) if len(w) > 3 and w not in _STOP]
            ok = all(w in re.findall(r"[a-z0-9]+", query) for w in words)
        return ok, "" if ok else f"query {query!r} misses topic {topic!r}"
    if q["intent"] == "scan":
        ok = [Path(f).name for f in got.get("files", [])] == exp["files"]
        return ok, "" if ok else f"files {got.get('files')} != {exp['files']}"
    if q["intent"] == "followup":
        ok = got.get("ordinal") == exp["ordinal"]
        return ok, "" if ok else f"ordinal {got.get('ordinal')} != {exp['ordinal']}"
    return True, ""


def answer_ok(q: dict, reply, router, ctx_reply) -> tuple[bool | None, str]:
    """Check the answer against independently computed tool output (None: no check for this intent)."""
    from secllm.detect.knowledge import attach_knowledge
    from secllm.knowledge import load_cwe, lookup

    text, intent = reply.answer, q["intent"]
    # a mixed-language question may fairly be answered in either language: the one detected counts
    zh = (reply.language if q["variant"] == "mixed" else q["lang"]) == "zh"
    if intent == "judge":
        d = router.judge([q["args"]["items"][0]])
        attach_knowledge(d, "web-attack")
        d = d[0]
        if d.status != "ok":
            word = "未判断" if zh else "not judged"
        else:
            word = {"malicious": "恶意" if zh else "malicious", "benign": "良性" if zh else "benign"}[d.label]
        need = [*(d.knowledge or {}).get("cwe", []), *(d.knowledge or {}).get("attack", [])]
        miss = [i for i in need if i not in reply.citations]
        ok = word in text and not miss
        return ok, "" if ok else f"expected {word!r} and citations {need}; got citations {reply.citations}"
    if intent == "knowledge":
        ident = q["args"]["ids"][0]
        if ident.startswith("CVE-"):
            need = list(load_cwe().cve_index.get(ident, ()))
        else:
            need = [lookup(ident).name]
        ok = all(n in text for n in need) and ident in reply.citations
        return ok, "" if ok else f"answer lacks {need} or citation {ident}"
    if intent == "search":
        hits = [h["id"] for c in reply.tool_calls for h in c.result.get("hits", [])]
        ok = bool(set(hits) & set(q["targets"]))
        return ok, "" if ok else f"targets {q['targets']} not in hits {hits}"
    if intent == "scan":
        from secllm.scan import scan

        s = scan([FIX / "access.log"], router, io.StringIO(), progress=False).to_json()
        need = [str(s["items"]), *s["attack_types"]]
        ok = all(n in text for n in need)
        return ok, "" if ok else f"answer lacks one of {need}"
    if intent == "followup":
        subjects = [h["id"] for c in ctx_reply.tool_calls for h in c.result.get("hits", [])]
        n = q["args"]["ordinal"]
        want = subjects[n - 1] if n > 0 else subjects[-1]
        ok = want in reply.citations and want in text
        return ok, "" if ok else f"expected entry {want}; citations {reply.citations}"
    if intent == "off_topic":
        ok = not reply.tool_calls and ("超出" in text if zh else "outside" in text)
        return ok, "" if ok else "not answered as off-topic"
    if intent in ("help", "profile"):
        ok = [c.tool for c in reply.tool_calls] == [intent]
        return ok, "" if ok else f"tool calls {[c.tool for c in reply.tool_calls]}"
    return None, ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["dev", "test", "test_b", "test_c"], required=True)
    ap.add_argument("--questions", default=str(FIX / "questions.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "reports/assistant"))
    a = ap.parse_args()
    from secllm.assistant import Assistant, Toolbox
    from secllm.detect.route import Router

    qs = [json.loads(x) for x in Path(a.questions).read_text(encoding="utf-8").splitlines()]
    qs = [q for q in qs if q["split"] == a.split]
    router = Router(threads=1)
    tb = Toolbox(router=router)
    os.chdir(FIX)                               # questions name access.log
    Assistant(tb).ask("is this malicious: id=1' or 1=1--")      # warm: models, catalogues, jieba, index
    Assistant(tb).ask("如何缓解凭据转储？")
    rows, lat = [], []
    for q in qs:
        asst = Assistant(tb)
        ctx = asst.ask(q["context"]) if q.get("context") else None
        files = q.get("files") or []
        t0 = time.perf_counter()
        rep = asst.ask(q["question"], files)
        dt = time.perf_counter() - t0
        if q["intent"] != "scan":
            lat.append(dt)
        ok_a, why_a = args_ok(q, rep)
        ok_ans, why_ans = answer_ok(q, rep, router, ctx) if rep.intent == q["intent"] else (False, "wrong intent")
        rows.append({"id": q["id"], "lang": q["lang"], "intent": q["intent"], "variant": q["variant"],
                     "got_intent": rep.intent, "intent_ok": rep.intent == q["intent"], "args_ok": ok_a,
                     "answer_ok": ok_ans, "why": "; ".join(w for w in (why_a, why_ans) if w),
                     "question": q["question"], "ms": round(dt * 1e3, 2)})
    n = len(rows)

    def acc(key, sel=lambda r: True):
        s = [r for r in rows if sel(r) and r[key] is not None]
        return {"n": len(s), "correct": sum(bool(r[key]) for r in s),
                "accuracy": round(sum(bool(r[key]) for r in s) / len(s), 4) if s else None}

    lat_ms = sorted(x * 1e3 for x in lat)
    out = {"split": a.split, "questions": n, "intent": acc("intent_ok"), "intent_and_args": acc("args_ok"),
           "answer_checks": acc("answer_ok", lambda r: r["intent"] != "search"),
           "search_target_in_top3": acc("answer_ok", lambda r: r["intent"] == "search"),
           "per_lang": {lg: acc("args_ok", lambda r, lg=lg: r["lang"] == lg) for lg in ("en", "zh")},
           "per_intent": {i: acc("args_ok", lambda r, i=i: r["intent"] == i) for i in sorted({r["intent"] for r in rows})},
           "per_variant": {v: acc("args_ok", lambda r, v=v: r["variant"] == v) for v in sorted({r["variant"] for r in rows})},
           "latency_ms": {"n": len(lat_ms), "p50": round(statistics.median(lat_ms), 2),
                          "p95": round(lat_ms[int(0.95 * (len(lat_ms) - 1))], 2), "max": round(lat_ms[-1], 2),
                          "threads": os.environ.get("OMP_NUM_THREADS")},
           "latency_ms_per_intent": {i: round(statistics.median([r["ms"] for r in rows if r["intent"] == i]), 2)
                                     for i in sorted({r["intent"] for r in rows})},
           "confusions": Counter(f"{r['intent']}->{r['got_intent']}" for r in rows if not r["intent_ok"]),
           "misses": [r for r in rows if not r["args_ok"] or r["answer_ok"] is False]}
    outd = Path(a.out)
    outd.mkdir(parents=True, exist_ok=True)
    (outd / f"{a.split}.json").write_text(json.dumps(out, ensure_ascii=False, indent=1))
    md = [f"# assistant question set — {a.split}", "",
          f"questions {n}; intent {out['intent']['accuracy']}; intent+args {out['intent_and_args']['accuracy']}; "
          f"answer checks {out['answer_checks']['accuracy']}; search target in top 3 "
          f"{out['search_target_in_top3']['accuracy']}; latency p50 {out['latency_ms']['p50']} ms "
          f"p95 {out['latency_ms']['p95']} ms", "", "| id | intent | got | why | question |", "|---|---|---|---|---|"]
    for r in out["misses"]:
        md.append(f"| {r['id']} | {r['intent']} | {r['got_intent']} | {r['why'][:160].replace('|', '/')} | "
                  f"{r['question'][:100].replace('|', '/')} |")
    (outd / f"{a.split}.md").write_text("\n".join(md) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "misses"}, ensure_ascii=False, indent=1))
    for r in out["misses"]:
        print("MISS", r["id"], r["intent"], "->", r["got_intent"], "|", r["why"][:200], "|", r["question"][:120])
    return 0


if __name__ == "__main__":
    sys.exit(main())
