"""Wazuh: alert mapping on real indexer and alerts.json records, and the indexer source on the
OpenSearch stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from clearance.errors import SourceError
from clearance.model import AssetKind, Severity, SignalStatus, asset
from clearance.sources.wazuh.source import (
    WazuhConfig,
    WazuhNormalizer,
    WazuhSource,
    map_alerts,
    severity_of_level,
)
from closing import closed_after_test
from standins import wazuh

GENERATOR = "alerts.events-generator.sample.jsonl"


def generator_lines(moment: str = "2025-06-01T10:00:00.000+0000") -> bytes:
    # The generator's lines hold a literal "{timestamp}" placeholder (see PROVENANCE.md).
    return (wazuh.FIXTURES / GENERATOR).read_bytes().replace(b"{timestamp}", moment.encode())


def test_real_indexed_alert_becomes_a_signal() -> None:
    batch = map_alerts([wazuh.fixture_hit()], source="wazuh")
    (signal,) = batch.signals
    assert signal.uid == "wazuh:1707402914.872885:000:31166"
    assert signal.title == "Shellshock attack attempt"
    assert signal.severity is Severity.LOW  # rule.level 6
    assert signal.status is SignalStatus.OPEN
    assert signal.rule == "31166"
    assert signal.techniques == ("T1068", "T1190")
    # "-0300" offset without a colon, read as UTC
    assert signal.first_seen.isoformat() == "2024-02-08T14:35:14.334000+00:00"
    assert signal.assets == (asset(AssetKind.HOST, "redacted.com"),)  # no agent.ip here


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (0, Severity.INFORMATIONAL),
        (3, Severity.INFORMATIONAL),
        (4, Severity.LOW),
        (7, Severity.MEDIUM),
        (11, Severity.MEDIUM),
        (12, Severity.HIGH),
        (15, Severity.CRITICAL),
        (16, Severity.CRITICAL),
    ],
)
def test_rule_levels(level: int, expected: Severity) -> None:
    assert severity_of_level(level) is expected


def test_alerts_json_lines_map_agents_and_keep_alerts_with_a_shared_id_apart() -> None:
    batch = WazuhNormalizer().normalize(generator_lines(), location="alerts.json")
    assert batch.quarantined == ()
    assert len({s.uid for s in batch.signals}) == 5  # every line has id 1580123327.49031
    ec2 = next(s for s in batch.signals if s.uid == "wazuh:1580123327.49031:003:510")
    assert ec2.assets == (
        asset(AssetKind.HOST, "ip-10-0-0-180.us-west-1.compute.internal"),
        asset(AssetKind.IP, "10.0.0.180"),
    )


def test_a_bad_line_is_quarantined_and_its_neighbours_kept() -> None:
    lines = generator_lines().splitlines()
    lines.insert(2, b'{"truncated": ')
    batch = WazuhNormalizer().normalize(b"\n".join(lines), location="alerts.json")
    assert len(batch.signals) == 5
    assert [(q.reason, q.location) for q in batch.quarantined] == [
        ("invalid_item", "alerts.json: line[2]")
    ]


def test_the_placeholder_timestamp_is_quarantined_as_an_invalid_value() -> None:
    raw = (wazuh.FIXTURES / GENERATOR).read_bytes()
    batch = WazuhNormalizer().normalize(raw)
    assert batch.signals == ()
    assert {q.reason for q in batch.quarantined} == {"invalid_value"}


def test_normalizer_reads_a_search_response() -> None:
    response = {"hits": {"total": {"value": 1}, "hits": [wazuh.fixture_hit()]}}
    batch = WazuhNormalizer().normalize(json.dumps(response).encode())
    assert len(batch.signals) == 1


@pytest.fixture
def indexer() -> Iterator[tuple[wazuh.WazuhState, str]]:
    state = wazuh.WazuhState()
    with wazuh.serve(state) as url:
        yield state, url


def make_source(url: str, **overrides: Any) -> WazuhSource:
    config = WazuhConfig(
        base_url=url,
        username=wazuh.USERNAME,
        password=SecretStr(wazuh.PASSWORD),
        page_size=2,
        **overrides,
    )
    return closed_after_test(WazuhSource("wazuh", config, sleep=lambda _: None, random=lambda: 0.0))


def test_each_batch_resumes_exactly_after_its_last_hit(
    indexer: tuple[wazuh.WazuhState, str],
) -> None:
    state, _ = indexer
    state.add_alerts(5)
    _, url = indexer
    batches = list(make_source(url).fetch(None))
    assert [len(b.signals) for b in batches] == [2, 2, 1]
    second = batches[1].watermark
    assert second is not None
    assert second.startswith("2025-06-01T00:00:04Z|[1748736004000,")
    rest = [s.uid for b in make_source(url).fetch(second) for s in b.signals]
    assert rest == [s.uid for s in batches[2].signals]


def test_min_level_and_search_after_are_sent_to_the_indexer(
    indexer: tuple[wazuh.WazuhState, str],
) -> None:
    state, url = indexer
    low = state.add_alerts(3)
    low[1]["rule"]["level"] = 3
    uids = [s.uid for b in make_source(url, min_level=4).fetch(None) for s in b.signals]
    assert len(uids) == 2


def test_refused_password_names_the_status_and_never_the_password(
    indexer: tuple[wazuh.WazuhState, str],
) -> None:
    state, url = indexer
    state.password = "other"
    with pytest.raises(SourceError) as caught:
        list(make_source(url).fetch(None))
    text = str(caught.value)
    assert "HTTP 401 from" in text
    assert "/wazuh-alerts-4.x-*/_search: Unauthorized" in text
    assert wazuh.PASSWORD not in text


def test_a_stored_watermark_of_another_shape_is_refused(
    indexer: tuple[wazuh.WazuhState, str],
) -> None:
    _, url = indexer
    with pytest.raises(SourceError, match="tip: reset it"):
        list(make_source(url).fetch("2025-06-01T00:00:00Z|not-json"))


# --- the agent inventory, from the server API --------------------------------------------------


def test_agent_records_are_inventory_entries_and_only_active_ones_work() -> None:
    from clearance.model.assets import parse_asset
    from clearance.sources.wazuh.agents import managed_agent

    disconnected, never = wazuh.fixture_agents()
    agent = managed_agent(disconnected, "wazuh", "edr")
    assert agent is not None
    assert (agent.device, agent.active) == ("001", False)
    assert agent.last_seen is not None
    assert agent.last_seen.isoformat() == "2024-10-11T08:00:43+00:00"
    assert agent.names(parse_asset("host:ip-10-0-1-17.eu-west-1.compute.internal"))
    assert agent.names(parse_asset("ip:10.0.1.17"))
    active = managed_agent({**disconnected, "status": "active"}, "wazuh", "edr")
    assert active is not None
    assert active.active
    unseen = managed_agent(never, "wazuh", "edr")
    assert unseen is not None  # listed, named by its host name only ("any" is no address)
    assert (unseen.active, unseen.last_seen) == (False, None)
    assert [str(a) for a in unseen.assets] == ["host:ip-10-0-1-18"]
    assert managed_agent({"name": "x"}, "wazuh", "edr") is None  # no id
    assert managed_agent({"id": "003", "ip": "any"}, "wazuh", "edr") is None  # names nothing


def api_settings(url: str) -> dict[str, Any]:
    return {
        "covers": "edr",
        "api_url": url,
        "api_username": wazuh.API_USERNAME,
        "api_password": SecretStr(wazuh.API_PASSWORD),
    }


def test_with_covers_the_last_batch_is_every_agent_paged_by_offset_and_logins_renew(
    indexer: tuple[wazuh.WazuhState, str],
) -> None:
    state, url = indexer
    state.add_alerts(1)
    for n in range(5):
        state.add_agent(f"node-{n}", "active" if n % 2 else "disconnected", "2025-06-01T10:00:00Z")
    source = make_source(url, **api_settings(url))
    batches = list(source.fetch(None))
    assert all(b.coverage is None for b in batches[:-1])
    inventory = batches[-1].coverage
    assert inventory is not None
    assert [(a.device, a.active) for a in inventory] == [
        (f"{n + 1:03d}", bool(n % 2)) for n in range(5)
    ]
    agent_calls = [p for _, p in state.scripted.requests if p.startswith("/agents")]
    assert len(agent_calls) == 3  # 2 + 2 + 1
    assert state.logins == 1
    # The JWT expires (900 s by default): the next fetch's 401 logs in again and goes on.
    state.expire_tokens()
    again = list(source.fetch(None))[-1].coverage
    assert again is not None
    assert len(again) == 5
    assert state.logins == 2


def test_wrong_api_credentials_fail_the_fetch_without_showing_the_password(
    indexer: tuple[wazuh.WazuhState, str],
) -> None:
    _, url = indexer
    settings = {**api_settings(url), "api_password": SecretStr("not-the-password-0123")}
    with pytest.raises(SourceError, match="api_username and api_password") as failure:
        list(make_source(url, **settings).fetch(None))
    assert "not-the-password-0123" not in str(failure.value)


def test_covers_without_the_server_api_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="covers needs api_url"):
        WazuhConfig(
            base_url="https://indexer:9200",
            username="u",
            password=SecretStr("p"),
            covers="edr",
        )
