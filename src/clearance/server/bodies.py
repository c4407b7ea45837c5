"""Request bodies: pydantic models whose errors name the field and the problem (422).

Text fields refuse control characters (a NUL cannot be stored in PostgreSQL text, and none
belongs in a name) and are bounded in length.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from clearance.manifest import check_manifest
from clearance.model.assets import parse_image
from clearance.model.target import WorkloadRef

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[^\x00-\x1f\x7f\s]+$")
]
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]+$")
]
Words = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")]


def in_utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC; a ValueError naming ``name`` when it has no zone or leaves the
    calendar in UTC (``9999-12-31T23:59:59-14:00`` is in year 10000 there)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} needs a time zone (e.g. 2026-12-01T00:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{name} is beyond year 9999 once expressed in UTC") from exc


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(_Body):
    commit: Name | None = None
    pipeline_run: Name | None = None
    actor: Name | None = None


class EvidenceReport(_Body):
    """A report about the change: a JUnit XML test report or a SARIF 2.1.0 log, as text.
    Bounded by the decisions route's body limit (``server.body_limits.decisions``)."""

    format: Literal["junit", "sarif"]
    name: Name = Field(examples=["report.xml"])
    content: str = Field(min_length=1)


class CheckRequest(_Body):
    """A post-deploy check of a decision's deploy (smoke tests, health checks): its JUnit
    report. Later decisions of the same target, and of the same release in other
    environments, count its failed tests (``health`` signals, rule ``smoke``)."""

    report: EvidenceReport


class DecisionRequest(_Body):
    """The deploy being asked about; ``workload`` is ``kind/name``. ``manifest``: the workload
    object about to be applied, for a workload that is new or changing (its candidate nodes and
    images count), checked by :func:`clearance.manifest.check_manifest`. ``evidence``: reports
    about the change (test results, code scanning), scored and ruled by the policy."""

    environment: Name
    cluster: Name
    namespace: Name
    workload: Name = Field(examples=["deployment/checkout"])
    images: list[Name] = Field(default=[], max_length=100)
    change: Change | None = None
    manifest: dict[str, Any] | None = None
    evidence: list[EvidenceReport] = Field(default=[], max_length=20)

    @field_validator("manifest")
    @classmethod
    def _manifest(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        namespace, workload = info.data.get("namespace"), info.data.get("workload")
        if value is not None and namespace is not None and workload is not None:
            check_manifest(value, namespace, workload)  # a ValueError: 422 on body.manifest
        return value

    @field_validator("workload")
    @classmethod
    def _workload(cls, value: str) -> str:
        try:
            WorkloadRef.parse(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from exc
        except Exception as exc:  # TargetError is not a ValueError
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("images")
    @classmethod
    def _images(cls, value: list[str]) -> list[str]:
        for image in value:
            try:
                parse_image(image)
            except Exception as exc:
                raise ValueError(f"{image!r}: {exc}") from exc
        return value


class ApprovalRequest(_Body):
    outcome: Literal["approve", "reject"]
    reason: Annotated[Text, Field(pattern=r"\S")]


class BreakGlassRequest(_Body):
    reason: Annotated[Text, Field(pattern=r"\S")]
    ticket: Name


class ExceptionRequest(_Body):
    """Waive one finding (a signal uid, or a rule) on one target until ``expires``."""

    id: Name | None = None
    signal: Name | None = None
    rule: Text | None = None
    environment: Name
    cluster: Name
    namespace: Name
    workload: Name
    expires: datetime
    reason: Annotated[Text, Field(pattern=r"\S")]
    ticket: Name

    @field_validator("workload")
    @classmethod
    def _workload(cls, value: str) -> str:
        return DecisionRequest._workload(value)

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return in_utc(value, "expires")


class SignalsRequest(_Body):
    signals: list[dict[str, Any]] = Field(max_length=10_000)
