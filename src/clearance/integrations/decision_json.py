"""Read a Decision back from its JSON form (``Decision.to_dict``), as the service returns it.

The GitHub Action asks the service and renders the answer with the same renderer as a local
check (``clearance.render.github``), so it needs the dataclass, not a dict.
"""

from __future__ import annotations

from typing import Any

from clearance.model.decision import (
    Contribution,
    Decision,
    Freshness,
    Reason,
    SourceFreshness,
    Verdict,
)
from clearance.model.signal import parse_time
from clearance.model.snapshot import target_from_dict


def decision_from_dict(data: dict[str, Any]) -> Decision:
    """Raise KeyError/ValueError on a body that is not a decision (the caller names it)."""
    approvals = data.get("approvals") or {}
    return Decision(
        id=data["id"],
        at=parse_time(data["at"]),
        target=target_from_dict(data["target"]),
        verdict=Verdict(data["verdict"]),
        score=float(data["score"]),
        band=Verdict(data["band"]),
        threshold_approve=float(data["thresholds"]["approve"]),
        threshold_block=float(data["thresholds"]["block"]),
        reasons=tuple(
            Reason(
                code=r["code"],
                verdict=Verdict(r["verdict"]),
                message=r["message"],
                signal=r.get("signal"),
                waived_by=r.get("waived_by"),
            )
            for r in data.get("reasons", ())
        ),
        contributors=tuple(Contribution(**c) for c in data.get("contributors", ())),
        suppressed=tuple((s["signal"], s["suppression"]) for s in data.get("suppressed", ())),
        waived=tuple((e["signal"], e["exception"]) for e in data.get("exceptions", ())),
        sources=tuple(
            SourceFreshness(
                name=s["name"],
                state=Freshness(s["state"]),
                age_seconds=s.get("age_seconds"),
                limit_seconds=int(s["limit_seconds"]),
                skipped=int(s.get("skipped", 0)),
                last_error=s.get("last_error"),
            )
            for s in data.get("sources", ())
        ),
        exposure_summary=dict(data.get("exposure", {})),
        approvals_required=int(approvals.get("required", 0)),
        approval_group=approvals.get("group"),
        degraded=tuple(data.get("degraded", ())),
        notes=tuple(data.get("notes", ())),
        policy_digest=data["policy_digest"],
        inputs_digest=data["inputs_digest"],
    )
