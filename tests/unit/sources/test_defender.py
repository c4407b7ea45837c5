"""Defender for Endpoint: field mapping on the real docs payloads, and the source (with the
shared HTTP layer) against the loopback stand-in."""

from __future__ import annotations

import copy
import email.utils
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from clearance.errors import SourceError
from clearance.model import AssetKind, Severity, SignalStatus, asset
from clearance.sources._http import retry_after
from clearance.sources.defender.source import (
    DefenderConfig,
    DefenderNormalizer,
    DefenderSource,
    machine_identity,
    map_alerts,
)
from closing import closed_after_test
from standins import defender
from standins._server import HTML_GATEWAY_PAGE

ALERTS = "alerts.list-expand-evidence.docs.json"


def docs_alert() -> dict[str, Any]:
    alert: dict[str, Any] = defender.fixture(ALERTS)["value"][0]
    return alert


# --- mapping (pure) ----------------------------------------------------------------------------


def test_real_alert_becomes_a_signal_with_the_vendor_meaning() -> None:
    batch = map_alerts([docs_alert()], source="mde")
    assert batch.quarantined == ()
    (signal,) = batch.signals
    assert signal.uid == "mde:da637472900382838869_1364969609"
    assert signal.severity is Severity.LOW
    assert signal.status is SignalStatus.OPEN  # "New"
    assert signal.assets == (asset(AssetKind.HOST, "temp123.middleeast.corp.microsoft.com"),)
    assert signal.techniques == ("T1064", "T1085", "T1220")
    assert signal.rule == "17e10bbc-3a68-474a-8aad-faef14d43952"  # detectorId
    assert signal.url == "https://security.microsoft.com/alerts/da637472900382838869_1364969609"
    assert signal.first_seen.isoformat() == "2021-01-26T20:31:32.956266+00:00"  # firstEventTime
    assert signal.last_seen.isoformat() == "2021-01-26T20:31:33.057732+00:00"  # lastEventTime
    assert signal.raw_digest is not None
    assert signal.raw_digest.startswith("sha256:")


@pytest.mark.parametrize(
    ("status", "classification", "expected"),
    [
        ("New", None, SignalStatus.OPEN),
        ("InProgress", None, SignalStatus.IN_PROGRESS),
        ("Resolved", "TruePositive", SignalStatus.RESOLVED),
        ("Resolved", "FalsePositive", SignalStatus.SUPPRESSED),
        ("New", "FalsePositive", SignalStatus.SUPPRESSED),
        ("Unknown", None, SignalStatus.OPEN),  # an unknown state fails closed: still open
    ],
)
def test_status_and_false_positive_classification(
    status: str, classification: str | None, expected: SignalStatus
) -> None:
    alert = {**docs_alert(), "status": status, "classification": classification}
    assert map_alerts([alert], source="mde").signals[0].status is expected


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("UnSpecified", Severity.UNKNOWN),
        ("Informational", Severity.INFORMATIONAL),
        ("Medium", Severity.MEDIUM),
        ("High", Severity.HIGH),
        ("Bogus", Severity.UNKNOWN),
    ],
)
def test_severity_names(severity: str, expected: Severity) -> None:
    alert = {**docs_alert(), "severity": severity}
    assert map_alerts([alert], source="mde").signals[0].severity is expected


def test_alert_without_a_machine_name_is_quarantined_unless_machines_name_it() -> None:
    alert = {**docs_alert(), "computerDnsName": None}
    alone = map_alerts([alert], source="mde")
    assert [q.reason for q in alone.quarantined] == ["no_asset"]
    named = map_alerts([alert], source="mde", hosts={alert["machineId"]: "web-7.corp.example"})
    assert named.signals[0].assets == (asset(AssetKind.HOST, "web-7.corp.example"),)


def test_machine_identity_has_fqdn_ips_and_normalized_mac_but_not_the_nat_address() -> None:
    record = defender.fixture("machines.odata-samples.docs.json")["value"][0]
    found = machine_identity(record)
    assert found is not None
    machine_id, group = found
    assert machine_id == "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
    assert group == {
        "host": ("mymachine1.contoso.com",),
        "ip": ("10.166.113.46", "10.166.113.47", "2a01:110:68:4:59e4:3916:3b3e:4f96"),
        "mac": ("8c:ec:4b:89:7e:73",),  # the API writes it as 8CEC4B897E73
    }
    assert "167.220.203.175" not in group["ip"]  # lastExternalIpAddress: shared NAT


