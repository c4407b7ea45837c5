"""Decisions keep their bytes: the sha256 of a decision's canonical JSON, pinned.

A change made for speed (the exposure's cached footprint, plain rules evaluated without CEL,
cheaper contribution records) must not change one byte of a decision, its id or its inputs
digest: recorded decisions replay against the new code. The expected digests were computed
by the code before those changes; a new one is a changed decision, never a refreshed constant.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from builders import NOW, fresh, signal, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import (
    Exemption,
    ExposedAsset,
    Exposure,
    Proximity,
    Severity,
    Signal,
    SignalKind,
    SignalStatus,
    Snapshot,
    Target,
    parse_asset,
)
from clearance.policy.compiled import Policy
from clearance.policy.load import load_policy

ROOT = Path(__file__).parents[2]
EXAMPLE = load_policy(ROOT / "examples" / "policy.yaml")
BENCH = load_policy(ROOT / "bench" / "policy.yaml")
TARGET = target()


def _exposure(tgt: Target) -> Exposure:
    refs = [(Proximity.DIRECT, f"pod:shop/api-{i}") for i in range(20)]
    refs += [(Proximity.DIRECT, "image:ghcr.io/acme/api:1.4")]
    refs += [(Proximity.HOST, f"host:node-{i}.eu-west-1.compute.internal") for i in range(8)]
    refs += [(Proximity.HOST, f"ip:10.0.0.{i}") for i in range(1, 9)]
    refs += [
        (Proximity.NAMESPACE, "namespace:prod-eu/shop"),
        (Proximity.CLUSTER, "cluster:prod-eu"),
    ]
    assets = tuple(ExposedAsset(p, parse_asset(r), via="golden") for p, r in refs)
    return Exposure(target=tgt, assets=assets, inventory="golden")


def _signals() -> list[Signal]:
    kinds = list(SignalKind)
    where = [f"pod:shop/api-{i}" for i in range(0, 20, 3)] + [
        "host:node-2",
        "host:node-5.eu-west-1.compute.internal",
        "ip:10.0.0.3",
        "namespace:prod-eu/shop",
        "cluster:prod-eu",
        "image:ghcr.io/acme/api:1.4",
        "host:elsewhere-1",
    ]
    out = [
        signal(
            f"edr:{n}",
            severity=Severity(n % 7),
            confidence=0.35 + (n % 6) / 10,
            kind=kinds[n % len(kinds)],
            status=SignalStatus.RESOLVED if n % 9 == 4 else SignalStatus.OPEN,
            assets=(asset,),
            age=timedelta(minutes=7 + 97 * n),
            rule="smoke" if n % 5 == 0 else None,
            title=f"finding {n}",
        )
        for n, asset in enumerate(where)
    ]
    out.append(
        signal(
            "falcon:crit",
            severity=Severity.CRITICAL,
            kind=SignalKind.DETECTION,
            assets=("host:node-1",),
        )
    )
    return out


def _decision_sha(policy: Policy, exemptions: tuple[Exemption, ...] = ()) -> str:
    exposure = _exposure(TARGET)
    matches = SignalIndex(_signals()).match(exposure)
    snapshot = Snapshot(exposure, matches, (fresh("edr"), fresh("falcon")), exemptions)
    decision = decide(TARGET, snapshot, policy, NOW)
    return hashlib.sha256(decision.to_json()).hexdigest()


EXEMPTION = Exemption(
    id="EXC-7",
    signal="edr:3",
    rule=None,
    environment="production",
    cluster="prod-eu",
    namespace="shop",
    workload="deployment/api",
    expires=NOW + timedelta(days=3),
    reason="vendor fix due",
    ticket="SEC-1",
    approver="ana",
)


@pytest.mark.parametrize(
    ("policy", "exemptions", "expected"),
    [
        (BENCH, (), "63faec42934b3ef53870f56666b4f1bb2a0e07986d510b9520c08cdfdc5ba4d8"),
        (EXAMPLE, (), "b207211ae880b1e95cd100e3f0e195fb1a3bcbd02c9ec3800aa0d0f63854608d"),
        (EXAMPLE, (EXEMPTION,), "782681c2a70985352f76369c0ac57ec211206f84cd00175dd806431b62ce082c"),
    ],
    ids=["bench-policy", "example-policy", "example-policy-with-exception"],
)
def test_a_decision_keeps_its_bytes(
    policy: Policy, exemptions: tuple[Exemption, ...], expected: str
) -> None:
    assert _decision_sha(policy, exemptions) == expected
