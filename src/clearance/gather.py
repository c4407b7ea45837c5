"""Gather a decision's snapshot in local mode: read sources, resolve the target, correlate.

This is the I/O edge around the pure engine. A failing source does not stop the check: its
health records the error, and the policy's ``source_down`` stance decides what that means. What
the sources quarantined is counted in their health, so the decision says how many were skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from clearance.config import Config
from clearance.correlate import SignalIndex
from clearance.errors import SourceError
from clearance.model.snapshot import Snapshot
from clearance.model.target import SourceHealth, Target
from clearance.sources.interface import Dated, Quarantined, Source

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Gathered:
    snapshot: Snapshot
    quarantined: tuple[Quarantined, ...]


def gather(config: Config, target: Target, now: datetime) -> Gathered:
    index = SignalIndex()
    health: list[SourceHealth] = []
    quarantined: list[Quarantined] = []
    for source in config.sources:
        h, q = _read(source, index, now)
        health.append(h)
        quarantined.extend(q)
    exposure = config.inventory.resolve(target)
    inventory_health = config.inventory.health()
    if inventory_health is not None:
        health.append(inventory_health)
    snapshot = Snapshot(exposure=exposure, matches=index.match(exposure), sources=tuple(health))
    return Gathered(snapshot=snapshot, quarantined=tuple(quarantined))


def _read(
    source: Source, index: SignalIndex, now: datetime
) -> tuple[SourceHealth, list[Quarantined]]:
    quarantined: list[Quarantined] = []
    try:
        for batch in source.fetch(None):
            for signal in batch.signals:
                index.add(signal)
            quarantined.extend(batch.quarantined)
        # A file's data is as old as the file; a live pull is as fresh as the moment it ran.
        last_success = source.modified_at() if isinstance(source, Dated) else now
    except SourceError as exc:
        logger.warning("%s", exc)
        return SourceHealth(source.name, None, str(exc), now), quarantined
    for q in quarantined:
        logger.warning("skipped %s: %s (%s)", q.location, q.detail, q.reason)
    return SourceHealth(source.name, last_success, skipped=len(quarantined)), quarantined
