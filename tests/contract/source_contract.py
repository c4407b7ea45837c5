"""The contract every pull source passes, run against its loopback stand-in.

Use it from a test module (collected because the subclass name starts with ``Test``)::

    class TestDefenderContract(SourceContract):
        @pytest.fixture
        def stand_in(self) -> Iterator[ContractStandIn]:
            with DefenderStandIn() as server:
                yield DefenderContractStandIn(server)

The subclass supplies a :class:`ContractStandIn`: a vendor stand-in holding real-shaped items,
plus a way to build the source pointed at it. What the suite checks is what a user of
``clearance sync`` would notice:

* every item is read, across pages, to the end;
* a refused credential is a :class:`SourceError` naming the source and the HTTP status, and the
  secret appears in no message, no chained exception and no log line;
* a rate-limited call waits what the vendor said (through the injected ``sleep``: tests never
  wait) and then carries on;
* one malformed item is quarantined (reason, ``sha256:`` digest, the source's name) while every
  item beside it becomes a signal;
* fetching twice gives the same signals (same uids, equal values);
* every batch carries a resume point (or None: "do not move yet", for a vendor whose pages have
  no order to resume by), the last one always; resuming from the last one returns nothing new,
  new items after it are returned, and resuming from any earlier batch loses nothing.

Watermark discipline is the *caller's* job, not the source's: ``sync`` stores a batch and only
then records ``batch.watermark``. A source must therefore make every batch's watermark a safe
resume point on its own (inclusive ``>=`` filters, re-reading the boundary item, are fine —
re-fetching is idempotent; skipping is not).
:meth:`SourceContract.test_resuming_from_any_batch_loses_nothing` plays a crash between batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import ClassVar, Protocol

import pytest

from clearance.errors import SourceError
from clearance.model.signal import Signal
from clearance.sources.interface import Batch, Source

__all__ = ["ContractStandIn", "SleepRecorder", "SourceContract"]


class ContractStandIn(Protocol):
    """What a subclass provides: a vendor stand-in it can script, and a source pointed at it.

    Items are ordered by the vendor's update time; each ``seed``/``add_malformed`` call adds items
    *newer* than every item already held, so the order of calls is the order served.
    """

    # A credential the source holds (client secret, API token, password). It must never appear
    # in an error message or a log record.
    secret: str
    # The page size the source built by ``source`` asks for.
    page_size: int
    # The HTTP status the vendor answers a refused credential with (401, or 403 for some).
    auth_status: int

    def source(self, *, sleep: Callable[[float], None]) -> Source:
        """A fresh source pointed at the stand-in; it must wait only through ``sleep``."""
        ...

    def seed(self, count: int) -> None:
        """Add ``count`` valid, real-shaped items with distinct native ids."""
        ...

    def add_malformed(self) -> None:
        """Add one item the source cannot normalize, served in order like any other (keep the
        fields the vendor filters and sorts on; break what the mapping needs)."""
        ...

    def fail_auth(self) -> None:
        """From now on, refuse the source's credential the way the vendor does."""
        ...

    def rate_limit(self, times: int) -> float | None:
        """Answer the next ``times`` API calls with the vendor's 429; return the number of
        seconds the vendor told the client to wait each time, or None when the vendor's 429
        names no wait (the client then backs off on its own)."""
        ...


