"""Reading hostile input within stated bounds: compressed files, lines and JSON lines.

Every reader of user files and streams goes through these helpers so that no input can make it
hold more than a known amount of memory or raise on one bad item:

* :func:`open_input` opens a file, gunzipping it when it starts with ``1f 8b``, as a stream that
  stops with :class:`InputLimitError` once it has produced more than ``max_bytes`` or (compressed
  input) more than ``max_ratio`` times the compressed bytes read: a 1 MB gzip bomb costs
  ``RATIO_GRACE_BYTES``, never its 1 GB.
* :func:`iter_lines` yields the lines of a binary stream, each at most ``max_line`` bytes; an
  over-long line is skipped in bounded pieces (never held whole) and reported as a
  :class:`LineError` with code ``too_large``; a broken stream ends with one ``LineError``.
* :func:`parse_json_line` turns any failure to parse one line (syntax, nesting deeper than the
  parser's recursion limit, a 5,000-digit integer) into a ``bad_json`` message, never an
  exception; :func:`json_line` writes a JSON line that never raises on odd strings (a lone
  surrogate becomes U+FFFD).

    >>> import io
    >>> [x if isinstance(x, bytes) else x.code for x in iter_lines(io.BytesIO(b"ab\\n" + b"x" * 50 + b"\\ncd"), 16)]
    [b'ab\\n', 'too_large', b'cd']
    >>> parse_json_line("[" * 100_000)[1][:12]
    'invalid JSON'
    >>> json_line({"id": "\\ud800"}) == '{"id": "\\ufffd"}'
    True
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from secllm.data.corpus import scrub_surrogates

__all__ = ["InputLimitError", "LineError", "MAX_FILE_BYTES", "MAX_ID_CHARS", "MAX_LINE_BYTES", "MAX_RATIO",
           "RATIO_GRACE_BYTES", "STREAM_ERRORS", "clean_id", "iter_lines", "json_line", "open_input",
           "parse_json_line", "read_input"]

MAX_LINE_BYTES = 1 << 20          # one line (item) of a line format
MAX_FILE_BYTES = 256 << 20        # readers that hold one whole (decompressed) file in memory
MAX_RATIO = 200                   # decompressed / compressed bytes; real logs and captures stay under ~50
RATIO_GRACE_BYTES = 16 << 20      # the ratio is only enforced past this much output (tiny files compress well)
MAX_ID_CHARS = 512                # a user-given item id is cut to this (it is echoed in every result)

# What a (possibly gzip-compressed) stream raises when it is cut short or corrupt.
STREAM_ERRORS = (OSError, EOFError, zlib.error)


class InputLimitError(ValueError):
    """An input went past a stated bound; ``code`` is ``too_large`` or ``compression_ratio``."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class LineError:
    """A line (or the rest of a stream) that could not be read: ``code`` is ``too_large``,
    ``compression_ratio`` or ``stream_broken``; ``message`` says what happened."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class _Bounded(io.RawIOBase):
    """A read-only stream over ``inner`` that counts what it produced (and, through ``raw``, what
    compressed bytes were consumed) and raises :class:`InputLimitError` past the bounds."""

    def __init__(self, inner: IO[bytes], raw: IO[bytes] | None, max_bytes: int | None, max_ratio: float | None,
                 name: str):
        self._inner, self._raw = inner, raw
        self.max_bytes, self.max_ratio = max_bytes, max_ratio
        self.produced = 0
        self.name = name

    def readable(self) -> bool:
        return True

    def _account(self, n: int) -> None:
        self.produced += n
        if self.max_bytes is not None and self.produced > self.max_bytes:
            raise InputLimitError("too_large", f"{self.name}: more than {self.max_bytes} bytes"
                                  + (" after decompression" if self._raw is not None else ""))
        if self._raw is not None and self.max_ratio is not None and self.produced > RATIO_GRACE_BYTES:
            consumed = max(self._raw.tell(), 1)
            if self.produced > self.max_ratio * consumed:
                raise InputLimitError("compression_ratio", f"{self.name}: decompresses more than {self.max_ratio:g}x "
                                      f"({self.produced} bytes from {consumed}); a compression bomb?")

    def readinto(self, b: Any) -> int:
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        self._account(n)
        return n

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:      # "everything" is still bounded: read in pieces, checking as we go
            chunks = []
            while chunk := self.read(1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        data = self._inner.read(n)
        self._account(len(data))
        return data

    def readline(self, limit: int | None = -1) -> bytes:
        if limit is None or limit < 0:
            limit = MAX_LINE_BYTES + 1          # never an unbounded line
        data = self._inner.readline(limit)
        self._account(len(data))
        return data

    def peek(self, n: int = 1) -> bytes:
        return self._inner.peek(n) if hasattr(self._inner, "peek") else b""

    def close(self) -> None:
        try:
            self._inner.close()
            if self._raw is not None:
                self._raw.close()
        finally:
            super().close()


def open_input(path: str | os.PathLike[str], *, max_bytes: int | None = None,
               max_ratio: float | None = MAX_RATIO) -> IO[bytes]:
    """Open ``path`` for binary reading (gunzipped when it starts with ``1f 8b``), bounded.

    Reads past ``max_bytes`` (None: no total cap, for streaming readers) or past ``max_ratio``
    decompressed bytes per compressed byte raise :class:`InputLimitError`. ``readline()`` without
    a limit reads at most ``MAX_LINE_BYTES + 1`` bytes.
    """
    raw = open(path, "rb")  # noqa: SIM115 - owned by the returned stream
    name = os.path.basename(os.fspath(path))
    try:
        if raw.peek(2)[:2] == b"\x1f\x8b":
            return _Bounded(gzip.GzipFile(fileobj=raw, mode="rb"), raw, max_bytes, max_ratio, name)  # type: ignore[return-value]
    except BaseException:
        raw.close()
        raise
    return _Bounded(raw, None, max_bytes, None, name)  # type: ignore[return-value]


def read_input(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES, max_ratio: float | None = MAX_RATIO
               ) -> tuple[bytes, str | None]:
    """All (decompressed) bytes of ``path``, plus an error message if the stream broke midway.

    Raises :class:`InputLimitError` past ``max_bytes`` or ``max_ratio`` (nothing useful can be
    judged from a part of a file this reader must hold whole) and ``OSError`` if it cannot be opened.
    """
    chunks: list[bytes] = []
    with open_input(path, max_bytes=max_bytes, max_ratio=max_ratio) as f:
        try:
            while chunk := f.read(1 << 20):
                chunks.append(chunk)
        except STREAM_ERRORS as e:
            return b"".join(chunks), f"stream broken after {sum(map(len, chunks))} bytes: {e}"
    return b"".join(chunks), None


def iter_lines(f: IO[bytes], max_line: int = MAX_LINE_BYTES) -> Iterator[bytes | LineError]:
    """Lines of a binary stream (newline kept), each at most ``max_line`` bytes.

    A longer line yields ``LineError("too_large", ...)`` and is skipped in ``max_line`` pieces
    (memory stays O(max_line)); a stream that breaks (truncated gzip, I/O error) or goes past an
    :func:`open_input` bound ends with one ``LineError``.
    """
    try:
        while True:
            raw = f.readline(max_line + 1)
            if not raw:
                return
            if len(raw) > max_line:
                size = len(raw)
                if not raw.endswith(b"\n"):
                    while (rest := f.readline(max_line)) and not rest.endswith(b"\n"):
                        size += len(rest)
                    size += len(rest)
                yield LineError("too_large", f"line of {size} bytes, longer than {max_line}")
                continue
            yield raw
    except InputLimitError as e:
        yield LineError(e.code, str(e).split(": ", 1)[-1])
    except STREAM_ERRORS as e:
        yield LineError("stream_broken", str(e) or type(e).__name__)


def _int_or_text(s: str) -> int | str:
    # Python refuses to convert integers of more than 4,300 digits (a CPU-exhaustion guard); such a
    # literal stays the string it is instead of failing the whole line.
    return int(s) if len(s) <= 4000 else s


def parse_json_line(line: str | bytes) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, "invalid JSON: ...")`` for any line that does not parse.

    Never raises: syntax errors, nesting past the recursion limit and invalid UTF-8 are all
    reported the same way. Integers too long to convert are kept as their digits (a string).
    """
    try:
        return json.loads(line, parse_int=_int_or_text), None
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} (column {e.colno})"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except (ValueError, TypeError, MemoryError) as e:   # UnicodeDecodeError is a ValueError
        return None, f"invalid JSON: {type(e).__name__}: {str(e)[:80]}"


def clean_id(value: Any, default: str) -> str | None:
    """A user-given id as a writable string: strings and numbers (booleans excluded) are kept,
    scrubbed of lone surrogates and cut to ``MAX_ID_CHARS``; ``None`` gives ``default``; anything
    else (an object, a list) gives None (the caller reports a bad item)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    s = scrub_surrogates(value if isinstance(value, str) else str(value))
    return s if len(s) <= MAX_ID_CHARS else s[:MAX_ID_CHARS] + "…"


def json_line(obj: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False)`` that a UTF-8 stream always accepts: lone surrogates
    (which ``"\\ud800"`` in an input's JSON decodes to) become U+FFFD."""
    s = json.dumps(obj, ensure_ascii=False, default=str)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = scrub_surrogates(s)
    return s
