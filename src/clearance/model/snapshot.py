"""Snapshot: everything ``decide`` reads besides the policy and the clock.

A snapshot round-trips through JSON (``to_dict`` / ``snapshot_from_dict``) so the audit log can
store it and replay the decision byte for byte.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from clearance.model.assets import AssetRef, parse_asset
from clearance.model.canonical import (
    Repeating,
    canonical_json,
    canonical_members,
    joined_pieces,
    member_pieces,
)
from clearance.model.checks import CheckEvidence
from clearance.model.coverage import HostCoverage
from clearance.model.drift import Drift
from clearance.model.exemptions import Exemption
from clearance.model.memo import IdentityMemo
from clearance.model.podspec import PodSpecView
from clearance.model.reports import Report
from clearance.model.signal import Signal, parse_time, signal_from_dict
from clearance.model.target import (
    ChangeInfo,
    ExposedAsset,
    Exposure,
    Proximity,
    SourceHealth,
    Target,
    UnresolvedReason,
)


class Match(NamedTuple):
    """A signal that touches the target, at its closest proximity, through ``matched``.

    Immutable like the other records, but a named tuple rather than a frozen dataclass (as
    :class:`~clearance.model.decision.Contribution`): every decision builds one per signal
    touching the target, and the frozen dataclass's ``__init__`` cost 0.85 µs a match (three
    ``object.__setattr__``), a tuple ~0.1 µs.
    """

    signal: Signal
    proximity: Proximity
    matched: ExposedAsset


class Snapshot(msgspec.Struct, frozen=True):
    exposure: Exposure
    matches: tuple[Match, ...]
    sources: tuple[SourceHealth, ...]
    exemptions: tuple[Exemption, ...] = ()  # granted at run time (API), beside the policy's own
    # The images this deploy brings (``--image``, the admitted object's, the manifest's): what
    # lets a decision tell a vulnerability the deploy introduces from one it fixes or keeps.
    deploying: tuple[AssetRef, ...] = ()
    # Reports about the change the request brought (test results, code scanning), in the order
    # given: the engine turns their findings into signals on the workload.
    reports: tuple[Report, ...] = ()
    # For each host the target touches that some agent inventory names: those agents (a host
    # no inventory names has no entry). Read by the policy's coverage requirements.
    coverage: tuple[HostCoverage, ...] = ()
    # The images the workload runs that its last recorded decision never decided, if any.
    drift: Drift | None = None
    # Failed post-deploy checks of the release running on the target, or of this release in
    # another environment (:mod:`clearance.model.checks`), as the service found them.
    checks: tuple[CheckEvidence, ...] = ()
    # The compared subset of the workload's live pod template and of the manifest's
    # (model/podspec.py), for the next decision's drift check; None where not known.
    template: PodSpecView | None = None
    deploying_template: PodSpecView | None = None

    @property
    def target(self) -> Target:
        return self.exposure.target

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.exposure.target.to_dict(),
            "exposure": self.exposure.to_dict(),
            "matches": matches_json(self._sorted_matches())[0],
            "sources": [s.to_dict() for s in sorted(self.sources, key=lambda s: s.name)],
            "exemptions": [e.to_dict() for e in sorted(self.exemptions, key=lambda e: e.id)],
            # Left out when unknown: snapshots recorded before it existed keep their bytes.
            **({"deploying": [str(a) for a in self.deploying]} if self.deploying else {}),
            **({"reports": [r.to_dict() for r in self.reports]} if self.reports else {}),
            **({"coverage": [c.to_dict() for c in self.coverage]} if self.coverage else {}),
            **({"drift": self.drift.to_dict()} if self.drift is not None else {}),
            **({"checks": [c.to_dict() for c in self.checks]} if self.checks else {}),
            **({"pod_spec": self.pod_spec()} if self._has_template else {}),
        }

    def canonical_json(self, data: dict[str, Any]) -> bytes:
        """``canonical_json(data)`` for ``data = self.to_dict()``: the exposure's assets and the
        matches spliced from the bytes kept for them (:func:`assets_json`,
        :func:`matches_json`), the rest encoded."""
        return self.canonical_parts(data)[0]

    def canonical_parts(self, data: dict[str, Any]) -> tuple[bytes, list[bytes | Repeating]]:
        """:meth:`canonical_json` and the same bytes as pieces, the exposure's assets and the
        matches kept apart: the parts that repeat from one decision of a target to the next
        (the decision log stores each once: clearance.store.record_parts)."""
        exposure = self.exposure.canonical_pieces(data["exposure"])
        matches = matches_json(self._sorted_matches())[1]
        pieces = member_pieces(data, {"exposure": exposure, "matches": (matches,)})
        return joined_pieces(pieces), pieces

    def _sorted_matches(self) -> list[Match]:
        return sorted(self.matches, key=lambda m: m.signal.uid)

    @property
    def _has_template(self) -> bool:
        return self.template is not None or self.deploying_template is not None

    def pod_spec(self) -> dict[str, Any]:
        """The recorded templates: ``live``, ``deploying`` (each only when known), each with
        its digest."""
        out: dict[str, Any] = {}
        for key, view in (("live", self.template), ("deploying", self.deploying_template)):
            if view is not None:
                out[key] = {**view.to_dict(), "digest": view.digest}
        return out


# A signal's recorded form and its canonical bytes, kept per Signal object: the service's signal
# cache hands every decision of a target the same objects while no signal is written.
_SIGNAL_JSON: IdentityMemo[tuple[dict[str, Any], bytes]] = IdentityMemo(4096)


# The matches' recorded form and canonical bytes, kept per run of (signal, proximity, asset)
# objects: a target asked again while its signals and assets are unchanged matches the same ones.
_MATCHES_JSON: IdentityMemo[tuple[list[dict[str, Any]], Repeating]] = IdentityMemo()


def matches_json(matches: list[Match]) -> tuple[list[dict[str, Any]], Repeating]:
    """``matches`` (sorted) as recorded (shared: read it, never change it) and that list's
    canonical JSON."""

    def make() -> tuple[list[dict[str, Any]], Repeating]:
        listed, encoded = [], []
        for m in matches:
            signal, signal_bytes = signal_json(m.signal)
            match = {
                "signal": signal,
                "proximity": m.proximity.label,
                "matched": m.matched.to_dict(),
            }
            listed.append(match)
            encoded.append(canonical_members(match, {"signal": signal_bytes}))
        return listed, Repeating.of(b"[" + b",".join(encoded) + b"]")

    return _MATCHES_JSON.get(tuple(obj for m in matches for obj in m), make)


def signal_json(signal: Signal) -> tuple[dict[str, Any], bytes]:
    """``signal.to_dict()`` (shared: read it, never change it) and its canonical JSON."""

    def make() -> tuple[dict[str, Any], bytes]:
        data = signal.to_dict()
        return data, canonical_json(data)

    return _SIGNAL_JSON.get((signal,), make)


def target_from_dict(data: dict[str, Any]) -> Target:
    change = data.get("change") or {}
    return Target.of(
        environment=data["environment"],
        cluster=data["cluster"],
        namespace=data["namespace"],
        workload=data["workload"],
        images=tuple(data.get("images", ())),
        change=ChangeInfo(
            commit=change.get("commit"),
            pipeline_run=change.get("pipeline_run"),
            actor=change.get("actor"),
        ),
    )


def _exposed_from_dict(data: dict[str, Any]) -> ExposedAsset:
    return ExposedAsset(
        proximity=Proximity[data["proximity"].upper()],
        ref=parse_asset(data["ref"]),
        via=data.get("via", ""),
    )


def _exemption_from_dict(data: dict[str, Any]) -> Exemption:
    return Exemption(
        id=data["id"],
        signal=data.get("signal"),
        rule=data.get("rule"),
        environment=data["environment"],
        cluster=data["cluster"],
        namespace=data["namespace"],
        workload=data["workload"],
        expires=parse_time(data["expires"]),
        reason=data["reason"],
        ticket=data["ticket"],
        approver=data["approver"],
        created_by=data.get("created_by"),
    )


def snapshot_from_dict(data: dict[str, Any]) -> Snapshot:
    """Rebuild a snapshot recorded by :meth:`Snapshot.to_dict` (for audit replay)."""
    target = target_from_dict(data["target"])
    exp = data["exposure"]
    exposure = Exposure(
        target=target,
        assets=tuple(_exposed_from_dict(a) for a in exp["assets"]),
        inventory=exp["inventory"],
        unresolved=tuple(
            (UnresolvedReason(u["reason"]), u["detail"]) for u in exp.get("unresolved", ())
        ),
        notes=tuple(exp.get("notes", ())),
    )
    matches = tuple(
        Match(
            signal=signal_from_dict(m["signal"]),
            proximity=Proximity[m["proximity"].upper()],
            matched=_exposed_from_dict(m["matched"]),
        )
        for m in data["matches"]
    )
    sources = tuple(
        SourceHealth(
            name=s["name"],
            last_success=None if s["last_success"] is None else parse_time(s["last_success"]),
            last_error=s.get("last_error"),
            last_error_at=None
            if s.get("last_error_at") is None
            else parse_time(s["last_error_at"]),
            skipped=s.get("skipped", 0),
        )
        for s in data["sources"]
    )
    exemptions = tuple(_exemption_from_dict(e) for e in data.get("exemptions", ()))
    deploying = tuple(parse_asset(a) for a in data.get("deploying", ()))
    return Snapshot(
        exposure=exposure,
        matches=matches,
        sources=sources,
        exemptions=exemptions,
        deploying=deploying,
        reports=tuple(Report.from_dict(r) for r in data.get("reports", ())),
        coverage=tuple(HostCoverage.from_dict(c) for c in data.get("coverage", ())),
        drift=Drift.from_dict(data["drift"]) if data.get("drift") else None,
        checks=tuple(CheckEvidence.from_dict(c) for c in data.get("checks", ())),
        template=_template(data, "live"),
        deploying_template=_template(data, "deploying"),
    )


def _template(data: dict[str, Any], key: str) -> PodSpecView | None:
    recorded = (data.get("pod_spec") or {}).get(key)
    return None if recorded is None else PodSpecView.from_dict(recorded)
