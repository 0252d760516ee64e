#!/usr/bin/env python3
"""Refresh the generated tables in README.md and docs/*.md from the benchmark reports under reports/.

A generated table sits between two marker comments; everything between them is rewritten:

    <!-- table: reports/tasks-shipped/url/test/report.json -->
    | system | n | macro-F1 (95% CI) | ...
    <!-- /table -->

After ``table:`` comes a path (relative to the repository root) and optional ``key=value`` options.
What is drawn depends on the file (or ``view=``):

    *.md                       the report's own Markdown table number ``table=N`` (default 1), verbatim
    a directory                every report.json under it: test set | system | macro-F1 ... (view=reports)
    report.json (systems)      one row per system (view=systems); ``per_class=1`` adds per-class F1
    eval report.json           view=headline (``sets=http_params,1book``), view=evasion
    fewshot.json               view=fewshot: new-class F1 / old predictions changed at each shot count
    probe json                 view=probe;   mlm-by-modality.json: view=mlm
    seeds_summary json         view=seeds, view=pairs
    runtime json               view=throughput, view=accuracy, view=crs, view=api;  scan json: view=scan
    url shortcuts json         view=shortcuts

Only the standard library: the tables are a function of the files in reports/, nothing else.

    python scripts/docs_tables.py            # rewrite every table in README.md and docs/*.md
    python scripts/docs_tables.py --check    # exit 1 and name each table that differs from its report
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- table: (?P<spec>.+?) -->\n(?P<body>.*?)<!-- /table -->", re.S)
DASH = "–"


# ---------------------------------------------------------------- formatting


def rnd(x: float, digits: int) -> str:
    """Round as a reader of the report's JSON would: half up on the written decimal
    (0.0545 → '0.055'; an f-string gives '0.054', the binary float being just below)."""
    q = Decimal(1).scaleb(-digits)
    return str(Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP))


def f4(x) -> str:
    """0.98801 → '0.9880'; None → '–'."""
    return DASH if x is None else rnd(x, 4)


def f3(x) -> str:
    return DASH if x is None else rnd(x, 3)


def pct(x, digits: int = 1) -> str:
    return DASH if x is None else f"{rnd(100 * Decimal(repr(float(x))), digits)}%"


def num(x) -> str:
    """Thousands with a comma, half up: 10549.3 → '10,549', 1138.5 → '1,139'."""
    return DASH if x is None else f"{int(Decimal(rnd(x, 0))):,}"


def signed(x: float) -> str:
    return "+" + rnd(x, 4) if x >= 0 else rnd(x, 4).replace("-", "−")


def ci(d: dict | None) -> str:
    """A bootstrap interval {'low', 'high'} → '0.973–0.998' ('' when absent)."""
    if not d or d.get("low") is None or d.get("high") is None:
        return ""
    return interval(d["low"], d["high"], 3)


def interval(low: float, high: float, digits: int) -> str:
    """'0.973–0.998'; with a negative bound '−0.053 to −0.020' (a dash would read as a minus)."""
    lo, hi = rnd(low, digits), rnd(high, digits)
    if low < 0 or high < 0:
        return f"{lo} to {hi}".replace("-", "−")
    return f"{lo}–{hi}"


def with_ci(est, interval: dict | None) -> str:
    c = ci(interval)
    return f"{f4(est)} ({c})" if c else f4(est)


def cell(s) -> str:
    """Table cells hold report text: keep a '|' from splitting the row."""
    return str(s).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


@dataclass
class Spec:
    path: Path          # absolute
    rel: str            # as written in the marker
    opts: dict


def parse_spec(text: str) -> Spec:
    """'reports/x.json view=probe sets=a,b' → Spec."""
    parts = shlex.split(text)
    if not parts:
        raise ValueError("empty table spec")
    opts = {}
    for p in parts[1:]:
        k, sep, v = p.partition("=")
        if not sep:
            raise ValueError(f"table option {p!r} is not key=value")
        opts[k] = v
    return Spec(ROOT / parts[0], parts[0], opts)


def load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def link(target: Path, doc: Path, text: str) -> str:
    rel = os.path.relpath(target, doc.parent).replace(os.sep, "/")
    return f"[{text}]({rel})"


# ---------------------------------------------------------------- views


def view_markdown(spec: Spec, doc: Path) -> str:
    """The N-th Markdown table of a report .md file, verbatim."""
    n = int(spec.opts.get("table", "1"))
    tables, cur = [], []
    for line in spec.path.read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            tables.append(cur)
            cur = []
    if cur:
        tables.append(cur)
    if not 1 <= n <= len(tables):
        raise ValueError(f"{spec.rel} has {len(tables)} tables, not table={n}")
    return "\n".join(tables[n - 1]) + "\n"


def _system_cells(m: dict, by_group: bool, per_class: bool) -> list:
    b = m.get("binary") or {}
    mc = m.get("multiclass") or {}
    c = m.get("ci95") or {}
    row = [m.get("n"), with_ci(mc.get("macro_f1"), c.get("macro_f1"))]
    if by_group:
        row.append(ci(c.get("macro_f1_by_group")) or DASH)
    row += [f4(b.get("roc_auc")), f4(b.get("tpr_at_fpr_1e-3")), f4(b.get("fpr"))]
    if per_class:
        pcs = mc.get("per_class") or {}
        row.append(", ".join(f"{k} {f3(v['f1'])}" for k, v in pcs.items()) or DASH)
    return row


def _system_header(by_group: bool, per_class: bool) -> list[str]:
    h = ["n", "macro-F1 (95% CI)"]
    if by_group:
        h.append("95% CI resampling groups")
    h += ["ROC-AUC", "TPR @ 0.1% FPR", "FPR at threshold"]
    if per_class:
        h.append("per-class F1")
    return h


def view_systems(spec: Spec, doc: Path) -> str:
    """One row per system of a secllm.eval.report report.json."""
    d = load(spec.path)
    systems = d["systems"]
    by_group = any("macro_f1_by_group" in (m.get("ci95") or {}) for m in systems.values())
    per_class = spec.opts.get("per_class") == "1"
    rows = [[name, *_system_cells(m, by_group, per_class)] for name, m in systems.items()]
    return table(["system", *_system_header(by_group, per_class)], rows)


def view_reports(spec: Spec, doc: Path) -> str:
    """Every report.json under a directory: one row per (test set, system)."""
    files = sorted(spec.path.rglob("report.json"))
    files = [f for f in files if "systems" in load(f)]
    if not files:
        raise ValueError(f"no report.json with systems under {spec.rel}")
    reports = [(f, load(f)) for f in files]
    by_group = any("macro_f1_by_group" in (m.get("ci95") or {}) for _, d in reports for m in d["systems"].values())
    per_class = spec.opts.get("per_class") == "1"
    rows = []
    for f, d in reports:
        name = f.parent.relative_to(spec.path).as_posix()
        md = f.with_name("report.md")
        first = link(md, doc, name) if md.exists() else name
        for i, (sysname, m) in enumerate(d["systems"].items()):
            rows.append([first if i == 0 else "", sysname, *_system_cells(m, by_group, per_class)])
    return table(["test set", "system", *_system_header(by_group, per_class)], rows)


def view_headline(spec: Spec, doc: Path) -> str:
    """The headline rows of a `secllm eval web-attack` report.json, optionally only some test sets."""
    d = load(spec.path)
    sets = spec.opts.get("sets")
    want = sets.split(",") if sets else None
    rows = []
    last = None
    for h in d["headline"]:
        if want and h["test_set"] not in want:
            continue
        first = h["test_set"] if h["test_set"] != last else ""
        last = h["test_set"]
        rows.append([first, h["system"], h["n"], f4(h["macro_f1"]), f4(h.get("roc_auc")),
                     f4(h.get("tpr_at_fpr_1e-3")), f4(h.get("recall")), f4(h.get("fpr")),
                     num(h.get("false_alerts_per_million"))])
    missing = set(want or ()) - {h["test_set"] for h in d["headline"]}
    if missing:
        raise ValueError(f"{spec.rel}: no test set {sorted(missing)}")
    return table(["test set", "system", "n", "macro-F1", "ROC-AUC", "TPR @ 0.1% FPR", "recall",
                  "FPR at threshold", "false alerts / 1M benign"], rows)


def view_evasion(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    rows = [[name, e["n"], f3(e["before"]), f3(e["after"]), e["evaded"], e["gained"]]
            for name, e in d["evasion"].items()]
    return table(["system", "mutated pairs", "detected before", "detected after", "evaded", "gained"], rows)


def view_fewshot(spec: Spec, doc: Path) -> str:
    """new-class F1 / share of old-class test predictions changed, one column per shot count.

    The path may be a glob (one block of rows per file, named by task and new class); ``guard=0.005``
    keeps the rows of that guard target (and the refitted TF-IDF baseline)."""
    files = sorted(ROOT.glob(spec.rel)) if "*" in spec.rel else [spec.path]
    guard_only = float(spec.opts["guard"]) if "guard" in spec.opts else None
    runs = [load(f) for f in files]
    shots = runs[0]["shots"]
    rows = []
    for d in runs:
        if d["shots"] != shots:
            raise ValueError(f"{spec.rel}: runs with different shot counts")
        first = f"{d['task']}, {d['new_class']}"
        for name, s in d["systems"].items():
            by: dict = {}
            for r in s["rows"]:
                by.setdefault(r.get("max_old_flip"), {})[r["shots"]] = r
            for guard, rs in by.items():
                if guard_only is not None and guard is not None and abs(guard - guard_only) > 1e-12:
                    continue
                before = next(iter(rs.values())).get("old_macro_f1_before")
                cells = [f"{f3(rs[k]['new_f1'])} / {pct(rs[k]['old_changed'])}" if k in rs else DASH for k in shots]
                g = "refitted" if name == "tfidf-lr" else (DASH if guard is None else pct(guard, 1))
                rows.append(([first] if len(runs) > 1 else []) + [name, g, f4(before), *cells])
                first = ""
    head = (["task, new class"] if len(runs) > 1 else []) + ["system", "guard", "old macro-F1 before"]
    return table(head + [f"{k} examples: new F1 / old changed" for k in shots], rows)


def view_probe(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    rows = []
    for r in d["rows"]:
        diff = r.get("test_difference_95") or {}
        grouped = next(((k.removeprefix("test_difference_95_resampling_").replace("_", " "), v)
                        for k, v in r.items() if k.startswith("test_difference_95_resampling_")), None)
        rows.append([r["seed"], r["train_rows"],
                     f"{f4(r['pretrained']['val_macro_f1'])} / {f4(r['pretrained']['test_macro_f1'])}",
                     f"{f4(r['random-init']['val_macro_f1'])} / {f4(r['random-init']['test_macro_f1'])}",
                     ci(diff) or DASH, f"{grouped[0]}: {ci(grouped[1])}" if grouped else DASH])
    mean = d.get("mean_test_macro_f1") or {}
    if mean:
        rows.append(["mean", "", f4(mean.get("pretrained")), f4(mean.get("random-init")), "", ""])
    return table(["seed", "train rows", "pretrained probe: validation / test macro-F1",
                  "random-encoder probe: validation / test", "test difference, 95%",
                  "test difference, 95%, resampling groups"], rows)


def view_mlm(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    bases = d["bases"]
    mods = list(next(iter(bases.values()))["by_modality"])
    rows = []
    for m in mods:
        row = [m, bases[next(iter(bases))]["by_modality"][m]["rows"]]
        for b in bases.values():
            x = b["by_modality"][m]
            row.append(f"{f3(x['loss'])} / {f3(x['accuracy'])}")
        rows.append(row)
    return table(["modality", "rows", *[f"{name} base: loss / accuracy" for name in bases]], rows)


def view_seeds(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    seeds = sorted({s for v in d["systems"].values() for s in v["by_seed"]}, key=int)
    rows = [[name, *[f4(v["by_seed"].get(s)) for s in seeds], f4(v["mean"])] for name, v in d["systems"].items()]
    return table(["system", *[f"seed {s}" for s in seeds], "mean"], rows)


def view_pairs(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    rows = [[name, signed(p["mean"]), interval(p["t95"][0], p["t95"][1], 4), f"{p['positive']} of {len(p['seeds'])}",
             ", ".join(signed(x) for x in p["differences"])] for name, p in d["pairs"].items()]
    return table(["pair", "mean difference", "t-interval 95%", "subsets ahead", "differences by seed"], rows)


def _config(t: dict) -> str:
    where = f"{t['workers']} worker process{'es' if t['workers'] > 1 else ''}" if "workers" in t \
        else f"1 process, {t['threads']} thread{'s' if t['threads'] > 1 else ''}"
    casc = t.get("cascade")
    stage = "" if casc is None else (", cascade" if casc else ", full model only")
    return f"{t['backend']}, {where}{stage}"


def view_throughput(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    batches = sorted({t["batch"] for t in d["throughput"]})
    grid: dict[str, dict] = {}
    for t in d["throughput"]:
        grid.setdefault(_config(t), {})[t["batch"]] = t["items_per_s"]
    rows = [[cfg, *[num(v.get(b)) for b in batches]] for cfg, v in grid.items()]
    return table(["configuration (items/s)", *[f"batch {b}" for b in batches]], rows)


def view_accuracy(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    rows = []
    for name, a in d["accuracy"].items():
        agree = next((v for k, v in a.items() if k.startswith("label_agreement")), None)
        diff = next((v for k, v in a.items() if k.startswith("max_abs_score_diff")), None)
        decided = ", ".join(f"{k} {pct(v)}" for k, v in sorted((a.get("decided_by") or {}).items(),
                                                                  key=lambda kv: -kv[1])) or DASH
        rows.append([name, f4(a["macro_f1"]), f4(a["binary_f1"]), pct(agree, 2), f3(diff), decided])
    return table([f"{d['inputs']} ({d['n']:,})", "macro-F1", "binary F1", "labels equal to the first row",
                  "max score difference", "decided by"], rows)


def view_crs(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    v = d["vs_crs"]
    s = v["secllm"]
    crs = v.get("crs_pl1") or {}
    rows = []
    for kind, key in (("payloads", "payloads"), ("whole raw requests", "raw_requests")):
        row = [kind, num(s.get(f"{key}_per_s")), num(s.get(f"{key}_per_s_no_cache")),
               num((v.get("secllm_no_cascade") or {}).get(f"{key}_per_s")),
               num((crs.get(key) or {}).get("requests_per_s"))]
        ratio = v.get(f"ratio_{key}")
        row.append(DASH if ratio is None else f"{rnd(ratio, 2)}×")
        rows.append(row)
    head = f"items/s ({_config(s)}, batch {s['batch']}, first {s['n']:,})"
    return table([head, "SecLLM", "SecLLM, score cache off", "SecLLM, no cascade", "OWASP CRS PL1 (nginx)",
                  "SecLLM / CRS"], rows)


def view_api(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    rows = []
    for key in ("api", "api_all_tasks"):
        a = d.get(key)
        if a:
            rows.append([", ".join(a.get("tasks", ["web-attack"])), a["backend"], a["requests"], rnd(a["p50_ms"], 1),
                         rnd(a["p99_ms"], 1), num(a["peak_rss_mb"])])
    return table(["tasks loaded", "backend", "requests", "p50 ms", "p99 ms", "server peak RSS MB"], rows)


def view_scan(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    rows = [[name, rnd(r["file_mb"], 1), f"{r['lines']:,}", rnd(r["seconds"], 1), num(r["lines_per_s"]),
             rnd(r["peak_rss_mb"], 1), f"{r['findings']:,}"] for name, r in (("prefix", d["small"]), ("full", d["full"]))]
    return table(["file", "MB", "lines", "seconds", "lines/s", "peak RSS MB", "findings"], rows)


def view_shortcuts(spec: Spec, doc: Path) -> str:
    d = load(spec.path)
    rows = [[name, r["served"], f"{round(r['site_roots_flagged'] * r['site_roots_n'])} / {r['site_roots_n']}",
             f4(r["test_macro_f1"]), f3(r["test_benign_fpr"]), f4(r["test_https_macro_f1"]), f3(r["phishtank_recall"])]
            for name, r in d.items()]
    return table(["model", "served system", "test:site-roots flagged", "ISCX test macro-F1 (thresholds)",
                  "benign FPR", "same test, all `https://`", "PhishTank recall"], rows)


VIEWS = {
    "markdown": view_markdown, "reports": view_reports, "systems": view_systems, "headline": view_headline,
    "evasion": view_evasion, "fewshot": view_fewshot, "probe": view_probe, "mlm": view_mlm, "seeds": view_seeds,
    "pairs": view_pairs, "throughput": view_throughput, "accuracy": view_accuracy, "crs": view_crs, "api": view_api,
    "scan": view_scan, "shortcuts": view_shortcuts,
}


def default_view(spec: Spec) -> str:
    p = spec.path
    if p.is_dir():
        return "reports"
    if p.suffix == ".md":
        return "markdown"
    d = load(p)
    if "systems" in d and isinstance(d["systems"], dict) and "shots" in d:
        return "fewshot"
    if "systems" in d and "pairs" in d:
        return "seeds"
    if "systems" in d:
        return "systems"
    if "headline" in d:
        return "headline"
    if "bases" in d:
        return "mlm"
    if "mean_test_macro_f1" in d:
        return "probe"
    if "throughput" in d:
        return "throughput"
    if d.get("benchmark") == "scan_memory":
        return "scan"
    raise ValueError(f"{spec.rel}: no default view; say view=...")


def render(spec_text: str, doc: Path) -> str:
    spec = parse_spec(spec_text)
    if "*" in spec.rel:
        if not any(ROOT.glob(spec.rel)):
            raise FileNotFoundError(f"{spec.rel} (named in {doc.name}) matches no file")
        if "view" not in spec.opts:
            raise ValueError(f"{spec.rel}: a glob needs view=...")
    elif not spec.path.exists():
        raise FileNotFoundError(f"{spec.rel} (named in {doc.name}) does not exist")
    view = spec.opts.get("view") or default_view(spec)
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r} in {doc.name}")
    return VIEWS[view](spec, doc)


# ---------------------------------------------------------------- documents


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def refresh(text: str, doc: Path) -> tuple[str, list[str]]:
    """The document with every generated table redrawn, and the specs whose table changed."""
    changed = []

    def sub(m: re.Match) -> str:
        body = render(m["spec"], doc)
        if body != m["body"]:
            changed.append(m["spec"])
        return f"<!-- table: {m['spec']} -->\n{body}<!-- /table -->"

    return MARKER.sub(sub, text), changed


def check(root: Path = ROOT) -> list[str]:
    """'doc: spec' for each generated table that differs from what its report gives now."""
    out = []
    for doc in documents(root):
        if doc.exists():
            _, changed = refresh(doc.read_text(encoding="utf-8"), doc)
            out += [f"{doc.relative_to(root)}: {s}" for s in changed]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs from its report")
    args = ap.parse_args(argv)
    if args.check:
        stale = check()
        for s in stale:
            print(f"stale table: {s}", file=sys.stderr)
        return 1 if stale else 0
    n = 0
    for doc in documents():
        if not doc.exists():
            continue
        old = doc.read_text(encoding="utf-8")
        new, changed = refresh(old, doc)
        if new != old:
            doc.write_text(new, encoding="utf-8")
        n += len(MARKER.findall(new))
        for s in changed:
            print(f"{doc.relative_to(ROOT)}: refreshed {s}")
    print(f"{n} generated tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
