"""SentinelOne threats, mapped to Clearance signals and agent identities.

Pure functions over parsed JSON: no network, no clock. The source module (:mod:`.source`) feeds
them ``/web/api/v2.1/threats`` pages; :class:`SentinelOneNormalizer` feeds them export files
(``clearance ingest --format sentinelone``). Each threat becomes a signal on its agent (computer
name, interface IPs and MACs, Kubernetes cluster/namespace/pod/node, container) and each agent an
identities group. Field facts: ``docs/sources/sentinelone.md``.

Mapping (reference §0/§4): ``confidenceLevel`` malicious → high severity (critical while not
mitigated), confidence 0.9; suspicious → medium (low once mitigated), 0.5. ``incidentStatus``
unresolved/in_progress/resolved → open/in_progress/resolved; ``analystVerdict`` false_positive →
suppressed.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.coverage import Managed
from clearance.model.signal import (
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    parse_time,
)
from clearance.sources._hosts import Pair, kubernetes_pairs, managed_host
from clearance.sources._mapping import ATTACK_TECHNIQUE, RejectedError, identity_group, refs
from clearance.sources._pages import map_page, newest_time, read_items
from clearance.sources.interface import Batch

__all__ = ["SentinelOneNormalizer", "agent_refs", "map_threats", "newest_update"]

_STATUS = {
    "unresolved": SignalStatus.OPEN,
    "in_progress": SignalStatus.IN_PROGRESS,
    "resolved": SignalStatus.RESOLVED,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, alias_generator=to_camel)


class _Interface(_Model):
    inet: list[str] | None = None
    inet6: list[str] | None = None
    physical: str | None = None


class _Agent(_Model):
    agent_id: str | None = None
    agent_computer_name: str | None = None
    network_interfaces: list[_Interface] | None = None


class _Kubernetes(_Model):
    cluster: str | None = None
    namespace: str | None = None
    pod: str | None = None
    node: str | None = None


class _Container(_Model):
    id: str | None = None
    image: str | None = None


class _ThreatInfo(_Model):
    threat_name: str | None = None
    classification: str | None = None
    confidence_level: str | None = None
    analyst_verdict: str | None = None
    incident_status: str | None = None
    mitigation_status: str | None = None
    created_at: str | None = None
    identified_at: str | None = None
    updated_at: str | None = None


class _Threat(_Model):
    id: str = Field(min_length=1)
    threat_info: _ThreatInfo
    agent_realtime_info: _Agent | None = None
    kubernetes_info: _Kubernetes | None = None
    container_info: _Container | None = None
    indicators: list[Any] | None = None


@functools.lru_cache(maxsize=65536)  # agents recur across threats; parsing is the cost
def _usable_ip(value: str) -> bool:
    """Link-local addresses (fe80::/10, 169.254/16) repeat on every machine; they name none."""
    try:
        return not ipaddress.ip_address(value.split("%", maxsplit=1)[0]).is_link_local
    except ValueError:
        return False


def agent_refs(agent: _Agent | None) -> list[AssetRef]:
    """The agent's computer name, interface addresses and MACs, normalized."""
    if agent is None:
        return []
    pairs: list[tuple[AssetKind, str | None]] = [(AssetKind.HOST, agent.agent_computer_name)]
    for interface in agent.network_interfaces or ():
        for address in [*(interface.inet or ()), *(interface.inet6 or ())]:
            if _usable_ip(address):
                pairs.append((AssetKind.IP, address))
        pairs.append((AssetKind.MAC, interface.physical))
    return refs(pairs)


def _kubernetes_refs(k8s: _Kubernetes | None, container: _Container | None) -> list[AssetRef]:
    pairs: list[Pair] = []
    if k8s is not None:
        pairs.append((AssetKind.HOST, k8s.node))
        pairs += kubernetes_pairs(k8s.cluster, k8s.namespace, k8s.pod)
    if container is not None:
        pairs += [(AssetKind.CONTAINER, container.id), (AssetKind.IMAGE, container.image)]
    return refs(pairs)


def _techniques(indicators: list[Any] | None) -> tuple[str, ...]:
    """ATT&CK ids from ``indicators[].tactics[].techniques[].name`` (absent in many threats)."""
    found: list[str] = []
    for indicator in indicators or ():
        tactics = indicator.get("tactics") if isinstance(indicator, dict) else None
        for tactic in tactics if isinstance(tactics, list) else ():
            techniques = tactic.get("techniques") if isinstance(tactic, dict) else None
            for technique in techniques if isinstance(techniques, list) else ():
                name = technique.get("name") if isinstance(technique, dict) else None
                if isinstance(name, str) and ATTACK_TECHNIQUE.match(name) and name not in found:
                    found.append(name)
    return tuple(found)


