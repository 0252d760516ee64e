"""Quiet defaults: judging one item with a shipped model prints its verdict and nothing on stderr.

No ``Loading weights`` bars from transformers, no FutureWarning from peft, no summary line for a
single item. Run as a real process (CliRunner shares this interpreter's logging and warning state,
which other tests change), on the models shipped inside the package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import secllm
from secllm.paths import default_model_dir

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRANSFORMERS_VERBOSITY", "PYTHONWARNINGS", "TQDM_DISABLE")}
    src = str(Path(secllm.__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "-m", "secllm.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.parametrize("task, item", [
    ("web-attack", "x"),
    # a LoRA task: peft reads transformers' deprecated is_gradient_checkpointing when it loads the adapter
    ("url", "http://example.com/a?b=1"),
])
def test_detect_one_item_prints_nothing_on_stderr(task, item):
    if not (default_model_dir(task) / "secllm.json").exists():
        pytest.skip(f"no shipped model for {task}")
    r = _run("detect", "--task", task, item)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "label" in r.stdout and "status" in r.stdout


def test_quiet_libraries_leaves_an_explicit_verbosity_alone(monkeypatch):
    from transformers.utils import logging as hf_logging

    from secllm.model.quiet import quiet_libraries

    before = hf_logging.get_verbosity()
    try:
        monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
        hf_logging.set_verbosity_info()
        quiet_libraries()
        assert hf_logging.get_verbosity() == hf_logging.INFO
        monkeypatch.delenv("TRANSFORMERS_VERBOSITY")
        quiet_libraries()
        assert hf_logging.get_verbosity() == hf_logging.ERROR
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.set_verbosity(before)
        hf_logging.enable_progress_bar()


def test_no_peft_deprecation_filters_only_that_warning():
    import warnings

    from secllm.model.quiet import no_peft_deprecation

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with no_peft_deprecation():
            warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning)
            warnings.warn("something else", FutureWarning)
    assert [str(w.message) for w in seen] == ["something else"]
