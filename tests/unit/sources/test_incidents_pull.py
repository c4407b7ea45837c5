"""Incidents and anomalies on the pull paths: Defender XDR incidents (the docs' List incidents
answer, its own token audience), SentinelOne threats grouped by storyline, GuardDuty
anomaly-type findings — mapping on real payloads, and each source against its stand-in."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from clearance.model import AssetKind, Severity, SignalKind, SignalStatus, asset
from clearance.sources.defender.incidents import map_incidents
from clearance.sources.defender.source import DefenderConfig, DefenderNormalizer, DefenderSource
from clearance.sources.guardduty.anomalies import finding_kind
from clearance.sources.guardduty.mapping import GuardDutyNormalizer
from clearance.sources.sentinelone.source import SentinelOneConfig, SentinelOneSource
from closing import closed_after_test
from standins import defender, sentinelone
from standins.guardduty import FIXTURES as GUARDDUTY

INCIDENTS = "incidents.list.docs.json"


def docs_incidents() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = defender.fixture(INCIDENTS)["value"]
    return items


# --- Defender XDR incidents ---------------------------------------------------------------------


def test_the_docs_incidents_become_an_incident_on_its_device_and_one_without_is_quarantined() -> (
    None
):
    batch = map_incidents(docs_incidents(), source="xdr", location="incidents page 1: value")
    (signal,) = batch.signals
    assert signal.uid == "xdr:incident-924521"
    assert signal.kind is SignalKind.INCIDENT
    assert signal.title == "'Mimikatz' hacktool was detected on one endpoint (1 alert(s))"
    assert signal.severity is Severity.LOW
    assert signal.status is SignalStatus.OPEN  # "Active"
    assert signal.assets == (asset(AssetKind.HOST, "user5cx.middleeast.corp.contoso.com"),)
    assert signal.url == "https://security.microsoft.com/incidents/924521"
    assert signal.first_seen.isoformat() == "2020-09-06T12:15:07.727204+00:00"  # firstActivity
    assert signal.last_seen.isoformat() == "2020-09-06T12:18:03.810000+00:00"  # lastUpdateTime
    (bad,) = batch.quarantined  # the ransomware incident names a user, no device
    assert bad.reason == "no_asset"
    assert "924565" in bad.detail
    assert bad.location == "incidents page 1: value[0]"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": "Resolved"}, SignalStatus.RESOLVED),
        ({"status": "Redirected", "redirectIncidentId": 924600}, SignalStatus.SUPPRESSED),
        ({"classification": "FalsePositive"}, SignalStatus.SUPPRESSED),
        ({"status": "InProgress"}, SignalStatus.IN_PROGRESS),
    ],
)
def test_incident_status_and_classification_say_whether_it_counts(
    change: dict[str, Any], expected: SignalStatus
) -> None:
    incident = {**docs_incidents()[1], **change}
    (signal,) = map_incidents([incident], source="xdr").signals
    assert signal.status is expected


def test_a_device_without_a_dns_name_is_named_by_the_machine_inventory() -> None:
    incident = copy.deepcopy(docs_incidents()[1])
    incident["alerts"][0]["devices"][0]["deviceDnsName"] = None
    hosts = {"24c222b0b60fe148eeece49ac83910cc6a7ef491": "node-a.corp.example"}
    (signal,) = map_incidents([incident], source="xdr", hosts=hosts).signals
    assert signal.assets == (asset(AssetKind.HOST, "node-a.corp.example"),)


def test_an_exported_incidents_answer_is_ingested_as_the_pull_path_reads_it() -> None:
    data = (defender.FIXTURES / INCIDENTS).read_bytes()
    batch = DefenderNormalizer("xdr").normalize(data, location="incidents.json")
    pulled = map_incidents(docs_incidents(), source="xdr", location="incidents.json:value")
    assert batch.signals == pulled.signals
    assert [q.reason for q in batch.quarantined] == ["no_asset"]


@pytest.fixture
def xdr() -> Iterator[tuple[defender.DefenderState, str]]:
    state = defender.DefenderState()
    with defender.serve(state) as url:
        yield state, url


def xdr_source(url: str, **more: Any) -> DefenderSource:
    config = DefenderConfig(
        tenant_id=defender.TENANT,
        client_id=defender.CLIENT_ID,
        client_secret=SecretStr(defender.CLIENT_SECRET),
        base_url=url,
        token_url=f"{url}/{defender.TENANT}/oauth2/v2.0/token",
        **more,
    )
    return closed_after_test(DefenderSource("xdr", config))


def test_incidents_are_read_with_a_token_of_their_own_audience_after_the_alerts(
    xdr: tuple[defender.DefenderState, str],
) -> None:
    state, url = xdr
    state.add_alerts(2)
    state.add_incidents(150)  # two pages of at most 100
    batches = list(xdr_source(url, incidents=True, page_size=1000).fetch(None))
    kinds = [s.kind for b in batches for s in b.signals]
    assert kinds.count(SignalKind.DETECTION) == 2
    assert kinds.count(SignalKind.INCIDENT) == 150
    asked = [path for method, path in state.scripted.requests if method == "GET"]
    incident_pages = [p for p in asked if p.startswith("/api/incidents")]
    assert len(incident_pages) == 2
    assert "%24top=100" in incident_pages[0]
    assert len(state.xdr_tokens) == 1  # one token for the incidents API, one for the rest
    assert len(state.tokens) == 1
    # Only the last batch moves the watermark, to the newest incident or alert seen.
    assert [b.watermark for b in batches[:-1]] == [None] * (len(batches) - 1)
    assert batches[-1].watermark == state.incidents[-1]["lastUpdateTime"]


def test_without_incidents_the_incidents_api_is_never_asked(
    xdr: tuple[defender.DefenderState, str],
) -> None:
    state, url = xdr
    state.add_incidents(3)
    batches = list(xdr_source(url).fetch(None))
    assert [s for b in batches for s in b.signals] == []
    assert not [p for _, p in state.scripted.requests if p.startswith("/api/incidents")]


# --- SentinelOne storylines ---------------------------------------------------------------------


@pytest.fixture
def s1() -> Iterator[tuple[sentinelone.SentinelOneState, str]]:
    state = sentinelone.SentinelOneState()
    with sentinelone.serve(state) as url:
        yield state, url


def s1_source(url: str, **more: Any) -> SentinelOneSource:
    config = SentinelOneConfig(
        base_url=url, api_token=SecretStr(sentinelone.API_TOKEN), page_size=3, **more
    )
    return closed_after_test(SentinelOneSource("s1", config))


def test_threats_sharing_a_storyline_are_one_incident_filed_with_the_last_page(
    s1: tuple[sentinelone.SentinelOneState, str],
) -> None:
    state, url = s1
    threats = state.add_threats(5)  # the two real threats' storylines, alternating
    threats[4]["threatInfo"]["storyline"] = "LONE0000000000"  # a storyline of one: no incident
    threats[0]["threatInfo"]["incidentStatus"] = "unresolved"
    threats[0]["threatInfo"]["mitigationStatus"] = "not_mitigated"
    batches = list(s1_source(url, incidents=True).fetch(None))
    incidents = [s for b in batches for s in b.signals if s.kind is SignalKind.INCIDENT]
    assert [s.uid for s in incidents] == [
        "s1:storyline-8BF4207AFA583317",
        "s1:storyline-A8F6CB4CB9AE09A1",
    ]
    assert all(s in batches[-1].signals for s in incidents)
    ncat, crdownload = incidents
    assert ncat.status is SignalStatus.RESOLVED  # both of its threats resolved
    assert crdownload.status is SignalStatus.OPEN  # one of its threats still unresolved
    assert crdownload.severity is Severity.CRITICAL  # the worst: malicious, not mitigated
    assert crdownload.title.startswith("SentinelOne storyline A8F6CB4CB9AE09A1: 2 threats (")
    hosts = {a for a in crdownload.assets if a.kind is AssetKind.HOST}
    assert hosts == {
        asset(AssetKind.HOST, "EC2AMAZ-0000000"),
        asset(AssetKind.HOST, "EC2AMAZ-0000002"),
    }
    detections = [s for b in batches for s in b.signals if s.kind is SignalKind.DETECTION]
    assert len(detections) == 5
    # Off (the default): the threats only.
    plain = list(s1_source(url).fetch(None))
    assert {s.kind for b in plain for s in b.signals} == {SignalKind.DETECTION}


# --- GuardDuty anomalies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finding_type", "expected"),
    [
        ("Behavior:EC2/NetworkPortUnusual", SignalKind.ANOMALY),
        ("Behavior:EC2/TrafficVolumeUnusual", SignalKind.ANOMALY),
        ("CredentialAccess:IAMUser/AnomalousBehavior", SignalKind.ANOMALY),
        ("Discovery:IAMUser/AnomalousBehavior", SignalKind.ANOMALY),
        ("Recon:EC2/PortProbeUnprotectedPort", SignalKind.DETECTION),
        ("PrivilegeEscalation:Kubernetes/PrivilegedContainer", SignalKind.DETECTION),
        ("CryptoCurrency:EC2/BitcoinTool.B!DNS", SignalKind.DETECTION),
        (None, SignalKind.DETECTION),
    ],
)
def test_behavior_and_anomalous_behavior_types_are_anomalies(
    finding_type: str | None, expected: SignalKind
) -> None:
    assert finding_kind(finding_type) is expected


def test_a_real_finding_of_an_anomaly_type_or_with_anomaly_details_is_an_anomaly() -> None:
    event = json.loads((GUARDDUTY / "finding.ec2-instance.eventbridge-detail.json").read_text())
    (detection,) = GuardDutyNormalizer().normalize(json.dumps(event).encode()).signals
    assert detection.kind is SignalKind.DETECTION
    event["type"] = "Behavior:EC2/NetworkPortUnusual"
    (behavior,) = GuardDutyNormalizer().normalize(json.dumps(event).encode()).signals
    assert behavior.kind is SignalKind.ANOMALY
    assert behavior.rule == "Behavior:EC2/NetworkPortUnusual"
    detailed = {**event, "type": "Discovery:S3/AnomalousBehavior.Unusual"}
    detailed["service"] = {
        **event["service"],
        "detection": {"anomaly": {"unusual": {"behavior": {}}, "profiles": {}}},
    }
    detailed["type"] = "UnauthorizedAccess:EC2/SomethingNew"
    (flagged,) = GuardDutyNormalizer().normalize(json.dumps(detailed).encode()).signals
    assert flagged.kind is SignalKind.ANOMALY
