"""AWS GuardDuty findings, mapped to Clearance signals.

Pure functions over parsed JSON: no boto3, no network, no clock. The source module (:mod:`.source`)
feeds them ``GetFindings`` pages; :class:`GuardDutyNormalizer` feeds them files
(``clearance ingest --format guardduty``): ``aws guardduty get-findings`` output, one EventBridge
event or its ``detail``, or a JSON list of findings.

The same finding arrives in two spellings: boto3 and the CLI return PascalCase
(``EksClusterDetails``) while the wire and EventBridge use camelCase (``eksClusterDetails``); see
``tests/fixtures/guardduty/``. The private models accept both.

Severity is a float, banded as AWS documents it (Low 1.0–3.9, Medium 4.0–6.9, High 7.0–8.9,
Critical 9.0–10.0: https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings-severity.html).
GuardDuty has no resolved state: ``Service.Archived`` is the analyst's dismissal, so suppressed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.signal import (
    Severity,
    Signal,
    SignalStatus,
    SignalUid,
    parse_time,
)
from clearance.sources._hosts import Pair, kubernetes_pairs
from clearance.sources._mapping import RejectedError, parse_json, refs
from clearance.sources._pages import map_page, newest_time, quarantine_file
from clearance.sources.guardduty.anomalies import finding_kind
from clearance.sources.interface import Batch, Quarantined

__all__ = ["GuardDutyNormalizer", "finding_watermark", "map_findings", "severity_of"]


def severity_of(score: float | None) -> Severity:
    if score is None or score < 1.0:
        return Severity.UNKNOWN
    if score < 4.0:
        return Severity.LOW
    if score < 7.0:
        return Severity.MEDIUM
    if score < 9.0:
        return Severity.HIGH
    return Severity.CRITICAL


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Model(BaseModel):
    # Fields are named in boto3's PascalCase and also accept the wire's camelCase, so a finding
    # is read in either spelling without rewriting its keys first.
    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=_camel, populate_by_name=True
    )


class _Address(_Model):
    PrivateIpAddress: str | None = None
    PrivateDnsName: str | None = None


class _Interface(_Address):
    PublicIp: str | None = None
    PrivateIpAddresses: list[_Address] = []


class _Instance(_Model):
    InstanceId: str | None = None
    NetworkInterfaces: list[_Interface] = []


class _Container(_Model):
    Id: str | None = None
    Image: str | None = None


class _Workload(_Model):
    Name: str | None = None
    Type: str | None = None
    Namespace: str | None = None
    Containers: list[_Container] = []


class _Kubernetes(_Model):
    KubernetesWorkloadDetails: _Workload | None = None


class _Named(_Model):
    Name: str | None = None


class _Resource(_Model):
    ResourceType: str | None = None
    InstanceDetails: _Instance | None = None
    EksClusterDetails: _Named | None = None
    KubernetesDetails: _Kubernetes | None = None
    ContainerDetails: _Container | None = None


class _Detection(_Model):
    Anomaly: dict[str, Any] | None = None


class _Service(_Model):
    Archived: bool = False
    Detection: _Detection | None = None
    Count: int | None = None
    EventFirstSeen: str | None = None
    EventLastSeen: str | None = None


class _Finding(_Model):
    Id: str
    Type: str | None = None
    Title: str | None = None
    Description: str | None = None
    Severity: float | None = None
    CreatedAt: str
    UpdatedAt: str
    Resource: _Resource = _Resource()
    Service: _Service = _Service()


def _assets(resource: _Resource) -> tuple[AssetRef, ...]:
    pairs: list[Pair] = []
    if (instance := resource.InstanceDetails) is not None:
        pairs.append((AssetKind.INSTANCE, instance.InstanceId))
        for nic in instance.NetworkInterfaces:
            pairs += [(AssetKind.IP, nic.PrivateIpAddress), (AssetKind.HOST, nic.PrivateDnsName)]
            pairs.append((AssetKind.IP, nic.PublicIp))  # an EC2 public address is its own
            for extra in nic.PrivateIpAddresses:
                pairs += [
                    (AssetKind.IP, extra.PrivateIpAddress),
                    (AssetKind.HOST, extra.PrivateDnsName),
                ]
    cluster = resource.EksClusterDetails.Name if resource.EksClusterDetails else None
    kubernetes = resource.KubernetesDetails
    workload = kubernetes.KubernetesWorkloadDetails if kubernetes else None
    containers = list(workload.Containers) if workload else []
    namespace = workload.Namespace if workload else None
    # Type is the resource plural from the API path: pods, deployments, daemonsets…
    kind = (workload.Type or "").lower().removesuffix("s") if workload else ""
    name = workload.Name if workload and namespace else None
    pairs += kubernetes_pairs(cluster, namespace, name if kind == "pod" else None)
    if name and kind not in ("", "pod") and cluster:
        pairs.append((AssetKind.WORKLOAD, f"{cluster}/{namespace}/{kind}/{name}"))
    if resource.ContainerDetails is not None:
        containers.append(resource.ContainerDetails)
    for container in containers:
        # The image as written in the pod spec (may be just "centos"); asset() expands it.
        pairs += [(AssetKind.CONTAINER, container.Id), (AssetKind.IMAGE, container.Image)]
    return tuple(sorted(set(refs(pairs))))


def _signal(finding: _Finding, digest: str, source: str) -> Signal:
    service = finding.Service
    first = parse_time(service.EventFirstSeen or finding.CreatedAt)
    last = max(first, parse_time(service.EventLastSeen or finding.UpdatedAt))
    assets = _assets(finding.Resource)
    if not assets:
        kind = finding.Resource.ResourceType or "unknown"
        raise RejectedError("no_asset", f"resource type {kind} names no host, workload or image")
    return Signal(
        uid=SignalUid(f"{source}:{finding.Id}"),
        source=source,
        kind=finding_kind(
            finding.Type, anomaly=bool(service.Detection and service.Detection.Anomaly)
        ),
        title=finding.Title or finding.Type or finding.Id,
        severity=severity_of(finding.Severity),
        confidence=1.0,  # GuardDuty's Confidence field is not populated in practice
        status=SignalStatus.SUPPRESSED if service.Archived else SignalStatus.OPEN,
        first_seen=first,
        last_seen=last,
        assets=assets,
        rule=finding.Type,
        raw_digest=digest,
        count=max(service.Count or 1, 1),
    )


def map_findings(
    items: Sequence[Any], *, source: str, location: str = "Findings"
) -> tuple[list[Signal], list[Quarantined]]:
    """Map findings (either spelling) to signals; each unusable one is quarantined with a reason."""
    return map_page(
        items,
        lambda item, digest: _signal(_Finding.model_validate(item), digest, source),
        source=source,
        location=location,
        expected="a finding",
    )


def finding_watermark(items: Iterable[Any], current: str | None = None) -> str | None:
    """The latest ``UpdatedAt`` among ``items`` (RFC 3339 UTC), or ``current``."""
    return newest_time(items, lambda item: item.get("UpdatedAt", item.get("updatedAt")), current)


@dataclass
class GuardDutyNormalizer:
    """``clearance ingest --format guardduty``: findings exported by the CLI or EventBridge."""

    format: ClassVar[str] = "guardduty"
    source: str = "guardduty"

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        try:
            parsed = parse_json(data)
        except ValueError as exc:
            return Batch(
                quarantined=(self._whole(data, location, "invalid_json", f"not JSON: {exc}"),)
            )
        if isinstance(parsed, dict) and parsed.get("detail-type") == "GuardDuty Finding":
            parsed = parsed.get("detail")  # an EventBridge event: the finding is its detail
        if isinstance(parsed, dict) and ("id" in parsed or "Id" in parsed):
            parsed = [parsed]
        items = (
            parsed.get("Findings", parsed.get("findings")) if isinstance(parsed, dict) else parsed
        )
        if not isinstance(items, list):
            detail = "expected get-findings output, an EventBridge event, a finding or a list"
            return Batch(quarantined=(self._whole(data, location, "invalid_shape", detail),))
        where = f"{location}:Findings" if location else "Findings"
        signals, quarantined = map_findings(items, source=self.source, location=where)
        return Batch(signals=tuple(signals), quarantined=tuple(quarantined))

    def _whole(self, data: bytes, location: str, reason: str, detail: str) -> Quarantined:
        return quarantine_file(self.source, reason, detail, data, location, keep=4096)