def _severity(confidence_level: str, mitigated: bool) -> tuple[Severity, float]:
    if confidence_level == "malicious":
        return (Severity.HIGH if mitigated else Severity.CRITICAL), 0.9
    if confidence_level == "suspicious":
        return (Severity.LOW if mitigated else Severity.MEDIUM), 0.5
    return Severity.UNKNOWN, 0.5


def _signal(item: dict[str, Any], digest: str, source: str, console: str) -> Signal:
    threat = _Threat.model_validate(item)
    info = threat.threat_info
    first = info.identified_at or info.created_at
    if not first:
        raise RejectedError("missing_field", "threat has no threatInfo.identifiedAt or createdAt")
    first_seen = parse_time(first)
    last_seen = max(first_seen, parse_time(info.created_at or first))
    assets = agent_refs(threat.agent_realtime_info)
    assets += _kubernetes_refs(threat.kubernetes_info, threat.container_info)
    if not assets:
        raise RejectedError("no_asset", f"threat {threat.id} names no agent Clearance can match")
    mitigated = (info.mitigation_status or "").lower() == "mitigated"
    severity, confidence = _severity((info.confidence_level or "").lower(), mitigated)
    status = _STATUS.get((info.incident_status or "").lower(), SignalStatus.OPEN)
    if (info.analyst_verdict or "").lower() == "false_positive":
        status = SignalStatus.SUPPRESSED
    return Signal(
        uid=SignalUid(f"{source}:{threat.id}"),
        source=source,
        kind=SignalKind.DETECTION,
        title=info.threat_name or info.classification or "SentinelOne threat",
        severity=severity,
        confidence=confidence,
        status=status,
        first_seen=first_seen,
        last_seen=last_seen,
        assets=tuple(dict.fromkeys(assets)),
        rule=info.classification,
        techniques=_techniques(threat.indicators),
        url=f"{console.rstrip('/')}/incidents/threats/{threat.id}/overview" if console else None,
        raw_digest=digest,
    )


def _identities(items: list[Any]) -> tuple[dict[str, tuple[str, ...]], ...]:
    """One group per agent met on the page (first sighting wins)."""
    groups: dict[str, dict[str, tuple[str, ...]]] = {}
    for item in items:
        raw = item.get("agentRealtimeInfo") if isinstance(item, dict) else None
        try:
            agent = _Agent.model_validate(raw) if isinstance(raw, dict) else None
        except ValueError:
            continue
        if agent is None or not agent.agent_id or agent.agent_id in groups:
            continue
        group = identity_group(agent_refs(agent))
        if group:
            groups[agent.agent_id] = group
    return tuple(groups.values())


def map_threats(
    items: list[Any], *, source: str, location: str = "data", console: str = ""
) -> Batch:
    """Map one page of threats to signals and agent identities (pure)."""
    signals, quarantined = map_page(
        items,
        lambda item, digest: _signal(item, digest, source, console),
        source=source,
        location=location,
    )
    return Batch(tuple(signals), tuple(quarantined), identities=_identities(items))


def newest_update(items: list[Any], current: str | None) -> str | None:
    """The newest ``threatInfo.updatedAt`` on the page, or ``current``."""
    return newest_time(items, _updated_at, current)


def _updated_at(item: dict[str, Any]) -> Any:
    info = item.get("threatInfo")
    return info.get("updatedAt") if isinstance(info, dict) else None


class SentinelOneNormalizer:
    """``clearance ingest --format sentinelone``: a ``/threats`` response (``{"data": [...]}``)
    or a JSON list of threats."""

    format: ClassVar[str] = "sentinelone"

    def __init__(self, source: str = "sentinelone") -> None:
        self.source = source

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        items, where, problem = read_items(
            data, source=self.source, location=location, keys=("data",)
        )
        if problem is not None:
            return Batch(quarantined=(problem,))
        return map_threats(items, source=self.source, location=where)


class _AgentRecord(_Model):
    """An agent of ``GET /web/api/v2.1/agents``: the fields coverage reads."""

    id: str = Field(min_length=1)
    computer_name: str | None = None
    network_interfaces: list[_Interface] | None = None
    last_active_date: str | None = None
    is_active: bool | None = None
    is_decommissioned: bool | None = None
    is_uninstalled: bool | None = None


def managed_agent(record: Any, source: str, kind: str) -> Managed | None:
    """An agent record as an inventory entry; None if it names no machine. A decommissioned or
    uninstalled agent, or one the console does not count as active (``isActive``), is listed
    but does not cover its host."""
    try:
        agent = _AgentRecord.model_validate(record)
    except ValidationError:
        return None
    found = agent_refs(
        _Agent.model_construct(
            agent_computer_name=agent.computer_name, network_interfaces=agent.network_interfaces
        )
    )
    working = bool(agent.is_active) and not agent.is_decommissioned and not agent.is_uninstalled
    return managed_host(source, kind, agent.id, found, agent.last_active_date, working)
