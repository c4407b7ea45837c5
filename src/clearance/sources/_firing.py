"""What was firing at the last pull, kept in the watermark, so what stopped firing is resolved.

Alert APIs (Alertmanager's alerts, Datadog's monitors in ``Alert``) answer what is wrong *now*:
an alert that stopped firing simply leaves the answer. Silence is not health, so a pull source
over such an API keeps, as its watermark, the signals it saw firing (their JSON form), and the
next pull stores each one missing from its answer **resolved**, as of that pull.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from clearance.errors import InvalidSignalError, SourceError
from clearance.model.signal import Signal, SignalStatus, signal_from_dict

__all__ = ["firing_before", "firing_watermark", "stopped_firing"]


def firing_watermark(signals: Iterable[Signal]) -> str:
    """The watermark that remembers ``signals`` (the ones firing now)."""
    firing = sorted((s for s in signals if s.status is SignalStatus.OPEN), key=lambda s: s.uid)
    return json.dumps([s.to_dict() for s in firing], separators=(",", ":"))


def firing_before(source: str, watermark: str | None) -> dict[str, Signal]:
    """The signals firing at the last pull, by uid; a SourceError for a corrupt watermark."""
    if not watermark:
        return {}
    try:
        items: Any = json.loads(watermark)
        if not isinstance(items, list):
            raise InvalidSignalError("not a list")
        signals = [signal_from_dict(item) for item in items]
    except (ValueError, InvalidSignalError) as exc:
        raise SourceError(
            source,
            f"stored watermark is not the list of alerts firing at the last pull ({exc}); "
            "tip: reset it",
        ) from exc
    return {s.uid: s for s in signals if s.status is SignalStatus.OPEN}


def stopped_firing(
    before: Mapping[str, Signal], firing: Iterable[str], now: datetime
) -> list[Signal]:
    """Each signal of ``before`` not in ``firing``, resolved as of ``now``."""
    still = set(firing)
    return [
        replace(s, status=SignalStatus.RESOLVED, last_seen=max(now, s.last_seen))
        for uid, s in sorted(before.items())
        if uid not in still
    ]
