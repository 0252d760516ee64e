"""The one record type every reader yields and every task consumes.

A :class:`Record` is deliberately flat and JSON-friendly so datasets can be cached as JSON lines
(never pickle: a cache file must be safe to open and readable by other tools).

Example::

    >>> r = Record(id="demo:0", modality="payload", text="' or 1=1 --", label="sqli")
    >>> d = r.to_json()
    >>> d["text"], d["data"]
    ("' or 1=1 --", None)
    >>> Record.from_json(d) == r
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

MODALITIES = ("payload", "url", "http", "log", "pcap", "flow", "script", "cti", "evtx")


@dataclass
class Record:
    """One item of security data.

    Attributes follow ``docs/CONTRACTS.md``: ``id`` is stable, ``modality`` is one of
    :data:`MODALITIES`, ``text`` is the textual content (bytes modalities carry hex pairs such as
    ``"45 00 3c"``), ``data`` optionally keeps the raw bytes, and ``error`` is set (with ``text``
    empty) when a reader could not read the item; readers never raise per item.

    Example::

        >>> Record(id="pcap:3", modality="pcap", text="45 00", data=b"E\\x00").to_json()["data"]
        '4500'
    """

    id: str                      # stable id (source + index or user id)
    modality: str                # one of MODALITIES
    text: str                    # textual content; bytes modalities: hex pairs "45 00 3c ..."
    label: str | None = None
    source: str = ""             # e.g. "http_params", "user"
    group: str | None = None     # grouping key for group splits (domain, session, report, file)
    time: float | None = None    # ordering key for chronological splits
    data: bytes | None = None    # raw bytes for pcap/flow/script when available
    meta: dict = field(default_factory=dict)
    error: str | None = None     # set (and text "") when the item could not be read

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-safe dict (``json.dumps`` always succeeds on it).

        ``data`` becomes a hex string; ``meta`` is converted recursively (bytes -> hex, tuples and
        sets -> lists, non-finite floats and unknown objects -> strings) so that a reader that put
        something exotic in ``meta`` cannot make a whole cache file unwritable.

        Example::

            >>> Record(id="a", modality="log", text="x", meta={"raw": b"\\x01", "t": (1, 2)}).to_json()["meta"]
            {'raw': '01', 't': [1, 2]}
        """
        return {
            "id": self.id,
            "modality": self.modality,
            "text": self.text,
            "label": self.label,
            "source": self.source,
            "group": self.group,
            # A NaN/inf time is not valid JSON; it carries no ordering information anyway.
            "time": self.time if self.time is None or math.isfinite(self.time) else None,
            "data": None if self.data is None else bytes(self.data).hex(),
            "meta": _json_safe(self.meta),
            "error": self.error,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | str) -> Record:
        """Rebuild a record from :meth:`to_json` output (a dict, or its ``json.dumps`` string).

        Unknown keys are ignored so that older code can read caches written by newer code.

        Example::

            >>> Record.from_json('{"id": "u:1", "modality": "url", "text": "/a?b=1", "data": "ff"}').data
            b'\\xff'
        """
        d: Mapping[str, Any] = json.loads(obj) if isinstance(obj, str) else obj
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        data = kwargs.get("data")
        if isinstance(data, str):
            kwargs["data"] = bytes.fromhex(data)
        if kwargs.get("meta") is None:
            kwargs["meta"] = {}
        if kwargs.get("time") is not None:
            kwargs["time"] = float(kwargs["time"])
        return cls(**kwargs)


def _json_safe(value: Any) -> Any:
    """Convert ``value`` into plain JSON types (see :meth:`Record.to_json`)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        # Sorted by repr so the output (and any hash of it) is deterministic.
        return [_json_safe(v) for v in sorted(value, key=repr)]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _json_safe(item())
        except (TypeError, ValueError):
            pass
    return str(value)
