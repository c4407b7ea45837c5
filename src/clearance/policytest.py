"""Table-driven policy tests, like ``opa test``: pin what a policy decides for given inputs.

A test file (``*_test.yaml``) names the policy and lists cases; each case gives a target, what
it touches (exposure by proximity), the signals seen, the sources' health and the expected
outcome. Signals are correlated with the exposure the same way a live decision does it::

    policy: ../policy.yaml
    now: 2026-11-28T12:00:00Z
    cases:
      - name: a critical detection on the node blocks production
        target: {environment: production, cluster: prod-eu, namespace: shop,
                 workload: deployment/checkout}
        exposure: {direct: [pod:shop/checkout-1], host: [host:node-1]}
        signals:
          - {uid: "edr:1", source: edr, kind: detection, title: Credential dumping,
             severity: 5, confidence: 0.9, age: 10m, assets: [host:NODE-1]}
        expect: {verdict: block, reasons: [rule:critical-detection-near-target]}

``agents`` lists the agent inventory the covering sources report (``source``, ``kind``:
``edr``/``runtime``, ``device``, ``assets``, ``last_seen`` or ``age``, optional ``active``).
``evidence`` lists reports about the change as ``check --evidence`` takes them
(``junit:reports/failing.xml``, ``sarif:results.sarif``), paths relative to the test file.
``age`` (``last_seen = now - age``) may replace ``first_seen``/``last_seen``. ``sources``
defaults to every source named by the signals, fresh at ``now`` (or one source, ``edr``, when
there are no signals). Each entry of ``reasons``/``absent`` matches a reason (not waived by an
exception) whose code equals it or whose message contains it. docs/policy.md has the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clearance import bounded_yaml
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.errors import CaseFileError, ClearanceError, ConfigError
from clearance.model.assets import AssetKind, AssetRef, parse_asset
from clearance.model.coverage import Managed, host_coverage
from clearance.model.reports import Report
from clearance.model.signal import format_time, signal_from_dict
from clearance.model.snapshot import Snapshot
from clearance.model.target import ExposedAsset, Exposure, Proximity, SourceHealth, Target
from clearance.policy.compiled import Policy
from clearance.policy.load import load_policy
from clearance.policy.locate import dotted
from clearance.policy.schema import Duration, duration_seconds
from clearance.sources.reports import read_report


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseTarget(_Strict):
    environment: str
    cluster: str
    namespace: str
    workload: str
    images: list[str] = []


class CaseSource(_Strict):
    name: str
    last_success: datetime | None
    last_error: str | None = None
    last_error_at: datetime | None = None


class Expect(_Strict):
    verdict: Literal["proceed", "approve", "block"]
    reasons: list[str] = Field(
        default=[], description="codes (or message substrings) of reasons that must fire, unwaived"
    )
    absent: list[str] = Field(default=[], description="the same, for reasons that must not fire")
    score_at_least: float | None = None
    score_below: float | None = None


class Case(_Strict):
    name: str
    now: datetime | None = None
    target: CaseTarget
    exposure: dict[Literal["direct", "host", "namespace", "cluster", "environment"], list[str]]
    signals: list[dict[str, Any]] = []
    sources: list[CaseSource] | None = None
    evidence: list[str] = Field(default=[], description="FORMAT:FILE, relative to the test file")
    agents: list[dict[str, Any]] = Field(
        default=[], description="agent inventory records; `age` may replace `last_seen`"
    )
    expect: Expect


class CaseFile(_Strict):
    policy: Path
    now: datetime | None = None
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Outcome:
    file: Path
    case: str
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def discover(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    files = sorted(directory.rglob("*_test.yaml")) + sorted(directory.rglob("*_test.yml"))
    if not files:
        raise CaseFileError(f"no *_test.yaml files under {directory}")
    return files


def run_file(path: Path) -> list[Outcome]:
    """Run every case of one test file; a bad policy raises PolicyError (exit 3)."""
    try:
        text = path.read_text(encoding="utf-8")
        spec = CaseFile.model_validate(bounded_yaml.load(text, str(path)))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CaseFileError(f"{path}: cannot read the test file: {exc}") from exc
    except ValidationError as exc:
        lines = [f"{path}: {dotted(e['loc']) or 'the file'}: {e['msg']}" for e in exc.errors()]
        raise CaseFileError("\n".join(lines)) from exc
    policy = load_policy(spec.policy if spec.policy.is_absolute() else path.parent / spec.policy)
    return [_run_case(path, policy, case, case.now or spec.now) for case in spec.cases]


def _run_case(path: Path, policy: Policy, case: Case, now: datetime | None) -> Outcome:
    if now is None:
        return Outcome(path, case.name, ("no `now` given for the case or the file",))
    try:
        target, snapshot = _inputs(case, now)
        agents = [Managed.from_dict(_seen(a, now)) for a in case.agents]
        snapshot = msgspec.structs.replace(
            snapshot,
            reports=_reports(path, case.evidence),
            coverage=host_coverage(snapshot.exposure, agents),
        )
        decision = decide(target, snapshot, policy, now)
    except (ClearanceError, ValueError, KeyError) as exc:
        return Outcome(path, case.name, (f"could not decide: {exc}",))
    failures = []
    expect = case.expect
    if decision.verdict.value != expect.verdict:
        why = ", ".join(f"{r.code}={r.verdict.value}" for r in decision.reasons if not r.waived_by)
        failures.append(
            f"verdict {decision.verdict.value}, expected {expect.verdict} "
            f"(score {decision.score:g}; {why or 'no reasons'})"
        )
    fired = [r for r in decision.reasons if r.waived_by is None]

    def matches(wanted: str) -> bool:
        return any(r.code == wanted or wanted in r.message for r in fired)

    failures += [f"reason {w} did not fire" for w in expect.reasons if not matches(w)]
    failures += [f"reason {w} fired" for w in expect.absent if matches(w)]
    if expect.score_at_least is not None and decision.score < expect.score_at_least:
        failures.append(f"score {decision.score:g} < {expect.score_at_least:g}")
    if expect.score_below is not None and decision.score >= expect.score_below:
        failures.append(f"score {decision.score:g} ≥ {expect.score_below:g}")
    return Outcome(path, case.name, tuple(failures))


def _inputs(case: Case, now: datetime) -> tuple[Target, Snapshot]:
    t = case.target
    target = Target.of(t.environment, t.cluster, t.namespace, t.workload, tuple(t.images))
    assets = tuple(
        ExposedAsset(Proximity[group.upper()], parse_asset(ref), via="policy test")
        for group, refs in case.exposure.items()
        for ref in refs
    )
    exposure = Exposure(target=target, assets=assets, inventory="policy-test")
    signals = [signal_from_dict(_with_times(item, now)) for item in case.signals]
    if case.sources is None:
        names = sorted({s.source for s in signals}) or ["edr"]
        sources = tuple(SourceHealth(name, now) for name in names)
    else:
        sources = tuple(
            SourceHealth(s.name, s.last_success, s.last_error, s.last_error_at)
            for s in case.sources
        )
    matches = SignalIndex(signals).match(exposure)
    # As a real check: the target's images are what the deploy brings.
    deploying = tuple(sorted({AssetRef(AssetKind.IMAGE, str(i)) for i in target.images}))
    return target, Snapshot(
        exposure=exposure, matches=matches, sources=sources, deploying=deploying
    )


def _reports(path: Path, evidence: list[str]) -> tuple[Report, ...]:
    reports = []
    for given in evidence:
        fmt, _, name = given.partition(":")
        file = path.parent / name
        try:
            reports.append(read_report(fmt, file.name, file.read_bytes()))
        except OSError as exc:
            raise ConfigError(f"evidence {given}: cannot read {file}: {exc.strerror}") from exc
    return tuple(reports)


def _seen(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    data = dict(item)
    age: Duration | None = data.pop("age", None)
    if age is not None:
        data.setdefault("last_seen", format_time(now - timedelta(seconds=duration_seconds(age))))
    data.setdefault("last_seen", None)
    return data


def _with_times(item: dict[str, Any], now: datetime) -> dict[str, Any]:
    data = dict(item)
    age: Duration | None = data.pop("age", None)
    if age is not None:
        last = now - timedelta(seconds=duration_seconds(age))
        data.setdefault("last_seen", format_time(last))
        data.setdefault("first_seen", format_time(last))
    return data
