"""The policy document's schema, as msgspec structs (their errors name the field).

Every number the engine uses comes from here; none is in code. Structs forbid unknown fields so
that a typo (``tresholds``) is an error at load time, not a silently ignored setting, and every
failure stance is required: there is no silent default for what to do when data is missing.
Validated by :func:`clearance.validation.validate` (every problem, in pydantic's error shape):
msgspec, not pydantic, so that a local ``check`` does not import pydantic (docs/benchmarks.md).

No ``from __future__ import annotations`` here: msgspec would evaluate each field's annotation
text on the first validation (~10 M instructions of a check); real annotations cost it ~3 M.
"""

import re
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from typing import Annotated, Literal

from msgspec import Meta, Struct

from clearance.model.decision import Verdict
from clearance.model.signal import CHANGE_KINDS, Severity, SignalKind
from clearance.model.target import Proximity
from clearance.policy.zones import zone
from clearance.validation import FieldError, Moment, plain_times

POLICY_SCHEMA_VERSION = 1

_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Reports about the change are stamped with the decision's own time, so their age is always 0
# and any half-life leaves them whole; this one only fills the table.
_CHANGE_HALF_LIFE = 86400


def duration_seconds(value: object) -> int:
    """``30s``, ``5m``, ``6h``, ``30d`` → seconds. Bare numbers are refused: units matter here."""
    if isinstance(value, str):  # the policy's own durations, read on every decision: parsed once
        return _parsed_duration(value)
    return _parse_duration(value)


@lru_cache(maxsize=256)
def _parsed_duration(value: str) -> int:
    return _parse_duration(value)


def _parse_duration(value: object) -> int:
    if not isinstance(value, str) or not (m := _DURATION.match(value.strip())):
        raise ValueError(
            f"duration {value!r} must be a number with a unit: s, m, h or d (e.g. 15m)"
        )
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    return seconds


class Duration(str):
    """A duration as written (``15m``), checked when the document is validated."""

    __slots__ = ()

    @classmethod
    def validate(cls, value: object) -> "Duration":
        duration_seconds(value)  # raises ValueError with the message a user needs, for any type
        return cls(value)  # a str: duration_seconds refused anything else

    @classmethod
    def __get_pydantic_core_schema__(cls, source: object, handler: object) -> object:
        """The same check in the service's pydantic settings (``Duration`` fields there)."""
        from pydantic_core import core_schema  # noqa: PLC0415 - only pydantic models ask

        return core_schema.no_info_before_validator_function(cls.validate, core_schema.str_schema())


Unit = Annotated[float, Meta(ge=0.0, le=1.0)]


class Stance(StrEnum):
    """What to do when the gate cannot see: each weakening choice reads as such in review."""

    BLOCK = "block"
    APPROVE = "approve"
    PROCEED_WITH_WARNING = "proceed_with_warning"

    @property
    def verdict(self) -> Verdict:
        return {
            Stance.BLOCK: Verdict.BLOCK,
            Stance.APPROVE: Verdict.APPROVE,
            Stance.PROCEED_WITH_WARNING: Verdict.PROCEED,
        }[self]


