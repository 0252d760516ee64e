"""benchmarks/learning_logs.py on tiny synthetic logs written to tmp_path (no shared datasets)."""

from __future__ import annotations

import gzip
import importlib.util
import random
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_logs.py"
_spec = importlib.util.spec_from_file_location("learning_logs", _PATH)
ll = importlib.util.module_from_spec(_spec)
sys.modules["learning_logs"] = ll
_spec.loader.exec_module(ll)

_PATTERNS = [["5", "5", "22", "11", "9", "11", "9", "26", "26"], ["5", "22", "5", "11", "9", "26"],
             ["22", "5", "5", "11", "9", "11", "9", "26", "26", "26"]]


def _write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _hdfs(tmp_path: Path) -> dict[str, list[str]]:
    rng = random.Random(1)
    normals = [" ".join(rng.choice(_PATTERNS)) for _ in range(60)]
    abnormal = ["5 5 22 11 9 23 26", "5 26 22 11", "5 " * 40, "22 5 5 11 9 11 9 26 26 26 4 4"]
    n = ll.parse_sessions(ll.read_lines(_write_gz(tmp_path / "train.txt.gz", normals)))
    a = ll.parse_sessions(ll.read_lines(_write_gz(tmp_path / "abn.txt.gz", abnormal)))
    return ll.split_hdfs(n, a, seed=0)


def test_hdfs_split_and_systems(tmp_path):
    data = _hdfs(tmp_path)
    assert (len(data["test_normal"]), len(data["cal"]), len(data["learn"])) == (12, 12, 36)
    again = ll.split_hdfs(data["learn"] + data["cal"] + data["test_normal"], data["test_abnormal"], seed=0)
    assert sorted(again["learn"] + again["cal"] + again["test_normal"]) == sorted(
        data["learn"] + data["cal"] + data["test_normal"])          # a partition of the normals
    out = ll.run_hdfs(data, 0.01, 0, tmp_path / "w")
    by = {(r["dataset"], r["system"]): r for r in out["rows"]}
    lm = by[("hdfs", "logmodel")]
    # every anomalous session (unseen event, unseen transition, count far outside) is flagged by
    # the profile and none of the normals: they repeat the three learned patterns
    assert (lm["tp"], lm["fn"], lm["fp"]) == (4, 0, 0) and lm["roc_auc"] == 1.0
    assert by[("hdfs-unique", "logmodel")]["tn"] == 3              # 3 distinct normal sequences
    assert set(s for _, s in by) >= {"iforest", "pca", "ngram-deeplog(h=3,g=9)"}
    assert out["info"]["test_normal"] == 12 and out["info"]["unique_test_normal_sequences_in_learn"] == 3


def test_thresholds_come_from_calibration_only():
    cal = np.arange(100.0)                          # calibration normals 0..99
    test = np.array([0.0, 98.0, 98.5, 99.0, 200.0])
    flag, t = ll.calibrated_flags(cal, test, 0.01)
    assert 98.0 < t <= 98.0001                      # at most 1% (1 of 100) calibration normals flagged
    assert flag.tolist() == [False, False, True, True, True]
    # the same test scores against another calibration set: another threshold (test plays no part)
    flag2, t2 = ll.calibrated_flags(np.zeros(100), test, 0.01)
    assert 0.0 < t2 < 1e-300 and flag2.tolist() == [False, True, True, True, True]
    m = ll.metrics(np.array([0, 0, 1, 1, 1]), test, flag)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 0, 0, 2) and m["f1"] == 1.0 and m["roc_auc"] == 1.0


def test_ngram_next_event_rule():
    m = ll.NGramNextEvent(h=2, g=1).fit([["a", "b", "c"]] * 5 + [["a", "b", "d"]])
    assert m.misses(["a", "b", "c"]) == 0
    assert m.misses(["a", "b", "d"]) == 1          # d is not the top-1 event after (a, b)
    assert m.misses(["c", "a", "z"]) >= 2


def _bgl_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        node = f"R{rng.randint(0, 40):02d}-M{rng.randint(0, 1)}-N{rng.randint(0, 9)}-C:J{rng.randint(2, 17):02d}-U11"
        msg = rng.choice(["instruction cache parity error corrected", f"generating core.{rng.randint(1, 9999)}",
                          f"{rng.randint(1, 99)} floating point alignment exceptions"])
        out.append(f"- {1117838570 + i} 2005.06.{1 + i // 20:02d} {node} 2005-06-03-15.42.50.675872 {node} "
                   f"RAS KERNEL INFO {msg}")
    return out


def test_bgl_split_strips_labels_and_scores(tmp_path):
    lines = _bgl_lines(90, 0)
    lines[80] = ("KERNSTOR 1117900000 2005.06.05 R03-M0-N1-C:J02-U11 2005-06-05-15.42.50.675872 "
                 "R03-M0-N1-C:J02-U11 RAS KERNEL FATAL data storage interrupt")
    data = ll.split_bgl(ll.read_lines(_write_gz(tmp_path / "bgl.log.gz", lines)))
    assert len(data["test"]) == 27 and data["y"].sum() == 1
    assert not any(t.startswith(("- ", "KERNSTOR")) for t in data["test"] + data["normal-only"]["learn"])
    cal = data["normal-only"]["cal"]
    assert len(cal) == 13 and cal == data["unlabeled"]["cal"][-13:]
    out = ll.run_bgl(data, 0.01, 0, tmp_path / "w")
    lm = next(r for r in out["rows"] if r["dataset"] == "bgl (normal-only)" and r["system"] == "logmodel")
    # node ids and dates vary on every line: the profile still sees one known template per message
    assert lm["fp"] == 0 and lm["tp"] == 1 and lm["roc_auc"] == 1.0
    assert out["info"]["normal-only"]["cal_lines_with_unseen_template"] == 0


def test_bad_inputs_raise_clear_errors(tmp_path):
    empty = tmp_path / "e.txt.gz"
    _write_gz(empty, ["", "  "])
    with pytest.raises(ValueError, match="holds no lines"):
        ll.read_lines(empty)
    with pytest.raises(ValueError, match="not a session of event keys"):
        ll.parse_sessions(["5 5 22", "081109 INFO dfs.DataNode: Receiving block"])
    with pytest.raises(ValueError, match="not a labelled BGL line"):
        ll.split_bgl(["- 1117838570 2005.06.03 R02 RAS KERNEL INFO ok", "KERNDTLB"])
    with pytest.raises(ValueError, match="too few normal sessions"):
        ll.split_hdfs(["5 5"], ["1"])
