"""The background work of ``serve`` and ``sync --watch``: the pull loop stores what sources
hold, and the NATS consumer stores what falcosidekick published, recording the source fresh
when idle and its error (without credentials) when the server cannot be reached."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clearance.config import load_config
from clearance.store.interface import NotFoundError
from clearance.store.sql import SqlStore
from clearance.sync.background import Background
from clearance.sync.leases import lease_for
from server_harness import write_fleet

NATS_ENV = "CLEARANCE_TEST_NATS_URL"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "falco"
WAIT = 15.0  # upper bound for the background threads to get there; never asserted on


def _now() -> datetime:
    return datetime.now(UTC)


def _eventually(check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            found = check()
        except NotFoundError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail("the background work did not get there in time")
        time.sleep(0.05)


@pytest.fixture
def running(store: SqlStore, store_url: str) -> Iterator[Callable[[Path], Background]]:
    started: list[Background] = []
    lease = lease_for(store_url)

    def start(config_path: Path) -> Background:
        background = Background(load_config(config_path), store, lease, _now)
        background.start()
        started.append(background)
        return background

    yield start
    for background in started:
        background.stop()
        assert not background.running
    lease.close()


def test_the_pull_loop_stores_a_sources_signals(
    running: Callable[[Path], Background], store: SqlStore, tmp_path: Path
) -> None:
    config = write_fleet(tmp_path)
    seen = _now().isoformat().replace("+00:00", "Z")
    signal = {
        "uid": "edr:1", "source": "edr", "kind": "detection", "title": "t", "severity": 5,
        "confidence": 1.0, "status": "open", "first_seen": seen, "last_seen": seen,
        "assets": ["host:node-c"],
    }  # fmt: skip
    (tmp_path / "edr.jsonl").write_text(json.dumps(signal) + "\n")
    running(config)
    assert _eventually(lambda: store.get_signal("edr:1")).severity == 5
    # The success is recorded after the batch is stored: wait for it too, not just the signal.
    state = _eventually(
        lambda: next((s for s in store.source_states() if s.name == "edr" and s.last_success), None)
    )
    assert state.last_success is not None


def _nats_url() -> str:
    url = os.environ.get(NATS_ENV)
    if not url:
        pytest.skip(f"NATS tests need {NATS_ENV} (e.g. nats://127.0.0.1:4222, JetStream enabled)")
    return url


async def _publish(url: str, subject: str, bodies: list[bytes]) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        for body in bodies:
            await nc.publish(subject, body)
        await nc.flush()
    finally:
        await nc.close()


async def _delete_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def test_falco_events_published_on_nats_are_stored_and_the_source_kept_fresh(
    running: Callable[[Path], Background], store: SqlStore, tmp_path: Path
) -> None:
    url = _nats_url()
    run = secrets.token_hex(4)
    prefix = f"clearance-bg-{run}.falco"
    stream = f"CLEARANCE_BG_{run}"
    nats_settings = {
        "url": url, "stream": stream, "durable": f"clearance-bg-{run}",
        "create_stream": True, "fetch_timeout": 0.3, "nak_delay": 0.0, "source": "falco-nats",
        "subjects": [{"subject": f"{prefix}.>", "cluster": "prod-eu"}],
    }  # fmt: skip
    config = write_fleet(tmp_path, {"sources": [], "ingest": {"falco_nats": nats_settings}})
    try:
        running(config)
        # Idle and connected (the stream exists now): the source is fresh with nothing to store.
        _eventually(lambda: [s for s in store.source_states() if s.name == "falco-nats"])
        events = (FIXTURES / "events.syscall-k8s.falco-website.jsonl").read_bytes().splitlines()
        asyncio.run(_publish(url, f"{prefix}.critical.terminal_shell_in_container", events[:1]))
        (signal,) = _eventually(lambda: store.signals_touching(["pod:default/kubecon"]))
        assert signal.source == "falco-nats"
        assert "cluster:prod-eu" in {str(a) for a in signal.assets}
        (state,) = [s for s in store.source_states() if s.name == "falco-nats"]
        assert state.last_error is None
    finally:
        asyncio.run(_delete_stream(url, stream))


def test_an_unreachable_nats_server_is_the_sources_error_without_its_credentials(
    running: Callable[[Path], Background], store: SqlStore, tmp_path: Path
) -> None:
    nats_settings = {"url": "nats://clearance:hunter2@127.0.0.1:1", "connect_timeout": 0.5}
    config = write_fleet(tmp_path, {"sources": [], "ingest": {"falco_nats": nats_settings}})
    running(config)

    def failed() -> list[Any]:
        return [s for s in store.source_states() if s.name == "falco" and s.last_error]

    (state,) = _eventually(failed)
    assert "127.0.0.1:1" in state.last_error
    assert "hunter2" not in state.last_error
    assert state.last_success is None
