"""OCSF Detection Findings (``class_uid`` 2004) from any producer → detection signals.

Accepted bodies: one finding, a JSON list, or JSON Lines (``POST /v1/ingest/ocsf`` and ``clearance
ingest --format ocsf``). The mapping follows OCSF 1.x (reference §7; ``docs/sources/ocsf.md``):

* ``severity_id`` is Clearance's severity as is; 99 (Other) falls back to the ``severity``
  caption, else Unknown.
* ``confidence_score`` (0–100) / 100, else ``confidence_id`` 1 Low 0.4, 2 Medium 0.7, 3 High 1.0
  (a policy choice), else 1.0 like every detection without a confidence.
* ``status_id`` 1 New → open, 2 In Progress → in_progress, 3 Suppressed and 5 Archived →
  suppressed, 4 Resolved and 6 Deleted → resolved; absent/0/99 → open unless ``activity_id`` is 3
  (Close).
* Assets from ``device`` (hostname, ip, mac, instance_uid), ``container`` (uid, image) and
  ``resources[]`` (hostname, ip, and Kubernetes/cloud objects by ``type``). Findings that name
  nothing deployable (an IAM key, an Okta app: the ``ocsf/`` fixtures) are quarantined as
  ``no_asset``.
* ``finding_info.uid`` → uid, ``title`` → title, ``attacks[]`` → techniques, ``src_url`` → url,
  ``analytic.name`` (else ``types[0]``) → rule; times from ``finding_info`` first/last seen, else
  ``time``. Timestamps are epoch milliseconds per the schema, but producers send seconds (the Okta
  example's ``time`` is 1723564700): values below 10^11 are read as seconds. ``*_dt`` wins.

py-ocsf-models is deliberately not used for parsing: it rejects real third-party findings
(reference §7, "fit assessment").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from clearance.errors import InvalidAssetError, InvalidSignalError
from clearance.model.assets import AssetKind, AssetRef
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid, parse_time
from clearance.sources._mapping import RejectedError, refs
from clearance.sources._push import Item, read_items
from clearance.sources.interface import Batch

__all__ = ["OcsfNormalizer"]

DETECTION_FINDING = 2004
_STATUS = {
    1: SignalStatus.OPEN,
    2: SignalStatus.IN_PROGRESS,
    3: SignalStatus.SUPPRESSED,
    4: SignalStatus.RESOLVED,
    5: SignalStatus.SUPPRESSED,
    6: SignalStatus.RESOLVED,
}
_CONFIDENCE = {1: 0.4, 2: 0.7, 3: 1.0}
_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")
_SECONDS_BELOW = 10**11  # 10^11 ms is March 1973; 10^11 s is the year 5138
_TITLE_LIMIT = 500
_SEVERITIES = tuple(Severity)  # by severity_id 0..6: indexing skips Enum's slow lookup by value


class OcsfNormalizer:
    """``clearance ingest --format ocsf``; ``cluster`` scopes Kubernetes namespace resources."""

    format: ClassVar[str] = "ocsf"

    def __init__(self, source: str = "ocsf", *, cluster: str | None = None) -> None:
        self.source = source
        self.cluster = cluster.strip().lower() if cluster and cluster.strip() else None

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        items, quarantined = read_items(data, source=self.source, location=location)
        signals: list[Signal] = []
        for item in items:
            try:
                signals.append(self._signal(item))
            except RejectedError as exc:
                quarantined.append(item.quarantine(self.source, exc.reason, exc.detail))
            except (
                InvalidSignalError,
                InvalidAssetError,
                OverflowError,
                OSError,
                ValueError,
            ) as exc:
                quarantined.append(item.quarantine(self.source, "invalid_value", str(exc)))
        return Batch(signals=tuple(signals), quarantined=tuple(quarantined))

    def _signal(self, item: Item) -> Signal:
        finding = item.value
        if not isinstance(finding, dict):
            raise RejectedError("invalid_item", f"expected an object, got {type(finding).__name__}")
        class_uid = finding.get("class_uid")
        if class_uid != DETECTION_FINDING:
            tip = " (2001 is the deprecated Security Finding)" if class_uid == 2001 else ""
            raise RejectedError(
                "unsupported_class", f"class_uid {class_uid!r} is not 2004 Detection Finding{tip}"
            )
        info = finding.get("finding_info")
        if not isinstance(info, dict):
            raise RejectedError("missing_field", "field 'finding_info' is missing")
        uid = _text(info.get("uid"))
        if not uid:
            raise RejectedError("missing_field", "field 'finding_info.uid' is missing")
        assets = self._assets(finding)
        if not assets:
            raise RejectedError(
                "no_asset", f"finding {uid} names no host, container, image or Kubernetes object"
            )
        first, last = _times(finding, info)
        title = _text(info.get("title")) or _text(finding.get("message")) or "OCSF finding"
        return Signal(
            uid=SignalUid(f"{self.source}:{uid}"),
            source=self.source,
            kind=SignalKind.DETECTION,
            title=title[:_TITLE_LIMIT],
            severity=_severity(finding),
            confidence=_confidence(finding),
            status=_status(finding),
            first_seen=first,
            last_seen=max(first, last),
            assets=_sorted_unique(assets),
            rule=_rule(info) or title[:_TITLE_LIMIT],
            techniques=_techniques(finding, info),
            url=_text(info.get("src_url")),
            raw_digest=item.digest,
            # A finding with a status_id has a lifecycle its producer keeps; one without is an
            # event (Falco's OCSF output), which nobody will close.
            tracked=isinstance(finding.get("status_id"), int),
        )

    def _assets(self, finding: dict[str, Any]) -> list[AssetRef]:
        pairs: list[tuple[AssetKind, str | None]] = []
        device = _obj(finding.get("device"))
        pairs += [
            (AssetKind.HOST, _text(device.get("hostname"))),
            (AssetKind.IP, _text(device.get("ip"))),
            (AssetKind.MAC, _text(device.get("mac"))),
            (AssetKind.INSTANCE, _text(device.get("instance_uid"))),
        ]
        container = _obj(finding.get("container"))
        pairs += [
            (AssetKind.CONTAINER, _text(container.get("uid"))),
            (AssetKind.IMAGE, _image(_obj(container.get("image")))),
        ]
        resources = finding.get("resources")
        for resource in resources if isinstance(resources, list) else ():
            pairs += self._resource(_obj(resource))
        return refs(pairs)

    def _resource(self, resource: dict[str, Any]) -> list[tuple[AssetKind, str | None]]:
        kind = (_text(resource.get("type")) or "").lower().replace(" ", "")
        name, uid = _text(resource.get("name")), _text(resource.get("uid"))
        namespace = _text(resource.get("namespace"))
        pairs: list[tuple[AssetKind, str | None]] = [
            (AssetKind.HOST, _text(resource.get("hostname"))),
            (AssetKind.IP, _text(resource.get("ip"))),
        ]
        if kind.endswith("pod") and namespace and name:
            pairs.append((AssetKind.POD, f"{namespace}/{name}"))
        elif kind.endswith("namespace") and self.cluster and name:
            pairs.append((AssetKind.NAMESPACE, f"{self.cluster}/{name}"))
        elif kind.endswith(("ekscluster", "cluster")) and name:
            pairs.append((AssetKind.CLUSTER, name))
        elif kind.endswith(("ec2instance", "instance")) and uid:
            pairs.append((AssetKind.INSTANCE, uid))
        elif kind.endswith(("image", "containerimage")):
            pairs.append((AssetKind.IMAGE, name or uid))
        elif kind.endswith("container") and uid:
            pairs.append((AssetKind.CONTAINER, uid))
        if namespace and self.cluster and not kind.endswith("namespace"):
            pairs.append((AssetKind.NAMESPACE, f"{self.cluster}/{namespace}"))
        return pairs


def _sorted_unique(assets: list[AssetRef]) -> tuple[AssetRef, ...]:
    """``tuple(sorted(set(assets)))``, keyed on ``(kind, value)`` (AssetRef's own equality and
    order) so hashing and comparing are C tuples rather than the dataclass's Python methods."""
    unique = {(a.kind, a.value): a for a in assets}
    return tuple(map(unique.__getitem__, sorted(unique)))


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None