def test_normalizer_reads_alert_and_machine_responses_and_quarantines_garbage() -> None:
    normalizer = DefenderNormalizer("mde")
    alerts = normalizer.normalize((defender.FIXTURES / ALERTS).read_bytes(), location="a.json")
    assert len(alerts.signals) == 1
    machines = normalizer.normalize((defender.FIXTURES / "machines.list.docs.json").read_bytes())
    assert machines.identities == (
        {"host": ("mymachine1.contoso.com",), "ip": ("172.17.230.209",)},
    )
    garbage = normalizer.normalize(b"<html>not json</html>", location="export.json")
    assert [(q.reason, q.location) for q in garbage.quarantined] == [
        ("invalid_json", "export.json")
    ]


# --- the source against the stand-in -----------------------------------------------------------


@pytest.fixture
def mde() -> Iterator[tuple[defender.DefenderState, str]]:
    state = defender.DefenderState()
    with defender.serve(state) as url:
        yield state, url


def make_source(url: str, sleeps: list[float], **overrides: Any) -> DefenderSource:
    settings: dict[str, Any] = {
        "tenant_id": defender.TENANT,
        "client_id": defender.CLIENT_ID,
        "client_secret": SecretStr(defender.CLIENT_SECRET),
        "base_url": url,
        "token_url": f"{url}/{defender.TENANT}/oauth2/v2.0/token",
        "page_size": 2,
        **overrides,
    }
    return closed_after_test(
        DefenderSource("mde", DefenderConfig(**settings), sleep=sleeps.append, random=lambda: 0.0)
    )


