"""Kubernetes objects, parsed from raw API JSON into the slim records resolution reads.

The adapter boundary is the raw JSON dict (``kubectl get -o json`` shape): one malformed object
raises :class:`MalformedObjectError` for that object alone, so the cache skips and counts it while
keeping its neighbours (a typed decode of the whole list would lose them all). Records keep only
what correlation needs, with asset references normalized once at ingest, so resolving a target
from a warm cache is a few dict look-ups.

Field references: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
and node-v1/; fixtures under ``tests/fixtures/k8s/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from clearance.errors import InvalidAssetError
from clearance.inventory.kubernetes.health import (
    HEALTHY_NODE,
    HEALTHY_POD,
    NodeHealth,
    PodHealth,
    RolloutHealth,
    node_health,
    pod_health,
    rollout_health,
)
from clearance.inventory.kubernetes.nodes import node_refs
from clearance.inventory.kubernetes.scheduling import (
    MalformedObjectError,
    Requirement,
    Scheduling,
    SelectorTerm,
    Taint,
    Toleration,
    pod_template_spec,
    scheduling_of,
)
from clearance.model.assets import AssetKind, AssetRef, ImageRef, asset, parse_image
from clearance.model.podspec import PodSpecView, pod_spec_view

__all__ = [
    "Controller",
    "MalformedObjectError",
    "Node",
    "Pod",
    "Requirement",
    "Scheduling",
    "SelectorTerm",
    "Taint",
    "Toleration",
    "image_refs",
    "parse_controller",
    "parse_node",
    "parse_pod",
    "pod_template_spec",
    "scheduling_of",
]


@dataclass(frozen=True, slots=True)
class Controller:
    """A workload or an intermediate owner (ReplicaSet, Job), with its pod template's scheduling."""

    kind: str  # lower case: deployment, replicaset, statefulset, daemonset, job, cronjob, rollout
    namespace: str
    name: str
    uid: str
    owner_uid: str | None  # the controlling ownerReference
    scheduling: Scheduling | None
    rollout: RolloutHealth | None = None  # a Deployment's rollout, stuck or under way
    template: PodSpecView | None = None  # what drift compares (model/podspec.py)


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    uid: str
    owner_uid: str | None
    node_name: str | None
    host_ip: str | None
    refs: tuple[tuple[AssetRef, str], ...]  # direct refs and how each was found
    scheduling: Scheduling | None  # kept only while the pod has no node (Pending)
    health: PodHealth = HEALTHY_POD


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    uid: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    unschedulable: bool
    refs: tuple[tuple[AssetRef, str], ...]  # host refs and the identity field each came from
    health: NodeHealth = HEALTHY_NODE


def _meta(obj: Mapping[str, Any], kind: str) -> tuple[str, str, str, Mapping[str, Any]]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise MalformedObjectError(kind, "no metadata")
    name, uid, ns = meta.get("name"), meta.get("uid"), meta.get("namespace") or ""
    where = f"{kind} {ns + '/' if ns else ''}{name}"
    if not isinstance(name, str) or not name:
        raise MalformedObjectError(kind, "metadata.name missing")
    if not isinstance(uid, str) or not uid:
        raise MalformedObjectError(where, "metadata.uid missing")
    if not isinstance(ns, str):
        raise MalformedObjectError(where, "metadata.namespace is not a string")
    return ns, name, uid, meta


def _controller_uid(meta: Mapping[str, Any], where: str) -> str | None:
    refs = meta.get("ownerReferences") or []
    if not isinstance(refs, list):
        raise MalformedObjectError(where, "metadata.ownerReferences is not a list")
    for ref in refs:
        # Only the controlling owner counts: other owners (garbage-collection links) do not
        # schedule the object. https://kubernetes.io/docs/concepts/overview/working-with-objects/owners-dependents/
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            uid = ref.get("uid")
            if not isinstance(uid, str) or not uid:
                raise MalformedObjectError(where, "controlling ownerReference without uid")
            return uid
    return None


def parse_controller(obj: Mapping[str, Any], kind: str) -> Controller:
    ns, name, uid, meta = _meta(obj, kind)
    where = f"{kind} {ns}/{name}"
    template = pod_template_spec(obj, kind)
    return Controller(
        kind=kind,
        namespace=ns,
        name=name,
        uid=uid,
        owner_uid=_controller_uid(meta, where),
        scheduling=None if template is None else scheduling_of(template, where),
        rollout=rollout_health(kind, obj.get("status")),
        template=pod_spec_view(template),
    )


