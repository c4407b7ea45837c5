"""Trivy JSON reports and Trivy Operator VulnerabilityReports (tests/fixtures/trivy,
tests/fixtures/trivy-operator)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from clearance.model.signal import Severity, SignalKind, SignalStatus
from clearance.sources.trivy.report import TrivyNormalizer

FIXTURES = Path(__file__).parents[2] / "fixtures"
GOLDEN = FIXTURES / "trivy" / "report.image.alpine-3.10.golden.json"
BUSTER = FIXTURES / "trivy" / "report.image.debian-buster.golden.json"
PINNED = FIXTURES / "trivy" / "report.alpine-3.10.2.trivy-operator-fixture.json"
COREDNS = FIXTURES / "trivy-operator" / "vulnerabilityreport.replicaset-coredns.envtest.yaml"
NGINX = FIXTURES / "trivy-operator" / "vulnerabilityreport.replicaset-nginx.docs.yaml"
SCANNED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ALPINE_DIGEST = "sha256:72c42ed48c3a2db31b7dafe17d275b634664a708d901ec9fd57b1529280f01fb"


def _by_cve(data: bytes, **kwargs: Any) -> dict[str, Any]:
    batch = TrivyNormalizer(**kwargs).normalize(data, location="report")
    assert batch.quarantined == (), batch.quarantined
    return {str(s.rule): s for s in batch.signals}


def test_one_signal_per_image_and_cve_with_the_packages_in_the_title() -> None:
    signals = _by_cve(GOLDEN.read_bytes())
    assert set(signals) == {"CVE-2019-1549", "CVE-2019-1551"}  # 4 rows: 2 CVEs × 2 packages
    cve = signals["CVE-2019-1549"]
    assert cve.kind is SignalKind.VULNERABILITY
    assert cve.uid == "trivy:ghcr.io/aquasecurity/trivy-test-images:alpine-310:CVE-2019-1549"
    assert cve.severity is Severity.MEDIUM
    assert "libcrypto1.1 1.1.1c-r0" in cve.title
    assert "libssl1.1 1.1.1c-r0" in cve.title
    assert "fixed in 1.1.1d-r0" in cve.title
    assert cve.url == "https://avd.aquasec.com/nvd/cve-2019-1549"
    assert cve.first_seen == cve.last_seen == datetime(2021, 8, 25, 12, 20, 30, tzinfo=UTC)
    assert [str(a) for a in cve.assets] == [
        "image:ghcr.io/aquasecurity/trivy-test-images:alpine-310"
    ]


def test_an_unfixed_cve_says_so_and_severity_follows_the_label() -> None:
    signals = _by_cve(BUSTER.read_bytes())
    assert signals["CVE-2019-18224"].severity is Severity.CRITICAL
    assert signals["CVE-2019-18276"].severity is Severity.LOW
    assert "(no fix yet)" in signals["CVE-2019-18276"].title
    assert all(s.status is SignalStatus.OPEN for s in signals.values())


def test_repo_digest_is_the_image_and_the_uid_and_severity_comes_from_the_vendor() -> None:
    signals = _by_cve(PINNED.read_bytes(), scanned_at=SCANNED)
    cve = signals["CVE-2019-1549"]
    assert [str(a) for a in cve.assets] == [
        f"image:docker.io/library/alpine:3.10.2@{ALPINE_DIGEST}"
    ]
    assert cve.uid == f"trivy:{ALPINE_DIGEST}:CVE-2019-1549"
    # No 'Severity' in this report: VendorSeverity[SeveritySource='nvd'] is 2 → medium, 1 → low.
    assert cve.severity is Severity.MEDIUM
    assert signals["CVE-2019-1547"].severity is Severity.LOW
    assert cve.first_seen == SCANNED  # no CreatedAt: the scan time the caller gave


def test_a_report_without_a_time_and_no_scan_time_is_quarantined() -> None:
    batch = TrivyNormalizer().normalize(PINNED.read_bytes(), location="r.json")
    (bad,) = batch.quarantined
    assert (bad.reason, bad.location) == ("missing_field", "r.json")
    assert "CreatedAt" in bad.detail


def test_a_filesystem_report_is_refused_by_name() -> None:
    report = json.loads(GOLDEN.read_bytes()) | {"ArtifactType": "filesystem"}
    (bad,) = TrivyNormalizer().normalize(json.dumps(report).encode()).quarantined
    assert bad.reason == "unsupported_artifact"


def test_a_bad_vulnerability_row_is_quarantined_and_its_neighbours_kept() -> None:
    report = json.loads(GOLDEN.read_bytes())
    rows = report["Results"][0]["Vulnerabilities"]
    rows.insert(1, {"PkgName": "x"})
    rows.insert(0, "nonsense")
    batch = TrivyNormalizer().normalize(json.dumps(report).encode(), location="r.json")
    assert {s.rule for s in batch.signals} == {"CVE-2019-1549", "CVE-2019-1551"}
    assert [(q.reason, q.location) for q in batch.quarantined] == [
        ("invalid_item", "r.json: Results[0].Vulnerabilities[0]"),
        ("missing_field", "r.json: Results[0].Vulnerabilities[2]"),
    ]


def test_not_affected_rows_are_suppressed() -> None:
    report = json.loads(BUSTER.read_bytes())
    for row in report["Results"][0]["Vulnerabilities"]:
        row["Status"] = "not_affected"
    signals = _by_cve(json.dumps(report).encode())
    assert {s.status for s in signals.values()} == {SignalStatus.SUPPRESSED}


def test_operator_report_names_the_image_and_the_workload() -> None:
    (cve,) = _by_cve(COREDNS.read_bytes(), cluster="prod-eu").values()
    assert cve.rule == "CVE-2021-3121"
    assert cve.severity is Severity.HIGH
    assert {str(a) for a in cve.assets} == {
        "image:k8s.gcr.io/coredns/coredns:v1.8.0",
        "workload:prod-eu/kube-system/replicaset/coredns-558bd4d5db",
    }
    assert cve.first_seen == datetime(2022, 12, 8, 15, 50, 37, tzinfo=UTC)  # updateTimestamp


def test_operator_docker_hub_is_docker_io_and_no_cluster_means_no_workload() -> None:
    signals = _by_cve(NGINX.read_bytes(), scanned_at=SCANNED)
    assert set(signals) == {"CVE-2019-20367", "CVE-2018-25009"}
    assert {str(a) for s in signals.values() for a in s.assets} == {
        "image:docker.io/library/nginx:1.16"
    }
    assert all(s.severity is Severity.CRITICAL for s in signals.values())


def test_a_trivy_report_and_an_operator_report_of_one_image_share_a_uid() -> None:
    operator = yaml.safe_load(COREDNS.read_bytes())
    operator["report"]["artifact"] = {
        "repository": "library/alpine",
        "tag": "3.10.2",
        "digest": ALPINE_DIGEST,
    }
    operator["report"]["registry"] = {"server": "index.docker.io"}
    operator["report"]["vulnerabilities"][0]["vulnerabilityID"] = "CVE-2019-1549"
    from_operator = _by_cve(yaml.safe_dump(operator).encode())
    from_trivy = _by_cve(PINNED.read_bytes(), scanned_at=SCANNED)
    assert from_operator["CVE-2019-1549"].uid == from_trivy["CVE-2019-1549"].uid


def test_a_kubectl_list_and_a_yaml_stream_are_read_item_by_item() -> None:
    coredns, nginx = yaml.safe_load(COREDNS.read_bytes()), yaml.safe_load(NGINX.read_bytes())
    as_list = {"apiVersion": "v1", "kind": "List", "items": [coredns, nginx, {"kind": "Pod"}]}
    batch = TrivyNormalizer(scanned_at=SCANNED).normalize(
        json.dumps(as_list, default=str).encode(), location="vulns.json"
    )
    assert len(batch.signals) == 3
    assert [(q.reason, q.location) for q in batch.quarantined] == [
        ("invalid_shape", "vulns.json: items[2]")
    ]
    stream = COREDNS.read_bytes() + b"\n---\n" + NGINX.read_bytes()
    assert len(TrivyNormalizer(scanned_at=SCANNED).normalize(stream).signals) == 3


def test_a_file_that_is_neither_json_nor_yaml_is_one_quarantined_entry() -> None:
    (bad,) = TrivyNormalizer().normalize(b"{: [\n\t- x", location="x.txt").quarantined
    assert (bad.reason, bad.location) == ("invalid_format", "x.txt")


def test_config_audit_checks_are_posture_on_the_owning_workload() -> None:
    import copy
    from datetime import UTC, datetime

    import yaml

    from clearance.model.signal import SignalKind, SignalStatus
    from clearance.sources.trivy.report import TrivyNormalizer

    path = Path(__file__).parents[2] / "fixtures" / "trivy-operator"
    report = yaml.safe_load(
        (path / "configauditreport.replicaset-wordpress.envtest.yaml").read_text()
    )
    report["report"]["checks"][0]["success"] = True  # KSV001 passes again: resolved
    labelled = copy.deepcopy(report)
    labelled["metadata"]["labels"] = {
        "trivy-operator.resource.kind": "Deployment",
        "trivy-operator.resource.name": "wordpress",
        "trivy-operator.resource.namespace": "default",
    }
    seen = datetime(2026, 11, 28, 11, tzinfo=UTC)
    normalizer = TrivyNormalizer("trivy", scanned_at=seen, cluster="prod-eu")
    owned = normalizer.normalize(yaml.safe_dump(report).encode(), location="r").signals
    assert len(owned) == 13
    assert {s.kind for s in owned} == {SignalKind.POSTURE}
    assert {str(a) for s in owned for a in s.assets} == {
        "workload:prod-eu/default/replicaset/wordpress-84bbf6f4dd"
    }
    first = next(s for s in owned if s.rule == "KSV001")
    assert first.status is SignalStatus.RESOLVED
    high = next(s for s in owned if s.rule == "KSV014")
    assert (int(high.severity), high.status) == (4, SignalStatus.OPEN)
    by_label = normalizer.normalize(yaml.safe_dump(labelled).encode(), location="r").signals
    assert {str(a) for s in by_label for a in s.assets} == {
        "workload:prod-eu/default/deployment/wordpress"
    }
