"""Smoke tests as evidence of the change (issue 19), through a real ``clearance serve``.

A pipeline deploys what a decision cleared, runs its smoke tests, and records the JUnit report
(``clearance deployed ID --check junit:FILE`` or ``POST /v1/decisions/{id}/checks``). Under the
shipped policy, a failed check of the same release (same image digests) in staging makes the
production deploy of that release need approval, naming the failed test; so does a failed check
of the release running on the production target itself. A later passing check clears it; a
different release is not affected. The check is in the audit chain, the decisions it changed
replay byte for byte, and bad requests get a 4xx naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from served import Served, clearance, serve

EXAMPLES = Path(__file__).parents[2] / "examples"
REPORTS = Path(__file__).parents[1] / "fixtures" / "reports"
FAILING = REPORTS / "pytest-junit.failing.xml"  # test_discount_applies_once and one more fail
PASSING = REPORTS / "pytest-junit.passing.xml"
WORKLOADS = ("checkout", "ledger", "basket")


def _image(name: str, release: str) -> str:
    return f"ghcr.io/acme/{name}:1.4@sha256:{release * 64}"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("smoke")
    (root / "edr.jsonl").write_text("")  # a source that reports nothing: a quiet fleet
    targets = [
        {"cluster": "eu", "namespace": "shop", "workload": f"deployment/{name}",
         "assets": {"direct": [f"image:ghcr.io/acme/{name}:1.4"], "host": ["host:node-1"]}}
        for name in WORKLOADS
    ]  # fmt: skip
    (root / "inventory.yaml").write_text(yaml.safe_dump({"targets": targets}))
    (root / "policy.yaml").write_text((EXAMPLES / "policy.yaml").read_text())
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "falcon", "type": "file", "path": "edr.jsonl"}],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    database = f"sqlite:///{root / 'smoke.db'}"
    synced = clearance("sync", "--config", str(root / "clearance.yaml"), "--database", database)
    assert synced.code == 0, synced.err
    tokens = {"ci": "decide", "pusher": "ingest"}
    with serve(root / "clearance.yaml", database, "--no-sync", tokens=tokens) as served:
        yield served


def _decide(service: Served, environment: str, workload: str, release: str) -> dict[str, Any]:
    return service.decide(
        {"environment": environment, "cluster": "eu", "namespace": "shop",
         "workload": f"deployment/{workload}", "images": [_image(workload, release)]}
    )  # fmt: skip


def _check(service: Served, decision_id: str, report: Path, who: str = "ci") -> Any:
    body = {"report": {"format": "junit", "name": report.name, "content": report.read_text()}}
    return service.post(f"/v1/decisions/{decision_id}/checks", body, who)


def _smoke_reasons(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in answer["decision"]["reasons"] if r["code"] == "rule:failed-smoke-check"]


def test_a_failed_smoke_check_in_staging_holds_the_release_in_production(service: Served) -> None:
    staged = _decide(service, "staging", "checkout", "a")
    assert staged["decision"]["verdict"] == "proceed"
    noted = service.clearance(
        "deployed", staged["id"], "--check", f"junit:{FAILING}", "--format", "json"
    )
    assert noted.returncode == 0, noted.stderr
    (check,) = json.loads(noted.stdout)["checks"]
    assert check["failed"] == 2
    assert check["environment"] == "staging"

    promoted = _decide(service, "production", "checkout", "a")
    assert promoted["decision"]["verdict"] == "approve"
    reasons = _smoke_reasons(promoted)
    assert len(reasons) == 2  # one per failed test, each named
    told = " ".join(r["message"] for r in reasons)
    assert "test_discount_applies_once" in told
    assert "test_checkout_calls_payment" in told
    assert "this release in staging" in told
    assert staged["id"] in told

    # Another release of the same workload is not held by this release's failed check.
    other = _decide(service, "production", "checkout", "b")
    assert other["decision"]["verdict"] == "proceed", other["decision"]["reasons"]
    assert not _smoke_reasons(other)


def test_a_passing_re_run_clears_it(service: Served) -> None:
    staged = _decide(service, "staging", "ledger", "c")
    assert _check(service, staged["id"], FAILING).status_code == 201
    assert _decide(service, "production", "ledger", "c")["decision"]["verdict"] == "approve"
    rerun = _check(service, staged["id"], PASSING)
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["check"]["failed"] == 0
    cleared = _decide(service, "production", "ledger", "c")
    assert cleared["decision"]["verdict"] == "proceed", cleared["decision"]["reasons"]
    listed = service.get(f"/v1/decisions/{staged['id']}/checks")
    assert [c["failed"] for c in listed.json()["checks"]] == [2, 0]


def test_a_failed_check_of_the_running_release_counts_for_the_next_deploy(service: Served) -> None:
    running = _decide(service, "production", "basket", "d")
    assert running["decision"]["verdict"] == "proceed"
    noted = service.clearance("deployed", running["id"], "--check", f"junit:{FAILING}")
    assert noted.returncode == 0, noted.stderr
    assert "2 failed" in noted.stdout

    fix = _decide(service, "production", "basket", "e")
    assert fix["decision"]["verdict"] == "approve"
    told = " ".join(r["message"] for r in _smoke_reasons(fix))
    assert "the release running in production" in told
    assert running["id"] in told

    # The record: each check sealed in the chain, and the decisions it changed replay the same.
    verified = clearance("audit", "verify", "--database", service.database, "--format", "json")
    assert verified.code == 0, verified.out + verified.err
    replayed = clearance("audit", "replay", fix["id"], "--database", service.database)
    assert replayed.code == 0, replayed.out + replayed.err
    exported = clearance("audit", "export", "--database", service.database)
    records = [json.loads(line) for line in exported.out.splitlines()]
    sealed = [r for r in records if r.get("kind") == "check.recorded"]
    assert {r["state"]["decision_id"] for r in sealed} >= {running["id"]}
    (recorded,) = [r for r in records if r.get("decision_id") == fix["id"]]
    assert [c["relation"] for c in recorded["snapshot"]["checks"]] == ["previous"]

    # Once the fix is deployed, the release its check was about no longer runs there.
    assert service.clearance("deployed", fix["id"]).returncode == 0
    after = _decide(service, "production", "basket", "e")
    assert after["decision"]["verdict"] == "proceed", after["decision"]["reasons"]


def test_bad_check_requests_are_refused_naming_the_field(service: Served) -> None:
    staged = _decide(service, "staging", "checkout", "f")
    sarif = {"report": {"format": "sarif", "name": "x.sarif", "content": "{}"}}
    wrong = service.post(f"/v1/decisions/{staged['id']}/checks", sarif)
    assert wrong.status_code == 422
    assert "body.report.format" in wrong.text
    broken = {"report": {"format": "junit", "name": "x.xml", "content": "<testsuite"}}
    unread = service.post(f"/v1/decisions/{staged['id']}/checks", broken)
    assert unread.status_code == 422
    assert "body.report.content" in unread.text
    assert _check(service, "dec_" + "0" * 24, FAILING).status_code == 404
    assert _check(service, staged["id"], FAILING, "pusher").status_code == 403
    anonymous = service.client.post(f"/v1/decisions/{staged['id']}/checks", json=sarif)
    assert anonymous.status_code == 401
    # Nothing was recorded by the refused requests.
    assert service.get(f"/v1/decisions/{staged['id']}/checks").json()["checks"] == []
