"""OCSF Detection Finding normalizer over the ocsf/examples findings and a synthetic container
finding (tests/fixtures/ocsf, see PROVENANCE.md)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clearance.model.signal import Severity, SignalStatus
from clearance.sources.ocsf import OcsfNormalizer

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ocsf"
CONTAINER = json.loads(
    (FIXTURES / "detection_finding.k8s-container.synthetic.ocsf.json").read_bytes()
)


def _one(finding: dict[str, Any], **kwargs: Any) -> Any:
    batch = OcsfNormalizer(**kwargs).normalize(json.dumps(finding).encode())
    assert batch.quarantined == (), batch.quarantined
    (signal,) = batch.signals
    return signal


def test_a_container_finding_maps_every_field() -> None:
    signal = _one(CONTAINER, cluster="prod-eu")
    assert signal.uid == "ocsf:2f5e6a1c-9b1d-4c55-8a0e-3f8c1b7d9e21"
    assert signal.title == "Terminal shell in container"
    assert signal.severity is Severity.HIGH
    assert signal.confidence == 0.85  # confidence_score wins over confidence_id
    assert signal.status is SignalStatus.IN_PROGRESS
    assert signal.rule == "Terminal shell in container"
    assert signal.techniques == ("T1059", "T1059.004")
    assert signal.url == "https://falcosidekick-ui.example/events/2f5e6a1c"
    assert signal.first_seen == datetime(2023, 5, 25, 13, 44, 5, 478000, tzinfo=UTC)
    assert signal.last_seen == datetime(2023, 5, 25, 13, 49, 12, 1000, tzinfo=UTC)
    assert {str(a) for a in signal.assets} == {
        "host:ip-10-0-1-23.eu-west-1.compute.internal",
        "ip:10.0.1.23",
        "instance:i-0a1b2c3d4e5f67890",
        "container:ee97d9c4186f3b1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4",
        "image:docker.io/library/alpine:3.18@sha256:"
        "72c42ed48c3a2db31b7dafe17d275b634664a708d901ec9fd57b1529280f01fb",
        "pod:default/kubecon",
        "namespace:prod-eu/default",
    }


@pytest.mark.parametrize(
    ("status_id", "status"),
    [
        (1, SignalStatus.OPEN),
        (2, SignalStatus.IN_PROGRESS),
        (3, SignalStatus.SUPPRESSED),
        (4, SignalStatus.RESOLVED),
        (5, SignalStatus.SUPPRESSED),
        (6, SignalStatus.RESOLVED),
        (99, SignalStatus.OPEN),
    ],
)
def test_status_id_maps_to_status(status_id: int, status: SignalStatus) -> None:
    assert _one(CONTAINER | {"status_id": status_id}).status is status


def test_a_close_activity_without_status_resolves() -> None:
    finding = {k: v for k, v in CONTAINER.items() if k != "status_id"} | {"activity_id": 3}
    assert _one(finding).status is SignalStatus.RESOLVED


@pytest.mark.parametrize("severity_id", [0, 1, 2, 3, 4, 5, 6])
def test_severity_id_is_the_severity(severity_id: int) -> None:
    finding = CONTAINER | {"severity_id": severity_id, "severity": "whatever"}
    assert _one(finding).severity == severity_id


def test_severity_other_falls_back_to_the_caption() -> None:
    assert (
        _one(CONTAINER | {"severity_id": 99, "severity": "Critical"}).severity is Severity.CRITICAL
    )
    assert _one(CONTAINER | {"severity_id": 99, "severity": "Bad"}).severity is Severity.UNKNOWN


def test_confidence_id_when_there_is_no_score() -> None:
    finding = {k: v for k, v in CONTAINER.items() if k != "confidence_score"}
    assert _one(finding | {"confidence_id": 1}).confidence == 0.4
    assert _one(finding | {"confidence_id": 3}).confidence == 1.0
    assert _one({k: v for k, v in finding.items() if k != "confidence_id"}).confidence == 1.0


def test_epoch_seconds_are_read_as_seconds_and_milliseconds_as_milliseconds() -> None:
    finding = copy.deepcopy(CONTAINER)
    finding["finding_info"] = {"uid": "x", "title": "t"}
    assert _one(finding | {"time": 1723564700}).first_seen == datetime(
        2024, 8, 13, 15, 58, 20, tzinfo=UTC
    )  # the Okta example's 'time' is in seconds
    assert _one(finding | {"time": 1723564700123}).first_seen == datetime(
        2024, 8, 13, 15, 58, 20, 123000, tzinfo=UTC
    )


def test_real_findings_that_name_nothing_deployable_are_quarantined_as_no_asset() -> None:
    for name in (
        "detection_finding.okta.ocsf.json",
        "detection_finding.guardduty-via-securityhub.ocsf.json",
    ):
        batch = OcsfNormalizer().normalize((FIXTURES / name).read_bytes(), location=name)
        (bad,) = batch.quarantined
        assert (bad.reason, bad.location) == ("no_asset", name)


def test_the_deprecated_security_finding_class_is_refused_by_name() -> None:
    batch = OcsfNormalizer().normalize((FIXTURES / "security_finding.falco.ocsf.json").read_bytes())
    (bad,) = batch.quarantined
    assert bad.reason == "unsupported_class"
    assert "2001" in bad.detail


def test_a_list_keeps_good_findings_beside_bad_ones() -> None:
    no_uid = copy.deepcopy(CONTAINER)
    del no_uid["finding_info"]["uid"]
    bad_time = copy.deepcopy(CONTAINER)
    bad_time["finding_info"]["first_seen_time_dt"] = "not a time"
    other = copy.deepcopy(CONTAINER)
    other["finding_info"]["uid"] = "second"
    body = json.dumps([CONTAINER, no_uid, "text", bad_time, other]).encode()
    batch = OcsfNormalizer().normalize(body, location="findings.json")
    assert [s.uid for s in batch.signals] == [
        "ocsf:2f5e6a1c-9b1d-4c55-8a0e-3f8c1b7d9e21",
        "ocsf:second",
    ]
    assert [(q.reason, q.location) for q in batch.quarantined] == [
        ("missing_field", "findings.json[1]"),
        ("invalid_item", "findings.json[2]"),
        ("invalid_value", "findings.json[3]"),
    ]


def test_json_lines_with_a_broken_line() -> None:
    body = json.dumps(CONTAINER).encode() + b"\n{oops\n"
    batch = OcsfNormalizer().normalize(body, location="f.jsonl")
    assert len(batch.signals) == 1
    assert [(q.reason, q.location) for q in batch.quarantined] == [
        ("invalid_json", "f.jsonl: line 2")
    ]
