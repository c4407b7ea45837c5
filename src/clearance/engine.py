"""The pure decision: ``decide(target, snapshot, policy, now) -> Decision``.

Everything the decision reads is in its arguments: no clock, no I/O. So a decision recorded with
its snapshot can be replayed byte for byte, and a new policy can be tried on old snapshots.

Order of work, each step adding reasons:

1. add the findings of the reports the request brought (failed tests, code scanning results:
   :mod:`clearance.model.reports`), any drift (:mod:`clearance.model.drift`) and failed
   post-deploy checks (:mod:`clearance.model.checks`) as signals on the workload; drop
   inactive signals (resolved, vendor-suppressed), those a VEX statement waives for their image, and
   policy-suppressed ones (noise); tell what the deploy does to each image finding
   (introduced, unchanged, fixed: :mod:`clearance.change`);
2. score the rest, except those waived by an exception for this target;
3. run the policy's CEL rules (per signal, then per decision);
4. add the reason of each freeze window holding now for this target;
5. apply failure stances: sources down or stale, target not correlated, no sources at all, a
   report the environment requires missing, a host no required agent watches;
6. the strictest verdict among reasons that no exception waived wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any

from clearance.change import Change, changes, summary
from clearance.correlate import CACHE_SIZE, footprint
from clearance.errors import RuleEvaluationError, TargetError
from clearance.model.canonical import canonical_json
from clearance.model.coverage import Managed, exposed_hosts
from clearance.model.cvss import cvss_view
from clearance.model.decision import (
    SHADOW,
    Contribution,
    Decision,
    Freshness,
    KindTotal,
    Reason,
    SourceFreshness,
    Verdict,
)
from clearance.model.exemptions import Exemption
from clearance.model.reports import ReportFormat
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, format_time, utc
from clearance.model.snapshot import Match, Snapshot
from clearance.model.target import (
    ExposedAsset,
    Proximity,
    SourceHealth,
    Target,
    UnresolvedReason,
)
from clearance.policy.compiled import Policy
from clearance.policy.freezes import active, covers, describe
from clearance.policy.freshness import assess, describe_age
from clearance.policy.rules import ELEMENT_EXTRAS, MAX_RULE_SIGNALS, SIGNAL_FIELDS, CompiledRule
from clearance.policy.schema import Environment, Stance, duration_seconds
from clearance.scoring import age_seconds, capped_risk, contribute_all, risk

INVENTORY_PREFIX = "inventory:"


def decide(target: Target, snapshot: Snapshot, policy: Policy, now: datetime) -> Decision:
    """Decide whether ``target`` may be deployed now. Pure and deterministic."""
    if snapshot.target is not target and snapshot.target != target:  # == is a Python call
        raise TargetError("the snapshot was gathered for a different target")
    now = utc(now)
    env = policy.environment(target.environment)
    exemptions = _live_exemptions(policy, snapshot, target, now)

    reported, reported_changes = _report_matches(snapshot, now)
    if snapshot.drift is not None:  # a change that never went through the gate
        signal = snapshot.drift.signal(target, now)
        where = ExposedAsset(Proximity.DIRECT, signal.assets[0], "drift")
        reported.append(Match(signal, Proximity.DIRECT, where))
    for check in snapshot.checks:  # failed smoke tests of this release or of the running one
        for signal in check.signals(target):
            via = f"post-deploy check {check.check.report.name} ({check.check.id})"
            where = ExposedAsset(Proximity.DIRECT, signal.assets[0], via)
            reported.append(Match(signal, Proximity.DIRECT, where))
    active, suppressed = _screen((*snapshot.matches, *reported), policy, now)
    waived: dict[str, Exemption] = {
        m.signal.uid: e
        for m in (active if exemptions else ())
        if (e := _exemption_for_signal(m.signal, exemptions))
    }

    found = changes(snapshot, active)
    # What the change does, for image findings (by CVE) and code scanning results (baseline):
    # both weigh and rule alike; only the image findings are summed up in the "change" reason.
    changed = {**found, **reported_changes}
    # A kind the policy gives no half-life (health, in a policy written before it) is not
    # scored; its signals still reach rules and stances.
    weighed = policy.weights.half_life
    counted = [m for m in active if m.signal.uid not in waived and m.signal.kind in weighed]
    scored = contribute_all(
        counted, policy.weights, now, {uid: c.value for uid, c in changed.items()}
    )
    kinds: tuple[KindTotal, ...] = ()
    if policy.weights.by_kind:
        score, kinds = capped_risk(
            ((m.signal.kind, value) for m, (value, _) in zip(counted, scored, strict=True)),
            policy.weights.caps,
        )
    else:  # the plain union, exactly as decisions made under such a policy always were
        score = risk([value for value, _ in scored])
    # Largest first, then by uid. ``scored`` follows ``active``, which _screen sorted by uid, and
    # a reverse sort keeps equal values in their order (Python's sort is stable, reverse=True
    # included): the order the key (-value, uid) gives, by a key function in C.
    contributors = tuple([record for _, record in sorted(scored, key=_VALUE, reverse=True)])
    approve_at = env.thresholds.approve / env.sensitivity
    block_at = env.thresholds.block / env.sensitivity
    band = (
        Verdict.BLOCK
        if score >= block_at
        else Verdict.APPROVE
        if score >= approve_at
        else Verdict.PROCEED
    )

    reasons = [_score_reason(score, band, approve_at, block_at, env, target, contributors)]
    reasons += [
        Reason(
            code=f"exception:{e.id}",
            verdict=Verdict.PROCEED,
            message=f"{uid} is excepted for {target.key} by exception {e.id} "
            f"(ticket {e.ticket}, approved by {e.approver}, until {format_time(e.expires)}): "
            "it does not count toward the score.",
            signal=uid,
        )
        for uid, e in sorted(waived.items())
    ]
    told = summary(found, {m.signal.uid: m.signal for m in active}) if found else None
    if told is not None:
        reasons.append(Reason(code="change", verdict=Verdict.PROCEED, message=told))
    if snapshot.reports:
        read = "; ".join(r.summary() for r in snapshot.reports)
        reasons.append(
            Reason(code="evidence", verdict=Verdict.PROCEED, message=f"Reports read: {read}.")
        )
    reasons += _rule_reasons(
        policy,
        env,
        target,
        active,
        waived,
        exemptions,
        score,
        scored,
        snapshot,
        now,
        changed,
    )
    reasons += _freeze_reasons(policy, target, now)
    freshness = tuple(assess(h, env, now) for h in sorted(snapshot.sources, key=lambda h: h.name))
    stance_reasons, degraded = _stance_reasons(env, snapshot, freshness, now)
    if env.stances.unhealthy_target is not None:
        health = counted_health(active, waived)
        stance_reasons += _unhealthy_reasons(env, policy, target, health, now)
    reasons += stance_reasons

    reasons.sort(key=lambda r: (-r.verdict.rank, r.waived_by is not None, r.code, r.signal or ""))
    verdict = Verdict.strictest([r.verdict for r in reasons if r.waived_by is None])
    inputs_digest = digest_inputs(target, snapshot, now)
    decision_id = (
        "dec_" + hashlib.sha256(f"{policy.digest}|{inputs_digest}".encode()).hexdigest()[:24]
    )
    return Decision(
        id=decision_id,
        at=now,
        target=target,
        verdict=verdict,
        score=score,
        band=band,
        threshold_approve=round(approve_at, 2),
        threshold_block=round(block_at, 2),
        reasons=tuple(reasons),
        contributors=contributors,
        suppressed=tuple(suppressed),
        waived=tuple((uid, e.id) for uid, e in sorted(waived.items())),
        sources=freshness,
        exposure_summary=dict(footprint(snapshot.exposure).by_proximity),
        approvals_required=env.approvals.required if verdict is Verdict.APPROVE else 0,
        approval_group=env.approvals.group if verdict is Verdict.APPROVE else None,
        degraded=tuple(sorted(degraded)),
        notes=snapshot.exposure.notes,
        policy_digest=policy.digest,
        inputs_digest=inputs_digest,
        kinds=kinds,
        mode=SHADOW if env.mode == "shadow" else None,
    )


def _change_of(changed: Mapping[str, Change], uid: str) -> str:
    change = changed.get(uid)
    return "" if change is None else change.value


def _report_matches(snapshot: Snapshot, now: datetime) -> tuple[list[Match], dict[str, Change]]:
    """The findings of the request's reports as matches on the workload itself, and what the
    change does to each code scanning result whose report says (SARIF ``baselineState``)."""
    matches: list[Match] = []
    found: dict[str, Change] = {}
    for report in snapshot.reports:
        for finding, signal in zip(
            report.findings, report.signals(snapshot.target, now), strict=True
        ):
            via = f"{report.format.value} report {report.name}"
            matches.append(
                Match(
                    signal, Proximity.DIRECT, ExposedAsset(Proximity.DIRECT, signal.assets[0], via)
                )
            )
            if finding.change:
                found[signal.uid] = Change(finding.change)
    return matches, found


def _live_exemptions(
    policy: Policy, snapshot: Snapshot, target: Target, now: datetime
) -> tuple[Exemption, ...]:
    every = sorted((*policy.exemptions, *snapshot.exemptions), key=lambda e: e.id)
    return tuple(e for e in every if e.active(now) and e.covers_target(target))


def _screen(
    matches: Iterable[Match], policy: Policy, now: datetime
) -> tuple[list[Match], list[tuple[str, str]]]:
    """Split matches into those that count and those suppressed (with who suppressed them)."""
    active: list[Match] = []
    suppressed: list[tuple[str, str]] = []
    any_suppressions = bool(policy.document.suppressions)
    for m in sorted(matches, key=_BY_UID):
        signal = m.signal
        if signal.status not in _ACTIVE:  # SignalStatus.active, without the property's call
            if signal.status == "suppressed":
                suppressed.append((signal.uid, f"{signal.source} (vendor status)"))
            continue
        if signal.vex is not None:  # the image's own maker says it does not apply here
            suppressed.append((signal.uid, f"VEX: {signal.vex}"))
            continue
        if any_suppressions and (rule := policy.suppression_for(signal, now)) is not None:
            suppressed.append((signal.uid, rule.name))
            continue
        active.append(m)
    return active, suppressed


_BY_UID = attrgetter("signal.uid")
_ACTIVE = frozenset(s for s in SignalStatus if s.active)
_VALUE = itemgetter(0)


def _exemption_for_signal(signal: Signal, exemptions: tuple[Exemption, ...]) -> Exemption | None:
    for e in exemptions:
        if e.signal == signal.uid or (e.rule is not None and e.rule == signal.rule):
            return e
    return None


def _score_reason(
    score: float,
    band: Verdict,
    approve_at: float,
    block_at: float,
    env: Environment,
    target: Target,
    contributors: tuple[Contribution, ...],
) -> Reason:
    scaled = f" (threshold ÷ sensitivity {env.sensitivity:g})" if env.sensitivity != 1 else ""
    where = f"for {target.environment}{scaled}"
    top = ""
    if contributors:
        c = contributors[0]
        top = f"; top contributor: {c.title} ({c.signal}, {c.proximity}, {c.contribution:.3f})"
    match band:
        case Verdict.BLOCK:
            text = f"Risk score {score:g} is at or above the block threshold {block_at:g} {where}"
        case Verdict.APPROVE:
            text = (
                f"Risk score {score:g} is at or above the approval threshold {approve_at:g} {where}"
            )
        case Verdict.PROCEED:
            text = f"Risk score {score:g} is below the approval threshold {approve_at:g} {where}"
    return Reason(code="score", verdict=band, message=text + top + ".")


# The `signal` map rules see (docs/policy.md), one getter per field so that a decision builds
# only the fields its rules read.
_SIGNAL_VIEW: dict[str, Callable[[Signal, datetime], Any]] = {
    "uid": lambda s, now: s.uid,
    "source": lambda s, now: s.source,
    # Enum values by ``_value_``: the ``value`` property costs ~0.2 µs, per signal and field.
    "kind": lambda s, now: s.kind._value_,
    "title": lambda s, now: s.title,
    "rule": lambda s, now: s.rule or "",
    "severity": lambda s, now: int(s.severity),
    "severity_label": lambda s, now: s.severity.label,
    "confidence": lambda s, now: s.confidence,
    "status": lambda s, now: s.status._value_,
    "age_seconds": lambda s, now: age_seconds(s.last_seen, now),
    "age": lambda s, now: timedelta(seconds=age_seconds(s.last_seen, now)),
    "first_seen": lambda s, now: s.first_seen,
    "last_seen": lambda s, now: s.last_seen,
    "tracked": lambda s, now: s.tracked,
    # Unknown exploitability reads as -1 / false / empty, so a comparison never errors (an
    # error would fail closed and fire the rule on every finding a scanner could not score).
    "epss": lambda s, now: -1.0 if s.epss is None else s.epss,
    "epss_percentile": lambda s, now: -1.0 if s.epss_percentile is None else s.epss_percentile,
    "fix_available": lambda s, now: bool(s.fix_available),
    "cvss": lambda s, now: cvss_view(s.cvss_vector),
    "change": lambda s, now: "",  # what the deploy does to it: filled in per decision
    "count": lambda s, now: s.count,
    "techniques": lambda s, now: list(s.techniques),
    "assets": lambda s, now: [str(a) for a in s.assets],
}
assert set(_SIGNAL_VIEW) == SIGNAL_FIELDS


def _rule_reasons(
    policy: Policy,
    env: Environment,
    target: Target,
    active: list[Match],
    waived: dict[str, Exemption],
    exemptions: tuple[Exemption, ...],
    score: float,
    scored: list[tuple[float, Contribution]],
    snapshot: Snapshot,
    now: datetime,
    found: Mapping[str, Change],
) -> list[Reason]:
    rules = [
        r
        for r in policy.rules
        if r.rule.environments is None or target.environment in r.rule.environments
    ]
    if not rules:
        return []
    # Built only when a rule reads it (CEL and plain rules alike name it among their variables).
    target_view: dict[str, Any] = {}
    if any("target" in r.variables for r in rules):
        target_view = target.to_dict()
        target_view.pop("change", None)
    environment = target.environment
    reasons: list[Reason] = []
    signal_rules = [r for r in rules if r.rule.scope == "signal"]
    views: list[dict[str, Any]] = []
    decision_rules = [r for r in rules if r.rule.scope == "decision"]
    reading = [r for r in decision_rules if "signals" in r.variables]
    want_views = bool(reading)
    contributions = {record.signal: value for value, record in scored} if want_views else {}
    if all(r.direct is not None for r in signal_rules):
        # Every signal rule is plain: each reads the signal itself (policy/plain.py's
        # signal_rule), so no view or variables are built for them (views only for decision
        # rules reading `signals`, below). Same rules, same order, same reasons as the loop.
        reasons += _direct_reasons(
            signal_rules, active, waived, exemptions, now, found, target_view, environment
        )
        signal_rules = []
    # Build only the fields the rules read (each costs a getter, and CEL a conversion); all of
    # them when some rule may read any.
    fields: Iterable[str] = _SIGNAL_VIEW
    if all(r.signal_fields is not None for r in signal_rules) and all(
        r.element_fields is not None for r in reading
    ):
        read = {f for r in signal_rules for f in r.signal_fields or ()}
        read |= {f for r in reading for f in r.element_fields or ()}
        fields = sorted(read - ELEMENT_EXTRAS)
    getters = [(f, _SIGNAL_VIEW[f]) for f in fields]
    with_change = "change" in fields
    for m in active if signal_rules or want_views else ():
        signal = m.signal
        view = {f: get(signal, now) for f, get in getters}
        if with_change:
            view["change"] = _change_of(found, signal.uid)
        proximity = m.proximity.label
        variables: dict[str, Any] = {
            "signal": view,
            "proximity": proximity,
            "target": target_view,
            "environment": environment,
            "now": now,
        }
        for rule in signal_rules:
            if rule.plain is not None:  # inline: this runs for every signal and rule
                fired = _fired(rule, signal.uid, signal.title) if rule.plain(variables) else None
            else:
                fired = _run(rule, variables, signal.uid, signal.title)
            if fired is not None:
                exemption = waived.get(signal.uid) or _exemption_for_rule(rule, exemptions)
                reasons.append(_waive(fired, exemption))
        if want_views:
            contribution = contributions.get(signal.uid, 0.0)
            views.append({**view, "proximity": proximity, "contribution": contribution})
    if decision_rules:
        variables = {
            "score": score,
            "signals": views,
            "sources": (
                _sources_view(snapshot, env, now)
                if any("sources" in r.variables for r in decision_rules)
                else {}
            ),
            "target": target_view,
            "environment": target.environment,
            "now": now,
        }
        for rule in decision_rules:
            reason: Reason | None
            if "signals" in rule.variables and len(views) > MAX_RULE_SIGNALS:
                reason = _over_cap(rule, len(views))
            else:
                reason = _run(rule, variables, None, None)
            if reason is not None:
                reasons.append(_waive(reason, _exemption_for_rule(rule, exemptions)))
    return reasons


def _direct_reasons(
    rules: list[CompiledRule],
    active: list[Match],
    waived: dict[str, Exemption],
    exemptions: tuple[Exemption, ...],
    now: datetime,
    found: Mapping[str, Change],
    target_view: dict[str, Any],
    environment: str,
) -> list[Reason]:
    """The reasons of signal rules that are all plain, each reading the signal itself."""
    reasons: list[Reason] = []
    direct = [(r, r.direct) for r in rules if r.direct is not None]
    for m in active if direct else ():
        signal = m.signal
        uid = signal.uid
        proximity = _LABELS[m.proximity]  # the property is a Python call
        change = _change_of(found, uid) if found else ""
        for rule, holds in direct:
            if holds(signal, proximity, now, change, target_view, environment):
                exemption = waived.get(uid) or _exemption_for_rule(rule, exemptions)
                reasons.append(_waive(_fired(rule, uid, signal.title), exemption))
    return reasons


def _run(
    rule: CompiledRule, variables: dict[str, Any], uid: str | None, title: str | None
) -> Reason | None:
    if rule.plain is not None:  # no CEL call (policy/plain.py): nothing to convert or filter
        if not rule.plain(variables):
            return None
        return _fired(rule, uid, title)
    about = f" — {title} ({uid})" if uid is not None else ""
    # CEL: pass only what the expression reads, each value converted has a cost.
    used = {name: variables[name] for name in rule.variables if name in variables}
    if rule.signal_fields is not None and "signal" in used:
        used["signal"] = {f: used["signal"][f] for f in rule.signal_fields}
    try:
        fired = rule.fires(used)
    except RuleEvaluationError as exc:
        # Fail closed: a rule that cannot be evaluated counts as firing, and says so.
        return Reason(
            code=f"rule:{rule.rule.name}",
            verdict=rule.rule.verdict,
            message=f"Rule {rule.rule.name!r} could not be evaluated ({exc}); "
            f"treated as firing{about}.",
            signal=uid,
        )
    if not fired:
        return None
    return _fired(rule, uid, title)


def _fired(rule: CompiledRule, uid: str | None, title: str | None) -> Reason:
    about = f" — {title} ({uid})" if uid is not None else ""
    return Reason(
        code=f"rule:{rule.rule.name}",
        verdict=rule.rule.verdict,
        message=f"{rule.rule.message}{about}.",
        signal=uid,
    )


def _over_cap(rule: CompiledRule, count: int) -> Reason:
    """A decision-scope rule not run because it would read more signals than its cost bound
    allows (policy/rules.py): it counts as firing, fail closed, and says why."""
    return Reason(
        code=f"rule:{rule.rule.name}",
        verdict=rule.rule.verdict,
        message=f"Rule {rule.rule.name!r} was not evaluated: the target has {count} active "
        f"signals, over the {MAX_RULE_SIGNALS} a decision-scope rule may read; treated as firing.",
    )


def _exemption_for_rule(rule: CompiledRule, exemptions: tuple[Exemption, ...]) -> Exemption | None:
    return next((e for e in exemptions if e.rule == rule.rule.name), None)


def _waive(reason: Reason, exemption: Exemption | None) -> Reason:
    if exemption is None or reason.verdict is Verdict.PROCEED:
        return reason
    return Reason(
        code=reason.code,
        verdict=reason.verdict,
        message=f"{reason.message} Waived by exception {exemption.id} "
        f"(ticket {exemption.ticket}, approved by {exemption.approver}, "
        f"until {format_time(exemption.expires)}).",
        signal=reason.signal,
        waived_by=exemption.id,
    )


def _sources_view(snapshot: Snapshot, env: Environment, now: datetime) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for health in snapshot.sources:
        f = assess(health, env, now)
        view[health.name] = {
            "state": f.state.value,
            "age_seconds": -1 if f.age_seconds is None else f.age_seconds,
        }
    return view


def _not_covered(env: Environment, snapshot: Snapshot, now: datetime) -> list[str]:
    """One sentence per host the target touches and coverage it lacks: no agent of that kind in
    any inventory, or every such agent inactive or silent past ``coverage.max_silence``."""
    if not env.coverage.required:
        return []
    limit = duration_seconds(env.coverage.max_silence)
    agents = {c.host: c.agents for c in snapshot.coverage}
    found = []
    for host in exposed_hosts(snapshot.exposure):
        for kind in env.coverage.required:
            of_kind = sorted(
                (a for a in agents.get(host, ()) if a.kind == kind),
                key=lambda a: (a.source, a.device),
            )
            if any(
                a.active and a.last_seen is not None and age_seconds(a.last_seen, now) <= limit
                for a in of_kind
            ):
                continue
            if not of_kind:
                found.append(f"Host {host.value} has no {kind} agent in any inventory")
                continue
            states = "; ".join(_agent_state(a, now) for a in of_kind)
            found.append(
                f"Host {host.value} has no working {kind} agent ({states}; "
                f"{snapshot.target.environment} allows at most {describe_age(limit)} of silence)"
            )
    return found


def _agent_state(agent: Managed, now: datetime) -> str:
    seen = (
        "never checked in"
        if agent.last_seen is None
        else f"last seen {describe_age(age_seconds(agent.last_seen, now))} ago"
    )
    return f"{agent.source} {seen}" + ("" if agent.active else ", inactive")


def _freeze_reasons(policy: Policy, target: Target, now: datetime) -> list[Reason]:
    """A freeze window holding now, for this target: its own reason and verdict. Never waived
    by an exception (a freeze is about when, not about a finding; break-glass is the way out)."""
    reasons: list[Reason] = []
    for freeze in policy.document.freezes:
        if not covers(freeze, target):
            continue
        window = active(freeze, now)
        if window is not None:
            reasons.append(
                Reason(
                    code=f"freeze:{freeze.name}",
                    verdict=Verdict(freeze.verdict),
                    message=f"{freeze.message} (freeze {freeze.name!r}: "
                    f"{describe(window, freeze.timezone)}).",
                )
            )
    return reasons


def _stance_reasons(
    env: Environment, snapshot: Snapshot, freshness: tuple[SourceFreshness, ...], now: datetime
) -> tuple[list[Reason], set[str]]:
    reasons: list[Reason] = []
    fired: set[str] = set()

    def stance(cls: str, chosen: Stance, text: str) -> None:
        fired.add(cls)
        consequence = {
            Stance.BLOCK: "blocks",
            Stance.APPROVE: "requires approval",
            Stance.PROCEED_WITH_WARNING: "proceeds with this warning",
        }[chosen]
        reasons.append(
            Reason(
                code=f"stance:{cls}",
                verdict=chosen.verdict,
                message=f"{text}; the {snapshot.target.environment} stance for {cls} "
                f"{consequence}.",
            )
        )

    for f in freshness:
        label = f"Source {f.name!r}"
        if f.state is Freshness.DOWN:
            why = f": {f.last_error}" if f.last_error else ""
            age = (
                "never succeeded"
                if f.age_seconds is None
                else f"last succeeded {describe_age(f.age_seconds)} ago"
            )
            stance("source_down", env.stances.source_down, f"{label} is down ({age}{why})")
        elif f.state is Freshness.STALE:
            assert f.age_seconds is not None
            stance(
                "stale",
                env.stances.stale,
                f"{label} data is {describe_age(f.age_seconds)} old; {snapshot.target.environment} "
                f"requires at most {describe_age(f.limit_seconds)}",
            )
    for text in _not_covered(env, snapshot, now):
        stance("not_covered", env.stances.not_covered or Stance.BLOCK, text)
    brought = {r.format.value for r in snapshot.reports}
    for wanted in env.evidence.required:
        if wanted not in brought and env.stances.missing_evidence is not None:
            stance(
                "missing_evidence",
                env.stances.missing_evidence,
                f"No {wanted} report came with this deploy ({ReportFormat(wanted).what}); "
                f"{snapshot.target.environment} requires one",
            )
    if not any(not h.name.startswith(INVENTORY_PREFIX) for h in snapshot.sources):
        stance("no_sources", env.stances.no_sources, "No signal source is configured")
    exposure = snapshot.exposure
    for why, detail in exposure.unresolved:
        stance(
            "unknown_target",
            env.stances.unknown_target,
            f"Cannot correlate {exposure.target.key} ({why.value.replace('_', ' ')}: {detail})",
        )
    if not exposure.assets and not exposure.unresolved:
        stance(
            "unknown_target",
            env.stances.unknown_target,
            f"Inventory {exposure.inventory!r} resolved {exposure.target.key} to no assets",
        )
    return reasons, fired


# Health signals the unhealthy_target stance acts on: medium severity or worse (an evicted pod
# or a rollout under way only scores), and current: seen within one health half-life (a
# state, such as a crash loop, is seen at the decision's ``now``; an event, such as a restart,
# when it happened).
_UNHEALTHY_FROM = Severity.MEDIUM
_UNHEALTHY_LISTED = 5


def counted_health(active: list[Match], waived: Mapping[str, Exemption]) -> list[Match]:
    return [
        m
        for m in active
        if m.signal.kind is SignalKind.HEALTH
        and m.signal.uid not in waived
        and m.signal.severity >= _UNHEALTHY_FROM
    ]


def _unhealthy_reasons(
    env: Environment, policy: Policy, target: Target, health: list[Match], now: datetime
) -> list[Reason]:
    """The ``unhealthy_target`` stance, naming what is unwell (with its link) when it fires."""
    chosen = env.stances.unhealthy_target
    if chosen is None:
        return []
    within = policy.weights.half_life.get(SignalKind.HEALTH, 0)
    current = [m for m in health if age_seconds(m.signal.last_seen, now) <= within]
    if not current:
        return []
    current.sort(key=lambda m: (-m.signal.severity, m.signal.uid))
    named = [
        m.signal.title + (f" <{m.signal.url}>" if m.signal.url else "")
        for m in current[:_UNHEALTHY_LISTED]
    ]
    more = len(current) - len(named)
    listed = "; ".join(named) + (f"; and {more} more" if more else "")
    consequence = {
        Stance.BLOCK: "blocks",
        Stance.APPROVE: "requires approval",
        Stance.PROCEED_WITH_WARNING: "proceeds with this warning",
    }[chosen]
    return [
        Reason(
            code="stance:unhealthy_target",
            verdict=chosen.verdict,
            message=f"{target.key} is unhealthy: {listed}; the {target.environment} stance for "
            f"unhealthy_target {consequence}.",
            signal=current[0].signal.uid if len(current) == 1 else None,
        )
    ]


def digest_inputs(target: Target, snapshot: Snapshot, now: datetime) -> str:
    """sha256 over everything a decision read, in a fixed order.

    Bulky parts (exposed assets, signals) are digested line by line rather than as one canonical
    JSON document: the same determinism at a fraction of the cost on the decision path. The small
    parts are canonical JSON (RFC 8785).
    """
    h = hashlib.sha256()
    # canonical_json({"target": target.to_dict(), "now": format_time(now)}): its two members in
    # key order, the target's bytes kept per target content (canonical_members's splice).
    h.update(
        b'{"now":' + canonical_json(format_time(now)) + b',"target":' + _target_json(target) + b"}"
    )
    exposure = snapshot.exposure
    h.update(_exposure_json(exposure.inventory, exposure.unresolved, exposure.notes))
    # The assets' lines ("proximity|kind|value|via", sorted), computed once per exposure content.
    h.update(footprint(exposure).digest_lines)
    h.update(b"\x00")
    # One line per match, "uid|content digest|proximity|matched asset": str(ref) and the label
    # spelt out (each a Python call), the signal's digest kept on the signal.
    lines = []
    for m in snapshot.matches:
        signal, ref = m.signal, m.matched.ref
        lines.append(
            f"{signal.uid}|{signal.content_digest()}|{_LABELS[m.proximity]}|"
            + ref.kind
            + ":"
            + ref.value
        )
    lines.sort()
    h.update("\n".join(lines).encode())
    h.update(b"\x00")
    h.update(_sources_json(snapshot.sources))
    h.update(
        canonical_json([e.to_dict() for e in sorted(snapshot.exemptions, key=lambda e: e.id)])
        if snapshot.exemptions
        else b"[]"
    )
    if snapshot.deploying:  # only then: inputs recorded before it existed digest as they did
        h.update(canonical_json(sorted(str(a) for a in snapshot.deploying)))
    if snapshot.reports:  # likewise
        h.update(canonical_json([r.to_dict() for r in snapshot.reports]))
    if snapshot.coverage:  # likewise
        h.update(canonical_json([c.to_dict() for c in snapshot.coverage]))
    if snapshot.drift is not None:  # likewise
        h.update(canonical_json(snapshot.drift.to_dict()))
    if snapshot.checks:  # likewise
        h.update(canonical_json([c.to_dict() for c in snapshot.checks]))
    if snapshot.template is not None or snapshot.deploying_template is not None:  # likewise
        h.update(canonical_json(snapshot.pod_spec()))
    return "sha256:" + h.hexdigest()


# The digest's small parts that depend on one value each, kept per content (keys are frozen
# values compared by content: an equal target, exposure header or set of source states is the
# same bytes). Bounded as the footprint cache is.
_LABELS = {p: p.label for p in Proximity}


@lru_cache(maxsize=CACHE_SIZE)
def _target_json(target: Target) -> bytes:
    return canonical_json(target.to_dict())


@lru_cache(maxsize=CACHE_SIZE)
def _exposure_json(
    inventory: str, unresolved: tuple[tuple[UnresolvedReason, str], ...], notes: tuple[str, ...]
) -> bytes:
    return canonical_json(
        {
            "inventory": inventory,
            "unresolved": [[r.value, d] for r, d in unresolved],
            "notes": list(notes),
        }
    )


@lru_cache(maxsize=CACHE_SIZE)
def _sources_json(sources: tuple[SourceHealth, ...]) -> bytes:
    return canonical_json([s.to_dict() for s in sorted(sources, key=lambda s: s.name)])
