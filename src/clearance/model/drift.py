"""Drift: a workload running images, or a pod template, Clearance never decided for it.

Every decision records the images its deploy brought and the images the workload ran then, and
(where the inventory reads it: Kubernetes) the compared subset of the workload's live pod
template and of the manifest the deploy brought (:mod:`clearance.model.podspec`). If the
workload now runs an image that is in neither, or its template matches neither — someone ran
``kubectl set image`` or ``kubectl edit``, a pipeline skipped the gate — the change never went
through Clearance. That is a finding on the workload (an ``anomaly`` whose ``rule`` is
``drift``) naming what changed, reported on its next decision, where the policy weighs and
rules it like any other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from clearance.errors import InvalidAssetError
from clearance.model.assets import AssetKind, AssetRef, compatible, parse_asset
from clearance.model.memo import IdentityMemo
from clearance.model.podspec import PodSpecView
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
from clearance.model.target import ExposedAsset, Exposure, Proximity, Target

DRIFT_SOURCE = "clearance"
DRIFT_RULE = "drift"


class Drift(msgspec.Struct, frozen=True):
    """The workload's last decision (``previous``, made ``decided_at``), the images running
    now that it never decided (``undecided``, sorted) and how the live pod template differs
    from every template it saw (``changed``, :meth:`PodSpecView.changes`)."""

    previous: str
    decided_at: datetime
    undecided: tuple[str, ...]
    changed: tuple[str, ...] = ()

    def signal(self, target: Target, now: datetime) -> Signal:
        """The finding on the workload, at ``now``."""
        key = "|".join((self.previous, *self.undecided, *self.changed)).encode()
        parts = []
        if self.undecided:
            shown = ", ".join(self.undecided[:5])
            more = f" and {len(self.undecided) - 5} more" if len(self.undecided) > 5 else ""
            parts.append(f"runs image(s) Clearance did not decide: {shown}{more}")
        if self.changed:
            parts.append(f"its pod template changed outside the gate: {'; '.join(self.changed)}")
        title = (
            f"{target.key} {'; '.join(parts)} "
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
            # Only when set: drift recorded before templates were compared keeps its bytes.
            **({"changed": list(self.changed)} if self.changed else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Drift:
        return cls(
            previous=data["previous"],
            decided_at=parse_time(data["decided_at"]),
            undecided=tuple(data["undecided"]),
            changed=tuple(data.get("changed", ())),
        )


def find_drift(
    exposure: Exposure,
    deploying: Iterable[AssetRef],
    previous: str,
    decided_at: datetime,
    recorded: Mapping[str, Any],
) -> Drift | None:
    """What the workload runs now that the previous decision's snapshot (``recorded``) never
    decided: images (its direct images, less what this deploy brings) it neither deployed nor
    saw running, and a live pod template (``exposure.template``) that is neither the one it saw
    nor the one its manifest brought. None when there is neither, or nothing to compare with
    (a previous decision that knew no image, no template)."""
    bringing = tuple(deploying)
    running = [
        ref
        for ref in _direct_images(exposure.assets)
        if not any(compatible(ref, b) for b in bringing)
    ]
    decided = _recorded_images(recorded)
    undecided: tuple[str, ...] = ()
    if running and decided:
        undecided = tuple(
            ref.value for ref in running if not any(compatible(ref, seen) for seen in decided)
        )
    changed = template_changes(exposure.template, recorded)
    return Drift(previous, decided_at, undecided, changed) if undecided or changed else None


def template_changes(live: PodSpecView | None, recorded: Mapping[str, Any]) -> tuple[str, ...]:
    """How ``live`` differs from the templates a recorded snapshot saw (``pod_spec``: the live
    one and the manifest's), against the closer of them; () when it is one of them, or when
    there is nothing to compare."""
    seen = recorded.get("pod_spec")
    if live is None or not isinstance(seen, Mapping):
        return ()
    before = []
    for key in ("deploying", "live"):  # a tie goes to what the decision let through
        data = seen.get(key)
        if isinstance(data, Mapping):
            try:
                before.append(PodSpecView.from_dict(data))
            except (KeyError, TypeError, ValueError):  # an older form: skip, never fail
                continue
    if not before or any(b.digest == live.digest for b in before):
        return ()
    return min((live.changes(b) for b in before), key=len) or ("pod template changed",)


def _direct_images(assets: tuple[ExposedAsset, ...]) -> list[AssetRef]:
    """The images ``assets`` runs directly, sorted (kept per asset tuple: :mod:`.memo`)."""
    return _DIRECT_IMAGES.get(
        (assets,),
        lambda: sorted(
            {
                a.ref
                for a in assets
                if a.proximity is Proximity.DIRECT and a.ref.kind is AssetKind.IMAGE
            }
        ),
    )


def _recorded_images(recorded: Mapping[str, Any]) -> list[AssetRef]:
    images = _images(str(a) for a in recorded.get("deploying", ()))
    exposure = recorded.get("exposure") or {}
    assets = exposure.get("assets", ()) if isinstance(exposure, Mapping) else ()
    # This process's own last record shares its assets list with the exposure it came from
    # (``Exposure.to_dict``), so reading it back is a lookup while the target is unchanged.
    return images + _RECORDED_IMAGES.get((assets,), lambda: _recorded_direct(assets))


def _recorded_direct(assets: Any) -> list[AssetRef]:
    return _images(
        str(a.get("ref", ""))
        for a in assets
        if isinstance(a, Mapping) and a.get("proximity") == "direct"
    )


def _images(texts: Iterable[str]) -> list[AssetRef]:
    images = []
    for text in texts:
        if not text.startswith("image:"):
            continue
        try:
            images.append(parse_asset(text))
        except InvalidAssetError:  # a record from an older normalization: skip, never fail
            continue
    return images


_DIRECT_IMAGES: IdentityMemo[list[AssetRef]] = IdentityMemo()
_RECORDED_IMAGES: IdentityMemo[list[AssetRef]] = IdentityMemo()
