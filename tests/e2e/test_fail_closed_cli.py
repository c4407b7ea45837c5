"""The CLI fails closed on what the service says (issue #11, observation 15): a status it does
not know is never a deploy, and an exception scope that bends is refused naming the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from server_harness import Live, start_live


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Live]:
    live, stop = start_live(f"sqlite:///{tmp_path / 'service.db'}", tmp_path)
    yield live
    stop()


@pytest.fixture
def future_service(server: Live) -> Iterator[str]:
    """A service that answers a real decision with a status this client has never heard of
    (a newer release, or a broken proxy), and says exit code 0."""
    answer: dict[str, Any] = server.ask("clean")
    answer.update(status="teleported", exit_code=0)
    payload = json.dumps(answer).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_address[1]}"
    http.shutdown()
    http.server_close()


def _environ(**extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CLEARANCE_"))}
    return {**kept, **extra}


def _run(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


TARGET = ["--env", "production", "--cluster", "prod-eu", "--namespace", "shop"]


def test_check_refuses_a_status_it_does_not_know(future_service: str) -> None:
    done = _run(
        ["clearance", "check", *TARGET, "--workload", "deployment/clean", "--server",
         future_service],
        _environ(CLEARANCE_TOKEN="clr_anything"),
    )  # fmt: skip
    assert done.returncode == 5, done.stdout + done.stderr
    assert "teleported" in done.stderr
    assert "refusing to proceed" in done.stderr


def test_the_pipeline_gate_refuses_a_status_it_does_not_know(
    future_service: str, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs"
    done = _run(
        ["clearance.cli.gate"],
        _environ(
            CLEARANCE_SERVER=future_service,
            CLEARANCE_TOKEN="clr_anything",
            CLEARANCE_ENV="production",
            CLEARANCE_CLUSTER="prod-eu",
            CLEARANCE_NAMESPACE="shop",
            CLEARANCE_WORKLOAD="deployment/clean",
            CLEARANCE_FAIL_ON="block",
            CLEARANCE_FORMAT="text",
            GITHUB_OUTPUT=str(outputs),
        ),
    )
    # The gate fails as `check --server` does (one code path): 5, the service's answer unusable.
    assert done.returncode == 5, done.stdout + done.stderr
    assert "teleported" in done.stdout + done.stderr
    assert "verdict=proceed" not in (outputs.read_text() if outputs.exists() else "")


def test_exceptions_create_refuses_a_wildcard_naming_the_field(server: Live) -> None:
    done = _run(
        ["clearance", "exceptions", "create", "--signal", "edr:2", *TARGET[:2],
         "--cluster", "*", "--namespace", "shop", "--workload", "deployment/hot",
         "--expires-in", "2h", "--reason", "every cluster, please", "--ticket", "SEC-1",
         "--server", server.url],
        _environ(CLEARANCE_TOKEN=server.secrets["root"]),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "422" in done.stderr
    assert "body.cluster" in done.stderr
    assert "wildcard" in done.stderr
    too_long = _run(
        ["clearance", "exceptions", "create", "--rule", "stance:source_down", *TARGET,
         "--workload", "deployment/hot", "--expires-in", "3650d", "--reason", "forever",
         "--ticket", "SEC-2", "--server", server.url],
        _environ(CLEARANCE_TOKEN=server.secrets["root"]),
    )  # fmt: skip
    assert too_long.returncode == 2
    assert "body.rule" in too_long.stderr


def test_tokens_have_an_owner(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'tokens.db'}"
    made = _run(
        ["clearance", "tokens", "create", "alice-laptop", "--scope", "approve", "--owner",
         "Alice", "--database", database],
        _environ(),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "owner=user:alice" in made.stderr
    legacy = _run(
        ["clearance", "tokens", "create", "ci", "--scope", "decide", "--database", database],
        _environ(),
    )  # fmt: skip
    assert legacy.returncode == 0, legacy.stderr
    listed = _run(["clearance", "tokens", "list", "--database", database], _environ())
    assert "alice-laptop  owner=user:alice" in listed.stdout
    assert "ci  owner=user:ci" in listed.stdout
    bad = _run(
        ["clearance", "tokens", "create", "x", "--scope", "decide", "--owner", "token:alice",
         "--database", database],
        _environ(),
    )  # fmt: skip
    assert bad.returncode == 2
    assert "--owner" in bad.stderr
    assert "reserved" in bad.stderr
