"""Resolve a target against one cluster's cached objects. Pure: no clock, no I/O.

The ownership chain is followed by ``ownerReferences`` uid, never by name or selector alone
(names are reused after delete/recreate; selectors can overlap): workload → ReplicaSets (Deployment,
Argo Rollout) or Jobs (CronJob) → Pods → the Nodes they run on. Pods give ``direct`` refs, nodes
``host`` refs, each with a ``via`` path for the decision record. What cannot be resolved is said
precisely (target not found, nodes unknown), never returned as an empty exposure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from clearance.inventory.kubernetes.candidates import ManifestWorkload, candidate_nodes
from clearance.inventory.kubernetes.health import node_conditions, pod_conditions
from clearance.inventory.kubernetes.objects import Controller, Node, Pod, Scheduling
from clearance.model.assets import AssetKind, AssetRef
from clearance.model.health import HealthCondition
from clearance.model.podspec import PodSpecView
from clearance.model.target import ExposedAsset, Proximity, Target, UnresolvedReason

KIND_ALIASES = {
    "deploy": "deployment",
    "deployments": "deployment",
    "sts": "statefulset",
    "statefulsets": "statefulset",
    "ds": "daemonset",
    "daemonsets": "daemonset",
    "jobs": "job",
    "cj": "cronjob",
    "cronjobs": "cronjob",
    "ro": "rollout",
    "rollouts": "rollout",
    "rs": "replicaset",
    "replicasets": "replicaset",
}
_MAX_DEPTH = 3  # CronJob → Job → Pod is the deepest built-in chain
# Restarts of one container that make it "restarting repeatedly" (the inventory's ``restarts``).
DEFAULT_RESTARTS = 3


class ClusterView(Protocol):
    """Read access to one cluster's cache (implemented by ``cache.ClusterCache``)."""

    def controller(self, kind: str, namespace: str, name: str) -> Controller | None: ...
    def owned_controllers(self, owner_uid: str) -> Sequence[Controller]: ...
    def owned_pods(self, owner_uid: str) -> Sequence[Pod]: ...
    def node(self, name: str) -> Node | None: ...
    def nodes(self) -> Sequence[Node]: ...


