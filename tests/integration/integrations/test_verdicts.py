"""The one table: every verdict has an answer in every dialect, and approve is never a silent go."""

from __future__ import annotations

from clearance.integrations.verdicts import TABLE, ArgoPhase, dialect
from clearance.model.decision import Verdict


def test_every_verdict_has_every_dialect() -> None:
    assert set(TABLE) == set(Verdict)


def test_only_proceed_goes_on_anywhere() -> None:
    for verdict in Verdict:
        d = dialect(verdict)
        goes = [
            d.github_state == "approved",
            d.admission_allowed,
            d.argo_phase is ArgoPhase.SUCCESSFUL,
            d.flagger_status <= 202,  # Flagger: status <= 202 is success
            d.exit_code == 0,
        ]
        assert all(goes) if verdict is Verdict.PROCEED else not any(goes)


def test_approve_waits_where_the_dialect_can_wait() -> None:
    d = dialect(Verdict.APPROVE)
    assert d.github_state is None  # a status report; the gate stays pending
    assert d.argo_phase is ArgoPhase.INCONCLUSIVE  # the rollout pauses
    assert d.exit_code == Verdict.APPROVE.exit_code == 10
    assert dialect(Verdict.BLOCK).exit_code == Verdict.BLOCK.exit_code
