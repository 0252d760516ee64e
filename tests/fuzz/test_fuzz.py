"""Fuzzing every reader and parser of hostile input (issue 18): no uncaught exception, every case
within the time and memory budgets of :mod:`tests.fuzz.budget`.

    SECLLM_FUZZ_PROFILE=ci   pytest tests/fuzz          # CI: ~55 s of CPU, deterministic
    python benchmarks/fuzz.py --seconds 60                # long run, reports cases/s (docs/fuzzing.md)
"""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings

from tests.fuzz.budget import profile_name, run_case
from tests.fuzz.targets import TARGETS


def run_target(name: str, **overrides) -> None:
    """Run one target under the selected profile (``overrides``: settings such as max_examples)."""
    t = TARGETS[name]

    @settings(settings.get_profile(profile_name()), **overrides)
    @given(t.strategy)
    def fuzz(case):
        run_case(name, t.check, case, t.size(case))

    tracemalloc.start()               # on for the whole run: each case only resets the peak
    try:
        fuzz()
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name):
    run_target(name)
