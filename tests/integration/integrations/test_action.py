"""action.yml executed step by step as the runner would: inputs through env, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files, and a local stand-in of the Actions OIDC token endpoint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from clearance.integrations.settings import IntegrationSettings
from clearance.server.app import create_app
from clearance.server.routes.integrations import mount
from clearance.store.interface import ApprovalOutcome, Caller
from clearance.store.sql import SqlStore
from integration.integrations.integrations_harness import (
    FIXTURES,
    NOW,
    serve,
    service_context,
    write_scenario,
)
from standins._server import Loopback, StandInHandler

ROOT = FIXTURES.parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
AUDIENCE = "https://clearance.test"
REQUEST_TOKEN = "runner-request-token-0123456789"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


def run_action(inputs: dict[str, str], tmp: Path, extra_env: dict[str, str] | None = None) -> Run:
    """Run each step of the composite action with bash, as the runner does."""
    values = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()}
    values |= inputs
    out_file, summary_file = tmp / "github_output", tmp / "step_summary"
    out_file.write_text(""), summary_file.write_text("")
    base = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp),
        "GITHUB_OUTPUT": str(out_file),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_SHA": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_REPOSITORY": "octo-org/octo-repo",
        "GITHUB_RUN_ID": "4242",
        **(extra_env or {}),
    }

    def expand(text: str) -> str:
        text = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], text)
        return re.sub(r"\$\{\{\s*github\.action_path\s*\}\}", str(ROOT), text)

    stdout = stderr = ""
    code = 0
    for step in ACTION["runs"]["steps"]:
        condition = step.get("if")
        if condition:
            m = re.fullmatch(r"inputs\.([\w-]+) == '([^']*)'", condition)
            assert m, f"the harness does not understand if: {condition}"
            if values[m.group(1)] != m.group(2):
                continue
        assert "${{" not in step["run"], "inputs must reach run scripts through env"
        env = {**base, **{k: expand(str(v)) for k, v in step.get("env", {}).items()}}
        proc = subprocess.run(
            [step["shell"], "-c", step["run"]],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        stdout, stderr, code = stdout + proc.stdout, stderr + proc.stderr, proc.returncode
        if code:
            break
    outputs = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
    return Run(code, stdout, stderr, outputs, summary_file.read_text())


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    directory = tmp_path / "scenario"
    directory.mkdir()
    write_scenario(directory)
    os.utime(directory / "signals.jsonl")  # local mode decides at the current time: fresh data
    return directory


def local_inputs(scenario: Path, namespace: str, workload: str, **more: str) -> dict[str, str]:
    env = {"shop": "production", "stage": "staging"}[namespace]
    return {
        "environment": env,
        "cluster": "prod-eu",
        "namespace": namespace,
        "workload": workload,
        "config": str(scenario / "clearance.yaml"),
        "install": "false",
        "python": sys.executable,
        **more,
    }


def test_the_action_installs_clearance_from_its_own_checkout() -> None:
    install = ACTION["runs"]["steps"][0]
    assert install["env"]["CLEARANCE_ACTION_PATH"] == "${{ github.action_path }}"
    assert "-m pip install" in install["run"]
    assert '"$CLEARANCE_ACTION_PATH"' in install["run"]


def test_local_block_fails_the_step_with_summary_outputs_and_annotations(
    scenario: Path, tmp_path: Path
) -> None:
    run = run_action(local_inputs(scenario, "shop", "deployment/checkout"), tmp_path)
    assert run.code == 20, run.stderr
    assert run.outputs["verdict"] == "block"
    assert run.outputs["exit-code"] == "20"
    assert run.outputs["decision-id"]
    assert "Clearance: **block**" in run.summary
    assert "### Contributing detections" in run.summary
    assert "https://edr.example/detections/d1" in run.summary  # console link
    assert "::error title=Clearance: block::" in run.stdout


def test_local_approve_goes_on_under_fail_on_block_and_fails_under_approve(
    scenario: Path, tmp_path: Path
) -> None:
    run = run_action(local_inputs(scenario, "stage", "deployment/web"), tmp_path)
    assert run.code == 0, run.stderr
    assert run.outputs["verdict"] == "approve"
    assert run.outputs["exit-code"] == "10"
    assert "::warning title=Clearance::approval required" in run.stdout
    strict = run_action(
        local_inputs(scenario, "stage", "deployment/web", **{"fail-on": "approve"}), tmp_path
    )
    assert strict.code == 10


def test_missing_inputs_are_named(scenario: Path, tmp_path: Path) -> None:
    run = run_action(local_inputs(scenario, "shop", "deployment/checkout", cluster=""), tmp_path)
    assert run.code == 2
    assert "missing inputs: cluster" in run.stdout


# --- server mode, against the real service, authenticated by the job's OIDC token ---------------


class OidcHandler(StandInHandler):
    """The runner's token endpoint and the issuer's JWKS, as GitHub serves them."""

    def do_GET(self) -> None:  # noqa: N802
        if self.path_only == "/jwks":
            self.send_json(200, {"keys": [self.state["jwk"]]})
            return
        # The scheme is case-insensitive (RFC 9110 §11.1): GitHub's docs write "bearer", the
        # actions toolkit sends "Bearer".
        scheme, _, credential = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or credential != REQUEST_TOKEN:
            self.send_json(401, {"message": "Unauthorized"})
            return
        claims = dict(self.state["claims"], aud=self.query["audience"])
        token = jwt.encode(claims, self.state["key"], algorithm="RS256", headers={"kid": "k1"})
        self.state["issued"].append(token)
        self.send_json(200, {"count": 1, "value": token})


@dataclass
class Service:
    url: str
    oidc: str
    issued: list[str]
    store: SqlStore
    ctx: Any


@pytest.fixture
def service(scenario: Path, tmp_path: Path) -> Iterator[Service]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    fixture = json.loads((FIXTURES / "github/oidc-token.docs-example.json").read_text())
    wall = int(datetime.now(UTC).timestamp())  # PyJWT checks exp/nbf on the wall clock
    claims = dict(fixture["payload"], iat=wall, nbf=wall - 600, exp=wall + 300)
    state: dict[str, Any] = {"jwk": {**jwk, "kid": "k1", "use": "sig"}, "key": key}
    state |= {"claims": claims, "issued": []}
    store = SqlStore.open(f"sqlite:///{tmp_path / 'service.db'}")
    with Loopback(OidcHandler, state) as oidc:
        issuer = {
            "issuer": "https://token.actions.githubusercontent.com",
            "audience": AUDIENCE,
            "jwks_url": f"{oidc}/jwks",
            "subject_claim": "sub",
            "rules": [{"claims": {"repository": "octo-org/octo-repo"}, "scopes": ["decide"]}],
        }
        ctx = service_context(scenario, store, [issuer])
        app: FastAPI = create_app(ctx)
        mount(app, ctx, IntegrationSettings())
        with serve(app) as url:
            yield Service(url, oidc, state["issued"], store, ctx)
    store.close()


def server_inputs(service: Service, namespace: str, workload: str, **more: str) -> dict[str, str]:
    env = {"shop": "production", "stage": "staging"}[namespace]
    return {
        "server": service.url,
        "audience": AUDIENCE,
        "environment": env,
        "cluster": "prod-eu",
        "namespace": namespace,
        "workload": workload,
        "install": "false",
        "python": sys.executable,
        **more,
    }


def oidc_env(service: Service) -> dict[str, str]:
    return {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{service.oidc}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
    }


def test_server_block_authenticates_with_oidc_and_never_prints_the_token(
    service: Service, tmp_path: Path
) -> None:
    run = run_action(
        server_inputs(service, "shop", "deployment/checkout"), tmp_path, oidc_env(service)
    )
    assert run.code == 20, run.stdout + run.stderr
    assert run.outputs["verdict"] == "block"
    assert run.outputs["status"] == "block"
    assert "Clearance: **block**" in run.summary
    [token] = service.issued
    lines = run.stdout.splitlines()
    assert lines[:2] == [f"::add-mask::{REQUEST_TOKEN}", f"::add-mask::{token}"]
    rest = "\n".join(lines[2:]) + run.stderr + run.summary + json.dumps(run.outputs)
    assert token not in rest
    assert REQUEST_TOKEN not in rest
    [record] = service.store.list_decisions().records
    assert record.caller["method"] == "oidc"
    assert record.caller["subject"] == "user:repo:octo-org/octo-repo:environment:prod"
    assert record.decision["target"]["change"]["actor"] == "octocat"


def test_server_without_id_token_permission_says_so(service: Service, tmp_path: Path) -> None:
    run = run_action(server_inputs(service, "shop", "deployment/checkout"), tmp_path)
    assert run.code == 2
    assert "id-token: write" in run.stdout
    assert service.store.list_decisions().records == ()


def test_wait_for_approval_returns_once_approved(service: Service, tmp_path: Path) -> None:
    def approve_when_asked() -> None:
        for _ in range(1000):
            records = service.store.list_decisions().records
            if records:
                approver = Caller("alice", "token", groups=("engineering",))
                service.ctx.approvals.answer(
                    records[0].decision_id, approver, ApprovalOutcome.APPROVE, "checked", NOW
                )
                return
            time.sleep(0.01)

    helper = threading.Thread(target=approve_when_asked)
    helper.start()
    env = oidc_env(service) | {"CLEARANCE_POLL_SECONDS": "0.05"}
    inputs = server_inputs(service, "stage", "deployment/web", **{"wait-for-approval": "true"})
    run = run_action(inputs, tmp_path, env)
    helper.join()
    assert run.code == 0, run.stdout + run.stderr
    assert run.outputs["status"] == "approved"
    assert run.outputs["exit-code"] == "0"
    assert "waiting for approval of" in run.stderr  # progress on stderr, the decision on stdout
    assert "Approval needed: 0 of 1" in run.stdout  # the pending decision, shown while it waits
    assert "Status **approved** (exit 0)" in run.summary


def test_server_mode_sends_the_manifest_input(service: Service, tmp_path: Path) -> None:
    """A changed workload is judged by what its manifest runs, through the service too."""
    manifest = tmp_path / "ledger.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ledger"},
             "spec": {"template": {"spec": {"containers": [
                 {"name": "ledger", "image": "ghcr.io/acme/web:2.0"}]}}}}
        )
    )  # fmt: skip
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
    plain = run_action(
        server_inputs(service, "shop", "deployment/ledger"), tmp_path / "a", oidc_env(service)
    )
    assert plain.outputs["verdict"] == "proceed", plain.stdout + plain.stderr
    changed = run_action(
        server_inputs(service, "shop", "deployment/ledger", manifest=str(manifest)),
        tmp_path / "b",
        oidc_env(service),
    )
    assert changed.outputs["verdict"] != "proceed", changed.stdout + changed.stderr
    assert "CVE-2024-3094 (KEV)" in changed.summary


# --- the same gate from GitLab CI and Tekton: their example files, executed -------------------


def example_env(variables: dict[str, str], service: Service, token: str) -> dict[str, str]:
    env = {k: str(v) for k, v in variables.items()}
    env |= {"CLEARANCE_SERVER": service.url, "CLEARANCE_TOKEN": token}
    env |= {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": "/tmp"}
    return env


def api_token(service: Service) -> str:
    from clearance.store.interface import Scope

    _, secret = service.store.create_token("gitlab-ci", [Scope.DECIDE], NOW)
    return secret


def approve_when_asked(service: Service, approvers: int = 1) -> threading.Thread:
    """A person approving in Clearance (not in the CI system) once the decision is recorded."""

    def approve() -> None:
        for _ in range(2000):
            records = service.store.list_decisions().records
            if records:
                for n in range(approvers):
                    approver = Caller(f"person-{n}", "token", groups=("engineering",))
                    service.ctx.approvals.answer(
                        records[0].decision_id, approver, ApprovalOutcome.APPROVE, "checked", NOW
                    )
                return
            time.sleep(0.01)

    helper = threading.Thread(target=approve)
    helper.start()
    return helper


def run_script(
    command: str, env: dict[str, str], tmp_path: Path, report: str = "pytest-junit.passing.xml"
) -> subprocess.CompletedProcess[str]:
    # The test job's artifact, where the example's gate reads it (--evidence junit:reports/…).
    (tmp_path / "reports").mkdir(exist_ok=True)
    shutil.copy(ROOT / "tests/fixtures/reports" / report, tmp_path / "reports/junit.xml")
    # --poll-interval: the example polls every 5 s (the default); the test need not wait that long.
    return subprocess.run(
        ["bash", "-c", command + " --poll-interval 1s"],
        check=False,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


GITLAB = yaml.safe_load((ROOT / "examples/gitlab/.gitlab-ci.yml").read_text())
CI_VARIABLES = {
    "CI_REGISTRY_IMAGE": "registry.gitlab.example/acme/web",
    "CI_COMMIT_SHA": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
    "GITLAB_USER_LOGIN": "octocat",
}


def gitlab_env(service: Service, **target: str) -> dict[str, str]:
    variables = dict(GITLAB["variables"], **GITLAB["clearance"]["variables"], **CI_VARIABLES)
    return example_env(variables | target, service, api_token(service))


def test_the_gitlab_job_waits_for_clearances_own_approval(service: Service, tmp_path: Path) -> None:
    job = GITLAB["clearance"]
    assert "allow_failure" not in job  # approve is waited on, not let through as a warning
    assert job["image"] == {"name": "$CLEARANCE_IMAGE", "entrypoint": [""]}
    assert not any("pip install" in line for line in job["script"])
    deploy = GITLAB["deploy"]
    assert deploy["needs"] == ["clearance"]
    assert "rules" not in deploy  # no manual job testing a value written before the approval
    [command] = job["script"]
    env = gitlab_env(
        service, CLEARANCE_ENV="staging", CLEARANCE_NAMESPACE="stage",
        CLEARANCE_WORKLOAD="deployment/web",
    )  # fmt: skip
    helper = approve_when_asked(service)
    proc = run_script(command, env, tmp_path)
    helper.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = service.store.list_decisions().records
    assert records[0].caller["subject"] == "user:gitlab-ci"
    change = records[0].decision["target"]["change"]
    assert change == {"commit": CI_VARIABLES["CI_COMMIT_SHA"], "actor": "octocat"}


def test_the_gitlab_job_fails_on_block(service: Service, tmp_path: Path) -> None:
    [command] = GITLAB["clearance"]["script"]
    proc = run_script(command, gitlab_env(service), tmp_path)
    assert proc.returncode == 20, proc.stdout + proc.stderr


def test_the_gitlab_gate_rules_on_the_test_jobs_report(service: Service, tmp_path: Path) -> None:
    """The test job may fail (allow_failure) and still hand its report on; the gate sends it and
    the shipped policy blocks production on the failing test, naming it."""
    test_job = GITLAB["test"]
    assert test_job["allow_failure"] is True
    assert test_job["artifacts"]["when"] == "always"
    assert GITLAB["clearance"]["needs"] == ["test"]
    [command] = GITLAB["clearance"]["script"]
    env = gitlab_env(service, CLEARANCE_WORKLOAD="deployment/ledger")
    passing = run_script(command, env, tmp_path)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    failing = run_script(command, env, tmp_path, report="pytest-junit.failing.xml")
    assert failing.returncode == 20, failing.stdout + failing.stderr
    latest = service.store.list_decisions().records[0].decision
    assert "test_cart.test_discount_applies_once failed" in str(latest["reasons"])


TEKTON = yaml.safe_load((ROOT / "examples/tekton/task.yaml").read_text())


def run_tekton_step(
    service: Service, tmp_path: Path, token: str | None = None, **overrides: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The Task's step as Tekton runs it: ``$(params.…)`` substituted, results in a directory."""
    step = TEKTON["spec"]["steps"][0]
    params = {
        "server": service.url, "environment": "production", "cluster": "prod-eu",
        "namespace": "shop", "workload": "deployment/checkout", "images": "", "evidence": "",
        **overrides,
    }  # fmt: skip
    variables = {
        e["name"]: re.sub(r"\$\(params\.([\w-]+)\)", lambda m: params[m.group(1)], e["value"])
        for e in step["env"]
        if "value" in e
    }
    results = tmp_path / "results"
    results.mkdir(parents=True)
    variables["CLEARANCE_RESULTS_DIR"] = str(results)
    env = example_env(variables, service, token or api_token(service))
    proc = subprocess.run(
        ["sh", "-c", step["script"]], check=False, env=env, capture_output=True, text=True
    )
    return proc, results


