"""A real `clearance serve` signs checkpoints by itself, and its log verifies across a restart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

CHECKOUT = {
    "environment": "production",
    "cluster": "prod-eu",
    "namespace": "shop",
    "workload": "deployment/checkout",
}


def _clearance(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clearance", *args],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
        timeout=120,
    )


def _serve(
    environ: dict[str, str], database: str, settings: Path
) -> tuple[subprocess.Popen[str], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "clearance", "serve", "--demo", "--no-sync", "--port", str(port),
         "--database", database, "--settings", str(settings)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    return process, base


def _copy(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _head(environ: dict[str, str], database: str) -> int:
    done = _clearance(environ, "audit", "verify", "--database", database, "--format", "json")
    return int(json.loads(done.stdout)["head"]["seq"])


def _wait_for_checkpoint_of(copy: Path, seq: int) -> None:
    for _ in range(300):
        if any(c["seq"] == seq for c in _copy(copy)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of seq {seq} in {_copy(copy)}")


def test_serve_writes_checkpoints_and_the_log_verifies_after_a_restart(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
    database = f"sqlite:///{tmp_path / 'service.db'}"
    made = _clearance(environ, "audit", "keygen", str(tmp_path / "audit.pem"))
    assert made.returncode == 0, made.stderr
    (tmp_path / "anchor").mkdir()
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "server:\n"
        "  token_groups: {oncall: [security]}\n"  # break-glass takes the approver group
        "  audit:\n"
        "    signing_key: audit.pem\n"  # relative to this file
        "    checkpoint_every: 3\n"
        "    checkpoint_interval: 1s\n"
        "    checkpoints_file: anchor/checkpoints.jsonl\n"
    )
    copy = tmp_path / "anchor" / "checkpoints.jsonl"
    tokens = {}
    for name, scope in (("ci", "decide"), ("oncall", "approve")):
        created = _clearance(environ, "tokens", "create", name, "--scope", scope,
                             "--database", database)  # fmt: skip
        assert created.returncode == 0, created.stderr
        tokens[name] = created.stdout.strip()

    for run in range(2):  # the second run is the restart
        serving, base = _serve(environ, database, settings)
        try:
            ask = {"Authorization": f"Bearer {tokens['ci']}"}
            ids = []
            for commit in ("a", "b", "c", "d"):
                answer = httpx.post(
                    base + "/v1/decisions",
                    headers=ask,
                    json={**CHECKOUT, "change": {"commit": f"{run}{commit}"}},
                )
                assert answer.status_code == 200, answer.text
                ids.append(answer.json()["decision"]["id"])
            grant = httpx.post(
                f"{base}/v1/decisions/{ids[0]}/break-glass",
                headers={"Authorization": f"Bearer {tokens['oncall']}"},
                json={"reason": "payment outage", "ticket": f"INC-{run}"},
            )
            assert grant.status_code == 201, grant.text
            # Written by the service on its own: no command asked for this one.
            _wait_for_checkpoint_of(copy, _head(environ, database))
        finally:
            serving.terminate()
            _, err = serving.communicate(timeout=20)
        assert "audit: signing checkpoints with ed25519:" in err
        assert tokens["ci"] not in err

    written = _copy(copy)
    assert [c["seq"] for c in written] == sorted(c["seq"] for c in written)
    verified = _clearance(
        environ, "audit", "verify", "--database", database,
        "--public-key", str(tmp_path / "audit.pem.pub"), "--settings", str(settings),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "break_glass.requested=2, decision=8" in verified.stdout
    assert f"the latest covers seq {_head(environ, database)}" in verified.stdout
