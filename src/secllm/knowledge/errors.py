"""Errors of the knowledge layer."""

from __future__ import annotations


class CatalogNotInstalled(ImportError):
    """A catalogue package is missing; the message says what to install.

        >>> str(CatalogNotInstalled("cwe2"))
        "the knowledge catalogue package 'cwe2' is not installed: pip install 'secllm[knowledge]'"
    """

    def __init__(self, package: str, detail: str | None = None):
        msg = f"the knowledge catalogue package {package!r} is not installed: pip install 'secllm[knowledge]'"
        super().__init__(detail or msg)
        self.package = package