def _container_refs(status: Mapping[str, Any], where: str) -> list[tuple[AssetRef, str]]:
    refs: list[tuple[AssetRef, str]] = []
    for field in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(field) or []:
            if not isinstance(cs, Mapping):
                raise MalformedObjectError(where, f"status.{field} entry is not a map")
            name = cs.get("name") or "?"
            via = f"{where} container {name}"
            try:
                if cid := cs.get("containerID"):  # empty until the container starts
                    refs.append((asset(AssetKind.CONTAINER, str(cid)), via))
                image, image_id = cs.get("image"), cs.get("imageID")
                refs.extend(
                    (ref, via)
                    for ref in image_refs(
                        str(image) if image else None, str(image_id) if image_id else None
                    )
                )
            except InvalidAssetError as exc:
                raise MalformedObjectError(where, str(exc)) from exc
    return refs


@lru_cache(maxsize=1 << 14)
def image_refs(image: str | None, image_id: str | None) -> tuple[AssetRef, ...]:
    """Image refs from a container status, in every runtime's ``imageID`` form.

    Cached: the replicas of a workload share their images, so their pods share the refs too.

    docker: ``docker-pullable://repo@sha256:…``; containerd: ``docker.io/library/nginx@sha256:…``;
    a locally built or kind-loaded image: bare ``sha256:<image id>`` (a config digest, not a
    registry digest, so it is kept apart from the ``repo:tag``). See integrations.md §1.2.
    """
    name = parse_image(image) if image else None
    ident = parse_image(image_id) if image_id else None
    if ident is not None and ident.digest and ident.repository:
        # repo@digest: keep the tag from status.image when it names the same repository, so the
        # ref is filed under both the digest and repo:tag.
        tag = name.tag if name is not None and name.repository == ident.repository else None
        digest_ref = AssetRef(AssetKind.IMAGE, str(ImageRef(ident.repository, tag, ident.digest)))
        if name is not None and name.repository != ident.repository:
            return (digest_ref, AssetRef(AssetKind.IMAGE, str(name)))
        return (digest_ref,)
    refs = []
    if name is not None:
        refs.append(AssetRef(AssetKind.IMAGE, str(name)))
    if ident is not None:
        refs.append(AssetRef(AssetKind.IMAGE, str(ident)))
    return tuple(refs)


def parse_pod(obj: Mapping[str, Any]) -> Pod:
    ns, name, uid, meta = _meta(obj, "pod")
    where = f"pod {ns}/{name}"
    if not ns:
        raise MalformedObjectError(where, "metadata.namespace missing")
    spec = obj.get("spec")
    status = obj.get("status") or {}
    if not isinstance(spec, Mapping) or not isinstance(status, Mapping):
        raise MalformedObjectError(where, "spec or status is not a map")
    node_name = spec.get("nodeName") or None
    refs: list[tuple[AssetRef, str]] = [(AssetRef(AssetKind.POD, f"{ns}/{name}".lower()), where)]
    refs += _container_refs(status, where)
    if not any(r.kind is AssetKind.IMAGE for r, _ in refs):
        # Not started yet: the spec's images are what will run.
        for c in spec.get("containers") or []:
            if isinstance(c, Mapping) and c.get("image"):
                try:
                    refs.append((asset(AssetKind.IMAGE, str(c["image"])), f"{where} spec"))
                except InvalidAssetError as exc:
                    raise MalformedObjectError(where, str(exc)) from exc
    host_ip = status.get("hostIP") or None
    return Pod(
        namespace=ns,
        name=name,
        uid=uid,
        owner_uid=_controller_uid(meta, where),
        node_name=str(node_name) if node_name else None,
        host_ip=str(host_ip) if host_ip else None,
        refs=tuple(dict.fromkeys(refs)),
        scheduling=None if node_name else scheduling_of(spec, where),
        health=pod_health(status),
    )


def parse_node(obj: Mapping[str, Any]) -> Node:
    _, name, uid, meta = _meta(obj, "node")
    where = f"node {name}"
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    labels = meta.get("labels") or {}
    if not isinstance(spec, Mapping) or not isinstance(status, Mapping):
        raise MalformedObjectError(where, "spec or status is not a map")
    if not isinstance(labels, Mapping):
        raise MalformedObjectError(where, "metadata.labels is not a map")
    taints = []
    for t in spec.get("taints") or []:
        if not isinstance(t, Mapping) or not isinstance(t.get("key"), str):
            raise MalformedObjectError(where, "taint without key")
        taints.append(Taint(t["key"], str(t.get("value") or ""), str(t.get("effect") or "")))
    addresses = status.get("addresses") or []
    if not isinstance(addresses, list):
        raise MalformedObjectError(where, "status.addresses is not a list")
    return Node(
        name=name,
        uid=uid,
        labels={str(k): str(v) for k, v in labels.items()},
        taints=tuple(taints),
        unschedulable=bool(spec.get("unschedulable")),
        refs=node_refs(name, labels, addresses, spec.get("providerID")),
        health=node_health(spec, status),
    )
