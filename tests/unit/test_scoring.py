from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from builders import NOW, exposure, make_policy, signal, target
from clearance.correlate import SignalIndex
from clearance.model import Severity
from clearance.scoring import age_seconds, contribute, decay, risk


def test_contribution_is_the_product_of_its_factors() -> None:
    policy = make_policy()
    s = signal(severity=Severity.CRITICAL, confidence=0.5, age=timedelta(hours=6))
    (match,) = SignalIndex([s]).match(exposure(target(), host=("host:node-1",)))
    value, record = contribute(match, policy.weights, NOW)
    # critical 0.9 × confidence 0.5 × decay 0.5 (one half-life) × host 0.8
    assert value == pytest.approx(0.9 * 0.5 * 0.5 * 0.8)
    assert record.decay == 0.5
    assert record.age_seconds == 6 * 3600
    assert record.proximity == "host"


def test_decay_halves_each_half_life() -> None:
    assert decay(0, 60) == 1.0
    assert decay(60, 60) == 0.5
    assert decay(120, 60) == 0.25


def test_risk_is_a_probabilistic_union() -> None:
    assert risk([]) == 0.0
    assert risk([0.5, 0.5]) == 75.0
    assert risk([1.0, 0.1]) == 100.0


@pytest.mark.parametrize(
    "delta",
    [
        timedelta(0),
        timedelta(microseconds=999_999),
        timedelta(seconds=59, microseconds=999_999),
        timedelta(days=1, microseconds=-1),
        timedelta(days=49_710, seconds=23_295, microseconds=999_999),  # around 2**32 s
        timedelta(days=99_999, seconds=86_399, microseconds=999_999),  # the last exact day
        timedelta(days=100_000, microseconds=999_999),
        timedelta(days=3_000_000, seconds=86_399, microseconds=999_999),  # where they differ
        timedelta(microseconds=-1),
        timedelta(days=-5, seconds=3),
    ],
)
def test_age_seconds_is_total_seconds_truncated(delta: timedelta) -> None:
    # The definition age_seconds computes without a float (see its docstring).
    now = datetime(9999, 1, 1, tzinfo=UTC)
    assert age_seconds(now - delta, now) == max(0, int(delta.total_seconds()))


def test_age_seconds_agrees_with_total_seconds_across_the_exact_range() -> None:
    now = datetime(9999, 1, 1, tzinfo=UTC)
    rng = random.Random(17)
    for _ in range(20_000):
        delta = timedelta(
            days=rng.randrange(-3, 100_003),
            seconds=rng.choice([0, 86_399, rng.randrange(86_400)]),
            microseconds=rng.choice([0, 999_999, 500_000, rng.randrange(10**6)]),
        )
        assert age_seconds(now - delta, now) == max(0, int(delta.total_seconds())), delta
