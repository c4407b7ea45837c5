"""Fixtures: a real Clearance service on loopback, on SQLite and PostgreSQL.

``live(**settings)`` starts one over the ``store_url`` fixture (tests/integration/conftest.py);
see tests/server_harness.py for the fleet, the cast of token holders and the movable clock.
``receiver`` is a loopback HTTP endpoint that records webhooks or serves a JWKS document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server_harness import Live, Receiver, start_live, start_receiver


@pytest.fixture
def live(store_url: str, tmp_path: Path) -> Iterator[Callable[..., Live]]:
    stops: list[Callable[[], None]] = []

    def start(**settings: Any) -> Live:
        server, stop = start_live(store_url, tmp_path, **settings)
        stops.append(stop)
        return server

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state, stop = start_receiver()
    yield state
    stop()
