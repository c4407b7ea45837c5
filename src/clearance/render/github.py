"""GitHub Actions output: job summary (Markdown), step outputs, and workflow annotations.

See https://docs.github.com/actions/reference/workflow-commands-for-github-actions: outputs are
``name=value`` lines appended to ``$GITHUB_OUTPUT``; the summary is Markdown appended to
``$GITHUB_STEP_SUMMARY``; annotations are ``::error::``/``::warning::`` lines on stdout, whose
message must escape ``%``, CR and LF.
"""

from __future__ import annotations

from clearance.model.decision import Decision, Verdict
from clearance.model.standing import Standing
from clearance.policy.freshness import describe_age
from clearance.render.hints import hints

_ICON = {Verdict.PROCEED: "✅", Verdict.APPROVE: "⏸️", Verdict.BLOCK: "⛔"}


def escape_annotation(message: str) -> str:
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def outputs(decision: Decision, standing: Standing | None = None) -> str:
    """``verdict``, ``score``, ``decision-id``; with the service, also its ``status``."""
    d = decision
    lines = f"verdict={d.verdict.value}\nscore={d.score:g}\ndecision-id={d.id}\n"
    if standing is not None:
        lines += f"status={standing.status}\n"
    return lines


def annotation_lines(decision: Decision) -> str:
    lines = []
    if decision.shadow and decision.verdict is not Verdict.PROCEED:
        # Observe only: a warning that says what enforcing would do, never an error.
        said = f"enforcing would answer {decision.verdict.value}; the deploy goes ahead"
        lines.append(f"::warning title=Clearance (shadow mode)::{escape_annotation(said)}")
    for r in decision.reasons:
        if r.waived_by:
            continue
        if r.verdict is Verdict.BLOCK and not decision.shadow:
            lines.append(f"::error title=Clearance: block::{escape_annotation(r.message)}")
        elif r.verdict is Verdict.APPROVE or r.code.startswith("stance:"):
            lines.append(
                f"::warning title=Clearance: {r.verdict.value}::{escape_annotation(r.message)}"
            )
    return "".join(line + "\n" for line in lines)


def summary(decision: Decision, standing: Standing | None = None) -> str:
    d = decision
    t = d.target
    out = [
        f"## {_ICON[d.verdict]} Clearance: **{d.verdict.value}** for "
        f"`{t.cluster}/{t.namespace}/{t.workload}` ({t.environment})",
        "",
        *(
            [
                f"Shadow mode: enforcing would answer **{d.verdict.value}**; "
                "the deploy goes ahead.",
                "",
            ]
            if d.shadow
            else []
        ),
        f"Risk score **{d.score:g}** / 100 — "
        f"approve ≥ {d.threshold_approve:g}, block ≥ {d.threshold_block:g}.",
        "",
        "| verdict | reason | code |",
        "|---|---|---|",
    ]
    for r in d.reasons:
        mark = f"~~{r.verdict.value}~~ (waived)" if r.waived_by else r.verdict.value
        out.append(f"| {mark} | {_cell(r.message)} | `{r.code}` |")
    if d.contributors:
        out += [
            "",
            "### Contributing detections",
            "",
            "| contribution | detection | proximity | age |",
            "|---|---|---|---|",
        ]
        for c in d.contributors[:10]:
            title = f"[{_cell(c.title)}]({c.url})" if c.url else _cell(c.title)
            out.append(
                f"| {c.contribution:.3f} | {title} (`{c.signal}`) "
                f"| {c.proximity} via `{c.matched}` | {describe_age(c.age_seconds)} |"
            )
    if d.sources:
        out += ["", "### Sources", "", "| source | state | age | limit |", "|---|---|---|---|"]
        for s in d.sources:
            age = "never" if s.age_seconds is None else describe_age(s.age_seconds)
            out.append(f"| {s.name} | {s.state.value} | {age} | {describe_age(s.limit_seconds)} |")
    if advice := hints(d):
        out += ["", "### What would clear it", ""]
        for h in advice:
            link = f" ([console]({h.url}))" if h.url else ""
            out.append(f"- `{h.reason}`: {_cell(h.text)}{link}")
            if h.command:
                out += ["", "  ```sh", f"  {h.command}", "  ```"]
    if standing is not None:
        out += ["", "### On the service", "", _standing(d, standing)]
    out += ["", f"<sub>decision `{d.id}` · policy `{d.policy_digest}`</sub>", ""]
    return "\n".join(out)


def _standing(decision: Decision, standing: Standing) -> str:
    s = standing
    text = f"Status **{s.status}** (exit {s.exit_code}), record #{s.seq}"
    if s.status == "pending_approval":
        group = f" from group `{s.group}`" if s.group else ""
        text += (
            f": {len(s.approvers)} of {s.required} approvals{group}; approve with "
            f"`clearance approve {decision.id} --reason …`"
        )
    elif s.status == "approved":
        text += f": approved by {', '.join(s.approvers)}"
    elif s.status == "rejected":
        text += f": rejected by {', '.join(s.rejected_by)}"
    elif s.break_glass is not None:
        text += f": break-glass {s.break_glass.id} by {s.break_glass.requested_by}"
    voided = "".join(f"\n- {_cell(v.reason)}" for v in s.voided)
    return text + "." + (f"\n\nApprovals that no longer count:\n{voided}" if voided else "")
