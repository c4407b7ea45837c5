"""Machines and the agents on them, shared by the vendor mappings (Defender, SentinelOne, Wazuh,
Falcon, GuardDuty): each vendor reads its own field names, then these build the same asset
references and inventory records from them.

* :func:`kubernetes_pairs`: a cluster, namespace and pod as ``cluster:``, ``namespace:`` and
  ``pod:`` values (namespaces are named within their cluster, pods within their namespace).
* :func:`managed_host`: one agent of a vendor's inventory as a :class:`Managed` record, its
  check-in read by :func:`check_in`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from clearance.errors import InvalidSignalError
from clearance.model.assets import AssetKind, AssetRef
from clearance.model.coverage import Managed
from clearance.model.signal import parse_time

__all__ = ["Pair", "check_in", "kubernetes_pairs", "managed_host"]

Pair = tuple[AssetKind, str | None]
"""One value a vendor names and the kind of asset it is; :func:`~._mapping.refs` normalizes."""


def kubernetes_pairs(cluster: str | None, namespace: str | None, pod: str | None) -> list[Pair]:
    """The cluster, ``cluster/namespace`` and ``namespace/pod``, each where its parts are known."""
    pairs: list[Pair] = []
    if cluster:
        pairs.append((AssetKind.CLUSTER, cluster))
    if cluster and namespace:
        pairs.append((AssetKind.NAMESPACE, f"{cluster}/{namespace}"))
    if namespace and pod:
        pairs.append((AssetKind.POD, f"{namespace}/{pod}"))
    return pairs


def check_in(text: str | None) -> datetime | None:
    """An agent's last check-in; None when absent or unreadable: as never checked in, so the
    host is not covered."""
    try:
        return parse_time(text) if text else None
    except InvalidSignalError:
        return None


def managed_host(
    source: str,
    kind: str,
    device: str,
    found: Iterable[AssetRef],
    last_seen: str | None,
    working: bool,
) -> Managed | None:
    """An agent (``device``: the vendor's id for it) on the machine named by ``found``; None
    when ``found`` is empty, since a record naming no machine covers nothing."""
    assets = tuple(sorted(set(found)))
    if not assets:
        return None
    return Managed(source, kind, device, assets, check_in(last_seen), working)
