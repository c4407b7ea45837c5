"""The Falco NATS consumer against a real NATS server with JetStream.

Set ``CLEARANCE_TEST_NATS_URL`` (e.g. ``nats://127.0.0.1:4222``). Each test makes its own stream
and subjects (random names) and deletes them at the end. Events are published the way
falcosidekick does it: a core NATS publish of the webhook payload on ``falco.<priority>.<rule>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import nats
import pytest

from clearance.errors import SourceError
from clearance.sources.falco.nats import (
    FalcoNatsConsumer,
    NatsFalcoConfig,
    SubjectConfig,
    subject_matches,
)
from clearance.sources.interface import Batch

NATS_ENV = "CLEARANCE_TEST_NATS_URL"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "falco"
WAIT = 10.0  # generous upper bound for a message to arrive; never asserted on


def _url() -> str:
    url = os.environ.get(NATS_ENV)
    if not url:
        pytest.skip(f"NATS tests need {NATS_ENV} (e.g. nats://127.0.0.1:4222, JetStream enabled)")
    return url


def _events() -> list[bytes]:
    lines = (FIXTURES / "events.syscall-k8s.falco-website.jsonl").read_bytes().splitlines()
    return [line for line in lines if line.strip()]


def _subject(prefix: str, event: bytes) -> str:
    """falcosidekick outputs/nats.go: falco.<priority>.<rule slug>."""
    alert = json.loads(event)
    slug = "".join(c if c.isalnum() else "_" for c in alert["rule"].lower())
    slug = "_".join(part for part in slug.split("_") if part)
    return f"{prefix}.{alert['priority'].lower()}.{slug}"


class Recorder:
    """The store callback: records batches; can be told to fail or to hang."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.fail = False
        self.hang = asyncio.Event()
        self.hanging = False

    async def __call__(self, batch: Batch) -> None:
        if self.fail:
            raise RuntimeError("database is down")
        if self.hanging:
            await self.hang.wait()  # never set: the consumer dies here, before acknowledging
        self.batches.append(batch)

    @property
    def signals(self) -> int:
        return sum(s.count for b in self.batches for s in b.signals)


@asynccontextmanager
async def _stream(
    url: str, *, create_stream: bool = False
) -> AsyncIterator[tuple[Any, NatsFalcoConfig]]:
    run = secrets.token_hex(4)
    prefix = f"clearance-test-{run}.falco"
    config = NatsFalcoConfig(
        url=url,
        stream=f"CLEARANCE_TEST_{run}",
        durable=f"clearance-{run}",
        subjects=(SubjectConfig(subject=f"{prefix}.>", cluster="prod-eu"),),
        batch_size=50,
        fetch_timeout=0.5,
        ack_wait=1.0,
        nak_delay=0.0,
        create_stream=create_stream,
    )
    nc = await nats.connect(url)
    # The operator's stream, made before anything is published (core publishes to subjects no
    # stream captures are dropped, as falcosidekick's would be).
    if not create_stream:
        await nc.jetstream().add_stream(name=config.stream, subjects=[f"{prefix}.>"])
    try:
        yield nc, config
    finally:
        js = nc.jetstream()
        with suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(config.stream)
        await nc.close()


async def _publish(nc: Any, config: NatsFalcoConfig, bodies: list[bytes]) -> None:
    prefix = config.subjects[0].subject.removesuffix(".>")
    for body in bodies:
        await nc.publish(_subject(prefix, body) if body.startswith(b"{") else prefix + ".x", body)
    await nc.flush()


async def _drain(consumer: FalcoNatsConsumer, until: Callable[[], bool]) -> None:
    async def loop() -> None:
        while not until():
            await consumer.poll_once()

    await asyncio.wait_for(loop(), WAIT)


