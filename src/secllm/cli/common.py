"""Helpers shared by several command modules (nothing here imports the heavy stack)."""

from __future__ import annotations


def csv_list(text: str, cast=str) -> tuple:
    """'1, 2,3' -> ('1', '2', '3') (or cast each)."""
    return tuple(cast(x.strip()) for x in text.split(",") if x.strip())
