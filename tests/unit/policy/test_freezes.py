"""Freeze windows: local wall-clock time in an IANA zone, across daylight-saving changes, per
environment and target, each with its own reason and verdict; refused at load when malformed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import POLICY_YAML, signal, target
from clearance.engine import decide
from clearance.errors import PolicyError
from clearance.model import Verdict
from clearance.policy.compiled import Policy
from clearance.policy.freezes import active
from clearance.policy.load import load_policy_text
from clearance.policy.schema import WEEKDAYS, Freeze
from clearance.policy.zones import zone
from clearance.validation import validate
from unit.test_engine import snap

FREEZES = """
freezes:
  - name: sunday-maintenance
    verdict: approve
    message: Sunday night maintenance window
    environments: [production]
    timezone: Europe/Berlin
    weekly: [{days: [sun], start: "01:00", end: "03:30"}]
  - name: year-end
    verdict: block
    message: Year-end change freeze
    environments: [production]
    targets: ["prod-eu/shop/deployment/api"]
    timezone: Europe/Berlin
    once: [{start: 2026-10-24T18:00, end: 2026-10-26T08:00}]
"""


def policy(extra: str = FREEZES) -> Policy:
    return load_policy_text(POLICY_YAML + extra, "policy.yaml")


def verdict_at(now: datetime, workload: str = "deployment/api", env: str = "production") -> str:
    tgt = target(env, workload)
    d = decide(tgt, snap(tgt, []), policy(), now)
    return ",".join(f"{r.code}={r.verdict.value}" for r in d.reasons if r.code != "score")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# 2026-03-29: Berlin moves from CET (UTC+1) to CEST (UTC+2) at 02:00 local.
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-03-28T23:59", ""),  # 00:59 CET: before the window
        ("2026-03-29T00:30", "freeze:sunday-maintenance=approve"),  # 01:30 CET
        ("2026-03-29T01:15", "freeze:sunday-maintenance=approve"),  # 03:15 CEST
        ("2026-03-29T01:45", ""),  # 03:45 CEST: over (a fixed +1 offset would say 02:45, inside)
        ("2026-03-22T02:15", "freeze:sunday-maintenance=approve"),  # a week before: 03:15 CET
        ("2026-03-22T02:45", ""),  # 03:45 CET
    ],
)
def test_a_weekly_window_follows_the_wall_clock_across_the_spring_change(
    moment: str, expected: str
) -> None:
    assert verdict_at(utc(moment)) == expected


# 2026-10-25: Berlin moves back from CEST (UTC+2) to CET (UTC+1) at 03:00 local.
@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2026-10-24T15:59", False),  # 17:59 CEST
        ("2026-10-24T16:00", True),  # 18:00 CEST: starts
        ("2026-10-26T06:59", True),  # 07:59 CET
        ("2026-10-26T07:00", False),  # 08:00 CET: over (read at CEST it would end at 06:00 UTC)
    ],
)
def test_a_one_off_window_reads_each_bound_in_the_offset_of_its_own_date(
    moment: str, inside: bool
) -> None:
    reasons = verdict_at(utc(moment))
    assert ("freeze:year-end=block" in reasons) is inside


def test_a_freeze_names_its_environment_and_targets_only() -> None:
    inside = utc("2026-10-25T12:00")
    assert "freeze:year-end" in verdict_at(inside)
    assert "freeze:year-end" not in verdict_at(inside, workload="deployment/web")
    assert "freeze" not in verdict_at(inside, env="development")


def test_the_freeze_reason_decides_the_verdict_and_says_which_window() -> None:
    tgt = target()
    d = decide(tgt, snap(tgt, []), policy(), utc("2026-10-25T12:00"))
    assert d.verdict is Verdict.BLOCK
    (reason,) = [r for r in d.reasons if r.code == "freeze:year-end"]
    assert reason.message == (
        "Year-end change freeze (freeze 'year-end': from 2026-10-24T18:00 to 2026-10-26T08:00 "
        "Europe/Berlin)."
    )
    # Same inputs, same bytes; outside every window the freeze leaves no trace.
    again = decide(tgt, snap(tgt, []), policy(), utc("2026-10-25T12:00"))
    assert again.to_json() == d.to_json()
    clean = decide(tgt, snap(tgt, [signal()]), policy(), utc("2026-11-28T12:00"))
    assert not [r for r in clean.reasons if r.code.startswith("freeze:")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("Europe/Berlin", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (("[production]\n    targets", "[nowhere]\n    targets"), "unknown environment 'nowhere'"),
        (("end: 2026-10-26T08:00", "end: 2026-10-23T08:00"), "must be after start"),
        (
            ('end: "03:30"', 'end: "25:00"'),
            "freezes[0].weekly[0].end: time of day '25:00' must be HH:MM",
        ),
        (("verdict: approve", "verdict: proceed"), "freezes[0].verdict"),
        (
            ("    weekly: [{days: [sun]", "    weekly: [{days: [sunday]"),
            "freezes[0].weekly[0].days[0]",
        ),
    ],
)
def test_a_malformed_freeze_is_refused_at_load_naming_the_field(
    change: tuple[str, str], message: str
) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy_text(POLICY_YAML + FREEZES.replace(*change, 1), "policy.yaml")
    assert message in str(err.value), str(err.value)


def test_a_freeze_without_a_window_is_refused() -> None:
    text = POLICY_YAML + FREEZES.replace(
        '    weekly: [{days: [sun], start: "01:00", end: "03:30"}]\n', ""
    )
    with pytest.raises(PolicyError, match="needs a window"):
        load_policy_text(text, "policy.yaml")


# --- property: the wall-clock rule, against minute-of-week arithmetic -------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
CLOCK = st.integers(0, 24 * 60 - 1).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")


@settings(max_examples=300, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    days=st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
    start=CLOCK,
    end=CLOCK,
    minutes=st.integers(0, 366 * 24 * 60),
)
def test_weekly_windows_hold_exactly_when_the_local_minute_of_week_is_inside(
    zone_name: str, days: list[str], start: str, end: str, minutes: int
) -> None:
    freeze = validate(
        {"name": "f", "verdict": "block", "message": "m", "environments": ["production"],
         "timezone": zone_name, "weekly": [{"days": days, "start": start, "end": end}]},
        Freeze,
    )  # fmt: skip
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    local = now.astimezone(zone(zone_name))
    minute = local.weekday() * 1440 + local.hour * 60 + local.minute
    s = int(start[:2]) * 60 + int(start[3:])
    e = int(end[:2]) * 60 + int(end[3:])
    length = e - s if e > s else e + 1440 - s
    inside = any(
        0 <= (minute - (WEEKDAYS.index(day) * 1440 + s)) % (7 * 1440) < length for day in days
    )
    assert (active(freeze, now) is not None) is inside
