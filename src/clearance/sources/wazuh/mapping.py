"""Wazuh alerts, mapped to Clearance signals.

Pure functions over parsed JSON: no network, no clock. The source module (:mod:`.source`) feeds them
pages of indexer search hits; :class:`WazuhNormalizer` feeds them files (``clearance ingest
--format wazuh``). Both produce the same signal for the same alert.

Mapping: ``rule.level`` 0–16 → severity (0–3 informational, 4–6 low, 7–11 medium, 12–14 high,
15–16 critical); ``rule.description`` → title; ``rule.id`` → rule; ``rule.mitre.id`` → techniques;
``agent.name``/``agent.ip`` → host/IP. An alert is an event: always open, confidence 1.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.signal import (
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    parse_time,
)
from clearance.sources._mapping import ATTACK_TECHNIQUE, RejectedError, banded, refs
from clearance.sources._pages import map_page, read_items
from clearance.sources.interface import Batch

__all__ = ["WazuhNormalizer", "agent_refs", "map_alerts", "severity_of_level"]

_LEVEL_BANDS = (
    (15, Severity.CRITICAL),
    (12, Severity.HIGH),
    (7, Severity.MEDIUM),
    (4, Severity.LOW),
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Mitre(_Model):
    id: list[str] | None = None


class _Rule(_Model):
    id: str = Field(min_length=1)
    level: int = Field(ge=0, le=16)
    description: str | None = None
    mitre: _Mitre | None = None


class _Agent(_Model):
    id: str | None = None
    name: str | None = None
    ip: str | None = None


class _Alert(_Model):
    id: str = Field(min_length=1)
    timestamp: str
    rule: _Rule
    agent: _Agent | None = None


def severity_of_level(level: int) -> Severity:
    """Wazuh rule level (0 ignored … 16 severe attack) → OCSF severity (reference §0; a policy
    choice). See https://documentation.wazuh.com/current/user-manual/ruleset/rules/index.html"""
    return banded(level, _LEVEL_BANDS, Severity.INFORMATIONAL)


def agent_refs(name: str | None, ip: str | None) -> list[AssetRef]:
    """An agent's machine: its ``name`` (the host name) and ``ip`` (the address it connects
    from; ``any`` before it ever did, which names nothing). Alerts and the agent inventory
    (:mod:`.agents`) both name agents so."""
    return refs([(AssetKind.HOST, name), (AssetKind.IP, ip)])


def _signal(item: dict[str, Any], digest: str, source: str) -> Signal:
    alert = _Alert.model_validate(item)
    agent = alert.agent or _Agent()
    assets = agent_refs(agent.name, agent.ip)
    if not assets:
        raise RejectedError("no_asset", f"alert {alert.id} names no agent Clearance can match")
    moment = parse_time(alert.timestamp)
    mitre = alert.rule.mitre.id if alert.rule.mitre is not None else None
    return Signal(
        # ``id`` is <epoch>.<offset in alerts.json> of one manager node; agent and rule make it
        # unique across nodes, and are the same whether the alert came from the indexer or a file.
        uid=SignalUid(f"{source}:{alert.id}:{agent.id or '-'}:{alert.rule.id}"),
        source=source,
        kind=SignalKind.DETECTION,
        title=alert.rule.description or f"Wazuh rule {alert.rule.id}",
        severity=severity_of_level(alert.rule.level),
        confidence=1.0,
        status=SignalStatus.OPEN,
        first_seen=moment,
        last_seen=moment,
        assets=tuple(assets),
        rule=alert.rule.id,
        techniques=tuple(t for t in mitre or () if ATTACK_TECHNIQUE.match(t)),
        raw_digest=digest,
        tracked=False,  # a Wazuh alert is an event: nothing ever marks it resolved
    )


def map_alerts(items: list[Any], *, source: str, location: str = "hits") -> Batch:
    """Map alerts (``_source`` documents, or search hits holding them) to signals (pure)."""
    alerts = [i["_source"] if isinstance(i, dict) and "_source" in i else i for i in items]
    signals, quarantined = map_page(
        alerts, lambda item, digest: _signal(item, digest, source), source=source, location=location
    )
    return Batch(tuple(signals), tuple(quarantined))


class WazuhNormalizer:
    """``clearance ingest --format wazuh``: ``alerts.json`` (JSON Lines, one alert per line),
    an indexer ``_search`` response, one hit, or a JSON list of alerts."""

    format: ClassVar[str] = "wazuh"

    def __init__(self, source: str = "wazuh") -> None:
        self.source = source

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        items, where, problem = read_items(data, source=self.source, location=location, keys=())
        if problem is not None:
            return Batch(quarantined=(problem,))
        if len(items) == 1 and isinstance(items[0], dict):
            hits = items[0].get("hits")
            if isinstance(hits, dict) and isinstance(hits.get("hits"), list):
                items, where = hits["hits"], f"{where}: hits.hits"
        return map_alerts(items, source=self.source, location=where)
