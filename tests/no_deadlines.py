"""Hypothesis without its per-example deadline, for the whole suite (pyproject.toml loads this
module as a pytest plugin). A deadline is a wall-clock assertion: on a loaded CI machine, or under
coverage (which makes the suite about twice as slow), a 200 ms deadline fails examples that are
correct. How fast the core is, is measured by the benchmarks (bench/, docs/benchmarks.md)."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("clearance", deadline=None)
settings.load_profile("clearance")
