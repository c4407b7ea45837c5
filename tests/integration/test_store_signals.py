"""Signals upsert by uid with history and an asset index; sources keep health and watermarks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from builders import NOW, signal
from clearance.model import SignalStatus, parse_asset
from clearance.model.assets import index_keys
from clearance.sources.interface import Quarantined
from clearance.store.sql import SqlStore


def _keys(*refs: str) -> list[str]:
    return [k for ref in refs for k in index_keys(parse_asset(ref))]


def test_upsert_counts_inserts_updates_and_unchanged(store: SqlStore) -> None:
    a, b = signal("edr:1"), signal("edr:2", assets=("host:node-2",))
    first = store.upsert_signals([a, b], NOW)
    assert (first.inserted, first.updated, first.unchanged, first.status_changes) == (2, 0, 0, 2)
    later = replace(a, last_seen=a.last_seen + timedelta(minutes=5), count=2)
    second = store.upsert_signals([later, b], NOW)
    assert (second.inserted, second.updated, second.unchanged, second.status_changes) == (
        0,
        1,
        1,
        0,
    )
    assert store.get_signal("edr:1") == later


def test_first_seen_is_kept_and_last_seen_only_moves_forward(store: SqlStore) -> None:
    original = signal("edr:1")
    store.upsert_signals([original], NOW)
    refetched = replace(
        original,
        first_seen=original.first_seen + timedelta(minutes=1),  # the vendor's rolled-up view
        last_seen=original.last_seen + timedelta(hours=1),
    )
    store.upsert_signals([refetched], NOW)
    stored = store.get_signal("edr:1")
    assert stored.first_seen == original.first_seen
    assert stored.last_seen == refetched.last_seen


def test_an_older_copy_does_not_reopen_a_resolved_signal(store: SqlStore) -> None:
    opened = signal("edr:1")
    resolved = replace(
        opened, status=SignalStatus.RESOLVED, last_seen=opened.last_seen + timedelta(hours=1)
    )
    store.upsert_signals([resolved], NOW)
    counts = store.upsert_signals([opened], NOW + timedelta(minutes=1))  # a late, older page
    assert counts.unchanged == 1
    assert store.get_signal("edr:1").status is SignalStatus.RESOLVED


def test_status_changes_are_kept_as_history(store: SqlStore) -> None:
    s = signal("edr:1")
    store.upsert_signals([s], NOW)
    store.upsert_signals(
        [replace(s, status=SignalStatus.IN_PROGRESS, last_seen=s.last_seen + timedelta(1))],
        NOW + timedelta(hours=1),
    )
    store.upsert_signals(
        [replace(s, status=SignalStatus.RESOLVED, last_seen=s.last_seen + timedelta(2))],
        NOW + timedelta(hours=2),
    )
    assert store.signal_status_history("edr:1") == (
        (NOW, "open"),
        (NOW + timedelta(hours=1), "in_progress"),
        (NOW + timedelta(hours=2), "resolved"),
    )


def test_duplicates_within_a_batch_fold_into_one(store: SqlStore) -> None:
    early = signal("edr:1", age=timedelta(hours=2))
    late = signal("edr:1", age=timedelta(minutes=1))
    counts = store.upsert_signals([late, early], NOW)
    assert counts.inserted == 1
    stored = store.get_signal("edr:1")
    assert (stored.first_seen, stored.last_seen) == (early.first_seen, late.last_seen)


def test_later_events_add_to_the_fold_and_a_reread_does_not(store: SqlStore) -> None:
    first = signal("falco:1", age=timedelta(minutes=30))
    first = replace(first, last_seen=first.first_seen + timedelta(minutes=5), count=3)
    store.upsert_signals([first], NOW)
    later = replace(
        first,
        first_seen=first.last_seen + timedelta(minutes=1),
        last_seen=first.last_seen + timedelta(minutes=2),
        count=2,
    )
    store.upsert_signals([later], NOW)
    stored = store.get_signal("falco:1")
    assert stored.count == 5  # three events pushed, then two more
    assert (stored.first_seen, stored.last_seen) == (first.first_seen, later.last_seen)
    again = store.upsert_signals([first, later], NOW)  # the same events, read again
    assert again.unchanged == 1
    assert store.get_signal("falco:1").count == 5


def test_signals_touching_finds_candidates_through_index_keys(store: SqlStore) -> None:
    digest = "sha256:" + "ab" * 32
    store.upsert_signals(
        [
            signal("edr:fqdn", assets=("host:node-1.corp.example",)),
            signal("edr:other", assets=("host:node-9",)),
            signal("vuln:img", assets=(f"image:registry.example/shop/api@{digest}",)),
            signal("falco:c", assets=("container:0123456789abcdef0123",)),
        ],
        NOW,
    )
    found = store.signals_touching(_keys("host:node-1", "container:0123456789ab"))
    assert [s.uid for s in found] == ["edr:fqdn", "falco:c"]
    by_digest = store.signals_touching(_keys(f"image:other.example/mirror/api@{digest}"))
    assert [s.uid for s in by_digest] == ["vuln:img"]
    assert store.signals_touching(_keys("host:node-2")) == ()


def test_moving_a_signal_to_other_assets_reindexes_it(store: SqlStore) -> None:
    s = signal("edr:1", assets=("host:node-1",))
    store.upsert_signals([s], NOW)
    moved = replace(s, assets=(parse_asset("host:node-2"),), last_seen=s.last_seen + timedelta(1))
    store.upsert_signals([moved], NOW)
    assert store.signals_touching(_keys("host:node-1")) == ()
    assert [x.uid for x in store.signals_touching(_keys("host:node-2"))] == ["edr:1"]


def test_large_batches_cross_the_chunk_size(store: SqlStore) -> None:
    batch = [signal(f"edr:{i}", assets=(f"host:n-{i % 7}",)) for i in range(1203)]
    assert store.upsert_signals(batch, NOW).inserted == 1203
    assert store.upsert_signals(batch, NOW).unchanged == 1203
    assert len(store.signals_touching(_keys("host:n-3"))) == len(range(3, 1203, 7))


def test_source_health_watermark_and_quarantine_counts(store: SqlStore) -> None:
    store.record_source_success("falcon", NOW, watermark="page-7")
    store.record_source_failure("falcon", "HTTP 503 from api.crowdstrike.com", NOW + timedelta(1))
    store.record_source_failure("guardduty", "AccessDenied", NOW)
    bad = [
        Quarantined("falcon", "missing_field", "no device_id", "sha256:1", "resources[3]", b"{}"),
        Quarantined("falcon", "missing_field", "no device_id", "sha256:1", "resources[3]", b"{}"),
        Quarantined("falcon", "bad_asset", "invalid MAC", "sha256:2", "resources[4]", b"{}"),
    ]
    assert store.add_quarantined(bad, NOW) == 2
    assert store.add_quarantined(bad, NOW) == 0  # a re-fetch of the same bad items
    falcon, guardduty = store.source_states()
    assert falcon.name == "falcon"
    assert falcon.last_success == NOW
    assert falcon.last_error == "HTTP 503 from api.crowdstrike.com"
    assert falcon.last_error_at == NOW + timedelta(1)
    assert falcon.watermark == "page-7"
    assert dict(falcon.quarantined) == {"bad_asset": 1, "missing_field": 1}
    assert guardduty.last_success is None
    health = {h.name: h for h in store.source_health()}
    assert health["falcon"].skipped == 2
    assert health["guardduty"].last_error == "AccessDenied"


def test_watermark_survives_success_without_one_and_can_be_reset(store: SqlStore) -> None:
    assert store.get_watermark("falcon") is None
    store.set_watermark("falcon", "2026-11-28T11:00:00Z")
    store.record_source_success("falcon", NOW)
    assert store.get_watermark("falcon") == "2026-11-28T11:00:00Z"
    store.set_watermark("falcon", None)
    assert store.get_watermark("falcon") is None
