"""Post-deploy checks: smoke tests and health checks run after a deploy, as evidence about the
next deploy of the same release or the same target.

A pipeline deploys what a decision cleared, runs its smoke tests, and records their report
against that decision (``clearance deployed ID --check junit:smoke.xml``, ``POST
/v1/decisions/{id}/checks``). Two later decisions read it:

* the next deploy of the **same target** (environment and workload): what runs there now failed
  its checks (``previous``), so the target is not known to be well;
* a deploy of the **same release** (the same image digests) to **another environment**: the
  very images being promoted failed their checks there (``release``), e.g. in staging before
  production.

Only a check's latest report counts (a re-run that passes clears it). The snapshot records the
checks it read, so a replay reads them from the record and decides byte for byte the same; the
engine turns each failed test into a ``health`` signal on the workload with rule ``smoke``,
last seen when the check ran, that rules and stances act on like any other.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from clearance.model.assets import AssetKind, AssetRef, ImageRef
from clearance.model.reports import Report, ascii_text
from clearance.model.signal import (
    MAX_TITLE,
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    SignalUid,
    format_time,
    parse_time,
)
from clearance.model.target import Target

CHECK_SOURCE = "smoke"
CHECK_RULE = "smoke"


class Relation(StrEnum):
    """How a recorded check relates to the deploy being decided."""

    PREVIOUS = "previous"  # the release running on the same target
    RELEASE = "release"  # the same images, in another environment

    def describe(self, environment: str) -> str:
        if self is Relation.PREVIOUS:
            return f"of the release running in {environment}"
        return f"of this release in {environment}"


def release_key(images: tuple[ImageRef, ...] | list[ImageRef]) -> str | None:
    """What identifies a release across environments: its image digests, sorted. None when
    any image has no digest: a tag can move, so two deploys of ``app:1.4`` need not be the
    same release, and a check of one must not count against the other."""
    if not images or any(not image.digest for image in images):
        return None
    digests = "\n".join(sorted({str(image.digest) for image in images}))
    return "sha256:" + hashlib.sha256(digests.encode()).hexdigest()


class PostDeployCheck(msgspec.Struct, frozen=True):
    """One recorded check report: ``id`` (``chk_…``), the decision whose deploy it checked,
    that decision's environment and target key, when it was recorded, and the report."""

    id: str
    decision_id: str
    environment: str
    target_key: str
    at: datetime
    report: Report

    @property
    def failed(self) -> int:
        return sum(1 for f in self.report.findings if not f.suppressed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "decision_id": self.decision_id,
            "environment": self.environment,
            "target_key": self.target_key,
            "at": format_time(self.at),
            "report": self.report.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostDeployCheck:
        return cls(
            id=data["id"],
            decision_id=data["decision_id"],
            environment=data["environment"],
            target_key=data["target_key"],
            at=parse_time(data["at"]),
            report=Report.from_dict(data["report"]),
        )


class CheckEvidence(msgspec.Struct, frozen=True):
    """A check as a decision read it: the check and how it relates to the deploy."""

    check: PostDeployCheck
    relation: Relation

    def signals(self, target: Target) -> tuple[Signal, ...]:
        """Each failed test of the check as a ``health`` signal on ``target``'s workload, last
        seen when the check was recorded. Pure."""
        workload = AssetRef(AssetKind.WORKLOAD, target.key.lower())
        check = self.check
        where = self.relation.describe(check.environment)
        out = []
        for finding in check.report.findings:
            if finding.suppressed:
                continue
            digest = hashlib.sha256(f"{check.id}\x00{finding.key}".encode()).hexdigest()[:24]
            # Where and which decision first: a long test message is what the bound cuts.
            title = f"Post-deploy check {where} (decision {check.decision_id}): {finding.title}"
            out.append(
                Signal(
                    uid=SignalUid(f"{CHECK_SOURCE}:{digest}"),
                    source=CHECK_SOURCE,
                    kind=SignalKind.HEALTH,
                    title=ascii_text(title, MAX_TITLE),
                    # A failed check is as bad as a crash loop: the release did not work.
                    severity=max(finding.severity, Severity.HIGH),
                    confidence=1.0,
                    status=SignalStatus.OPEN,
                    first_seen=check.at,
                    last_seen=check.at,
                    assets=(workload,),
                    rule=CHECK_RULE,
                    raw_digest=check.report.digest,
                )
            )
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {"relation": self.relation.value, **self.check.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckEvidence:
        return cls(PostDeployCheck.from_dict(data), Relation(data["relation"]))
