"""Watching after the deploy, through a real ``clearance serve``: a deployed target whose node gets
a new critical detection raises the alert at a real webhook receiver on the next watch pass,
with no new deploy request; the alert is in the record and counted; it is raised once. A deploy
made by break-glass over a known block alerts on what is new, not on what was waived.

The service watches every second (``server.watch.interval: 1s``) and does not sync (the test
pushes the new detection as an administrator would, through ``POST /v1/signals``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from served import Served, clearance, serve

from server_harness import Receiver, start_receiver

EXAMPLES = Path(__file__).parents[2] / "examples"
FLEET = {"ledger": "node-cool", "checkout": "node-hot"}


def _detection(uid: str, node: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "uid": f"falcon:{uid}", "source": "falcon", "kind": "detection",
        "title": f"Credential dumping ({uid})", "severity": 5, "confidence": 0.9,
        "status": "open", "first_seen": now, "last_seen": now, "assets": [f"host:{node}"],
    }  # fmt: skip


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state, stop = start_receiver()
    yield state
    stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("watch")
    (root / "edr.jsonl").write_text(json.dumps(_detection("hot-1", "node-hot")) + "\n")
    targets = [
        {"cluster": "prod-eu", "namespace": "shop", "workload": f"deployment/{name}",
         "assets": {"direct": [f"image:ghcr.io/acme/{name}:1.0"], "host": [f"host:{node}"]}}
        for name, node in FLEET.items()
    ]  # fmt: skip
    (root / "inventory.yaml").write_text(yaml.safe_dump({"targets": targets}))
    (root / "policy.yaml").write_text((EXAMPLES / "policy.yaml").read_text())
    config = {
        "policy": "policy.yaml",
        "sources": [{"name": "falcon", "type": "file", "path": "edr.jsonl"}],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    database = f"sqlite:///{root / 'watch.db'}"
    synced = clearance("sync", "--config", str(root / "clearance.yaml"), "--database", database)
    assert synced.code == 0, synced.err
    settings = {
        "server": {
            "notify": {"webhook_url": receiver.url + "/hook", "retries": 0},
            "watch": {"interval": "1s"},
            "token_groups": {"alice": ["security"], "bob": ["security"]},
        }
    }
    (root / "server.yaml").write_text(yaml.safe_dump(settings))
    tokens = {"ci": "decide", "root": "admin", "alice": "approve", "bob": "approve"}
    flags = ("--settings", str(root / "server.yaml"), "--no-sync")
    with serve(root / "clearance.yaml", database, *flags, tokens=tokens) as served:
        yield served


def _decide(service: Served, workload: str) -> dict[str, Any]:
    body = {"environment": "production", "cluster": "prod-eu", "namespace": "shop",
            "workload": f"deployment/{workload}"}  # fmt: skip
    return service.decide(body)


def _watch_alerts(receiver: Receiver, workload: str) -> list[dict[str, Any]]:
    """What the receiver got from the watcher about ``workload`` (break-glass notices share it)."""
    return [
        a for a in receiver.received
        if a.get("event") == "clearance.watch.block"
        and a["target"]["workload"] == f"deployment/{workload}"
    ]  # fmt: skip


def _alerts(receiver: Receiver, workload: str, count: int = 1) -> list[dict[str, Any]]:
    for _ in range(300):  # a generous bound: the assertion is on what arrives, not when
        found = _watch_alerts(receiver, workload)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no watch alert for {workload}: {receiver.received}")


def test_a_new_critical_detection_on_a_deployed_targets_node_alerts_once(
    service: Served, receiver: Receiver
) -> None:
    answer = _decide(service, "ledger")
    assert answer["decision"]["verdict"] == "proceed"
    noted = service.clearance("deployed", answer["id"], "--format", "json")
    assert noted.returncode == 0, noted.stderr
    assert json.loads(noted.stdout)["deployment"]["via"] == "api"
    time.sleep(2.5)  # two watch passes over a clean deployed target: nothing to say
    assert not _watch_alerts(receiver, "ledger")

    pushed = service.post("/v1/signals", {"signals": [_detection("cool-1", "node-cool")]}, "root")
    assert pushed.status_code in (200, 202), pushed.text

    (alert,) = _alerts(receiver, "ledger")
    assert alert["deployed"]["decision_id"] == answer["id"]
    assert alert["decision"]["verdict"] == "block"
    assert {"code": "rule:critical-detection-near-target", "signal": "falcon:cool-1",
            "verdict": "block"} in alert["new_evidence"]  # fmt: skip
    assert [c["signal"] for c in alert["contributors"]] == ["falcon:cool-1"]
    # In the record: the re-decision with its evidence, appended by the watcher.
    exported = clearance("audit", "export", "--database", service.database)
    records = [json.loads(line) for line in exported.out.splitlines()]
    (watched,) = [r for r in records if r.get("caller", {}).get("method") == "watch"]
    assert watched["decision_id"] == alert["decision"]["id"]
    assert watched["decision"]["target"]["workload"] == "deployment/ledger"
    metrics = service.client.get("/metrics").text
    assert 'clearance_watch_alerts_total{environment="production"} 1.0' in metrics
    time.sleep(2.5)  # more passes, the same evidence: no second alert
    assert len(_alerts(receiver, "ledger")) == 1


def test_after_a_break_glass_only_new_evidence_alerts(service: Served, receiver: Receiver) -> None:
    answer = _decide(service, "checkout")
    assert answer["decision"]["verdict"] == "block"
    glass = service.post(
        f"/v1/decisions/{answer['id']}/break-glass",
        {"reason": "hotfix for the outage", "ticket": "INC-7"},
        "alice",
    )
    assert glass.status_code == 201, glass.text
    noted = service.post(f"/v1/decisions/{answer['id']}/deployed", {}, "ci")
    assert noted.status_code == 200, noted.text
    time.sleep(2.5)  # the known, waived-by-hand block is not news
    assert not _watch_alerts(receiver, "checkout")
    pushed = service.post("/v1/signals", {"signals": [_detection("hot-2", "node-hot")]}, "root")
    assert pushed.status_code in (200, 202), pushed.text
    (alert,) = _alerts(receiver, "checkout")
    # The block that was broken through (score, hot-1's rule) is not news; hot-2 is, and with
    # it two detections on the node at once.
    assert alert["new_evidence"] == [
        {"code": "rule:critical-detection-near-target", "signal": "falcon:hot-2",
         "verdict": "block"},
        {"code": "rule:several-detections-near-target", "signal": None, "verdict": "block"},
    ]  # fmt: skip
