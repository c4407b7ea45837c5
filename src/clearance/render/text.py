"""Decisions for people at a terminal: the verdict first, then why, then the evidence; for a
decision the service answered, where it stands there (its approvals) after it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from clearance.model.decision import Decision, Verdict
from clearance.policy.freshness import describe_age
from clearance.render.hints import hints

if TYPE_CHECKING:  # a local check has no standing: its model loads with the service's answer
    from clearance.model.standing import Standing

_HEADLINE = {
    Verdict.PROCEED: "PROCEED  deploy may go ahead",
    Verdict.APPROVE: "APPROVE  deploy needs a named human's approval",
    Verdict.BLOCK: "BLOCK    do not deploy",
}
TOP_CONTRIBUTORS = 5


def render_text(decision: Decision) -> str:
    d = decision
    t = d.target
    lines = [
        f"{_HEADLINE[d.verdict]}",
        f"  target   {t.environment} · {t.cluster}/{t.namespace}/{t.workload}",
        f"  score    {d.score:g} / 100  "
        f"(approve ≥ {d.threshold_approve:g}, block ≥ {d.threshold_block:g})",
    ]
    if d.verdict is Verdict.APPROVE:
        group = f" from group {d.approval_group!r}" if d.approval_group else ""
        lines.append(f"  needs    {d.approvals_required} approval(s){group}")
    if d.shadow:
        lines.append(
            f"  mode     shadow: enforcing would answer {d.verdict.value}; "
            "the deploy goes ahead (exit 0)"
        )
    lines.append("")
    lines.append("Reasons")
    for r in d.reasons:
        mark = "waived" if r.waived_by else r.verdict.value
        lines.append(f"  [{mark:>7}] {r.message}  ({r.code})")
    if d.contributors:
        lines.append("")
        lines.append("Top contributors")
        for c in d.contributors[:TOP_CONTRIBUTORS]:
            link = f"  {c.url}" if c.url else ""
            lines.append(
                f"  {c.contribution:6.3f}  {c.title}  [{c.signal}; {c.proximity} via {c.matched}; "
                f"{describe_age(c.age_seconds)} old]{link}"
            )
        if len(d.contributors) > TOP_CONTRIBUTORS:
            lines.append(
                f"  … and {len(d.contributors) - TOP_CONTRIBUTORS} more (see --format json)"
            )
    if d.suppressed:
        lines.append(f"  ({len(d.suppressed)} suppressed signal(s) ignored)")
    if d.notes:
        lines.append("")
        lines.append("Notes")
        lines += [f"  {note}" for note in d.notes]
    if d.sources:
        lines.append("")
        lines.append("Sources")
        for s in d.sources:
            age = "never" if s.age_seconds is None else describe_age(s.age_seconds)
            skipped = f", {s.skipped} malformed record(s) skipped" if s.skipped else ""
            error = f", last error: {s.last_error}" if s.last_error else ""
            lines.append(
                f"  {s.name:<20} {s.state.value:<6} age {age} "
                f"(limit {describe_age(s.limit_seconds)}){skipped}{error}"
            )
    if advice := hints(d):
        lines.append("")
        lines.append("What would clear it")
        for h in advice:
            lines.append(f"  [{h.reason}] {h.text}")
            if h.url:
                lines.append(f"      console: {h.url}")
            if h.command:
                lines.append(f"      $ {h.command}")
    lines.append("")
    lines.append(f"decision {d.id}  policy {d.policy_digest[:19]}…  inputs {d.inputs_digest[:19]}…")
    return "\n".join(lines) + "\n"


def render_explanation(decision: Decision) -> str:
    """Every factor of every contribution, and how they combine: the score, shown as a sum."""
    d = decision
    lines = [
        f"Score for {d.target.environment} · "
        f"{d.target.cluster}/{d.target.namespace}/{d.target.workload}",
        "",
        "contribution = severity weight × confidence × decay × proximity weight",
        "decay        = 0.5 ^ (age ÷ half-life)",
        "risk         = 100 × (1 − Π(1 − contribution))",
        "",
    ]
    remaining = 1.0
    for c in d.contributors:
        remaining *= 1.0 - c.contribution
        table = f" ({c.kind} table)" if c.kind else ""
        lines += [
            f"{c.signal}  {c.title}",
            f"  severity {c.severity}{table} → weight {c.severity_weight:g}",
            f"  confidence {c.confidence:g}",
            f"  age {describe_age(c.age_seconds)}, half-life {describe_age(c.half_life_seconds)} "
            f"→ decay {c.decay:g}",
            *_exploitability(c.exploitability),
            f"  proximity {c.proximity} (via {c.matched}) → weight {c.proximity_weight:g}",
            *_change(c.change, c.change_weight),
            f"  = {c.severity_weight:g} × {c.confidence:g} × {c.decay:g} × {c.proximity_weight:g}"
            + (f" × {c.change_weight:g}" if c.change_weight is not None else "")
            + f" = {c.contribution:g}",
            "",
        ]
    if not d.contributors:
        lines += ["No active, unsuppressed signal touches this target.", ""]
    if d.kinds:
        # Each kind is combined on its own, then counts for at most its cap.
        lines.append("by kind: uₖ = 1 − Π(1 − contribution) over the kind's signals")
        remaining = 1.0
        for k in d.kinds:
            remaining *= 1.0 - k.counted
            capped = (
                f", capped at {k.cap:g} → counts {k.counted:g}"
                if k.cap is not None and k.counted < k.total
                else ("" if k.cap is None else f" (cap {k.cap:g} not reached)")
            )
            lines.append(f"  {k.kind}: {k.total:g}{capped}")
        lines.append("")
        terms = " × ".join(f"(1 − {k.counted:g})" for k in d.kinds) or "1"
    else:
        terms = " × ".join(f"(1 − {c.contribution:g})" for c in d.contributors) or "1"
    lines += [
        f"risk = 100 × (1 − {terms})",
        f"     = 100 × (1 − {remaining:.6g}) = {d.score:g}",
        f"thresholds: approve ≥ {d.threshold_approve:g}, block ≥ {d.threshold_block:g} → "
        f"score alone says {d.band.value}; final verdict {d.verdict.value}",
    ]
    for uid, name in d.suppressed:
        lines.append(f"suppressed (not scored): {uid} by {name}")
    for uid, exc in d.waived:
        lines.append(f"excepted (not scored): {uid} by exception {exc}")
    return "\n".join(lines) + "\n"


def render_standing(decision: Decision, standing: Standing) -> str:
    """Where a recorded decision stands on the service: status, approvals, a break-glass."""
    s = standing
    by = f" · requested by {s.requested_by}" if s.requested_by else ""
    lines = [f"service  {s.status} (exit {s.exit_code}) · record #{s.seq}{by}"]
    if s.status == "pending_approval":
        group = f" from group {s.group}" if s.group else ""
        lines.append(
            f"Approval needed: {len(s.approvers)} of {s.required}{group}. "
            f"Approve with: clearance approve {decision.id} --reason '…'"
        )
    elif s.status == "approved":
        lines.append(f"Approved by {', '.join(s.approvers)}.")
    elif s.status == "rejected":
        lines.append(f"Rejected by {', '.join(s.rejected_by)}.")
    elif s.break_glass is not None:
        g = s.break_glass
        lines.append(
            f"Break-glass {g.id} by {g.requested_by} (ticket {g.ticket}) until {g.expires_at}: "
            "proceeding."
        )
    lines += [f"  ! {v.reason}" for v in s.voided]
    return "\n".join(lines) + "\n"


def _exploitability(facts: Mapping[str, Any] | None) -> list[str]:
    """``  exploitability: EPSS 0.62 (98th percentile), fix available, CVSS:3.1/AV:N/…``."""
    if not facts:
        return []
    parts = []
    if "epss" in facts:
        rank = facts.get("epss_percentile")
        parts.append(
            f"EPSS {facts['epss']:g}" + (f" ({rank * 100:.0f}th percentile)" if rank else "")
        )
    if "fix_available" in facts:
        parts.append("fix available" if facts["fix_available"] else "no fix yet")
    if "cvss" in facts:
        parts.append(str(facts["cvss"]))
    return [f"  exploitability: {', '.join(parts)}"]


def _change(change: str | None, weight: float | None) -> list[str]:
    """``  the deploy introduces it → weight 1``: what the deploy does to an image finding."""
    if not change:
        return []
    verb = {"introduced": "introduces", "unchanged": "keeps", "fixed": "fixes"}.get(change, change)
    return [f"  the deploy {verb} it" + (f" → weight {weight:g}" if weight is not None else "")]
