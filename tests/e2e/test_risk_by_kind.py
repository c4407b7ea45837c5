"""Risk by what a finding is, through a real ``clearance serve`` with the shipped policy.

The service syncs file sources built from the real fixtures (Trivy reports rewritten to name this
test's images and CVEs, the CISA KEV catalog, FIRST's EPSS sample, an OpenVEX document) and
answers ``POST /v1/decisions`` as pipelines ask it. With examples/policy.yaml:

* a plain HIGH CVE with low EPSS and a fix in the image being deployed does not block;
* a KEV-listed critical the deploy introduces blocks, and the reasons say why;
* a critical CVE EPSS rates likely to be exploited asks for a person (staging);
* a CVE the image's maker says does not apply (VEX) counts for nothing, and the decision says so;
* a deploy that removes a KEV-listed CVE is not held back by it;
* an active critical detection on the node blocks whatever the vulnerabilities say.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from served import Served, serve

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXAMPLES = Path(__file__).parents[2] / "examples"
REGISTRY = "ghcr.io/acme"
KEV = FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json"


def _report(image: str, rows: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The Trivy golden report, naming ``image`` and carrying ``(CVE, severity, fixed)`` rows."""
    report: dict[str, Any] = json.loads(
        (FIXTURES / "trivy" / "report.image.alpine-3.10.golden.json").read_text()
    )
    report["ArtifactName"] = image
    report["CreatedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report["Metadata"]["RepoTags"] = [image]
    template = report["Results"][0]["Vulnerabilities"][0]
    vulnerabilities = []
    for cve, severity, fixed in rows:
        row = copy.deepcopy(template) | {
            "VulnerabilityID": cve,
            "Severity": severity,
            "FixedVersion": fixed,
            "Status": "fixed" if fixed else "affected",
        }
        vulnerabilities.append(row)
    report["Results"] = [report["Results"][0] | {"Vulnerabilities": vulnerabilities}]
    return report


# workload → (images it runs now, the image being deployed, its report rows, a host with what)
FLEET: dict[str, dict[str, Any]] = {
    # A plain HIGH CVE, low EPSS (CVE-2019-1549: 0.00312 in the sample), a fix available.
    "plain": {"new": [("CVE-2019-1549", "HIGH", "1.1.1d-r0")]},
    # A KEV-listed critical the deploy introduces (CVE-2024-3094 is listed in the test catalog).
    "kev": {"new": [("CVE-2024-3094", "CRITICAL", "5.6.1-r2")]},
    # A critical EPSS rates likely to be exploited (CVE-2021-44228: 0.94358), not KEV-listed here.
    "epss": {"new": [("CVE-2021-44228", "CRITICAL", "2.17.1")]},
    # The same likely-exploited critical, waived by the image maker's VEX statement.
    "vexed": {"new": [("CVE-2021-44228", "CRITICAL", "2.17.1")]},
    # The running image carries the KEV-listed CVE; the new one was scanned without it.
    "fixing": {
        "old": [("CVE-2024-3094", "CRITICAL", "5.6.1-r2"), ("CVE-2019-1549", "LOW", "")],
        "new": [("CVE-2019-1549", "LOW", "")],
    },
    # Nothing wrong with the image, but an active critical detection on the node.
    "node": {"new": [("CVE-2019-1549", "LOW", "")], "host": "node-hot"},
}


def _image(workload: str, version: str) -> str:
    return f"{REGISTRY}/{workload}:{version}"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("risk")
    reports = root / "reports"
    reports.mkdir()
    targets = []
    for workload, spec in FLEET.items():
        new, old = _image(workload, "2.0"), _image(workload, "1.0")
        (reports / f"{workload}-new.json").write_text(json.dumps(_report(new, spec["new"])))
        direct = [f"image:{old}"]
        if "old" in spec:
            (reports / f"{workload}-old.json").write_text(json.dumps(_report(old, spec["old"])))
        targets.append(
            {"cluster": "prod-eu", "namespace": "shop", "workload": f"deployment/{workload}",
             "assets": {"direct": direct, "host": [f"host:{spec.get('host', 'node-' + workload)}"]}}
        )  # fmt: skip
    (root / "inventory.yaml").write_text(yaml.safe_dump({"targets": targets}))
    kev = json.loads(
        (FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json").read_text()
    )
    kev["vulnerabilities"].append(kev["vulnerabilities"][0] | {"cveID": "CVE-2024-3094"})
    (root / "kev.json").write_text(json.dumps(kev))
    (root / "epss.csv").write_text((FIXTURES / "epss" / "epss_scores.sample.csv").read_text())
    vex = json.loads((FIXTURES / "vex" / "openvex.spec-example.json").read_text())
    vex["statements"] = [
        {
            "vulnerability": {"name": "CVE-2021-44228"},
            "products": [{"@id": f"pkg:oci/vexed?repository_url={REGISTRY}/vexed&tag=2.0"}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
        }
    ]
    (root / "vex.json").write_text(json.dumps(vex))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    detection = {
        "uid": "falcon:hot-1", "source": "falcon", "kind": "detection",
        "title": "Credential dumping", "severity": 5, "confidence": 0.9, "status": "open",
        "first_seen": now, "last_seen": now, "assets": ["host:node-hot"],
    }  # fmt: skip
    (root / "edr.jsonl").write_text(json.dumps(detection) + "\n")
    (root / "policy.yaml").write_text((EXAMPLES / "policy.yaml").read_text())
    sources: list[dict[str, Any]] = [
        {"name": f"trivy-{p.stem}", "type": "file", "path": f"reports/{p.name}",
         "format": "trivy"}
        for p in sorted(reports.iterdir())
    ]  # fmt: skip
    sources += [
        {"name": "kev", "type": "file", "path": "kev.json", "format": "kev"},
        {"name": "epss", "type": "file", "path": "epss.csv", "format": "epss"},
        {"name": "vex", "type": "file", "path": "vex.json", "format": "openvex"},
        {"name": "falcon", "type": "file", "path": "edr.jsonl"},
    ]
    config = {
        "policy": "policy.yaml",
        "sources": sources,
        "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
    }
    (root / "clearance.yaml").write_text(yaml.safe_dump(config))
    with serve(root / "clearance.yaml", f"sqlite:///{root / 'risk.db'}") as served:
        wanted = {s["name"] for s in sources}
        for _ in range(600):
            states = served.get("/v1/sources").json()["sources"]
            if wanted <= {s["name"] for s in states if s["last_success"]}:
                break
            time.sleep(0.05)
        yield served


def _decide(service: Served, workload: str, environment: str = "production") -> dict[str, Any]:
    body = {
        "environment": environment, "cluster": "prod-eu", "namespace": "shop",
        "workload": f"deployment/{workload}", "images": [_image(workload, "2.0")],
    }  # fmt: skip
    decision: dict[str, Any] = service.decide(body)["decision"]
    return decision


def _codes(decision: dict[str, Any]) -> list[str]:
    return [r["code"] for r in decision["reasons"]]


def test_a_plain_high_cve_with_a_fix_does_not_block_production(service: Served) -> None:
    decision = _decide(service, "plain")
    assert decision["verdict"] == "proceed", decision["reasons"]
    (cve,) = [c for c in decision["contributors"] if c["kind"] == "vulnerability"]
    assert cve["exploitability"] == {
        "epss": 0.00312, "epss_percentile": 0.70913, "fix_available": True,
        "cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
    }  # fmt: skip
    assert cve["change"] == "introduced"


def test_a_kev_listed_critical_the_deploy_introduces_blocks_and_says_why(service: Served) -> None:
    decision = _decide(service, "kev")
    assert decision["verdict"] == "block", decision["reasons"]
    assert "rule:known-exploited-in-image" in _codes(decision)
    (change,) = [r for r in decision["reasons"] if r["code"] == "change"]
    assert "introduces CVE-2024-3094 (critical)" in change["message"]


def test_a_likely_exploited_critical_asks_for_a_person_in_staging(service: Served) -> None:
    decision = _decide(service, "epss", environment="staging")
    assert decision["verdict"] == "approve", decision["reasons"]
    assert "rule:likely-exploited-critical-in-image" in _codes(decision)


def test_a_vex_statement_removes_the_cve_and_is_named(service: Served) -> None:
    decision = _decide(service, "vexed", environment="staging")
    assert decision["verdict"] == "proceed", decision["reasons"]
    assert decision["contributors"] == []
    (waived,) = decision["suppressed"]
    assert waived["suppression"].startswith(
        "VEX: not_affected (vulnerable_code_not_in_execute_path) per VEX "
        "https://openvex.dev/docs/example/vex-9fb3463de1b57"
    )


def test_a_deploy_that_removes_a_kev_listed_cve_is_not_held_back(service: Served) -> None:
    decision = _decide(service, "fixing")
    assert decision["verdict"] == "proceed", decision["reasons"]
    assert "rule:known-exploited-in-image" not in _codes(decision)
    fixed = {c["signal"] for c in decision["contributors"] if c.get("change") == "fixed"}
    assert any("CVE-2024-3094" in uid for uid in fixed)
    (change,) = [r for r in decision["reasons"] if r["code"] == "change"]
    assert "fixes 1" in change["message"]


def test_an_active_critical_detection_blocks_whatever_the_images_say(service: Served) -> None:
    decision = _decide(service, "node")
    assert decision["verdict"] == "block", decision["reasons"]
    assert "rule:critical-detection-near-target" in _codes(decision)
