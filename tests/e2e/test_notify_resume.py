"""Durable delivery (issue 14), through a real ``clearance serve``: a notification whose first
attempt failed is still ``retrying`` (waiting out its backoff) when the process is killed; the
next start resumes it, and it arrives, with both attempts kept with the decision."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from served import Served, clearance, serve

from server_harness import start_receiver

EXAMPLES = Path(__file__).parents[2] / "examples"
IMAGE = "ghcr.io/acme/web:2.0"


def _setup(root: Path, hook: str) -> tuple[Path, str, tuple[str, ...]]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kev = {
        "uid": "edr:v1", "source": "edr", "kind": "known_exploited", "title": "CVE-2024-3094",
        "severity": 4, "confidence": 1.0, "status": "open", "first_seen": now, "last_seen": now,
        "assets": [f"image:{IMAGE}"],
    }  # fmt: skip
    (root / "edr.jsonl").write_text(json.dumps(kev) + "\n")
    target = {"cluster": "eu", "namespace": "stage", "workload": "deployment/web",
              "assets": {"direct": [f"image:{IMAGE}"], "host": ["host:node-b"]}}  # fmt: skip
    (root / "inventory.yaml").write_text(yaml.safe_dump({"targets": [target]}))
    (root / "policy.yaml").write_text((EXAMPLES / "policy.yaml").read_text())
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "edr", "type": "file", "path": "edr.jsonl"}],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    database = f"sqlite:///{root / 'notify.db'}"
    synced = clearance("sync", "--config", str(root / "clearance.yaml"), "--database", database)
    assert synced.code == 0, synced.err
    # A long backoff: the retry is still waiting when the process is killed.
    settings = {"server": {"notify": {"retries": 3, "backoff": 60, "environments": {
        "staging": {"webhook_url": hook, "events": ["approval_needed"]}}}}}  # fmt: skip
    (root / "server.yaml").write_text(yaml.safe_dump(settings))
    return root / "clearance.yaml", database, ("--settings", str(root / "server.yaml"), "--no-sync")


def _until(check: Callable[[], Any], what: str) -> Any:
    for _ in range(600):  # a generous bound: the assertion is on what arrives, not when
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _callbacks(service: Served, decision_id: str, who: str = "ci") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        service.get(f"/v1/decisions/{decision_id}", who).json().get("callbacks", [])
    )
    return found


def test_a_delivery_left_retrying_by_a_killed_process_is_resumed_by_the_next_start(
    tmp_path: Path,
) -> None:
    receiver, stop = start_receiver()
    try:
        receiver.fail_next.append(503)  # the receiver is down for the first attempt
        config, database, flags = _setup(tmp_path, receiver.url + "/hook")
        with serve(config, database, *flags) as first:
            answer = first.decide(
                {"environment": "staging", "cluster": "eu", "namespace": "stage",
                 "workload": "deployment/web", "images": [IMAGE]}
            )  # fmt: skip
            assert answer["status"] == "pending_approval"
            decision_id = answer["id"]
            (waiting,) = _until(
                lambda: [c for c in _callbacks(first, decision_id) if c["outcome"] == "retrying"],
                "the failed first attempt",
            )
            assert waiting["attempts"][0]["status"] == 503
            first.process.kill()  # no shutdown: the retry dies with the process
            first.process.wait()
        assert receiver.received == []

        # Its own token: the first start's are in the database already.
        with serve(config, database, *flags, tokens={"ci2": "decide"}) as second:
            (event,) = _until(lambda: receiver.received, "the resumed delivery")
            assert event["event"] == "approval.approval_needed"
            assert event["decision"]["id"] == decision_id
            (done,) = _until(
                lambda: [
                    c for c in _callbacks(second, decision_id, "ci2") if c["outcome"] == "delivered"
                ],
                "the delivery recorded",
            )
            assert [a.get("status") for a in done["attempts"]] == [503, 200]
            assert "body" not in done  # kept for the resume, not shown
    finally:
        stop()