def test_the_tekton_task_writes_its_declared_results(service: Service, tmp_path: Path) -> None:
    task = TEKTON
    assert task["spec"]["steps"][0]["onError"] == "continue"
    proc, results = run_tekton_step(service, tmp_path)
    assert proc.returncode == 20, proc.stdout + proc.stderr
    declared = {r["name"] for r in task["spec"]["results"]}
    written = {p.name for p in results.iterdir()}
    assert written == declared
    assert (results / "verdict").read_text() == "block"
    assert sum(p.stat().st_size for p in results.iterdir()) < 4096


def test_the_tekton_task_passes_its_evidence_param_on(service: Service, tmp_path: Path) -> None:
    ledger = {"workload": "deployment/ledger", "token": api_token(service)}
    clean, _ = run_tekton_step(service, tmp_path / "clean", **ledger)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = ROOT / "tests/fixtures/reports/pytest-junit.failing.xml"
    failing, results = run_tekton_step(
        service, tmp_path / "failing", **ledger, evidence=f"junit:{report}"
    )
    assert failing.returncode == 20, failing.stdout + failing.stderr
    assert (results / "verdict").read_text() == "block"
    latest = service.store.list_decisions().records[0].decision
    assert "test_cart.test_discount_applies_once failed" in str(latest["reasons"])


