"""The CISA KEV feed as a ``type: kev`` source, against a stand-in that serves the real catalog
the way a CDN does (ETag, 304): sync stores it and raises the stored images that carry a listed
CVE, asks again with If-None-Match, keeps the stored catalog when the feed answers garbage; and
``clearance check`` (local mode) applies it to the signals it read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from builders import NOW, POLICY_YAML, live_snapshot, signal
from clearance.config import load_config
from clearance.ingest.storing import KEV_REFERENCE
from clearance.model.signal import SignalKind
from clearance.model.target import Target
from clearance.sources.kev.feed import KevFeedConfig, KevFeedSource
from clearance.store.sql import SqlStore
from clearance.sync.leases import FileLease
from clearance.sync.poller import Poller, Schedule
from closing import closed_after_test
from standins._server import HTML_GATEWAY_PAGE, Loopback
from standins.cisa_kev import FEED_PATH, KevFeedHandler, KevFeedState

FIXTURE = Path(__file__).parent.parent / "fixtures" / "kev"
CVE = "CVE-2024-3094"
IMAGE = "image:ghcr.io/acme/web:2.0"


def _catalog(*extra_cves: str) -> bytes:
    catalog = json.loads((FIXTURE / "known_exploited_vulnerabilities.trimmed.json").read_text())
    template = catalog["vulnerabilities"][0]
    for cve in extra_cves:
        catalog["vulnerabilities"].append(
            template | {"cveID": cve, "knownRansomwareCampaignUse": "Unknown"}
        )
    return json.dumps(catalog).encode()


@pytest.fixture
def feed() -> Iterator[tuple[str, KevFeedState]]:
    state = KevFeedState(_catalog(CVE))
    with Loopback(KevFeedHandler, state) as base:
        yield base + FEED_PATH.rsplit("/", 1)[0] + "/", state


def _source(base_url: str) -> KevFeedSource:
    config = KevFeedConfig(base_url=base_url, max_retries=0)
    return closed_after_test(KevFeedSource("cisa-kev", config, sleep=lambda _: None))


def _poller(store: SqlStore, source: KevFeedSource, tmp_path: Path) -> Poller:
    return Poller(
        store=store,
        sources={source.name: source},
        schedules={source.name: Schedule(retries=0)},
        lease=FileLease(tmp_path / "leases"),
        clock=lambda: NOW,
        sleep=lambda _: None,
    )


def test_sync_stores_the_catalog_and_raises_stored_images_then_asks_conditionally(
    store: SqlStore, feed: tuple[str, KevFeedState], tmp_path: Path
) -> None:
    base, state = feed
    vulnerable = signal(
        "trivy:web:" + CVE, kind=SignalKind.VULNERABILITY, rule=CVE, assets=(IMAGE,)
    )
    store.upsert_signals([vulnerable], NOW)
    poller = _poller(store, _source(base), tmp_path)

    first = poller.pull("cisa-kev")
    assert first.ok, first.error
    (exploited,) = store.active_signals_of_kind(SignalKind.KNOWN_EXPLOITED)
    assert (exploited.rule, str(exploited.assets[0])) == (CVE, IMAGE)
    assert store.get_watermark("cisa-kev") == state.etag

    again = poller.pull("cisa-kev")
    assert again.ok
    assert again.batches == 0
    assert state.conditional == [None, state.etag]
    (health,) = [h for h in store.source_states() if h.name == "cisa-kev"]
    assert health.last_success == NOW
    assert health.last_error is None


def test_a_feed_answering_garbage_is_an_error_and_the_stored_catalog_stays(
    store: SqlStore, feed: tuple[str, KevFeedState], tmp_path: Path
) -> None:
    base, state = feed
    poller = _poller(store, _source(base), tmp_path)
    assert poller.pull("cisa-kev").ok
    stored = store.get_reference(KEV_REFERENCE)
    first_etag = state.etag
    state.body = _catalog(CVE, "CVE-2025-0001")  # a new catalog: the ETag changes …
    state.scripted.queue(200, HTML_GATEWAY_PAGE, {"Content-Type": "text/html"})  # … but a proxy
    failed = poller.pull("cisa-kev")
    assert not failed.ok
    assert failed.error is not None
    assert "cisa-kev" in failed.error
    assert store.get_reference(KEV_REFERENCE) == stored
    assert store.get_watermark("cisa-kev") == first_etag  # not moved past what is stored


def test_local_check_applies_the_feed_to_the_signals_it_reads(
    feed: tuple[str, KevFeedState], tmp_path: Path
) -> None:
    base, _ = feed
    vulnerable = signal(
        "trivy:web:" + CVE, kind=SignalKind.VULNERABILITY, rule=CVE, assets=(IMAGE,)
    )
    (tmp_path / "scans.jsonl").write_text(json.dumps(vulnerable.to_dict()) + "\n")
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
            {"name": "scans", "type": "file", "path": "scans.jsonl"},
            {"name": "cisa-kev", "type": "kev", "base_url": base, "max_retries": 0},
        ],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    (tmp_path / "clearance.yaml").write_text(yaml.safe_dump(config))
    target = Target.of(
        environment="production", cluster="prod-eu", namespace="shop", workload="deployment/web"
    )
    loaded = closed_after_test(load_config(tmp_path / "clearance.yaml"))
    snapshot = live_snapshot(loaded, target, NOW)
    kinds = sorted(m.signal.kind.value for m in snapshot.matches)
    assert kinds == ["known_exploited", "vulnerability"]
    assert {h.name for h in snapshot.sources} == {"scans", "cisa-kev"}
