"""Helpers shared by several command modules (nothing here imports the heavy stack)."""

from __future__ import annotations

import sys
from typing import BinaryIO

import click


def csv_list(text: str, cast=str) -> tuple:
    """'1, 2,3' -> ('1', '2', '3') (or cast each)."""
    return tuple(cast(x.strip()) for x in text.split(",") if x.strip())


def open_input(file_: str | None) -> BinaryIO:
    """The byte stream of ``--file PATH`` ('-' or a piped stdin: standard input); a one-line error
    when it cannot be read or nothing was given (the command's TEXTS come first, checked by it)."""
    if file_ and file_ != "-":
        try:
            return open(file_, "rb")
        except OSError as exc:
            raise click.ClickException(f"cannot read {file_}: {exc.strerror or exc}") from exc
    if file_ == "-" or not sys.stdin.isatty():
        return sys.stdin.buffer
    raise click.UsageError("give TEXTS, --file PATH, or pipe items on stdin")
