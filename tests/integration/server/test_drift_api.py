"""Drift through the real service: a workload whose running image changed without a decision
(``kubectl set image``) is reported as drift on its next decision, and replays as decided."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from clearance.audit.replay import replay
from clearance.inventory.static import StaticInventory
from server_harness import Live

ROOT = Path(__file__).parents[3]


def _cluster(root: Path, running: str) -> StaticInventory:
    """The static inventory as the cluster stands: checkout's pods run ``running``."""
    path = root / "running.yaml"
    target = {
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/clean",
        "assets": {
            "direct": ["pod:shop/clean-1", f"image:{running}"],
            "host": ["host:node-a.corp.example"],
        },
    }
    path.write_text(yaml.safe_dump({"targets": [target]}))
    return StaticInventory.from_file("hosts", path)


def test_an_image_changed_outside_the_gate_is_drift_on_the_next_decision(
    live: Callable[..., Live], tmp_path: Path
) -> None:
    server = live(policy=(ROOT / "examples" / "policy.yaml").read_text())
    decisions = server.ctx.decisions
    decisions.inventory = _cluster(tmp_path, "ghcr.io/acme/clean:1.0")

    first = server.ask("clean")  # what runs today, decided
    assert first["decision"]["verdict"] == "proceed"
    rollout = server.ask("clean", images=["ghcr.io/acme/clean:1.1"])  # the gate clears 1.1
    assert rollout["decision"]["verdict"] == "proceed"

    decisions.inventory = _cluster(tmp_path, "ghcr.io/acme/clean:1.1")  # 1.1 rolled out
    assert server.ask("clean")["decision"]["verdict"] == "proceed"  # decided: no drift

    decisions.inventory = _cluster(tmp_path, "ghcr.io/acme/clean:6.6-hotfix")  # kubectl set image
    drifted = server.ask("clean", images=["ghcr.io/acme/clean:1.2"])["decision"]
    assert drifted["verdict"] == "approve"
    (reason,) = [r for r in drifted["reasons"] if r["code"] == "rule:drift"]
    assert (
        "runs image(s) Clearance did not decide: ghcr.io/acme/clean:6.6-hotfix"
        in (reason["message"])
    )
    assert replay(server.ctx.store, drifted["id"]).identical

    # Once decided (this decision saw 6.6-hotfix running), the next one is no longer drift.
    again = server.ask("clean", images=["ghcr.io/acme/clean:1.2"])["decision"]
    assert not [r for r in again["reasons"] if r["code"] == "rule:drift"]
