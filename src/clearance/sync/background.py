"""What ``clearance serve`` and ``clearance sync --watch`` run beside their main job.

* the pull loop (:class:`~clearance.sync.poller.Poller`): every configured source on its schedule,
  with its retries, circuit breaker and lease, in one thread;
* the Falco NATS consumer (``ingest.falco_nats``), in a thread with its own event loop: each
  fetch is stored with :func:`~clearance.ingest.storing.store_batch` before it is acknowledged.
  An idle fetch means everything published so far is stored, so it records the source fresh;
  a connection that fails is recorded as the source's error and retried with backoff.

Decisions never wait on either: they read what these threads stored. ``stop`` returns once both
have finished their current step (a sleep or a retry wait is cut short).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from clearance.config import Config
from clearance.errors import ClearanceError, SourceError
from clearance.ingest.storing import IngestStore, store_batch
from clearance.sources.falco.settings import NatsFalcoConfig
from clearance.sources.interface import Batch
from clearance.sync.leases import Lease
from clearance.sync.poller import Poller, Progress, PullResult, Schedule

if TYPE_CHECKING:
    from clearance.sources.falco.nats import FalcoNatsConsumer

__all__ = ["Background", "poller_for"]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Report = Callable[[list[PullResult]], None]


def poller_for(
    config: Config, store: IngestStore, lease: Lease, clock: Clock, sleep: Callable[[float], None]
) -> Poller:
    return Poller(
        store=store,
        sources={s.name: s for s in config.sources},
        schedules={
            name: Schedule(every=timedelta(seconds=s.every_seconds), retries=s.retries)
            for name, s in config.sync.items()
        },
        lease=lease,
        clock=clock,
        sleep=sleep,
    )


class Background:
    def __init__(
        self,
        config: Config,
        store: IngestStore,
        lease: Lease,
        clock: Clock,
        *,
        report: Report | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.report = report
        self.progress = progress
        self._stop = threading.Event()
        self.poller = poller_for(config, store, lease, clock, self._wait)
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nats_stop: asyncio.Event | None = None

    def start(self) -> None:
        if self.config.sources:
            self._spawn("clearance-sync", self._pull_loop)
        if self.config.ingest.falco_nats is not None:
            nats = self.config.ingest.falco_nats
            self._spawn("clearance-nats", lambda: asyncio.run(self._consume(nats)))

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._loop is not None and self._nats_stop is not None:
            self._loop.call_soon_threadsafe(self._nats_stop.set)
        for thread in self._threads:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _wait(self, seconds: float) -> None:
        """The poller's sleep between retries: cut short by ``stop``."""
        self._stop.wait(seconds)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _pull_loop(self) -> None:
        while not self._stop.is_set():
            try:
                results = self.poller.run_due(self.progress)
            except ClearanceError as exc:  # the store itself failed: say so, try again later
                logger.warning("sync: %s", exc)
                results = []
            if results and self.report is not None:
                self.report(results)
            self._stop.wait(max(1.0, self.poller.seconds_until_due()))

    async def _consume(self, settings: NatsFalcoConfig) -> None:
        # Imported here: nats-py is an optional extra, needed only when falco_nats is set.
        from clearance.sources.falco.nats import FalcoNatsConsumer  # noqa: PLC0415

        self._loop = asyncio.get_running_loop()
        self._nats_stop = asyncio.Event()
        if self._stop.is_set():
            return

        async def store(batch: Batch) -> None:
            await asyncio.to_thread(store_batch, self.store, batch, settings.source, self.clock())

        consumer = FalcoNatsConsumer(settings, store)
        attempt = 0
        while not self._nats_stop.is_set():
            try:
                async with consumer:
                    attempt = 0
                    await self._drain(consumer)
            except SourceError as exc:
                attempt += 1
                await asyncio.to_thread(
                    self.store.record_source_failure, consumer.source, str(exc), self.clock()
                )
                delay = min(60.0, 2.0 ** min(attempt, 6)) * (0.5 + random.random())  # noqa: S311
                logger.warning("%s; reconnecting in %.0f s", exc, delay)
                await self._pause(delay)

    async def _drain(self, consumer: FalcoNatsConsumer) -> None:
        assert self._nats_stop is not None
        while not self._nats_stop.is_set():
            try:
                handled = await consumer.poll_once()
            except SourceError as exc:  # the store failed: the batch was nak'ed, comes again
                logger.warning("%s", exc)
                await self._pause(consumer.config.nak_delay)
                continue
            if handled == 0:  # nothing pending: everything published so far is stored
                await asyncio.to_thread(
                    self.store.record_source_success, consumer.source, self.clock()
                )

    async def _pause(self, seconds: float) -> None:
        assert self._nats_stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._nats_stop.wait(), timeout=seconds)
