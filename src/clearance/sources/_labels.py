"""Which Kubernetes object a Prometheus-style label set names: the assets of an alert or a series.

Alertmanager alerts and Prometheus series carry the labels their rules and exporters gave them
(kube-state-metrics: ``namespace``, ``pod``, ``node``, ``deployment``, ``statefulset``,
``daemonset``, ``job_name``, ``cronjob``; a multi-cluster setup adds ``cluster`` through
``external_labels``). The names differ between setups, so the mapping is configuration
(:class:`LabelMapping`); the defaults are kube-state-metrics' and the kube-prometheus mixins'.

A label set names the most specific objects it can: a pod (with its namespace), a workload (with
its namespace and cluster), a node, and the namespace itself (with its cluster). One naming none
of them is about no target this gate can tell, and is left out.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from clearance.errors import InvalidAssetError
from clearance.model.assets import AssetKind, AssetRef, asset

__all__ = ["DEFAULT_WORKLOADS", "LabelMapping", "assets_of"]

# kube-state-metrics label → workload kind (as Clearance writes it: deployment/checkout).
DEFAULT_WORKLOADS = {
    "deployment": "deployment",
    "statefulset": "statefulset",
    "daemonset": "daemonset",
    "job_name": "job",
    "cronjob": "cronjob",
    "rollout": "rollout",
}


class LabelMapping(BaseModel):
    """Label names for each part of a Kubernetes object (``labels:`` in a source's config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str = "cluster"
    namespace: str = "namespace"
    pod: str = "pod"
    node: str = "node"
    workloads: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_WORKLOADS))


def assets_of(
    labels: Mapping[str, str], mapping: LabelMapping, cluster: str | None
) -> tuple[AssetRef, ...]:
    """The assets ``labels`` name; ``cluster`` is the source's own when no label gives one.

    Raises :class:`InvalidAssetError` for a value that cannot name its kind of object (the
    caller quarantines that item).
    """
    cluster = labels.get(mapping.cluster) or cluster
    namespace = labels.get(mapping.namespace)
    refs: list[AssetRef] = []
    if namespace and (pod := labels.get(mapping.pod)):
        refs.append(asset(AssetKind.POD, f"{namespace}/{pod}"))
    if namespace and cluster:
        for label, kind in sorted(mapping.workloads.items()):
            if name := labels.get(label):
                refs.append(asset(AssetKind.WORKLOAD, f"{cluster}/{namespace}/{kind}/{name}"))
    if node := labels.get(mapping.node):
        refs.append(asset(AssetKind.HOST, node))
    if namespace and cluster:
        refs.append(asset(AssetKind.NAMESPACE, f"{cluster}/{namespace}"))
    if not refs and namespace and not cluster:
        raise InvalidAssetError(
            f"label {mapping.namespace}={namespace!r} names no cluster (tip: set the source's "
            f"'cluster', or map the label that carries it with labels.cluster)"
        )
    return tuple(dict.fromkeys(refs))