def test_the_github_example_is_least_privilege_and_pinned() -> None:
    workflow = yaml.safe_load((ROOT / "examples/github/deploy.yml").read_text())
    assert workflow["permissions"] == {}
    job = workflow["jobs"]["deploy"]
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert uses
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses)


def jenkins_script() -> tuple[str, dict[str, str], str]:
    text = (ROOT / "examples/jenkins/Jenkinsfile").read_text()
    [script] = re.findall(r"sh\(returnStatus: true, script: '''(.*?)'''\)", text, re.S)
    env = dict(re.findall(r"^\s+(CLEARANCE_\w+)\s+= '([^']*)'", text, re.M))
    return script, env, text


def test_the_jenkins_stage_waits_for_clearances_own_approval(
    service: Service, tmp_path: Path
) -> None:
    script, variables, text = jenkins_script()
    assert "input " not in text  # no Jenkins approval that bypasses Clearance's rules
    assert "pip install" not in text
    for code in ("rc == 10", "rc == 20", "rc != 0"):
        assert code in text
    variables |= {"CLEARANCE_ENV": "staging", "CLEARANCE_NAMESPACE": "stage"}
    variables |= {"CLEARANCE_WORKLOAD": "deployment/web", "GIT_COMMIT": "f95f852b"}
    helper = approve_when_asked(service)
    command = script.strip().replace("\\\n", " ")
    proc = run_script(command, example_env(variables, service, api_token(service)), tmp_path)
    helper.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- reports about the change: the `evidence` input -----------------------------------------

