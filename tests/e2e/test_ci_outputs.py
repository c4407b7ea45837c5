"""What CI tools read, from the real command: ``check --format sarif`` validated against the
official SARIF 2.1.0 schema (OASIS, vendored in tests/fixtures/sarif) and GitHub code scanning's
own requirements; ``check --format junit`` and ``policy test --format json|junit`` in the shape
GitLab's and Jenkins' JUnit readers take."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from cli_fleet import Fleet, Run, target
from served import clearance as run_clearance

FIXTURES = Path(__file__).parent.parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((FIXTURES / "sarif" / "sarif-schema-2.1.0.json").read_text())


def sarif_of(clearance: Run, workload: str, *more: str) -> tuple[int, dict[str, Any], str]:
    result = clearance("check", *target(workload), "--format", "sarif", *more)
    jsonschema.Draft4Validator(SCHEMA).validate(json.loads(result.out))
    return result.code, json.loads(result.out), result.out


def github_accepts(log: dict[str, Any]) -> None:
    """What code scanning checks beyond the schema (docs.github.com, "SARIF support for code
    scanning"): a tool name, each result's rule among the driver's rules and a message, and at
    least one location with a physical file (results with none are refused on upload)."""
    assert log["version"] == "2.1.0"
    for run in log["runs"]:
        driver = run["tool"]["driver"]
        assert driver["name"]
        ids = [r["id"] for r in driver["rules"]]
        for rule in driver["rules"]:
            assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
        for result in run["results"]:
            assert ids[result["ruleIndex"]] == result["ruleId"]
            assert result["message"]["text"]
            assert result["locations"]
            uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            assert uri
            assert " " not in uri
            assert result["partialFingerprints"]


def test_a_blocked_deploy_is_sarif_code_scanning_accepts(clearance: Run) -> None:
    code, log, out = sarif_of(clearance, "deployment/hot")
    assert code == 20  # the format changes the output, never the exit code
    github_accepts(log)
    (run,) = log["runs"]
    assert run["properties"]["verdict"] == "block"
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels
    assert set(levels.values()) == {"error"}
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert uris == {"k8s/production/prod-eu/shop/deployment/hot"}
    assert run["automationDetails"]["id"] == "clearance/production/prod-eu/shop/deployment/hot/"
    # Deterministic: the same inputs and --now give the same bytes.
    assert sarif_of(clearance, "deployment/hot")[2] == out


def test_an_approval_is_a_warning_and_a_clean_deploy_has_no_results(clearance: Run) -> None:
    code, log, _ = sarif_of(clearance, "deployment/medium")
    assert code == 10
    github_accepts(log)
    assert {r["level"] for r in log["runs"][0]["results"]} == {"warning"}
    code, log, _ = sarif_of(clearance, "deployment/clean")
    assert code == 0
    assert log["runs"][0]["results"] == []  # uploading it closes what an earlier run opened


def test_with_a_manifest_the_alerts_land_on_it(clearance: Run, fleet: Fleet) -> None:
    manifest = fleet.root / "deploy" / "hot.yaml"
    manifest.parent.mkdir()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "hot", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "hot"}},
            "template": {
                "metadata": {"labels": {"app": "hot"}},
                "spec": {"containers": [{"name": "hot", "image": "ghcr.io/acme/hot:1.0"}]},
            },
        },
    }
    manifest.write_text(yaml.safe_dump(deployment))
    _, log, _ = sarif_of(clearance, "deployment/hot", "--manifest", str(manifest))
    github_accepts(log)
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    }
    assert uris == {str(manifest)}


def junit_cases(xml: str) -> tuple[ET.Element, list[ET.Element]]:
    """The report as GitLab and Jenkins read it: a <testsuites> root of <testsuite>s, counts that
    add up, each <testcase> with a name and classname, a failure carrying message and type."""
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    cases = []
    for suite in root:
        assert suite.tag == "testsuite"
        assert suite.get("name")
        found = list(suite)
        assert all(c.tag == "testcase" and c.get("name") and c.get("classname") for c in found)
        failed = [c for c in found if c.find("failure") is not None]
        assert int(suite.get("tests", "-1")) == len(found)
        assert int(suite.get("failures", "-1")) == len(failed)
        for case in failed:
            failure = case.find("failure")
            assert failure is not None
            assert failure.get("message")
            assert failure.get("type")
        cases += found
    assert int(root.get("tests", "-1")) == len(cases)
    return root, cases


def test_check_as_junit_fails_the_reasons_that_hold_the_deploy(clearance: Run) -> None:
    result = clearance("check", *target("deployment/hot"), "--format", "junit")
    assert result.code == 20
    _, cases = junit_cases(result.out)
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert failed
    assert {f.get("type") for f in failed.values() if f is not None} == {"block"}
    clean = clearance("check", *target("deployment/clean"), "--format", "junit")
    assert clean.code == 0
    _, cases = junit_cases(clean.out)
    assert cases
    assert all(c.find("failure") is None for c in cases)


@pytest.fixture
def policy_tests(tmp_path: Path) -> Path:
    """The example policy and its tests, plus one case that expects the wrong verdict."""
    shutil.copy(ROOT / "examples/policy.yaml", tmp_path / "policy.yaml")
    tests = tmp_path / "tests"
    shutil.copytree(ROOT / "examples/policy-tests", tests)
    shutil.copytree(ROOT / "examples/reports", tmp_path / "reports")  # the evidence cases' reports
    wrong = yaml.safe_load((tests / "kinds_test.yaml").read_text())
    wrong["cases"] = [dict(wrong["cases"][0], name="expects the wrong verdict")]
    wrong["cases"][0]["expect"] = {"verdict": "block"}
    (tests / "wrong_test.yaml").write_text(yaml.safe_dump(wrong))
    return tests


def test_policy_test_as_json(policy_tests: Path) -> None:
    result = run_clearance("policy", "test", str(policy_tests), "--format", "json")
    assert result.code == 1  # one case fails
    report = json.loads(result.out)
    assert report["failed"] == 1
    assert report["passed"] == report["total"] - 1
    assert len(report["cases"]) == report["total"]
    (wrong,) = [c for c in report["cases"] if not c["passed"]]
    assert wrong["case"] == "expects the wrong verdict"
    assert wrong["file"].endswith("wrong_test.yaml")
    assert wrong["failures"]


def test_policy_test_as_junit(policy_tests: Path) -> None:
    result = run_clearance("policy", "test", str(policy_tests), "--format", "junit")
    assert result.code == 1
    _, cases = junit_cases(result.out)
    failed = [c for c in cases if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [
        ("policy.wrong_test", "expects the wrong verdict")
    ]
    assert len(cases) > 1
