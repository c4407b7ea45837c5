"""FIRST's EPSS scores as a ``type: epss`` source, against a stand-in serving the real gzipped
CSV the way the real host does (ETag, 304): sync stores the scores and scores the stored
vulnerabilities (and their known-exploited twins), asks again with If-None-Match, re-scores
when the feed changes, keeps the stored scores when the feed answers garbage; pushed data is
scored at once; and a local ``clearance check`` scores what it read the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from builders import NOW, POLICY_YAML, live_snapshot, signal
from clearance.config import load_config
from clearance.ingest.storing import EPSS_REFERENCE, store_batch, store_kev_catalog
from clearance.model.signal import Signal, SignalKind
from clearance.model.target import Target
from clearance.sources.epss.catalog import load_scores
from clearance.sources.epss.feed import EpssFeedConfig, EpssFeedSource
from clearance.sources.interface import Batch
from clearance.store.sql import SqlStore
from clearance.sync.leases import FileLease
from clearance.sync.poller import Poller, Schedule
from closing import closed_after_test
from standins._server import HTML_GATEWAY_PAGE, Loopback
from standins.first_epss import SAMPLE, EpssFeedHandler, EpssFeedState, gzipped

KEV = (
    Path(__file__).parent.parent
    / "fixtures"
    / "kev"
    / "known_exploited_vulnerabilities.trimmed.json"
)
CVE = "CVE-2019-1551"  # 0.62087 in the sample
IMAGE = "image:ghcr.io/acme/web:2.0"


@pytest.fixture
def feed() -> Iterator[tuple[str, EpssFeedState]]:
    state = EpssFeedState()
    with Loopback(EpssFeedHandler, state) as base:
        yield base + "/", state


def _poller(store: SqlStore, base: str, tmp_path: Path) -> Poller:
    source = closed_after_test(
        EpssFeedSource(
            "first-epss", EpssFeedConfig(base_url=base, max_retries=0), sleep=lambda _: None
        )
    )
    return Poller(
        store=store,
        sources={source.name: source},
        schedules={source.name: Schedule(retries=0)},
        lease=FileLease(tmp_path / "leases"),
        clock=lambda: NOW,
        sleep=lambda _: None,
    )


def _vulnerable(cve: str = CVE) -> Signal:
    return signal(f"trivy:web:{cve}", kind=SignalKind.VULNERABILITY, rule=cve, assets=(IMAGE,))


def test_the_sample_parses_like_the_real_feed() -> None:
    scores = load_scores(gzipped(SAMPLE.read_text()))
    assert (scores.model_version, scores.score_date) == ("v2025.03.14", "2026-12-05T12:55:00Z")
    assert scores.get("cve-2019-1551") == (0.62087, 0.98263)
    assert scores.get("CVE-2023-4863") == (5e-05, 0.02318)  # scientific notation, as published
    assert scores.quarantined == ()


def test_bad_rows_are_quarantined_beside_the_good_ones() -> None:
    text = SAMPLE.read_text() + "NOT-A-CVE,0.5,0.5\nCVE-2020-0001,7.5,0.1\nCVE-2020-0002,x,y\n"
    scores = load_scores(text.encode())
    assert len(scores.scores) == 6
    assert [q.reason for q in scores.quarantined] == ["invalid_row"] * 3
    assert [q.location for q in scores.quarantined] == ["epss:9", "epss:10", "epss:11"]


def test_sync_stores_the_scores_and_scores_stored_vulnerabilities_then_asks_conditionally(
    store: SqlStore, feed: tuple[str, EpssFeedState], tmp_path: Path
) -> None:
    base, state = feed
    store.upsert_signals([_vulnerable()], NOW)
    store_kev_catalog(store, _kev_listing(CVE), NOW)  # its known-exploited twin, unscored yet
    poller = _poller(store, base, tmp_path)

    first = poller.pull("first-epss")
    assert first.ok, first.error
    for kind in (SignalKind.VULNERABILITY, SignalKind.KNOWN_EXPLOITED):
        (scored,) = store.active_signals_of_kind(kind)
        assert (scored.epss, scored.epss_percentile) == (0.62087, 0.98263)
    assert store.get_watermark("first-epss") == state.etag

    again = poller.pull("first-epss")
    assert again.ok
    assert state.conditional == [None, state.etag]

    # The next day's feed scores the CVE higher: the stored signal follows.
    state.body = gzipped(SAMPLE.read_text().replace("0.62087,0.98263", "0.91234,0.99871"))
    assert poller.pull("first-epss").ok
    (vulnerability,) = store.active_signals_of_kind(SignalKind.VULNERABILITY)
    assert vulnerability.epss == 0.91234


def test_a_feed_answering_garbage_is_an_error_and_the_stored_scores_stay(
    store: SqlStore, feed: tuple[str, EpssFeedState], tmp_path: Path
) -> None:
    base, state = feed
    poller = _poller(store, base, tmp_path)
    assert poller.pull("first-epss").ok
    stored = store.get_reference(EPSS_REFERENCE)
    first_etag = state.etag
    state.body = gzipped("cve,epss,percentile\n")  # a new body: the ETag changes …
    state.scripted.queue(200, HTML_GATEWAY_PAGE, {"Content-Type": "text/html"})  # … a proxy
    failed = poller.pull("first-epss")
    assert not failed.ok
    assert failed.error is not None
    assert "not the EPSS feed" in failed.error
    state.scripted.queue(200, state.body[:20], {"Content-Type": "application/gzip"})  # truncated
    assert not poller.pull("first-epss").ok
    assert store.get_reference(EPSS_REFERENCE) == stored
    assert store.get_watermark("first-epss") == first_etag


def test_pushed_vulnerabilities_are_scored_from_the_stored_feed_at_once(
    store: SqlStore, feed: tuple[str, EpssFeedState], tmp_path: Path
) -> None:
    base, _ = feed
    assert _poller(store, base, tmp_path).pull("first-epss").ok
    store_batch(store, Batch(signals=(_vulnerable(),)), "trivy", NOW)
    (vulnerability,) = store.active_signals_of_kind(SignalKind.VULNERABILITY)
    assert vulnerability.epss == 0.62087


def test_local_check_scores_what_it_read_as_the_store_would(
    feed: tuple[str, EpssFeedState], tmp_path: Path
) -> None:
    base, _ = feed
    (tmp_path / "scans.jsonl").write_text(json.dumps(_vulnerable().to_dict()) + "\n")
    (tmp_path / "kev.json").write_bytes(_kev_listing(CVE))
    (tmp_path / "policy.yaml").write_text(POLICY_YAML)
    inventory = {
        "targets": [
            {"cluster": "prod-eu", "namespace": "shop", "workload": "deployment/web",
             "assets": {"direct": [IMAGE]}}
        ]
    }  # fmt: skip
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    config = {
        "policy": "policy.yaml",
        "sources": [
            # The KEV mirror is listed first: scores still reach its known-exploited signal.
            {"name": "kev", "type": "file", "path": "kev.json", "format": "kev"},
            {"name": "scans", "type": "file", "path": "scans.jsonl"},
            {"name": "first-epss", "type": "epss", "base_url": base, "max_retries": 0},
        ],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    (tmp_path / "clearance.yaml").write_text(yaml.safe_dump(config))
    target = Target.of("production", "prod-eu", "shop", "deployment/web")
    loaded = closed_after_test(load_config(tmp_path / "clearance.yaml"))
    snapshot = live_snapshot(loaded, target, NOW)
    scored = {m.signal.kind.value: m.signal.epss for m in snapshot.matches}
    assert scored == {"vulnerability": 0.62087, "known_exploited": 0.62087}


def _kev_listing(cve: str) -> bytes:
    catalog = json.loads(KEV.read_text())
    catalog["vulnerabilities"].append(catalog["vulnerabilities"][0] | {"cveID": cve})
    return json.dumps(catalog).encode()
