"""CrowdStrike Falcon host records (``/devices/entities/devices/v2``, and the ``device`` block of
an alert) as asset references and identities.

One machine is known by many names: its host name, cloud instance id, addresses, MAC and, for a
Kubernetes node or pod, its pod and cluster. Facts: ``docs/sources/crowdstrike.md``; a real record
is ``tests/fixtures/crowdstrike/devices-entities-v2.gcp-windows.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.coverage import Managed
from clearance.sources._hosts import Pair, kubernetes_pairs, managed_host
from clearance.sources._mapping import refs

__all__ = ["Device", "HostIdentity", "device_refs", "host_identity", "managed"]


class Device(BaseModel):
    """The fields of a host record Clearance reads; the rest is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    device_id: str | None = None
    hostname: str | None = None
    local_ip: str | None = None
    external_ip: str | None = None
    mac_address: str | None = None
    instance_id: str | None = None
    service_provider: str | None = None
    pod_name: str | None = None
    pod_namespace: str | None = None
    k8s_cluster_id: str | None = None
    last_seen: str | None = None
    reduced_functionality_mode: str | None = None


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """One Falcon host (``device_id``): every asset reference it is known by."""

    device_id: str
    assets: tuple[AssetRef, ...]

    def identity(self) -> dict[str, tuple[str, ...]]:
        """The ``Batch.identities`` group: normalized values by asset kind."""
        groups: dict[str, list[str]] = {}
        for ref in self.assets:
            groups.setdefault(ref.kind.value, []).append(ref.value)
        return {kind: tuple(values) for kind, values in groups.items()}


def device_refs(device: Device, clusters: Mapping[str, str]) -> list[AssetRef]:
    """Every reference a host record names; ``clusters`` maps ``k8s_cluster_id`` to a name."""
    cloud = bool(device.service_provider)
    cluster = clusters.get(device.k8s_cluster_id or "")
    pairs: list[Pair] = [
        (AssetKind.HOST, device.hostname),
        (AssetKind.INSTANCE, device.instance_id),
        (AssetKind.IP, device.local_ip),
        # A workstation's external_ip is its NAT gateway, shared by many machines; a cloud
        # instance's is its own public address.
        (AssetKind.IP, device.external_ip if cloud else None),
        (AssetKind.MAC, device.mac_address),  # dashes (4e-93-…) are normalized by asset()
    ]
    # A sensor's namespace is named only with its pod (a node's sensor names neither).
    namespace = device.pod_namespace if device.pod_name else None
    pairs += kubernetes_pairs(cluster, namespace, device.pod_name)
    return refs(pairs)


def host_identity(record: Any, clusters: Mapping[str, str] | None = None) -> HostIdentity | None:
    """A host record (``/devices/entities/devices/v2``) as an identity; None if unusable."""
    try:
        device = Device.model_validate(record)
    except ValidationError:
        return None
    found = device_refs(device, clusters or {})
    if not device.device_id or not found:
        return None
    return HostIdentity(device.device_id, tuple(sorted(set(found))))


def managed(
    record: Any, source: str, kind: str, clusters: Mapping[str, str] | None = None
) -> Managed | None:
    """A host record as an agent in the inventory; None if it names no machine. A sensor in
    reduced functionality mode (``reduced_functionality_mode: "yes"``: its kernel is not
    supported, so it does not see what it should) does not count as working."""
    found = host_identity(record, clusters)
    if found is None:
        return None
    device = Device.model_validate(record)
    working = (device.reduced_functionality_mode or "no").lower() != "yes"
    return managed_host(source, kind, found.device_id, found.assets, device.last_seen, working)
