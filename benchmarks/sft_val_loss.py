"""Held-out loss of the base model and of the tuned one on the same validation instructions.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/sft_val_loss.py --model runs/sft/smollm2-135m-instruct \
        --data runs/sft/data --adapter runs/sft/lora/adapter --max-val 50 --max-len 256 --out reports/sft/val_loss.json

Mean loss per assistant token (the trainer's validation figure, ``secllm.sft.train.validation_loss``)
on the first ``--max-val`` records of ``val.jsonl``; lower is better; exp(loss) is the perplexity.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from secllm.sft.train import validation_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--max-val", type=int, default=50)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--out", default="reports/sft/val_loss.json")
    a = ap.parse_args()
    res = {}
    for tag, adapter in (("before", None), ("after", a.adapter)):
        t0 = time.time()
        r = validation_loss(a.model, a.data, adapter=adapter, max_val=a.max_val, max_len=a.max_len)
        r.update(perplexity=math.exp(r["loss"]), seconds=round(time.time() - t0, 1), adapter=adapter)
        res[tag] = r
        print(tag, json.dumps(r))
    res["setup"] = {"model": a.model, "data": a.data, "max_val": a.max_val, "max_len": a.max_len}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
