"""``clearance check`` against a real ``clearance serve``: the same output as a local check.

One fleet on disk (a file source, a static inventory, the builders' policy) is decided twice:
by the service, after ``clearance sync`` stored the source, and locally from the same files at the
service's decision time (``--now``). Every decision field the two modes share must be equal and
rendered the same; the service only adds where the decision stands there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_fleet import Fleet, Result, signal
from served import Served, clearance, environ, serve_synced

from builders import POLICY_YAML

HOSTS = {"clean": "node-a", "medium": "node-b", "hot": "node-c", "review": "node-d"}
EXIT = {"clean": 0, "medium": 10, "hot": 20}
# Fields a local check and the service compute from the same inputs at the same time. The id,
# the inputs digest and the sources' ages differ: the service's source age is its last sync.
SHARED = ("at", "target", "verdict", "score", "band", "thresholds", "reasons", "contributors",
          "suppressed", "exceptions", "exposure", "approvals", "degraded", "notes",
          "policy_digest", "schema_version")  # fmt: skip


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("fleet")
    (root / "policy.yaml").write_text(POLICY_YAML)
    targets = [
        {"cluster": "prod-eu", "namespace": "shop", "workload": f"deployment/{name}",
         "assets": {"direct": [f"pod:shop/{name}-1"], "host": [f"host:{host}.corp.example"]}}
        for name, host in HOSTS.items()
    ]  # fmt: skip
    (root / "inventory.yaml").write_text(yaml.safe_dump({"targets": targets}))
    f = Fleet(root)
    f.write_config()
    seen = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    times = {"first_seen": stamp(seen - timedelta(minutes=10)), "last_seen": stamp(seen)}
    f.write_signals(
        [
            signal("1", 3, "node-b", **times),  # medium: approval in production
            signal("2", 5, "NODE-C", **times),  # critical: block
            signal("3", 3, "node-d", **times),  # review: the --wait test's own target
        ]
    )
    return f


@pytest.fixture(scope="module")
def served(fleet: Fleet) -> Iterator[Served]:
    with serve_synced(fleet.config, fleet.root) as s:
        yield s


def target(workload: str) -> list[str]:
    return ["--env", "production", "--cluster", "prod-eu", "--namespace", "shop",
            "--workload", f"deployment/{workload}"]  # fmt: skip


def remote(served: Served, workload: str, *flags: str, **env: str) -> Result:
    return clearance("check", *target(workload), *flags, env=served.env(**env))


def local(fleet: Fleet, workload: str, now: str, *flags: str, **env: str) -> Result:
    return clearance(
        "check", *target(workload), "--config", str(fleet.config), "--now", now, *flags, env=env
    )


def both_json(fleet: Fleet, served: Served, workload: str) -> tuple[dict[str, Any], dict[str, Any]]:
    asked = remote(served, workload, "--format", "json")
    assert asked.code == EXIT[workload], asked.err
    there = json.loads(asked.out)
    here = local(fleet, workload, there["at"], "--format", "json")
    assert here.code == EXIT[workload], here.err
    return there, json.loads(here.out)


@pytest.mark.parametrize("workload", list(EXIT))
def test_json_is_the_decision_object_in_both_modes(
    fleet: Fleet, served: Served, workload: str
) -> None:
    there, here = both_json(fleet, served, workload)
    assert set(there) == {*here, "service"}
    assert {k: there[k] for k in SHARED} == {k: here[k] for k in SHARED}
    service = there["service"]
    status = {"clean": "proceed", "medium": "pending_approval", "hot": "block"}[workload]
    assert (service["status"], service["exit_code"]) == (status, EXIT[workload])
    assert service["requested_by"] == "user:ci"
    # The decision part is the recorded decision, byte for byte (no field lost on the way).
    recorded = served.get(f"/v1/decisions/{there['id']}").json()["decision"]
    assert {k: v for k, v in there.items() if k != "service"} == recorded


def test_the_service_is_named_by_the_environment_as_pipelines_do(served: Served) -> None:
    asked = remote(served, "hot")  # no --server: $CLEARANCE_SERVER and $CLEARANCE_TOKEN
    assert asked.code == 20, asked.err
    assert asked.out.startswith("BLOCK")
    assert served.tokens["ci"] not in asked.out + asked.err
    flagged = clearance(
        "check", *target("hot"), "--server", served.base,
        env={"CLEARANCE_TOKEN": served.tokens["ci"]},
    )  # fmt: skip
    assert flagged.code == 20, flagged.err


def without(text: str, *prefixes: str) -> list[str]:
    return [line for line in text.splitlines() if not line.lstrip().startswith(prefixes)]


def test_text_and_explain_render_the_same_in_both_modes(fleet: Fleet, served: Served) -> None:
    asked = remote(served, "hot", "--explain")
    assert asked.code == 20, asked.err
    decision_id = next(w for w in asked.out.split() if w.startswith("dec_"))
    at = served.get(f"/v1/decisions/{decision_id}").json()["decision"]["at"]
    here = local(fleet, "hot", at, "--explain")
    assert here.code == 20, here.err
    # The same report, line for line, but for the decision id/digest line, the source's age
    # (the service's is its last sync) and the service's own line.
    mine = without(here.out, "decision dec_", "edr ")
    theirs = without(asked.out, "decision dec_", "edr ", "service ")
    assert theirs == mine
    assert "risk = 100 × (1 − (1 − " in asked.out  # the explanation, remotely too
    assert "service  block (exit 20)" in asked.out


def test_github_format_writes_outputs_summary_and_annotations_in_both_modes(
    fleet: Fleet, served: Served, tmp_path: Path
) -> None:
    def files(name: str) -> dict[str, str]:
        (tmp_path / name).mkdir()
        paths = {
            "GITHUB_OUTPUT": tmp_path / name / "out",
            "GITHUB_STEP_SUMMARY": tmp_path / name / "sum",
        }
        for p in paths.values():
            p.write_text("")
        return {k: str(v) for k, v in paths.items()}

    remote_files, local_files = files("remote"), files("local")
    asked = remote(served, "medium", "--format", "github", **remote_files)
    assert asked.code == 10, asked.err
    outputs = dict(
        line.split("=", 1) for line in Path(remote_files["GITHUB_OUTPUT"]).read_text().splitlines()
    )
    at = served.get(f"/v1/decisions/{outputs['decision-id']}").json()["decision"]["at"]
    here = local(fleet, "medium", at, "--format", "github", **local_files)
    assert here.code == 10, here.err
    mine = dict(
        line.split("=", 1) for line in Path(local_files["GITHUB_OUTPUT"]).read_text().splitlines()
    )
    assert {k: outputs[k] for k in ("verdict", "score")} == {
        k: mine[k] for k in ("verdict", "score")
    }
    assert set(outputs) == {*mine, "status"}
    assert outputs["status"] == "pending_approval"
    annotations = [line for line in asked.out.splitlines() if line.startswith("::")]
    assert annotations
    assert annotations == [line for line in here.out.splitlines() if line.startswith("::")]
    summary = Path(remote_files["GITHUB_STEP_SUMMARY"]).read_text()
    local_summary = Path(local_files["GITHUB_STEP_SUMMARY"]).read_text()
    table = [line for line in local_summary.splitlines() if line.startswith("| approve")]
    assert table
    assert all(row in summary for row in table)
    assert "Status **pending_approval** (exit 10)" in summary
    assert f"clearance approve {outputs['decision-id']}" in summary


def test_wait_returns_once_approved_through_the_api(served: Served) -> None:
    waiting = subprocess.Popen(
        [sys.executable, "-m", "clearance", "check", *target("review"), "--format", "json",
         "--wait", "--poll-interval", "0.2s", "--report-every", "1s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ(served.env()),
    )  # fmt: skip
    pending: list[dict[str, Any]] = []
    for _ in range(300):
        listed = served.get("/v1/decisions?target=prod-eu/shop/deployment/review")
        pending = listed.json()["decisions"]
        if pending:
            break
        time.sleep(0.05)
    assert pending, "the waiting check never asked"
    decision_id = pending[0]["id"]
    for who in ("alice", "bob"):
        body = {"outcome": "approve", "reason": f"{who} looked"}
        given = served.post(f"/v1/decisions/{decision_id}/approvals", body, who)
        assert given.status_code == 201, given.text
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert f"waiting for approval of {decision_id}" in err
    answer = json.loads(out)  # one document, the final answer: pending output is not JSON's
    assert answer["verdict"] == "approve"
    assert answer["service"]["status"] == "approved"
    assert sorted(answer["service"]["approval"]["approvers"]) == ["user:alice", "user:bob"]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--now", "2026-11-28T12:00:00Z"], "audit replay"),
        (["--demo"], "--demo"),
        (["--database", "sqlite:///here.db"], "--database"),
    ],
)
def test_local_only_flags_are_refused_with_a_server(flags: list[str], named: str) -> None:
    env = {"CLEARANCE_SERVER": "http://127.0.0.1:9", "CLEARANCE_TOKEN": "t0ken-never-used"}
    done = clearance("check", *target("hot"), *flags, env=env)
    assert done.code == 2
    assert named in done.err
    assert "t0ken-never-used" not in done.out + done.err
