"""Lean decoding of list pages: only the fields correlation reads, into plain dicts.

A pod is a few kilobytes of JSON of which resolution reads a few hundred bytes; decoding all of
it into Python dicts dominated the initial list of a large cluster (see
``bench/bench_k8s_inventory.py``).
msgspec skips unknown fields without building them, so a page is decoded against the lean shapes
below and turned into small dicts of the same ``kubectl get -o json`` shape that ``k8s_objects``
parses. If a page does not fit these shapes (one malformed object), it is decoded generically
instead, so that object is skipped alone and its neighbours are kept.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Owner(msgspec.Struct, omit_defaults=True):
    uid: str | None = None
    controller: bool | None = None
    kind: str | None = None
    name: str | None = None


class _Meta(msgspec.Struct, omit_defaults=True):
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None  # noqa: N815 - the API's field name
    labels: dict[str, str] | None = None
    ownerReferences: list[_Owner] | None = None  # noqa: N815


class _Container(msgspec.Struct, omit_defaults=True):
    name: str | None = None
    image: str | None = None


class _Affinity(msgspec.Struct, omit_defaults=True):
    nodeAffinity: dict[str, Any] | None = None  # noqa: N815 - small; parsed by k8s_objects


class _PodSpec(msgspec.Struct, omit_defaults=True):
    nodeName: str | None = None  # noqa: N815
    nodeSelector: dict[str, str] | None = None  # noqa: N815
    affinity: _Affinity | None = None
    tolerations: list[dict[str, Any]] | None = None
    containers: list[_Container] | None = None


class _ContainerStatus(msgspec.Struct, omit_defaults=True):
    name: str | None = None
    containerID: str | None = None  # noqa: N815
    image: str | None = None
    imageID: str | None = None  # noqa: N815


class _PodStatus(msgspec.Struct, omit_defaults=True):
    hostIP: str | None = None  # noqa: N815
    containerStatuses: list[_ContainerStatus] | None = None  # noqa: N815
    initContainerStatuses: list[_ContainerStatus] | None = None  # noqa: N815
    ephemeralContainerStatuses: list[_ContainerStatus] | None = None  # noqa: N815


class _Pod(msgspec.Struct, omit_defaults=True):
    metadata: _Meta | None = None
    spec: _PodSpec | None = None
    status: _PodStatus | None = None


class _Template(msgspec.Struct, omit_defaults=True):
    spec: _PodSpec | None = None


class _JobSpec(msgspec.Struct, omit_defaults=True):
    template: _Template | None = None


class _JobTemplate(msgspec.Struct, omit_defaults=True):
    spec: _JobSpec | None = None


class _ControllerSpec(msgspec.Struct, omit_defaults=True):
    template: _Template | None = None
    jobTemplate: _JobTemplate | None = None  # noqa: N815


class _Controller(msgspec.Struct, omit_defaults=True):
    metadata: _Meta | None = None
    spec: _ControllerSpec | None = None


class _Address(msgspec.Struct, omit_defaults=True):
    type: str | None = None
    address: str | None = None


class _NodeSpec(msgspec.Struct, omit_defaults=True):
    providerID: str | None = None  # noqa: N815
    unschedulable: bool | None = None
    taints: list[dict[str, Any]] | None = None


class _NodeStatus(msgspec.Struct, omit_defaults=True):
    addresses: list[_Address] | None = None


class _Node(msgspec.Struct, omit_defaults=True):
    metadata: _Meta | None = None
    spec: _NodeSpec | None = None
    status: _NodeStatus | None = None


class _ListMeta(msgspec.Struct, omit_defaults=True):
    resourceVersion: str | None = None  # noqa: N815
    # "continue" is a Python keyword: renamed on the wire.
    next: str | None = msgspec.field(name="continue", default=None)


def _list_type(item: type[msgspec.Struct]) -> type[msgspec.Struct]:
    return msgspec.defstruct(
        f"{item.__name__}List",
        [("items", list[item] | None, None), ("metadata", _ListMeta | None, None)],  # type: ignore[valid-type]
    )


_LISTS = {
    "pod": _list_type(_Pod),
    "node": _list_type(_Node),
}
_CONTROLLER_LIST = _list_type(_Controller)


def decode_page(kind: str, content: bytes) -> tuple[list[Any], str, str | None]:
    """``(items as dicts, resourceVersion, continue token)`` of one list page.

    Raises ``msgspec.DecodeError`` (or ``TypeError``/``KeyError`` for a non-list body) when the
    page is not a Kubernetes list at all.
    """
    try:
        page: Any = msgspec.json.decode(content, type=_LISTS.get(kind, _CONTROLLER_LIST))
        items = msgspec.to_builtins(page.items or [])
        meta = page.metadata
        version, token = (meta.resourceVersion, meta.next) if meta else (None, None)
    except msgspec.ValidationError:
        # Some object does not fit the lean shape: take the slow road, object by object.
        body = msgspec.json.decode(content)
        items = body["items"] or []
        raw_meta = body.get("metadata") or {}
        version, token = raw_meta.get("resourceVersion"), raw_meta.get("continue")
    return items, str(version or ""), token or None
