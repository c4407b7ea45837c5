"""Shadow mode end to end: traffic through a real ``clearance serve`` in an observe-only
production, approvals given and refused over the API, then ``clearance report shadow`` (the real
CLI) over the log, checked against a hand-computed expectation and against the recorded
decisions themselves (``clearance audit export``).

The fleet (examples/policy.yaml; production divides its thresholds by 1.5: approve at 20, block
at 40):

    checkout  node-hot has a critical Falcon detection: 0.9 x 0.9 x host 0.8 = 64.8 -> block
              (score, and rule critical-detection-near-target)
    web       node-warm has a medium one: 0.3 x 0.9 x 0.8 = 21.6 -> approve (score)
    ledger    nothing -> proceed

Each round asks for all three. Round 1's web decision is approved by alice and bob, round 2's
rejected by alice, round 3's left unanswered. The service reads the real clock, so the rounds
are seconds apart rather than a week; the report's time figures are checked in the unit tests
with recorded times spread over days.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from served import Served, clean_environment, clearance, serve_synced

EXAMPLES = Path(__file__).parents[2] / "examples"
ROUNDS = 3
FLEET = {"checkout": "node-hot", "web": "node-warm", "ledger": "node-cool"}


def _policy(mode: str) -> str:
    policy = yaml.safe_load((EXAMPLES / "policy.yaml").read_text())
    policy["environments"]["production"]["mode"] = mode
    return yaml.safe_dump(policy, sort_keys=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shadow")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def detection(uid: str, severity: int, node: str) -> dict[str, Any]:
        return {
            "uid": f"falcon:{uid}", "source": "falcon", "kind": "detection",
            "title": f"Detection {uid}", "severity": severity, "confidence": 0.9,
            "status": "open", "first_seen": now, "last_seen": now, "assets": [f"host:{node}"],
        }  # fmt: skip

    signals = [detection("hot-1", 5, "node-hot"), detection("warm-1", 3, "node-warm")]
    (root / "edr.jsonl").write_text("".join(json.dumps(s) + "\n" for s in signals))
    targets = [
        {"cluster": "prod-eu", "namespace": "shop", "workload": f"deployment/{name}",
         "assets": {"direct": [f"image:ghcr.io/acme/{name}:1.0"], "host": [f"host:{node}"]}}
        for name, node in FLEET.items()
    ]  # fmt: skip
    (root / "inventory.yaml").write_text(yaml.safe_dump({"targets": targets}))
    (root / "policy.yaml").write_text(_policy("shadow"))
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "falcon", "type": "file", "path": "edr.jsonl"}],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.fixture(scope="module")
def week(root: Path) -> Iterator[tuple[Served, list[dict[str, Any]]]]:
    with serve_synced(root / "clearance.yaml", root) as served:
        answers: list[dict[str, Any]] = []
        for round_ in range(ROUNDS):
            for name in FLEET:
                body = {"environment": "production", "cluster": "prod-eu", "namespace": "shop",
                        "workload": f"deployment/{name}"}  # fmt: skip
                answer = served.decide(body)
                answers.append(answer)
                if name != "web":
                    continue
                outcomes = {0: [("alice", "approve"), ("bob", "approve")], 1: [("alice", "reject")]}
                for who, outcome in outcomes.get(round_, []):
                    given = served.post(
                        f"/v1/decisions/{answer['id']}/approvals",
                        {"outcome": outcome, "reason": f"round {round_}"},
                        who,
                    )
                    assert given.status_code == 201, given.text
            time.sleep(1.1)  # recorded times one second apart at least: distinct decisions
        yield served, answers


def test_every_would_be_block_goes_ahead_and_is_recorded_as_decided(
    week: tuple[Served, list[dict[str, Any]]],
) -> None:
    _, answers = week
    verdicts = Counter(
        (a["decision"]["target"]["workload"], a["decision"]["verdict"]) for a in answers
    )
    assert verdicts == {
        ("deployment/checkout", "block"): ROUNDS,
        ("deployment/web", "approve"): ROUNDS,
        ("deployment/ledger", "proceed"): ROUNDS,
    }
    for a in answers:
        strict = a["decision"]["verdict"] != "proceed"
        assert (a["status"], a["exit_code"]) == (("shadow" if strict else "proceed"), 0)
        assert a["decision"]["mode"] == "shadow"
        if a["decision"]["verdict"] == "block":  # the API answer carries what would clear it
            commands = [h.get("command", "") for h in a["hints"]]
            assert any("exceptions create --signal falcon:hot-1" in c for c in commands)


def test_the_shadow_report_matches_the_hand_computed_figures_and_the_log(
    root: Path, week: tuple[Served, list[dict[str, Any]]]
) -> None:
    served, _ = week
    done = clearance(
        "report", "shadow", "--since", "1d", "--database", served.database, "--format", "json"
    )
    assert done.code == 0, done.err
    report = json.loads(done.out)["environments"]["production"]
    assert report["decisions"] == 3 * ROUNDS
    assert (report["proceed"], report["would_block"], report["would_approve"]) == (3, 3, 3)
    assert report["targets"] == {
        "prod-eu/shop/deployment/checkout": {"would_block": 3, "would_approve": 0},
        "prod-eu/shop/deployment/web": {"would_block": 0, "would_approve": 3},
    }
    assert report["reasons"] == {
        "rule:critical-detection-near-target": {"would_block": 3, "would_approve": 0},
        "score": {"would_block": 3, "would_approve": 3},
    }
    assert report["approvals"] == {"score": {"granted": 1, "refused": 1, "unanswered": 1}}
    assert report["approval_wait_seconds"]["count"] == 1
    assert report["noisy_signals"] == [
        {"signal": "falcon:hot-1", "title": "Detection hot-1", "decisions": 3},
        {"signal": "falcon:warm-1", "title": "Detection warm-1", "decisions": 3},
    ]
    # The same counts, read straight from the recorded decisions.
    exported = clearance("audit", "export", "--database", served.database)
    assert exported.code == 0, exported.err
    records = [json.loads(line) for line in exported.out.splitlines()]
    decisions = [r["decision"] for r in records if "decision" in r]
    strict = Counter(d["verdict"] for d in decisions if d.get("mode") == "shadow")
    assert (strict["block"], strict["approve"]) == (report["would_block"], report["would_approve"])
    text = clearance("report", "shadow", "--database", served.database)
    assert "production: 9 decision(s): 3 proceed, 3 would have blocked" in text.out


def _candidate(root: Path, name: str, mode: str, thresholds: dict[str, int]) -> Path:
    policy = yaml.safe_load(_policy(mode))
    policy["environments"]["production"]["thresholds"] = thresholds
    path = root / name
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def test_simulating_enforcement_with_lower_thresholds_reports_the_hand_computed_changes(
    root: Path, week: tuple[Served, list[dict[str, Any]]]
) -> None:
    """Enforcing, approve at 15/1.5 = 10 and block at 30/1.5 = 20: checkout's blocks are now
    enforced, web's 21.6 crosses the block line, ledger stays proceed (not a change)."""
    served, answers = week
    candidate = _candidate(root, "enforce.yaml", "enforce", {"approve": 15, "block": 30})
    done = clearance(
        "policy", "simulate", "--candidate", str(candidate), "--since", "1d",
        "--database", served.database, "--format", "json",
    )  # fmt: skip
    assert done.code == 20, done.err
    impact = json.loads(done.out)
    production = impact["environments"]["production"]
    assert (production["replayed"], production["changed"], production["newly_block"]) == (9, 6, 6)
    assert impact["newly_block"] == 6
    by_id = {c["decision_id"]: c for c in production["changes"]}
    for a in answers:
        d = a["decision"]
        if d["verdict"] == "proceed":
            assert a["id"] not in by_id
            continue
        change = by_id[a["id"]]
        assert change["recorded"] == {"verdict": d["verdict"], "shadow": True}
        assert change["candidate"] == {"verdict": "block", "shadow": False}
        assert change["why"][:2] == [
            "enforced (was shadow mode)",
            "thresholds approve/block 20/40 -> 10/20",
        ]
        if d["verdict"] == "approve":
            assert change["why"][2:] == ["score: approve -> block"]
    summary = root / "summary.md"
    github = clearance(
        "policy", "simulate", "--candidate", str(candidate), "--since", "1d",
        "--database", served.database, "--format", "github",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert github.code == 20
    assert "::error title=Clearance policy impact::6 recorded decision(s)" in github.out
    assert summary.read_text().startswith(
        "## :no_entry: Policy impact: 6 decision(s) would newly block"
    )


def test_simulating_the_recorded_policy_changes_nothing_and_exits_0(
    root: Path, week: tuple[Served, list[dict[str, Any]]]
) -> None:
    served, _ = week
    done = clearance(
        "policy", "simulate", "--candidate", str(root / "policy.yaml"), "--since", "1d",
        "--database", served.database,
    )  # fmt: skip
    assert done.code == 0, done.err
    assert "production: 9 replayed, 0 would change" in done.out


def test_check_through_the_service_exits_0_and_says_what_it_would_have_done(
    week: tuple[Served, list[dict[str, Any]]],
) -> None:
    """Last in this module: it adds a tenth decision to the week's nine."""
    served, _ = week
    done = served.clearance(
        "check", "--env", "production", "--cluster", "prod-eu", "--namespace", "shop",
        "--workload", "deployment/checkout",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "shadow: enforcing would answer block" in done.stdout
    assert "service  shadow (exit 0)" in done.stdout
    metrics = served.client.get("/metrics").text
    assert (
        'clearance_shadow_verdicts_total{environment="production",verdict="block"} 4.0' in metrics
    )


def test_the_policy_pr_workflow_runs_simulate_as_written(
    root: Path, week: tuple[Served, list[dict[str, Any]]]
) -> None:
    """examples/github/policy-impact.yml: least privilege, pinned, and its simulate step runs
    as written against the log (the candidate at the path it names)."""
    served, _ = week
    workflow = yaml.safe_load((EXAMPLES / "github/policy-impact.yml").read_text())
    assert workflow["permissions"] == {}
    job = workflow["jobs"]["simulate"]
    assert job["permissions"] == {"contents": "read"}
    assert all(
        re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", s["uses"])
        for s in job["steps"]
        if "uses" in s
    )
    (step,) = [s for s in job["steps"] if "simulate" in s.get("run", "")]
    assert set(step["env"]) == {"CLEARANCE_DATABASE_URL"}
    repo = root / "repo"
    (repo / "clearance").mkdir(parents=True)
    (repo / "clearance/policy.yaml").write_text((root / "policy.yaml").read_text())
    summary = root / "pr-summary.md"
    environ = {**clean_environment(), "CLEARANCE_DATABASE_URL": served.database,
               "GITHUB_STEP_SUMMARY": str(summary),
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # fmt: skip
    done = subprocess.run(
        step["run"], shell=True, cwd=repo, env=environ, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr  # the unchanged policy: no impact
    assert "Policy impact: 0 decision(s) would newly block" in summary.read_text()


def test_a_local_check_and_the_pipeline_gate_exit_0_in_shadow_mode(tmp_path: Path) -> None:
    """The examples' blocking check (exit 20 when enforcing) with production in shadow mode."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "examples/policy.yaml").write_text(_policy("shadow"))
    config = str(tmp_path / "examples/clearance.yaml")
    target = ["--env", "production", "--cluster", "prod-eu", "--namespace", "shop",
              "--workload", "deployment/checkout", "--now", "2026-11-28T12:00:00Z"]  # fmt: skip
    done = clearance("check", "--config", config, *target)
    assert done.code == 0, done.err
    assert "mode     shadow: enforcing would answer block" in done.out
    gate = subprocess.run(
        [sys.executable, "-m", "clearance.cli.gate"],
        env={**clean_environment(), "CLEARANCE_CONFIG": config, "CLEARANCE_ENV": "production",
             "CLEARANCE_CLUSTER": "prod-eu", "CLEARANCE_NAMESPACE": "shop",
             "CLEARANCE_WORKLOAD": "deployment/checkout", "CLEARANCE_FORMAT": "text"},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert gate.returncode == 0, gate.stderr
    assert "shadow mode: enforcing would answer" in gate.stderr
