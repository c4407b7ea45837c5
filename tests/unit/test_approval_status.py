"""The approval status is a closed set; what a client does not know never reads as deploy."""

from __future__ import annotations

import pytest

from clearance.errors import UnknownStatusError
from clearance.model.status import ApprovalStatus


def test_each_status_has_its_exit_code() -> None:
    assert {s.value: s.exit_code for s in ApprovalStatus} == {
        "proceed": 0,
        "approved": 0,
        "break_glass": 0,
        "pending_approval": 10,
        "rejected": 20,
        "block": 20,
        "shadow": 0,  # observe only: the deploy goes ahead whatever the verdict
    }
    assert [s for s in ApprovalStatus if s.clears] == [
        ApprovalStatus.PROCEED,
        ApprovalStatus.APPROVED,
        ApprovalStatus.BREAK_GLASS,
        ApprovalStatus.SHADOW,
    ]


@pytest.mark.parametrize("wire", ["approved", "block"])
def test_known_statuses_read_back(wire: str) -> None:
    assert ApprovalStatus.from_wire(wire).value == wire


@pytest.mark.parametrize("wire", ["teleported", "APPROVED", "", None, 0, "proceed "])
def test_an_unknown_status_is_refused(wire: object) -> None:
    with pytest.raises(UnknownStatusError, match="refusing to proceed"):
        ApprovalStatus.from_wire(wire)
