"""What an exception granted at run time (``POST /v1/exceptions``, ``clearance exceptions
create``) may waive, checked against the policy before it is stored.

An exception names one finding on one target for a while, so:

* exactly one of ``signal`` (a uid) or ``rule``;
* no wildcard (``*``, ``?``, ``[``, ``]``) in the target or the signal: the engine matches them
  literally, and a scope that reads as "every cluster" must never be stored as if it were one;
* ``environment`` is one of the policy's;
* ``rule`` is a rule of the policy that applies in that environment — never a failure stance
  (``stance:source_down``): stances are never waived;
* ``expires`` lies in the future and no further than the environment's
  ``exceptions.max_lifetime`` (default 30 days) from now.

Every problem is reported at once, each naming its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from clearance.model.signal import format_time, utc
from clearance.policy.compiled import Policy
from clearance.policy.schema import duration_seconds

WILDCARDS = frozenset("*?[]")


@dataclass(frozen=True, slots=True)
class ExceptionScope:
    environment: str
    cluster: str
    namespace: str
    workload: str
    signal: str | None
    rule: str | None
    expires: datetime


def problems(scope: ExceptionScope, policy: Policy, now: datetime) -> list[tuple[str, str]]:
    """``(field, problem)`` for each way ``scope`` breaks the rules above; empty when it holds."""
    found: list[tuple[str, str]] = []
    if (scope.signal is None) == (scope.rule is None):
        found.append(("signal", "exactly one of signal or rule is required"))
    for name in ("environment", "cluster", "namespace", "workload", "signal"):
        value = getattr(scope, name)
        if value is not None and WILDCARDS & set(value):
            found.append(
                (name, f"{value!r} holds a wildcard; an exception names one {name}, literally")
            )
    environments = policy.document.environments
    if scope.environment not in environments:
        known = ", ".join(sorted(environments))
        found.append(
            ("environment", f"{scope.environment!r} is not in the policy (known: {known})")
        )
    if scope.rule is not None:
        found += _rule(scope.rule, scope.environment, policy)
    found += _expiry(scope, policy, now)
    return found


def _rule(rule: str, environment: str, policy: Policy) -> list[tuple[str, str]]:
    named = {r.rule.name: r.rule for r in policy.rules}
    if rule not in named:
        if rule.startswith("stance:") or rule in _STANCES:
            return [("rule", f"{rule!r} is a failure stance; failure stances are never waived")]
        known = ", ".join(sorted(named)) or "none"
        hint = " (without the 'rule:' of a reason's code)" if rule.startswith("rule:") else ""
        return [("rule", f"{rule!r} is not a rule of the policy{hint}; its rules: {known}")]
    applies = named[rule].environments
    if applies is not None and environment not in applies:
        return [("rule", f"rule {rule!r} does not apply in {environment!r} (only {applies})")]
    return []


def _expiry(scope: ExceptionScope, policy: Policy, now: datetime) -> list[tuple[str, str]]:
    try:
        expires = utc(scope.expires)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past the last representable time
        return [("expires", "is beyond the last time this service can represent")]
    if expires <= now:
        return [("expires", "must be in the future: the exception would already have expired")]
    env = policy.document.environments.get(scope.environment)
    if env is None:
        return []
    limit = env.exceptions.max_lifetime
    latest = now + timedelta(seconds=duration_seconds(limit))
    if expires > latest:
        return [
            (
                "expires",
                f"{format_time(expires)} is more than {limit} away; {scope.environment} allows "
                f"exceptions until {format_time(latest)} at the latest (policy: "
                f"environments.{scope.environment}.exceptions.max_lifetime)",
            )
        ]
    return []


_STANCES = frozenset({"source_down", "stale", "unknown_target", "no_sources"})
