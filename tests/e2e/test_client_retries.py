"""The real CLI and pipeline gate against a misbehaving service: one client, one retry policy.

The stand-in (tests/standins/clearance_service.py) answers 503 and 429 with ``Retry-After: 0``
before it answers, or echoes the bearer back in a 401, as a careless proxy might.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from served import clearance, environ

from builders import NOW, exposure, fresh, make_policy, signal, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import Decision, Severity, Snapshot
from clearance.model.standing import Standing
from clearance.render.output import document
from standins._server import Loopback
from standins.clearance_service import ClearanceHandler, ServiceState, answer_body, busy

TOKEN = "clr_never-print-me-0123456789"
TARGET = ["--env", "production", "--cluster", "prod-eu", "--namespace", "shop",
          "--workload", "deployment/api"]  # fmt: skip


def blocked() -> Decision:
    tgt = target()
    exp = exposure(tgt, host=("host:node-1",))
    snapshot = Snapshot(
        exp, SignalIndex([signal(severity=Severity.CRITICAL)]).match(exp), (fresh(),)
    )
    return decide(tgt, snapshot, make_policy(), NOW)


@pytest.fixture
def state() -> ServiceState:
    return ServiceState(answer_body(blocked(), "block", 20))


@pytest.fixture
def url(state: ServiceState) -> Iterator[str]:
    with Loopback(ClearanceHandler, state) as base:
        yield base


def gate(url: str, tmp_path: Path, **more: str) -> subprocess.CompletedProcess[str]:
    env = {"CLEARANCE_SERVER": url, "CLEARANCE_TOKEN": TOKEN, "CLEARANCE_ENV": "production",
           "CLEARANCE_CLUSTER": "prod-eu", "CLEARANCE_NAMESPACE": "shop",
           "CLEARANCE_WORKLOAD": "deployment/api", **more}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "clearance.cli.gate"],
        capture_output=True, text=True, env=environ(env), check=False, cwd=tmp_path, timeout=60,
    )  # fmt: skip


def test_check_retries_a_busy_service_and_prints_its_answer(state: ServiceState, url: str) -> None:
    state.scripted.queue(*busy(503, "0"))
    state.scripted.queue(*busy(429, "0"))
    done = clearance("check", *TARGET, "--server", url, "--format", "json",
                     env={"CLEARANCE_TOKEN": TOKEN})  # fmt: skip
    assert done.code == 20, done.err
    assert [m for m, _ in state.scripted.requests] == ["POST"] * 3
    expected = document(blocked(), Standing.from_dict(state.answer))
    assert json.loads(done.out) == expected


def test_the_gate_retries_through_the_same_client(
    state: ServiceState, url: str, tmp_path: Path
) -> None:
    state.scripted.queue(*busy(503, "0"))
    done = gate(url, tmp_path, CLEARANCE_FORMAT="text", CLEARANCE_DOTENV="clearance.env")
    assert done.returncode == 20, done.stdout + done.stderr
    assert len(state.scripted.requests) == 2
    dotenv = dict(line.split("=", 1) for line in (tmp_path / "clearance.env").read_text().split())
    assert dotenv == {
        "CLEARANCE_VERDICT": "block", "CLEARANCE_SCORE": f"{blocked().score:g}",
        "CLEARANCE_DECISION_ID": blocked().id, "CLEARANCE_STATUS": "block",
        "CLEARANCE_EXIT_CODE": "20",
    }  # fmt: skip
    assert done.stdout.startswith("BLOCK")  # the same text renderer as clearance check


def test_neither_check_nor_the_gate_prints_the_token(
    state: ServiceState, url: str, tmp_path: Path
) -> None:
    state.echo_auth = True
    done = clearance("check", *TARGET, "--server", url, env={"CLEARANCE_TOKEN": TOKEN})
    assert done.code == 2
    assert "token Bearer *** is not known here" in done.err
    assert TOKEN not in done.out + done.err
    gated = gate(url, tmp_path)
    assert gated.returncode == 2
    assert "::error title=Clearance could not decide::" in gated.stdout
    assert TOKEN not in gated.stdout + gated.stderr
    assert state.bearers == [f"Bearer {TOKEN}"] * 2
