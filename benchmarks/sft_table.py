"""Before/after table of `secllm sft eval` reports (no model is run here: it reads their JSON).

    python benchmarks/sft_table.py runs/sft/eval-before.json runs/sft/eval-after.json --out reports/sft

Writes ``OUT/before_after.md`` and ``OUT/before_after.json`` (summaries only, no per-item rows) and
copies the two reports' per-item rows to ``OUT/rows-{before,after}.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROWS = [("cybermetric", "accuracy", "CyberMetric accuracy (single answer)"),
        ("seceval", "accuracy", "SecEval exact-set accuracy (multi answer)"),
        ("instructions", "rougeL", "Instruction test: ROUGE-L F1"),
        ("instructions", "verdict_accuracy", "Instruction test: verdict accuracy (labelled items)"),
        ("instructions", "tool_json_valid", "Instruction test: tool call is valid JSON"),
        ("instructions", "tool_right", "Instruction test: right tool"),
        ("instructions", "tool_args_exact", "Instruction test: exact tool arguments")]


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--out", default="reports/sft")
    a = ap.parse_args()
    b, f = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (a.before, a.after))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["| metric | n | before | after | chance | majority |", "|---|---:|---:|---:|---:|---:|"]
    summary = []
    for sec, key, label in ROWS:
        if sec not in b or sec not in f:
            continue
        base = b[sec].get("baselines", {})
        n = b[sec].get("n")
        if key.startswith("tool"):
            n = sum(1 for r in b[sec].get("rows", []) if key in r)
        elif key == "verdict_accuracy":
            n = sum(1 for r in b[sec].get("rows", []) if "verdict_ok" in r)
        lines.append(f"| {label} | {n} | {_fmt(b[sec].get(key))} | {_fmt(f[sec].get(key))} | "
                     f"{_fmt(base.get('chance'))} | {_fmt(base.get('majority'))} |")
        summary.append({"metric": label, "n": n, "before": b[sec].get(key), "after": f[sec].get(key),
                        "chance": base.get("chance"), "majority": base.get("majority")})
    head = [f"before: `{b.get('model')}`; after: `{f.get('model')}` + adapter `{f.get('adapter')}`; "
            f"MCQ method {b.get('method')}", ""]
    (out / "before_after.md").write_text("\n".join(head + lines) + "\n", encoding="utf-8")
    (out / "before_after.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    for tag, rep in (("before", b), ("after", f)):
        rows = {k: v["rows"] for k, v in rep.items() if isinstance(v, dict) and "rows" in v}
        (out / f"rows-{tag}.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    print("\n".join(head + lines))


if __name__ == "__main__":
    main()
