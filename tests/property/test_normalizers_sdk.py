"""Falcon and GuardDuty normalizers: random garbage beside real items never raises, never costs a
real item, and every piece of garbage is quarantined with a reason and a location."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.sources.falcon.mapping import FalconNormalizer, map_alerts
from clearance.sources.guardduty.mapping import GuardDutyNormalizer, map_findings
from property.random_json import JSON
from standins.falcon import fixture
from standins.guardduty import FIXTURES as GD_FIXTURES

ALERT_KEYS = ["composite_id", "timestamp", "device", "severity", "status", "confidence", "tags"]
FINDING_KEYS = ["Id", "CreatedAt", "UpdatedAt", "Resource", "Service", "Severity", "Type"]


def falcon_alert(n: int) -> dict[str, Any]:
    alert: dict[str, Any] = fixture("alerts-combined-v1.epp.page1.json")["resources"][n % 2]
    return {**alert, "composite_id": f"{alert['cid']}:ind:prop:{n}"}


def guardduty_finding(n: int) -> dict[str, Any]:
    data = json.loads((GD_FIXTURES / "get-findings.eks-privileged-container.cli.json").read_text())
    finding: dict[str, Any] = data["Findings"][0]
    return {**finding, "Id": f"prop{n}"}


def garbage(keys: list[str]) -> st.SearchStrategy[Any]:
    """Random JSON, and near-misses: objects with the right keys holding the wrong things."""
    near_miss = st.fixed_dictionaries({}, optional={k: JSON for k in keys})
    return JSON | near_miss


def interleave(valid: list[Any], junk: list[Any], order: list[int]) -> list[Any]:
    items = list(valid)
    for thing, at in zip(junk, order, strict=False):
        items.insert(at % (len(items) + 1), thing)
    return items


@settings(max_examples=150, deadline=None)
@given(
    junk=st.lists(garbage(ALERT_KEYS), max_size=6),
    order=st.lists(st.integers(0, 50), min_size=6, max_size=6),
)
def test_falcon_garbage_beside_alerts(junk: list[Any], order: list[int]) -> None:
    valid = [falcon_alert(n) for n in range(3)]
    items = interleave(valid, junk, order)
    batch = FalconNormalizer(source="falcon").normalize(json.dumps({"resources": items}).encode())
    uids = {s.uid for s in batch.signals}
    assert {f"falcon:{a['composite_id']}" for a in valid} <= uids
    assert len(batch.signals) + len(batch.quarantined) == len(items)
    assert all(q.reason and q.location.startswith("resources[") for q in batch.quarantined)


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from([*ALERT_KEYS, "device", "mitre_attack", "updated_timestamp"]), value=JSON
)
def test_falcon_any_value_in_any_field_is_a_signal_or_quarantined(field: str, value: Any) -> None:
    alert = {**falcon_alert(0), field: value}
    signals, quarantined = map_alerts([alert, falcon_alert(1)], source="falcon")
    assert len(signals) + len(quarantined) == 2
    assert "falcon:" + falcon_alert(1)["composite_id"] in {s.uid for s in signals}


@settings(max_examples=150, deadline=None)
@given(
    junk=st.lists(garbage(FINDING_KEYS), max_size=6),
    order=st.lists(st.integers(0, 50), min_size=6, max_size=6),
)
def test_guardduty_garbage_beside_findings(junk: list[Any], order: list[int]) -> None:
    valid = [guardduty_finding(n) for n in range(3)]
    items = interleave(valid, junk, order)
    data = json.dumps({"Findings": items}).encode()
    batch = GuardDutyNormalizer(source="gd").normalize(data)
    assert {f"gd:{f['Id']}" for f in valid} <= {s.uid for s in batch.signals}
    assert len(batch.signals) + len(batch.quarantined) == len(items)
    assert all(q.reason and q.location.startswith("Findings[") for q in batch.quarantined)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(FINDING_KEYS), value=JSON)
def test_guardduty_any_value_in_any_field_is_a_signal_or_quarantined(
    field: str, value: Any
) -> None:
    finding = {**guardduty_finding(0), field: value}
    signals, quarantined = map_findings([finding, guardduty_finding(1)], source="gd")
    assert len(signals) + len(quarantined) == 2
    assert "gd:prop1" in {s.uid for s in signals}


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_are_a_batch_never_an_exception(data: bytes) -> None:
    for normalizer in (FalconNormalizer(), GuardDutyNormalizer()):
        batch = normalizer.normalize(data, location="upload")
        for q in batch.quarantined:
            assert q.reason
            assert q.digest.startswith("sha256:")
