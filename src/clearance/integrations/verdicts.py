"""The one table: what proceed, approve and block mean in each pipeline's dialect.

Every integration reads its answer from here, so a verdict cannot mean "go" in one dialect and
"wait" in another. ``approve`` is never a silent "go": it is a pending state wherever the
dialect has one (GitHub: a status comment, the gate stays open; Argo: Inconclusive, the rollout
pauses) and a refusal where it has none (Flagger: 403; admission: denied until approved, unless
the environment's policy chooses ``warn``, which must be written down to take effect).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from clearance.model.decision import Verdict


class ArgoPhase(StrEnum):
    """Argo Rollouts AnalysisRun measurement phases (v1alpha1.AnalysisPhase)."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True, slots=True)
class Dialect:
    github_state: str | None  # deployment_protection_rule state; None: report, stay pending
    admission_allowed: bool  # for approve: the default (deny); an environment may choose warn
    argo_phase: ArgoPhase
    flagger_status: int  # Flagger treats status <= 202 as "go on"
    exit_code: int  # CLI, GitLab, Tekton, Jenkins


TABLE: dict[Verdict, Dialect] = {
    Verdict.PROCEED: Dialect("approved", True, ArgoPhase.SUCCESSFUL, 200, 0),
    Verdict.APPROVE: Dialect(None, False, ArgoPhase.INCONCLUSIVE, 403, 10),
    Verdict.BLOCK: Dialect("rejected", False, ArgoPhase.FAILED, 403, 20),
}


def dialect(verdict: Verdict) -> Dialect:
    return TABLE[verdict]
