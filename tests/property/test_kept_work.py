"""Work kept across decisions (model/memo.py) gives exactly what doing it again gives.

The service keeps, per asset tuple, an exposure's recorded form and canonical bytes, its direct
images, and reads back a recorded exposure's images by the identity of its assets list. Each is
checked here against the same work done from scratch on equal but *new* objects: the recorded
snapshot's bytes (RFC 8785, as ``rfc8785`` writes them), its hash, and the drift found.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import NOW, fresh, signal, target
from clearance.correlate import SignalIndex
from clearance.model import Snapshot, canonical_json
from clearance.model.assets import parse_asset
from clearance.model.canonical import canonical_members, joined_pieces
from clearance.model.drift import find_drift
from clearance.model.signal import Severity
from clearance.model.target import ExposedAsset, Exposure, Proximity, UnresolvedReason
from clearance.store.record_parts import joined, stored_pieces

TGT = target()
REFS = [
    "pod:shop/api-1",
    "pod:shop/api-2",
    "image:ghcr.io/acme/api:1.0",
    "image:ghcr.io/acme/api:1.1",
    "image:ghcr.io/acme/worker@sha256:" + "a" * 64,
    "host:node-1.eu-west-1.compute.internal",
    "ip:10.0.0.7",
    "namespace:prod-eu/shop",
    "cluster:prod-eu",
]
# Texts a via or a note may hold: ASCII, accents, and a non-BMP character (RFC 8785 sorts keys
# by UTF-16 code units and the fast encoder falls back on 4-byte UTF-8).
texts = st.text(alphabet=st.sampled_from(["a", "é", "😀", '"', "\\", "\n", " "]), max_size=6)

exposed = st.builds(
    ExposedAsset,
    proximity=st.sampled_from(list(Proximity)),
    ref=st.sampled_from(REFS).map(parse_asset),
    via=texts,
)


@st.composite
def exposures(draw: st.DrawFn) -> Exposure:
    return Exposure(
        target=TGT,
        assets=tuple(draw(st.lists(exposed, max_size=12))),
        inventory=draw(st.sampled_from(["static", "kubernetes"])),
        unresolved=tuple(
            draw(st.lists(st.tuples(st.sampled_from(list(UnresolvedReason)), texts), max_size=2))
        ),
        notes=tuple(draw(st.lists(texts, max_size=2))),
    )


def again(exposure: Exposure) -> Exposure:
    """An equal exposure made of new objects: nothing kept for the first applies to it."""
    assets = tuple(
        ExposedAsset(a.proximity, parse_asset(str(a.ref)), a.via) for a in exposure.assets
    )
    return Exposure(
        exposure.target, assets, exposure.inventory, exposure.unresolved, exposure.notes
    )


@settings(max_examples=200)
@given(exposures(), st.lists(st.sampled_from(REFS), max_size=4))
def test_a_snapshots_recorded_bytes_are_the_same_kept_or_not(
    exposure: Exposure, touched: list[str]
) -> None:
    signals = [signal(f"edr:{n}", assets=(ref,)) for n, ref in enumerate(touched)]
    snapshot = Snapshot(exposure, SignalIndex(signals).match(exposure), (fresh(),))
    data = snapshot.to_dict()
    expected = bytes(rfc8785.dumps(data))
    assert snapshot.canonical_json(data) == expected
    assert canonical_json(data) == expected
    # Asked again (kept), and for a new equal exposure (not kept): the same form, the same bytes.
    assert snapshot.to_dict() == data
    assert snapshot.canonical_json(snapshot.to_dict()) == expected
    fresh_snapshot = Snapshot(again(exposure), snapshot.matches, snapshot.sources)
    assert fresh_snapshot.to_dict() == data
    assert fresh_snapshot.canonical_json(fresh_snapshot.to_dict()) == expected


@settings(max_examples=150)
@given(
    exposures(),
    st.lists(st.sampled_from(REFS), min_size=1, max_size=4),
    st.sampled_from(list(Severity)),
    st.floats(0.01, 1.0),
)
def test_a_changed_signal_is_recorded_as_it_now_is_never_as_kept(
    exposure: Exposure, touched: list[str], severity: Severity, confidence: float
) -> None:
    """The matches' bytes are kept per run of signal and asset objects: a signal written
    again (a new object, other fields) is recorded as it now is, whole and as stored pieces."""
    before = [signal(f"edr:{n}", assets=(ref,)) for n, ref in enumerate(touched)]
    first = Snapshot(exposure, SignalIndex(before).match(exposure), (fresh(),))
    first.canonical_json(first.to_dict())  # kept
    after = [
        signal(f"edr:{n}", assets=(ref,), severity=severity, confidence=confidence)
        for n, ref in enumerate(touched)
    ]
    second = Snapshot(exposure, SignalIndex(after).match(exposure), (fresh(),))
    data = second.to_dict()
    expected = bytes(rfc8785.dumps(json.loads(json.dumps(data))))
    whole, pieces = second.canonical_parts(data)
    assert whole == expected
    assert joined_pieces(pieces) == expected
    text, parts = stored_pieces(pieces, min_part=1)
    assert joined(text.decode(), {d: b.decode() for d, b in parts.items()}).encode() == expected
    assert all(hashlib.sha256(b).hexdigest() == d for d, b in parts.items())


@settings(max_examples=200)
@given(exposures(), exposures(), st.lists(st.sampled_from(REFS[2:5]), max_size=2))
def test_drift_is_the_same_against_a_kept_or_a_read_back_record(
    previous: Exposure, now_running: Exposure, bringing: list[str]
) -> None:
    recorded = Snapshot(previous, (), (fresh(),)).to_dict()
    read_back = json.loads(json.dumps(recorded))  # what a read of the log returns: new objects
    deploying = [parse_asset(ref) for ref in bringing]
    at = NOW - timedelta(hours=1)
    expected = find_drift(again(now_running), deploying, "d-1", at, read_back)
    assert find_drift(now_running, deploying, "d-1", at, recorded) == expected
    assert find_drift(now_running, deploying, "d-1", at, recorded) == expected  # kept
    assert find_drift(now_running, deploying, "d-1", at, read_back) == expected


@given(st.dictionaries(texts, st.integers(-(2**53) + 1, 2**53 - 1) | texts, max_size=5))
def test_spliced_members_are_rfc_8785_for_any_keys(data: dict[str, Any]) -> None:
    known = {key: canonical_json(value) for key, value in list(data.items())[:2]}
    assert canonical_members(data, known) == bytes(rfc8785.dumps(data))
