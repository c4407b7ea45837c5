"""Trivy Operator ConfigAuditReports (a real operator-written report) as ``posture``: ingested
with ``clearance ingest --format trivy``, a report without a workload quarantined, and the
misconfigurations changing the workload's decision under the example policy."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import yaml
from cli_fleet import Fleet, Run

from clearance.model.signal import SignalKind
from clearance.store.sql import SqlStore

FIXTURES = Path(__file__).parent.parent / "fixtures"
ROOT = Path(__file__).parents[2]
NOW = "2026-11-28T12:00:00Z"
REPORT = FIXTURES / "trivy-operator" / "configauditreport.replicaset-wordpress.envtest.yaml"


def test_config_audit_report_is_posture_that_changes_the_decision(
    clearance: Run, fleet: Fleet, tmp_path: Path
) -> None:
    shutil.copy(ROOT / "examples" / "policy.yaml", fleet.root / "policy.yaml")
    inventory = {
        "targets": [
            {
                "cluster": "prod-eu",
                "namespace": "default",
                "workload": "deployment/wordpress",
                "assets": {"direct": ["workload:prod-eu/default/replicaset/wordpress-84bbf6f4dd"]},
            }
        ]
    }
    (fleet.root / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    target = ["--env", "production", "--cluster", "prod-eu", "--namespace", "default",
              "--workload", "deployment/wordpress", "--now", NOW, "--database", url]  # fmt: skip
    # The store starts with the fleet's (empty) EDR export, so only posture differs.
    assert clearance("ingest", "--format", "falco", "--source", "edr", "--database", url,
                     "--now", NOW, str(fleet.root / "edr.jsonl")).code == 0  # fmt: skip
    before = clearance("check", *target, "--format", "json")
    assert before.code == 0, before.err

    report = tmp_path / REPORT.name
    shutil.copy(REPORT, report)
    os.utime(report, (1_795_863_600, 1_795_863_600))  # scanned 2026-11-28T11:00:00Z: its date
    stored = clearance(
        "ingest", "--format", "trivy", "--cluster", "prod-eu", "--database", url,
        "--now", NOW, str(report),
    )  # fmt: skip
    assert stored.code == 0, stored.err
    assert "13 signal(s) stored as 'trivy'" in stored.out
    after = clearance("check", *target, "--format", "json")
    assert after.code == 10, after.err  # the posture cap (0.2) reaches production's approval
    decision = json.loads(after.out)
    titles = [c["title"] for c in decision["contributors"]]
    assert any(t.startswith("KSV014 Root file system is not read-only") for t in titles)
    assert {c["kind"] for c in decision["contributors"]} == {"posture"}

    # Without a cluster the report names no workload: quarantined, nothing stored.
    bare = clearance("ingest", "--format", "trivy", "--database", url, "--now", NOW, str(report))
    assert bare.code == 0, bare.err
    assert "0 signal(s) stored as 'trivy', 1 quarantined" in bare.out
    store = SqlStore.open(url)
    try:
        kinds = {s.kind for s in store.active_signals_of_kind(SignalKind.POSTURE)}
        assert kinds == {SignalKind.POSTURE}
    finally:
        store.close()
