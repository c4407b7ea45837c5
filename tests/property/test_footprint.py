"""An exposure's cached footprint changes nothing a decision reads.

The footprint (clearance/correlate.py) is cached by the exposure's content; here every use of
it is compared with the derivation it replaced, asset by asset, on generated exposures whose
assets collide on index keys (short and long host names, container id prefixes, an image by tag
and by digest), for an exposure seen first, one sharing its asset tuple, and an equal one built
afresh.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from builders import NOW, signal, target
from clearance.correlate import SignalIndex, _touches, footprint
from clearance.engine import digest_inputs
from clearance.model import ExposedAsset, Exposure, Proximity, Snapshot, parse_asset
from clearance.model.assets import index_keys
from clearance.model.snapshot import Match

DIGEST = "sha256:" + "ab" * 32
UNIVERSE = [
    "host:web-1", "host:web-1.corp", "host:web-1.lab", "host:node-2.eu-west-1.compute.internal",
    "ip:10.0.0.1", "ip:10.0.0.2", "instance:i-0abc", "pod:shop/api-1", "pod:shop/api-2",
    "container:0123456789ab", "container:0123456789abcdef0123", "container:0123456789abffff",
    "image:ghcr.io/acme/api:1.0", f"image:ghcr.io/acme/api:1.0@{DIGEST}", f"image:{DIGEST}",
    "image:nginx", "namespace:prod-eu/shop", "cluster:prod-eu", "workload:prod-eu/shop/api",
]  # fmt: skip
TARGET = target()

exposed_assets = st.lists(
    st.builds(
        lambda p, ref, via: (p, ref, via),
        st.sampled_from(list(Proximity)),
        st.sampled_from(UNIVERSE),
        st.sampled_from(["", "static", "k8s"]),
    ),
    max_size=30,
)
signal_assets = st.lists(
    st.lists(st.sampled_from(UNIVERSE), min_size=1, max_size=3, unique=True), max_size=12
)


def _exposure(parts: list[tuple[Proximity, str, str]]) -> Exposure:
    # Parsed afresh each time: equal content, new objects, as an inventory answers each request.
    assets = tuple(ExposedAsset(p, parse_asset(ref), via) for p, ref, via in parts)
    return Exposure(target=TARGET, assets=assets, inventory="test")


def _match_asset_by_asset(index: SignalIndex, exposure: Exposure) -> tuple[Match, ...]:
    """The matching as it was before footprints: every asset's keys looked up in turn."""
    best: dict[str, Match] = {}
    for exposed in exposure.assets:
        for key in index_keys(exposed.ref):
            for uid, (s, ref) in index._by_key.get(key, {}).items():
                if not _touches(s, ref, exposed.ref):
                    continue
                current = best.get(uid)
                if current is None or (exposed.proximity, exposed) < (
                    current.proximity,
                    current.matched,
                ):
                    best[uid] = Match(signal=s, proximity=exposed.proximity, matched=exposed)
    return tuple(best[uid] for uid in sorted(best))


@settings(max_examples=200, deadline=None)
@given(exposed_assets, signal_assets)
def test_the_footprint_is_what_the_assets_give(
    parts: list[tuple[Proximity, str, str]], assets: list[list[str]]
) -> None:
    first = _exposure(parts)
    same_tuple = Exposure(target=TARGET, assets=first.assets, inventory="test")
    # Computed, then by the tuple's identity, then by content (an equal tuple built afresh).
    for exposure in (first, same_tuple, _exposure(parts)):
        found = footprint(exposure)
        keys = {key for a in exposure.assets for key in index_keys(a.ref)}
        assert found.keys == tuple(sorted(keys))
        lines = sorted(
            "|".join((a.proximity.label, a.ref.kind, a.ref.value, a.via)) for a in exposure.assets
        )
        assert found.digest_lines == "\n".join(lines).encode()
        counted = Counter(a.proximity for a in exposure.assets)
        assert dict(found.by_proximity) == {Proximity(p).label: n for p, n in counted.items()}
        assert list(dict(found.by_proximity)) == [
            Proximity(p).label for p in counted
        ]  # the same order too: the decision records it as a dict

        index = SignalIndex(signal(f"edr:{i}", assets=tuple(a)) for i, a in enumerate(assets))
        assert index.match(exposure) == _match_asset_by_asset(index, exposure)


@settings(max_examples=100, deadline=None)
@given(exposed_assets)
def test_the_inputs_digest_is_unchanged(parts: list[tuple[Proximity, str, str]]) -> None:
    exposure = _exposure(parts)
    snapshot = Snapshot(exposure, (), ())
    h = hashlib.sha256()
    digest = digest_inputs(TARGET, snapshot, NOW)
    # The same digest from an equal exposure that the cache already knows, and from the
    # bytes the engine hashed before the footprint existed.
    assert digest_inputs(TARGET, Snapshot(_exposure(parts), (), ()), NOW) == digest
    lines = sorted(
        "|".join((a.proximity.label, a.ref.kind, a.ref.value, a.via)) for a in exposure.assets
    )
    h.update("\n".join(lines).encode())
    assert footprint(exposure).digest_lines == "\n".join(lines).encode()
