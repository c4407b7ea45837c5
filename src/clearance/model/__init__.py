"""The domain types: frozen dataclasses that hold their own invariants, and nothing else."""

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
