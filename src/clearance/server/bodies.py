"""Request bodies: pydantic models whose errors name the field and the problem (422).

Text fields refuse control characters (a NUL cannot be stored in PostgreSQL text, and none
belongs in a name) and are bounded in length.
"""

from __future__ import annotations

from datetime import datetime
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


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(_Body):
    commit: Name | None = None
    pipeline_run: Name | None = None
    actor: Name | None = None


class DecisionRequest(_Body):
    """The deploy being asked about; ``workload`` is ``kind/name``. ``manifest``: the workload
    object about to be applied, for a workload that is new or changing (its candidate nodes and
    images count), checked by :func:`clearance.manifest.check_manifest`."""

    environment: Name
    cluster: Name
    namespace: Name
    workload: Name = Field(examples=["deployment/checkout"])
    images: list[Name] = Field(default=[], max_length=100)
    change: Change | None = None
    manifest: dict[str, Any] | None = None

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
        if value.tzinfo is None:
            raise ValueError("expires needs a time zone (e.g. 2026-12-01T00:00:00Z)")
        return value


class SignalsRequest(_Body):
    signals: list[dict[str, Any]] = Field(max_length=10_000)
