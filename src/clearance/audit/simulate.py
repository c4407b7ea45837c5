"""Impact preview: replay recorded decisions under a candidate policy, and say what would change.

Every record holds the snapshot it was decided from; the pure engine decides it again under the
candidate at the decision's own time. A decision *changes* when its verdict differs, or when
what the pipeline was told differs (an environment leaving or entering shadow mode). It *newly
blocks* when the candidate would stop a deploy that was let through: a recorded proceed or
approve, or a block recorded in shadow mode, that the enforcing candidate blocks. The reasons
that appeared or went away (rule, score band and thresholds, stance) say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clearance.engine import decide
from clearance.errors import UnknownEnvironmentError
from clearance.model.decision import SHADOW, Decision
from clearance.model.signal import format_time, parse_time, utc
from clearance.model.snapshot import snapshot_from_dict, target_from_dict
from clearance.policy.compiled import Policy
from clearance.store.interface import WATCH_METHOD, AuditRecord


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: str
    shadow: bool

    @property
    def blocks(self) -> bool:
        """The deploy was (would be) stopped: a block that is enforced."""
        return self.verdict == "block" and not self.shadow

    def __str__(self) -> str:
        return f"{self.verdict} (shadow)" if self.shadow else self.verdict


@dataclass(frozen=True, slots=True)
class Change:
    decision_id: str
    at: datetime
    target: str  # cluster/namespace/workload
    recorded: Outcome
    candidate: Outcome
    why: tuple[str, ...]

    @property
    def newly_blocks(self) -> bool:
        return self.candidate.blocks and not self.recorded.blocks

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "at": format_time(self.at),
            "target": self.target,
            "recorded": {"verdict": self.recorded.verdict, "shadow": self.recorded.shadow},
            "candidate": {"verdict": self.candidate.verdict, "shadow": self.candidate.shadow},
            "newly_blocks": self.newly_blocks,
            "why": list(self.why),
        }


@dataclass(slots=True)
class EnvironmentImpact:
    replayed: int = 0
    changes: list[Change] = field(default_factory=list)
    missing: int = 0  # decisions of an environment the candidate does not have

    def to_dict(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "changed": len(self.changes),
            "newly_block": sum(1 for c in self.changes if c.newly_blocks),
            "not_in_candidate": self.missing,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True, slots=True)
class Impact:
    candidate: str  # the candidate policy's digest
    since: datetime
    until: datetime
    environments: Mapping[str, EnvironmentImpact]

    @property
    def newly_blocks(self) -> int:
        return sum(1 for e in self.environments.values() for c in e.changes if c.newly_blocks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "since": format_time(self.since),
            "until": format_time(self.until),
            "newly_block": self.newly_blocks,
            "environments": {k: v.to_dict() for k, v in sorted(self.environments.items())},
        }


def simulate(
    records: Iterable[AuditRecord],
    candidate: Policy,
    since: datetime,
    until: datetime,
    environment: str | None = None,
) -> Impact:
    """Decide each recorded decision in ``[since, until]`` again under ``candidate``."""
    since, until = utc(since), utc(until)
    envs: dict[str, EnvironmentImpact] = {}
    for record, at in _window(records, since, until):
        d = record.decision
        env_name = str(d["target"]["environment"])
        if environment is not None and env_name != environment:
            continue
        impact = envs.setdefault(env_name, EnvironmentImpact())
        target = target_from_dict(dict(d["target"]))
        try:
            again = decide(target, snapshot_from_dict(dict(record.snapshot)), candidate, at)
        except UnknownEnvironmentError:
            impact.missing += 1
            continue
        impact.replayed += 1
        recorded = Outcome(str(d["verdict"]), d.get("mode") == SHADOW)
        now = Outcome(again.verdict.value, again.shadow)
        # A proceed tells the pipeline the same in either mode; anything else changes with it.
        if recorded != now and not recorded.verdict == now.verdict == "proceed":
            where = f"{target.cluster}/{target.namespace}/{target.workload}"
            why = tuple(_why(d, again, recorded, now))
            impact.changes.append(Change(record.decision_id, at, where, recorded, now, why))
    return Impact(candidate.digest, since, until, envs)


def _window(
    records: Iterable[AuditRecord], since: datetime, until: datetime
) -> Iterator[tuple[AuditRecord, datetime]]:
    """Deploy requests in the window (not the watcher's re-decisions after a deploy)."""
    for record in records:
        at = parse_time(str(record.decision["at"]))
        if since <= at <= until and record.caller.get("method") != WATCH_METHOD:
            yield record, at


def _strict(reasons: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Code → verdict of the reasons that count and ask for more than proceed."""
    out: dict[str, str] = {}
    for r in reasons:
        if not r.get("waived_by") and r["verdict"] != "proceed":
            out.setdefault(str(r["code"]), str(r["verdict"]))
    return out


def _why(
    recorded: Mapping[str, Any], again: Decision, before: Outcome, after: Outcome
) -> Iterator[str]:
    if before.shadow != after.shadow:
        yield "enforced (was shadow mode)" if before.shadow else "shadow mode (was enforced)"
    old = _strict(recorded.get("reasons", ()))
    new = _strict(r.to_dict() for r in again.reasons)
    thresholds = recorded.get("thresholds", {})
    if (thresholds.get("approve"), thresholds.get("block")) != (
        again.threshold_approve,
        again.threshold_block,
    ):
        yield (
            f"thresholds approve/block {thresholds.get('approve'):g}/{thresholds.get('block'):g}"
            f" -> {again.threshold_approve:g}/{again.threshold_block:g}"
        )
    if float(recorded.get("score", 0.0)) != again.score:
        yield f"score {float(recorded.get('score', 0.0)):g} -> {again.score:g}"
    for code in sorted(set(old) | set(new)):
        if old.get(code) != new.get(code):
            yield f"{code}: {old.get(code, 'none')} -> {new.get(code, 'none')}"


def render_text(impact: Impact) -> str:
    lines = [
        f"Candidate {impact.candidate} over {format_time(impact.since)} .. "
        f"{format_time(impact.until)}: {impact.newly_blocks} decision(s) would newly block"
    ]
    if not impact.environments:
        lines.append("  no recorded decisions in this window")
    for name, env in sorted(impact.environments.items()):
        missing = f", {env.missing} not in the candidate" if env.missing else ""
        lines.append(f"{name}: {env.replayed} replayed, {len(env.changes)} would change{missing}")
        for c in env.changes:
            mark = "NEWLY BLOCKS " if c.newly_blocks else ""
            lines.append(
                f"  {mark}{c.target} {c.recorded} -> {c.candidate} [{c.decision_id}, "
                f"{format_time(c.at)}]"
            )
            lines += [f"      {why}" for why in c.why]
    return "\n".join(lines) + "\n"


def render_markdown(impact: Impact) -> str:
    """The GitHub job summary: one table per environment with changes."""
    icon = ":no_entry:" if impact.newly_blocks else ":white_check_mark:"
    out = [
        f"## {icon} Policy impact: {impact.newly_blocks} decision(s) would newly block",
        "",
        f"Candidate `{impact.candidate}` replayed over the decisions recorded "
        f"{format_time(impact.since)} .. {format_time(impact.until)}.",
    ]
    for name, env in sorted(impact.environments.items()):
        out += ["", f"### {name}: {env.replayed} replayed, {len(env.changes)} would change", ""]
        if not env.changes:
            continue
        out += ["| target | recorded | candidate | why | decision |", "|---|---|---|---|---|"]
        for c in env.changes:
            verdict = f"**{c.candidate}**" if c.newly_blocks else str(c.candidate)
            why = "; ".join(c.why).replace("|", "\\|")
            out.append(f"| `{c.target}` | {c.recorded} | {verdict} | {why} | `{c.decision_id}` |")
    return "\n".join(out) + "\n"
