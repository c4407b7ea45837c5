"""The domain types: frozen records that hold their own invariants, and nothing else.

The records a ``clearance check`` creates are frozen ``msgspec.Struct`` classes, not frozen
dataclasses: the check creates some forty such classes at start-up, and ``dataclasses``
generates and compiles six methods for each (0.6-0.7 ms a class, ~26 ms of a ~140 ms check,
measured); a Struct class is made in C in ~20 µs. ``Exposure`` and ``Signal`` stay dataclasses:
their memo fields (``init=False, compare=False``) have no Struct equivalent that keeps equality.
On a Struct, use ``msgspec.structs.replace``, and ``msgspec.structs.force_setattr`` in a frozen
one's ``__post_init__``.
"""

from clearance.model.assets import AssetKind, AssetRef, ImageRef, asset, parse_asset, parse_image
from clearance.model.canonical import canonical_json
from clearance.model.decision import (
    Contribution,
    Decision,
    Freshness,
    Reason,
    SourceFreshness,
    Verdict,
)
from clearance.model.exemptions import Exemption
from clearance.model.signal import (
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    format_time,
    parse_time,
    signal_from_dict,
)
from clearance.model.snapshot import Match, Snapshot, snapshot_from_dict, target_from_dict
from clearance.model.target import (
    ChangeInfo,
    ExposedAsset,
    Exposure,
    Proximity,
    SourceHealth,
    Target,
    UnresolvedReason,
    WorkloadRef,
)

__all__ = [
    "AssetKind",
    "AssetRef",
    "ChangeInfo",
    "Contribution",
    "Decision",
    "Exemption",
    "ExposedAsset",
    "Exposure",
    "Freshness",
    "ImageRef",
    "Match",
    "Proximity",
    "Reason",
    "Severity",
    "Signal",
    "SignalKind",
    "SignalStatus",
    "SignalUid",
    "Snapshot",
    "SourceFreshness",
    "SourceHealth",
    "Target",
    "UnresolvedReason",
    "Verdict",
    "WorkloadRef",
    "asset",
    "canonical_json",
    "format_time",
    "parse_asset",
    "parse_image",
    "parse_time",
    "signal_from_dict",
    "snapshot_from_dict",
    "target_from_dict",
]
