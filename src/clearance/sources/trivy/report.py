"""Trivy: image vulnerability reports (``trivy image --format json``) and, through
:mod:`clearance.sources.trivy.operator`, Trivy Operator ``VulnerabilityReport`` resources.

``clearance ingest --format trivy FILE`` takes either: a Trivy JSON report, a JSON list of them,
or Kubernetes YAML/JSON holding VulnerabilityReports (one, a multi-document stream, or a
``kubectl get vulns -o yaml`` List). Mapping (``docs/sources/trivy.md``):

* One signal per (image, CVE), kind ``vulnerability``: the same CVE in several packages of one
  image is one risk, so the packages are listed in the title and the highest severity wins. uid
  ``<source>:<image digest, else repo:tag>:<CVE>``: a re-scan updates the same signal.
* The image: ``Metadata.RepoDigests`` (the registry digest a pod's ``imageID`` shows) joined with
  the matching ``RepoTags``; else the tags or ``Metadata.Reference``; else ``ImageID`` (the config
  digest, which only matches runtimes that report it).
* Severity: ``Severity`` (UNKNOWN/LOW/MEDIUM/HIGH/CRITICAL → 0/2/3/4/5); reports without it
  (the trivy-operator fixture) give ``VendorSeverity[SeveritySource]`` 0–4, mapped the same way.
* Time: the report's ``CreatedAt``, else the ``scanned_at`` the caller passes (a file's
  modification time). Trivy's ``Status`` says whether a fix exists, not triage: open, except
  ``not_affected`` (a VEX statement), which is suppressed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from clearance.errors import InvalidAssetError, InvalidSignalError
from clearance.model.assets import AssetKind, AssetRef, parse_image
from clearance.model.signal import Severity, Signal, parse_time
from clearance.sources._mapping import RejectedError, canonical_bytes, refs
from clearance.sources._push import Item
from clearance.sources._vulns import SEVERITY, VENDOR_SEVERITY, Vulnerability, vulnerability_signals
from clearance.sources.interface import Batch, Quarantined, payload_digest
from clearance.sources.trivy.configaudit import config_audit_signals
from clearance.sources.trivy.operator import read_documents, report_signals

__all__ = ["TrivyNormalizer"]


class TrivyNormalizer:
    """``clearance ingest --format trivy``. ``scanned_at`` dates reports that carry no time;
    ``cluster`` scopes the workload assets of Trivy Operator reports."""

    format: ClassVar[str] = "trivy"

    def __init__(
        self,
        source: str = "trivy",
        *,
        scanned_at: datetime | None = None,
        cluster: str | None = None,
    ) -> None:
        self.source = source
        self.scanned_at = scanned_at
        self.cluster = cluster.strip().lower() if cluster and cluster.strip() else None

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        where = location or "file"
        documents, problem = read_documents(data, source=self.source, location=where)
        if problem is not None:
            return Batch(quarantined=(problem,))
        signals: list[Signal] = []
        quarantined: list[Quarantined] = []
        for item in _flatten(documents):
            doc = item.value
            try:
                if not isinstance(doc, dict):
                    raise RejectedError(
                        "invalid_item", f"expected an object, got {type(doc).__name__}"
                    )
                if "Results" in doc or "SchemaVersion" in doc:
                    found, bad = self._report(doc, item)
                elif doc.get("kind") in ("VulnerabilityReport", "ClusterVulnerabilityReport"):
                    found, bad = report_signals(
                        doc, item, source=self.source, cluster=self.cluster, seen=self.scanned_at
                    )
                elif doc.get("kind") == "ConfigAuditReport":
                    found, bad = config_audit_signals(
                        doc, item, source=self.source, cluster=self.cluster, seen=self.scanned_at
                    )
                else:
                    raise RejectedError(
                        "invalid_shape",
                        "neither a Trivy JSON report (Results), a VulnerabilityReport nor a "
                        "ConfigAuditReport",
                    )
            except RejectedError as exc:
                quarantined.append(item.quarantine(self.source, exc.reason, exc.detail))
                continue
            except (InvalidSignalError, InvalidAssetError, OverflowError) as exc:
                quarantined.append(item.quarantine(self.source, "invalid_value", str(exc)))
                continue
            signals.extend(found)
            quarantined.extend(bad)
        return Batch(signals=tuple(signals), quarantined=tuple(quarantined))

    def _report(self, report: dict[str, Any], item: Item) -> tuple[list[Signal], list[Quarantined]]:
        artifact = report.get("ArtifactType")
        if artifact not in (None, "container_image"):
            raise RejectedError(
                "unsupported_artifact",
                f"a {artifact!r} report names no image Clearance can match (scan an image)",
            )
        meta = report.get("Metadata")
        meta = meta if isinstance(meta, dict) else {}
        image = _image(meta, report.get("ArtifactName"))
        if image is None:
            raise RejectedError("no_asset", "the report names no image (RepoDigests, RepoTags)")
        seen = _when(report.get("CreatedAt"), self.scanned_at)
        results = report.get("Results") or []
        if not isinstance(results, list):
            raise RejectedError("invalid_field", "field 'Results' is not a list")
        rows: list[Vulnerability] = []
        bad: list[Quarantined] = []
        for r, result in enumerate(results):
            vulns = result.get("Vulnerabilities") if isinstance(result, dict) else None
            for v, vuln in enumerate(vulns if isinstance(vulns, list) else ()):
                where = f"{item.location}: Results[{r}].Vulnerabilities[{v}]"
                try:
                    rows.append(_row(vuln))
                except RejectedError as exc:
                    raw = canonical_bytes(vuln)
                    bad.append(
                        Quarantined(
                            self.source, exc.reason, exc.detail, payload_digest(raw), where, raw
                        )
                    )
        key, assets = image
        signals = vulnerability_signals(
            self.source, image_key=key, assets=assets, found=rows, seen=seen
        )
        return signals, bad


def _flatten(items: list[Item]) -> Iterator[Item]:
    """Lists (a JSON array of reports, a Kubernetes ``List``) become their elements. An element's
    canonical bytes are computed only if it is quarantined: it is part of a parsed JSON body or
    of a YAML document that already encoded, so it encodes too."""
    for item in items:
        value = item.value
        if isinstance(value, dict) and isinstance(value.get("items"), list):
            for index, element in enumerate(value["items"]):
                yield Item(element, f"{item.location}: items[{index}]")
        else:
            yield item


def _row(vuln: Any) -> Vulnerability:
    if not isinstance(vuln, dict):
        raise RejectedError("invalid_item", f"expected an object, got {type(vuln).__name__}")
    cve = vuln.get("VulnerabilityID")
    if not isinstance(cve, str) or not cve.strip():
        raise RejectedError("missing_field", "field 'VulnerabilityID' is missing or not a string")
    return Vulnerability(
        cve=cve.strip().upper(),
        package=_str(vuln.get("PkgName")),
        installed=_str(vuln.get("InstalledVersion")),
        fixed=_str(vuln.get("FixedVersion")),
        severity=_severity(vuln),
        title=_str(vuln.get("Title")),
        url=_str(vuln.get("PrimaryURL")) or None,
        suppressed=vuln.get("Status") == "not_affected",
        digest=payload_digest(canonical_bytes(vuln)),
        cvss=_cvss_vector(vuln),
    )


def _cvss_vector(vuln: dict[str, Any]) -> str:
    """The CVSS base vector of the source Trivy took the severity from (``SeveritySource``),
    else NVD's, else any: CVSS 4.0 before 3.x (the report's ``CVSS.<source>.V40Vector``,
    ``V3Vector``)."""
    cvss = vuln.get("CVSS")
    if not isinstance(cvss, dict):
        return ""
    chosen = vuln.get("SeveritySource")
    order = [chosen, "nvd", *sorted(k for k in cvss if isinstance(k, str))]
    for name in order:
        entry = cvss.get(name) if isinstance(name, str) else None
        if not isinstance(entry, dict):
            continue
        for field in ("V40Vector", "V3Vector"):
            vector = entry.get(field)
            if isinstance(vector, str) and vector.startswith("CVSS:"):
                return vector.strip()
    return ""


def _severity(vuln: dict[str, Any]) -> Severity:
    label = vuln.get("Severity")
    if isinstance(label, str) and label.upper() in SEVERITY:
        return SEVERITY[label.upper()]
    vendor, chosen = vuln.get("VendorSeverity"), vuln.get("SeveritySource")
    if isinstance(vendor, dict) and isinstance(chosen, str):
        level = vendor.get(chosen)
        if isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 4:
            return VENDOR_SEVERITY[level]
    return Severity.UNKNOWN


def _image(meta: dict[str, Any], artifact_name: Any) -> tuple[str, list[AssetRef]] | None:
    """``(uid key, image assets)``: digests joined with their tags, else tags, else ImageID."""
    digests = [d for d in _strings(meta.get("RepoDigests")) if "@" in d]
    tags = _strings(meta.get("RepoTags")) or _strings(meta.get("Reference"))
    if not tags and isinstance(artifact_name, str) and not _is_file(artifact_name):
        tags = [artifact_name]
    values: list[str] = []
    for pinned in digests:
        repository, _, digest = pinned.partition("@")
        tag = next((t for t in tags if _repository(t) == _repository(repository)), None)
        values.append(f"{tag}@{digest}" if tag else pinned)
    if not values:
        values = list(tags)
    image_id = meta.get("ImageID")
    if not values and isinstance(image_id, str):
        values = [image_id]
    assets = refs((AssetKind.IMAGE, v) for v in values)
    if not assets:
        return None
    first = parse_image(assets[0].value)
    key = first.digest or f"{first.repository}:{first.tag}"
    return key, assets


def _repository(reference: str) -> str | None:
    try:
        return parse_image(reference).repository
    except InvalidAssetError:
        return None


def _is_file(name: str) -> bool:
    return name.endswith((".tar", ".tar.gz", ".tgz")) or name.startswith(("/", "."))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _when(value: Any, fallback: datetime | None) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        return parse_time(value)
    if fallback is not None:
        return fallback
    raise RejectedError(
        "missing_field", "the report has no time (CreatedAt) and no scan time was given"
    )
