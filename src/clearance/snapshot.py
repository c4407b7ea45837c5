"""The one assembly of a decision's inputs: every way of asking builds its snapshot here.

    snapshot = assemble(target, now, inventory=..., evidence=..., expected=..., manifest=...)

A local ``clearance check``, ``check --database``, ``POST /v1/decisions``, the admission webhook,
the GitHub protection rule, Argo and Flagger all decide from a snapshot made by
:func:`assemble`; they differ only in where the evidence comes from:

* :class:`LiveEvidence`: what the configured sources say now (a local check without a store).
  Each source is read once; its signals are folded into one index (the model's one fold), the
  host identities it reports go into one graph, and a reference feed (CISA KEV) is applied to
  the vulnerabilities read, as the storing path applies it to stored ones.
* :class:`StoredEvidence`: what ``sync`` and the push receivers stored (the service, and a local
  check with a store): signals by the exposure's index keys, source health, run-time exceptions
  and host identities, each behind a short read cache.

Everything else is shared, so the two cannot drift: the inventory resolves the target with the
identity graph (a host an EDR knows by another name is joined to its node), correlation matches
the candidates to the exposure, a configured source never heard from is reported as never having
succeeded (so ``source_down`` applies: silence is not safety), and the inventory reports its
health as of the decision's ``now``. Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from clearance.correlate import SignalIndex, footprint
from clearance.errors import SourceError
from clearance.inventory.identity import IdentityGraph
from clearance.inventory.interface import Inventory
from clearance.inventory.manifest import manifest_images
from clearance.model.assets import AssetKind, AssetRef
from clearance.model.checks import CheckEvidence
from clearance.model.coverage import AgentIndex, Managed, exposed_hosts, host_coverage
from clearance.model.drift import find_drift
from clearance.model.exemptions import Exemption
from clearance.model.health import health_signals
from clearance.model.podspec import manifest_pod_spec
from clearance.model.quarantine import Quarantined
from clearance.model.reports import Report
from clearance.model.signal import Signal, SignalKind, utc
from clearance.model.snapshot import Snapshot
from clearance.model.target import Exposure, Proximity, SourceHealth, Target
from clearance.sources.interface import Dated, DocumentFeed, Source

if TYPE_CHECKING:  # the feeds' readers and the store's parts load where they are used
    from clearance.sources.vex.documents import VexStatement
    from clearance.store.interface import AuditRecord, DecisionFilter, DecisionPage, ExemptionRecord
    from clearance.store.read_cache import Keyed, Recent

__all__ = [
    "IDENTITY_RETENTION",
    "Evidence",
    "LiveEvidence",
    "StoredEvidence",
    "assemble",
]

logger = logging.getLogger(__name__)

# Identity groups not reported again for this long are left out of the graph: a decommissioned
# machine's IP or name, reused by another, must not keep joining the two.
IDENTITY_RETENTION = timedelta(days=30)


class Evidence(Protocol):
    """Where a decision's signals, source health, exceptions and host identities come from."""

    def identities(self, now: datetime) -> IdentityGraph: ...

    def touching(self, keys: tuple[str, ...], now: datetime) -> Sequence[Signal]:
        """Candidate signals filed under any of ``keys`` (a superset of the true matches)."""
        ...

    def source_health(self, now: datetime) -> Sequence[SourceHealth]: ...

    def exemptions(self, target: Target, now: datetime) -> tuple[Exemption, ...]:
        """Run-time exceptions (granted through the API) live for ``target`` at ``now``; the
        policy's own exceptions are the engine's to apply."""
        ...

    def coverage(self, now: datetime) -> Sequence[Managed]:
        """Every agent the sources that cover hosts reported in their last inventory."""
        ...

    def last_decided(self, target: Target, now: datetime) -> LastDecision | None:
        """The target's most recent recorded decision, where decisions are recorded."""
        ...

    def checks(self, target: Target, now: datetime) -> tuple[CheckEvidence, ...]:
        """Failed post-deploy checks of the release running on ``target`` or of the release it
        deploys elsewhere, where checks are recorded."""
        ...


