"""The policy's scoring numbers as lookup tables, built once per policy."""

from __future__ import annotations

import msgspec

from clearance.model.signal import Severity, SignalKind
from clearance.model.target import Proximity
from clearance.policy.schema import Scoring


class Weights(msgspec.Struct, frozen=True):
    """The policy's scoring numbers as tables, built once per policy (not parsed per signal)."""

    severity: dict[SignalKind, tuple[float, ...]]  # per kind, indexed by OCSF severity_id
    proximity: tuple[float, ...]  # indexed by Proximity rank
    half_life: dict[SignalKind, int]  # seconds; a kind the policy does not weigh is absent
    caps: dict[SignalKind, float]  # kinds whose combined contribution is bounded
    changes: dict[str, float]  # "introduced"/"unchanged"/"fixed" → weight; empty: all count 1
    # The policy sets something per kind (``scoring.kinds``): decisions then say which kind each
    # contribution is. A policy without it decides exactly as before (same bytes on replay).
    by_kind: bool = False

    @classmethod
    def of(cls, scoring: Scoring) -> Weights:
        return cls(
            severity={
                k: tuple(scoring.severity_weight(s, k) for s in Severity) for k in SignalKind
            },
            proximity=tuple(scoring.proximity_weight(p) for p in Proximity),
            half_life={k: scoring.half_life(k) for k in SignalKind if scoring.weighs(k)},
            caps={k: c for k in SignalKind if (c := scoring.cap(k)) is not None},
            changes={str(k): v for k, v in scoring.changes.items()},
            by_kind=bool(scoring.kinds),
        )
