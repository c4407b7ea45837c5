"""SARIF 2.1.0 (CodeQL, Semgrep, Trivy config, any code scanner GitHub code scanning accepts).

Every result of ``kind`` ``fail`` (the default) is a finding; ``pass``, ``notApplicable``,
``informational``, ``open`` and ``review`` results are not verdicts on the code, and ``absent``
ones (``baselineState``: gone since the baseline) are fixed. Severity as GitHub code scanning
reads it: the rule's (or result's) ``security-severity`` score, banded like CVSS (≥ 9
critical, ≥ 7 high, ≥ 4 medium, else low); without one, the ``level`` (the result's, else the
rule's ``defaultConfiguration``, else SARIF's default ``warning``): ``error`` high, ``warning``
medium, ``note`` low, ``none`` informational.

What the change does to a result comes from ``baselineState`` (a scanner run with a baseline,
as GitHub does for pull requests): ``new`` or ``updated`` is ``introduced``, ``unchanged`` is
``unchanged``. A result without one counts as introduced: without a baseline nothing shows it
was there before, and a gate must not assume it was. A suppression the tool records (status
absent or ``accepted``) marks the result suppressed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from clearance.errors import ReportError
from clearance.model.reports import Finding
from clearance.model.signal import Severity
from clearance.sources._mapping import banded

MAX_FINDINGS = 1000

_CVSS_BANDS = ((9.0, Severity.CRITICAL), (7.0, Severity.HIGH), (4.0, Severity.MEDIUM))
_LEVELS = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "note": Severity.LOW,
    "none": Severity.INFORMATIONAL,
}
_CHANGES = {"new": "introduced", "updated": "introduced", "unchanged": "unchanged"}


def read_sarif(name: str, data: bytes) -> tuple[str, int, tuple[Finding, ...]]:
    """``(tool, results counted, findings)`` of one SARIF log."""
    try:
        log = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ReportError(f"{name}: not JSON ({exc})") from exc
    if not isinstance(log, dict) or not isinstance(log.get("runs"), list):
        raise ReportError(f"{name}: not a SARIF log (no 'runs' list)")
    if log.get("version") != "2.1.0":
        raise ReportError(f"{name}: SARIF version {log.get('version')!r}; only 2.1.0 is read")
    tools: list[str] = []
    total = 0
    findings: dict[str, Finding] = {}
    for r, run in enumerate(log["runs"]):
        where = f"{name}: runs[{r}]"
        driver = _dict(_dict(_dict(run, where).get("tool"), f"{where}.tool").get("driver"), where)
        tool = _text(driver.get("name")) or "sarif"
        if tool not in tools:
            tools.append(tool)
        rules = dict(_rules(run))
        ordered = list(rules.values())
        for i, item in enumerate(_list(run.get("results"), f"{where}.results")):
            result = _dict(item, f"{where}.results[{i}]")
            if result.get("kind", "fail") != "fail" or result.get("baselineState") == "absent":
                continue
            total += 1
            finding = _finding(tool, result, rules, ordered, f"{where}.results[{i}]")
            if finding.key not in findings and len(findings) < MAX_FINDINGS:
                findings[finding.key] = finding
    return ", ".join(tools) or "sarif", total, tuple(findings.values())


def _finding(
    tool: str,
    result: dict[str, Any],
    rules: Mapping[str, Any],
    ordered: list[dict[str, Any]],
    where: str,
) -> Finding:
    rule_id = _text(result.get("ruleId")) or _text(_dict(result.get("rule") or {}, where).get("id"))
    index = result.get("ruleIndex")
    if not rule_id and isinstance(index, int) and 0 <= index < len(ordered):
        rule_id = ordered[index]["id"]
    rule = rules.get(rule_id) or {}
    rule_id = rule_id or "(no rule)"  # SARIF allows a result that no rule describes
    message = _dict(result.get("message") or {}, f"{where}.message")
    text = _text(message.get("text")) or _text(
        _dict(rule.get("shortDescription") or {}, where).get("text")
    )
    place = _location(result)
    fingerprints = {
        **_dict(result.get("fingerprints") or {}, where),
        **_dict(result.get("partialFingerprints") or {}, where),
    }
    fingerprint = "|".join(f"{k}={v}" for k, v in sorted(fingerprints.items()))
    change = _CHANGES.get(str(result.get("baselineState", "new")), "introduced")
    suppressions = _list(result.get("suppressions") or [], f"{where}.suppressions")
    suppressed = any(
        isinstance(s, dict) and s.get("status", "accepted") == "accepted" for s in suppressions
    )
    at = f" at {place}" if place else ""
    return Finding(
        key=f"{tool}|{rule_id}|{place}|{fingerprint}",
        title=f"{tool} {rule_id}{at}: {text}" if text else f"{tool} {rule_id}{at}",
        severity=_severity(result, rule),
        rule=rule_id,
        change=change,
        suppressed=suppressed,
    )


def _severity(result: dict[str, Any], rule: dict[str, Any]) -> Severity:
    for props in (result.get("properties"), rule.get("properties")):
        if isinstance(props, dict) and props.get("security-severity") is not None:
            try:
                score = float(props["security-severity"])
            except (TypeError, ValueError):
                continue
            # CVSS v3's bands, as GitHub code scanning reads security-severity
            return banded(score, _CVSS_BANDS, Severity.LOW if score > 0 else Severity.INFORMATIONAL)
    config = rule.get("defaultConfiguration")
    default = config.get("level") if isinstance(config, dict) else None
    return _LEVELS.get(str(result.get("level") or default or "warning"), Severity.MEDIUM)


def _rules(run: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rule descriptors of the driver and of its extensions (CodeQL query packs), by id."""
    tool = run.get("tool")
    if not isinstance(tool, dict):
        return
    components = [tool.get("driver"), *(tool.get("extensions") or [])]
    for component in components:
        if not isinstance(component, dict):
            continue
        for rule in component.get("rules") or []:
            if isinstance(rule, dict) and isinstance(rule.get("id"), str):
                yield rule["id"], rule


def _location(result: dict[str, Any]) -> str:
    locations = result.get("locations")
    for location in locations if isinstance(locations, list) else ():
        physical = location.get("physicalLocation") if isinstance(location, dict) else None
        if not isinstance(physical, dict):
            continue
        artifact = physical.get("artifactLocation") or {}
        uri = _text(artifact.get("uri")) if isinstance(artifact, dict) else ""
        region = physical.get("region") or {}
        line = region.get("startLine") if isinstance(region, dict) else None
        if uri:
            return f"{uri}:{line}" if isinstance(line, int) else uri
    return ""


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(f"{where}: expected an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"{where}: expected a list")
    return value