def _run(test: Callable[[str], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test(_url()))


async def _settled(nc: Any, config: Any) -> Any:
    """The durable consumer's state once the acknowledgements sent have reached the server (an
    ack is a publish: under load the server may not have it when the consumer returns). Gives
    up after 10 s, leaving the assertion to fail on what is still pending."""
    info = await nc.jetstream().consumer_info(config.stream, config.durable)
    for _ in range(100):
        if (info.num_ack_pending, info.num_pending) == (0, 0):
            break
        await asyncio.sleep(0.1)
        info = await nc.jetstream().consumer_info(config.stream, config.durable)
    return info


def test_published_falco_events_are_stored_folded_and_acknowledged() -> None:
    async def test(url: str) -> None:
        async with _stream(url) as (nc, config):
            store = Recorder()
            async with FalcoNatsConsumer(config, store) as consumer:
                await _publish(nc, config, _events())
                await _drain(consumer, lambda: store.signals >= 9)
                assert await consumer.poll_once() == 0  # nothing left, nothing redelivered
            signals = [s for b in store.batches for s in b.signals]
            assert sum(s.count for s in signals) == 9
            assert all("cluster:prod-eu" in {str(a) for a in s.assets} for s in signals)
            info = await _settled(nc, config)
            assert info.num_ack_pending == 0
            assert info.num_pending == 0

    _run(test)


def test_a_consumer_killed_before_acknowledging_gets_its_messages_again() -> None:
    async def test(url: str) -> None:
        async with _stream(url) as (nc, config):
            await _publish(nc, config, _events()[:2])
            doomed = Recorder()
            doomed.hanging = True
            first = FalcoNatsConsumer(config, doomed)
            await first.connect()
            task = asyncio.create_task(first.poll_once())
            await asyncio.sleep(0.3)  # let it fetch and block inside store
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await first.close()  # the process is gone; nothing was acknowledged
            assert doomed.batches == []

            store = Recorder()
            async with FalcoNatsConsumer(config, store) as second:
                await _drain(second, lambda: store.signals >= 2)  # after ack_wait: redelivered
            assert store.signals == 2

    _run(test)


def test_a_failed_store_naks_and_the_next_fetch_stores_the_same_events() -> None:
    async def test(url: str) -> None:
        async with _stream(url) as (nc, config):
            await _publish(nc, config, _events()[:3])
            store = Recorder()
            store.fail = True
            async with FalcoNatsConsumer(config, store) as consumer:
                with pytest.raises(SourceError, match="redelivery"):
                    await _drain(consumer, lambda: False)
                store.fail = False
                await _drain(consumer, lambda: store.signals >= 3)
            assert store.signals == 3

    _run(test)


def test_a_malformed_message_is_stored_as_quarantined_and_acknowledged() -> None:
    async def test(url: str) -> None:
        async with _stream(url) as (nc, config):
            await _publish(nc, config, [b"not json {", _events()[0]])
            store = Recorder()
            async with FalcoNatsConsumer(config, store) as consumer:
                await _drain(consumer, lambda: store.signals >= 1 and _quarantined(store) >= 1)
                await asyncio.sleep(config.ack_wait + 0.2)  # past ack_wait: would redeliver
                assert await consumer.poll_once() == 0  # …but it was acknowledged
            (bad,) = [q for b in store.batches for q in b.quarantined]
            assert bad.reason == "invalid_json"
            assert bad.location.startswith(f"nats {config.subjects[0].subject[:-2]}.x #")

    _run(test)


def _quarantined(store: Recorder) -> int:
    return sum(len(b.quarantined) for b in store.batches)


def test_subject_filters_match_like_nats() -> None:
    assert subject_matches("falco.>", "falco.critical.terminal_shell_in_container")
    assert not subject_matches("falco.>", "falco")
    assert subject_matches("falco.*.x", "falco.notice.x")
    assert not subject_matches("falco.*.x", "falco.notice.y")
    assert not subject_matches("prod.falco.>", "falco.notice.x")


def test_the_consumer_can_create_the_stream_and_skips_internal_events_with_a_count() -> None:
    async def test(url: str) -> None:
        async with _stream(url, create_stream=True) as (nc, config):
            store = Recorder()
            metrics = (FIXTURES / "event.internal-metrics-snapshot.falco-website.json").read_bytes()
            async with FalcoNatsConsumer(config, store) as consumer:
                await _publish(nc, config, [metrics.replace(b"\n", b""), _events()[0]])
                await _drain(consumer, lambda: store.signals >= 1 and consumer.skipped() != {})
                assert consumer.skipped() == {"internal": 1}
            assert [q for b in store.batches for q in b.quarantined] == []
            info = await _settled(nc, config)
            assert (info.num_ack_pending, info.num_pending) == (0, 0)

    _run(test)
