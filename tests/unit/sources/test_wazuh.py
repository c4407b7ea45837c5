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