REPORTS = ROOT / "tests" / "fixtures" / "reports"


def test_a_failing_test_report_blocks_and_is_named_in_the_summary(
    scenario: Path, tmp_path: Path
) -> None:
    clean = run_action(local_inputs(scenario, "shop", "deployment/ledger"), tmp_path)
    assert clean.outputs["verdict"] == "proceed", clean.stdout + clean.stderr
    evidence = f"junit:{REPORTS / 'pytest-junit.failing.xml'}\n"
    run = run_action(
        local_inputs(scenario, "shop", "deployment/ledger", evidence=evidence), tmp_path
    )
    assert run.code == 20, run.stdout + run.stderr
    assert run.outputs["verdict"] == "block"
    assert "test_cart.test_discount_applies_once failed" in run.summary


def test_server_mode_sends_the_evidence_input(service: Service, tmp_path: Path) -> None:
    evidence = "\n".join(
        (
            f"junit:{REPORTS / 'pytest-junit.passing.xml'}",
            f"sarif:{REPORTS / 'semgrep.docs-example.sarif'}",
        )
    )
    run = run_action(
        server_inputs(service, "shop", "deployment/ledger", evidence=evidence),
        tmp_path,
        oidc_env(service),
    )
    assert run.outputs["verdict"] == "approve", run.stdout + run.stderr
    assert "dockerfile.security.missing-user.missing-user" in run.summary
