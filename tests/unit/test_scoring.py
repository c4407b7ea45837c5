from __future__ import annotations

from datetime import timedelta

import pytest

from builders import NOW, exposure, make_policy, signal, target
from clearance.correlate import SignalIndex
from clearance.model import Severity
from clearance.scoring import contribute, decay, risk


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
