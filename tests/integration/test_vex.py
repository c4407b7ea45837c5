"""VEX statements (OpenVEX and CycloneDX VEX) waive the findings they say do not apply to an
image, in the store (at ingest, and again when a new document arrives) and in a local check
alike; the latest statement speaks, so an ``affected`` one lifts an earlier waiver; the
decision names the statement and the finding contributes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from builders import NOW, POLICY_YAML, exposure, fresh, live_snapshot, make_policy, signal
from clearance.config import load_config
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.ingest.storing import store_batch, store_document, store_kev_catalog
from clearance.model.decision import Decision
from clearance.model.signal import Signal, SignalKind
from clearance.model.snapshot import Snapshot
from clearance.model.target import Target
from clearance.sources.interface import Batch
from clearance.sources.vex.documents import load_document
from clearance.store.sql import SqlStore
from closing import closed_after_test

FIXTURES = Path(__file__).parent.parent / "fixtures"
VEX = FIXTURES / "vex"
KEV = FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json"
NOT_PRESENT = "vulnerable_code_not_present"
CVE = "CVE-2021-44228"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"image:ghcr.io/acme/web@{DIGEST}"
PURL = f"pkg:oci/web@{DIGEST.replace(':', '%3A')}?repository_url=ghcr.io/acme/web&tag=2.0"


def _openvex(status: str, timestamp: str, **extra: Any) -> bytes:
    doc = json.loads((FIXTURES / "vex" / "openvex.spec-example.json").read_text())
    statement = doc["statements"][0]
    statement |= {"vulnerability": {"name": CVE}, "products": [{"@id": PURL}], "status": status}
    statement |= extra
    doc["timestamp"] = timestamp
    return json.dumps(doc).encode()


def _cyclonedx(name: str, purl: str | None = PURL) -> bytes:
    doc = json.loads((FIXTURES / "vex" / name).read_text())
    if purl is not None:
        doc["metadata"]["component"]["purl"] = purl
    return json.dumps(doc).encode()


def _vulnerable() -> Signal:
    return signal(
        f"trivy:web:{CVE}",
        kind=SignalKind.VULNERABILITY,
        rule=CVE,
        assets=(IMAGE, "image:ghcr.io/acme/web:2.0"),
    )


def test_the_real_documents_read_as_statements() -> None:
    spec = load_document((FIXTURES / "vex" / "openvex.spec-example.json").read_bytes())
    (fixed,) = spec.statements
    assert (fixed.vulnerability, fixed.status) == ("CVE-2023-12345", "fixed")
    assert fixed.images == ()  # pkg:apk products name packages, not images: kept, never match
    assert fixed.author == "Wolfi J Inkinson"
    cisa = load_document(
        (FIXTURES / "vex" / "cyclonedx.cisa-case-1.not_affected.json").read_bytes()
    )
    (statement,) = cisa.statements
    assert (statement.vulnerability, statement.status, statement.justification) == (
        CVE,
        "not_affected",
        "code_not_present",
    )
    assert statement.images == ()  # product "ABC" has no purl
    given = load_document(_cyclonedx("cyclonedx.cisa-case-1.not_affected.json"))
    assert set(given.statements[0].images) == {
        f"digest:{DIGEST}",
        "ref:ghcr.io/acme/web:2.0",
    }


def test_a_not_affected_statement_waives_the_stored_finding_and_an_affected_one_lifts_it(
    store: SqlStore,
) -> None:
    store_batch(store, Batch(signals=(_vulnerable(),)), "trivy", NOW)
    kev = json.loads(
        (FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json").read_text()
    )
    kev["vulnerabilities"].append(kev["vulnerabilities"][0] | {"cveID": CVE})
    store_kev_catalog(store, json.dumps(kev).encode(), NOW)

    waived = store_document(
        store,
        "openvex",
        _openvex(
            "not_affected", "2026-11-20T10:00:00Z", justification="vulnerable_code_not_present"
        ),
        NOW,
        source="vex",
    )
    assert (waived.entries, waived.updated) == (1, 2)  # the finding and its KEV twin
    for kind in (SignalKind.VULNERABILITY, SignalKind.KNOWN_EXPLOITED):
        (found,) = store.active_signals_of_kind(kind)
        assert found.vex == (
            "not_affected (vulnerable_code_not_present) per VEX "
            "https://openvex.dev/docs/example/vex-9fb3463de1b57 by Wolfi J Inkinson"
        )

    # A newer version of the same document (same @id) says the image is affected after all.
    store_document(
        store, "openvex", _openvex("affected", "2026-11-25T10:00:00Z"), NOW, source="vex"
    )
    for kind in (SignalKind.VULNERABILITY, SignalKind.KNOWN_EXPLOITED):
        (found,) = store.active_signals_of_kind(kind)
        assert found.vex is None


def test_a_finding_stored_after_the_statement_is_waived_at_once(store: SqlStore) -> None:
    body = _cyclonedx("cyclonedx.cisa-case-1.not_affected.json")
    store_document(store, "cyclonedx-vex", body, NOW, source="vex")
    store_batch(store, Batch(signals=(_vulnerable(),)), "trivy", NOW)
    (found,) = store.active_signals_of_kind(SignalKind.VULNERABILITY)
    assert found.vex is not None
    assert found.vex.startswith("not_affected (code_not_present) per VEX")
    # The same statement about another image waives nothing.
    other = signal(
        f"trivy:api:{CVE}", kind=SignalKind.VULNERABILITY, rule=CVE,
        assets=("image:ghcr.io/acme/api:2.0",),
    )  # fmt: skip
    store_batch(store, Batch(signals=(other,)), "trivy", NOW)
    assert store.get_signal(other.uid).vex is None


def test_the_decision_names_the_statement_and_the_finding_counts_for_nothing() -> None:
    waiver = "not_affected (component_not_present) per VEX doc-1 by acme"
    target = Target.of("production", "prod-eu", "shop", "deployment/web")
    seen = exposure(target, direct=(IMAGE,))

    def decided(item: Signal) -> Decision:
        snap = Snapshot(seen, SignalIndex([item]).match(seen), (fresh("trivy"),))
        return decide(target, snap, make_policy(), NOW)

    assert decided(_vulnerable()).score > 0
    waived = decided(replace(_vulnerable(), vex=waiver))
    assert waived.suppressed == ((f"trivy:web:{CVE}", f"VEX: {waiver}"),)
    assert (waived.contributors, waived.score) == ((), 0)


def test_a_local_check_reads_a_vex_file_as_the_store_would(tmp_path: Path) -> None:
    (tmp_path / "scans.jsonl").write_text(json.dumps(_vulnerable().to_dict()) + "\n")
    (tmp_path / "vex.json").write_bytes(_openvex("fixed", "2026-11-20T10:00:00Z"))
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
            {"name": "vex", "type": "file", "path": "vex.json", "format": "openvex"},
            {"name": "scans", "type": "file", "path": "scans.jsonl"},
        ],
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    (tmp_path / "clearance.yaml").write_text(yaml.safe_dump(config))
    target = Target.of("production", "prod-eu", "shop", "deployment/web")
    loaded = closed_after_test(load_config(tmp_path / "clearance.yaml"))
    snapshot = live_snapshot(loaded, target, NOW)
    (match,) = snapshot.matches
    assert match.signal.vex is not None
    assert match.signal.vex.startswith("fixed per VEX https://openvex.dev/docs/example/")
    decision = decide(target, snapshot, make_policy(), NOW)
    assert [uid for uid, _ in decision.suppressed] == [match.signal.uid]
