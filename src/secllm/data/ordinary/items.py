"""The ordinary-data item, its fixed calib/test split, and reading/writing the corpus files.

One item is one line of a ``<source>.jsonl.gz`` file::

    {"id": "debian-homepages:3f2a...", "source": "debian-homepages", "kind": "url",
     "family": "homepage", "origin": "debian:nginx 1.22.1-9", "group": "nginx.org",
     "split": "test", "text": "https://nginx.org"}

``split`` comes from the item's ``group`` alone (:func:`split_for_group`: a salted SHA-256, so it
is the same on every rebuild and every machine) unless a source fixes it itself (log files are
split in time order: earlier half calib, later half test). ``calib`` may be used to fit thresholds
or an input identifier; ``test`` is never fitted on and is where false-alarm rates are reported.

    >>> item = OrdinaryItem.make("demo", "url", "homepage", "debian:nginx", "nginx.org", "https://nginx.org")
    >>> item.split in SPLITS, item.id.startswith("demo:")
    (True, True)
    >>> split_for_group("nginx.org") == item.split
    True
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "KINDS",
    "SPLITS",
    "CALIB_FRACTION",
    "OrdinaryItem",
    "split_for_group",
    "write_items",
    "read_items",
    "iter_ordinary",
]

#: The input identifier's kinds (issue 17 §1) that ordinary items can have.
KINDS = (
    "http-request",
    "url",
    "payload",
    "access-log",
    "log-line",
    "windows-event",
    "script-python",
    "script-javascript",
    "script-shell",
    "script-powershell",
    "script-php",
    "text-en",
    "text-zh",
    "pcap",
)
SPLITS = ("calib", "test")
#: Share of groups that land in ``calib``; the rest is ``test``.
CALIB_FRACTION = 0.5
# Changing the salt reshuffles every split: never change it (the test split must stay unseen).
_SPLIT_SALT = b"secllm-ordinary-split-v1\x00"


def split_for_group(group: str, calib_fraction: float = CALIB_FRACTION) -> str:
    """``"calib"`` or ``"test"`` for a group key, from a salted SHA-256 (stable everywhere).

        >>> split_for_group("python.org"), split_for_group("python.org")
        ('calib', 'calib')
        >>> sorted({split_for_group(f"g{i}") for i in range(20)})
        ['calib', 'test']
    """
    digest = hashlib.sha256(_SPLIT_SALT + group.encode("utf-8", "surrogatepass")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    return "calib" if u < calib_fraction else "test"


def _text_key(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class OrdinaryItem:
    """One ordinary (non-attack) item with where it came from and its split.

    ``family`` refines the kind (log system such as ``openssh``; ``homepage`` / ``doc-link`` for
    URLs; ``paragraph`` / ``sentence`` for prose; ``file`` / ``snippet`` for scripts; the
    parameter name for values). ``origin`` traces the item to its package, file or capture;
    ``group`` is the unit that never straddles calib and test (registered domain, package,
    document, capture file, log period).
    """

    id: str
    source: str
    kind: str
    family: str
    origin: str
    group: str
    text: str
    split: str

    @classmethod
    def make(cls, source: str, kind: str, family: str, origin: str, group: str, text: str,
             split: str | None = None) -> OrdinaryItem:
        """Build an item; its id is ``<source>:<sha256(kind, text)[:20]>`` and its split comes
        from ``group`` unless given."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
        if split is not None and split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return cls(id=f"{source}:{_text_key(kind, text)[:20]}", source=source, kind=kind,
                   family=family, origin=origin, group=group, text=text,
                   split=split or split_for_group(group))

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> OrdinaryItem:
        return cls(**{k: d[k] for k in ("id", "source", "kind", "family", "origin", "group", "text", "split")})


def write_items(path: str | os.PathLike[str], items: Iterable[OrdinaryItem]) -> int:
    """Write items as gzip JSONL, sorted by id, with a zero gzip mtime (byte-identical rebuilds).

    Returns the number of lines written.
    """
    rows = sorted(items, key=lambda it: it.id)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
        with io.TextIOWrapper(gz, encoding="utf-8", errors="surrogatepass", newline="\n") as f:
            for it in rows:
                f.write(json.dumps(it.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(path)  # readers never see a half-written file
    return len(rows)


def read_items(path: str | os.PathLike[str]) -> Iterator[OrdinaryItem]:
    """Items of one ``<source>.jsonl.gz`` (or plain ``.jsonl``) file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="surrogatepass") as f:  # type: ignore[operator]
        for line in f:
            if line.strip():
                yield OrdinaryItem.from_json(json.loads(line))


def _as_set(value: str | Collection[str] | None) -> set[str] | None:
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def iter_ordinary(root: str | os.PathLike[str], source: str | Collection[str] | None = None,
                  kind: str | Collection[str] | None = None,
                  split: str | Collection[str] | None = None) -> Iterator[OrdinaryItem]:
    """Iterate the ordinary corpus under ``root``, optionally filtered by source, kind and split.

    Sources are read in name order, items in id order, so iteration is deterministic.

        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = write_items(d / "demo.jsonl.gz", [OrdinaryItem.make("demo", "text-en", "sentence",
        ...     "doc:x", "doc:x", "The quick brown fox jumps.")])
        >>> [it.text for it in iter_ordinary(d, kind="text-en")]
        ['The quick brown fox jumps.']
        >>> list(iter_ordinary(d, kind="url"))
        []
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no ordinary corpus at {root}: build it with "
                                f"`python -m secllm.data.ordinary build --out {root}`")
    sources, kinds, splits = _as_set(source), _as_set(kind), _as_set(split)
    for path in sorted(root.glob("*.jsonl.gz")):
        name = path.name[: -len(".jsonl.gz")]
        if sources is not None and name not in sources:
            continue
        for it in read_items(path):
            if (kinds is None or it.kind in kinds) and (splits is None or it.split in splits):
                yield it
