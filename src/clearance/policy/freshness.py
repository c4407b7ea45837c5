"""How fresh each source's data is, for one environment at one moment.

fresh  data younger than the environment's limit for that source (a recent failed attempt
       is noted, but fresh data is still good evidence: blocking on it would be noise)
stale  data older than the limit, and the last attempt did not fail
down   never succeeded, or data older than the limit and the last attempt failed
"""

from __future__ import annotations

from datetime import datetime

from clearance.model.decision import Freshness, SourceFreshness
from clearance.model.target import SourceHealth
from clearance.policy.schema import Environment


def assess(health: SourceHealth, environment: Environment, now: datetime) -> SourceFreshness:
    limit = environment.freshness_limit(health.name)
    if health.last_success is None:
        return SourceFreshness(
            name=health.name,
            state=Freshness.DOWN,
            age_seconds=None,
            limit_seconds=limit,
            skipped=health.skipped,
            last_error=health.last_error or "no successful fetch yet",
        )
    age = max(0, int((now - health.last_success).total_seconds()))
    failed_since = health.last_error_at is not None and health.last_error_at > health.last_success
    if age <= limit:
        state = Freshness.FRESH
    elif failed_since:
        state = Freshness.DOWN
    else:
        state = Freshness.STALE
    return SourceFreshness(
        name=health.name,
        state=state,
        age_seconds=age,
        limit_seconds=limit,
        skipped=health.skipped,
        last_error=health.last_error if failed_since else None,
    )


def describe_age(seconds: int) -> str:
    """``90`` → ``1 min 30 s``: ages in reasons are read by people under pressure."""
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{hours // 24} d {hours % 24} h"
