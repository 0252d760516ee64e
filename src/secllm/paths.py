"""Where SecLLM finds things: one home directory, the shipped default model, the datasets.

Every path is an argument first; these are only the defaults, each overridable by an env var.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = PACKAGE_DIR / "assets" / "default"
# The shared pretrained base with one adapter per task other than web-attack (``adapters/<task>``).
DEFAULT_TASKS_DIR = PACKAGE_DIR / "assets" / "tasks"


def adapter_tasks(model_dir: str | os.PathLike) -> list[str]:
    """The task adapters a multi-task directory holds (``adapters/<task>/task.json``), sorted."""
    d = Path(model_dir) / "adapters"
    return sorted(p.name for p in d.iterdir() if (p / "task.json").is_file()) if d.is_dir() else []


def onnx_task_dirs(tasks_dir: str | os.PathLike) -> dict[str, Path]:
    """Torch-free task models in ``tasks_dir/<task>/`` (``secllm models export --task all --out
    tasks_dir``): each subfolder with an ONNX export whose ``secllm.json`` names that task."""
    import json

    d, out = Path(tasks_dir), {}
    if not d.is_dir():
        return out
    for p in sorted(d.iterdir()):
        if (p / "onnx.json").is_file() and (p / "secllm.json").is_file():
            try:
                task = json.loads((p / "secllm.json").read_text()).get("task")
            except (OSError, ValueError):
                continue
            if task == p.name:
                out[task] = p
    return out


def default_model_dir(task: str = "web-attack") -> Path:
    """The shipped model that serves ``task``: the web-attack detector, or the tasks' shared base."""
    return DEFAULT_MODEL_DIR if task == "web-attack" else DEFAULT_TASKS_DIR


def home() -> Path:
    """The SecLLM home directory (models, profiles, runs). ``SECLLM_HOME`` overrides ``~/.secllm``."""
    return Path(os.environ.get("SECLLM_HOME", Path.home() / ".secllm")).expanduser()


def datasets_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Locate the shared public datasets folder.

    Order: the explicit argument, ``SECLLM_DATASETS``, then a ``shared/datasets`` folder beside or
    above the current directory or this package (the layout of a development checkout).
    Raises ``FileNotFoundError`` telling the user what to set when none is found.
    """
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_dir():
            raise FileNotFoundError(f"datasets folder {p} does not exist")
        return p
    env = os.environ.get("SECLLM_DATASETS")
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise FileNotFoundError(f"SECLLM_DATASETS={env} does not exist")
        return p
    for base in [Path.cwd(), PACKAGE_DIR]:
        for parent in [base, *base.parents]:
            cand = parent / "shared" / "datasets"
            if cand.is_dir():
                return cand
            cand = parent.parent / "shared" / "datasets"
            if cand.is_dir():
                return cand
    raise FileNotFoundError(
        "no datasets folder found: pass --datasets PATH or set SECLLM_DATASETS to the folder "
        "holding http_params/, web_attack_urls_1book/, ..."
    )
