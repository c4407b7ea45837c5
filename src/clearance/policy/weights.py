"""The policy's scoring numbers as lookup tables, built once per policy."""

from __future__ import annotations

from dataclasses import dataclass

from clearance.model.signal import Severity, SignalKind
from clearance.model.target import Proximity
from clearance.policy.schema import Scoring


@dataclass(frozen=True, slots=True)
class Weights:
    """The policy's scoring numbers as tables, built once per policy (not parsed per signal)."""

    severity: tuple[float, ...]  # indexed by OCSF severity_id
    proximity: tuple[float, ...]  # indexed by Proximity rank
    half_life: dict[SignalKind, int]  # seconds

    @classmethod
    def of(cls, scoring: Scoring) -> Weights:
        return cls(
            severity=tuple(scoring.severity_weight(s) for s in Severity),
            proximity=tuple(scoring.proximity_weight(p) for p in Proximity),
            half_life={k: scoring.half_life(k) for k in SignalKind},
        )
