"""CrowdStrike Falcon incidents (a real incident record, CrowdScore 3.8) as ``incident``
signals: ``clearance ingest --format falcon`` stores it on its host, one without a host is
quarantined, and the incident counts in the next decision for a workload on that host."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from cli_fleet import Fleet, Run

FIXTURES = Path(__file__).parent.parent / "fixtures"
ROOT = Path(__file__).parents[2]
NOW = "2020-05-17T18:00:00Z"  # half an hour after the incident started


def test_a_falcon_incident_is_stored_on_its_host_and_weighs_in_the_decision(
    clearance: Run, fleet: Fleet, tmp_path: Path
) -> None:
    shutil.copy(ROOT / "examples" / "policy.yaml", fleet.root / "policy.yaml")
    inventory = {
        "targets": [
            {
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": "deployment/checkout",
                "assets": {"direct": ["pod:shop/checkout-1"], "host": ["host:sfo-m-y81whj"]},
            }
        ]
    }
    (fleet.root / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert clearance("ingest", "--format", "falco", "--source", "edr", "--database", url,
                     "--now", NOW, str(fleet.root / "edr.jsonl")).code == 0  # fmt: skip
    target = ["--env", "production", "--cluster", "prod-eu", "--namespace", "shop",
              "--workload", "deployment/checkout", "--now", NOW, "--database", url,
              "--format", "json"]  # fmt: skip
    before = json.loads(clearance("check", *target).out)
    assert before["score"] == 0

    incident = json.loads(
        (FIXTURES / "crowdstrike" / "incident.demisto-test-data.json").read_text()
    )
    hostless = {**incident, "incident_id": "inc:0:1", "hosts": []}
    export = tmp_path / "incidents.json"
    export.write_text(json.dumps({"resources": [incident, hostless]}))
    stored = clearance("ingest", "--format", "falcon", "--database", url, "--now", NOW, str(export))
    assert stored.code == 0, stored.err
    assert "1 signal(s) stored as 'falcon', 1 quarantined" in stored.out

    after = json.loads(clearance("check", *target).out)
    (top,) = after["contributors"]
    assert top["title"] == "Incident on SFO-M-Y81WHJ at 2020-05-17T17:30:38Z (CrowdScore 3.8)"
    assert (top["kind"], top["severity"], top["proximity"]) == ("incident", 2, "host")
    assert after["score"] > before["score"]
