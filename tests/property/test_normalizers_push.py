"""Falco, OCSF, Trivy and KEV normalizers: random garbage (random JSON, broken fields, lines that
are not JSON) beside real items never raises, never costs a real item, and every item is
accounted for: a signal (or a fold of one), a counted skip, or a quarantined entry."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearance.sources.falco.normalize import FalcoNormalizer
from clearance.sources.kev.catalog import load_catalog
from clearance.sources.ocsf import OcsfNormalizer
from clearance.sources.trivy.report import TrivyNormalizer

FIXTURES = Path(__file__).parents[1] / "fixtures"
FALCO = [
    json.loads(line)
    for name in ("events.syscall-k8s.falco-website.jsonl", "events.k8s_audit.falco-website.jsonl")
    for line in (FIXTURES / "falco" / name).read_bytes().splitlines()
    if line.strip()
]
OCSF = json.loads(
    (FIXTURES / "ocsf" / "detection_finding.k8s-container.synthetic.ocsf.json").read_bytes()
)
TRIVY = json.loads((FIXTURES / "trivy" / "report.image.alpine-3.10.golden.json").read_bytes())
KEV = json.loads((FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json").read_bytes())

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# Raw lines (bytes, to tell them from JSON strings) that are not JSON.
NOT_JSON = (
    st.text(min_size=1, max_size=30)
    .filter(lambda t: "\n" not in t and "\r" not in t and t.strip() and not _is_json(t))
    .map(str.encode)
)
SETTINGS = settings(
    max_examples=int(os.environ.get("CLEARANCE_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _mutant(base: dict[str, Any], fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A real item with one field replaced by random JSON or removed."""
    return st.tuples(st.sampled_from(fields), JSON, st.booleans()).map(
        lambda t: (
            {k: v for k, v in base.items() if not (t[2] and k == t[0])}
            | ({} if t[2] else {t[0]: t[1]})
        )
    )


FALCO_GARBAGE = JSON | _mutant(
    FALCO[0], ["rule", "priority", "time", "output_fields", "tags", "hostname", "source"]
)


@SETTINGS
@given(
    garbage=st.lists(FALCO_GARBAGE | NOT_JSON, max_size=6),
    picks=st.lists(st.integers(0, len(FALCO) - 1), min_size=1, max_size=8),
    seed=st.randoms(use_true_random=False),
    as_lines=st.booleans(),
)
def test_falco_garbage_never_costs_a_real_event(
    garbage: list[Any], picks: list[int], seed: Any, as_lines: bool
) -> None:
    real = [FALCO[i] for i in picks]
    if not as_lines:
        garbage = [g for g in garbage if not isinstance(g, bytes)]
    items: list[Any] = [*real, *garbage]
    seed.shuffle(items)
    if as_lines:
        body = b"\n".join(i if isinstance(i, bytes) else json.dumps(i).encode() for i in items)
    else:
        body = json.dumps(items).encode()
    normalizer = FalcoNormalizer(cluster="prod")
    batch = normalizer.normalize(body, location="body")

    expected = FalcoNormalizer(cluster="prod").normalize(
        b"\n".join(json.dumps(e).encode() for e in real)
    )
    found = {s.uid: s.count for s in batch.signals}
    for signal in expected.signals:
        assert found.get(signal.uid, 0) >= signal.count
    accounted = sum(found.values()) + len(batch.quarantined) + sum(normalizer.skipped.values())
    if as_lines and len(items) == 1:
        return  # a lone line is a JSON body, whose own list elements are the items
    assert accounted == len(items)
    assert all(
        q.reason and q.digest.startswith("sha256:") and q.location for q in batch.quarantined
    )


OCSF_GARBAGE = JSON | _mutant(
    OCSF | {"finding_info": OCSF["finding_info"] | {"uid": "mutant"}},
    [
        "class_uid",
        "finding_info",
        "severity_id",
        "status_id",
        "time",
        "device",
        "container",
        "resources",
        "confidence_score",
        "confidence_id",
        "severity",
    ],
)


@SETTINGS
@given(garbage=st.lists(OCSF_GARBAGE, max_size=6), copies=st.integers(1, 4), seed=st.randoms())
def test_ocsf_garbage_never_costs_a_real_finding(
    garbage: list[Any], copies: int, seed: Any
) -> None:
    real = [
        OCSF | {"finding_info": OCSF["finding_info"] | {"uid": f"real-{n}"}} for n in range(copies)
    ]
    items: list[Any] = [*real, *garbage]
    seed.shuffle(items)
    batch = OcsfNormalizer(cluster="c").normalize(json.dumps(items).encode(), location="body")
    uids = {s.uid for s in batch.signals}
    assert {f"ocsf:real-{n}" for n in range(copies)} <= uids
    assert len(batch.signals) + len(batch.quarantined) == len(items)


ROW = TRIVY["Results"][0]["Vulnerabilities"][0]
ROW_GARBAGE = JSON | _mutant(
    ROW | {"VulnerabilityID": "CVE-2000-0001"},
    ["VulnerabilityID", "Severity", "PkgName", "VendorSeverity", "SeveritySource", "Status"],
)


@SETTINGS
@given(garbage=st.lists(ROW_GARBAGE, max_size=6), seed=st.randoms())
def test_trivy_garbage_rows_never_cost_a_real_row(garbage: list[Any], seed: Any) -> None:
    report = json.loads(json.dumps(TRIVY))
    rows = report["Results"][0]["Vulnerabilities"]
    real = {r["VulnerabilityID"] for r in rows}
    rows.extend(garbage)
    seed.shuffle(rows)
    batch = TrivyNormalizer().normalize(json.dumps(report).encode(), location="r")
    assert real <= {s.rule for s in batch.signals}
    bad = [r for r in garbage if not _has_id(r, "VulnerabilityID")]
    assert len(batch.quarantined) == len(bad)


@SETTINGS
@given(body=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_trivy_any_body_never_raises(body: bytes) -> None:
    batch = TrivyNormalizer().normalize(body, location="x")
    assert all(q.reason for q in batch.quarantined)


ENTRY_GARBAGE = JSON | _mutant(
    KEV["vulnerabilities"][0] | {"cveID": "CVE-2000-0002"},
    ["cveID", "dueDate", "dateAdded", "vulnerabilityName", "knownRansomwareCampaignUse"],
)


@SETTINGS
@given(garbage=st.lists(ENTRY_GARBAGE, max_size=6), seed=st.randoms())
def test_kev_garbage_entries_never_cost_a_real_entry(garbage: list[Any], seed: Any) -> None:
    doc = json.loads(json.dumps(KEV))
    real = {e["cveID"] for e in doc["vulnerabilities"]}
    doc["vulnerabilities"].extend(garbage)
    seed.shuffle(doc["vulnerabilities"])
    catalog = load_catalog(json.dumps(doc).encode())
    assert real <= set(catalog.entries)
    without_id = [g for g in garbage if not _has_id(g, "cveID")]
    assert len(catalog.quarantined) >= len(without_id)
    assert all(
        q.reason and q.location.startswith("catalog: vulnerabilities[") for q in catalog.quarantined
    )


def _has_id(row: Any, name: str) -> bool:
    return isinstance(row, dict) and isinstance(row.get(name), str) and bool(row[name].strip())
