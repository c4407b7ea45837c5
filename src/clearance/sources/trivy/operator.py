"""Trivy Operator ``VulnerabilityReport`` resources → vulnerability signals (used by
:class:`clearance.sources.trivy.report.TrivyNormalizer`).

A report covers one container of one workload (reference §8): ``report.artifact`` names the
image (``registry.server`` + ``repository`` + ``tag``/``digest``) and the labels
``trivy-operator.resource.{kind,name,namespace}`` name the workload, which becomes a
``workload:<cluster>/<ns>/<kind>/<name>`` asset when the cluster is known. The uid is the same
(image, CVE) as for a Trivy JSON report of that image, so both feeds update one signal.

Reports are read as Kubernetes writes them: YAML (one document, a ``---`` stream, or a ``List``)
or JSON. YAML timestamps arrive as datetimes; unquoted numeric tags (``tag: 1.16``) as floats.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from clearance.model.assets import AssetKind, parse_image
from clearance.model.signal import Signal, parse_time, utc
from clearance.sources._mapping import RejectedError, canonical_bytes, parse_json, refs
from clearance.sources._push import Item
from clearance.sources._vulns import SEVERITY, Vulnerability, vulnerability_signals
from clearance.sources.interface import Quarantined, payload_digest

__all__ = [
    "read_documents",
    "report_of",
    "report_signals",
    "report_time",
    "report_workload",
    "text",
]

_LABEL = "trivy-operator.resource."
# Docker Hub as Trivy Operator spells it (fixture vulnerabilityreport.replicaset-nginx.docs.yaml);
# pod specs and runtimes say docker.io.
_DOCKER_HUB = frozenset({"index.docker.io", "registry-1.docker.io", "docker.io"})
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_documents(
    data: bytes, *, source: str, location: str
) -> tuple[list[Item], Quarantined | None]:
    """JSON first (a report, a list), then YAML documents; neither → one ``invalid_format``.

    A JSON item's canonical bytes are left to :class:`Item` to compute if it is quarantined
    (parsed JSON always re-encodes); a YAML document's are computed here, since a YAML value
    JSON cannot hold (a non-string key) makes the document ``invalid_format``.
    """
    try:
        parsed = parse_json(data)
    except ValueError:
        pass
    else:
        if isinstance(parsed, list):
            return [Item(v, f"{location}[{i}]") for i, v in enumerate(parsed)], None
        return [Item(parsed, location)], None
    try:
        docs = [d for d in yaml.load_all(data, Loader=_Loader) if d is not None]
        items = [
            Item(d, f"{location}: document {i + 1}", canonical_bytes(d)) for i, d in enumerate(docs)
        ]
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        detail = f"neither JSON nor YAML: {str(exc).splitlines()[0][:120]}"
        return [], Quarantined(
            source, "invalid_format", detail, payload_digest(data), location, data
        )
    return items, None


def report_signals(
    resource: dict[str, Any],
    item: Item,
    *,
    source: str,
    cluster: str | None,
    seen: datetime | None,
) -> tuple[list[Signal], list[Quarantined]]:
    report = report_of(resource)
    artifact = report.get("artifact")
    if not isinstance(artifact, dict):
        raise RejectedError("missing_field", "field 'report.artifact' is missing")
    image = _image(artifact, report.get("registry"))
    metadata = resource.get("metadata")
    assets = refs([(AssetKind.IMAGE, image), (AssetKind.WORKLOAD, _workload(metadata, cluster))])
    if not assets or assets[0].kind is not AssetKind.IMAGE:
        raise RejectedError("no_asset", "report.artifact names no image (repository, tag/digest)")
    moment = _time(report.get("updateTimestamp"), metadata, seen)
    rows: list[Vulnerability] = []
    bad: list[Quarantined] = []
    vulns = report.get("vulnerabilities") or []
    if not isinstance(vulns, list):
        raise RejectedError("invalid_field", "field 'report.vulnerabilities' is not a list")
    for index, vuln in enumerate(vulns):
        try:
            rows.append(_row(vuln))
        except RejectedError as exc:
            raw = canonical_bytes(vuln)
            where = f"{item.location}: report.vulnerabilities[{index}]"
            bad.append(Quarantined(source, exc.reason, exc.detail, payload_digest(raw), where, raw))
    parsed = parse_image(assets[0].value)
    key = parsed.digest or f"{parsed.repository}:{parsed.tag}"
    signals = vulnerability_signals(source, image_key=key, assets=assets, found=rows, seen=moment)
    return signals, bad


def report_of(resource: dict[str, Any]) -> dict[str, Any]:
    """The ``report`` of a Trivy Operator resource (VulnerabilityReport, ConfigAuditReport)."""
    report = resource.get("report")
    if not isinstance(report, dict):
        raise RejectedError("missing_field", "field 'report' is missing or not an object")
    return report


def _image(artifact: dict[str, Any], registry: Any) -> str | None:
    repository = _text(artifact.get("repository"))
    tag, digest = _text(artifact.get("tag")), _text(artifact.get("digest"))
    if not repository:
        return digest if digest.startswith("sha256:") else None
    server = _text(registry.get("server")) if isinstance(registry, dict) else ""
    if server in _DOCKER_HUB:
        server = "docker.io"
    name = f"{server}/{repository}" if server else repository
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _workload(metadata: Any, cluster: str | None) -> str | None:
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    if not cluster or not isinstance(labels, dict):
        return None
    kind, name = _text(labels.get(_LABEL + "kind")), _text(labels.get(_LABEL + "name"))
    namespace = _text(labels.get(_LABEL + "namespace"))
    if not (kind and name and namespace):
        return None  # a ClusterVulnerabilityReport's workload has no namespace
    return f"{cluster}/{namespace}/{kind.lower()}/{name}"


def _row(vuln: Any) -> Vulnerability:
    if not isinstance(vuln, dict):
        raise RejectedError("invalid_item", f"expected an object, got {type(vuln).__name__}")
    cve = _text(vuln.get("vulnerabilityID"))
    if not cve:
        raise RejectedError("missing_field", "field 'vulnerabilityID' is missing or empty")
    label = _text(vuln.get("severity")).upper()
    return Vulnerability(
        cve=cve.upper(),
        package=_text(vuln.get("resource")),
        installed=_text(vuln.get("installedVersion")),
        fixed=_text(vuln.get("fixedVersion")),
        severity=SEVERITY.get(label, SEVERITY["UNKNOWN"]),
        title=_text(vuln.get("title")),
        url=_text(vuln.get("primaryLink")) or None,
        suppressed=False,
        digest=payload_digest(canonical_bytes(vuln)),
    )


def _time(value: Any, metadata: Any, fallback: datetime | None) -> datetime:
    created = metadata.get("creationTimestamp") if isinstance(metadata, dict) else None
    for candidate in (value, created):
        if isinstance(candidate, datetime):
            # YAML 1.1: a timestamp without an offset is UTC.
            return utc(candidate if candidate.tzinfo else candidate.replace(tzinfo=UTC))
        if isinstance(candidate, str) and candidate.strip():
            return parse_time(candidate)
    if fallback is not None:
        return fallback
    raise RejectedError(
        "missing_field", "the report has no updateTimestamp and no scan time was given"
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # an unquoted YAML tag such as 1.16
    return ""


# The same readings for ConfigAuditReports (configaudit.py).
report_time = _time
report_workload = _workload
text = _text
