"""Where a recorded decision stands on the service: status, exit code, approvals, break-glass.

The wire form is what ``POST /v1/decisions`` and ``GET /v1/decisions/{id}`` answer beside the
decision (``service/decisions.py`` ``Outcome.to_dict``). The status, not the verdict, says
whether the deploy may go on: an ``approve`` verdict with enough approvals is ``approved``, exit 0.
The client reads it (``clearance.client``) and the renderers show it (``clearance.render``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clearance.model.status import ApprovalStatus

PENDING = ApprovalStatus.PENDING_APPROVAL
# An approve (or block) verdict that may now go on.
CLEARED = (ApprovalStatus.APPROVED, ApprovalStatus.BREAK_GLASS)


@dataclass(frozen=True, slots=True)
class Voided:
    """An approval that no longer counts, and why (new evidence, a higher score, expiry)."""

    approval: str
    approver: str
    decision: str
    reason: str


@dataclass(frozen=True, slots=True)
class BreakGlassGrant:
    id: str
    requested_by: str
    reason: str
    ticket: str
    expires_at: str
    confirmed_by: str | None = None


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a recorded decision stands on the service now."""

    seq: int
    hash: str
    status: ApprovalStatus
    exit_code: int  # the status's own (0/10/20), never a number the service answered
    requested_by: str | None
    required: int
    group: str | None
    approvers: tuple[str, ...]
    rejected_by: tuple[str, ...]
    voided: tuple[Voided, ...]
    break_glass: BreakGlassGrant | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standing:
        approval = data["approval"]
        grant = approval.get("break_glass")
        return cls(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            # A status this client does not know is refused (UnknownStatusError), never read
            # as "deploy"; the exit code follows from the status, whatever number came with it.
            status=(status := ApprovalStatus.from_wire(data["status"])),
            exit_code=status.exit_code,
            requested_by=data.get("requested_by"),
            required=int(approval["required"]),
            group=approval.get("group"),
            approvers=tuple(approval["approvers"]),
            rejected_by=tuple(approval["rejected_by"]),
            voided=tuple(Voided(**v) for v in approval.get("voided", ())),
            break_glass=None if grant is None else BreakGlassGrant(**grant),
        )

    def to_dict(self) -> dict[str, Any]:
        """The service's own fields, as ``POST /v1/decisions`` answered them."""
        approval: dict[str, Any] = {
            "required": self.required,
            "group": self.group,
            "approvers": list(self.approvers),
            "rejected_by": list(self.rejected_by),
            "voided": [
                {"approval": v.approval, "approver": v.approver, "decision": v.decision,
                 "reason": v.reason}
                for v in self.voided
            ],
        }  # fmt: skip
        if self.break_glass is not None:
            g = self.break_glass
            approval["break_glass"] = {
                "id": g.id, "requested_by": g.requested_by, "reason": g.reason,
                "ticket": g.ticket, "expires_at": g.expires_at, "confirmed_by": g.confirmed_by,
            }  # fmt: skip
        return {
            "seq": self.seq,
            "hash": self.hash,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "requested_by": self.requested_by,
            "approval": approval,
        }
