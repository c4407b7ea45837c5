"""Drift: a workload running images Clearance never decided for it.

Every decision records the images its deploy brought and the images the workload ran then. If
the workload now runs an image that is in neither — someone ran ``kubectl set image``, a
pipeline skipped the gate — the change never went through Clearance. That is a finding on the
workload (an ``anomaly`` whose ``rule`` is ``drift``), reported on its next decision, where the
policy weighs and rules it like any other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clearance.errors import InvalidAssetError
from clearance.model.assets import AssetKind, AssetRef, compatible, parse_asset
from clearance.model.signal import (
    MAX_TITLE,
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    format_time,
    parse_time,
)
from clearance.model.target import Exposure, Proximity, Target

DRIFT_SOURCE = "clearance"
DRIFT_RULE = "drift"


@dataclass(frozen=True, slots=True)
class Drift:
    """The workload's last decision (``previous``, made ``decided_at``) and the images running
    now that it never decided (``undecided``, sorted)."""

    previous: str
    decided_at: datetime
    undecided: tuple[str, ...]

    def signal(self, target: Target, now: datetime) -> Signal:
        """The finding on the workload, at ``now``."""
        key = "|".join((self.previous, *self.undecided)).encode()
        shown = ", ".join(self.undecided[:5])
        more = f" and {len(self.undecided) - 5} more" if len(self.undecided) > 5 else ""
        title = (
            f"{target.key} runs image(s) Clearance did not decide: {shown}{more} "
            f"(its last decision was {self.previous} at {format_time(self.decided_at)})"
        )
        return Signal(
            uid=SignalUid(f"{DRIFT_SOURCE}:drift:{hashlib.sha256(key).hexdigest()[:24]}"),
            source=DRIFT_SOURCE,
            kind=SignalKind.ANOMALY,
            title=title[:MAX_TITLE],
            severity=Severity.HIGH,
            confidence=1.0,  # Clearance's own record against the inventory: nothing to doubt
            status=SignalStatus.OPEN,
            first_seen=now,
            last_seen=now,
            assets=(AssetRef(AssetKind.WORKLOAD, target.key.lower()),),
            rule=DRIFT_RULE,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous": self.previous,
            "decided_at": format_time(self.decided_at),
            "undecided": list(self.undecided),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Drift:
        return cls(
            previous=data["previous"],
            decided_at=parse_time(data["decided_at"]),
            undecided=tuple(data["undecided"]),
        )


def find_drift(
    exposure: Exposure,
    deploying: Iterable[AssetRef],
    previous: str,
    decided_at: datetime,
    recorded: Mapping[str, Any],
) -> Drift | None:
    """Images the workload runs now (its direct images, less what this deploy brings) that the
    previous decision's snapshot (``recorded``) neither deployed nor saw running. None when
    there are none, or when the previous decision knew no image at all (nothing to compare)."""
    bringing = tuple(deploying)
    running = sorted(
        {
            a.ref
            for a in exposure.assets
            if a.proximity is Proximity.DIRECT
            and a.ref.kind is AssetKind.IMAGE
            and not any(compatible(a.ref, b) for b in bringing)
        }
    )
    decided = _recorded_images(recorded)
    if not running or not decided:
        return None
    undecided = tuple(
        ref.value for ref in running if not any(compatible(ref, seen) for seen in decided)
    )
    return Drift(previous, decided_at, undecided) if undecided else None


def _recorded_images(recorded: Mapping[str, Any]) -> list[AssetRef]:
    texts = [str(a) for a in recorded.get("deploying", ())]
    exposure = recorded.get("exposure") or {}
    texts += [
        str(a.get("ref", ""))
        for a in exposure.get("assets", ())
        if isinstance(a, Mapping) and a.get("proximity") == "direct"
    ]
    images = []
    for text in texts:
        if not text.startswith("image:"):
            continue
        try:
            images.append(parse_asset(text))
        except InvalidAssetError:  # a record from an older normalization: skip, never fail
            continue
    return images
