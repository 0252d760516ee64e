"""Where SecLLM finds things: one home directory, the shipped default model, the datasets.

Every path is an argument first; these are only the defaults, each overridable by an env var.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = PACKAGE_DIR / "assets" / "default"
# The shared pretrained base with one adapter per task other than web-attack (``adapters/<task>``).
DEFAULT_TASKS_DIR = PACKAGE_DIR / "assets" / "tasks"


# A task name becomes a directory name (adapters/<task>, lexical/<task>, OUT/<task>): letters,
# digits, '_' and '-' only, so that no name can climb out of its folder ("../../x") or be hidden.
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_task_name(task: str) -> str:
    """``task`` if it is a valid task name, else ``ValueError`` (one line, says what is allowed).

        >>> check_task_name("log-hdfs")
        'log-hdfs'
        >>> check_task_name("../../x")
        Traceback (most recent call last):
        ...
        ValueError: task name '../../x' is not allowed: use letters, digits, '_' and '-' (1-64 characters, starting with a letter or digit)
    """
    if not isinstance(task, str) or not TASK_NAME.fullmatch(task):
        raise ValueError(f"task name {task!r} is not allowed: use letters, digits, '_' and '-' (1-64 characters, "
                         "starting with a letter or digit)")
    return task


def adapter_dir(model_dir: str | os.PathLike, task: str) -> Path:
    """``model_dir/adapters/<task>`` for a valid task name (:func:`check_task_name`)."""
    return Path(model_dir) / "adapters" / check_task_name(task)


def adapter_tasks(model_dir: str | os.PathLike) -> list[str]:
    """The task adapters a multi-task directory holds (``adapters/<task>/task.json``), sorted; a
    folder whose name is not a valid task name is ignored."""
    d = Path(model_dir) / "adapters"
    return sorted(p.name for p in d.iterdir() if TASK_NAME.fullmatch(p.name) and (p / "task.json").is_file()) \
        if d.is_dir() else []


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


def private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) for artifacts that hold learned data: mode 0700 when this call
    creates it or when it is empty / already a SecLLM artifact (``profile.json``); another existing
    folder keeps its mode (its files are still written 0600 by :func:`open_private`).

        >>> import tempfile; d = private_dir(Path(tempfile.mkdtemp()) / "p")
        >>> oct(d.stat().st_mode & 0o777)
        '0o700'
    """
    d = Path(path)
    existed = d.is_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not existed or not any(d.iterdir()) or (d / "profile.json").is_file():
        os.chmod(d, 0o700)
    return d


def open_private(path: str | os.PathLike, mode: str = "wb"):
    """Open ``path`` for writing with mode 0600 from the start (no window in which another user can
    read it); an existing file is truncated and set to 0600. ``mode`` is ``"wb"`` or ``"w"`` (UTF-8)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"}))


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
