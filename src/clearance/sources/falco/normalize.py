"""Falco: runtime detections pushed by Falco or falcosidekick, normalized and folded.

Accepted bodies (``docs/sources/falco.md``): Falco's JSON output (one alert, a JSON list, or JSON
Lines as ``file_output`` writes them) and falcosidekick's webhook payload (the same fields plus a
``uuid``; one event or a list). The same code serves ``POST /v1/ingest/falco``, ``clearance
ingest --format falco`` and the NATS consumer (:mod:`clearance.sources.falco.nats`).

Mapping, pure and clock-free:

* ``priority`` → severity (reference §0, a policy choice): Emergency/Alert/Critical 5, Error 4,
  Warning 3, Notice 2, Informational/Debug 1. Falco has no status or confidence: open, 1.0.
* Assets: pod ``ns/name``, namespace ``cluster/ns``, the cluster, the container (64-character
  ``container.full_id`` preferred over the 12-character ``container.id``), the image
  (``repository:tag@digest``), and the host only when ``hostname_is_node`` says Falco's
  ``hostname`` really is the node: under a DaemonSet it is the Falco pod's name unless
  ``FALCO_HOSTNAME`` is set (reference §0; fixture ``events.syscall-k8s``: ``falco-xczjd``).
* Falco sends no cluster name: it is the normalizer's ``cluster`` (per endpoint or NATS subject),
  or a falcosidekick ``customfields`` entry named by ``cluster_field``, which falcosidekick merges
  into ``output_fields`` (falcosidekick ``handlers.go``, ``newFalcoPayload``).
* ``k8s_audit`` alerts name the API object acted on (``ka.target.*``): its namespace, and the pod
  when the resource is ``pods``; the user is in the title.
* Repeats of a rule on one workload (rule + cluster + pod, else container, else host) fold into
  one signal with ``count`` and first/last seen. Its uid is a hash of that key, so the next
  body's events update the same signal.
* ``Falco internal: …`` events (``source: internal``, the metrics snapshot) and falcosidekick's
  ``/test`` event are telemetry, not findings: skipped and counted in ``skipped``, not
  quarantined.

Parsing is hand-written over plain dicts rather than pydantic: Falco is the high-volume stream
(bench/bench_normalize_push.py), and every field is still type-checked before use.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from clearance.errors import InvalidAssetError, InvalidSignalError
from clearance.model.assets import AssetRef
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid
from clearance.sources._mapping import RejectedError
from clearance.sources._push import TOO_DEEP, Item, read_items
from clearance.sources.falco.fields import audit_assets, moment, runtime_assets, text
from clearance.sources.falco.settings import FalcoConfig
from clearance.sources.interface import Batch, Quarantined

__all__ = ["FalcoConfig", "FalcoNormalizer", "severity_of_priority"]

_SEVERITY = {
    "emergency": Severity.CRITICAL,
    "alert": Severity.CRITICAL,
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "notice": Severity.LOW,
    "informational": Severity.INFORMATIONAL,
    "info": Severity.INFORMATIONAL,
    "debug": Severity.INFORMATIONAL,
}
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
# Falco prefixes ``output`` with the event's wall-clock time and priority ("13:44:05.478445995:
# Critical …"): stripped, so the title of a folded signal does not change with every repeat.
_OUTPUT_PREFIX = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d+: \w+ ")
_TITLE_LIMIT = 500
_TEST_RULE = "Test rule"
# Event sources that run on a node; "syscalls" is how the ocsf/examples falcosidekick payload
# spells it (fixture falcosidekick-payload.ocsf-examples.json).
_HOST_TIP = (
    "a host event: set hostname_is_node if Falco's hostname is the node, or the endpoint's cluster"
)
_HOST_SOURCES = frozenset(
    {"syscall", "syscalls"}
)  # falcosidekick's /test event (handlers.go, TestRule)


def severity_of_priority(priority: str) -> Severity | None:
    """Falco priority (case-insensitive, as in rules) → OCSF severity; None if not a priority."""
    return _SEVERITY.get(priority.strip().lower())


@dataclass(slots=True)
class _Event:
    key: tuple[str, ...]
    rule: str
    severity: Severity
    moment: datetime
    assets: list[AssetRef]
    techniques: tuple[str, ...]
    title: str
    item: Item


class FalcoNormalizer:
    """``clearance ingest --format falco`` and the body of ``POST /v1/ingest/falco``.

    ``skipped`` counts, per reason, the events that were read but are not findings
    (``internal``, ``test_event``) across every call on this instance.
    """

    format: ClassVar[str] = "falco"

    def __init__(
        self,
        source: str = "falco",
        *,
        cluster: str | None = None,
        cluster_field: str | None = None,
        hostname_is_node: bool = False,
    ) -> None:
        self.source = source
        self.cluster = cluster.strip().lower() if cluster and cluster.strip() else None
        self.cluster_field = cluster_field
        self.hostname_is_node = hostname_is_node
        self.skipped: Counter[str] = Counter()

    @classmethod
    def from_config(cls, source: str, config: FalcoConfig) -> FalcoNormalizer:
        return cls(
            source,
            cluster=config.cluster,
            cluster_field=config.cluster_field,
            hostname_is_node=config.hostname_is_node,
        )

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        return self.normalize_many([(data, location)])

    def normalize_many(self, bodies: Iterable[tuple[bytes, str]]) -> Batch:
        """Normalize several bodies (NATS messages) as one batch, folding across them."""
        items: list[Item] = []
        quarantined: list[Quarantined] = []
        for data, location in bodies:
            found, bad = read_items(data, source=self.source, location=location)
            items.extend(found)
            quarantined.extend(bad)
        # A fold is the list of its events (get, not setdefault: no list built per event).
        folds: dict[tuple[str, ...], list[_Event]] = {}
        for item in items:
            try:
                event = self._event(item)
            except RejectedError as exc:
                quarantined.append(item.quarantine(self.source, exc.reason, exc.detail))
                continue
            except (InvalidSignalError, InvalidAssetError, OverflowError) as exc:
                quarantined.append(item.quarantine(self.source, "invalid_value", str(exc)))
                continue
            except RecursionError:  # JSON allows 1,024 levels; no event needs them
                quarantined.append(item.quarantine(self.source, "too_deep", TOO_DEEP))
                continue
            if event is not None:
                if (fold := folds.get(event.key)) is None:
                    folds[event.key] = [event]
                else:
                    fold.append(event)
        signals: list[Signal] = []
        for key, events in folds.items():
            try:
                signals.append(self._signal(key, events))
            except InvalidSignalError as exc:  # e.g. a lone surrogate: not storable
                detail = str(exc)
                quarantined += [
                    e.item.quarantine(self.source, "invalid_value", detail) for e in events
                ]
        return Batch(signals=tuple(signals), quarantined=tuple(quarantined))

    def _event(self, item: Item) -> _Event | None:
        alert = item.value
        if not isinstance(alert, dict):
            raise RejectedError("invalid_item", f"expected an object, got {type(alert).__name__}")
        rule = text(alert.get("rule"))
        if rule is None:
            raise RejectedError("missing_field", "field 'rule' is missing or not a string")
        origin = text(alert.get("source")) or "syscall"
        if origin == "internal" or rule.startswith("Falco internal:"):
            self.skipped["internal"] += 1
            return None
        if rule == _TEST_RULE:
            self.skipped["test_event"] += 1
            return None
        priority = text(alert.get("priority"))
        if priority is None:
            raise RejectedError("missing_field", "field 'priority' is missing or not a string")
        severity = severity_of_priority(priority)
        if severity is None:
            raise RejectedError("invalid_value", f"priority {priority!r} is not a Falco priority")
        fields = alert.get("output_fields")
        if fields is None:
            fields = {}
        elif not isinstance(fields, dict):
            raise RejectedError("invalid_field", "field 'output_fields' is not an object")
        cluster = self._cluster(fields)
        if origin == "k8s_audit":
            scope, assets = audit_assets(fields, cluster)
        else:
            scope, assets = runtime_assets(
                alert, fields, cluster, hostname_is_node=self.hostname_is_node
            )
            if origin not in _HOST_SOURCES and (scope == "cluster" or scope.startswith("host:")):
                # A plugin event (CloudTrail, Okta, GitHub…) that names no container happened
                # outside the cluster: neither the endpoint's cluster nor Falco's node is its asset.
                assets = []
        if not assets:
            tip = (
                "set the endpoint's cluster"
                if origin == "k8s_audit"
                else _HOST_TIP
                if origin in _HOST_SOURCES
                else f"a {origin!r} plugin event about something outside the cluster"
            )
            raise RejectedError("no_asset", f"{rule!r} names no pod, container or node ({tip})")
        tags = alert.get("tags")
        techniques = tuple(
            sorted({t for t in tags if isinstance(t, str) and _TECHNIQUE.match(t)})
            if isinstance(tags, list)
            else ()
        )
        output = text(alert.get("output"))
        title = _OUTPUT_PREFIX.sub("", output) if output else rule
        return _Event(
            key=(rule, origin, cluster or "", scope),
            rule=rule,
            severity=severity,
            moment=moment(alert, fields),
            assets=assets,
            techniques=techniques,
            title=title[:_TITLE_LIMIT],
            item=item,
        )

    def _cluster(self, fields: dict[str, Any]) -> str | None:
        if self.cluster_field:
            named = text(fields.get(self.cluster_field))
            if named:
                return named.lower()
        return self.cluster

    def combine(self, earlier: Signal, later: Signal) -> Signal:
        """Two folds of one key from successive parts of one input (``clearance ingest``
        streams a file in chunks) as one fold of all their events, as :meth:`normalize` folds
        them: every event counts, the highest severity stands (a Critical is never lowered
        by a later Notice of the same rule), assets and techniques are the union, the title,
        rule and digest are the latest event's. Not :func:`clearance.model.signal.fold`,
        which reads overlapping copies as the same events read again."""
        last = later if later.last_seen >= earlier.last_seen else earlier
        return replace(
            last,
            severity=max(earlier.severity, later.severity),
            first_seen=min(earlier.first_seen, later.first_seen),
            assets=tuple(dict.fromkeys((*earlier.assets, *later.assets))),
            techniques=tuple(sorted({*earlier.techniques, *later.techniques})),
            count=earlier.count + later.count,
        )

    def _signal(self, key: tuple[str, ...], events: Sequence[_Event]) -> Signal:
        if len(events) == 1:
            first = last = events[0]
            assets: Sequence[AssetRef] = first.assets
            techniques = first.techniques
            severity = first.severity
        else:
            ordered = sorted(events, key=lambda e: e.moment)  # stable: input order breaks ties
            first, last = ordered[0], ordered[-1]
            # In order of first appearance: deterministic for a given input, and cheaper than
            # sorting AssetRefs (bench/bench_normalize_push.py).
            assets = list(dict.fromkeys(a for e in ordered for a in e.assets))
            techniques = tuple(sorted({t for e in events for t in e.techniques}))
            severity = max(e.severity for e in events)
        # surrogatepass: a lone surrogate (valid in JSON text) must not crash the hash; the
        # Signal then refuses it, and the fold is quarantined.
        uid = hashlib.sha256("\x1f".join(key).encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return Signal(
            uid=SignalUid(f"{self.source}:{uid}"),
            source=self.source,
            kind=SignalKind.DETECTION,
            title=last.title,
            severity=severity,
            confidence=1.0,
            status=SignalStatus.OPEN,
            first_seen=first.moment,
            last_seen=last.moment,
            assets=tuple(assets),
            rule=last.rule,
            techniques=techniques,
            raw_digest=last.item.digest,
            count=len(events),
            tracked=False,  # Falco events are never closed: age is all a policy can judge
        )
