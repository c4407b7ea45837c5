"""The vulnerability signal both Trivy feeds build: one per (image, CVE), whatever the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from clearance.model.assets import AssetRef
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid
from clearance.sources.interface import payload_digest

__all__ = ["SEVERITY", "VENDOR_SEVERITY", "Vulnerability", "vulnerability_signals"]

SEVERITY = {
    "UNKNOWN": Severity.UNKNOWN,
    "NONE": Severity.INFORMATIONAL,
    "LOW": Severity.LOW,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}
# Trivy's numeric VendorSeverity (pkg/types: 0 unknown … 4 critical).
VENDOR_SEVERITY = (
    Severity.UNKNOWN,
    Severity.LOW,
    Severity.MEDIUM,
    Severity.HIGH,
    Severity.CRITICAL,
)
_TITLE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Vulnerability:
    """One (package, CVE) row of a report, already typed."""

    cve: str
    package: str
    installed: str
    fixed: str
    severity: Severity
    title: str
    url: str | None
    suppressed: bool
    digest: str


def vulnerability_signals(
    source: str,
    *,
    image_key: str,
    assets: Sequence[AssetRef],
    found: Sequence[Vulnerability],
    seen: datetime,
) -> list[Signal]:
    """One signal per CVE over the rows of one image (pure)."""
    by_cve: dict[str, list[Vulnerability]] = {}
    for row in found:
        by_cve.setdefault(row.cve, []).append(row)
    signals = []
    for cve, rows in by_cve.items():
        packages = ", ".join(
            dict.fromkeys(f"{r.package} {r.installed}".strip() for r in rows if r.package)
        )
        fixed = ", ".join(dict.fromkeys(r.fixed for r in rows if r.fixed))
        title = cve + (f" in {packages}" if packages else "")
        title += f" (fixed in {fixed})" if fixed else " (no fix yet)"
        described = next((r.title for r in rows if r.title), "")
        if described:
            title += f": {described}"
        digest = rows[0].digest if len(rows) == 1 else _digest_of([r.digest for r in rows])
        signals.append(
            Signal(
                uid=SignalUid(f"{source}:{image_key}:{cve}"),
                source=source,
                kind=SignalKind.VULNERABILITY,
                title=title[:_TITLE_LIMIT],
                severity=max(r.severity for r in rows),
                confidence=1.0,
                status=(
                    SignalStatus.SUPPRESSED
                    if all(r.suppressed for r in rows)
                    else SignalStatus.OPEN
                ),
                first_seen=seen,
                last_seen=seen,
                assets=tuple(assets),
                rule=cve,
                url=next((r.url for r in rows if r.url), None),
                raw_digest=digest,
            )
        )
    return signals


def _digest_of(digests: list[str]) -> str:
    return payload_digest("\n".join(sorted(digests)).encode())
