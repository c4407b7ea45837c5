"""Incidents and anomalies pulled into the real service change its decisions.

Each source is pulled by the poller from its stand-in (the vendors' wire formats, real payload
shapes) into the store, then ``POST /v1/decisions`` asks about ``clean`` (node-a) under the
shipped policy:

* a Defender XDR incident on node-a turns a clean deploy into a block;
* a SentinelOne storyline that reached node-a with a mitigated low threat, and elsewhere with a
  critical one, is one critical incident on node-a: block, where the threats alone proceed;
* a GuardDuty ``Behavior:`` finding on node-a is an anomaly: a person decides (approve), where
  the same finding as a detection would block.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from clearance.audit.replay import replay
from clearance.config import load_config
from clearance.sync.poller import Poller, Schedule
from server_harness import Live
from standins import defender, sentinelone

ROOT = Path(__file__).parents[3]


class _Lease:
    def acquire(self, name: str) -> bool:
        return True

    def release(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


def _pull(server: Live, root: Path, name: str) -> None:
    config = load_config(root / "clearance.yaml")
    sources = {s.name: s for s in config.sources}
    poller = Poller(
        store=server.ctx.store,
        sources=sources,
        schedules={n: Schedule(retries=0) for n in sources},
        lease=_Lease(),
        clock=server.clock,
        sleep=lambda _: None,
        rng=random.Random(1),
    )
    try:
        assert poller.pull(name).ok
    finally:
        config.close()
    server.ctx.decisions.source_names = ("edr", name)


def _live(live: Callable[..., Live], source: dict[str, Any]) -> Live:
    sources = [{"name": "edr", "type": "file", "path": "edr.jsonl"}, source]
    return live(config={"sources": sources}, policy=(ROOT / "examples" / "policy.yaml").read_text())


def _reasons(answer: dict[str, Any]) -> str:
    return json.dumps(answer["decision"]["reasons"])


def test_a_defender_xdr_incident_on_the_node_blocks_the_deploy(
    live: Callable[..., Live], tmp_path: Path
) -> None:
    state = defender.DefenderState()
    with defender.serve(state) as url:
        server = _live(
            live,
            {
                "name": "xdr",
                "type": "defender",
                "tenant_id": defender.TENANT,
                "client_id": defender.CLIENT_ID,
                "client_secret": defender.CLIENT_SECRET,
                "base_url": url,
                "token_url": f"{url}/{defender.TENANT}/oauth2/v2.0/token",
                "incidents": True,
            },
        )
        _pull(server, tmp_path, "xdr")
        before = server.ask("clean")
        assert before["decision"]["verdict"] == "proceed"

        state.clock = server.clock.now - timedelta(hours=1)
        (incident,) = state.add_incidents(1, device="node-a.corp.example")
        incident["severity"] = "High"
        _pull(server, tmp_path, "xdr")
        after = server.ask("clean")
        assert after["decision"]["verdict"] == "block"
        assert "'Mimikatz' hacktool was detected on one endpoint (1 alert(s))" in _reasons(after)
        uids = [c["signal"] for c in after["decision"]["contributors"]]
        assert f"xdr:incident-{incident['incidentId']}" in uids
        assert replay(server.ctx.store, after["id"]).identical


def test_a_sentinelone_storyline_reaching_the_node_is_a_critical_incident_there(
    live: Callable[..., Live], tmp_path: Path
) -> None:
    state = sentinelone.SentinelOneState()
    with sentinelone.serve(state) as url:
        source = {"name": "s1", "type": "sentinelone", "base_url": url}
        source["api_token"] = sentinelone.API_TOKEN
        server = live(
            config={
                "sources": [
                    {"name": "edr", "type": "file", "path": "edr.jsonl"},
                    source,
                    {**source, "name": "s1x", "incidents": True},
                ]
            },
            policy=(ROOT / "examples" / "policy.yaml").read_text(),
        )
        seen = (server.clock.now - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
        state.clock = server.clock.now - timedelta(hours=1)
        elsewhere, here = state.add_threats(2)
        for threat, name in ((elsewhere, "build-7"), (here, "node-a.corp.example")):
            info = threat["threatInfo"]
            info.update(storyline="5D1C0FFEE0000001", identifiedAt=seen, createdAt=seen)
            info.update(incidentStatus="unresolved")
            threat["agentRealtimeInfo"]["agentComputerName"] = name
        elsewhere["threatInfo"]["mitigationStatus"] = "not_mitigated"  # malicious: critical
        here["threatInfo"].update(confidenceLevel="suspicious", mitigationStatus="mitigated")

        _pull(server, tmp_path, "s1")  # threats only: a low, mitigated one on node-a
        threats_only = server.ask("clean")
        assert threats_only["decision"]["verdict"] == "proceed"

        _pull(server, tmp_path, "s1x")  # the same threats, grouped by storyline
        grouped = server.ask("clean")
        assert grouped["decision"]["verdict"] == "block"
        assert "SentinelOne storyline 5D1C0FFEE0000001: 2 threats" in _reasons(grouped)
        assert "rule:critical-detection-near-target" in _reasons(grouped)
        assert replay(server.ctx.store, grouped["id"]).identical


def test_a_guardduty_behavior_finding_is_an_anomaly_a_person_decides(
    live: Callable[..., Live], tmp_path: Path
) -> None:
    from standins.guardduty import (
        ACCESS_KEY,
        REGION,
        SECRET_KEY,
        GuardDutyStandIn,
        fixture_findings,
        numbered,
    )

    standin = GuardDutyStandIn()
    url = standin.start()
    try:
        server = _live(
            live,
            {
                "name": "gd",
                "type": "guardduty",
                "region": REGION,
                "endpoint_url": url,
                "access_key_id": ACCESS_KEY,
                "secret_access_key": SECRET_KEY,
            },
        )
        _pull(server, tmp_path, "gd")
        assert server.ask("clean")["decision"]["verdict"] == "proceed"

        now = server.clock.now
        stamp = (now - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
        finding = numbered(fixture_findings()[1], 1, stamp)
        finding.update(type="Behavior:EC2/NetworkPortUnusual", severity=8.0, createdAt=stamp)
        finding["title"] = "Unusual outbound communication seen from EC2 instance on port 5060."
        finding["service"].update(eventFirstSeen=stamp, eventLastSeen=stamp, archived=False)
        interface = finding["resource"]["instanceDetails"]["networkInterfaces"][0]
        interface["privateDnsName"] = "node-a.corp.example"
        standin.findings = [finding]
        _pull(server, tmp_path, "gd")
        anomaly = server.ask("clean")
        assert anomaly["decision"]["verdict"] == "approve"
        assert "Unusual outbound communication" in _reasons(anomaly)
        stored = server.ctx.store.signals_touching(["host:node-a"])
        assert [s.kind.value for s in stored if s.source == "gd"] == ["anomaly"]
        assert replay(server.ctx.store, anomaly["id"]).identical
    finally:
        standin.stop()
