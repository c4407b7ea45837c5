"""What the client sends and what the service answers, as typed values.

A :class:`Question` is a target (and, for a workload that is new or changing, the manifest about
to be applied). An :class:`Answer` is the recorded :class:`~clearance.model.decision.Decision`,
read back with ``Decision.from_dict`` so it renders exactly as a local check does, and its
:class:`Standing` on the service: status, exit code and approvals. The status, not the verdict,
says whether the deploy may go on (an ``approve`` verdict with enough approvals is ``approved``,
exit 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clearance.errors import ServiceUnavailableError
from clearance.model.decision import Decision
from clearance.model.target import Target

# status → what it means for the deploy; the exit code comes from the service with the answer.
PENDING = "pending_approval"
CLEARED = ("approved", "break_glass")  # an approve (or block) verdict that may now go on


@dataclass(frozen=True, slots=True)
class Question:
    """One deploy to decide. ``manifest``: the workload object about to be applied."""

    target: Target
    manifest: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body = self.target.to_dict()  # the API's request fields, by construction
        if self.manifest is not None:
            body["manifest"] = dict(self.manifest)
        return body


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
    status: str  # proceed | pending_approval | approved | rejected | block | break_glass
    exit_code: int
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
            status=str(data["status"]),
            exit_code=int(data["exit_code"]),
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
            "status": self.status,
            "exit_code": self.exit_code,
            "requested_by": self.requested_by,
            "approval": approval,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """A recorded decision and its standing. ``exit_code`` is the standing's (0/10/20)."""

    decision: Decision
    standing: Standing

    @property
    def exit_code(self) -> int:
        return self.standing.exit_code

    @property
    def pending(self) -> bool:
        return self.standing.status == PENDING

    @classmethod
    def from_json(cls, body: Any, where: str) -> Answer:
        """Parse the body of ``POST /v1/decisions`` or ``GET /v1/decisions/{id}``."""
        try:
            return cls(Decision.from_dict(body["decision"]), Standing.from_dict(body))
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceUnavailableError(
                f"{where} answered something that is not a decision "
                f"({type(exc).__name__}: {exc}); is it a Clearance service of this version?"
            ) from exc
