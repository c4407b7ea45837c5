"""Fixtures: a small fleet on disk, and the real `clearance` command run against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_fleet import Fleet, Result, Run, signal

from builders import POLICY_YAML


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    (tmp_path / "policy.yaml").write_text(POLICY_YAML)
    inventory = {
        "targets": [
            {
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": f"deployment/{name}",
                "assets": {"direct": [f"pod:shop/{name}-1"], "host": [f"host:{host}.corp.example"]},
            }
            for name, host in (("clean", "node-a"), ("medium", "node-b"), ("hot", "node-c"))
        ]
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    f = Fleet(tmp_path)
    f.write_config()
    f.write_signals(
        [
            signal("1", 3, "node-b"),  # medium: approval in production
            signal("2", 5, "NODE-C"),  # critical, short upper-case name as an EDR reports it
        ]
    )
    # The file's age is the data's age: make it fresh relative to --now.
    os.utime(tmp_path / "edr.jsonl", (1_795_867_200, 1_795_867_200))  # 2026-11-28T12:00:00Z
    return f


@pytest.fixture
def clearance(fleet: Fleet) -> Run:
    def run(*args: str, env: dict[str, str] | None = None, config: bool = True) -> Result:
        command = [sys.executable, "-m", "clearance", *args]
        if config and args and args[0] in ("check", "explain"):
            command += ["--config", str(fleet.config)]
        environ = {
            k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CLEARANCE_"))
        }
        environ.update(env or {})
        done = subprocess.run(command, capture_output=True, text=True, env=environ, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    return run
