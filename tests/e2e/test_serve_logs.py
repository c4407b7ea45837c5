"""``clearance serve --log-format json``: one JSON object a line on stderr, a request id per HTTP
request (the caller's ``X-Request-ID`` kept and returned, else a new one), and no secret."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from cli_fleet import Fleet
from served import environ, free_port

FORGED = 'x" level="info' + "y" * 200


def serve_json(fleet: Fleet, tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    database = f"sqlite:///{tmp_path / 'service.db'}"
    made = subprocess.run(
        [sys.executable, "-m", "clearance", "tokens", "create", "ci", "--scope", "decide",
         "--database", database],
        capture_output=True, text=True, env=environ(), check=True,
    )  # fmt: skip
    token = made.stdout.strip()
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "clearance", "serve", "--config", str(fleet.config),
             "--database", database, "--port", str(port), "--log-format", "json"],
            stdout=subprocess.DEVNULL, stderr=err, env=environ(),
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    return process, base, token, log


def lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_json_logs_carry_request_ids_and_no_secret(fleet: Fleet, tmp_path: Path) -> None:
    process, base, token, log = serve_json(fleet, tmp_path)
    body = {"environment": "production", "cluster": "prod-eu", "namespace": "shop",
            "workload": "deployment/clean"}  # fmt: skip
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            mine = client.post(
                "/v1/decisions", json=body,
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "pipeline-42.7"},
            )  # fmt: skip
            theirs = client.post(
                "/v1/decisions?token=clr_in_the_query", json=body,
                headers={"Authorization": "Bearer clr_not_a_real_token"},
            )  # fmt: skip
            forged = client.get("/healthz", headers={"X-Request-ID": FORGED})
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert mine.status_code == 200, mine.text
    assert mine.headers["X-Request-ID"] == "pipeline-42.7"  # the caller's id, returned
    assert theirs.status_code == 401
    generated = theirs.headers["X-Request-ID"]
    assert generated
    assert generated != "pipeline-42.7"
    # An id that could forge log fields or bloat every line is replaced, not echoed.
    assert forged.headers["X-Request-ID"] != FORGED
    assert len(forged.headers["X-Request-ID"]) <= 128

    entries = lines(log)  # every line is one JSON object (json.loads fails otherwise)
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    access = [e for e in entries if e["logger"] == "clearance.access"]
    decided = [e for e in access if e["request_id"] == "pipeline-42.7"]
    assert [(e["method"], e["path"], e["status"]) for e in decided] == [
        ("POST", "/v1/decisions", 200)
    ]
    refused = [e for e in entries if e.get("request_id") == generated]
    # The refusal's own warning and its access line share the request's id.
    assert {e["logger"] for e in refused} == {"clearance.server.auth", "clearance.access"}
    text = log.read_text()
    for secret in (token, "clr_not_a_real_token", "clr_in_the_query"):
        assert secret not in text
