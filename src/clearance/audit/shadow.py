"""The shadow report: what an observe-only gate would have done, read from the decision log.

A team switches enforcement on when the figures say the gate is right often enough. Every figure
here comes from recorded decisions (``mode: shadow``) and the approvals given on them, so the
report is reproducible from the log alone:

* would-have-blocked / would-have-required-approval counts per environment, target and reason
  (``rule:<name>``, ``score``, ``stance:<class>``, ``freeze:<name>``);
* approvals granted vs refused per reason (how often a person overrode the rule: the
  false-positive estimate) and the wait from the decision to the approval that cleared it;
* time spent in each degraded stance: from a decision that fired it to the environment's next
  decision (the log sees the stance only when a decision is asked for);
* the signals that most often pushed a decision over (the noisy ones, to tune or suppress).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

from clearance.model.decision import SHADOW
from clearance.model.signal import format_time, parse_time, utc
from clearance.store.interface import WATCH_METHOD, Approval, ApprovalOutcome, AuditRecord

TOP_SIGNALS = 10
_STRICT = ("approve", "block")


@dataclass(slots=True)
class _Tally:
    block: int = 0
    approve: int = 0

    def add(self, verdict: str) -> None:
        if verdict == "block":
            self.block += 1
        elif verdict == "approve":
            self.approve += 1

    def to_dict(self) -> dict[str, int]:
        return {"would_block": self.block, "would_approve": self.approve}


@dataclass(slots=True)
class _Answers:
    granted: int = 0
    refused: int = 0
    unanswered: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"granted": self.granted, "refused": self.refused, "unanswered": self.unanswered}


@dataclass(slots=True)
class EnvironmentReport:
    decisions: int = 0
    proceed: int = 0
    verdicts: _Tally = field(default_factory=_Tally)
    targets: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    reasons: dict[str, _Tally] = field(default_factory=lambda: defaultdict(_Tally))
    approvals: dict[str, _Answers] = field(default_factory=lambda: defaultdict(_Answers))
    waits: list[float] = field(default_factory=list)
    degraded_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    signals: Counter[tuple[str, str]] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        waits = sorted(self.waits)
        return {
            "decisions": self.decisions,
            "proceed": self.proceed,
            **self.verdicts.to_dict(),
            "targets": {k: v.to_dict() for k, v in sorted(self.targets.items())},
            "reasons": {k: v.to_dict() for k, v in sorted(self.reasons.items())},
            "approvals": {k: v.to_dict() for k, v in sorted(self.approvals.items())},
            "approval_wait_seconds": {
                "count": len(waits),
                "median": median(waits) if waits else None,
                "max": waits[-1] if waits else None,
            },
            "degraded_seconds": dict(sorted(self.degraded_seconds.items())),
            "noisy_signals": [
                {"signal": uid, "title": title, "decisions": n}
                for (uid, title), n in sorted(self.signals.items(), key=lambda i: (-i[1], i[0]))[
                    :TOP_SIGNALS
                ]
            ],
        }


@dataclass(frozen=True, slots=True)
class ShadowReport:
    since: datetime
    until: datetime
    environments: Mapping[str, EnvironmentReport]
    enforcing: int  # decisions in the window made while enforcing (not in the report)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": format_time(self.since),
            "until": format_time(self.until),
            "enforcing_decisions_skipped": self.enforcing,
            "environments": {k: v.to_dict() for k, v in sorted(self.environments.items())},
        }


def shadow_report(
    records: Iterable[AuditRecord],
    approvals_of: Callable[[str], Iterable[Approval]],
    since: datetime,
    until: datetime,
    environment: str | None = None,
) -> ShadowReport:
    """``records``: decisions in chain order; ``approvals_of(decision_id)``: their approvals."""
    since, until = utc(since), utc(until)
    envs: dict[str, EnvironmentReport] = defaultdict(EnvironmentReport)
    last: dict[str, tuple[datetime, tuple[str, ...]]] = {}
    enforcing = 0
    for record in records:
        d = record.decision
        at = parse_time(str(d["at"]))
        env_name = str(d["target"]["environment"])
        if not since <= at <= until or (environment is not None and env_name != environment):
            continue
        if record.caller.get("method") == WATCH_METHOD:  # a re-decision after the deploy
            continue
        if d.get("mode") != SHADOW:
            enforcing += 1
            continue
        report = envs[env_name]
        _degraded_time(report, last.get(env_name), at)
        last[env_name] = (at, tuple(d.get("degraded", ())))
        report.decisions += 1
        verdict = str(d["verdict"])
        if verdict not in _STRICT:
            report.proceed += 1
            continue
        report.verdicts.add(verdict)
        t = d["target"]
        report.targets[f"{t['cluster']}/{t['namespace']}/{t['workload']}"].add(verdict)
        counted = [r for r in d.get("reasons", ()) if not r.get("waived_by")]
        codes = sorted({str(r["code"]) for r in counted if r["verdict"] == verdict})
        for code in codes:
            report.reasons[code].add(verdict)
        _noisy(report, d, counted)
        if verdict == "approve":
            _answers(report, record, approvals_of(record.decision_id), codes)
    for env_name, (at, degraded) in last.items():  # the last stance lasts until the window ends
        for failure in degraded:
            envs[env_name].degraded_seconds[failure] += (until - at).total_seconds()
    return ShadowReport(since, until, dict(envs), enforcing)


def _degraded_time(
    report: EnvironmentReport, previous: tuple[datetime, tuple[str, ...]] | None, at: datetime
) -> None:
    if previous is None:
        return
    then, degraded = previous
    for failure in degraded:
        report.degraded_seconds[failure] += (at - then).total_seconds()


def _noisy(report: EnvironmentReport, d: Mapping[str, Any], counted: list[Any]) -> None:
    """The signals a strict verdict rests on: those its rules named, else its top contributor."""
    titles = {c["signal"]: c["title"] for c in d.get("contributors", ())}
    named = {str(r["signal"]) for r in counted if r.get("signal") and r["verdict"] != "proceed"}
    if not named and d.get("contributors"):
        named = {str(d["contributors"][0]["signal"])}
    for uid in sorted(named):
        report.signals[(uid, str(titles.get(uid, "")))] += 1


def _answers(
    report: EnvironmentReport, record: AuditRecord, given: Iterable[Approval], codes: list[str]
) -> None:
    approvals = sorted(given, key=lambda a: a.at)
    refused = any(a.outcome is ApprovalOutcome.REJECT for a in approvals)
    granted = [a for a in approvals if a.outcome is ApprovalOutcome.APPROVE]
    required = int(record.decision.get("approvals", {}).get("required") or 1)
    for code in codes:
        answers = report.approvals[code]
        if refused:
            answers.refused += 1
        elif len(granted) >= required:
            answers.granted += 1
        else:
            answers.unanswered += 1
    if not refused and len(granted) >= required:
        cleared = granted[required - 1].at
        report.waits.append((utc(cleared) - utc(record.at)).total_seconds())


def render_text(report: ShadowReport) -> str:
    data = report.to_dict()
    lines = [
        f"Shadow report {data['since']} .. {data['until']}"
        f" ({report.enforcing} enforcing decision(s) not counted)"
    ]
    if not report.environments:
        lines.append("  no shadow-mode decisions in this window")
    for name, env in data["environments"].items():
        lines += [
            "",
            f"{name}: {env['decisions']} decision(s): {env['proceed']} proceed, "
            f"{env['would_block']} would have blocked, {env['would_approve']} would have "
            "required approval",
        ]
        for title, key in (("targets", "targets"), ("reasons", "reasons")):
            if env[key]:
                lines.append(f"  by {title}")
                lines += [
                    f"    {k}: {v['would_block']} block, {v['would_approve']} approve"
                    for k, v in env[key].items()
                ]
        if env["approvals"]:
            lines.append("  approvals by reason")
            lines += [
                f"    {k}: {v['granted']} granted, {v['refused']} refused, "
                f"{v['unanswered']} unanswered"
                for k, v in env["approvals"].items()
            ]
        wait = env["approval_wait_seconds"]
        if wait["count"]:
            lines.append(
                f"  approval wait: {wait['count']} cleared, median {wait['median']:g}s, "
                f"max {wait['max']:g}s"
            )
        if env["degraded_seconds"]:
            lines.append("  time in degraded stances")
            lines += [f"    {k}: {v:g}s" for k, v in env["degraded_seconds"].items()]
        if env["noisy_signals"]:
            lines.append("  noisiest signals")
            lines += [
                f"    {s['decisions']}× {s['signal']} {s['title']}".rstrip()
                for s in env["noisy_signals"]
            ]
    return "\n".join(lines) + "\n"
