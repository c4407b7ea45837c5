"""Reports about the change, read from real tool output: pytest and Maven Surefire JUnit XML,
CodeQL and Semgrep SARIF (tests/fixtures/reports, PROVENANCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearance.errors import ReportError
from clearance.model.reports import Report
from clearance.model.signal import Severity, SignalKind, SignalStatus
from clearance.model.target import Target
from clearance.sources.reports import read_report
from clearance.sources.reports.sarif import read_sarif

FIXTURES = Path(__file__).parents[2] / "fixtures" / "reports"
TARGET = Target.of("production", "prod-eu", "shop", "deployment/checkout")


def _read(fmt: str, name: str) -> Report:
    return read_report(fmt, name, (FIXTURES / name).read_bytes())


def test_pytest_failures_are_findings_and_skips_are_not() -> None:
    report = _read("junit", "pytest-junit.failing.xml")
    assert (report.tool, report.total) == ("pytest", 4)
    assert [f.rule for f in report.findings] == [
        "test_cart.test_discount_applies_once",
        "test_cart.test_checkout_calls_payment",
    ]
    assert report.findings[0].title == (
        "Test test_cart.test_discount_applies_once failed: AssertionError: discount applied twice"
    )
    assert {f.severity for f in report.findings} == {Severity.HIGH}
    assert report.summary() == "pytest-junit.failing.xml (pytest): 4 test(s), 2 failed"


def test_a_passing_run_has_no_findings() -> None:
    report = _read("junit", "pytest-junit.passing.xml")
    assert (report.total, report.findings) == (2, ())


def test_surefire_single_suite_root_and_multiline_messages() -> None:
    report = _read("junit", "TEST-org.apache.maven.surefire.test.FailingTest.xml")
    assert (report.tool, report.total, len(report.findings)) == ("maven-surefire", 2, 2)
    # The message starts with a newline: the first non-empty line says what failed.
    assert report.findings[0].title.startswith(
        "Test org.apache.maven.surefire.test.FailingTest.defaultTestValueIs_Value failed: "
        'Expected: "wrong"'
    )


def test_codeql_results_without_baseline_count_as_new_and_take_the_rule_level() -> None:
    report = _read("sarif", "codeql.valid-sarif.sarif")
    assert report.tool == "LGTM.com, CodeQL command-line toolchain"
    assert report.total == 3
    assert {(f.rule, f.severity, f.change) for f in report.findings} == {
        ("js/unused-local-variable", Severity.LOW, "introduced"),
        ("js/inconsistent-use-of-new", Severity.LOW, "introduced"),
    }
    assert any("at src/promiseUtils.js:2" in f.title for f in report.findings)


def test_semgrep_error_level_is_high() -> None:
    (finding,) = _read("sarif", "semgrep.docs-example.sarif").findings
    assert finding.severity is Severity.HIGH
    assert finding.rule == "dockerfile.security.missing-user.missing-user"
    assert "at Dockerfile:39" in finding.title


def _semgrep(**result: object) -> bytes:
    log = json.loads((FIXTURES / "semgrep.docs-example.sarif").read_text())
    log["runs"][0]["results"][0].update(result)
    return json.dumps(log).encode()


@pytest.mark.parametrize(
    ("result", "change", "suppressed", "counted"),
    [
        ({"baselineState": "unchanged"}, "unchanged", False, 1),
        ({"baselineState": "updated"}, "introduced", False, 1),
        ({"baselineState": "absent"}, None, False, 0),  # gone since the baseline: fixed
        ({"kind": "pass"}, None, False, 0),
        ({"suppressions": [{"kind": "inSource"}]}, "introduced", True, 1),
        ({"suppressions": [{"kind": "external", "status": "underReview"}]}, "introduced", False, 1),
    ],
)
def test_baseline_kind_and_suppressions(
    result: dict[str, object], change: str | None, suppressed: bool, counted: int
) -> None:
    _, total, findings = read_sarif("r.sarif", _semgrep(**result))
    assert total == counted
    if change is None:
        assert findings == ()
    else:
        assert [(f.change, f.suppressed) for f in findings] == [(change, suppressed)]


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        ("9.8", Severity.CRITICAL),
        ("7.5", Severity.HIGH),
        (5.0, Severity.MEDIUM),
        ("2", Severity.LOW),
    ],
)
def test_security_severity_bands_like_github_code_scanning(
    score: object, severity: Severity
) -> None:
    (finding,) = read_sarif("r.sarif", _semgrep(properties={"security-severity": score}))[2]
    assert finding.severity is severity


def test_findings_become_signals_on_the_workload_at_the_decision_time() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    report = read_report("sarif", "r.sarif", _semgrep(suppressions=[{"kind": "inSource"}]))
    (signal,) = report.signals(TARGET, now)
    assert signal.kind is SignalKind.CODE_SCAN
    assert [str(a) for a in signal.assets] == ["workload:prod-eu/shop/deployment/checkout"]
    assert signal.last_seen == now
    assert signal.status is SignalStatus.SUPPRESSED
    assert signal.raw_digest == report.digest
    # The same report read again is the same signal: decisions replay byte for byte.
    assert read_report("sarif", "r.sarif", _semgrep(suppressions=[{"kind": "inSource"}])).signals(
        TARGET, now
    ) == (signal,)


@pytest.mark.parametrize(
    ("fmt", "data", "problem"),
    [
        ("junit", b"not xml at all", "not a JUnit XML report"),
        ("junit", b"<html><body/></html>", "not a JUnit XML report"),
        # Billion laughs: refused, never expanded.
        (
            "junit",
            b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><testsuite name="&b;"/>',
            "not a JUnit XML report",
        ),
        ("sarif", b"{", "not JSON"),
        ("sarif", b'{"version": "2.0.0", "runs": []}', "only 2.1.0"),
        ("sarif", b'{"version": "2.1.0"}', "no 'runs' list"),
        ("sarif", b'{"version": "2.1.0", "runs": [{"tool": 3}]}', "runs[0].tool"),
        ("pdf", b"%PDF", "unknown report format 'pdf'"),
    ],
)
def test_a_report_that_cannot_be_read_is_refused_with_the_reason(
    fmt: str, data: bytes, problem: str
) -> None:
    with pytest.raises(ReportError) as caught:
        read_report(fmt, "r", data)
    assert problem in str(caught.value)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_RESULT = st.fixed_dictionaries(
    {},
    optional={
        "ruleId": st.text(max_size=12),
        "level": st.sampled_from(["error", "warning", "note", "none", "bogus"]),
        "kind": st.sampled_from(["fail", "pass", "review"]),
        "baselineState": st.sampled_from(["new", "unchanged", "updated", "absent"]),
        "message": st.fixed_dictionaries({"text": st.text(max_size=40)}),
        "properties": st.fixed_dictionaries({"security-severity": _JSON}),
        "locations": _JSON,
        "suppressions": st.lists(st.fixed_dictionaries({}, optional={"status": _JSON}), max_size=2),
    },
)


@given(results=st.lists(_RESULT, max_size=6))
def test_any_sarif_results_read_or_are_refused_never_crash(
    results: list[dict[str, object]],
) -> None:
    log = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": results}]}
    try:
        report = read_report("sarif", "r.sarif", json.dumps(log).encode())
    except ReportError:
        return
    counted = [
        r for r in results if r.get("kind", "fail") == "fail" and r.get("baselineState") != "absent"
    ]
    assert report.total == len(counted)
    assert len(report.findings) <= report.total
    # Every finding makes a valid signal (ASCII, bounded), whatever the scanner wrote.
    from datetime import UTC, datetime

    report.signals(TARGET, datetime(2026, 1, 1, tzinfo=UTC))


@given(low=st.floats(0, 10), high=st.floats(0, 10))
def test_a_higher_security_severity_never_reads_as_less_severe(low: float, high: float) -> None:
    low, high = sorted((low, high))
    a = read_sarif("r", _semgrep(properties={"security-severity": str(low)}))[2][0].severity
    b = read_sarif("r", _semgrep(properties={"security-severity": str(high)}))[2][0].severity
    assert a <= b


_ATTR = st.text(alphabet="abc<>&\"' 1", max_size=6)
_CASE = st.builds(
    lambda name, kind, msg: (
        f'<testcase classname="c" name="{name}">'
        + (f'<{kind} message="{msg}"/>' if kind else "")
        + "</testcase>"
    ),
    st.text(alphabet="abcdef_", min_size=0, max_size=6),
    st.sampled_from(["", "failure", "error", "skipped", "bogus"]),
    _ATTR,
)


@given(cases=st.lists(_CASE, max_size=6), root=st.sampled_from(["testsuites", "testsuite", "x"]))
def test_any_junit_shape_reads_or_is_refused_never_crashes(cases: list[str], root: str) -> None:
    body = "".join(cases)
    xml = f"<{root}><testsuite name='s'>{body}</testsuite></{root}>".encode()
    try:
        report = read_report("junit", "r.xml", xml)
    except ReportError:
        return
    failing = sum("<failure" in c or "<error" in c for c in cases)
    assert len(report.findings) <= failing
    from datetime import UTC, datetime

    report.signals(TARGET, datetime(2026, 1, 1, tzinfo=UTC))
