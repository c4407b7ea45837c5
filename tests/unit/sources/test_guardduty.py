"""AWS GuardDuty: field mapping on real payloads; the boto3 adapter on the REST-JSON stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clearance.errors import SourceError
from clearance.model import AssetKind, Severity, SignalStatus, asset
from clearance.sources.guardduty.mapping import GuardDutyNormalizer, map_findings, severity_of
from clearance.sources.guardduty.source import GuardDutyConfig, GuardDutySource
from standins.guardduty import (
    ACCESS_KEY,
    FIXTURES,
    REGION,
    SECRET_KEY,
    GuardDutyStandIn,
    fixture_findings,
    numbered,
    wire_finding,
)

CLI = "get-findings.eks-privileged-container.cli.json"
EVENTBRIDGE = "finding.ec2-instance.eventbridge-detail.json"


def cli_finding() -> dict[str, Any]:
    finding: dict[str, Any] = json.loads((FIXTURES / CLI).read_text())["Findings"][0]
    return finding


# --- mapping (pure) ----------------------------------------------------------------------------


def test_real_eks_finding_names_cluster_namespace_pod_and_image() -> None:
    (signal,) = GuardDutyNormalizer().normalize((FIXTURES / CLI).read_bytes()).signals
    assert signal.uid == "guardduty:f2c3859c6ca25b3057d13470a992bbd7"
    assert signal.rule == "PrivilegeEscalation:Kubernetes/PrivilegedContainer"
    assert signal.severity is Severity.MEDIUM  # Severity 5 is in AWS's Medium band 4.0–6.9
    assert signal.status is SignalStatus.OPEN
    assert set(signal.assets) == {
        asset(AssetKind.CLUSTER, "guardduty-blueprint"),
        asset(AssetKind.NAMESPACE, "guardduty-blueprint/argocd"),
        asset(AssetKind.POD, "argocd/privileged-pod"),
        asset(AssetKind.IMAGE, "docker.io/library/centos:latest"),  # pod spec said "centos"
    }
    assert signal.first_seen.isoformat() == "2023-03-22T21:27:18.186000+00:00"
    assert signal.last_seen.isoformat() == "2023-03-22T21:27:18.630000+00:00"


def test_real_eventbridge_ec2_finding_names_the_instance() -> None:
    data = (FIXTURES / EVENTBRIDGE).read_bytes()
    (signal,) = GuardDutyNormalizer().normalize(data).signals
    assert asset(AssetKind.INSTANCE, "i-05746eb48123455e0") in signal.assets
    assert asset(AssetKind.IP, "11.111.111.1") in signal.assets
    assert asset(AssetKind.HOST, "ip-0-0-0-0.us-east-1.compute.internal") in signal.assets
    # The sample's private address is 0.0.0.0, which names no machine.
    assert asset(AssetKind.IP, "0.0.0.0") not in signal.assets
    event = {
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "detail": json.loads(data),
    }
    wrapped = GuardDutyNormalizer().normalize(json.dumps(event).encode())
    assert wrapped.signals[0].uid == signal.uid


def test_both_spellings_of_a_finding_make_the_same_signal() -> None:
    pascal = map_findings([cli_finding()], source="gd")[0][0].to_dict()
    camel = map_findings([wire_finding(cli_finding())], source="gd")[0][0].to_dict()
    pascal.pop("raw_digest")
    camel.pop("raw_digest")
    assert pascal == camel


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, Severity.LOW),
        (3.9, Severity.LOW),
        (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM),
        (7.0, Severity.HIGH),
        (8.9, Severity.HIGH),
        (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL),
        (0.0, Severity.UNKNOWN),
        (None, Severity.UNKNOWN),
    ],
)
def test_severity_follows_aws_bands(score: float | None, expected: Severity) -> None:
    assert severity_of(score) is expected


def test_archived_finding_is_suppressed() -> None:
    finding = cli_finding()
    finding["Service"] = {**finding["Service"], "Archived": True, "Count": 4}
    (signal,), _ = map_findings([finding], source="gd")
    assert signal.status is SignalStatus.SUPPRESSED
    assert signal.count == 4


def test_deployment_workload_becomes_a_workload_reference() -> None:
    finding = cli_finding()
    details = finding["Resource"]["KubernetesDetails"]["KubernetesWorkloadDetails"]
    details.update(Type="deployments", Name="checkout")
    (signal,), _ = map_findings([finding], source="gd")
    assert (
        asset(AssetKind.WORKLOAD, "guardduty-blueprint/argocd/deployment/checkout") in signal.assets
    )
    assert not any(a.kind is AssetKind.POD for a in signal.assets)


def test_s3_finding_without_a_deployable_asset_is_quarantined_with_its_type() -> None:
    s3 = {
        **cli_finding(),
        "Id": "s3finding",
        "Resource": {"ResourceType": "S3Bucket", "S3BucketDetails": [{"Name": "logs"}]},
    }
    signals, quarantined = map_findings([s3, cli_finding()], source="gd")
    assert len(signals) == 1
    assert [(q.reason, q.location) for q in quarantined] == [("no_asset", "Findings[0]")]
    assert "S3Bucket" in quarantined[0].detail


def test_garbage_beside_findings_is_quarantined_with_reasons() -> None:
    finding = cli_finding()
    bad_time = {**finding, "Service": {**finding["Service"], "EventFirstSeen": "soon"}}
    items: list[Any] = [42, {"Id": "x"}, bad_time, cli_finding()]
    signals, quarantined = map_findings(items, source="gd")
    assert len(signals) == 1
    assert [q.reason for q in quarantined] == ["invalid_item", "invalid_field", "invalid_value"]


# --- the adapter against the stand-in ---------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[GuardDutyStandIn]:
    server = GuardDutyStandIn()
    eks, ec2 = fixture_findings()
    server.findings = [
        numbered(eks if n % 2 else ec2, n, f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z")
        for n in range(120)
    ]
    server.endpoint = server.start()  # type: ignore[attr-defined]
    yield server
    server.stop()


def source_for(
    server: GuardDutyStandIn, sleeps: list[float] | None = None, **overrides: Any
) -> GuardDutySource:
    settings: dict[str, Any] = {
        "region": REGION,
        "endpoint_url": server.endpoint,  # type: ignore[attr-defined]
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
        **overrides,
    }
    sleep = (sleeps if sleeps is not None else []).append
    return GuardDutySource("gd", GuardDutyConfig(**settings), sleep=sleep)


def test_fetch_pages_list_then_get_to_the_end(standin: GuardDutyStandIn) -> None:
    batches = list(source_for(standin).fetch(None))
    assert [len(b.signals) for b in batches] == [50, 50, 20]
    assert len({s.uid for b in batches for s in b.signals}) == 120
    assert [b.watermark for b in batches] == [
        "2024-01-01T00:00:49Z",
        "2024-01-01T00:01:39Z",
        "2024-01-01T00:01:59Z",
    ]
    gets = [c for c in standin.calls if c[1].endswith("/findings/get")]
    assert all(len(c[2]["findingIds"]) <= 50 for c in gets)


def test_watermark_is_an_inclusive_updated_at_criterion(standin: GuardDutyStandIn) -> None:
    (batch,) = list(source_for(standin).fetch("2024-01-01T00:01:50Z"))
    assert len(batch.signals) == 10  # 00:01:50 … 00:01:59
    listing = next(c[2] for c in standin.calls if c[1].endswith("/findings"))
    criterion = listing["findingCriteria"]["criterion"]
    assert criterion["updatedAt"] == {"greaterThanOrEqual": 1704067310000}
    assert listing["sortCriteria"] == {"attributeName": "updatedAt", "orderBy": "ASC"}


def test_archived_findings_can_be_left_out(standin: GuardDutyStandIn) -> None:
    standin.findings[0]["service"]["archived"] = True
    signals = [
        s for b in source_for(standin, include_archived=False).fetch(None) for s in b.signals
    ]
    assert len(signals) == 119


def test_throttling_is_retried_by_botocore_waiting_through_sleep(standin: GuardDutyStandIn) -> None:
    standin.throttle(2)
    sleeps: list[float] = []
    batches = list(source_for(standin, sleeps, max_attempts=3).fetch(None))
    assert sum(len(b.signals) for b in batches) == 120
    # botocore's throttling backoff: rand(0, 1) × min(2^attempt, 20) seconds.
    assert len(sleeps) == 2
    assert all(0 <= s <= 2 for s in sleeps)


def test_throttling_beyond_max_attempts_is_a_source_error(standin: GuardDutyStandIn) -> None:
    standin.throttle(3)
    with pytest.raises(SourceError, match=r"'gd'.*ListDetectors: HTTP 429 ThrottlingException"):
        list(source_for(standin, max_attempts=3).fetch(None))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"secret_access_key": "wrong" + SECRET_KEY}, "HTTP 403 InvalidSignatureException"),
        ({"access_key_id": "AKIANOTKNOWN0000"}, "HTTP 403 UnrecognizedClientException"),
    ],
)
def test_bad_credentials_fail_naming_status_never_the_secret(
    standin: GuardDutyStandIn, overrides: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SourceError, match=expected) as caught:
        list(source_for(standin, **overrides).fetch(None))
    assert SECRET_KEY not in str(caught.value)
    assert "wrong" + SECRET_KEY not in str(caught.value)


def test_access_denied_names_the_iam_actions(standin: GuardDutyStandIn) -> None:
    message = "User: arn:aws:iam::1:user/ci is not authorized to perform: guardduty:ListFindings"
    standin.queued.append((403, "AccessDeniedException", message))
    with pytest.raises(SourceError, match=r"guardduty:GetFindings"):
        list(source_for(standin).fetch(None))


def test_unknown_detector_and_missing_detector(standin: GuardDutyStandIn) -> None:
    with pytest.raises(SourceError, match="HTTP 400 BadRequestException"):
        list(source_for(standin, detector_id="0" * 32).fetch(None))
    standin.detectors = []
    with pytest.raises(SourceError, match=f"no GuardDuty detector in {REGION}"):
        list(source_for(standin).fetch(None))


def test_malformed_findings_are_quarantined_and_the_page_stored(standin: GuardDutyStandIn) -> None:
    del standin.findings[3]["createdAt"]  # fits botocore's model, not ours
    standin.findings[5]["resource"] = "not an object"  # botocore's parser cannot read the page
    batches = list(source_for(standin).fetch(None))
    assert sum(len(b.signals) for b in batches) == 118
    quarantined = [q for b in batches for q in b.quarantined]
    assert sorted(q.reason for q in quarantined) == ["invalid_field", "unparseable"]
    assert any(standin.findings[5]["id"] in q.detail for q in quarantined)


def test_create_builds_without_network(tmp_path: Path) -> None:
    config = GuardDutyConfig.model_validate({"region": "eu-west-1", "secret_access_key": "abc123"})
    assert GuardDutySource.create("gd-eu", config, base_dir=tmp_path).name == "gd-eu"
    assert "abc123" not in repr(config)


def test_a_watermark_that_is_not_a_time_is_refused_by_name(standin: GuardDutyStandIn) -> None:
    with pytest.raises(SourceError, match=r"'gd'.*watermark 'abc'"):
        list(source_for(standin).fetch("abc"))


# --- runtime coverage: ListCoverage for EKS -----------------------------------------------------


def test_with_covers_each_eks_cluster_is_a_cluster_wide_record(standin: GuardDutyStandIn) -> None:
    from datetime import UTC, datetime

    from clearance.model.assets import parse_asset
    from standins.guardduty import eks_coverage

    updated = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    standin.coverage = [
        eks_coverage(f"eks-{n:02d}", "HEALTHY", updated) for n in range(52)
    ]  # two pages of ListCoverage
    standin.coverage[1] = eks_coverage("eks-01", "UNHEALTHY", updated)
    standin.coverage[2] = eks_coverage("eks-02", "HEALTHY", updated, covered=2, compatible=3)
    ecs = eks_coverage("ecs-cluster", "HEALTHY", updated)
    ecs["resourceDetails"] = {"resourceType": "ECS", "ecsClusterDetails": {"clusterName": "x"}}
    standin.coverage.append(ecs)
    source = source_for(standin, covers="runtime", clusters={"eks-00": "prod-eu"})
    batches = list(source.fetch(None))
    source.close()
    assert all(b.coverage is None for b in batches[:-1])
    inventory = batches[-1].coverage
    assert inventory is not None
    assert len(inventory) == 52  # the ECS cluster is filtered out by the request
    first, unhealthy, partial = inventory[:3]
    assert (first.scope, first.kind, first.active, first.last_seen) == (
        "cluster", "runtime", True, updated,
    )  # fmt: skip
    assert first.assets == (parse_asset("cluster:prod-eu"),)  # renamed as configured
    assert not unhealthy.active
    assert not partial.active  # 2 of 3 nodes: which one lacks the agent is not said
    calls = [body for _, path, body in standin.calls if path.endswith("/coverage")]
    assert len(calls) == 2
    assert calls[0]["filterCriteria"] == {
        "filterCriterion": [
            {"criterionKey": "RESOURCE_TYPE", "filterCondition": {"equals": ["EKS"]}}
        ]
    }


def test_a_cluster_record_covers_the_nodes_of_its_cluster_and_a_host_agent_only_itself() -> None:
    from clearance.model.assets import parse_asset
    from clearance.model.coverage import Managed

    node = parse_asset("host:ip-10-0-1-5")
    prod, other = parse_asset("cluster:prod-eu"), parse_asset("cluster:staging")
    whole = Managed("gd", "runtime", "prod-eu", (prod,), None, True, scope="cluster")
    assert whole.watches(node, [prod])
    assert not whole.watches(node, [other])
    # A Falcon sensor knows its cluster; that does not make it watch the other nodes.
    sensor = Managed("falcon", "edr", "d1", (parse_asset("host:ip-10-0-1-9"), prod), None)
    assert not sensor.watches(node, [prod])
    assert Managed.from_dict(whole.to_dict()) == whole
    assert "scope" not in sensor.to_dict()  # host records read as before scopes existed
