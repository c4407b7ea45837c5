"""CISA KEV: the catalog (tests/fixtures/kev) and the known_exploited signals it adds."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest

from clearance.errors import SourceError
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus
from clearance.sources.kev.catalog import KevCatalog, KevNormalizer, enrich, load_catalog
from clearance.sources.trivy.report import TrivyNormalizer

FIXTURES = Path(__file__).parents[2] / "fixtures"
CATALOG = FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json"
SCHEMA = FIXTURES / "kev" / "known_exploited_vulnerabilities_schema.json"
PINNED = FIXTURES / "trivy" / "report.alpine-3.10.2.trivy-operator-fixture.json"
SCANNED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ALPINE_DIGEST = "sha256:72c42ed48c3a2db31b7dafe17d275b634664a708d901ec9fd57b1529280f01fb"


def _catalog_listing(cve: str, *, ransomware: str = "Unknown") -> KevCatalog:
    """The real catalog with one real entry renamed to a CVE the Trivy fixture has (synthetic:
    none of the six trimmed KEV entries is in an alpine image)."""
    doc = json.loads(CATALOG.read_bytes())
    doc["vulnerabilities"][0] |= {"cveID": cve, "knownRansomwareCampaignUse": ransomware}
    return load_catalog(json.dumps(doc).encode())


def _vulns() -> list[Signal]:
    return list(TrivyNormalizer(scanned_at=SCANNED).normalize(PINNED.read_bytes()).signals)


def test_the_real_catalog_validates_against_its_schema_and_loads() -> None:
    doc = json.loads(CATALOG.read_bytes())
    jsonschema.validate(doc, json.loads(SCHEMA.read_bytes()))
    catalog = load_catalog(CATALOG.read_bytes())
    assert catalog.version == "2025.02.25"
    assert len(catalog.entries) == 6
    assert catalog.quarantined == ()
    entry = catalog.get("cve-2024-57727")
    assert entry is not None
    assert entry.due_date == date(2025, 3, 6)


def test_a_listed_cve_in_an_image_becomes_a_distinct_known_exploited_signal() -> None:
    catalog = _catalog_listing("CVE-2019-1549")
    (kev,) = enrich(_vulns(), catalog)
    vuln = next(s for s in _vulns() if s.rule == "CVE-2019-1549")
    assert kev.kind is SignalKind.KNOWN_EXPLOITED
    assert kev.uid == f"kev:{ALPINE_DIGEST}:CVE-2019-1549"
    assert kev.assets == vuln.assets
    assert kev.severity is Severity.HIGH  # raised from medium
    assert kev.confidence == 1.0
    assert kev.rule == "CVE-2019-1549"
    assert "Synacor Zimbra Collaboration Suite (ZCS) Cross-Site Scripting" in kev.title
    assert "due 2025-03-18" in kev.title
    assert (kev.first_seen, kev.last_seen, kev.status) == (
        vuln.first_seen,
        vuln.last_seen,
        vuln.status,
    )


def test_known_ransomware_use_makes_it_critical() -> None:
    (kev,) = enrich(_vulns(), _catalog_listing("CVE-2019-1549", ransomware="Known"))
    assert kev.severity is Severity.CRITICAL
    assert "ransomware" in kev.title


def test_unlisted_cves_and_other_kinds_add_nothing() -> None:
    catalog = load_catalog(CATALOG.read_bytes())
    assert enrich(_vulns(), catalog) == []
    detection = replace(_vulns()[0], kind=SignalKind.DETECTION)
    assert enrich([detection], _catalog_listing("CVE-2019-1549")) == []


def test_two_scanners_on_one_image_give_one_signal_with_both_assets() -> None:
    vuln = next(s for s in _vulns() if s.rule == "CVE-2019-1549")
    from clearance.model.assets import asset

    workload = asset("workload", "prod/default/replicaset/web-1")
    later = replace(
        vuln, uid=vuln.uid, assets=(*vuln.assets, workload), last_seen=SCANNED.replace(hour=13)
    )
    (kev,) = enrich([vuln, later], _catalog_listing("CVE-2019-1549"))
    assert workload in kev.assets
    assert kev.last_seen == later.last_seen
    assert kev.first_seen == vuln.first_seen


def test_a_suppressed_vulnerability_stays_suppressed() -> None:
    vuln = replace(
        next(s for s in _vulns() if s.rule == "CVE-2019-1549"), status=SignalStatus.SUPPRESSED
    )
    (kev,) = enrich([vuln], _catalog_listing("CVE-2019-1549"))
    assert kev.status is SignalStatus.SUPPRESSED


def test_bad_entries_are_quarantined_and_the_rest_kept() -> None:
    doc = json.loads(CATALOG.read_bytes())
    del doc["vulnerabilities"][1]["dueDate"]
    doc["vulnerabilities"][2]["cveID"] = "CVE-17-1"
    doc["vulnerabilities"][3]["dateAdded"] = "yesterday"
    doc["vulnerabilities"].append(42)
    catalog = load_catalog(json.dumps(doc).encode(), location="kev.json")
    assert len(catalog.entries) == 3
    assert [(q.reason, q.location) for q in catalog.quarantined] == [
        ("missing_field", "kev.json: vulnerabilities[1]"),
        ("invalid_value", "kev.json: vulnerabilities[2]"),
        ("invalid_value", "kev.json: vulnerabilities[3]"),
        ("invalid_item", "kev.json: vulnerabilities[6]"),
    ]


def test_not_a_catalog_raises_from_load_and_is_quarantined_by_the_normalizer() -> None:
    with pytest.raises(SourceError, match="vulnerabilities"):
        load_catalog(b'{"title": "x"}', location="kev.json")
    normalizer = KevNormalizer()
    normalizer.normalize(CATALOG.read_bytes())
    batch = normalizer.normalize(b"<html>proxy error</html>", location="kev.json")
    (bad,) = batch.quarantined
    assert bad.reason == "invalid_catalog"
    assert normalizer.catalog is not None
    assert len(normalizer.catalog.entries) == 6
