"""Post-deploy checks in the pure decision: what counts as the same release, what a failed
check does under the example policy in each environment, and replay byte for byte."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import yaml
from hypothesis import given
from hypothesis import strategies as st

from clearance.engine import decide
from clearance.model.assets import parse_asset, parse_image
from clearance.model.canonical import canonical_json
from clearance.model.checks import CheckEvidence, PostDeployCheck, Relation, release_key
from clearance.model.decision import Verdict
from clearance.model.snapshot import Snapshot, snapshot_from_dict
from clearance.model.target import ExposedAsset, Exposure, Proximity, SourceHealth, Target
from clearance.policy.compiled import Policy
from clearance.policy.schema import PolicyDocument
from clearance.sources.reports import read_report
from clearance.validation import validate

ROOT = Path(__file__).parents[2]
REPORTS = ROOT / "tests" / "fixtures" / "reports"
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
IMAGE = "ghcr.io/acme/checkout:1.4@sha256:" + "a" * 64


def _policy() -> Policy:
    text = (ROOT / "examples" / "policy.yaml").read_bytes()
    return Policy.build(validate(yaml.safe_load(text), PolicyDocument), text, "<t>")


def _check(name: str, at: datetime) -> PostDeployCheck:
    report = read_report("junit", name, (REPORTS / name).read_bytes())
    return PostDeployCheck(
        "chk_1", "dec_staged", "staging", "eu/shop/deployment/checkout", at, report
    )


def _snapshot(target: Target, *checks: CheckEvidence) -> Snapshot:
    workload = ExposedAsset(Proximity.DIRECT, parse_asset("workload:eu/shop/deployment/checkout"))
    return Snapshot(
        exposure=Exposure(target, (workload,), "test"),
        matches=(),
        sources=(SourceHealth("edr", NOW),),
        checks=checks,
    )


def _target(environment: str) -> Target:
    return Target.of(environment, "eu", "shop", "deployment/checkout", images=(IMAGE,))


def test_a_failed_staging_check_needs_approval_in_production_and_names_the_test() -> None:
    failed = CheckEvidence(
        _check("pytest-junit.failing.xml", NOW - timedelta(days=2)), Relation.RELEASE
    )
    target = _target("production")
    decision = decide(target, _snapshot(target), _policy(), NOW)
    assert decision.verdict is Verdict.PROCEED
    decision = decide(target, _snapshot(target, failed), _policy(), NOW)
    assert decision.verdict is Verdict.APPROVE
    fired = [r for r in decision.reasons if r.code == "rule:failed-smoke-check"]
    assert len(fired) == 2
    assert "Post-deploy check of this release in staging (decision dec_staged)" in fired[0].message
    assert any("test_discount_applies_once" in r.message for r in fired)


def test_development_only_warns_while_the_failure_is_recent() -> None:
    target = _target("development")
    recent = CheckEvidence(_check("pytest-junit.failing.xml", NOW), Relation.RELEASE)
    decision = decide(target, _snapshot(target, recent), _policy(), NOW)
    assert decision.verdict is Verdict.PROCEED
    assert "unhealthy_target" in " ".join(r.code for r in decision.reasons)


def test_a_passing_check_adds_nothing() -> None:
    target = _target("production")
    passed = CheckEvidence(_check("pytest-junit.passing.xml", NOW), Relation.RELEASE)
    decision = decide(target, _snapshot(target, passed), _policy(), NOW)
    assert decision.verdict is Verdict.PROCEED
    assert decision.contributors == ()


def test_the_recorded_snapshot_replays_byte_for_byte() -> None:
    target = _target("production")
    failed = CheckEvidence(_check("pytest-junit.failing.xml", NOW), Relation.PREVIOUS)
    snapshot = _snapshot(target, failed)
    first = decide(target, snapshot, _policy(), NOW)
    stored = snapshot_from_dict(json.loads(canonical_json(snapshot.to_dict())))
    again = decide(target, stored, _policy(), NOW)
    assert canonical_json(again.to_dict()) == canonical_json(first.to_dict())
    # The checks are inputs: a decision without them is a different decision.
    assert (
        decide(target, msgspec.structs.replace(snapshot, checks=()), _policy(), NOW).id != first.id
    )


DIGESTS = st.lists(
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), min_size=1, max_size=5
)


@given(DIGESTS, st.randoms())
def test_a_release_is_its_digests_in_any_order(digests: list[str], rnd: random.Random) -> None:
    images = [parse_image(f"ghcr.io/acme/app{i}:1@sha256:{d}") for i, d in enumerate(digests)]
    shuffled = list(images)
    rnd.shuffle(shuffled)
    assert release_key(images) == release_key(shuffled) is not None
    tagged = [*images, parse_image("ghcr.io/acme/side:1.0")]
    assert release_key(tagged) is None  # a tag can move: not comparable


@given(DIGESTS, DIGESTS)
def test_different_digests_are_different_releases(a: list[str], b: list[str]) -> None:
    def key(ds: list[str]) -> str | None:
        return release_key([parse_image(f"ghcr.io/acme/app@sha256:{d}") for d in ds])

    assert (key(a) == key(b)) == (set(a) == set(b))
