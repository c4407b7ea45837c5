"""Sources a test makes are closed when the test ends: the suite runs with warnings as errors, and
a source left open leaks its connections (a ResourceWarning when they are collected)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

import pytest


class Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=Closable)

_open: list[Closable] = []


def closed_after_test(thing: T) -> T:
    """``thing``, closed when the test ends (by the autouse fixture below; pyproject.toml loads
    this module as a pytest plugin)."""
    _open.append(thing)
    return thing


def close_all() -> None:
    while _open:
        _open.pop().close()


@pytest.fixture(autouse=True)
def _close_what_the_test_opened() -> Iterator[None]:
    yield
    close_all()
