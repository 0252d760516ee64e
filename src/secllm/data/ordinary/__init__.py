"""Ordinary (non-attack) data of issue 17 §3: the corpus every detector's false-alarm rate is
measured on, rebuilt from real sources that install here (never committed).

Read it with :func:`iter_ordinary`::

    >>> from secllm.data.ordinary import iter_ordinary
    >>> for item in iter_ordinary("/work/data/ordinary", kind="url", split="test"):  # doctest: +SKIP
    ...     print(item.text, item.origin)

Build it with ``python -m secllm.data.ordinary build --out DIR`` (see ``docs/ordinary-data.md``
and ``scripts/install_corpus_deps.sh`` for the packages it reads). No detector trains on it:
``calib`` items may fit thresholds or the input identifier, ``test`` items are only reported on.
"""

from secllm.data.ordinary.items import (
    CALIB_FRACTION,
    KINDS,
    SPLITS,
    OrdinaryItem,
    iter_ordinary,
    read_items,
    split_for_group,
    write_items,
)

__all__ = [
    "CALIB_FRACTION",
    "KINDS",
    "SPLITS",
    "OrdinaryItem",
    "iter_ordinary",
    "load_manifest",
    "read_items",
    "split_for_group",
    "write_items",
]


def load_manifest(root):  # noqa: ANN001, ANN201 - tiny helper
    """The corpus's ``manifest.json`` as a dict (counts, versions, build times)."""
    import json
    from pathlib import Path

    return json.loads((Path(root) / "manifest.json").read_text("utf-8"))
