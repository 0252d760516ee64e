"""The fuzz targets' hypothesis profiles (``ci``/``long``, env ``SECLLM_FUZZ_PROFILE``) are registered
in :mod:`tests.fuzz.budget`, which the benchmark imports too."""

from tests.fuzz import budget  # noqa: F401 - registers the profiles
