"""Freeze windows and change calendars: when deploys to an environment (or some of its targets)
are blocked or need an approval, whatever the risk.

Windows are written in local time in the freeze's IANA ``timezone`` (``zoneinfo``), because a
change calendar is: "no deploys Friday 18:00 to Monday 06:00 in Berlin" stays 18:00 in Berlin
across a daylight-saving change. The decision's time (passed in, UTC) is converted to that local
time and compared on the wall clock, so a recurring window follows DST, and a one-off window's
local bounds are read in the offset in force on their own date.

Pure: no clock. ``active(freeze, now)`` answers for the ``now`` it is given.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from clearance.model.target import Target
from clearance.policy.schema import WEEKDAYS, Freeze, OneOff, Weekly
from clearance.policy.zones import zone


def covers(freeze: Freeze, target: Target) -> bool:
    """The freeze applies to ``target``: its environment, and one of its target patterns."""
    if target.environment not in freeze.environments:
        return False
    if freeze.targets is None:
        return True
    key = f"{target.cluster}/{target.namespace}/{target.workload}"
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in freeze.targets)


def active(freeze: Freeze, now: datetime) -> OneOff | Weekly | None:
    """The first of the freeze's windows that holds at ``now`` (aware), else None."""
    tz = zone(freeze.timezone)
    local = now.astimezone(tz)
    for once in freeze.once:
        if _local(once.start, tz) <= now < _local(once.end, tz):
            return once
    for weekly in freeze.weekly:
        if _in_weekly(weekly, local):
            return weekly
    return None


def describe(window: OneOff | Weekly, timezone: str) -> str:
    if isinstance(window, OneOff):
        return f"from {_wall(window.start)} to {_wall(window.end)} {timezone}"
    days = ",".join(window.days)
    return f"{days} {window.start}-{window.end} {timezone}"


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    """A bound written without an offset is local time in the freeze's zone."""
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def _wall(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M") + (
        "" if moment.tzinfo is None else moment.strftime("%z")
    )


def _clock(text: str) -> timedelta:
    hours, minutes = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def _in_weekly(weekly: Weekly, local: datetime) -> bool:
    """``start``-``end`` on each listed day, local wall clock; an ``end`` at or before ``start``
    runs past midnight into the next day (``fri 18:00-06:00`` holds until Saturday 06:00)."""
    start, end = _clock(weekly.start), _clock(weekly.end)
    of_day = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second)
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    if start < end:
        return today in weekly.days and start <= of_day < end
    return (today in weekly.days and of_day >= start) or (yesterday in weekly.days and of_day < end)