def assemble(
    target: Target,
    now: datetime,
    *,
    inventory: Inventory,
    evidence: Evidence,
    expected: Iterable[str] = (),
    manifest: Mapping[str, Any] | None = None,
    reports: tuple[Report, ...] = (),
) -> Snapshot:
    """Everything ``decide`` reads about ``target`` at ``now``.

    ``expected``: the configured source names; one the evidence has never heard from is
    reported as never having succeeded. ``manifest``: the object about to be applied (a new or
    changing workload), when the caller has it. ``reports``: what the request brought about
    the change (test results, code scanning), recorded as given.
    """
    graph = evidence.identities(now)
    exposure = inventory.resolve(target, manifest=manifest, identities=graph)
    keys = footprint(exposure).keys  # the sorted distinct index keys, kept per content
    candidates: Sequence[Signal] = evidence.touching(keys, now) if keys else ()
    if exposure.conditions:
        # What the inventory saw wrong with the target, as health signals at this ``now``: the
        # snapshot records them, so a replay reads them rather than the cluster.
        candidates = [*candidates, *health_signals(exposure.conditions, now)]
    matches = SignalIndex(candidates).match(exposure)
    health = list(evidence.source_health(now))
    known = {h.name for h in health}
    health += [SourceHealth(name, None) for name in expected if name not in known]
    inventory_health = inventory.health(now)
    if inventory_health is not None:
        health.append(inventory_health)
    # Only read when the target touches a host: most lookups need no inventory at all.
    agents = evidence.coverage(now) if exposed_hosts(exposure) else ()
    coverage = host_coverage(exposure, agents)
    deploying = {AssetRef(AssetKind.IMAGE, str(image)) for image in target.images}
    deploying |= {
        AssetRef(AssetKind.IMAGE, str(image)) for image in manifest_images(manifest or {})
    }
    drift = None
    compared = _runs_images(exposure) or exposure.template is not None
    last = evidence.last_decided(target, now) if compared else None
    if last is not None:
        drift = find_drift(exposure, deploying, last.id, last.at, last.snapshot)
    return Snapshot(
        exposure=exposure,
        matches=matches,
        sources=tuple(sorted(health, key=lambda h: h.name)),
        exemptions=evidence.exemptions(target, now),
        deploying=tuple(sorted(deploying)),
        reports=reports,
        coverage=coverage,
        drift=drift,
        checks=evidence.checks(target, now),
        template=exposure.template,
        deploying_template=manifest_pod_spec(manifest) if manifest else None,
    )


class LastDecision(msgspec.Struct, frozen=True):
    """A target's most recent recorded decision: its id, time and recorded snapshot."""

    id: str
    at: datetime
    snapshot: Mapping[str, Any]


def _runs_images(exposure: Exposure) -> bool:
    return any(
        a.proximity is Proximity.DIRECT and a.ref.kind is AssetKind.IMAGE for a in exposure.assets
    )


class _Read(msgspec.Struct, frozen=True):
    health: SourceHealth
    quarantined: tuple[Quarantined, ...]


class LiveEvidence:
    """The configured sources, read once at ``now`` (a local check without a store)."""

    def __init__(
        self,
        index: SignalIndex,
        graph: IdentityGraph,
        reads: Sequence[_Read],
        agents: Sequence[Managed] = (),
    ) -> None:
        self._index = index
        self._graph = graph
        self._reads = tuple(reads)
        self._agents = AgentIndex(agents)  # filed once, for every target decided from it

    @classmethod
    def read(cls, sources: Sequence[Source], now: datetime) -> LiveEvidence:
        """Read every source (feeds last, so they apply to everything read). A failing source
        does not stop the others: its health records the error, and the policy's
        ``source_down`` stance decides what that means."""
        index = SignalIndex()
        reported: list[tuple[str, Mapping[str, Sequence[str]]]] = []
        agents: list[Managed] = []
        reads = [
            _read(source, index, reported, now, agents)
            for source in sources
            if not isinstance(source, DocumentFeed)
        ]
        feeds = [feed for feed in sources if isinstance(feed, DocumentFeed)]
        feeds.sort(key=lambda feed: _FEED_ORDER.get(feed.kind, len(_FEED_ORDER)))
        statements: list[VexStatement] = []
        reads += [_apply(feed, index, statements, now) for feed in feeds]
        return cls(index, IdentityGraph.of(reported), reads, agents)

    @property
    def quarantined(self) -> tuple[Quarantined, ...]:
        return tuple(q for r in self._reads for q in r.quarantined)

    def identities(self, now: datetime) -> IdentityGraph:
        return self._graph

    def touching(self, keys: tuple[str, ...], now: datetime) -> Sequence[Signal]:
        return self._index.touching(keys)

    def source_health(self, now: datetime) -> Sequence[SourceHealth]:
        return [r.health for r in self._reads]

    def exemptions(self, target: Target, now: datetime) -> tuple[Exemption, ...]:
        return ()

    def coverage(self, now: datetime) -> Sequence[Managed]:
        return self._agents

    def last_decided(self, target: Target, now: datetime) -> LastDecision | None:
        return None  # a check without a store has no history to drift from

    def checks(self, target: Target, now: datetime) -> tuple[CheckEvidence, ...]:
        return ()  # nor any post-deploy checks recorded