@dataclass
class Resolution:
    """Assets keyed by ``(proximity, ref)`` with the first ``via`` that found them."""

    found: dict[tuple[Proximity, AssetRef], str] = field(default_factory=dict)
    unresolved: list[tuple[UnresolvedReason, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Host refs by machine (node name -> its refs and the path that reached it), for the
    # identity graph to expand one machine at a time.
    machines: dict[str, tuple[tuple[AssetRef, ...], str]] = field(default_factory=dict)
    # What is wrong with the pods, the rollout and the nodes (current and candidate) found.
    conditions: dict[HealthCondition, None] = field(default_factory=dict)
    # The workload's live pod template, as drift compares it (model/podspec.py).
    template: PodSpecView | None = None

    def add(self, proximity: Proximity, ref: AssetRef, via: str) -> None:
        # The first path wins: running pods are visited (in name order) before candidates, so
        # an asset reached both ways is explained by where the workload runs now.
        self.found.setdefault((proximity, ref), via)

    def assets(self) -> tuple[ExposedAsset, ...]:
        return tuple(sorted(ExposedAsset(p, r, v) for (p, r), v in self.found.items()))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def workload_kind(kind: str) -> str:
    kind = kind.lower()
    return KIND_ALIASES.get(kind, kind)


def pods_of(view: ClusterView, root: Controller) -> list[Pod]:
    """The pods ``root`` owns directly or through ReplicaSets/Jobs, by uid, sorted by name."""
    pods: list[Pod] = []
    level = [root.uid]
    for _ in range(_MAX_DEPTH):
        following: list[str] = []
        for uid in level:
            pods.extend(view.owned_pods(uid))
            following.extend(c.uid for c in view.owned_controllers(uid))
        if not following:
            break
        level = following
    return sorted(pods, key=lambda p: (p.namespace, p.name))


def add_node(out: Resolution, node: Node, prefix: str, cluster: str) -> None:
    path = f"{prefix} → node {node.name}"
    refs = tuple(ref for ref, _ in node.refs)
    out.machines.setdefault(node.name, (refs, path))
    for condition in node_conditions(cluster, node.name, refs, node.health):
        out.conditions.setdefault(condition)
    for ref, source in node.refs:
        out.add(Proximity.HOST, ref, f"{prefix} → node {node.name} → {source}")


def add_candidates(
    out: Resolution,
    view: ClusterView,
    scheduling: Scheduling,
    *,
    daemonset: bool,
    what: str,
    cluster: str,
) -> None:
    found = candidate_nodes(scheduling, view.nodes(), daemonset=daemonset)
    for note in found.notes:
        out.note(f"{what}: {note}")
    if not found.nodes:
        # No node fits today: where it will run is unknown, not safe (an autoscaler may add one).
        why = next((n for n in found.notes if "excluded:" in n), "the cluster has no nodes")
        out.unresolved.append(
            (
                UnresolvedReason.NODES_UNKNOWN,
                f"no existing node in cluster {cluster!r} satisfies the scheduling constraints of "
                f"{what} ({why})",
            )
        )
    for node in found.nodes:
        add_node(out, node, f"candidate: {what}", cluster)


def resolve_in_cluster(
    view: ClusterView,
    target: Target,
    manifest: ManifestWorkload | None = None,
    *,
    restarts: int = DEFAULT_RESTARTS,
) -> Resolution:
    """Resolve ``target`` in one cluster; ``manifest`` is the workload about to be applied.

    Beside the assets, the health of what was found: pods of the workload (``restarts``: how
    many restarts of one container count as restarting repeatedly), its rollout, its nodes."""
    out = Resolution()
    cluster, ns, name = target.cluster, target.namespace, target.workload.name
    kind = workload_kind(target.workload.kind)
    label = f"{kind}/{name}"
    root = view.controller(kind, ns, name)
    if root is None and manifest is None:
        out.unresolved.append(
            (
                UnresolvedReason.TARGET_NOT_FOUND,
                f"{label} not found in namespace {ns!r} of cluster {cluster!r}",
            )
        )
        return out
    pods = [] if root is None else pods_of(view, root)
    out.template = None if root is None else root.template
    missing_nodes: set[str] = set()
    if root is not None and root.rollout is not None:
        rollout = root.rollout
        ref = AssetRef(AssetKind.WORKLOAD, f"{cluster}/{ns}/{kind}/{name}".lower())
        out.conditions.setdefault(
            HealthCondition(
                cluster,
                f"{kind} {ns}/{name}",
                rollout.problem,
                rollout.detail,
                (ref,),
                rollout.since,
            )
        )
    for pod in pods:
        where = f"pod {pod.namespace}/{pod.name}"
        for ref, via in pod.refs:
            out.add(Proximity.DIRECT, ref, via)
        pod_ref = AssetRef(AssetKind.POD, f"{pod.namespace}/{pod.name}".lower())
        for condition in pod_conditions(cluster, where, pod_ref, pod.health, restarts=restarts):
            out.conditions.setdefault(condition)
        if pod.node_name is None:
            if pod.scheduling is not None and manifest is None:
                add_candidates(
                    out,
                    view,
                    pod.scheduling,
                    daemonset=False,
                    what=f"pending {where}",
                    cluster=cluster,
                )
            continue
        node = view.node(pod.node_name)
        if node is None:
            missing_nodes.add(pod.node_name)
            # The node's name and IP are still known from the pod: keep them.
            ref = AssetRef(AssetKind.HOST, pod.node_name.lower())
            out.add(Proximity.HOST, ref, f"{where} → spec.nodeName")
            out.machines.setdefault(pod.node_name, ((ref,), f"{where} → node {pod.node_name}"))
            continue
        add_node(out, node, where, cluster)
    if missing_nodes:
        out.unresolved.append(
            (
                UnresolvedReason.NODES_UNKNOWN,
                f"node(s) {', '.join(sorted(missing_nodes))} of {label} are not in the cache of "
                f"cluster {cluster!r}",
            )
        )
    if manifest is not None:
        what = f"{'new ' if root is None else ''}{manifest.kind}/{manifest.name or name} manifest"
        add_candidates(
            out,
            view,
            manifest.scheduling,
            daemonset=manifest.kind == "daemonset",
            what=what,
            cluster=cluster,
        )
    elif not pods and root is not None:
        if root.scheduling is None:
            out.unresolved.append(
                (UnresolvedReason.NODES_UNKNOWN, f"{label} has no pods and no pod template")
            )
        else:
            out.note(f"{label} has no pods; host assets are the candidate nodes of its template")
            add_candidates(
                out,
                view,
                root.scheduling,
                daemonset=kind == "daemonset",
                what=f"{label} template",
                cluster=cluster,
            )
    # The workload itself: findings a platform files against the workload (a GuardDuty EKS
    # finding, a Trivy Operator report) touch it directly, not merely its namespace.
    out.add(
        Proximity.DIRECT,
        AssetRef(AssetKind.WORKLOAD, f"{cluster}/{ns}/{kind}/{name}".lower()),
        "target workload",
    )
    out.add(
        Proximity.NAMESPACE,
        AssetRef(AssetKind.NAMESPACE, f"{cluster}/{ns}".lower()),
        "target namespace",
    )
    out.add(Proximity.CLUSTER, AssetRef(AssetKind.CLUSTER, cluster.lower()), "target cluster")
    for image in target.images:
        out.add(Proximity.DIRECT, AssetRef(AssetKind.IMAGE, str(image)), "--image")
    return out