class SleepRecorder:
    """An injectable ``sleep`` that records what it was asked to wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _drain(batches: Iterator[Batch]) -> list[Batch]:
    return list(batches)


def _signals(batches: list[Batch]) -> dict[str, Signal]:
    found: dict[str, Signal] = {}
    for batch in batches:
        for signal in batch.signals:
            found[signal.uid] = signal
    return found


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class SourceContract:
    """The tests. Subclasses override the ``stand_in`` fixture (and nothing else, normally)."""

    # Seconds of slack when comparing a wait with what the vendor said (an epoch-time
    # Retry-After loses up to a second to rounding).
    wait_tolerance: ClassVar[float] = 1.0

    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        raise NotImplementedError("override the stand_in fixture in the contract subclass")

    @pytest.fixture
    def sleeps(self) -> SleepRecorder:
        return SleepRecorder()

    # --- pagination ------------------------------------------------------------------------

    def test_empty_source_yields_no_signals(
        self, stand_in: ContractStandIn, sleeps: SleepRecorder
    ) -> None:
        batches = _drain(stand_in.source(sleep=sleeps).fetch(None))
        assert [s for b in batches for s in b.signals] == []
        assert [q for b in batches for q in b.quarantined] == []

    def test_pagination_reads_every_item_to_the_end(
        self, stand_in: ContractStandIn, sleeps: SleepRecorder
    ) -> None:
        count = 3 * stand_in.page_size + 1  # three full pages and a short last one
        stand_in.seed(count)
        source = stand_in.source(sleep=sleeps)
        batches = _drain(source.fetch(None))
        uids = [s.uid for b in batches for s in b.signals]
        assert len(uids) == count
        assert len(set(uids)) == count, "an item was returned twice in one fetch"
        assert all(uid.startswith(f"{source.name}:") for uid in uids)
        assert len([b for b in batches if b.signals]) >= 4, "the pages were not followed"
        assert all(b.quarantined == () for b in batches)
        assert sleeps.calls == [], "nothing was rate limited, yet the source waited"

    # --- errors ----------------------------------------------------------------------------

    def test_refused_credential_names_source_and_status_never_the_secret(
        self, stand_in: ContractStandIn, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
    ) -> None:
        stand_in.seed(2)
        stand_in.fail_auth()
        source = stand_in.source(sleep=sleeps)
        caplog.set_level(logging.DEBUG)
        with pytest.raises(SourceError) as caught:
            _drain(source.fetch(None))
        exc = caught.value
        assert exc.source == source.name
        assert source.name in str(exc)
        assert str(stand_in.auth_status) in str(exc)
        for link in _exception_chain(exc):
            assert stand_in.secret not in str(link)
            assert stand_in.secret not in repr(link)
        assert stand_in.secret not in caplog.text
        assert stand_in.secret not in repr(source)

    def test_rate_limit_waits_what_the_vendor_says_then_carries_on(
        self, stand_in: ContractStandIn, sleeps: SleepRecorder
    ) -> None:
        count = 2 * stand_in.page_size
        stand_in.seed(count)
        told = stand_in.rate_limit(2)
        batches = _drain(stand_in.source(sleep=sleeps).fetch(None))
        assert len(_signals(batches)) == count
        if told is None:  # no wait named: the client backs off by itself, and does wait
            assert len([s for s in sleeps.calls if s > 0]) >= 2, sleeps.calls
        else:
            honoured = [s for s in sleeps.calls if abs(s - told) <= self.wait_tolerance]
            assert len(honoured) >= 2, f"told to wait {told}s twice, waited {sleeps.calls}"

    # --- bad items -------------------------------------------------------------------------

    def test_malformed_item_is_quarantined_and_its_neighbours_kept(
        self, stand_in: ContractStandIn, sleeps: SleepRecorder
    ) -> None:
        before = stand_in.page_size + 1
        stand_in.seed(before)
        stand_in.add_malformed()
        stand_in.seed(2)
        source = stand_in.source(sleep=sleeps)
        batches = _drain(source.fetch(None))
        quarantined = [q for b in batches for q in b.quarantined]
        assert len(_signals(batches)) == before + 2
        assert len(quarantined) == 1
        bad = quarantined[0]
        assert bad.source == source.name
        assert bad.reason
        assert bad.detail
        assert bad.digest.startswith("sha256:")
        assert len(bad.digest) == len("sha256:") + 64

    # --- idempotence and watermarks --------------------------------------------------------

    def test_refetch_is_idempotent(self, stand_in: ContractStandIn, sleeps: SleepRecorder) -> None:
        stand_in.seed(2 * stand_in.page_size + 1)
        first = _signals(_drain(stand_in.source(sleep=sleeps).fetch(None)))
        again = _signals(_drain(stand_in.source(sleep=sleeps).fetch(None)))
        assert first.keys() == again.keys()
        assert first == again
        assert [s.to_dict() for s in first.values()] == [s.to_dict() for s in again.values()]

    def test_every_batch_carries_a_resume_point_and_the_last_one_holds(
        self, stand_in: ContractStandIn, sleeps: SleepRecorder
    ) -> None:
        stand_in.seed(2 * stand_in.page_size + 1)
        source = stand_in.source(sleep=sleeps)
        batches = _drain(source.fetch(None))
        seen = _signals(batches)
        last = batches[-1].watermark
        assert last is not None
        # Nothing new since: at most the boundary items again, never an unseen one.
        resumed = _signals(_drain(source.fetch(last)))
        assert resumed.keys() <= seen.keys()
        # New items after the watermark are all returned from it.
        stand_in.seed(stand_in.page_size + 1)
        fresh = _signals(_drain(stand_in.source(sleep=sleeps).fetch(last))).keys() - seen.keys()
        assert len(fresh) == stand_in.page_size + 1

    def test_resuming_from_any_batch_loses_nothing(
        self, stand_in: ContractStandIn, sleeps: SleepRecorder
    ) -> None:
        count = 3 * stand_in.page_size
        stand_in.seed(count)
        source = stand_in.source(sleep=sleeps)
        everything = _signals(_drain(source.fetch(None))).keys()
        # A crash after storing the first batch: the caller recorded only its watermark.
        batches = source.fetch(None)
        first = next(batches)
        batches.close()  # type: ignore[attr-defined]
        # None is allowed mid-fetch ("do not move yet": the vendor gives no order to resume
        # by); then resuming re-reads from where the fetch started.
        rest = _signals(_drain(stand_in.source(sleep=sleeps).fetch(first.watermark))).keys()
        stored = {s.uid for s in first.signals}
        assert stored | rest == everything
