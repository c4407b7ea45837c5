"""Exceptions (finding- and target-scoped waivers) and their matching.

Named ``Exemption`` in code to keep clear of Python's own exceptions; users and documents say
"exception". An exemption waives one finding, named by signal uid or by rule, on one target,
until it expires. It never widens: a missing scope field is an error, not a wildcard.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from clearance.model.canonical import with_present
from clearance.model.signal import format_time, utc
from clearance.model.target import Target


class Exemption(msgspec.Struct, frozen=True):
    id: str
    # exactly one of signal (a signal uid) or rule (a policy rule name or a vendor rule) is set
    signal: str | None
    rule: str | None
    environment: str
    cluster: str
    namespace: str
    workload: str  # kind/name
    expires: datetime
    reason: str
    ticket: str
    approver: str
    created_by: str | None = None

    def __post_init__(self) -> None:
        if (self.signal is None) == (self.rule is None):
            raise ValueError(f"exception {self.id!r} must name exactly one of signal or rule")
        msgspec.structs.force_setattr(self, "expires", utc(self.expires))
        msgspec.structs.force_setattr(self, "workload", self.workload.lower())

    def covers_target(self, target: Target) -> bool:
        return (
            self.environment == target.environment
            and self.cluster == target.cluster
            and self.namespace == target.namespace
            and self.workload == str(target.workload)
        )

    def active(self, now: datetime) -> bool:
        return now < self.expires

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "environment": self.environment,
            "cluster": self.cluster,
            "namespace": self.namespace,
            "workload": self.workload,
            "expires": format_time(self.expires),
            "reason": self.reason,
            "ticket": self.ticket,
            "approver": self.approver,
        }
        return with_present(data, signal=self.signal, rule=self.rule, created_by=self.created_by)
