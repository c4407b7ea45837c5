"""Gather a decision's snapshot in local mode: read sources, resolve the target, correlate.

This is the I/O edge around the pure engine. A failing source does not stop the check: its
health records the error, and the policy's ``source_down`` stance decides what that means. What
the sources quarantined is counted in their health, so the decision says how many were skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from clearance.config import Config
from clearance.correlate import SignalIndex
from clearance.errors import SourceError
from clearance.inventory.identity import IdentityGraph
from clearance.model.signal import SignalKind
from clearance.model.snapshot import Snapshot
from clearance.model.target import ExposedAsset, Exposure, Proximity, SourceHealth, Target
from clearance.sources.interface import Dated, DocumentFeed, Quarantined, Source
from clearance.sources.kev.catalog import enrich, load_catalog

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Gathered:
    snapshot: Snapshot
    quarantined: tuple[Quarantined, ...]


def gather(
    config: Config, target: Target, now: datetime, manifest: Mapping[str, Any] | None = None
) -> Gathered:
    index = SignalIndex()
    graph = IdentityGraph()
    health: list[SourceHealth] = []
    quarantined: list[Quarantined] = []
    feeds = [s for s in config.sources if isinstance(s, DocumentFeed)]
    for source in config.sources:
        if isinstance(source, DocumentFeed):
            continue
        h, q = _read(source, index, graph, now)
        health.append(h)
        quarantined.extend(q)
    for feed in feeds:
        h, q = _apply(feed, index, now)
        health.append(h)
        quarantined.extend(q)
    inventory = config.inventory
    if len(graph) and hasattr(inventory, "identities"):
        # The Kubernetes inventory expands each node's names as one machine (more precise).
        inventory.identities = graph
        exposure = inventory.resolve(target, manifest=manifest)
    else:
        exposure = expand_hosts(inventory.resolve(target, manifest=manifest), graph)
    inventory_health = config.inventory.health()
    if inventory_health is not None:
        health.append(inventory_health)
    snapshot = Snapshot(exposure=exposure, matches=index.match(exposure), sources=tuple(health))
    return Gathered(snapshot=snapshot, quarantined=tuple(quarantined))


def _read(
    source: Source, index: SignalIndex, graph: IdentityGraph, now: datetime
) -> tuple[SourceHealth, list[Quarantined]]:
    quarantined: list[Quarantined] = []
    try:
        for batch in source.fetch(None):
            for signal in batch.signals:
                index.add(signal)
            quarantined.extend(batch.quarantined)
            graph.add_all(batch.identities, source=source.name)
        # A file's data is as old as the file; a live pull is as fresh as the moment it ran.
        last_success = source.modified_at() if isinstance(source, Dated) else now
    except SourceError as exc:
        logger.warning("%s", exc)
        return SourceHealth(source.name, None, str(exc), now), quarantined
    for q in quarantined:
        logger.warning("skipped %s: %s (%s)", q.location, q.detail, q.reason)
    return SourceHealth(source.name, last_success, skipped=len(quarantined)), quarantined


def _apply(
    feed: DocumentFeed, index: SignalIndex, now: datetime
) -> tuple[SourceHealth, list[Quarantined]]:
    """A reference feed (the KEV catalog) applied to the signals read: each listed CVE in an
    image adds its ``known_exploited`` signal, as sync would store it."""
    try:
        document = feed.fetch_document(None)
        if document.body is None:  # pragma: no cover - no validator was sent
            raise SourceError(feed.name, "the feed sent no document")
        catalog = load_catalog(document.body, source=feed.name)
    except SourceError as exc:
        logger.warning("%s", exc)
        return SourceHealth(feed.name, None, str(exc), now), []
    vulnerabilities = [s for s in index.signals() if s.kind is SignalKind.VULNERABILITY]
    for signal in enrich(vulnerabilities, catalog):
        index.add(signal)
    bad = list(catalog.quarantined)
    return SourceHealth(feed.name, now, skipped=len(bad)), bad


def expand_hosts(exposure: Exposure, graph: IdentityGraph) -> Exposure:
    """Add every name the EDR host inventories know for each host the exposure touches.

    Each host reference is expanded on its own (a static inventory does not say which names
    belong to one machine); ambiguities are kept as notes, never joined.
    """
    if not len(graph):
        return exposure
    added: list[ExposedAsset] = []
    notes: list[str] = []
    for exposed in exposure.assets:
        if exposed.proximity is not Proximity.HOST:
            continue
        expansion = graph.expand([exposed.ref])
        added += [
            ExposedAsset(Proximity.HOST, ref, f"identity: same machine as {by}")
            for ref, by in expansion.joined
        ]
        notes += [f"identity: {text}" for text in expansion.ambiguities]
    if not added and not notes:
        return exposure
    return replace(
        exposure,
        assets=tuple(sorted({*exposure.assets, *added})),
        notes=tuple(dict.fromkeys((*exposure.notes, *notes))),
    )