class _Strict(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


Score = Annotated[float, Meta(gt=0, le=100)]
NonEmpty = Annotated[str, Meta(min_length=1)]
Name = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Workload = Annotated[str, Meta(pattern=r"^[A-Za-z0-9.-]+/[A-Za-z0-9._-]+$")]


class Thresholds(_Strict, frozen=True, kw_only=True):
    approve: Score
    block: Score

    def __post_init__(self) -> None:
        if self.approve >= self.block:
            raise ValueError(
                f"threshold 'approve' ({self.approve:g}) must be below 'block' ({self.block:g})"
            )


class Stances(_Strict, frozen=True, kw_only=True):
    source_down: Stance
    stale: Stance
    unknown_target: Stance
    no_sources: Stance
    # Required only where the environment requires reports (``evidence.required``): a policy
    # that asks for none decides as it always did.
    missing_evidence: Stance | None = None
    # Likewise, required only where the environment requires coverage (``coverage.required``).
    not_covered: Stance | None = None

    # The target itself is unwell (a health signal of medium severity or worse: a crash loop,
    # a firing alert, a burning error budget). Optional, unlike the stances above: those say
    # what to do when the gate cannot see, this one acts on what it sees; a policy without it
    # (one written before health signals existed) weighs health by score alone.
    unhealthy_target: Stance | None = None


ReportFormatName = Literal["junit", "sarif", "github-checks"]


class EvidenceRequirements(_Strict, frozen=True, kw_only=True):
    """Reports about the change a deploy to the environment must bring (``check --evidence``)."""

    # Report formats every deploy must bring: junit, sarif, github-checks.
    required: list[ReportFormatName] = []


class CoverageRequirements(_Strict, frozen=True, kw_only=True):
    """Which agents must watch every host (node) a deploy to the environment touches."""

    required: list[Literal["edr", "runtime"]] = []  # coverage every host needs
    max_silence: Duration = Duration("24h")  # an agent silent longer does not cover its host


class Approvals(_Strict, frozen=True, kw_only=True):
    required: Annotated[int, Meta(ge=1, le=10)]
    group: str | None = None
    expires_after: Duration = Duration("24h")


class ExceptionLimits(_Strict, frozen=True, kw_only=True):
    """Bounds on exceptions granted at run time (API, CLI) in the environment."""

    # An exception may not expire later than this after it is made.
    max_lifetime: Duration = Duration("30d")


class Environment(_Strict, frozen=True, kw_only=True):
    sensitivity: Annotated[float, Meta(gt=0, le=10)]  # thresholds are divided by this
    thresholds: Thresholds
    freshness: dict[str, Duration]  # per source name, plus 'default' for the rest
    approvals: Approvals
    stances: Stances
    exceptions: ExceptionLimits = ExceptionLimits()
    evidence: EvidenceRequirements = EvidenceRequirements()
    coverage: CoverageRequirements = CoverageRequirements()
    # ``shadow``: decide and record exactly as when enforcing, but let every deploy through and
    # say what would have happened (docs/shadow-mode.md). Spelled out, never a default.
    mode: Literal["enforce", "shadow"] = "enforce"

    def __post_init__(self) -> None:
        if "default" not in self.freshness:
            raise FieldError("freshness", "freshness needs a 'default' limit for sources not named")
        if self.evidence.required and self.stances.missing_evidence is None:
            raise ValueError(
                "stances.missing_evidence is required when evidence.required names a report: "
                "say what a deploy without one gets (block, approve or proceed_with_warning)"
            )
        if self.coverage.required and self.stances.not_covered is None:
            raise ValueError(
                "stances.not_covered is required when coverage.required names a coverage: say "
                "what a deploy onto an unwatched host gets (block, approve or "
                "proceed_with_warning)"
            )

    def freshness_limit(self, source: str) -> int:
        return duration_seconds(self.freshness.get(source, self.freshness["default"]))


SeverityTable = dict[
    Literal["unknown", "informational", "low", "medium", "high", "critical", "fatal"], Unit
]


def _table_problems(table: SeverityTable, where: str) -> list[str]:
    """Missing severities, and any that would make risk non-monotone (a worse severity must not
    weigh less; ``unknown`` stands outside the order: it may deserve more than ``low``)."""
    missing = [f"{where}.{s.label}" for s in Severity if s.label not in table]
    if missing:
        return ["scoring must set every weight; missing " + ", ".join(missing)]
    ordered = [s for s in Severity if s is not Severity.UNKNOWN]
    for lower, higher in pairwise(ordered):
        if table[higher.label] < table[lower.label]:  # type: ignore[index]
            return [
                f"{where}.{higher.label} ({table[higher.label]:g}) must "  # type: ignore[index]
                f"not be below {where}.{lower.label} ({table[lower.label]:g})"  # type: ignore[index]
            ]
    return []


KindName = Literal[
    "detection",
    "vulnerability",
    "posture",
    "incident",
    "anomaly",
    "known_exploited",
    "test",
    "code_scan",
    "health",
]
# Kinds a policy may leave out of ``half_lives``: a policy written before they existed still
# loads (and replays its decisions), and does not weigh them (see ``Scoring.weighs``).
OPTIONAL_KINDS = frozenset({SignalKind.HEALTH})


class KindScoring(_Strict, frozen=True, kw_only=True):
    """How one kind of finding weighs: its own severity table (else ``severity_weights``), and
    a cap on the combined contribution of all signals of that kind (a hundred medium CVEs are
    still vulnerabilities, not an intrusion)."""

    severity_weights: SeverityTable | None = None
    cap: Unit | None = None


class Scoring(_Strict, frozen=True, kw_only=True):
    severity_weights: SeverityTable
    proximity_weights: dict[Literal["direct", "host", "namespace", "cluster", "environment"], Unit]
    half_lives: dict[KindName, Duration]
    kinds: dict[KindName, KindScoring] = {}
    # How much an image finding counts by what the deploy does to it (change.py): a deploy is
    # judged by what it brings, not held back by what it removes. Absent: every finding counts
    # fully, whatever the deploy changes.
    changes: dict[Literal["introduced", "unchanged", "fixed"], Unit] = {}

    def __post_init__(self) -> None:
        problems = _table_problems(self.severity_weights, "severity_weights")
        missing = [
            f"proximity_weights.{p.label}"
            for p in Proximity
            if p.label not in self.proximity_weights
        ]
        missing += [
            f"half_lives.{k.value}"
            for k in SignalKind
            if k.value not in self.half_lives and k not in CHANGE_KINDS | OPTIONAL_KINDS
        ]
        if missing:
            problems.append("scoring must set every weight; missing " + ", ".join(missing))
        for kind, settings in sorted(self.kinds.items()):
            if settings.severity_weights is not None:
                problems += _table_problems(
                    settings.severity_weights, f"kinds.{kind}.severity_weights"
                )
        if self.changes:
            missing_changes = [
                c for c in ("introduced", "unchanged", "fixed") if c not in self.changes
            ]
            if missing_changes:
                problems.append("changes must set " + ", ".join(missing_changes))
            elif not (
                self.changes["introduced"] >= self.changes["unchanged"] >= self.changes["fixed"]
            ):
                problems.append(
                    "changes must not weigh a finding the deploy introduces below one it keeps, "
                    "nor one it keeps below one it fixes (introduced >= unchanged >= fixed)"
                )
        if problems:
            raise ValueError(problems[0])
        # Risk must be monotone: a closer asset never lowers it.
        near_to_far = list(Proximity)
        for closer, further in pairwise(near_to_far):
            if self.proximity_weight(closer) < self.proximity_weight(further):
                raise ValueError(
                    f"proximity_weights.{closer.label} ({self.proximity_weight(closer):g}) must "
                    f"not be below proximity_weights.{further.label} "
                    f"({self.proximity_weight(further):g})"
                )

    def severity_weight(self, severity: Severity, kind: SignalKind | None = None) -> float:
        """The weight of ``severity`` for ``kind``: its own table if it has one."""
        settings = self.kinds.get(kind.value) if kind is not None else None
        table = settings.severity_weights if settings and settings.severity_weights else None
        return (table or self.severity_weights)[severity.label]  # type: ignore[index]

    def cap(self, kind: SignalKind) -> float | None:
        settings = self.kinds.get(kind.value)
        return None if settings is None else settings.cap

    def proximity_weight(self, proximity: Proximity) -> float:
        return self.proximity_weights[proximity.label]  # type: ignore[index]

    def weighs(self, kind: SignalKind) -> bool:
        """Whether signals of ``kind`` count toward the score: every kind but an optional one
        the policy gives no half-life (it still reaches rules and stances). Change kinds always
        count: they are stamped at the decision and never decay."""
        return kind.value in self.half_lives or kind in CHANGE_KINDS

    def half_life(self, kind: SignalKind) -> int:
        if kind.value not in self.half_lives:  # a change kind: stamped at the decision, age 0
            return _CHANGE_HALF_LIFE
        return duration_seconds(self.half_lives[kind.value])


class Rule(_Strict, frozen=True, kw_only=True):
    """A CEL expression that forces a verdict when true.

    ``scope: signal`` rules run once per matched signal (variables ``signal``, ``proximity``,
    ``target``, ``environment``); ``scope: decision`` rules run once (``score``, ``target``,
    ``environment``, ``signals``, ``sources``). See docs/policy.md for the variables' fields.
    """

    name: Name
    scope: Literal["signal", "decision"] = "signal"
    when: NonEmpty
    verdict: Verdict
    message: NonEmpty
    environments: list[str] | None = None


class Suppression(_Strict, frozen=True, kw_only=True):
    """Known noise: matching signals contribute nothing anywhere, until ``expires``."""

    name: NonEmpty
    source: str | None = None
    title: str | None = None  # an fnmatch pattern on the signal title
    rule: str | None = None
    asset: str | None = None  # kind:value, value may be an fnmatch pattern
    expires: Moment
    owner: NonEmpty
    reason: NonEmpty

    def __post_init__(self) -> None:
        plain_times(self, "expires")
        if not any((self.source, self.title, self.rule, self.asset)):
            raise ValueError(
                "a suppression must match on at least one of source, title, rule, asset"
            )
        if self.expires.tzinfo is None:
            raise FieldError("expires", "expires needs a time zone (e.g. 2026-12-31T00:00:00Z)")


class ExceptionTarget(_Strict, frozen=True, kw_only=True):
    environment: str
    cluster: str
    namespace: str
    workload: Workload


class ExceptionFinding(_Strict, frozen=True, kw_only=True):
    signal: str | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        if (self.signal is None) == (self.rule is None):
            raise ValueError("finding must name exactly one of 'signal' (a uid) or 'rule'")


class PolicyException(_Strict, frozen=True, kw_only=True):
    id: NonEmpty
    finding: ExceptionFinding
    target: ExceptionTarget
    expires: Moment
    reason: NonEmpty
    ticket: NonEmpty
    approver: NonEmpty

    def __post_init__(self) -> None:
        plain_times(self, "expires")
        if self.expires.tzinfo is None:
            raise FieldError("expires", "expires needs a time zone (e.g. 2026-12-31T00:00:00Z)")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCK = re.compile(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")


class ClockTime(str):
    """A time of day as written (``18:00``), checked when the document is validated."""

    __slots__ = ()

    @classmethod
    def validate(cls, value: object) -> "ClockTime":
        if not isinstance(value, str) or not _CLOCK.match(value):
            raise ValueError(
                f"time of day {value!r} must be HH:MM, 00:00 to 23:59 (or 24:00 to end a day); "
                'quote it in YAML ("18:00")'
            )
        return cls(value)


class OneOff(_Strict, frozen=True, kw_only=True):
    """One window, ``start`` (inclusive) to ``end`` (exclusive). Without an offset the times are
    local in the freeze's ``timezone``."""

    start: Moment
    end: Moment

    def __post_init__(self) -> None:
        plain_times(self, "start", "end")
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("write both start and end with an offset, or both without")
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")


class Weekly(_Strict, frozen=True, kw_only=True):
    """Every listed weekday from ``start`` to ``end`` (HH:MM, local wall clock); an ``end`` at or
    before ``start`` runs past midnight into the next day."""

    days: Annotated[list[Weekday], Meta(min_length=1)]
    start: ClockTime
    end: ClockTime

    def __post_init__(self) -> None:
        if self.start == "24:00":
            raise ValueError("start must be 00:00..23:59 (24:00 only ends a window)")


class Freeze(_Strict, frozen=True, kw_only=True):
    """A freeze window or change calendar: while one of its windows holds, decisions about the
    environments (and targets) it names get its own reason ``freeze:<name>`` and verdict."""

    name: Name
    verdict: Literal["block", "approve"]  # Verdict.BLOCK or Verdict.APPROVE
    message: NonEmpty
    environments: Annotated[list[str], Meta(min_length=1)]
    targets: list[str] | None = None  # fnmatch patterns on cluster/namespace/workload
    timezone: str = "UTC"
    once: list[OneOff] = []
    weekly: list[Weekly] = []

    def __post_init__(self) -> None:
        try:
            zone(self.timezone)
        except ValueError as exc:
            raise FieldError("timezone", str(exc)) from exc
        if not self.once and not self.weekly:
            raise ValueError(f"freeze {self.name!r} needs a window: 'once' or 'weekly'")


class PolicyDocument(_Strict, frozen=True, kw_only=True):
    schema_version: Literal[1]
    environments: Annotated[dict[str, Environment], Meta(min_length=1)]
    scoring: Scoring
    rules: list[Rule] = []
    suppressions: list[Suppression] = []
    exceptions: list[PolicyException] = []
    freezes: list[Freeze] = []

    def __post_init__(self) -> None:
        for kind, names in (
            ("freeze", [f.name for f in self.freezes]),
            ("rule", [r.name for r in self.rules]),
            ("suppression", [s.name for s in self.suppressions]),
            ("exception", [e.id for e in self.exceptions]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} name(s): {', '.join(dupes)}")
