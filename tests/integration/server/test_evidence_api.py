"""Reports about the change through the real service: ``POST /v1/decisions`` with ``evidence``,
``check --server --evidence`` (the one client), a 422 naming the report that cannot be read, and
the recorded decision replaying byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from clearance.audit.replay import replay
from server_harness import Live

ROOT = Path(__file__).parents[3]
REPORTS = ROOT / "tests" / "fixtures" / "reports"


def _policy() -> str:
    policy = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text())
    policy["environments"]["production"]["evidence"] = {"required": ["junit"]}
    return yaml.safe_dump(policy)


def _report(fmt: str, name: str) -> dict[str, Any]:
    return {"format": fmt, "name": name, "content": (REPORTS / name).read_text()}


def test_each_report_gets_the_verdict_the_policy_states_and_replays(
    live: Callable[..., Live],
) -> None:
    server = live(policy=_policy())
    failing = server.ask("clean", evidence=[_report("junit", "pytest-junit.failing.xml")])
    assert (failing["decision"]["verdict"], failing["exit_code"]) == ("block", 20)
    named = [
        r["message"] for r in failing["decision"]["reasons"] if r["code"] == "rule:failing-tests"
    ]
    assert any("test_cart.test_checkout_calls_payment failed" in m for m in named)

    scanned = server.ask(
        "clean",
        evidence=[
            _report("junit", "pytest-junit.passing.xml"),
            _report("sarif", "semgrep.docs-example.sarif"),
        ],
    )
    assert (scanned["decision"]["verdict"], scanned["status"]) == ("approve", "pending_approval")

    missing = server.ask("clean")
    assert missing["decision"]["verdict"] == "approve"
    assert missing["decision"]["degraded"] == ["missing_evidence"]

    for answer in (failing, scanned, missing):
        assert replay(server.ctx.store, answer["id"]).identical


def test_a_report_that_cannot_be_read_is_a_422_naming_it(live: Callable[..., Live]) -> None:
    server = live(policy=_policy())
    body = {
        "environment": "production",
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/clean",
        "evidence": [
            _report("junit", "pytest-junit.passing.xml"),
            {"format": "sarif", "name": "r.sarif", "content": '{"version": "2.0.0", "runs": []}'},
        ],
    }
    with server.client("ci") as c:
        response = c.post("/v1/decisions", json=body)
        unknown = c.post(
            "/v1/decisions",
            json={**body, "evidence": [{"format": "pdf", "name": "x", "content": "x"}]},
        )
    assert response.status_code == 422
    assert "body.evidence[1].content" in response.text
    assert "only 2.1.0" in response.text
    assert unknown.status_code == 422
    assert "evidence" in unknown.text
    with server.client("ci") as c:
        assert c.get("/v1/decisions").json()["decisions"] == []  # nothing decided, nothing lost


def test_check_server_sends_the_reports(live: Callable[..., Live]) -> None:
    server = live(policy=_policy())
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CLEARANCE_"))}
    environ["CLEARANCE_TOKEN"] = server.secrets["ci"]
    surefire = REPORTS / "TEST-org.apache.maven.surefire.test.FailingTest.xml"
    done = subprocess.run(
        [
            sys.executable, "-m", "clearance", "check", "--env", "production",
            "--cluster", "prod-eu", "--namespace", "shop", "--workload", "deployment/clean",
            "--evidence", f"junit:{surefire}",
            "--server", server.url,
        ],
        capture_output=True, text=True, env=environ, check=False,
    )  # fmt: skip
    assert done.returncode == 20, done.stderr
    assert "FailingTest.defaultTestValueIs_Value failed" in done.stdout
    assert "(maven-surefire): 2 test(s), 2 failed" in done.stdout
