"""Reports about the change being deployed: test results (JUnit), code scanning (SARIF) and
the commit's required checks on GitHub (``github-checks``, read by the service itself:
:mod:`clearance.integrations.github_checks`).

A deploy request may bring them (``check --evidence junit:report.xml``, the API's ``evidence``,
the GitHub Action's ``evidence`` input). Each is parsed once into a :class:`Report` — what ran,
and every finding that counts against the change: a failed or erroring test, a code scanner's
result — and recorded in the snapshot, so a decision made from it replays byte for byte.

The engine turns each finding into a :class:`~clearance.model.signal.Signal` on the workload
(kind ``test`` or ``code_scan``), stamped with the decision's own time: it is scored, ruled and
excepted like any other signal, and its reasons name the test or the finding.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, assert_never

import msgspec

from clearance.model.assets import AssetKind, AssetRef
from clearance.model.signal import (
    MAX_RULE,
    MAX_TITLE,
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
)
from clearance.model.target import Target


class ReportFormat(StrEnum):
    JUNIT = "junit"
    SARIF = "sarif"
    # Never brought by a request: the service reads it from GitHub's checks API for the
    # target's commit, where configured (a pipeline cannot vouch for its own checks).
    GITHUB_CHECKS = "github-checks"

    @property
    def kind(self) -> SignalKind:
        return SignalKind.CODE_SCAN if self is ReportFormat.SARIF else SignalKind.TEST

    @property
    def label(self) -> str:
        match self:
            case ReportFormat.JUNIT:
                return "JUnit test report"
            case ReportFormat.SARIF:
                return "SARIF code scanning report"
            case ReportFormat.GITHUB_CHECKS:
                return "the commit's required GitHub checks"
            case _:
                assert_never(self)

    @property
    def what(self) -> str:
        """What a missing report of this format leaves unknown, for the reasons."""
        match self:
            case ReportFormat.JUNIT:
                return "test results"
            case ReportFormat.SARIF:
                return "code scanning"
            case ReportFormat.GITHUB_CHECKS:
                return "the commit's required GitHub checks"
            case _:
                assert_never(self)


class Finding(msgspec.Struct, frozen=True):
    """One thing a report holds against the change.

    ``key``: stable within its tool (a test's ``classname.name``; a SARIF result's rule,
    location and fingerprint), so the same failure in two runs is the same signal. ``rule``: what
    exceptions and suppressions match (the test's id; the SARIF ``ruleId``). ``change``: for
    code scanning, whether the result is new in this change (``introduced``) or was already there
    (``unchanged``), from SARIF's ``baselineState``. ``suppressed``: the tool itself says the
    result is accepted (a SARIF suppression).
    """

    key: str
    title: str
    severity: Severity
    rule: str
    change: str = ""
    suppressed: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "severity": int(self.severity),
            "rule": self.rule,
        }
        if self.change:
            data["change"] = self.change
        if self.suppressed:
            data["suppressed"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            key=data["key"],
            title=data["title"],
            severity=Severity(data["severity"]),
            rule=data["rule"],
            change=data.get("change", ""),
            suppressed=bool(data.get("suppressed", False)),
        )


class Report(msgspec.Struct, frozen=True):
    """One parsed report: its format, the name it was given, the sha256 of its bytes, the tool
    that wrote it, how many tests ran (JUnit) or results it reported (SARIF), and its findings."""

    format: ReportFormat
    name: str
    digest: str
    tool: str
    total: int
    findings: tuple[Finding, ...]

    def summary(self) -> str:
        """``report.xml (pytest): 12 tests, 1 failed`` — what the decision says it read."""
        if self.format is ReportFormat.JUNIT:
            failed = sum(1 for f in self.findings if not f.suppressed)
            return f"{self.name} ({self.tool}): {self.total} test(s), {failed} failed"
        if self.format is ReportFormat.GITHUB_CHECKS:
            failed = sum(1 for f in self.findings if not f.suppressed)
            return f"{self.name} ({self.tool}): {self.total} required check(s), {failed} not passed"
        new = sum(1 for f in self.findings if f.change == "introduced" and not f.suppressed)
        return f"{self.name} ({self.tool}): {self.total} result(s), {new} new"

    def signals(self, target: Target, now: datetime) -> tuple[Signal, ...]:
        """The findings as signals on the target's workload, at ``now``. Pure."""
        workload = AssetRef(AssetKind.WORKLOAD, target.key.lower())
        source = self.format.value
        kind = self.format.kind
        out = []
        for finding in self.findings:
            digest = hashlib.sha256(f"{self.name}\x00{finding.key}".encode()).hexdigest()[:24]
            out.append(
                Signal(
                    uid=SignalUid(f"{source}:{digest}"),
                    source=source,
                    kind=kind,
                    title=ascii_text(finding.title, MAX_TITLE),
                    severity=finding.severity,
                    confidence=1.0,  # the change's own pipeline ran it: nothing to doubt
                    status=SignalStatus.SUPPRESSED if finding.suppressed else SignalStatus.OPEN,
                    first_seen=now,
                    last_seen=now,
                    assets=(workload,),
                    rule=ascii_text(finding.rule, MAX_RULE) or None,
                    raw_digest=self.digest,
                )
            )
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format.value,
            "name": self.name,
            "digest": self.digest,
            "tool": self.tool,
            "total": self.total,
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            format=ReportFormat(data["format"]),
            name=data["name"],
            digest=data["digest"],
            tool=data["tool"],
            total=int(data["total"]),
            findings=tuple(Finding.from_dict(f) for f in data["findings"]),
        )


def ascii_text(text: str, limit: int) -> str:
    """``text`` as one line of ASCII within ``limit`` characters (signals hold ASCII only):
    other characters escaped, whitespace runs folded, the tail cut with an ellipsis."""
    folded = " ".join(text.split()).encode("ascii", "backslashreplace").decode("ascii")
    return folded if len(folded) <= limit else folded[: limit - 3] + "..."
