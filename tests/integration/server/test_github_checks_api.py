"""The commit's required GitHub checks as evidence, through the real service.

``github.checks`` configured: a decision whose target names a commit reads the commit's check
runs and the branch's required checks from the GitHub stand-in (as the App: JWT, installation
token), and the shipped policy rules a failed required check like a failing test — production
blocks, naming the check — while a commit whose required checks passed proceeds. The recorded
decision replays byte for byte without asking GitHub again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clearance.audit.replay import replay
from clearance.integrations.settings import IntegrationSettings
from server_harness import Live
from standins._server import Loopback
from standins.github_api import GitHubApiHandler, GitHubApiState

ROOT = Path(__file__).parents[3]
REPO = "acme/shop"
INSTALLATION = 4242
GREEN = "1f0c7e5a5d2b9a6b1a3f0e9d8c7b6a5f4e3d2c1b"
RED = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"


@pytest.fixture
def github() -> Iterator[tuple[str, GitHubApiState, str]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    state = GitHubApiState("Iv23liCLEARANCE", public, datetime.now(UTC), {INSTALLATION})
    # main requires "test" by branch protection and "build" by a ruleset; "lint" is optional.
    state.protection[f"{REPO}:main"] = ["test"]
    state.rulesets[f"{REPO}:main"] = ["build"]
    for sha, test in ((GREEN, "success"), (RED, "failure")):
        state.add_run(REPO, sha, "build", "success")
        state.add_run(REPO, sha, "test", test)
        state.add_run(REPO, sha, "lint", "failure")  # not required: does not count
    with Loopback(GitHubApiHandler, state) as api:
        yield api, state, private


def test_a_failed_required_check_blocks_production_naming_the_check(
    live: Callable[..., Live], github: tuple[str, GitHubApiState, str]
) -> None:
    api, state, private = github
    settings = IntegrationSettings.model_validate(
        {
            "github": {
                "app_id": "Iv23liCLEARANCE",
                "private_key": private,
                "api_url": api,
                "checks": {"repository": REPO, "branch": "main", "installation_id": INSTALLATION},
            }
        }
    )
    server = live(policy=(ROOT / "examples" / "policy.yaml").read_text(), integrations=settings)
    state.now = server.clock.now

    red = server.ask("clean", change={"commit": RED})
    assert (red["decision"]["verdict"], red["exit_code"]) == ("block", 20)
    named = [r["message"] for r in red["decision"]["reasons"] if r["code"] == "rule:failing-tests"]
    assert any("Required check test concluded failure" in m for m in named), named
    assert not any("lint" in m for m in named)  # optional checks are not the gate's business

    green = server.ask("clean", change={"commit": GREEN})
    assert green["decision"]["verdict"] == "proceed"
    assert not [r for r in green["decision"]["reasons"] if r["code"] == "rule:failing-tests"]

    # No commit: nothing to read, nothing asked of GitHub.
    asked = len(state.scripted.requests)
    assert server.ask("clean")["decision"]["verdict"] == "proceed"
    assert len(state.scripted.requests) == asked

    # The answer was recorded: replaying reads the snapshot, not GitHub.
    state.check_runs.clear()
    for answer in (red, green):
        assert replay(server.ctx.store, answer["id"]).identical
    paths = [path for method, path in state.scripted.requests if method == "GET"]
    assert any(f"/repos/{REPO}/commits/{RED}/check-runs" in p for p in paths)
    assert any(p.endswith("/protection/required_status_checks") for p in paths)
    assert any(f"/repos/{REPO}/rules/branches/main" in p for p in paths)


def test_github_down_leaves_no_report_and_a_requiring_environment_says_so(
    live: Callable[..., Live], github: tuple[str, GitHubApiState, str]
) -> None:
    api, state, _ = github
    state.read_tokens.add("ghp_read_only_token_for_tests")
    policy = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text())
    policy["environments"]["production"]["evidence"] = {"required": ["github-checks"]}
    settings = IntegrationSettings.model_validate(
        {
            "github": {
                "app_id": "Iv23liCLEARANCE",
                "api_url": api,
                "checks": {"repository": REPO, "token": "ghp_read_only_token_for_tests"},
            }
        }
    )
    server = live(policy=yaml.safe_dump(policy), integrations=settings)
    assert server.ask("clean", change={"commit": GREEN})["decision"]["verdict"] == "proceed"

    state.scripted.queue(503, b'{"message": "Service Unavailable"}')
    down = server.ask("clean", change={"commit": GREEN})
    assert down["decision"]["verdict"] == "approve"  # production's missing_evidence stance
    assert down["decision"]["degraded"] == ["missing_evidence"]
    assert any(
        "No github-checks report came with this deploy" in r["message"]
        for r in down["decision"]["reasons"]
    )
