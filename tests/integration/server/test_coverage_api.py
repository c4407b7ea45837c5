"""Coverage through the real service: Falcon's host inventory (FalconPy against the stand-in,
which answers the devices scroll and details endpoints with the real record shape) is pulled
by the poller into the store, and decisions say which nodes no working sensor watches."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance.audit.replay import replay
from clearance.config import load_config
from clearance.sync.poller import Poller, Schedule
from server_harness import Live
from standins import defender, sentinelone, wazuh
from standins.falcon import CLIENT_ID, CLIENT_SECRET, FalconStandIn, fixture

ROOT = Path(__file__).parents[3]


class _Lease:
    def acquire(self, name: str) -> bool:
        return True

    def release(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


def _policy(stance: str = "block", required: tuple[str, ...] = ("edr",)) -> str:
    policy = yaml.safe_load((ROOT / "examples" / "policy.yaml").read_text())
    production = policy["environments"]["production"]
    production["coverage"] = {"required": list(required), "max_silence": "1d"}
    production["stances"]["not_covered"] = stance
    return yaml.safe_dump(policy)


def _device(n: int, hostname: str, last_seen: str, **more: Any) -> dict[str, Any]:
    """The real Falcon host record (devices-entities-v2.gcp-windows.json) as another host."""
    record = dict(fixture("devices-entities-v2.gcp-windows.json")["resources"][0])
    record.update(
        device_id=f"{n:032x}",
        hostname=hostname,
        local_ip=f"10.0.0.{n}",
        external_ip=f"34.0.0.{n}",
        mac_address=f"42-01-0a-80-00-{n:02x}",
        instance_id=f"{n}",
        last_seen=last_seen,
        **more,
    )
    return record


@pytest.fixture
def falcon() -> Iterator[FalconStandIn]:
    with FalconStandIn() as standin:
        yield standin


def _sync(server: Live, root: Path) -> None:
    assert _pull(server, root, "falcon")
    server.ctx.decisions.source_names = ("edr", "falcon")


def _live(live: Callable[..., Live], falcon: FalconStandIn, tmp_path: Path, stance: str) -> Live:
    source = {
        "name": "falcon",
        "type": "falcon",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": falcon.start(),
        "covers": "edr",
    }
    sources = [{"name": "edr", "type": "file", "path": "edr.jsonl"}, source]
    return live(config={"sources": sources}, policy=_policy(stance))


def test_unwatched_and_silent_nodes_are_not_covered(
    live: Callable[..., Live], falcon: FalconStandIn, tmp_path: Path
) -> None:
    server = _live(live, falcon, tmp_path, "block")
    now = server.clock.now
    recent = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    falcon.add_devices(
        [_device(1, "node-a.corp.example", recent), _device(2, "node-b.corp.example", old)]
    )
    _sync(server, tmp_path)
    assert falcon.calls[-2][1] == "/devices/queries/devices-scroll/v1"

    covered = server.ask("clean")
    assert covered["decision"]["verdict"] == "proceed", covered["decision"]["reasons"]
    assert "not_covered" not in covered["decision"]["degraded"]

    silent = server.ask("medium")
    assert silent["decision"]["verdict"] == "block"
    (reason,) = [r for r in silent["decision"]["reasons"] if r["code"] == "stance:not_covered"]
    assert reason["message"].startswith(
        "Host node-b.corp.example has no working edr agent (falcon last seen 3 d 0 h ago; "
        "production allows at most 24 h of silence)"
    )

    missing = server.ask("hot")
    (reason,) = [r for r in missing["decision"]["reasons"] if r["code"] == "stance:not_covered"]
    assert "Host node-c.corp.example has no edr agent in any inventory" in reason["message"]
    assert missing["decision"]["verdict"] == "block"

    for answer in (covered, silent, missing):
        assert replay(server.ctx.store, answer["id"]).identical


def test_a_sensor_in_reduced_functionality_mode_does_not_cover_and_the_stance_is_the_policys(
    live: Callable[..., Live], falcon: FalconStandIn, tmp_path: Path
) -> None:
    server = _live(live, falcon, tmp_path, "approve")
    recent = (server.clock.now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    falcon.add_devices(
        [_device(1, "node-a.corp.example", recent, reduced_functionality_mode="yes")]
    )
    _sync(server, tmp_path)
    answer = server.ask("clean")
    assert answer["decision"]["verdict"] == "approve"
    assert "falcon last seen 5 min ago, inactive" in str(answer["decision"]["reasons"])
    # The next inventory replaces the last: the sensor fixed, the node is covered again.
    falcon.devices.clear()
    falcon.add_devices([_device(1, "node-a.corp.example", recent)])
    _sync(server, tmp_path)
    assert server.ask("clean")["decision"]["verdict"] == "proceed"


def test_any_covering_inventory_will_do_and_sentinelone_agents_count(
    live: Callable[..., Live], falcon: FalconStandIn, tmp_path: Path
) -> None:
    """Two EDR inventories: a node either one covers is covered; SentinelOne's agents API (the
    real record shape) says which of its agents are active, decommissioned or silent."""
    state = sentinelone.SentinelOneState()
    with sentinelone.serve(state) as s1_url:
        s1 = {
            "name": "s1",
            "type": "sentinelone",
            "base_url": s1_url,
            "api_token": sentinelone.API_TOKEN,
            "covers": "edr",
        }
        falcon_source = {
            "name": "falcon",
            "type": "falcon",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "base_url": falcon.start(),
            "covers": "edr",
        }
        sources = [{"name": "edr", "type": "file", "path": "edr.jsonl"}, falcon_source, s1]
        server = live(config={"sources": sources}, policy=_policy("block"))
        now = server.clock.now
        recent = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        falcon.add_devices([_device(1, "node-a.corp.example", recent.split(".")[0] + "Z")])
        state.add_agent("node-b.corp.example", recent)
        state.add_agent("node-c.corp.example", recent, isDecommissioned=True)
        _sync(server, tmp_path)
        assert _pull(server, tmp_path, "s1")
        server.ctx.decisions.source_names = ("edr", "falcon", "s1")

        assert server.ask("clean")["decision"]["verdict"] == "proceed"  # Falcon's
        assert server.ask("medium")["decision"]["verdict"] == "proceed"  # SentinelOne's
        hot = server.ask("hot")["decision"]
        assert hot["verdict"] == "block"
        assert "Host node-c.corp.example has no working edr agent (s1 last seen 2 h" in str(
            hot["reasons"]
        )
        assert "inactive" in str(hot["reasons"])


def test_defender_machines_cover_while_healthy_and_seen(
    live: Callable[..., Live], tmp_path: Path
) -> None:
    """Defender's machines API (the docs' record shape) is an EDR inventory: an onboarded
    machine reporting ``healthStatus: Active`` covers its node, an ``Inactive`` one does not."""
    state = defender.DefenderState()
    with defender.serve(state) as url:
        mde = {
            "name": "mde",
            "type": "defender",
            "tenant_id": defender.TENANT,
            "client_id": defender.CLIENT_ID,
            "client_secret": defender.CLIENT_SECRET,
            "base_url": url,
            "token_url": f"{url}/{defender.TENANT}/oauth2/v2.0/token",
            "covers": "edr",
        }
        sources = [{"name": "edr", "type": "file", "path": "edr.jsonl"}, mde]
        server = live(config={"sources": sources}, policy=_policy("block"))
        seen = (server.clock.now - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
        for n, (name, health) in enumerate(
            [("node-a.corp.example", "Active"), ("node-b.corp.example", "Inactive")]
        ):
            machine = defender.numbered_machine(n)
            machine.update(computerDnsName=name, lastSeen=seen, healthStatus=health)
            state.machines.append(machine)
        assert _pull(server, tmp_path, "mde")
        server.ctx.decisions.source_names = ("edr", "mde")

        covered = server.ask("clean")["decision"]
        assert covered["verdict"] == "proceed", covered["reasons"]
        inactive = server.ask("medium")["decision"]
        assert inactive["verdict"] == "block"
        assert "Host node-b.corp.example has no working edr agent (mde last seen 3 h" in str(
            inactive["reasons"]
        )
        assert "inactive" in str(inactive["reasons"])
        missing = server.ask("hot")["decision"]
        assert "Host node-c.corp.example has no edr agent in any inventory" in str(
            missing["reasons"]
        )


def test_wazuh_agents_cover_while_active_and_keeping_alive(
    live: Callable[..., Live], tmp_path: Path
) -> None:
    """Wazuh's server API lists its agents (the real record shape) behind a JWT login: an
    ``active`` agent covers its node, a ``never_connected`` one does not, and one whose last
    keep-alive is older than the policy allows does not either, whatever its status says."""
    state = wazuh.WazuhState()
    with wazuh.serve(state) as url:
        source = {
            "name": "wazuh",
            "type": "wazuh",
            "base_url": url,
            "username": wazuh.USERNAME,
            "password": wazuh.PASSWORD,
            "covers": "edr",
            "api_url": url,
            "api_username": wazuh.API_USERNAME,
            "api_password": wazuh.API_PASSWORD,
        }
        sources = [{"name": "edr", "type": "file", "path": "edr.jsonl"}, source]
        server = live(config={"sources": sources}, policy=_policy("approve"))
        now = server.clock.now
        state.add_agent("node-a", "active", (now - timedelta(seconds=40)).isoformat())
        state.add_agent("node-b", "never_connected", None)
        state.add_agent("node-c", "active", (now - timedelta(days=2)).isoformat())
        assert _pull(server, tmp_path, "wazuh")
        assert state.logins == 1
        server.ctx.decisions.source_names = ("edr", "wazuh")

        covered = server.ask("clean")["decision"]
        assert covered["verdict"] == "proceed", covered["reasons"]
        never = server.ask("medium")["decision"]
        assert never["verdict"] == "approve"
        assert (
            "Host node-b.corp.example has no working edr agent (wazuh never checked in, inactive"
            in str(never["reasons"])
        )
        silent = server.ask("hot")["decision"]
        assert silent["verdict"] in ("approve", "block")  # hot also carries its findings
        assert "Host node-c.corp.example has no working edr agent (wazuh last seen 2 d 0 h" in str(
            silent["reasons"]
        )


def test_guardduty_runtime_coverage_speaks_for_every_node_of_its_eks_cluster(
    live: Callable[..., Live], tmp_path: Path
) -> None:
    """GuardDuty's ListCoverage (botocore's wire shape, SigV4-checked stand-in) says per EKS
    cluster whether Runtime Monitoring covers it: a HEALTHY, fully covered cluster covers every
    node a target touches in it; an UNHEALTHY one covers none, and the reason says so."""
    from standins.guardduty import ACCESS_KEY, REGION, SECRET_KEY, GuardDutyStandIn, eks_coverage

    standin = GuardDutyStandIn()
    url = standin.start()
    try:
        source = {
            "name": "gd",
            "type": "guardduty",
            "region": REGION,
            "endpoint_url": url,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "covers": "runtime",
            "clusters": {"shop-prod-eks": "prod-eu"},
        }
        sources = [{"name": "edr", "type": "file", "path": "edr.jsonl"}, source]
        server = live(config={"sources": sources}, policy=_policy("block", ("runtime",)))
        updated = server.clock.now - timedelta(hours=1)
        standin.coverage = [eks_coverage("shop-prod-eks", "HEALTHY", updated)]
        assert _pull(server, tmp_path, "gd")
        server.ctx.decisions.source_names = ("edr", "gd")
        for workload in ("clean", "medium"):  # nodes a and b, both in the cluster
            answer = server.ask(workload)["decision"]
            assert answer["verdict"] == "proceed", answer["reasons"]
            assert "not_covered" not in answer["degraded"]

        standin.coverage = [eks_coverage("shop-prod-eks", "UNHEALTHY", updated)]
        assert _pull(server, tmp_path, "gd")
        unhealthy = server.ask("clean")["decision"]
        assert unhealthy["verdict"] == "block"
        assert "Host node-a.corp.example has no working runtime agent (gd last seen 1 h" in str(
            unhealthy["reasons"]
        )
        assert replay(server.ctx.store, server.ask("medium")["id"]).identical
    finally:
        standin.stop()


def _pull(server: Live, root: Path, name: str) -> bool:
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
        return poller.pull(name).ok
    finally:
        config.close()