def _read(
    source: Source,
    index: SignalIndex,
    reported: list[tuple[str, Mapping[str, Sequence[str]]]],
    now: datetime,
    agents: list[Managed],
) -> _Read:
    quarantined: list[Quarantined] = []
    try:
        for batch in source.fetch(None):
            for signal in batch.signals:
                index.add(signal)
            quarantined.extend(batch.quarantined)
            reported += [(source.name, group) for group in batch.identities]
            if batch.coverage is not None:
                agents.extend(batch.coverage)
        # A file's data is as old as the file; a live pull is as fresh as the moment it ran.
        last_success = source.modified_at() if isinstance(source, Dated) else now
    except SourceError as exc:
        logger.warning("%s", exc)
        return _Read(SourceHealth(source.name, None, str(exc), now), tuple(quarantined))
    for q in quarantined:
        logger.warning("skipped %s: %s (%s)", q.location, q.detail, q.reason)
    return _Read(
        SourceHealth(source.name, last_success, skipped=len(quarantined)), tuple(quarantined)
    )


def _apply(
    feed: DocumentFeed, index: SignalIndex, statements: list[VexStatement], now: datetime
) -> _Read:
    """A reference feed applied to the signals read, as the storing path applies it to stored
    ones: the KEV catalog adds a ``known_exploited`` signal for each listed CVE in an image;
    EPSS scores the vulnerabilities (and known-exploited twins) by CVE; VEX documents waive the
    findings their latest statements say do not apply (``statements``: every VEX statement
    read so far, since a later document may override an earlier one)."""
    from clearance.sources.epss.catalog import apply as apply_epss  # noqa: PLC0415
    from clearance.sources.epss.catalog import load_scores  # noqa: PLC0415
    from clearance.sources.kev.catalog import enrich, load_catalog  # noqa: PLC0415
    from clearance.sources.vex.documents import load_document  # noqa: PLC0415
    from clearance.sources.vex.index import VexIndex  # noqa: PLC0415
    from clearance.sources.vex.index import apply as apply_vex  # noqa: PLC0415

    try:
        document = feed.fetch_document(None)
        if document.body is None:  # pragma: no cover - no validator was sent
            raise SourceError(feed.name, "the feed sent no document")
        if feed.kind == "epss":
            scores = load_scores(document.body, source=feed.name)
            bad = scores.quarantined
            for signal in apply_epss(index.signals(), scores):
                index.replace(signal)
        elif feed.kind in ("openvex", "cyclonedx-vex"):
            vex = load_document(document.body, source=feed.name)
            bad = vex.quarantined
            statements.extend(vex.statements)
            for signal in apply_vex(index.signals(), VexIndex(statements)):
                index.replace(signal)
        else:
            catalog = load_catalog(document.body, source=feed.name)
            bad = catalog.quarantined
            vulnerabilities = [s for s in index.signals() if s.kind is SignalKind.VULNERABILITY]
            for signal in enrich(vulnerabilities, catalog):
                index.add(signal)
    except SourceError as exc:
        logger.warning("%s", exc)
        return _Read(SourceHealth(feed.name, None, str(exc), now), ())
    as_of = feed.modified_at() if isinstance(feed, Dated) else now  # as sync records it
    return _Read(SourceHealth(feed.name, as_of, skipped=len(bad)), tuple(bad))


# Feeds that annotate signals run before feeds that add signals from them, so what is added
# carries the annotation (a KEV signal keeps its CVE's EPSS), whatever the configuration order.
_FEED_ORDER = {"epss": 0, "openvex": 0, "cyclonedx-vex": 0, "kev": 1}


