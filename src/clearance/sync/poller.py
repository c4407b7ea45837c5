"""The prefetch loop: pull each source on its schedule, store what it found, track its health.

Decisions never wait on a vendor API: they read what this loop stored. Per source:

* each batch is stored by :func:`clearance.ingest.storing.store_batch` (the one storing path:
  signals folded and upserted, KEV-enriched, bad items quarantined, identities kept) **before**
  the watermark moves to the batch's resume point, so a crash between the two re-fetches rather
  than skips;
* a failed pull is retried (tenacity) with jittered exponential backoff, then recorded as the
  source's last error (the ``source_down`` and ``stale`` stances read that health);
* after ``breaker_threshold`` failed pulls in a row the circuit opens: the source is left alone
  for ``breaker_cooldown``, then tried once (half-open) before closing again;
* across replicas, a :class:`~clearance.sync.leases.Lease` makes sure one poller runs per source.

Time, sleep and randomness are passed in, so the loop is tested without waiting.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import tenacity

from clearance.errors import SourceError
from clearance.ingest.storing import IngestStore, store_batch, store_document
from clearance.retries import jittered_backoff
from clearance.sources.interface import Dated, DocumentFeed, Source
from clearance.sync.leases import Lease

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Schedule:
    every: timedelta = timedelta(seconds=60)
    retries: int = 3
    backoff: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    backoff_max: float = 30.0
    breaker_threshold: int = 5
    breaker_cooldown: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PullResult:
    source: str
    ok: bool
    batches: int = 0
    signals: int = 0
    quarantined: int = 0
    error: str | None = None
    skipped_reason: str | None = None  # not attempted: circuit open, another replica polls it


Progress = Callable[[str, int, int], None]  # (source, batches so far, signals so far)


@dataclass(slots=True)
class _Breaker:
    """One source's circuit: closed, open until ``open_until``, then half-open (one pull tried:
    a success closes it, a failure opens it again for a cooldown).

    A small state object rather than pybreaker: pybreaker reads the wall clock
    (``datetime.now``) to time its cooldown, and the sync loop's time is passed in."""

    failures: int = 0
    open_until: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        return self.open_until is not None and now < self.open_until

    def succeeded(self) -> None:
        self.failures = 0
        self.open_until = None

    def failed(self, now: datetime, threshold: int, cooldown: timedelta) -> bool:
        """Count a failed pull; True when it opened the circuit."""
        self.failures += 1
        if self.failures >= threshold:
            self.open_until = now + cooldown
            return True
        return False


@dataclass
class Poller:
    """Pulls sources into a store. One instance per process; ``run_due`` is called in a loop."""

    store: IngestStore
    sources: dict[str, Source]
    schedules: dict[str, Schedule]
    lease: Lease
    clock: Clock
    sleep: Sleep
    rng: random.Random = field(default_factory=random.Random)
    _breakers: dict[str, _Breaker] = field(default_factory=dict)
    _next_due: dict[str, datetime] = field(default_factory=dict)

    def pull(self, name: str, progress: Progress | None = None) -> PullResult:
        """Pull one source now (if this replica holds its lease and its circuit is closed)."""
        source = self.sources[name]
        schedule = self.schedules.get(name, Schedule())
        breaker = self._breakers.setdefault(name, _Breaker())
        now = self.clock()
        if breaker.is_open(now):
            return PullResult(
                name, ok=False, skipped_reason=f"circuit open until {breaker.open_until:%H:%M:%S}"
            )
        if not self.lease.acquire(f"source:{name}"):
            return PullResult(name, ok=False, skipped_reason="another replica polls this source")
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(SourceError),
            stop=tenacity.stop_after_attempt(schedule.retries + 1),
            # Jitter in [0.5, 1.5): replicas and sources spread out.
            wait=jittered_backoff(
                schedule.backoff, schedule.backoff_max, self.rng.random, spread=(0.5, 1.5)
            ),
            sleep=self.sleep,
            before_sleep=lambda state: logger.info(
                "%s; retry %d/%d in %.1f s",
                state.outcome.exception() if state.outcome else None,
                state.attempt_number,
                schedule.retries,
                state.upcoming_sleep,
            ),
            reraise=True,
        )
        try:
            result = retrying(self._pull_once, source, progress)
        except SourceError as exc:
            return self._failed(name, str(exc), schedule, breaker)
        breaker.succeeded()
        return result

    def run_due(self, progress: Progress | None = None) -> list[PullResult]:
        """Pull every source whose schedule is due; returns what happened to each pulled."""
        now = self.clock()
        results = []
        for name in sorted(self.sources):
            if self._next_due.get(name, now) <= now:
                results.append(self.pull(name, progress))
                self._next_due[name] = now + self.schedules.get(name, Schedule()).every
        return results

    def seconds_until_due(self) -> float:
        now = self.clock()
        due = [self._next_due.get(name, now) for name in self.sources]
        return max(0.0, min((d - now).total_seconds() for d in due)) if due else 60.0

    def _pull_once(self, source: Source, progress: Progress | None) -> PullResult:
        if isinstance(source, DocumentFeed):
            return self._pull_document(source)
        watermark = self.store.get_watermark(source.name)
        batches = signals = quarantined = 0
        for batch in source.fetch(watermark):
            # Stored as every writer stores (KEV enrichment, identities), watermark last.
            store_batch(self.store, batch, source.name, self.clock(), complete=False)
            batches += 1
            signals += len(batch.signals)
            quarantined += len(batch.quarantined)
            if progress is not None:
                progress(source.name, batches, signals)
        data_time = source.modified_at() if isinstance(source, Dated) else self.clock()
        self.store.record_source_success(source.name, data_time)
        return PullResult(
            source.name, ok=True, batches=batches, signals=signals, quarantined=quarantined
        )

    def _pull_document(self, feed: DocumentFeed) -> PullResult:
        """A feed's document: stored and applied when it changed, and only then is its
        validator (the ETag) kept; unchanged, the source is simply fresh."""
        document = feed.fetch_document(self.store.get_watermark(feed.name))
        stored = None
        if document.body is not None:
            stored = store_document(
                self.store, feed.kind, document.body, self.clock(), source=feed.name
            )
        self.store.set_watermark(feed.name, document.validator)
        # A mirrored file is as old as the file; a feed fetched over HTTP is as fresh as the GET.
        data_time = feed.modified_at() if isinstance(feed, Dated) else self.clock()
        self.store.record_source_success(feed.name, data_time)
        return PullResult(
            feed.name,
            ok=True,
            batches=0 if stored is None else 1,
            signals=0 if stored is None else stored.known_exploited,
            quarantined=0 if stored is None else stored.quarantined,
        )

    def _failed(self, name: str, error: str, schedule: Schedule, breaker: _Breaker) -> PullResult:
        now = self.clock()
        self.store.record_source_failure(name, error, now)
        if breaker.failed(now, schedule.breaker_threshold, schedule.breaker_cooldown):
            logger.warning("%s failed %d times in a row; circuit open", name, breaker.failures)
        return PullResult(name, ok=False, error=error)
