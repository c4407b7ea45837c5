from __future__ import annotations

from pathlib import Path

from clearance import demo
from clearance.policy.load import load_policy

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_ships_the_example_policy_unchanged() -> None:
    shipped = (ROOT / "src/clearance/demo/policy.yaml").read_bytes()
    assert shipped == (ROOT / "examples/policy.yaml").read_bytes()


def test_the_example_policy_loads_with_its_four_environments() -> None:
    policy = load_policy(ROOT / "examples/policy.yaml")
    assert set(policy.document.environments) == {
        "production",
        "regulated",
        "staging",
        "development",
    }
    assert {r.rule.name for r in policy.rules} >= {"critical-detection-near-target"}


def test_every_demo_target_is_decidable(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    config = demo.materialize(tmp_path, datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    assert config.exists()
    assert len(demo.targets()) >= 3
