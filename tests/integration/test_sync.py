"""The prefetch loop against a real store (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from builders import signal
from clearance.errors import SourceError
from clearance.ingest.storing import store_kev_catalog
from clearance.model.signal import SignalKind
from clearance.sources.interface import Batch, Quarantined
from clearance.store.sql import SqlStore
from clearance.sync.leases import FileLease, PostgresLease
from clearance.sync.poller import Poller, Schedule

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@dataclass
class ScriptedSource:
    """A pull source that replays pages and fails where told: drives the poller's edge cases."""

    name: str
    pages: list[Batch]
    fail_after: int | None = None  # raise after yielding this many pages
    failures_left: int = 0  # whole pulls that fail before any page
    seen_watermarks: list[str | None] = field(default_factory=list)

    def close(self) -> None:
        pass

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        self.seen_watermarks.append(watermark)
        if self.failures_left:
            self.failures_left -= 1
            raise SourceError(self.name, "HTTP 503 from api.example/alerts")
        start = 0 if watermark is None else int(watermark) + 1
        for i, page in enumerate(self.pages[start:], start=start):
            if self.fail_after is not None and i >= self.fail_after:
                self.fail_after = None
                raise SourceError(self.name, "connection reset")
            yield Batch(page.signals, page.quarantined, str(i), page.identities)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Lease:
    def acquire(self, name: str) -> bool:
        return True

    def release(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


def poller(
    store: SqlStore, source: ScriptedSource, clock: Clock, sleeps: list[float], **schedule: object
) -> Poller:
    return Poller(
        store=store,
        sources={source.name: source},
        schedules={source.name: Schedule(**schedule)},  # type: ignore[arg-type]
        lease=Lease(),
        clock=clock,
        sleep=sleeps.append,
        rng=random.Random(7),
    )


def pages() -> list[Batch]:
    bad = Quarantined("edr", "missing_field", "no id", "sha256:ab", "resources[1]", b"{}")
    return [
        Batch((signal("edr:1"), signal("edr:2"))),
        Batch((signal("edr:3"),), (bad,)),
        Batch((signal("edr:4"),)),
    ]


def test_each_page_is_stored_before_the_watermark_moves_past_it(store: SqlStore) -> None:
    source = ScriptedSource("edr", pages(), fail_after=2)
    clock, sleeps = Clock(), list[float]()
    first = poller(store, source, clock, sleeps, retries=0).pull("edr")
    assert not first.ok
    assert store.get_watermark("edr") == "1"  # pages 0 and 1 are stored, page 2 was not reached
    assert {store.get_signal(f"edr:{n}").uid for n in (1, 2, 3)} == {"edr:1", "edr:2", "edr:3"}
    state = next(s for s in store.source_states() if s.name == "edr")
    assert state.last_error is not None
    assert "connection reset" in state.last_error
    assert state.quarantined == {"missing_field": 1}
    clock.now += timedelta(minutes=1)
    second = poller(store, source, clock, sleeps).pull("edr")
    assert second.ok
    assert source.seen_watermarks[-1] == "1"  # resumed, not restarted
    assert store.get_signal("edr:4").uid == "edr:4"
    health = next(h for h in store.source_health() if h.name == "edr")
    assert health.last_success == clock.now


def test_a_failed_pull_is_retried_with_growing_jittered_backoff(store: SqlStore) -> None:
    source = ScriptedSource("edr", pages(), failures_left=2)
    sleeps: list[float] = []
    result = poller(store, source, Clock(), sleeps, retries=3, backoff=1.0).pull("edr")
    assert result.ok
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.5
    assert 1.0 <= sleeps[1] <= 3.0


def test_the_circuit_opens_after_repeated_failures_and_half_opens_after_cooldown(
    store: SqlStore,
) -> None:
    source = ScriptedSource("edr", pages(), failures_left=100)
    clock, sleeps = Clock(), list[float]()
    p = poller(
        store,
        source,
        clock,
        sleeps,
        retries=0,
        breaker_threshold=2,
        breaker_cooldown=timedelta(minutes=5),
    )
    assert p.pull("edr").error is not None
    assert p.pull("edr").error is not None
    skipped = p.pull("edr")
    assert skipped.skipped_reason is not None
    assert "circuit open" in skipped.skipped_reason
    assert len(source.seen_watermarks) == 2  # the open circuit did not call the vendor
    clock.now += timedelta(minutes=6)
    source.failures_left = 0
    assert p.pull("edr").ok


def test_run_due_honours_each_schedule(store: SqlStore) -> None:
    source = ScriptedSource("edr", pages())
    clock, sleeps = Clock(), list[float]()
    p = poller(store, source, clock, sleeps, every=timedelta(minutes=2))
    assert [r.source for r in p.run_due()] == ["edr"]
    clock.now += timedelta(minutes=1)
    assert p.run_due() == []
    assert p.seconds_until_due() == 60
    clock.now += timedelta(minutes=1)
    assert len(p.run_due()) == 1


KEV_FIXTURE = Path(__file__).parent.parent / "fixtures" / "kev"


def test_a_pulled_vulnerability_on_a_kev_listed_cve_is_raised_to_known_exploited(
    store: SqlStore,
) -> None:
    """Pulled data is stored as pushed data is: the stored KEV catalog applies to it."""
    catalog = (KEV_FIXTURE / "known_exploited_vulnerabilities.trimmed.json").read_bytes()
    store_kev_catalog(store, catalog, START)
    listed = json.loads(catalog)["vulnerabilities"][0]["cveID"]
    vuln = signal(
        "scanner:img-1",
        kind=SignalKind.VULNERABILITY,
        assets=("image:ghcr.io/acme/web:2.0",),
        rule=listed,
    )
    source = ScriptedSource("scanner", [Batch((vuln,))])
    assert poller(store, source, Clock(), []).pull("scanner").ok
    raised = store.active_signals_of_kind(SignalKind.KNOWN_EXPLOITED)
    assert [(s.rule, [str(a) for a in s.assets]) for s in raised] == [
        (listed, ["image:ghcr.io/acme/web:2.0"])
    ]


def test_the_host_identities_a_pull_reports_are_kept(store: SqlStore) -> None:
    group = {"host": ("ip-10-0-1-5.ec2.internal",), "instance": ("i-0abc123",), "mac": ()}
    source = ScriptedSource("edr", [Batch(identities=(group,)), Batch(identities=(group,))])
    assert poller(store, source, Clock(), []).pull("edr").ok
    assert store.identity_groups(START - timedelta(days=1)) == (("edr", group),)
    assert store.identity_groups(START + timedelta(seconds=1)) == ()  # seen at the pull, not since


def test_one_poller_per_source_across_processes_with_file_leases(tmp_path: Path) -> None:
    a, b = FileLease(tmp_path), FileLease(tmp_path)
    assert a.acquire("source:edr")
    assert not b.acquire("source:edr")
    assert b.acquire("source:other")
    a.close()  # the holder goes away: the other takes over
    assert b.acquire("source:edr")
    b.close()


def test_one_poller_per_source_across_replicas_with_postgres_advisory_locks() -> None:
    url = os.environ.get("CLEARANCE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("needs CLEARANCE_TEST_POSTGRES_URL (PostgreSQL advisory locks)")
    a, b = PostgresLease(url), PostgresLease(url)
    try:
        assert a.acquire("source:edr-lease-test")
        assert a.acquire("source:edr-lease-test")  # re-entrant for its holder
        assert not b.acquire("source:edr-lease-test")
        a.close()  # the replica dies: its session ends and PostgreSQL frees the lock
        # The server frees it once it notices the session ended; a poller retries each cycle.
        for _ in range(100):
            if b.acquire("source:edr-lease-test"):
                break
            time.sleep(0.05)
        assert b.acquire("source:edr-lease-test")
    finally:
        a.close()
        b.close()