def test_machines_become_identities_and_name_hosts_for_their_alerts(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    state.machines = [defender.numbered_machine(n) for n in range(3)]
    alert = state.add_alerts(1)[0]
    alert["computerDnsName"] = None
    alert["machineId"] = state.machines[0]["id"]
    batches = list(make_source(url, []).fetch(None))
    assert len(batches[0].identities) == 3
    host = asset(AssetKind.HOST, state.machines[0]["computerDnsName"])
    assert batches[0].signals[0].assets == (host,)
    assert [p for _, p in state.scripted.requests if p.startswith("/api/machines")]


def test_evidence_is_expanded_and_the_watermark_reread_window_is_sent(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    state.add_alerts(3)
    list(make_source(url, [], machines=False, overlap=60).fetch("2025-06-01T00:10:00Z"))
    first = next(p for _, p in state.scripted.requests if p.startswith("/api/alerts"))
    assert "%24expand=evidence" in first
    assert "lastUpdateTime+ge+2025-06-01T00%3A09%3A00Z" in first


def test_pages_by_skip_when_the_api_gives_no_next_link(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    state.links = False
    state.add_alerts(5)
    batches = list(make_source(url, [], machines=False).fetch(None))
    assert sum(len(b.signals) for b in batches) == 5
    assert [b.watermark for b in batches][:-1] == [None, None]  # no order: do not move yet
    assert batches[-1].watermark == "2025-06-01T00:00:05Z"


def test_one_token_serves_every_page_and_a_revoked_token_is_renewed_once(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    state.add_alerts(5)
    source = make_source(url, [], machines=False)
    assert len([s for b in source.fetch(None) for s in b.signals]) == 5
    assert state.token_requests == 1
    state.tokens.clear()  # revoked before its expiry
    assert len([s for b in source.fetch(None) for s in b.signals]) == 5
    assert state.token_requests == 2


def test_forbidden_names_host_path_vendor_message_and_tip_never_the_secret(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    body = b'{"error":{"code":"Forbidden","message":"Missing application roles: Alert.Read.All"}}'
    state.scripted.queue(403, body)
    with pytest.raises(SourceError) as caught:
        list(make_source(url, [], machines=False).fetch(None))
    text = str(caught.value)
    assert "HTTP 403 from 127.0.0.1:" in text
    assert "/api/alerts: Forbidden: Missing application roles: Alert.Read.All" in text
    assert "Alert.Read.All and Machine.Read.All" in text  # the tip
    assert defender.CLIENT_SECRET not in text


def test_a_proxy_html_page_is_retried_then_reported_as_such(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    html = {"Content-Type": "text/html"}
    for _ in range(3):
        state.scripted.queue(502, HTML_GATEWAY_PAGE, html)
    sleeps: list[float] = []
    with pytest.raises(SourceError, match=r"HTTP 502 .* an HTML page answered"):
        list(make_source(url, sleeps, machines=False, max_retries=2).fetch(None))
    assert sleeps == [0.5, 1.0]  # jittered exponential backoff, jitter pinned to its floor


def test_server_errors_are_retried_and_the_fetch_completes(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    state.add_alerts(2)
    state.scripted.queue(503, b'{"error":{"code":"InternalServerError","message":""}}')
    sleeps: list[float] = []
    batches = list(make_source(url, sleeps, machines=False).fetch(None))
    assert sum(len(b.signals) for b in batches) == 2
    assert sleeps == [0.5]


def test_a_retry_after_beyond_max_wait_stops_with_a_clear_error(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    state.scripted.queue(
        429, b'{"error":{"code":"TooManyRequests","message":"quota"}}', {"Retry-After": "3600"}
    )
    sleeps: list[float] = []
    with pytest.raises(SourceError, match="asked to wait 3600s, beyond max_wait"):
        list(make_source(url, sleeps, machines=False, max_wait=120).fetch(None))
    assert sleeps == []


def test_refused_secret_reports_the_token_endpoint_and_entra_message() -> None:
    state = defender.DefenderState(client_secret="something-else")
    with defender.serve(state) as url, pytest.raises(SourceError) as caught:
        list(make_source(url, []).fetch(None))
    text = str(caught.value)
    assert "HTTP 401 from" in text
    assert "/oauth2/v2.0/token: AADSTS7000215" in text
    assert defender.CLIENT_SECRET not in text
    assert "something-else" not in text


def test_a_stored_watermark_that_is_not_a_time_is_refused(
    mde: tuple[defender.DefenderState, str],
) -> None:
    _, url = mde
    with pytest.raises(SourceError, match="is not an RFC 3339 time"):
        list(make_source(url, []).fetch("page-7"))


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    assert retry_after("17", now) == 17.0
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after(later, now) == pytest.approx(30.0)
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


def test_alerts_keep_their_values_when_fetched_twice(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    state.add_alerts(3)
    before = copy.deepcopy(state.alerts)
    first = [s for b in make_source(url, []).fetch(None) for s in b.signals]
    again = [s for b in make_source(url, []).fetch(None) for s in b.signals]
    assert first == again
    assert state.alerts == before


def test_a_stalled_api_times_out_is_retried_and_named() -> None:
    with socket.socket() as stalled:  # accepts connections, never answers
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(8)
        url = f"http://127.0.0.1:{stalled.getsockname()[1]}"
        sleeps: list[float] = []
        source = make_source(url, sleeps, timeout=0.2, max_retries=1)
        with pytest.raises(SourceError, match=r"timed out talking to 127\.0\.0\.1:\d+/"):
            list(source.fetch(None))
    assert sleeps == [0.5]


def test_an_unreachable_api_is_named_without_the_secret() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the source connects
    with pytest.raises(SourceError) as caught:
        list(make_source(f"http://127.0.0.1:{port}", [], max_retries=0).fetch(None))
    assert f"cannot reach 127.0.0.1:{port}/" in str(caught.value)
    assert defender.CLIENT_SECRET not in str(caught.value)


def test_a_machine_record_is_an_inventory_entry() -> None:
    from clearance.model.assets import parse_asset
    from clearance.sources.defender.mapping import managed_machine

    record = defender.fixture("machines.odata-samples.docs.json")["value"][0]
    agent = managed_machine(record, "mde", "edr")
    assert agent is not None
    assert (agent.device, agent.active) == ("1e5bc9d7e413ddd7902c2932e418702b84d0cc07", True)
    assert agent.last_seen is not None
    assert agent.last_seen.isoformat() == "2021-01-25T07:27:36.052313+00:00"
    assert agent.names(parse_asset("host:mymachine1.contoso.com"))
    assert agent.names(parse_asset("ip:10.166.113.47"))
    assert not agent.names(parse_asset("ip:167.220.203.175"))  # the shared NAT address
    for health in ("Inactive", "ImpairedCommunication", "NoSensorData", None):
        sick = managed_machine({**record, "healthStatus": health}, "mde", "edr")
        assert sick is not None
        assert not sick.active, health
    discovered = managed_machine({**record, "onboardingStatus": "CanBeOnboarded"}, "mde", "edr")
    assert discovered is not None
    assert not discovered.active
    onboarded = managed_machine({**record, "onboardingStatus": "Onboarded"}, "mde", "edr")
    assert onboarded is not None
    assert onboarded.active
    assert managed_machine({"computerDnsName": "x"}, "mde", "edr") is None  # no id
    assert managed_machine({"id": "x"}, "mde", "edr") is None  # names no machine


def test_with_covers_the_machines_are_the_last_batchs_inventory(
    mde: tuple[defender.DefenderState, str],
) -> None:
    state, url = mde
    state.machines = [defender.numbered_machine(n) for n in range(3)]
    state.machines[2]["healthStatus"] = "Inactive"
    batches = list(make_source(url, [], machines=False, covers="edr").fetch(None))
    assert all(b.coverage is None for b in batches[:-1])
    inventory = batches[-1].coverage
    assert inventory is not None
    assert [(a.device, a.kind, a.active) for a in inventory] == [
        (f"{n:040x}", "edr", n != 2) for n in range(3)
    ]
    assert not any(b.identities for b in batches)  # machines: false still means no identities
    plain = list(make_source(url, []).fetch(None))
    assert all(b.coverage is None for b in plain)  # without covers, no inventory is replaced
