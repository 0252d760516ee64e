"""Judge web input in several worker processes: one detector per process, as nginx runs one worker per core.

Part splitting, canonicalisation and the lexical stage are Python/numpy work that one process
runs on one core; the Transformers already use ``threads`` cores inside ONNX Runtime. A pool of
``workers`` processes (each loading the model once, ``threads=1`` by default) spreads a batch over
the cores; results come back in input order with the same :class:`Detection` contract.

    >>> with DetectorPool(None, workers=2) as pool:                         # doctest: +SKIP
    ...     [r.label for r in pool.detect(["1' or '1'='1", "q=shoes"])]
    ['malicious', 'benign']

``secllm scan --workers N`` uses it; ``benchmarks/runtime.py --workers 1,2`` measures it.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any


def _worker(conn, model_dir: str, backend: str, threads: int, cascade: bool, cache_size: int | None,
            signatures: bool = True) -> None:
    from secllm.detect.detector import WebAttackDetector

    try:
        det = WebAttackDetector.load(model_dir, threads=threads, backend=backend)
        det.cascade = cascade
        det.signatures = signatures
        if cache_size is not None:
            det.set_cache_size(cache_size)
        conn.send(("ready", None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "stop":
            return
        try:
            if msg[0] == "clear":
                det.clear_cache()
                conn.send(("ok", None))
            else:
                _, items, ids, kw = msg
                conn.send(("ok", det.detect(items, ids=ids, **kw)))
        except Exception as exc:  # noqa: BLE001
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class DetectorPool:
    """``detect`` over ``workers`` processes, each with its own :class:`WebAttackDetector`."""

    def __init__(self, model_dir: str | Path | None = None, workers: int = 2, *, backend: str = "auto",
                 threads: int = 1, cascade: bool = True, cache_size: int | None = None, signatures: bool = True):
        from secllm.paths import DEFAULT_MODEL_DIR
        from secllm.runtime import resolve_backend

        if workers < 1:
            raise ValueError("workers must be >= 1")
        d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
        if backend == "auto":
            backend = resolve_backend(d, "auto")
        self.workers, self.backend = workers, backend
        ctx = mp.get_context("spawn")     # no inherited ONNX Runtime / torch thread pools
        self._conns, self._procs = [], []
        for _ in range(workers):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(child, str(d), backend, threads, cascade, cache_size, signatures),
                            daemon=True)
            p.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(p)
        for c in self._conns:
            self._reply(c)

    @staticmethod
    def _reply(conn):
        try:
            status, value = conn.recv()
        except EOFError:
            raise RuntimeError("a detector worker process died") from None
        if status == "error":
            raise RuntimeError(f"detector worker: {value}")
        return value

    def detect(self, items: list[Any], ids: list[str] | None = None, evidence: bool = True,
               max_evidence: int = 5, kind: str | list[str] = "auto", cascade: bool | None = None) -> list:
        """The detector's ``detect``: the batch is cut into one contiguous chunk per worker."""
        ids = ids or [str(i) for i in range(len(items))]
        n = len(items)
        if n == 0:
            return []
        size = -(-n // self.workers)
        used = []
        for w, s in enumerate(range(0, n, size)):
            k = kind if isinstance(kind, str) else list(kind)[s:s + size]
            self._conns[w].send(("detect", items[s:s + size], ids[s:s + size],
                                 {"evidence": evidence, "max_evidence": max_evidence, "kind": k, "cascade": cascade}))
            used.append(self._conns[w])
        out: list = []
        for c in used:
            out.extend(self._reply(c))
        return out

    def clear_cache(self) -> None:
        """Empty every worker's score and canonical-form caches (cold measurements)."""
        for c in self._conns:
            c.send(("clear",))
        for c in self._conns:
            self._reply(c)

    def close(self) -> None:
        for c in self._conns:
            try:
                c.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        self._conns, self._procs = [], []

    def __enter__(self) -> "DetectorPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
