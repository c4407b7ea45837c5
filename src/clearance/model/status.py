"""Where a recorded decision stands now: one closed set of statuses, each with its exit code.

In the model because the service answers it and every client (the CLI, the pipeline gate, the
integrations) reads it: they share this one definition.

The service answers a status with every decision (``POST``/``GET /v1/decisions``); clients read
it back with :meth:`ApprovalStatus.from_wire`, which refuses a status it does not know instead of
guessing: an unknown status must never read as "deploy".
"""

from __future__ import annotations

from enum import StrEnum
from typing import assert_never

from clearance.errors import UnknownStatusError


class ApprovalStatus(StrEnum):
    PROCEED = "proceed"  # the verdict was proceed
    APPROVED = "approved"  # an approve verdict with enough valid approvals
    BREAK_GLASS = "break_glass"  # an active break-glass covers the decision's artifact
    PENDING_APPROVAL = "pending_approval"  # waiting for approvals
    REJECTED = "rejected"  # a valid rejection
    BLOCK = "block"  # the verdict was block
    SHADOW = "shadow"  # the environment observes only: the deploy goes ahead whatever the verdict

    @property
    def exit_code(self) -> int:
        """``clearance check``'s exit code: 0 deploy, 10 wait for approval, 20 do not deploy."""
        match self:
            case (
                ApprovalStatus.PROCEED
                | ApprovalStatus.APPROVED
                | ApprovalStatus.BREAK_GLASS
                | ApprovalStatus.SHADOW
            ):
                return 0
            case ApprovalStatus.PENDING_APPROVAL:
                return 10
            case ApprovalStatus.REJECTED | ApprovalStatus.BLOCK:
                return 20
            case _:
                assert_never(self)

    @property
    def clears(self) -> bool:
        """True when the deploy may go ahead now."""
        return self.exit_code == 0

    @classmethod
    def from_wire(cls, value: object) -> ApprovalStatus:
        """The status a service answered; UnknownStatusError for anything else."""
        try:
            return cls(str(value))
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise UnknownStatusError(
                f"the service answered status {value!r}, which this client does not know "
                f"(known: {known}); refusing to proceed. Upgrade the client or check the service"
            ) from None
