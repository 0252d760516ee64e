"""What the scanner/restricted-file signatures cost on whole raw requests (same run, on vs off).

    python benchmarks/signatures_cost.py [--limit 2000] [--repeats 7]

The HttpParams test payloads inside realistic browser requests (``runtime.raw_requests``), judged
by the shipped detector (int8 ONNX cascade, one thread) with signatures off and on, alternating;
the detector's score cache is cleared before every timed pass; prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    from runtime import raw_requests

    from secllm.detect.detector import WebAttackDetector
    from secllm.paths import datasets_dir
    from secllm.tasks.web_attack import load_web_attack

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    items = raw_requests(load_web_attack(datasets_dir())["test:http_params"].texts[:a.limit])
    det = WebAttackDetector.load(None, backend="onnx-int8", threads=1)
    det.detect(items[:256], evidence=False)
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(a.repeats):
        for sig in (False, True):
            det.signatures = sig
            det.clear_cache()
            t0 = time.perf_counter()
            for i in range(0, len(items), 256):
                det.detect(items[i:i + 256], evidence=False)
            rates[sig].append(len(items) / (time.perf_counter() - t0))
    for sig in (False, True):
        print(f"signatures {'on ' if sig else 'off'}: {statistics.median(rates[sig]):.1f} raw requests/s "
              f"(median of {a.repeats}; runs {[round(x) for x in rates[sig]]})")
    print(f"on / off: {statistics.median(rates[True]) / statistics.median(rates[False]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
