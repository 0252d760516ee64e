"""Per-case budgets of the fuzz targets, and the statistics the benchmark reports.

Every case runs under :func:`run_case` (the first case of a target is a warm-up: imports and
compiled patterns are not charged to it). A case must return (typed errors are the target's
business; any other exception fails the case), use at most ``TIME_BUDGET_S`` of CPU time, and
allocate at most ``MEM_BUDGET_BYTES`` + ``MEM_PER_INPUT_BYTE`` x its input size at its peak
(measured with ``tracemalloc``, which follows every Python allocation, numpy's included).

CPU time, not wall time: the budget is about what the input costs, and CI machines are shared (a
loaded machine stretches wall time several-fold). A case over the time budget is run once more
and fails only if it is over again (a garbage-collection pause is not a finding).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings

TIME_BUDGET_S = 1.0                 # CPU time of one case (tracemalloc on: ~2x slower than production)
MEM_BUDGET_BYTES = 32 << 20         # peak Python allocation of one case, plus ...
MEM_PER_INPUT_BYTE = 200            # ... this much per input byte (decoders keep an offset map per char)
MAX_INPUT_BYTES = 64 << 10          # what the strategies generate at most (a WAF's per-item size)


@dataclass
class TargetStats:
    cases: int = 0
    cpu_seconds: float = 0.0        # CPU time inside the target (generation excluded)
    max_case_cpu_s: float = 0.0
    max_case_wall_s: float = 0.0
    max_peak_bytes: int = 0
    max_input_bytes: int = 0
    failures: list[str] = field(default_factory=list)


STATS: dict[str, TargetStats] = {}


# Hypothesis profiles, chosen by SECLLM_FUZZ_PROFILE:
# * ci (default): a fixed, derandomised set of cases per target (the same every run: CI never
#   flakes), about 55 s of CPU for all targets together;
# * long: random cases (new ones every run), 20,000 per target under pytest; benchmarks/fuzz.py
#   drives it for a fixed time per target instead and writes the report.
_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                      HealthCheck.large_base_example])
settings.register_profile("ci", max_examples=50, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=20_000, derandomize=False, **_COMMON)


def profile_name() -> str:
    """``SECLLM_FUZZ_PROFILE``: ``ci`` (default, bounded for CI) or ``long`` (the benchmark)."""
    return os.environ.get("SECLLM_FUZZ_PROFILE", "ci")


def _measure(fn: Callable[[Any], Any], case: Any) -> tuple[Any, float, float, int]:
    """``(result, cpu s, wall s, peak bytes above the start)`` of one call, tracemalloc running."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    c0, w0 = time.thread_time(), time.perf_counter()
    out = fn(case)
    cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
    return out, cpu, wall, tracemalloc.get_traced_memory()[1] - base


def run_case(name: str, fn: Callable[[Any], Any], case: Any, size: int) -> Any:
    """Run ``fn(case)`` within the budgets; record the statistics of target ``name``."""
    st = STATS.setdefault(name, TargetStats())
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    try:
        try:
            out, cpu, wall, peak = _measure(fn, case)
            if cpu >= TIME_BUDGET_S and st.cases:
                out, cpu2, wall, peak = _measure(fn, case)
                cpu = min(cpu, cpu2)
        except Exception as exc:   # noqa: BLE001 - recorded, then re-raised for hypothesis to shrink
            st.failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            raise
    finally:
        if not started:
            tracemalloc.stop()
    st.cases += 1
    if st.cases == 1:
        return out
    st.cpu_seconds += cpu
    st.max_case_cpu_s = max(st.max_case_cpu_s, cpu)
    st.max_case_wall_s = max(st.max_case_wall_s, wall)
    st.max_peak_bytes = max(st.max_peak_bytes, peak)
    st.max_input_bytes = max(st.max_input_bytes, size)
    assert cpu < TIME_BUDGET_S, f"{name}: case took {cpu:.3f} s of CPU (budget {TIME_BUDGET_S} s, input {size} bytes)"
    limit = MEM_BUDGET_BYTES + MEM_PER_INPUT_BYTE * size
    assert peak <= limit, f"{name}: case allocated {peak} bytes at its peak (budget {limit}, input {size} bytes)"
    return out
