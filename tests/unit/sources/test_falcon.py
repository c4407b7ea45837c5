"""CrowdStrike Falcon: field mapping on real payloads, and the FalconPy adapter on the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearance.errors import SourceError
from clearance.model import AssetKind, Severity, SignalStatus, asset
from clearance.sources.falcon.mapping import FalconNormalizer, map_alerts, severity_of
from clearance.sources.falcon.source import FalconConfig, FalconSource
from closing import closed_after_test
from standins.falcon import (
    CLIENT_ID,
    CLIENT_SECRET,
    FIXTURES,
    FalconStandIn,
    fixture,
    generated_alerts,
    generated_devices,
)

EPP = "alerts-combined-v1.epp.page1.json"


def epp_alerts() -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = fixture(EPP)["resources"]
    return alerts


# --- mapping (pure) ----------------------------------------------------------------------------


def test_real_epp_alerts_become_signals_with_vendor_meaning() -> None:
    signals, quarantined = map_alerts(epp_alerts(), source="falcon-eu")
    assert quarantined == []
    eicar, high = signals
    assert eicar.uid.startswith("falcon-eu:8693deb4bf134cfb8855ee118d9a0243:ind:c36c42b6")
    assert eicar.severity is Severity.INFORMATIONAL  # severity_name "Informational"
    assert eicar.confidence == pytest.approx(0.8)
    assert eicar.status is SignalStatus.OPEN  # "new"
    assert eicar.rule == "EICARTestFileWrittenMac"
    assert eicar.techniques == ("T1204",)
    assert eicar.url is not None
    assert eicar.url.startswith("https://falcon.us-2.crowdstrike.com/")
    # The MAC comes with dashes (4e-93-8a-29-49-64); a workstation's NAT address is left out.
    assert asset(AssetKind.MAC, "4e:93:8a:29:49:64") in eicar.assets
    assert asset(AssetKind.HOST, "mlx40lwgrk.localdomain") in eicar.assets
    assert asset(AssetKind.IP, "209.122.93.17") not in eicar.assets
    assert high.severity is Severity.HIGH
    assert high.status is SignalStatus.RESOLVED  # "closed"
    assert high.techniques == ()  # CST0002 is CrowdStrike's own, not ATT&CK
    # An Azure VM: its instance id and public address identify it.
    assert asset(AssetKind.INSTANCE, "3bfaa67d-0dbd-4d49-8a0a-1cb2b0d2e1af") in high.assets
    assert asset(AssetKind.IP, "20.83.184.209") in high.assets


def test_reopened_alert_is_open_again_and_false_positive_is_suppressed() -> None:
    alert = epp_alerts()[1]
    reopened = {**alert, "status": "reopened", "tags": ["false_positive"]}
    false_positive = {**alert, "status": "closed", "tags": ["false_positive"]}
    in_progress = {**alert, "status": "in_progress", "tags": []}
    signals, _ = map_alerts([reopened, false_positive, in_progress], source="falcon")
    assert [s.status for s in signals] == [
        SignalStatus.OPEN,
        SignalStatus.SUPPRESSED,
        SignalStatus.IN_PROGRESS,
    ]


@pytest.mark.parametrize(
    ("name", "score", "expected"),
    [
        ("Critical", 10, Severity.CRITICAL),  # the name wins over the score
        (None, 95, Severity.CRITICAL),
        (None, 90, Severity.CRITICAL),
        (None, 70, Severity.HIGH),
        (None, 50, Severity.MEDIUM),
        (None, 20, Severity.LOW),
        (None, 10, Severity.INFORMATIONAL),
        ("Bogus", 69, Severity.MEDIUM),
        (None, None, Severity.UNKNOWN),
    ],
)
def test_severity_prefers_the_name_then_the_score(
    name: str | None, score: int | None, expected: Severity
) -> None:
    assert severity_of(name, score) is expected


def test_cloud_alert_without_a_host_is_quarantined_not_dropped() -> None:
    batch = FalconNormalizer().normalize(
        (FIXTURES / "alerts-entities-v2.cloud-ioa.json").read_bytes()
    )
    assert batch.signals == ()
    assert [q.reason for q in batch.quarantined] == ["no_asset", "no_asset"]
    assert batch.quarantined[0].location == "resources[0]"
    assert batch.quarantined[0].digest.startswith("sha256:")


def test_host_records_file_becomes_identities_with_normalized_mac() -> None:
    data = (FIXTURES / "devices-entities-v2.gcp-windows.json").read_bytes()
    batch = FalconNormalizer().normalize(data)
    assert batch.identities == (
        {
            "host": ("falcon-crowdstr",),
            "instance": ("identifier_number",),
            "ip": ("1.1.1.1",),
            "mac": ("42:01:0a:80:00:07",),
        },
    )


def test_gateway_error_body_and_garbage_files_are_quarantined() -> None:
    gateway = FalconNormalizer().normalize((FIXTURES / "error.404.gateway.json").read_bytes())
    assert [q.reason for q in gateway.quarantined] == ["invalid_shape"]
    garbage = FalconNormalizer().normalize(b"<html>502 Bad Gateway</html>", location="x.json")
    assert [(q.reason, q.location) for q in garbage.quarantined] == [("invalid_json", "x.json")]


def test_kubernetes_host_adds_pod_namespace_and_cluster_to_its_alerts() -> None:
    alert = epp_alerts()[0]
    record = {
        "device_id": alert["agent_id"],
        "hostname": "ip-10-0-1-5.ec2.internal",
        "pod_name": "web-7c9f",
        "pod_namespace": "shop",
        "k8s_cluster_id": "c0ffee",
    }
    normalizer = FalconNormalizer(clusters={"c0ffee": "prod-eu"})
    (host,) = normalizer.normalize(json.dumps({"resources": [record]}).encode()).identities
    assert host["pod"] == ("shop/web-7c9f",)
    assert host["namespace"] == ("prod-eu/shop",)
    assert host["cluster"] == ("prod-eu",)


def test_one_bad_item_never_costs_its_neighbours() -> None:
    good = epp_alerts()
    bad_time = {**good[0], "composite_id": "x:1", "timestamp": "yesterday"}
    items: list[Any] = [good[0], "junk", {"name": "no id"}, bad_time, good[1]]
    signals, quarantined = map_alerts(items, source="falcon")
    assert len(signals) == 2
    assert [(q.reason, q.location) for q in quarantined] == [
        ("invalid_item", "resources[1]"),
        ("invalid_field", "resources[2]"),
        ("invalid_value", "resources[3]"),
    ]


# --- the adapter against the stand-in ---------------------------------------------------------


@dataclass
class FakeTime:
    now: float = 1_750_000_000.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def standin() -> Iterator[FalconStandIn]:
    server = FalconStandIn()
    server.add_alerts(generated_alerts(250, devices=10))
    server.add_devices(generated_devices(10))
    server.base_url = server.start()  # type: ignore[attr-defined]
    yield server
    server.stop()


def source_for(
    server: FalconStandIn, fake: FakeTime | None = None, **overrides: Any
) -> FalconSource:
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": server.base_url,  # type: ignore[attr-defined]
        "page_size": 100,
        **overrides,
    }
    fake = fake or FakeTime()
    source = FalconSource("falcon", FalconConfig(**settings), clock=fake.clock, sleep=fake.sleep)
    return closed_after_test(source)


def test_fetch_follows_the_after_cursor_to_the_last_page(standin: FalconStandIn) -> None:
    batches = list(source_for(standin).fetch(None))
    assert [len(b.signals) for b in batches] == [100, 100, 50]
    uids = {s.uid for b in batches for s in b.signals}
    assert len(uids) == 250
    marks = [b.watermark for b in batches]
    assert marks == sorted(marks)  # type: ignore[type-var]
    assert marks[-1] == "2025-06-01T00:04:09Z"  # the newest updated_timestamp, microseconds
    # Each host's identity is reported once, from its host record, and enriches its alerts.
    assert sum(len(b.identities) for b in batches) == 10
    assert asset(AssetKind.HOST, "web-0") in batches[0].signals[0].assets


def test_watermark_resumes_inclusively_and_sees_status_changes(standin: FalconStandIn) -> None:
    source = source_for(standin)
    last = list(source.fetch(None))[-1]
    assert next(iter(source.fetch(last.watermark))).signals[-1].uid == last.signals[-1].uid
    changed = json.loads(standin.alerts[10].render())
    changed.update(status="closed", updated_timestamp="2025-06-02T00:00:00.5Z")
    standin.replace_alert(changed)
    (batch,) = list(source.fetch(last.watermark))
    resolved = [s for s in batch.signals if s.uid == f"falcon:{changed['composite_id']}"]
    assert [s.status for s in resolved] == [SignalStatus.RESOLVED]
    assert batch.watermark == "2025-06-02T00:00:00.500000Z"
    assert "updated_timestamp:>='2025-06-01T00:04:09Z'" in standin.calls[-2][2]["filter"]


def test_429_waits_until_the_epoch_in_retryafter(standin: FalconStandIn) -> None:
    fake = FakeTime()
    standin.queue_429(retry_at=fake.now + 7)
    batches = list(source_for(standin, fake).fetch(None))
    assert fake.slept == [7.0]  # an epoch time, not a delay of 1,750,000,007 seconds
    assert sum(len(b.signals) for b in batches) == 250


def test_429_beyond_the_longest_wait_fails_without_sleeping(standin: FalconStandIn) -> None:
    fake = FakeTime()
    standin.queue_429(retry_at=fake.now + 3600)
    with pytest.raises(SourceError, match=r"'falcon'.*HTTP 429") as caught:
        list(source_for(standin, fake, max_rate_limit_wait=60).fetch(None))
    assert fake.slept == []
    assert CLIENT_SECRET not in str(caught.value)


def test_wrong_secret_fails_naming_source_and_status_never_the_secret(
    standin: FalconStandIn,
) -> None:
    wrong = "wrong-" + CLIENT_SECRET
    with pytest.raises(SourceError) as caught:
        list(source_for(standin, client_secret=wrong).fetch(None))
    message = str(caught.value)
    assert "'falcon'" in message
    assert "HTTP 403" in message
    assert "client_secret" in message
    assert wrong not in message
    assert CLIENT_SECRET not in message


def test_token_revoked_server_side_is_renewed_once(standin: FalconStandIn) -> None:
    source = source_for(standin)
    pages = source.fetch(None)
    next(pages)
    standin.expire_tokens()
    rest = list(pages)
    assert sum(len(b.signals) for b in rest) == 150
    assert standin.token_requests == 2


def test_short_lived_tokens_are_renewed_by_falconpy_before_they_expire(
    standin: FalconStandIn,
) -> None:
    standin.token_ttl = 60  # inside FalconPy's 120 s renew window: stale at once
    assert sum(len(b.signals) for b in source_for(standin).fetch(None)) == 250
    assert standin.token_requests > 1


@pytest.mark.parametrize(
    ("status", "body", "ctype", "expected"),
    [
        (403, None, "", "alerts: HTTP 403"),
        (404, (FIXTURES / "error.404.gateway.json").read_bytes(), "", "404: Page Not Found"),
        (500, None, "", "alerts: HTTP 500"),
        (502, b"<html><body>Bad Gateway</body></html>", "text/html", "alerts: HTTP 502"),
    ],
)
def test_vendor_error_bodies_become_source_errors(
    standin: FalconStandIn, status: int, body: bytes | None, ctype: str, expected: str
) -> None:
    standin.queue_error(status, body, ctype)
    with pytest.raises(SourceError, match=expected) as caught:
        list(source_for(standin).fetch(None))
    assert caught.value.source == "falcon"
    assert CLIENT_SECRET not in str(caught.value)


def test_missing_hosts_scope_says_which_scope(standin: FalconStandIn) -> None:
    pages = source_for(standin).fetch(None)
    standin.queued.append((200, {}, json.dumps(fixture(EPP)).encode()))
    standin.queue_error(403)
    with pytest.raises(SourceError, match=r"hosts: HTTP 403.*Hosts: Read"):
        next(pages)


def test_hosts_lookup_can_be_turned_off(standin: FalconStandIn) -> None:
    batches = list(source_for(standin, hosts=False).fetch(None))
    assert all(b.identities == () for b in batches)
    assert {c[1] for c in standin.calls} == {"/alerts/combined/alerts/v1"}


def test_malformed_alert_on_a_page_is_quarantined_and_the_page_stored(
    standin: FalconStandIn,
) -> None:
    standin.add_alerts(
        [
            {"composite_id": "cid:ind:junk:1", "updated_timestamp": "2025-06-01T00:00:00.5Z"},
            {**epp_alerts()[0], "updated_timestamp": "2025-06-01T00:00:01.5Z", "device": 7},
        ]
    )
    batches = list(source_for(standin).fetch(None))
    assert sum(len(b.signals) for b in batches) == 250
    reasons = sorted(q.reason for b in batches for q in b.quarantined)
    assert reasons == ["invalid_field", "missing_field"]


def test_config_rejects_a_page_size_falcon_refuses() -> None:
    with pytest.raises(ValueError, match="page_size"):
        FalconConfig(client_id="x", client_secret="y", page_size=5000)  # type: ignore[arg-type]


def test_create_builds_from_config_without_network(tmp_path: Path) -> None:
    config = FalconConfig.model_validate({"client_id": "a", "client_secret": "hunter2-secret"})
    source = FalconSource.create("falcon-us", config, base_dir=tmp_path)
    assert source.name == "falcon-us"
    assert "hunter2-secret" not in repr(config)


def test_a_watermark_that_is_not_a_time_is_refused_by_name(standin: FalconStandIn) -> None:
    with pytest.raises(SourceError, match=r"'falcon'.*watermark 'page-7'"):
        list(source_for(standin).fetch("page-7"))


def test_since_starts_the_first_sync_and_must_carry_a_zone(standin: FalconStandIn) -> None:
    source = source_for(standin, since="2025-06-01T00:04:00Z")
    assert sum(len(b.signals) for b in source.fetch(None)) == 10  # 00:04:00 … 00:04:09
    with pytest.raises(ValueError, match="since"):
        FalconConfig(client_id="a", client_secret="b", since="2025-06-01T00:04:00")  # type: ignore[arg-type]


def test_rate_limit_headers_are_kept_for_health(standin: FalconStandIn) -> None:
    source = source_for(standin)
    list(source.fetch(None))
    assert source.rate_limit == (6000, 6000 - len(standin.calls))


def test_configured_fql_is_anded_with_the_watermark(standin: FalconStandIn) -> None:
    source = source_for(standin, filter="product:'idp'")
    assert [b.signals for b in source.fetch("2025-06-01T00:00:00Z")] == [()]
    assert standin.calls[-1][2]["filter"] == (
        "updated_timestamp:>='2025-06-01T00:00:00Z'+product:'idp'"
    )


def test_a_host_record_is_an_agent_in_the_inventory() -> None:
    from clearance.model.assets import parse_asset
    from clearance.sources.falcon.hosts import managed

    record = json.loads((FIXTURES / "devices-entities-v2.gcp-windows.json").read_text())[
        "resources"
    ][0]
    agent = managed(record, "falcon", "edr")
    assert agent is not None
    assert (agent.source, agent.kind, agent.device, agent.active) == (
        "falcon",
        "edr",
        "identifier_number",
        True,
    )
    assert agent.last_seen is not None
    assert agent.last_seen.isoformat() == "2021-04-05T13:48:12+00:00"
    assert agent.names(parse_asset("host:falcon-crowdstr"))
    assert not agent.names(parse_asset("host:other-node"))
    reduced = managed({**record, "reduced_functionality_mode": "yes"}, "falcon", "edr")
    assert reduced is not None
    assert not reduced.active
    unreadable = managed({**record, "last_seen": "yesterday"}, "falcon", "edr")
    assert unreadable is not None
    assert unreadable.last_seen is None
    assert managed({"hostname": "x"}, "falcon", "edr") is None  # no device_id: no agent


@given(low=st.integers(-5, 120), high=st.integers(-5, 120))
def test_a_higher_crowdscore_never_reads_as_less_severe(low: int, high: int) -> None:
    from clearance.sources.falcon.incidents import crowdscore_severity

    low, high = sorted((low, high))
    assert crowdscore_severity(low) <= crowdscore_severity(high)
    assert crowdscore_severity(38) is Severity.LOW  # the fixture's incident, CrowdScore 3.8
