"""Scoring: each matched signal's contribution, and how contributions combine into risk.

    contribution = weight(kind, severity) × confidence × decay(age, half_life(kind))
                   × weight(proximity)
    decay        = 0.5 ** (age / half_life)
    risk         = 100 × (1 − Π(1 − cᵢ))

When the policy caps a kind (``scoring.kinds.<kind>.cap``), that kind's contributions are first
combined on their own, ``uₖ = 1 − Π(1 − cᵢ)`` over its signals, and count for at most the cap:
``risk = 100 × (1 − Πₖ (1 − min(capₖ, uₖ)))``. Both forms are bounded (0..100), monotone in every
factor, and independent of signal order (contributions are multiplied in sorted order, so even
floating-point rounding cannot depend on the order signals arrived in). Every number comes from
the policy's ``scoring`` section.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from clearance.model.canonical import with_present
from clearance.model.decision import Contribution, KindTotal
from clearance.model.signal import Signal, SignalKind
from clearance.model.snapshot import Match
from clearance.model.target import Proximity
from clearance.policy.weights import Weights

# Contributions are recorded to this many decimals: enough to explain a score, few enough that
# the record reads well. The score itself is computed from the unrounded values.
_PLACES = 6


def age_seconds(last_seen: datetime, now: datetime) -> int:
    """Whole seconds since the signal was last seen; a future timestamp (clock skew) counts as 0.

    Defined as ``max(0, int((now - last_seen).total_seconds()))``, and computed so from the
    difference's whole days and seconds (no float, no method call): for a difference of
    ``S + u/10**6`` seconds (``0 <= u < 10**6``), ``total_seconds()`` is that value correctly
    rounded to a double, which truncates to ``S`` as long as the double's half-ulp stays under
    ``10**-6`` — up to 2**32 s and beyond: so below ``_EXACT_DAYS`` (~274 years) the two agree
    exactly; older ones (and a negative difference, 0 either way) keep the defining formula.
    ``tests/unit/test_scoring.py`` compares both on edge values.
    """
    delta = now - last_seen
    days = delta.days
    if 0 <= days < _EXACT_DAYS:
        return days * 86400 + delta.seconds
    return max(0, int(delta.total_seconds()))


# Days of difference below which whole days and seconds give total_seconds()'s truncation:
# 100,000 days is 8.64e9 s, where a double's half-ulp is 2**-20 (9.5e-7 s), under 1 µs.
_EXACT_DAYS = 100_000


def decay(age: int, half_life: int) -> float:
    return float(0.5 ** (age / half_life))


def contribute(
    match: Match, weights: Weights, now: datetime, change: str = ""
) -> tuple[float, Contribution]:
    """The exact contribution of one match, and its factor-by-factor record. ``change``: what
    the deploy does to an image finding (``introduced``/``unchanged``/``fixed``), weighed by
    the policy's ``scoring.changes`` when it sets them."""
    return contribute_all([match], weights, now, {match.signal.uid: change} if change else None)[0]


def contribute_all(
    matches: Iterable[Match],
    weights: Weights,
    now: datetime,
    changes: Mapping[str, str] | None = None,
) -> list[tuple[float, Contribution]]:
    """:func:`contribute` for each of ``matches`` in turn, ``changes`` giving each signal's
    change by uid (none when None)."""
    # Once per signal of every decision: one loop over the policy's tables held in locals, the
    # helpers' arithmetic inlined (each call is a Python frame: age_seconds, decay and
    # AssetRef.__str__ were ~0.6 µs a signal) with the very same operations, and the record
    # built as the tuple it is (the named tuple's generated __new__ is one more frame).
    half_lives, severities, proximities = weights.half_life, weights.severity, weights.proximity
    change_weights, by_kind = weights.changes, weights.by_kind
    out: list[tuple[float, Contribution]] = []
    for match in matches:
        signal = match.signal
        kind = signal.kind
        delta = now - signal.last_seen  # age_seconds(), inlined
        days = delta.days
        if 0 <= days < _EXACT_DAYS:
            age = days * 86400 + delta.seconds
        else:
            age = max(0, int(delta.total_seconds()))
        half_life = half_lives[kind]
        severity_weight = severities[kind][signal.severity]
        proximity = match.proximity
        proximity_weight = proximities[proximity]
        factor = 0.5 ** (age / half_life)  # decay()
        change = changes.get(signal.uid, "") if changes else ""
        change_weight = change_weights.get(change, 1.0) if change else 1.0
        value = severity_weight * signal.confidence * factor * proximity_weight * change_weight
        ref = match.matched.ref
        record = _new_record(
            Contribution,
            (
                signal.uid,  # signal
                signal.source,  # source
                signal.title,  # title
                int(signal.severity),  # severity
                severity_weight,  # severity_weight
                signal.confidence,  # confidence
                age,  # age_seconds
                half_life,  # half_life_seconds
                round(factor, _PLACES),  # decay
                _LABELS[proximity],  # proximity
                proximity_weight,  # proximity_weight
                ref.kind + ":" + ref.value,  # matched: str(ref)
                round(value, _PLACES),  # contribution
                signal.url,  # url
                kind._value_ if by_kind else None,  # kind
                _exploitability(signal),  # exploitability
                change or None,  # change
                change_weight if change and change_weights else None,  # change_weight
            ),
        )
        out.append((value, record))
    return out


# Contribution's own __new__ is tuple.__new__ over its fields in order, all passed here.
_new_record = tuple.__new__
_LABELS = {p: p.label for p in Proximity}


def _exploitability(signal: Signal) -> dict[str, Any] | None:
    if (
        signal.epss is None
        and signal.epss_percentile is None
        and signal.fix_available is None
        and signal.cvss_vector is None
    ):
        return None  # most findings: nothing known, and no dict to build
    facts = with_present(
        {},
        epss=signal.epss,
        epss_percentile=signal.epss_percentile,
        fix_available=signal.fix_available,
        cvss=signal.cvss_vector,
    )
    return facts or None


def risk(contributions: Iterable[float]) -> float:
    """Probabilistic union of contributions, 0..100, rounded to two decimals."""
    # Each clamped to 0..1 as min(1.0, max(0.0, c)) would, NaN to 0 included, without two calls
    # per contribution.
    remaining = math.prod(
        [1.0 - (c if 0.0 < c < 1.0 else 1.0 if c >= 1.0 else 0.0) for c in sorted(contributions)]
    )
    return round(100.0 * (1.0 - remaining), 2)


def capped_risk(
    contributions: Iterable[tuple[SignalKind, float]], caps: Mapping[SignalKind, float]
) -> tuple[float, tuple[KindTotal, ...]]:
    """The risk with each capped kind's union bounded by its cap, and every kind's total.

    Uncapped kinds combine as in :func:`risk`; the totals say, per kind that scored, what it
    added up to and what counted, so a reader sees a cap at work.
    """
    by_kind: dict[SignalKind, list[float]] = {}
    for kind, value in contributions:
        by_kind.setdefault(kind, []).append(min(1.0, max(0.0, value)))
    totals: list[KindTotal] = []
    remaining = 1.0
    for kind in sorted(by_kind):
        union = 1.0 - math.prod(1.0 - c for c in sorted(by_kind[kind]))
        cap = caps.get(kind)
        counted = union if cap is None else min(cap, union)
        remaining *= 1.0 - counted
        totals.append(KindTotal(kind.value, round(union, _PLACES), cap, round(counted, _PLACES)))
    return round(100.0 * (1.0 - remaining), 2), tuple(totals)
