"""The vulnerability signal both Trivy feeds build: one per (image, CVE), whatever the report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

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


class Vulnerability(NamedTuple):
    """One (package, CVE) row of a report, already typed. A NamedTuple rather than a frozen
    dataclass: one is built per row, and a frozen dataclass sets each field through
    ``object.__setattr__`` (bench/bench_normalize_push.py)."""

    cve: str
    package: str
    installed: str
    fixed: str
    severity: Severity
    title: str
    url: str | None
    suppressed: bool
    digest: str
    cvss: str = ""  # the CVSS base vector the report carries, if any


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
        if (same := by_cve.get(row.cve)) is None:
            by_cve[row.cve] = [row]
        else:
            same.append(row)
    on = tuple(assets)
    signals = []
    for cve, rows in by_cve.items():
        if len(rows) == 1:
            # The usual case, one package per CVE: what the general case below computes.
            row = rows[0]
            packages = f"{row.package} {row.installed}".strip() if row.package else ""
            fixed, described, url = row.fixed, row.title, row.url or None
            severity, suppressed, digest = row.severity, row.suppressed, row.digest
            fix_available, cvss = bool(row.fixed), row.cvss
        else:
            packages = ", ".join(
                dict.fromkeys(f"{r.package} {r.installed}".strip() for r in rows if r.package)
            )
            fixed = ", ".join(dict.fromkeys(r.fixed for r in rows if r.fixed))
            described = next((r.title for r in rows if r.title), "")
            url = next((r.url for r in rows if r.url), None)
            severity = max(r.severity for r in rows)
            suppressed = all(r.suppressed for r in rows)
            digest = _digest_of([r.digest for r in rows])
            # Fixable only when every affected package has a fixed version to move to.
            fix_available = all(r.fixed for r in rows)
            cvss = next((r.cvss for r in rows if r.cvss), "")
        title = cve + (f" in {packages}" if packages else "")
        title += f" (fixed in {fixed})" if fixed else " (no fix yet)"
        if described:
            title += f": {described}"
        signals.append(
            Signal(
                uid=SignalUid(f"{source}:{image_key}:{cve}"),
                source=source,
                kind=SignalKind.VULNERABILITY,
                title=title[:_TITLE_LIMIT],
                severity=severity,
                confidence=1.0,
                status=SignalStatus.SUPPRESSED if suppressed else SignalStatus.OPEN,
                first_seen=seen,
                last_seen=seen,
                assets=on,
                rule=cve,
                url=url,
                raw_digest=digest,
                fix_available=fix_available,
                cvss_vector=cvss or None,
            )
        )
    return signals


def _digest_of(digests: list[str]) -> str:
    return payload_digest("\n".join(sorted(digests)).encode())
