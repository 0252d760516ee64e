"""URL models vs the ISCX shortcuts: bare site roots and the URL scheme, several models in one run.

ISCX-URL2016's benign URLs are deep pages of 232 registered domains, with no home page among them, so
a model can learn "short = malicious". This prints, per model directory (what ``secllm detect --task
url`` serves from it):

* ``site roots``: the share of ``http(s)://host/`` roots of the test split's benign hosts flagged
  malicious (``test:site-roots``: sites never seen in training; every one is benign);
* ``test`` / ``test, https``: macro-F1 and benign false-positive rate on the domain-grouped ISCX test
  split as it is, and with every ``http://`` rewritten to ``https://`` (same URLs, other scheme);
* ``phishtank``: recall on PhishTank's phishing URLs (the drift test).

    python benchmarks/url_shortcuts.py --model shipped=src/secllm/assets/tasks --model roots=runs/tasks-url

(``runs/tasks-url``: the shipped base with a URL adapter and lexical head trained with
``secllm.tasks.url.load(..., site_roots=True)``; the README has the figures.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def measure(model_dir: str, splits) -> dict:
    from secllm.detect.generic import TaskDetector
    from secllm.eval.metrics import multiclass_metrics

    det = TaskDetector.load(model_dir, task="url")
    out = {"served": det.backend.name if hasattr(det.backend, "name") else type(det.backend).__name__}

    def verdicts(texts):
        res = det.detect(list(texts), evidence=False)
        return [r.attack_type if r.label == "malicious" else "benign" for r in res]

    roots = splits["test:site-roots"]
    v = verdicts(roots.texts)
    out["site_roots_flagged"] = round(sum(x != "benign" for x in v) / len(v), 4)
    out["site_roots_n"] = len(v)
    test = splits["test"]
    for name, texts in (("test", test.texts),
                        ("test_https", ["https://" + t[7:] if t.startswith("http://") else t for t in test.texts])):
        v = verdicts(texts)
        labels = sorted(set(test.labels))
        out[f"{name}_macro_f1"] = round(float(multiclass_metrics(list(test.labels), v, labels)["macro_f1"]), 4)
        ben = [p for p, y in zip(v, test.labels) if y == "benign"]
        out[f"{name}_benign_fpr"] = round(sum(p != "benign" for p in ben) / len(ben), 4)
    pt = splits["test:phishtank"]
    v = verdicts([t for t, y in zip(pt.texts, pt.labels) if y == "phishing"])
    out["phishtank_recall"] = round(sum(x != "benign" for x in v) / len(v), 4)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="NAME=DIR (repeatable)")
    ap.add_argument("--datasets", default=None)
    ap.add_argument("--json", default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    from secllm.paths import datasets_dir
    from secllm.tasks.registry import get_task

    splits = get_task("url").load(datasets_dir(a.datasets)).splits
    res = {}
    for m in a.model:
        name, _, d = m.partition("=")
        res[name] = measure(d, splits)
        print(name, json.dumps(res[name]), flush=True)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
