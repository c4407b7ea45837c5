"""Node identity: every name a node goes by, as host refs, and cloud instance ids from providerID.

The same machine is ``duckboat-01`` to Kubernetes, ``ip-10-9-150-105.ec2.internal`` in its
addresses, ``i-03dc801fd988ab620`` in its ``spec.providerID`` and ``IP-10-9-150-105`` to an EDR
(fixture ``tests/fixtures/k8s/honeycomb.nodelist.eks.json``), so all of them are emitted.

``spec.providerID`` is ``<ProviderName>://<ProviderSpecificNodeID>``; the observed forms are listed
in ``docs/inventory.md`` (integrations.md §1.3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clearance.errors import InvalidAssetError
from clearance.model.assets import AssetKind, AssetRef, asset

_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9_.-]*[a-z0-9])?$")
_AWS = re.compile(r"^aws:///(?P<zone>[^/]*)/(?P<id>i-[0-9a-f]+)$")
_GCE = re.compile(r"^gce://(?P<project>[^/]+)/(?P<zone>[^/]+)/(?P<name>[^/]+)$")
_AZURE = re.compile(
    r"^azure://(?P<id>/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.compute/"
    r"(?:virtualmachines/(?P<vm>[^/]+)|virtualmachinescalesets/(?P<vmss>[^/]+)/virtualmachines/(?P<index>[^/]+)))$",
    re.IGNORECASE,
)
_DIGITALOCEAN = re.compile(r"^digitalocean://(?P<id>[0-9]+)$")
_HOST_ADDRESSES = {"Hostname", "InternalDNS", "ExternalDNS"}
_IP_ADDRESSES = {"InternalIP", "ExternalIP"}


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """What a providerID says: the provider, and the cloud's own id for the machine if any."""

    provider: str
    instance: str | None
    host: str | None = None  # a VM name that doubles as the machine's host name


def parse_provider_id(provider_id: str) -> ProviderIdentity:
    """Parse ``spec.providerID``; an unknown scheme yields its provider name and no instance."""
    text = provider_id.strip()
    if m := _AWS.match(text):
        return ProviderIdentity("aws", m["id"])
    if m := _GCE.match(text):
        # The GCE instance *name* (the numeric id is not in providerID); GKE node name = it.
        return ProviderIdentity("gce", m["name"].lower(), host=m["name"].lower())
    if m := _AZURE.match(text):
        # ARM ids compare case-insensitively (the provider lower-cases resource group names).
        vm = m["vm"]
        return ProviderIdentity("azure", m["id"].lower(), host=vm.lower() if vm else None)
    if m := _DIGITALOCEAN.match(text):
        return ProviderIdentity("digitalocean", m["id"])
    scheme = text.split("://", 1)[0].lower() if "://" in text else "unknown"
    # kind://docker/<cluster>/<node> and bare-metal schemes name no cloud machine.
    return ProviderIdentity(scheme, None)


def _host(value: Any) -> AssetRef | None:
    if not isinstance(value, str):
        return None
    try:
        ref = asset(AssetKind.HOST, value)
    except InvalidAssetError:
        return None
    # Support bundles redact addresses as "***HIDDEN***": not a name, so not a ref.
    return ref if _HOST_NAME.match(ref.value) else None


def node_refs(
    name: str, labels: Mapping[str, Any], addresses: list[Any], provider_id: Any
) -> tuple[tuple[AssetRef, str], ...]:
    """Every host, ip and instance ref of one node, each with the field it came from."""
    refs: dict[AssetRef, str] = {}

    def add(ref: AssetRef | None, via: str) -> None:
        if ref is not None:
            refs.setdefault(ref, via)

    add(_host(name), "node name")
    add(_host(labels.get("kubernetes.io/hostname")), "label kubernetes.io/hostname")
    for address in addresses:
        if not isinstance(address, Mapping):
            continue
        kind, value = address.get("type"), address.get("address")
        if kind in _HOST_ADDRESSES:
            add(_host(value), f"address {kind}")
        elif kind in _IP_ADDRESSES and isinstance(value, str):
            try:
                add(asset(AssetKind.IP, value), f"address {kind}")
            except InvalidAssetError:
                continue  # redacted or garbage: the node keeps its other names
    if isinstance(provider_id, str) and provider_id:
        ident = parse_provider_id(provider_id)
        if ident.instance:
            add(AssetRef(AssetKind.INSTANCE, ident.instance), f"providerID {ident.provider}")
        add(_host(ident.host), f"providerID {ident.provider}")
    return tuple(refs.items())
