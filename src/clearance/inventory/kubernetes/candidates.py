"""Candidate nodes: where the scheduler *may* place a pod that does not run yet.

Mirrors kube-scheduler's filter plugins NodeName, NodeUnschedulable, NodeAffinity (nodeSelector
and required node affinity) and TaintToleration
(https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/ and
taint-and-toleration/). Resource fit, inter-pod affinity, topology spread and volume zones are not
computed, so the answer is a **superset** of the nodes the pod can land on: the safe side for a
risk gate, and said so in the exposure's notes. An autoscaled pool may add nodes that do not exist
yet; that is stated too, never hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clearance.inventory.kubernetes.objects import (
    MalformedObjectError,
    Node,
    Requirement,
    Scheduling,
    Taint,
    Toleration,
    pod_template_spec,
    scheduling_of,
)

SUPERSET_NOTE = (
    "candidate nodes are a superset: resource fit, inter-pod affinity, topology spread and "
    "volume zones are not computed"
)
# The tolerations the DaemonSet controller adds to every pod it creates
# (fixture tests/fixtures/k8s/troubleshoot.pod.daemonset-owned.json).
DAEMONSET_TOLERATIONS = tuple(
    Toleration(key, "Exists", "", effect)
    for key, effect in (
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    )
)
# Labels that mark a node as part of a pool an autoscaler may grow.
AUTOSCALED_POOL_LABELS = (
    "karpenter.sh/nodepool",
    "karpenter.sh/provisioner-name",
    "eks.amazonaws.com/nodegroup",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "cluster.x-k8s.io/deployment-name",
)
_WORKLOAD_KINDS = {
    "deployment",
    "statefulset",
    "daemonset",
    "replicaset",
    "job",
    "cronjob",
    "rollout",
    "pod",
}


def _requirement_holds(req: Requirement, value: str | None) -> bool:
    match req.operator:
        case "In":
            return value is not None and value in req.values
        case "NotIn":
            return value is None or value not in req.values
        case "Exists":
            return value is not None
        case "DoesNotExist":
            return value is None
        case "Gt" | "Lt":
            try:
                have, want = int(value or ""), int(req.values[0])
            except (ValueError, IndexError):
                return False
            return have > want if req.operator == "Gt" else have < want
    return False


def _affinity_allows(scheduling: Scheduling, node: Node) -> bool:
    if any(node.labels.get(k) != v for k, v in scheduling.node_selector):
        return False
    terms = scheduling.required_terms
    if terms is None:
        return True
    # Terms are ORed; an empty term list matches nothing. matchFields knows only metadata.name.
    for term in terms:
        if not term.expressions and not term.fields:
            continue
        exprs = all(_requirement_holds(r, node.labels.get(r.key)) for r in term.expressions)
        fields = all(
            _requirement_holds(r, node.name if r.key == "metadata.name" else None)
            for r in term.fields
        )
        if exprs and fields:
            return True
    return False


def _tolerates(toleration: Toleration, taint: Taint) -> bool:
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.operator == "Exists":
        return not toleration.key or toleration.key == taint.key
    return toleration.key == taint.key and toleration.value == taint.value


def exclusion(scheduling: Scheduling, node: Node) -> str | None:
    """Why a pod with ``scheduling`` may not run on ``node`` (the first filter that says no)."""
    if scheduling.node_name is not None:
        # nodeName bypasses the scheduler: taints and cordons do not apply (NoExecute would
        # evict, but the pod still lands there first).
        return None if node.name == scheduling.node_name else "not the nodeName"
    if node.unschedulable and not any(
        _tolerates(t, Taint("node.kubernetes.io/unschedulable", "", "NoSchedule"))
        for t in scheduling.tolerations
    ):
        return "cordoned"
    if not _affinity_allows(scheduling, node):
        return "nodeSelector/affinity not matched"
    for taint in node.taints:
        if taint.effect in ("NoSchedule", "NoExecute") and not any(
            _tolerates(t, taint) for t in scheduling.tolerations
        ):
            value = f"={taint.value}" if taint.value else ""
            return f"taint {taint.key}{value}:{taint.effect} not tolerated"
    return None


@dataclass(frozen=True, slots=True)
class Candidates:
    nodes: tuple[Node, ...]  # by name
    notes: tuple[str, ...]


def candidate_nodes(
    scheduling: Scheduling, nodes: Iterable[Node], *, daemonset: bool
) -> Candidates:
    """The existing nodes a pod with ``scheduling`` may run on, with what the answer leaves out."""
    if daemonset:
        scheduling = Scheduling(
            scheduling.node_name,
            scheduling.node_selector,
            scheduling.required_terms,
            scheduling.tolerations + DAEMONSET_TOLERATIONS,
        )
    every = sorted(nodes, key=lambda n: n.name)
    excluded: dict[str, int] = {}
    chosen_list: list[Node] = []
    for node in every:
        why = exclusion(scheduling, node)
        if why is None:
            chosen_list.append(node)
        else:
            excluded[why] = excluded.get(why, 0) + 1
    chosen = tuple(chosen_list)
    notes = [SUPERSET_NOTE]
    if excluded:
        notes.append(
            f"{sum(excluded.values())} of {len(every)} nodes excluded: "
            + ", ".join(f"{why} ({n})" for why, n in sorted(excluded.items()))
        )
    pools = sorted(
        {
            f"{label}={node.labels[label]}"
            for node in (chosen or tuple(every))
            for label in AUTOSCALED_POOL_LABELS
            if label in node.labels
        }
    )
    if pools and scheduling.node_name is None:
        notes.append("an autoscaler may add nodes not listed here to pool(s) " + ", ".join(pools))
    return Candidates(chosen, tuple(notes))


@dataclass(frozen=True, slots=True)
class ManifestWorkload:
    """The workload a manifest describes: its kind, namespace, name and scheduling."""

    kind: str
    namespace: str | None
    name: str
    scheduling: Scheduling


def read_manifest(manifest: Any) -> ManifestWorkload:
    """Parse the workload object being deployed (``--manifest FILE`` or an admission object).

    Raises :class:`MalformedObjectError`, naming the manifest, for anything that is not a
    workload with a pod template.
    """
    try:
        return _read_manifest(manifest)
    except (TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, MalformedObjectError):
            raise
        raise MalformedObjectError("manifest", f"unexpected shape ({exc})") from exc


def _read_manifest(manifest: Any) -> ManifestWorkload:
    if not isinstance(manifest, Mapping):
        raise MalformedObjectError("manifest", "not an object")
    kind = str(manifest.get("kind") or "").lower()
    meta = manifest.get("metadata") or {}
    name = meta.get("name") or meta.get("generateName") or ""
    where = f"manifest {kind or '?'}/{name or '?'}"
    if kind not in _WORKLOAD_KINDS:
        raise MalformedObjectError(
            where,
            f"kind {manifest.get('kind')!r} is not a workload "
            f"({', '.join(sorted(_WORKLOAD_KINDS))})",
        )
    spec = pod_template_spec(manifest, kind)
    if spec is None:
        raise MalformedObjectError(where, "no pod template (spec.template.spec)")
    return ManifestWorkload(
        kind=kind,
        namespace=meta.get("namespace"),
        name=str(name),
        scheduling=scheduling_of(spec, where),
    )
