"""Lean decoding of list pages: only the fields correlation reads, into plain dicts.

A pod is a few kilobytes of JSON of which resolution reads a few hundred bytes; decoding all of
it into Python dicts dominated the initial list of a large cluster (see
``bench/bench_k8s_inventory.py``).
msgspec skips unknown fields without building them, so a page is decoded against the lean
``TypedDict`` shapes below straight into small dicts of the same ``kubectl get -o json`` shape
that ``objects`` parses. If a page does not fit these shapes (one malformed object), it is
decoded generically instead, so that object is skipped alone and its neighbours are kept.
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec


class _Owner(TypedDict, total=False):
    uid: str
    controller: bool
    kind: str
    name: str


class _Meta(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    resourceVersion: str
    labels: dict[str, str]
    ownerReferences: list[_Owner]


class _Container(TypedDict, total=False):
    name: str
    image: str


class _Affinity(TypedDict, total=False):
    nodeAffinity: dict[str, Any]


class _PodSpec(TypedDict, total=False):
    nodeName: str
    nodeSelector: dict[str, str]
    affinity: _Affinity
    tolerations: list[dict[str, Any]]
    containers: list[_Container]


# Health (health.py) reads a few status fields; each is a lean shape too, since the generic
# dicts of a pod's whole status doubled the decoding time of a page.
class _Reason(TypedDict, total=False):
    reason: str


class _Finished(TypedDict, total=False):
    finishedAt: str


class _State(TypedDict, total=False):
    waiting: _Reason


class _LastState(TypedDict, total=False):
    terminated: _Finished


class _PodCondition(TypedDict, total=False):
    type: str
    status: str
    lastTransitionTime: str


class _Condition(_PodCondition, total=False):
    reason: str
    message: str
    lastUpdateTime: str


class _ContainerStatus(TypedDict, total=False):
    name: str
    containerID: str
    image: str
    imageID: str
    restartCount: int
    state: _State
    lastState: _LastState


class _PodStatus(TypedDict, total=False):
    hostIP: str
    phase: str
    reason: str
    conditions: list[_PodCondition]
    containerStatuses: list[_ContainerStatus]
    initContainerStatuses: list[_ContainerStatus]
    ephemeralContainerStatuses: list[_ContainerStatus]


class _Pod(TypedDict, total=False):
    metadata: _Meta
    spec: _PodSpec
    status: _PodStatus


# A controller's pod template also keeps what drift compares (model/podspec.py): commands,
# env names, privileged, hostPath volumes. Pods do not: their own spec is never compared.
class _EnvVar(TypedDict, total=False):
    name: str


class _SecurityContext(TypedDict, total=False):
    privileged: bool


class _TemplateContainer(_Container, total=False):
    command: list[str]
    args: list[str]
    env: list[_EnvVar]
    securityContext: _SecurityContext


class _HostPath(TypedDict, total=False):
    path: str


class _Volume(TypedDict, total=False):
    name: str
    hostPath: _HostPath


class _TemplateSpec(_PodSpec, total=False):
    containers: list[_TemplateContainer]  # type: ignore[misc]
    initContainers: list[_TemplateContainer]
    volumes: list[_Volume]


class _Template(TypedDict, total=False):
    spec: _TemplateSpec


class _JobSpec(TypedDict, total=False):
    template: _Template


class _JobTemplate(TypedDict, total=False):
    spec: _JobSpec


class _ControllerSpec(TypedDict, total=False):
    template: _Template
    jobTemplate: _JobTemplate


class _ControllerStatus(TypedDict, total=False):
    conditions: list[_Condition]  # a Deployment's Progressing condition


class _Controller(TypedDict, total=False):
    metadata: _Meta
    spec: _ControllerSpec
    status: _ControllerStatus


class _Address(TypedDict, total=False):
    type: str
    address: str


class _NodeSpec(TypedDict, total=False):
    providerID: str
    unschedulable: bool
    taints: list[dict[str, Any]]


class _NodeStatus(TypedDict, total=False):
    addresses: list[_Address]
    conditions: list[_Condition]  # Ready, MemoryPressure, DiskPressure, PIDPressure


class _Node(TypedDict, total=False):
    metadata: _Meta
    spec: _NodeSpec
    status: _NodeStatus


# "continue" is a Python keyword, hence the functional form.
_ListMeta = TypedDict("_ListMeta", {"resourceVersion": str, "continue": str}, total=False)


class _PodList(TypedDict, total=False):
    items: list[_Pod] | None
    metadata: _ListMeta


class _NodeList(TypedDict, total=False):
    items: list[_Node] | None
    metadata: _ListMeta


class _ControllerList(TypedDict, total=False):
    items: list[_Controller] | None
    metadata: _ListMeta


_LISTS: dict[str, Any] = {"pod": _PodList, "node": _NodeList}


def decode_page(kind: str, content: bytes) -> tuple[list[Any], str, str | None]:
    """``(items as dicts, resourceVersion, continue token)`` of one list page.

    Raises ``msgspec.DecodeError`` (or ``TypeError``/``KeyError`` for a non-list body) when the
    page is not a Kubernetes list at all.
    """
    try:
        body: Any = msgspec.json.decode(content, type=_LISTS.get(kind, _ControllerList))
    except msgspec.ValidationError:
        # Some object does not fit the lean shape: take the slow road, object by object.
        body = msgspec.json.decode(content)
    items = body["items"] or []
    meta = body.get("metadata") or {}
    return items, str(meta.get("resourceVersion") or ""), meta.get("continue") or None
