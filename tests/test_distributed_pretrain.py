"""Pretraining across processes: `torchrun` with 2 CPU processes (Accelerate's DDP over gloo) learns
what 1 process learns at the same global batch (1 process, 2 batches accumulated per step).

(`accelerate launch --cpu --num_processes 2` starts ONE process on a machine without a GPU: its
simple launcher ignores the count, so torchrun is the launcher that proves two.)"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("accelerate")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _curve(run) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_two_processes_give_the_loss_curve_of_one_at_the_same_global_batch(tmp_path, tiny_tokenizer):
    from secllm.model.config import preset

    corpus = tmp_path / "corpus" / "train"
    corpus.mkdir(parents=True)
    texts = ["' or 1=1--", "john smith", "<script>x</script>", "ls -la /tmp", "page=2&q=blue shoes",
             "../../etc/passwd", "GET /index.html", "1 union select null--"]
    rows = [{"m": "payload", "t": f"{t} {k}"} for k in range(12) for t in texts]
    (corpus / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tiny_tokenizer.save(tmp_path / "tok")
    # no dropout: its random draws are per process, the one thing that may differ between the runs
    size = tmp_path / "tiny-nodrop.json"
    size.write_text(json.dumps({**dataclasses.asdict(preset("tiny")), "dropout": 0.0}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["-m", "secllm.cli", "pretrain", "--corpus", str(tmp_path / "corpus"), "--size", str(size),
              "--steps", "6", "--batch-tokens", "128", "--warmup", "1", "--lr", "3e-3",
              "--tokenizer", str(tmp_path / "tok"), "--seed", "3", "--log-every", "1"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--master_port", str(_free_port())]
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one"), "--accumulate", "2"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([*launch, "--nproc_per_node", "2", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    c1, c2 = _curve(tmp_path / "one"), _curve(tmp_path / "two")
    assert len(c1) == len(c2) >= 2
    assert c1 == pytest.approx(c2, abs=2e-3), (c1, c2)        # same numbers up to float reduction order
    logged = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert {r.get("global_batches") for r in logged if "loss" in r} == {2}   # two processes really joined
    # and the curve moves: a run that learned nothing would match trivially
    assert c1[-1] < c1[0]
    # a different global batch gives a different curve (the comparison can fail)
    half = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "half")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert half.returncode == 0, half.stderr[-3000:]
    assert _curve(tmp_path / "half") != pytest.approx(c1, abs=2e-3)