class StoredEvidence:
    """What the store holds (the service, and ``clearance check --database``).

    ``read_cache`` seconds: how long a read may be reused (0 reads every time). Each cache is
    also dropped at once by this process's own writes, where the store counts them.
    """

    def __init__(self, store: _Readable, read_cache: float = 0.0) -> None:
        from clearance.store.read_cache import (  # noqa: PLC0415
            Keyed,
            Recent,
            StoredChanges,
            TouchingCache,
        )

        self.store = store
        self.health_cache: Recent[tuple[SourceHealth, ...]] = Recent(read_cache)
        self.exemption_cache: Recent[tuple[ExemptionRecord, ...]] = Recent(read_cache)
        self.coverage_cache: Recent[AgentIndex] = Recent(read_cache)
        signals_generation = _generation(store, "signals_generation")
        # The database's own counts of writes (any process's), read once per ``read_cache``:
        # while they stand still, what the caches hold is not read again.
        counted = getattr(store, "stored_changes", None)
        self.changes = StoredChanges(counted if callable(counted) else None, read_cache)
        self.signal_cache = TouchingCache(
            read_cache, signals_generation, self.changes.of("signals")
        )
        self._identities_generation = _generation(store, "identities_generation")
        self._coverage_generation = _generation(store, "coverage_generation")
        self._coverage_seen = -1
        self._graph: tuple[int, datetime, IdentityGraph] | None = None
        self._read_cache = read_cache
        self.last_cache: Keyed[LastDecision | None] = Keyed(read_cache)
        self.check_cache: Keyed[tuple[CheckEvidence, ...]] = Keyed(
            read_cache, self.changes.of("checks")
        )
        found = getattr(store, "checks_generation_of", None)
        self._checks_generation: Callable[[Target], int] | None = found if callable(found) else None

    def identities(self, now: datetime) -> IdentityGraph:
        """The graph of every group seen within :data:`IDENTITY_RETENTION`, rebuilt when the
        store's identities change (or after ``read_cache`` on another replica's write)."""
        generation = self._identities_generation() if self._identities_generation else -1
        cached = self._graph
        if (
            cached is not None
            and cached[0] == generation
            and generation >= 0
            and 0 <= (now - cached[1]).total_seconds() < max(self._read_cache, 60.0)
        ):
            return cached[2]
        graph = IdentityGraph.of(self.store.identity_groups(now - IDENTITY_RETENTION))
        self._graph = (generation, now, graph)
        return graph

    def touching(self, keys: tuple[str, ...], now: datetime) -> Sequence[Signal]:
        return self.signal_cache.get(keys, now, self.store.signals_touching)

    def source_health(self, now: datetime) -> Sequence[SourceHealth]:
        return self.health_cache.get(now, self.store.source_health)

    def exemptions(self, target: Target, now: datetime) -> tuple[Exemption, ...]:
        records = self.exemption_cache.get(now, lambda: self.store.list_exemptions(now))
        return tuple(
            r.exemption for r in records if r.active(now) and r.exemption.covers_target(target)
        )

    def coverage(self, now: datetime) -> Sequence[Managed]:
        """Cached like source health, and dropped at once when this process stores one."""
        generation = self._coverage_generation() if self._coverage_generation else -1
        if generation != self._coverage_seen:
            self.coverage_cache.clear()
            self._coverage_seen = generation
        return self.coverage_cache.get(now, lambda: AgentIndex(self.store.coverage()))

    def last_decided(self, target: Target, now: datetime) -> LastDecision | None:
        """Kept per target (``last_cache``): this process's own appends replace it at once
        (:meth:`recorded`), another replica's are read within ``read_cache``."""

        from clearance.store.interface import DecisionFilter  # noqa: PLC0415

        def load() -> tuple[int, LastDecision | None]:
            page = self.store.list_decisions(DecisionFilter(target_key=target.key), limit=1)
            if not page.records:
                return 0, None
            record = page.records[0]
            return record.seq, LastDecision(record.decision_id, utc(record.at), record.snapshot)

        return self.last_cache.get(target.key, now, 0, load)

    def recorded(self, record: AuditRecord) -> None:
        """``record`` was just appended by this process: it is its target's last decision."""
        key = record.decision["target"]
        target_key = f"{key['cluster']}/{key['namespace']}/{key['workload']}"
        last = LastDecision(record.decision_id, utc(record.at), record.snapshot)
        self.last_cache.put(target_key, utc(record.at), 0, record.seq, last)

    def checks(self, target: Target, now: datetime) -> tuple[CheckEvidence, ...]:
        """Kept per target and release while the store's checks and this target's deployments
        are unchanged in this process (``check_cache``), within ``read_cache``."""
        generation = self._checks_generation(target) if self._checks_generation else -1
        if generation < 0:
            return self.store.checks_for(target)
        key = f"{target.environment}|{target.key}|{' '.join(sorted(map(str, target.images)))}"
        return self.check_cache.get(
            key, now, generation, lambda: (0, self.store.checks_for(target))
        )


class _Readable(Protocol):
    """The store reads stored evidence needs."""

    def signals_touching(self, keys: Iterable[str]) -> tuple[Signal, ...]: ...

    def source_health(self) -> tuple[SourceHealth, ...]: ...

    def list_exemptions(self, now: datetime) -> tuple[ExemptionRecord, ...]: ...

    def identity_groups(
        self, since: datetime
    ) -> tuple[tuple[str, dict[str, tuple[str, ...]]], ...]: ...

    def coverage(self) -> tuple[Managed, ...]: ...

    def list_decisions(
        self, filters: DecisionFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> DecisionPage: ...

    def checks_for(self, target: Target) -> tuple[CheckEvidence, ...]: ...


def _generation(store: object, name: str) -> Callable[[], int] | None:
    """A counter the store bumps on each of this process's writes of that kind, if it keeps one."""
    if not isinstance(getattr(store, name, None), int):
        return None
    return lambda: int(getattr(store, name))
