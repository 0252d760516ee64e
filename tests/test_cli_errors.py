"""User errors are one line (``Error: ...``), never a traceback, and they come before any model loads."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from secllm.cli import main


def _error_line(args: list[str], **kw) -> str:
    r = CliRunner().invoke(main, args, **kw)
    # a click error exits through SystemExit; anything else is an uncaught exception (a traceback for a user)
    assert isinstance(r.exception, SystemExit), f"{args}: {r.exception!r}\n{r.output}"
    assert r.exit_code in (1, 2), r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, r.output
    assert "Traceback" not in r.output
    return errors[0]


@pytest.mark.parametrize("args, says", [
    (["detect", "--file", "MISSING-items.txt"], "does not exist"),
    (["detect", "--task", "bogus", "x"], "unknown task 'bogus'"),
    (["scan", "MISSING-access.log"], "no such file"),
    (["finetune", "bogus", "--base", ".", "--out", "out"], "unknown task 'bogus'"),
    (["models", "info", "MISSING-model"], "not a secllm model directory"),
    (["kb", "show", "T99999"], "not a catalogue id"),
    (["scan", "--format", "bogus", "x.log"], "'bogus' is not one of"),
])
def test_user_errors_are_one_line(tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.log").write_text("GET / HTTP/1.1\n")
    assert says in _error_line(args)


def test_detect_file_that_is_a_directory(tmp_path):
    assert "is a directory" in _error_line(["detect", "--file", str(tmp_path)])


def test_detect_with_a_model_dir_that_is_not_one(tmp_path):
    line = _error_line(["detect", "--model", str(tmp_path), "x"])
    assert "not a secllm model directory" in line


@pytest.mark.parametrize("sources", [["bogus"], ["bogus", "http_params"]])
def test_corpus_build_names_an_unknown_source(tmp_path, sources):
    # an unknown name is an error even next to a valid one (it used to be ignored silently)
    args = ["corpus", "build", "--datasets", str(tmp_path), "--out", str(tmp_path / "c")]
    for s in sources:
        args += ["--source", s]
    line = _error_line(args)
    assert "unknown source 'bogus'" in line and "http_params" in line     # the known names are listed
    assert not (tmp_path / "c").exists()


def test_load_sources_rejects_unknown_names(tmp_path):
    from secllm.data.sources import load_sources

    with pytest.raises(ValueError, match="unknown source 'nope'"):
        list(load_sources(tmp_path, ["http_params", "nope"]))
