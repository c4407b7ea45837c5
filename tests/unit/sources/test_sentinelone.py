"""SentinelOne: threat mapping on the real v2.1 payload, and the source on the stand-in."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from clearance.errors import SourceError
from clearance.model import AssetKind, Severity, SignalStatus, asset
from clearance.sources.sentinelone.source import (
    SentinelOneConfig,
    SentinelOneNormalizer,
    SentinelOneSource,
    map_threats,
)
from closing import closed_after_test
from standins import sentinelone
from standins._server import HTML_GATEWAY_PAGE


def real_threat(index: int = 0) -> dict[str, Any]:
    return copy.deepcopy(sentinelone.fixture_threats()[index])


def with_info(**info: Any) -> dict[str, Any]:
    threat = real_threat()
    threat["threatInfo"].update(info)
    return threat


def test_real_threats_become_signals_on_their_agent() -> None:
    batch = map_threats(sentinelone.fixture_threats(), source="s1", console="https://x.net")
    assert batch.quarantined == ()
    first, second = batch.signals
    assert first.uid == "s1:715718962991148224"
    assert first.title == "Unconfirmed 123490.crdownload"
    # malicious and mitigated: high, not critical; resolved incident
    assert first.severity is Severity.HIGH
    assert first.confidence == pytest.approx(0.9)
    assert first.status is SignalStatus.RESOLVED
    assert first.rule == "Malware"
    # The MAC comes with colons, the host name in upper case; the fe80:: address is left out.
    assert first.assets == (
        asset(AssetKind.HOST, "ec2amaz-aj0kanc"),
        asset(AssetKind.IP, "8.8.8.8"),
        asset(AssetKind.MAC, "06:35:e6:62:53:2e"),
    )
    assert first.url == "https://x.net/incidents/threats/715718962991148224/overview"
    assert second.first_seen.isoformat() == "2019-09-15T12:14:41.260000+00:00"  # identifiedAt
    # Both threats are on one agent: one identities group.
    assert batch.identities == (
        {"host": ("ec2amaz-aj0kanc",), "ip": ("8.8.8.8",), "mac": ("06:35:e6:62:53:2e",)},
    )


@pytest.mark.parametrize(
    ("info", "severity", "confidence"),
    [
        (
            {"confidenceLevel": "malicious", "mitigationStatus": "not_mitigated"},
            Severity.CRITICAL,
            0.9,
        ),
        (
            {"confidenceLevel": "suspicious", "mitigationStatus": "not_mitigated"},
            Severity.MEDIUM,
            0.5,
        ),
        ({"confidenceLevel": "suspicious", "mitigationStatus": "mitigated"}, Severity.LOW, 0.5),
        ({"confidenceLevel": "n/a", "mitigationStatus": "mitigated"}, Severity.UNKNOWN, 0.5),
    ],
)
def test_confidence_level_and_mitigation(
    info: dict[str, str], severity: Severity, confidence: float
) -> None:
    (signal,) = map_threats([with_info(**info)], source="s1").signals
    assert signal.severity is severity
    assert signal.confidence == pytest.approx(confidence)


@pytest.mark.parametrize(
    ("incident", "verdict", "expected"),
    [
        ("unresolved", "undefined", SignalStatus.OPEN),
        ("in_progress", "true_positive", SignalStatus.IN_PROGRESS),
        ("resolved", "true_positive", SignalStatus.RESOLVED),
        ("resolved", "false_positive", SignalStatus.SUPPRESSED),
        ("unresolved", "false_positive", SignalStatus.SUPPRESSED),
    ],
)
def test_incident_status_and_analyst_verdict(
    incident: str, verdict: str, expected: SignalStatus
) -> None:
    threat = with_info(incidentStatus=incident, analystVerdict=verdict)
    assert map_threats([threat], source="s1").signals[0].status is expected


def test_kubernetes_info_becomes_pod_namespace_cluster_and_node_assets() -> None:
    # Synthetic: no public threat sample has kubernetesInfo populated (reference §9 gaps); field
    # names are those of the real payload's null kubernetesInfo/containerInfo objects.
    threat = real_threat()
    threat["kubernetesInfo"].update(
        cluster="prod-eu", namespace="shop", pod="cart-7d9f-x2", node="ip-10-0-3-7.ec2.internal"
    )
    threat["containerInfo"].update(id="4f66ad9a0b2e" + "0" * 52, image="nginx:1.25")
    (signal,) = map_threats([threat], source="s1").signals
    for ref in (
        asset(AssetKind.CLUSTER, "prod-eu"),
        asset(AssetKind.NAMESPACE, "prod-eu/shop"),
        asset(AssetKind.POD, "shop/cart-7d9f-x2"),
        asset(AssetKind.HOST, "ip-10-0-3-7.ec2.internal"),
        asset(AssetKind.CONTAINER, "4f66ad9a0b2e" + "0" * 52),
        asset(AssetKind.IMAGE, "docker.io/library/nginx:1.25"),
    ):
        assert ref in signal.assets


def test_attack_techniques_come_from_indicator_tactics() -> None:
    threat = real_threat(1)
    threat["indicators"][0]["tactics"] = [
        {"name": "Execution", "source": "MITRE", "techniques": [{"name": "T1059", "link": "x"}]}
    ]
    assert map_threats([threat], source="s1").signals[0].techniques == ("T1059",)


def test_threat_without_agent_or_time_is_quarantined_beside_a_good_one() -> None:
    no_agent = real_threat()
    no_agent["agentRealtimeInfo"] = None
    no_time = with_info(identifiedAt=None, createdAt=None)
    batch = map_threats([no_agent, real_threat(1), no_time], source="s1")
    assert len(batch.signals) == 1
    assert [(q.reason, q.location) for q in batch.quarantined] == [
        ("no_asset", "data[0]"),
        ("missing_field", "data[2]"),
    ]


def test_normalizer_reads_the_threats_response_file() -> None:
    data = (sentinelone.FIXTURES / "threats-v2.1.trimmed.json").read_bytes()
    batch = SentinelOneNormalizer("s1").normalize(data, location="threats.json")
    assert len(batch.signals) == 2
    assert batch.signals[0].url is None  # no console URL in a file


@pytest.fixture
def s1() -> Iterator[tuple[sentinelone.SentinelOneState, str]]:
    state = sentinelone.SentinelOneState()
    with sentinelone.serve(state) as url:
        yield state, url


def make_source(url: str, sleeps: list[float], **overrides: Any) -> SentinelOneSource:
    config = SentinelOneConfig(
        base_url=url, api_token=SecretStr(sentinelone.API_TOKEN), page_size=2, **overrides
    )
    return closed_after_test(
        SentinelOneSource("s1", config, sleep=sleeps.append, random=lambda: 0.0)
    )


def test_cursor_paging_filters_and_the_api_token_header(
    s1: tuple[sentinelone.SentinelOneState, str],
) -> None:
    state, url = s1
    state.add_threats(5)
    source = make_source(url, [], site_ids=("475482421366727779",))
    batches = list(source.fetch("2025-06-01T00:00:02Z"))
    assert sum(len(b.signals) for b in batches) == 4  # updatedAt >= :02 (inclusive)
    first_path = state.scripted.requests[0][1]
    assert "updatedAt__gte=2025-06-01T00%3A00%3A02Z" in first_path
    assert "sortBy=updatedAt" in first_path
    assert "siteIds=475482421366727779" in first_path
    assert any("cursor=" in p for _, p in state.scripted.requests[1:])
    assert batches[-1].watermark == "2025-06-01T00:00:05Z"
    assert [b.watermark for b in batches[:-1]] == ["2025-06-01T00:00:02Z"]


def test_refused_token_names_status_and_vendor_title_never_the_token(
    s1: tuple[sentinelone.SentinelOneState, str],
) -> None:
    state, url = s1
    state.api_token = "another"
    with pytest.raises(SourceError) as caught:
        list(make_source(url, []).fetch(None))
    text = str(caught.value)
    assert "HTTP 401 from" in text
    assert "/web/api/v2.1/threats: Authentication Failed" in text
    assert sentinelone.API_TOKEN not in text


def test_a_proxy_page_instead_of_json_is_named(
    s1: tuple[sentinelone.SentinelOneState, str],
) -> None:
    state, url = s1
    state.scripted.queue(200, HTML_GATEWAY_PAGE, {"Content-Type": "text/html"})
    with pytest.raises(SourceError, match="carried an HTML page"):
        list(make_source(url, []).fetch(None))


def test_an_agent_record_is_an_inventory_entry() -> None:
    from clearance.model.assets import parse_asset
    from clearance.sources.sentinelone.mapping import managed_agent

    record = sentinelone.fixture_agent()
    agent = managed_agent(record, "s1", "edr")
    assert agent is not None
    assert (agent.device, agent.active) == ("148347195130", True)
    assert agent.last_seen is not None
    assert agent.last_seen.isoformat() == "2023-03-17T10:27:24.654796+00:00"
    # The sample's addresses were scrambled upstream (922.174.1.225): skipped, the name kept.
    assert [str(a) for a in agent.assets] == ["host:fdlv0w3"]
    assert agent.names(parse_asset("host:FDLV0W3.corp.example"))
    for flag in ("isDecommissioned", "isUninstalled"):
        gone = managed_agent({**record, flag: True}, "s1", "edr")
        assert gone is not None
        assert not gone.active
    idle = managed_agent({**record, "isActive": False}, "s1", "edr")
    assert idle is not None
    assert not idle.active
    assert managed_agent({"computerName": "x"}, "s1", "edr") is None  # no id