def _image(image: dict[str, Any]) -> str | None:
    """``name[:tag][@uid]``; OCSF's ``image.uid`` is the digest when it looks like one."""
    name, tag, uid = _text(image.get("name")), _text(image.get("tag")), _text(image.get("uid"))
    digest = uid if uid and uid.startswith("sha256:") else None
    if not name:
        return digest
    if ":" in name.rsplit("/", 1)[-1] or "@" in name:
        return name
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _severity(finding: dict[str, Any]) -> Severity:
    value = finding.get("severity_id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return _SEVERITIES[value]
    caption = _text(finding.get("severity"))
    if caption and caption.upper() in Severity.__members__:
        return Severity[caption.upper()]
    if value is None or value == 99:
        return Severity.UNKNOWN
    raise RejectedError("invalid_value", f"severity_id {value!r} is not an OCSF severity_id")


def _confidence(finding: dict[str, Any]) -> float:
    score = finding.get("confidence_score")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and 0 <= score <= 100:
        return float(score) / 100.0
    level = finding.get("confidence_id")
    return _CONFIDENCE.get(level, 1.0) if isinstance(level, int) else 1.0


def _status(finding: dict[str, Any]) -> SignalStatus:
    status = finding.get("status_id")
    if isinstance(status, int) and status in _STATUS:
        return _STATUS[status]
    if finding.get("activity_id") == 3:  # Close
        return SignalStatus.RESOLVED
    return SignalStatus.OPEN


def _rule(info: dict[str, Any]) -> str | None:
    analytic = _obj(info.get("analytic"))
    found = _text(analytic.get("name")) or _text(analytic.get("uid"))
    types = info.get("types")
    if not found and isinstance(types, list) and types:
        found = _text(types[0])
    return found


def _techniques(finding: dict[str, Any], info: dict[str, Any]) -> tuple[str, ...]:
    attacks = info.get("attacks")
    if not isinstance(attacks, list):  # before OCSF 1.1 attacks sat on the finding itself
        attacks = finding.get("attacks")
    if not isinstance(attacks, list):
        attacks = []
    found: set[str] = set()
    for attack in attacks:
        if not isinstance(attack, dict):
            continue
        for part in ("technique", "sub_technique"):
            node = attack.get(part)
            uid = _text(node.get("uid")) if isinstance(node, dict) else None
            if uid and _TECHNIQUE.match(uid):
                found.add(uid)
    return tuple(sorted(found))


def _times(finding: dict[str, Any], info: dict[str, Any]) -> tuple[datetime, datetime]:
    moment = _time(finding, "time", "time_dt")
    first = (
        _time(info, "first_seen_time", "first_seen_time_dt")
        or _time(info, "created_time", "created_time_dt")
        or moment
    )
    last = (
        _time(info, "last_seen_time", "last_seen_time_dt")
        or _time(info, "modified_time", "modified_time_dt")
        or moment
        or first
    )
    if first is None or last is None:
        raise RejectedError("missing_field", "no time: neither 'time' nor finding_info times")
    return first, last


def _time(obj: dict[str, Any], name: str, name_dt: str) -> datetime | None:
    text = _text(obj.get(name_dt))
    if text:
        return parse_time(text)
    value = obj.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        seconds = value if value < _SECONDS_BELOW else value / 1000.0
        return datetime.fromtimestamp(seconds, tz=UTC)
    return None
