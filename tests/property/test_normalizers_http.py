"""Defender, SentinelOne and Wazuh normalizers: random garbage (random JSON, missing fields, wrong
types) beside real items never raises, never costs a real item, and is quarantined with a reason,
a location and a digest."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.sources.alertmanager.mapping import AlertmanagerNormalizer
from clearance.sources.defender.source import DefenderNormalizer
from clearance.sources.interface import Batch
from clearance.sources.sentinelone.source import SentinelOneNormalizer
from clearance.sources.wazuh.source import WazuhNormalizer
from property.random_json import JSON
from standins import alertmanager, defender, sentinelone, wazuh

NOT_AN_OBJECT = JSON.filter(lambda v: not isinstance(v, dict))


def _defender(n: int) -> dict[str, Any]:
    return defender.numbered_alert(n, defender.DefenderState().clock)


def _sentinelone(n: int) -> dict[str, Any]:
    return sentinelone.numbered_threat(n, sentinelone.SentinelOneState().clock)


def _wazuh(n: int) -> dict[str, Any]:
    return wazuh.numbered_alert(n, wazuh.WazuhState().clock)


# (make a valid item, its uid, the normalizer, how a page wraps items, the fields worth breaking)
Case = tuple[
    Callable[[int], dict[str, Any]],
    Callable[[dict[str, Any]], str],
    Callable[[], Any],
    Callable[[list[Any]], bytes],
    list[str],
]
CASES: dict[str, Case] = {
    "alertmanager": (
        lambda n: alertmanager.numbered_alert(n, alertmanager.AlertmanagerState().clock),
        lambda a: f"alertmanager:{a['fingerprint']}",
        AlertmanagerNormalizer,
        lambda items: json.dumps(items).encode(),  # GET /api/v2/alerts answers a plain list
        ["fingerprint", "labels", "annotations", "startsAt", "updatedAt", "generatorURL", "status"],
    ),
    "defender": (
        _defender,
        lambda a: f"defender:{a['id']}",
        DefenderNormalizer,
        lambda items: json.dumps({"value": items}).encode(),
        [
            "id",
            "title",
            "severity",
            "status",
            "classification",
            "firstEventTime",
            "lastEventTime",
            "computerDnsName",
            "mitreTechniques",
            "evidence",
        ],
    ),
    "sentinelone": (
        _sentinelone,
        lambda t: f"sentinelone:{t['id']}",
        SentinelOneNormalizer,
        lambda items: json.dumps({"data": items, "pagination": {}}).encode(),
        [
            "id",
            "threatInfo",
            "agentRealtimeInfo",
            "kubernetesInfo",
            "containerInfo",
            "indicators",
            "agentDetectionInfo",
        ],
    ),
    "wazuh": (
        _wazuh,
        lambda a: f"wazuh:{a['id']}:{a['agent']['id']}:{a['rule']['id']}",
        WazuhNormalizer,
        lambda items: b"\n".join(json.dumps(i).encode() for i in items),  # alerts.json lines
        ["id", "timestamp", "rule", "agent", "manager", "data", "decoder"],
    ),
}


def interleave(valid: list[Any], junk: list[Any], order: list[int]) -> list[Any]:
    items = list(valid)
    for thing, at in zip(junk, order, strict=False):
        items.insert(at % (len(items) + 1), thing)
    return items


def check(batch: Batch, valid_uids: set[str], total: int, garbage: int) -> None:
    assert valid_uids <= {s.uid for s in batch.signals}
    assert len(batch.signals) + len(batch.quarantined) == total
    assert len(batch.quarantined) >= garbage
    for bad in batch.quarantined:
        assert bad.reason
        assert bad.detail
        assert bad.location
        assert bad.digest.startswith("sha256:")


@pytest.mark.parametrize("vendor", sorted(CASES))
@settings(max_examples=120, deadline=None)
@given(
    junk=st.lists(NOT_AN_OBJECT, max_size=5),
    order=st.lists(st.integers(0, 50), min_size=5, max_size=5),
)
def test_non_objects_beside_real_items_are_all_quarantined(
    vendor: str, junk: list[Any], order: list[int]
) -> None:
    make, uid, normalizer, page, _ = CASES[vendor]
    valid = [make(n) for n in range(3)]
    items = interleave(valid, junk, order)
    batch = normalizer().normalize(page(items), location="upload")
    check(batch, {uid(v) for v in valid}, len(items), garbage=len(junk))


@pytest.mark.parametrize("vendor", sorted(CASES))
@settings(max_examples=150, deadline=None)
@given(data=st.data(), value=JSON, drop=st.booleans())
def test_any_value_or_absence_in_any_field_is_a_signal_or_quarantined(
    vendor: str, data: st.DataObject, value: Any, drop: bool
) -> None:
    make, uid, normalizer, page, fields = CASES[vendor]
    broken, neighbour = make(0), make(1)
    field = data.draw(st.sampled_from(fields))
    if drop:
        broken.pop(field, None)
    else:
        broken[field] = value
    batch = normalizer().normalize(page([broken, neighbour]))
    check(batch, {uid(neighbour)}, 2, garbage=0)


@pytest.mark.parametrize("vendor", sorted(CASES))
@settings(max_examples=80, deadline=None)
@given(junk=st.lists(st.dictionaries(st.text(max_size=12), JSON, max_size=4), max_size=4))
def test_random_objects_beside_real_items_never_cost_a_real_item(
    vendor: str, junk: list[dict[str, Any]]
) -> None:
    make, uid, normalizer, page, _ = CASES[vendor]
    valid = [make(n) for n in range(2)]
    items = [*junk, *valid]
    batch = normalizer().normalize(page(items))
    # A random object lacks the required id and time: it is quarantined, not guessed at.
    check(batch, {uid(v) for v in valid}, len(items), garbage=len(junk))


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_are_a_batch_never_an_exception(data: bytes) -> None:
    for normalizer in (DefenderNormalizer(), SentinelOneNormalizer(), WazuhNormalizer()):
        batch = normalizer.normalize(data, location="upload")
        for bad in batch.quarantined:
            assert bad.reason
            assert bad.digest.startswith("sha256:")
