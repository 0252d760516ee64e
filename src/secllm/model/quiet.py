"""Quiet third-party libraries while SecLLM loads a model.

transformers prints a ``Loading weights`` progress bar for every ``from_pretrained`` and logs
warnings meant for people writing training code; peft reads a deprecated transformers property
(``is_gradient_checkpointing``) when it wraps a model. For someone judging one item with
``secllm detect "x"`` all of that is noise on stderr, so the loaders call :func:`quiet_libraries`
first and wrap peft calls in :func:`no_peft_deprecation`.

A user who wants the library's own logs back sets ``TRANSFORMERS_VERBOSITY`` (``info``,
``warning``...): an explicit choice is left alone.

    >>> from secllm.model.quiet import quiet_libraries
    >>> quiet_libraries()      # idempotent; call before from_pretrained
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator

# the one FutureWarning peft triggers through transformers 5 (peft_model.py reads the old property)
_PEFT_DEPRECATION = r"`is_gradient_checkpointing` is deprecated"


def quiet_libraries() -> None:
    """transformers / huggingface_hub: log errors only, no progress bars (unless the user set a verbosity)."""
    from transformers.utils import logging as hf_logging

    if not os.environ.get("TRANSFORMERS_VERBOSITY"):
        hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()          # also turns off huggingface_hub's bars


@contextlib.contextmanager
def no_peft_deprecation() -> Iterator[None]:
    """Ignore only peft's read of transformers' deprecated ``is_gradient_checkpointing`` (nothing else)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PEFT_DEPRECATION, category=FutureWarning)
        yield
