"""Reports about the change being deployed, read into :class:`~clearance.model.reports.Report`.

``read_report("junit", "report.xml", data)`` or ``read_report("sarif", "results.sarif", data)``:
pure (no clock, no I/O), so the CLI, the API and the pipeline gate read a report the same way,
and a report that cannot be read is refused whole with a :class:`ReportError` that says why.
"""

from __future__ import annotations

import hashlib

from clearance.errors import ReportError
from clearance.model.reports import Report, ReportFormat
from clearance.sources.reports.junit import read_junit
from clearance.sources.reports.sarif import read_sarif

__all__ = ["MAX_REPORT_BYTES", "read_report"]

# Far above a real report (a large monorepo's JUnit XML is a few MB) and low enough that one
# request cannot exhaust the service's memory.
MAX_REPORT_BYTES = 20 * 1024 * 1024


def read_report(format_name: str, name: str, data: bytes) -> Report:
    """Parse one report of ``format_name`` (``junit`` or ``sarif``) called ``name``."""
    # Only what a request may bring: github-checks is read from GitHub by the service itself.
    fmt = {"junit": ReportFormat.JUNIT, "sarif": ReportFormat.SARIF}.get(format_name)
    if fmt is None:
        raise ReportError(f"unknown report format {format_name!r} (one of: junit, sarif)")
    if len(data) > MAX_REPORT_BYTES:
        raise ReportError(f"{name}: {len(data)} bytes, over the {MAX_REPORT_BYTES} a report may be")
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if fmt is ReportFormat.JUNIT:
        tool, total, findings = read_junit(name, data)
    else:
        tool, total, findings = read_sarif(name, data)
    return Report(fmt, name, digest, tool, total, findings)
