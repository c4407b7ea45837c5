"""Target (what is about to be deployed), Exposure (what it touches) and source health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

import msgspec

from clearance.errors import TargetError
from clearance.model.assets import AssetRef, ImageRef, parse_image
from clearance.model.canonical import (
    Repeating,
    canonical_json,
    canonical_members,
    member_pieces,
    with_present,
)
from clearance.model.health import HealthCondition
from clearance.model.memo import IdentityMemo
from clearance.model.podspec import PodSpecView
from clearance.model.signal import format_time, utc


class WorkloadRef(msgspec.Struct, frozen=True, order=True):
    """``kind/name`` of a Kubernetes workload, or of any named deployable unit."""

    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> WorkloadRef:
        kind, sep, name = text.strip().partition("/")
        if not sep or not kind or not name or "/" in name:
            raise TargetError(f"workload {text!r} must be written KIND/NAME (e.g. deployment/api)")
        return cls(kind.lower(), name)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


class ChangeInfo(msgspec.Struct, frozen=True):
    """Who and what asked for the deploy; recorded, and used to refuse self-approval."""

    commit: str | None = None
    pipeline_run: str | None = None
    actor: str | None = None

    def to_dict(self) -> dict[str, str]:
        return with_present(
            {}, commit=self.commit, pipeline_run=self.pipeline_run, actor=self.actor
        )


class Target(msgspec.Struct, frozen=True):
    environment: str
    cluster: str
    namespace: str
    workload: WorkloadRef
    images: tuple[ImageRef, ...] = ()
    change: ChangeInfo = msgspec.field(default_factory=ChangeInfo)

    def __post_init__(self) -> None:
        for name in ("environment", "cluster", "namespace"):
            if not getattr(self, name).strip():
                raise TargetError(f"target {name} must not be empty")

    @classmethod
    def of(
        cls,
        environment: str,
        cluster: str,
        namespace: str,
        workload: str,
        images: tuple[str, ...] | list[str] = (),
        change: ChangeInfo | None = None,
    ) -> Target:
        return cls(
            environment=environment,
            cluster=cluster,
            namespace=namespace,
            workload=WorkloadRef.parse(workload),
            images=tuple(parse_image(i) for i in images),
            change=change or ChangeInfo(),
        )

    @property
    def key(self) -> str:
        """``cluster/namespace/kind/name``: how exceptions and inventories name a target."""
        return f"{self.cluster}/{self.namespace}/{self.workload}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "environment": self.environment,
            "cluster": self.cluster,
            "namespace": self.namespace,
            "workload": str(self.workload),
            "images": [str(i) for i in self.images],
        }
        change = self.change.to_dict()
        if change:
            data["change"] = change
        return data


class Proximity(IntEnum):
    """How close an asset is to the deployment; lower is closer. Ordered so ``min`` is closest."""

    DIRECT = 0  # the workload's own pods, containers, images
    HOST = 1  # nodes it runs on or may be scheduled on
    NAMESPACE = 2
    CLUSTER = 3
    ENVIRONMENT = 4

    @property
    def label(self) -> str:
        # A plain lookup: Enum.name is a descriptor, slow on the decision path.
        return _PROXIMITY_LABELS[self]


_PROXIMITY_LABELS = {p: p.name.lower() for p in Proximity}


class ExposedAsset(msgspec.Struct, frozen=True, order=True):
    """One asset the deploy touches; ``via`` says how the inventory got there, for the record."""

    proximity: Proximity
    ref: AssetRef
    via: str = ""

    def to_dict(self) -> dict[str, str]:
        data = {"ref": str(self.ref), "proximity": self.proximity.label}
        if self.via:
            data["via"] = self.via
        return data


class UnresolvedReason(StrEnum):
    """Why a target could not be (fully) correlated; each is acted on by ``unknown_target``."""

    TARGET_NOT_FOUND = "target_not_found"
    INVENTORY_UNAVAILABLE = "inventory_unavailable"
    NODES_UNKNOWN = "nodes_unknown"


@dataclass(frozen=True, slots=True)
class Exposure:
    """The target resolved into assets. ``unresolved`` is empty when correlation is complete."""

    target: Target
    assets: tuple[ExposedAsset, ...]
    inventory: str
    unresolved: tuple[tuple[UnresolvedReason, str], ...] = ()
    notes: tuple[str, ...] = ()
    # What the inventory saw wrong with the target's own objects (model/health.py). Not part of
    # the recorded form: the snapshot records them as the health signals they became at the
    # decision's ``now``, which is what the decision read.
    conditions: tuple[HealthCondition, ...] = ()
    # The workload's live pod template as drift compares it (model/podspec.py), where the
    # inventory reads one. Not part of the recorded form either: the snapshot records it.
    template: PodSpecView | None = None
    # A memo of what decisions derive from the assets (clearance.correlate.footprint).
    _footprint: list[Any] = field(default_factory=list, init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The recorded form. Its ``assets`` list is shared by every exposure with the same
        asset tuple (:data:`_ASSETS_JSON`): read it, never change it."""
        data: dict[str, Any] = {
            "inventory": self.inventory,
            "assets": assets_json(self.assets)[0],
        }
        if self.unresolved:
            data["unresolved"] = [{"reason": r.value, "detail": d} for r, d in self.unresolved]
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    def canonical_json(self, data: dict[str, Any]) -> bytes:
        """``canonical_json(data)`` for ``data = self.to_dict()``, its assets' bytes reused."""
        return canonical_members(data, {"assets": assets_json(self.assets)[1].data})

    def canonical_pieces(self, data: dict[str, Any]) -> list[bytes | Repeating]:
        """:meth:`canonical_json` as pieces, the assets' bytes (most of it) kept apart."""
        return member_pieces(data, {"assets": (assets_json(self.assets)[1],)})


# An exposure's assets in their recorded form and its canonical bytes (200 assets: ~0.25 ms per
# decision), kept per asset tuple: an unchanged target comes back with the same tuple.
_ASSETS_JSON: IdentityMemo[tuple[list[dict[str, str]], Repeating]] = IdentityMemo()


def assets_json(assets: tuple[ExposedAsset, ...]) -> tuple[list[dict[str, str]], Repeating]:
    """``assets`` as recorded (sorted, each ``to_dict``) and that list's canonical JSON."""

    def make() -> tuple[list[dict[str, str]], Repeating]:
        # A key sort: comparing the records field by field is slower.
        listed = [
            a.to_dict()
            for a in sorted(assets, key=lambda a: (a.proximity, a.ref.kind, a.ref.value, a.via))
        ]
        return listed, Repeating.of(canonical_json(listed))

    return _ASSETS_JSON.get((assets,), make)


class SourceHealth(msgspec.Struct, frozen=True):
    """What the decision knows about one source: when it last succeeded and last failed.

    Freshness (fresh, stale, down) is not stored here: it depends on ``now`` and on the policy's
    limit for the environment, so the engine derives it.
    """

    name: str
    last_success: datetime | None
    last_error: str | None = None
    last_error_at: datetime | None = None
    skipped: int = 0  # malformed items quarantined in the data this decision reads

    def __post_init__(self) -> None:
        if self.last_success is not None:
            msgspec.structs.force_setattr(self, "last_success", utc(self.last_success))
        if self.last_error_at is not None:
            msgspec.structs.force_setattr(self, "last_error_at", utc(self.last_error_at))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "last_success": None if self.last_success is None else format_time(self.last_success),
            "skipped": self.skipped,
        }
        error_at = None if self.last_error_at is None else format_time(self.last_error_at)
        return with_present(data, last_error=self.last_error, last_error_at=error_at)
