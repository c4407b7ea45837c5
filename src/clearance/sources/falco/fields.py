"""Where a Falco event happened: the fields of Falco's JSON output that name assets and time
(used by :mod:`clearance.sources.falco.normalize`; field names from the reference §2 and the
fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.signal import parse_time
from clearance.sources._mapping import RejectedError, refs, usable

__all__ = ["audit_assets", "image", "moment", "runtime_assets", "text"]

# Falco writes "<NA>" (or null) for a field it could not resolve.
_ABSENT = frozenset({"", "<NA>", "N/A"})


def runtime_assets(
    alert: dict[str, Any], fields: dict[str, Any], cluster: str | None, *, hostname_is_node: bool
) -> tuple[str, list[AssetRef]]:
    """``(fold scope, assets)`` of a syscall or plugin event.

    Assets in the order pod, namespace, container, image, host, cluster; written out rather than
    looped over pairs because it runs once per event (bench/bench_normalize_push.py).
    """
    get = fields.get
    ns, pod = text(get("k8s.ns.name")), text(get("k8s.pod.name"))
    container = text(get("container.full_id")) or text(get("container.id"))
    reference = image(fields)
    host = text(alert.get("hostname")) if hostname_is_node else None
    assets: list[AssetRef] = []
    scope = ""
    if ns:
        if pod and (ref := usable(AssetKind.POD, f"{ns}/{pod}")) is not None:
            assets.append(ref)
            scope = str(ref)
        if cluster and (ref := usable(AssetKind.NAMESPACE, f"{cluster}/{ns}")) is not None:
            assets.append(ref)
    # "host" is Falco's container.id for a process outside any container.
    if container and container != "host" and (ref := usable(AssetKind.CONTAINER, container)):
        assets.append(ref)
        scope = scope or "container:" + ref.value[:12]
    if reference and (ref := usable(AssetKind.IMAGE, reference)) is not None:
        assets.append(ref)
        scope = scope or str(ref)
    if host and (ref := usable(AssetKind.HOST, host)) is not None:
        assets.append(ref)
        scope = scope or str(ref)
    # Also what a host-level event names when Falco's hostname is not the node: it happened on
    # one of the cluster's nodes.
    if cluster and (ref := usable(AssetKind.CLUSTER, cluster)) is not None:
        assets.append(ref)
    # The fold key: the closest thing the event names, pod > container > image > host.
    return scope or "cluster", assets


def text(value: Any) -> str | None:
    if isinstance(value, str):
        stripped = value.strip()
        return stripped if stripped not in _ABSENT else None
    return None


def image(fields: dict[str, Any]) -> str | None:
    """``repository[:tag][@digest]``. A repository with neither tag nor digest is skipped: Falco
    leaves the tag empty when the runtime did not report it, which does not mean ``latest``."""
    repository = text(fields.get("container.image.repository"))
    tag = text(fields.get("container.image.tag"))
    digest = text(fields.get("container.image.digest"))
    if digest and not digest.startswith("sha256:"):
        digest = None
    if not repository:
        return digest
    if not tag and not digest:
        return None
    return repository + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def audit_assets(fields: dict[str, Any], cluster: str | None) -> tuple[str, list[AssetRef]]:
    ns = text(fields.get("ka.target.namespace"))
    resource = text(fields.get("ka.target.resource")) or ""
    name = text(fields.get("ka.target.name")) or ""
    pairs: list[tuple[AssetKind, str | None]] = [
        (AssetKind.POD, f"{ns}/{name}" if ns and name and resource == "pods" else None),
        (AssetKind.NAMESPACE, f"{cluster}/{ns}" if cluster and ns else None),
        (AssetKind.CLUSTER, cluster),
    ]
    return f"k8s:{ns or ''}/{resource}/{name}", refs(pairs)


def moment(alert: dict[str, Any], fields: dict[str, Any]) -> datetime:
    written = text(alert.get("time"))
    if written is not None:
        return parse_time(written)
    nanos = fields.get("evt.time")
    if isinstance(nanos, int) and not isinstance(nanos, bool) and 0 < nanos < 1 << 63:
        return datetime.fromtimestamp(nanos / 1e9, tz=UTC)
    raise RejectedError("missing_field", "field 'time' is missing and evt.time is not a number")
