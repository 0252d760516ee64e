"""How well does each base predict masked tokens of held-out security data, per modality?

The pretraining objective itself, measured on the corpus's validation split (never trained on):
masked-token loss and accuracy per modality, the same masked positions for every base.

    secllm corpus build --out runs/corpus
    python benchmarks/mlm_eval.py --corpus runs/corpus --base shipped=src/secllm/assets/tasks \\
        --base continued=runs/continued/model --out reports/continued-pretraining/mlm.json

CPU: about a minute per base with the default 1,000 rows per modality.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from secllm.data.corpus import read_corpus  # noqa: E402
from secllm.model.modeling import load_mlm  # noqa: E402
from secllm.pretrain.recipe import balanced_rows  # noqa: E402
from secllm.pretrain.trainer import mlm_scores_by_modality  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="output of `secllm corpus build` (reads val/)")
    ap.add_argument("--base", action="append", required=True, metavar="NAME=DIR")
    ap.add_argument("--per-modality", type=int, default=1000)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = balanced_rows(list(read_corpus(args.corpus / "val")), args.per_modality, 0)
    result = {"corpus": str(args.corpus / "val"), "rows": len(rows), "per_modality": args.per_modality,
              "max_length": args.max_length, "bases": {}}
    for spec in args.base:
        name, _, d = spec.partition("=")
        if not d:
            ap.error(f"--base wants NAME=DIR, got {spec!r}")
        t0 = time.time()
        model, tok, _, meta = load_mlm(d)
        model.float()
        scores = mlm_scores_by_modality(model, tok, rows, max_length=args.max_length)
        result["bases"][name] = {"dir": d, "pretrain_steps": (meta.get("pretrain") or {}).get("steps"),
                                 "seconds": round(time.time() - t0, 1), "by_modality": scores}
    names = list(result["bases"])
    mods = sorted(result["bases"][names[0]]["by_modality"])
    print(f"{'modality':10s} " + " ".join(f"{n + ' loss/acc':>24s}" for n in names))
    for m in mods:
        cells = [result["bases"][n]["by_modality"][m] for n in names]
        print(f"{m:10s} " + " ".join(f"{c['loss']:>15.3f} / {c['accuracy']:.3f}" for c in cells))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
