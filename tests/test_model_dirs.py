"""Issue 18: task names never become paths outside their folder (item 8), and model directories
load safetensors only (a pickle ``.bin`` is refused with one line, never unpickled)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from secllm.cli import main
from tests.conftest import hdfs_examples


@pytest.mark.parametrize("name", ["../../x", "..", ".", "a/b", "a\\b", "/abs", "", "x" * 65, "-rf", "a\x00b",
                                  "tâche", "a b"])
def test_bad_task_names_are_refused(name):
    from secllm.paths import adapter_dir, check_task_name

    with pytest.raises(ValueError, match="task name"):
        check_task_name(name)
    with pytest.raises(ValueError):
        adapter_dir("/tmp/m", name)


def test_registered_task_names_are_valid():
    from secllm.paths import check_task_name
    from secllm.tasks.registry import list_tasks

    assert [check_task_name(t) for t in list_tasks()] == list_tasks()


def test_adapt_with_traversal_task_writes_nothing_outside_out(tmp_path, tiny_base):
    ex = tmp_path / "ex.jsonl"
    e = hdfs_examples(4, 0)
    ex.write_text("\n".join(json.dumps({"text": t, "label": l}) for t, l in zip(e.texts, e.labels)) + "\n")
    out = tmp_path / "a" / "b" / "out"
    r = CliRunner().invoke(main, ["adapt", "--task", "../../escaped", "--examples", str(ex), "--out", str(out),
                                  "--base", str(tiny_base), "--epochs", "1"])
    assert r.exit_code != 0 and "task name" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "a" / "escaped").exists() and not (tmp_path / "a" / "b" / "escaped").exists()
    assert not out.exists()


def test_library_entry_points_refuse_traversal(tmp_path, tiny_base):
    from secllm.tasks.adapt import adapt_model_dir, export_task_onnx, train_adapter
    from secllm.tasks.heads import head_dir

    ex = hdfs_examples(3, 0)
    with pytest.raises(ValueError, match="task name"):
        train_adapter(tiny_base, "../up", ex, ex, ["normal", "anomaly"], tmp_path / "o", lora=False)
    with pytest.raises(ValueError, match="task name"):
        adapt_model_dir(tiny_base, "../up", ex, tmp_path / "o")
    with pytest.raises(ValueError, match="task name"):
        export_task_onnx(tiny_base, "../../up", tmp_path / "o")
    with pytest.raises(ValueError, match="task name"):
        head_dir(tmp_path, "../x")
    assert not (tmp_path / "up").exists()


def test_models_export_and_finetune_refuse_traversal(tmp_path, tiny_base):
    r = CliRunner().invoke(main, ["models", "export", str(tiny_base), "--task", "../../x", "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and "task name" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["finetune", "../x", "--base", str(tiny_base), "--out", str(tmp_path / "o"),
                                  "--adapter", "head"])
    assert r.exit_code != 0 and "task name" in r.output


def test_adapter_tasks_ignores_odd_folder_names(tmp_path):
    from secllm.paths import adapter_tasks

    for name in ("url", "..hidden", "bad name"):
        (tmp_path / "adapters" / name).mkdir(parents=True)
        (tmp_path / "adapters" / name / "task.json").write_text("{}")
    assert adapter_tasks(tmp_path) == ["url"]


# ------------------------------------------------------------------------------------------------
# safetensors only
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def bin_only_model(tmp_path, tiny_web_model):
    """The tiny detector with its weights replaced by a pickle-named file (garbage: never opened)."""
    d = tmp_path / "binonly"
    shutil.copytree(tiny_web_model, d)
    for p in d.rglob("*.safetensors"):
        p.unlink()
    for p in d.rglob("*.onnx"):
        p.unlink()
    (d / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    return d


def test_loading_a_bin_only_model_is_a_clear_error(bin_only_model):
    from secllm.model.modeling import ModelFormatError, load_classifier

    with pytest.raises(ModelFormatError, match="safetensors"):
        load_classifier(bin_only_model)


def test_cli_detect_refuses_a_bin_only_model_in_one_line(bin_only_model):
    r = CliRunner().invoke(main, ["detect", "x", "--model", str(bin_only_model), "--backend", "torch"])
    assert r.exit_code != 0
    assert "safetensors" in r.output and "pytorch_model.bin" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), "a ClickException, not a traceback"


def test_adapters_with_pickles_are_refused(tmp_path, tiny_base):
    from secllm.model.modeling import ModelFormatError
    from secllm.tasks.adapt import train_adapter
    from secllm.tasks.finetune import FinetuneConfig
    from secllm.tasks.multitask import MultiTaskModel

    out = tmp_path / "mt"
    cfg = FinetuneConfig(epochs=1, lr=5e-3, batch_tokens=1024)
    for task, lora in (("log-hdfs", True), ("hdfs-head", False)):
        train_adapter(tiny_base, task, hdfs_examples(6, 0), hdfs_examples(3, 1), ["normal", "anomaly"], out,
                      lora=lora, benign_label="normal", cfg=cfg)
    d = out / "adapters" / "log-hdfs"
    (d / "adapter_model.safetensors").rename(d / "adapter_model.bin")   # peft would torch.load this
    with pytest.raises(ModelFormatError, match="adapter_model.bin"):
        MultiTaskModel(out).use("log-hdfs")
    h = out / "adapters" / "hdfs-head"
    (h / "head.safetensors").rename(h / "head.pt")
    with pytest.raises(ModelFormatError, match="head.pt"):
        MultiTaskModel(out).use("hdfs-head")
    with pytest.raises(ValueError, match="task name"):
        MultiTaskModel(out).use("../adapters/hdfs-head")     # serving never reads outside adapters/
