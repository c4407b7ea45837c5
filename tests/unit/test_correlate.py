from __future__ import annotations

from builders import exposure, signal, target
from clearance.correlate import SignalIndex, footprint
from clearance.model import Proximity


def test_a_signal_reached_through_several_assets_is_matched_once_at_its_closest() -> None:
    tgt = target()
    exp = exposure(
        tgt, direct=("pod:shop/api-1",), host=("host:node-1",), cluster=("cluster:prod-eu",)
    )
    s = signal("edr:1", assets=("host:node-1", "pod:shop/api-1", "cluster:prod-eu"))
    matches = SignalIndex([s]).match(exp)
    assert len(matches) == 1
    assert matches[0].proximity is Proximity.DIRECT
    assert str(matches[0].matched.ref) == "pod:shop/api-1"


def test_signals_on_other_assets_do_not_match() -> None:
    tgt = target()
    index = SignalIndex(
        [signal("edr:1", assets=("host:node-2",)), signal("edr:2", assets=("host:node-1.corp",))]
    )
    matches = index.match(exposure(tgt, host=("host:node-1",)))
    assert [m.signal.uid for m in matches] == ["edr:2"]


def test_fqdn_in_another_domain_does_not_match_even_with_the_same_short_name() -> None:
    index = SignalIndex([signal("edr:1", assets=("host:web-1.lab.local",))])
    assert index.match(exposure(target(), host=("host:web-1.prod.local",))) == ()


def test_a_newer_copy_of_a_signal_replaces_the_older_ones_content() -> None:
    index = SignalIndex([signal("edr:1", assets=("host:node-1",))])
    index.add(signal("edr:1", assets=("host:node-9",)))
    assert len(index) == 1
    assert index.match(exposure(target(), host=("host:node-1",))) == ()
    assert len(index.match(exposure(target(), host=("host:node-9",)))) == 1


def test_a_removed_signal_no_longer_matches() -> None:
    index = SignalIndex([signal("edr:1")])
    index.remove("edr:1")
    assert index.match(exposure(target(), host=("host:node-1",))) == ()


def test_exposures_alike_at_the_cache_probe_keep_their_own_footprints() -> None:
    # Same count, first, middle and last asset (what the cache probes), different between:
    # each must get the footprint of its own content, whichever came first, every time.
    tgt = target()
    ends = ("pod:shop/api-1", "pod:shop/api-5", "pod:shop/api-9")
    a = ("pod:shop/api-1", "pod:shop/api-2", "pod:shop/api-5", "pod:shop/api-6", "pod:shop/api-9")
    b = ("pod:shop/api-1", "pod:shop/api-3", "pod:shop/api-5", "pod:shop/api-7", "pod:shop/api-9")
    assert {a[0], a[2], a[4]} == {b[0], b[2], b[4]} == set(ends)
    for _ in range(2):
        for refs in (a, b, a):
            keys = footprint(exposure(tgt, direct=refs)).keys
            assert keys == tuple(sorted(refs))
