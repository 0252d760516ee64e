"""Pick the confidence the ``evtx-tactic`` label needs before the correlator places a host stage.

The shipped ``evtx-tactic`` detector (macro-F1 0.21 on its test split) often names the wrong tactic;
a wrong host stage puts an incident's attack path out of order. The correlator therefore places a
stage from that task's label only when the label's probability reaches
``CorrelatorConfig.tactic_min_score["evtx-tactic"]``; below it the event still joins its incident
(asset pivot, items, score) but places no stage. This script chooses that threshold on the task's
**validation** split (events of the validation ``.evtx`` files, read raw and judged by the shipped
detector exactly as ``secllm detect --task evtx-tactic`` does), never on test files or replay runs.

Rule (fixed before any run): over thresholds 0.00, 0.01, ..., 0.99 take the smallest at which the
precision of the stage-placing predictions kept (labels other than the catch-all classes
``AutomatedTestingTools`` / ``Other``; truth = the tactic of the event's file) reaches
``--target`` (0.9) with at least ``--min-kept`` (10) events kept; if none does, the threshold of
highest precision with at least ``--min-kept`` kept.

Usage::

    nice -n 10 python benchmarks/evtx_tactic_gate.py --out reports/incidents/evtx_gate.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's secllm first

CATCH_ALL = ("AutomatedTestingTools", "Other")


def _places_stage(label: str | None) -> bool:
    """A label the correlator turns into a stage: a tactic class (not a catch-all, not the open-world
    gate's ``benign``/``unknown``)."""
    from secllm.tasks.evtx import LABELS

    return label in LABELS and label not in CATCH_ALL


def validation_predictions(batch: int = 32) -> list[dict]:
    """(file, truth tactic, predicted label, score) for every distinct event of the validation files."""
    from secllm.data.sources import evtx_attack
    from secllm.detect.generic import TaskDetector
    from secllm.paths import datasets_dir, default_model_dir
    from secllm.runtime import resolve_backend

    recs = [r for r in evtx_attack(datasets_dir()) if r.meta.get("split") == "val"]
    seen, rows = set(), []
    for r in recs:
        if r.text not in seen:
            seen.add(r.text)
            rows.append(r)
    d = default_model_dir("evtx-tactic")
    det = TaskDetector.load(d, task="evtx-tactic", backend=resolve_backend(d, "auto"))
    out = []
    for k in range(0, len(rows), batch):
        part = rows[k:k + batch]
        for r, res in zip(part, det.detect([r.text for r in part], evidence=False)):
            out.append({"file": r.group, "truth": r.label, "label": res.label, "score": res.score,
                        "status": str(res.status)})
    return out


def _stages(preds: list[dict], t: float) -> list[tuple[str, str, bool]]:
    """(file, label, right) per distinct stage the kept predictions place: one file is one host stage
    in the replay, so a file whose kept events name two tactics places two stages."""
    seen = {(p["file"], p["label"], p["label"] == p["truth"]) for p in preds
            if _places_stage(p["label"]) and p["score"] >= t}
    return sorted(seen)


def choose(preds: list[dict], target: float, min_kept: int) -> dict:
    """Per class, the smallest threshold at which the stages it places are right at least ``target``
    of the time (at least ``min_kept`` stages kept); a class that never gets there places no stage."""
    grid = [i / 100 for i in range(100)]
    curve = []
    for t in grid:
        st = _stages(preds, t)
        ev = [p for p in preds if _places_stage(p["label"]) and p["score"] >= t]
        curve.append({"threshold": t, "stages": len(st), "stages_right": sum(r for _, _, r in st),
                      "stage_precision": round(sum(r for _, _, r in st) / len(st), 4) if st else None,
                      "events": len(ev), "event_precision":
                      round(sum(p["label"] == p["truth"] for p in ev) / len(ev), 4) if ev else None})
    per_class, trusted = {}, {}
    for lab in sorted({p["label"] for p in preds if _places_stage(p["label"])}):
        rows = []
        for t in grid:
            st = [r for _, lb, r in _stages(preds, t) if lb == lab]
            rows.append((t, len(st), sum(st)))
        hit = next((t for t, n, r in rows if n >= min_kept and r / n >= target), None)
        n0, r0 = rows[0][1], rows[0][2]
        per_class[lab] = {"stages": n0, "stages_right": r0, "stage_precision": round(r0 / n0, 4) if n0 else None,
                          "best": max(({"threshold": t, "stages": n, "stages_right": r, "stage_precision": round(r / n, 4)}
                                       for t, n, r in rows if n >= min_kept),
                                      key=lambda d: d["stage_precision"], default=None),
                          "threshold": hit}
        if hit is not None:
            trusted[lab] = hit
    return {"tactic_min_score": trusted, "per_class": per_class, "curve": curve}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--min-kept", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("reports/incidents/evtx_gate.json"))
    a = ap.parse_args()
    t0 = time.time()
    preds = validation_predictions()
    placing = [p for p in preds if _places_stage(p["label"])]
    res = {"split": "val", "events": len(preds), "files": len({p["file"] for p in preds}),
           "truth": dict(Counter(p["truth"] for p in preds)),
           "predicted": dict(Counter(p["label"] for p in preds)),
           "stage_placing_predictions": len(placing),
           "target": a.target, "min_kept": a.min_kept, **choose(preds, a.target, a.min_kept),
           "seconds": round(time.time() - t0, 1)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "curve"}, indent=1))


if __name__ == "__main__":
    main()
