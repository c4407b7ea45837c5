"""JUnit XML (pytest ``--junitxml``, Maven Surefire/Failsafe ``TEST-*.xml``, Gradle, Jest…).

Parsed with junitparser over defusedxml (no entity expansion, no external entities, no DTD
tricks: a report is input from a pipeline, not trusted). A ``<testsuites>`` or a single
``<testsuite>`` root; every ``<testcase>`` with a ``<failure>`` or an ``<error>`` is a finding
(``high``: a failing test is a broken promise of the change, whatever failed in it). Skipped
tests are not findings: a policy that cares reads the count in the decision's reasons.
"""

from __future__ import annotations

import io
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, parse
from junitparser import Error, Failure, JUnitXml, JUnitXmlError

from clearance.errors import ReportError
from clearance.model.reports import Finding
from clearance.model.signal import Severity

# A run with thousands of failures is broken as a whole: its first failures say so as well as
# all of them, and the rest are counted in one finding (so a decision stays small).
MAX_FINDINGS = 500


def read_junit(name: str, data: bytes) -> tuple[str, int, tuple[Finding, ...]]:
    """``(tool, tests run, findings)`` of one JUnit XML report."""
    try:
        root: Any = JUnitXml.fromfile(io.BytesIO(data), parse_func=parse)
        return _read(name, root)
    except (ParseError, DefusedXmlException, JUnitXmlError, ValueError, TypeError) as exc:
        # A report is input from a pipeline: whatever shape it has, it is refused whole.
        raise ReportError(f"{name}: not a JUnit XML report ({exc})") from exc


def _read(name: str, root: Any) -> tuple[str, int, tuple[Finding, ...]]:
    suites = list(root)  # a lone <testsuite> root comes wrapped in <testsuites>
    tool = _tool(suites)
    total = 0
    findings: dict[str, Finding] = {}
    failed = 0
    for suite in suites:
        for case in suite:  # nested suites' cases too
            total += 1
            problems = [r for r in case.result if isinstance(r, Failure | Error)]
            if not problems:
                continue
            failed += 1
            key = ".".join(p for p in (case.classname, case.name) if p) or f"case {total}"
            if key in findings or len(findings) >= MAX_FINDINGS:
                continue
            first = problems[0]
            how = "errored" if isinstance(first, Error) else "failed"
            why = (first.message or first.type or "").strip().splitlines()
            detail = f": {why[0].strip()}" if why and why[0].strip() else ""
            if not detail and len(why) > 1:
                detail = f": {why[1].strip()}"
            findings[key] = Finding(
                key=key,
                title=f"Test {key} {how}{detail}",
                severity=Severity.HIGH,
                rule=key,
            )
    if failed > len(findings):
        rest = failed - len(findings)
        findings["\x00more"] = Finding(
            key="more",
            title=f"{rest} more failed test(s) in {name}, not listed one by one",
            severity=Severity.HIGH,
            rule="junit:more",
        )
    return tool, total, tuple(findings.values())


def _tool(suites: list[Any]) -> str:
    names = {s.name for s in suites}
    if "pytest" in names:
        return "pytest"
    for suite in suites:
        for prop in suite.properties():
            if (prop.name or "").startswith("surefire."):
                return "maven-surefire"
    return "junit"
