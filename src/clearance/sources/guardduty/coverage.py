"""GuardDuty Runtime Monitoring coverage of EKS clusters (``ListCoverage``) as inventory records.

GuardDuty reports EKS runtime coverage per cluster, not per node: ``coverageStatus`` HEALTHY or
UNHEALTHY (with an ``issue``), and how many of the cluster's compatible nodes run its agent
(``coveredNodes`` of ``compatibleNodes``). Which nodes lack it is not said, so a cluster covers
its nodes only while it is HEALTHY and every compatible node is covered; anything less fails
closed for every node of the cluster. ``updatedAt`` is when GuardDuty last assessed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from clearance.model.assets import AssetKind
from clearance.model.coverage import Managed
from clearance.sources._mapping import refs

__all__ = ["EKS_ONLY", "managed_cluster", "read_coverage"]

# ListCoverage also lists ECS clusters and EC2 instances; nodes Clearance gates are EKS's.
EKS_ONLY = {
    "FilterCriterion": [{"CriterionKey": "RESOURCE_TYPE", "FilterCondition": {"Equals": ["EKS"]}}]
}


def managed_cluster(
    resource: Any, source: str, kind: str, clusters: Mapping[str, str]
) -> Managed | None:
    """One ``CoverageResource`` (boto3's parsed shape) as a cluster-wide record; None when it is
    not an EKS cluster with a name. ``clusters`` renames EKS clusters to the names Clearance's
    targets use."""
    if not isinstance(resource, dict):
        return None
    details = (resource.get("ResourceDetails") or {}).get("EksClusterDetails") or {}
    name = details.get("ClusterName")
    found = refs([(AssetKind.CLUSTER, clusters.get(name, name) if isinstance(name, str) else None)])
    resource_id = resource.get("ResourceId") or name
    if not found or not isinstance(resource_id, str):
        return None
    covered, compatible = details.get("CoveredNodes"), details.get("CompatibleNodes")
    complete = isinstance(covered, int) and isinstance(compatible, int) and covered >= compatible
    healthy = resource.get("CoverageStatus") == "HEALTHY"
    seen = resource.get("UpdatedAt")
    return Managed(
        source=source,
        kind=kind,
        device=resource_id,
        assets=tuple(found),
        last_seen=seen if isinstance(seen, datetime) else None,
        active=healthy and complete,
        scope="cluster",
    )


def read_coverage(
    call: Callable[..., dict[str, Any]],
    list_coverage: Callable[..., Any],
    detector: str,
    *,
    source: str,
    kind: str,
    clusters: Mapping[str, str],
) -> tuple[Managed, ...]:
    """Every EKS cluster's coverage, following ``NextToken`` (≤ 50 a page, the API's limit)."""
    request: dict[str, Any] = {"DetectorId": detector, "MaxResults": 50, "FilterCriteria": EKS_ONLY}
    found: list[Managed] = []
    while True:
        page = call("ListCoverage", list_coverage, **request)
        for resource in page.get("Resources") or []:
            if (agent := managed_cluster(resource, source, kind, clusters)) is not None:
                found.append(agent)
        token = page.get("NextToken") or ""
        if not token:
            return tuple(found)
        request["NextToken"] = token
