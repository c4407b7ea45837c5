"""What the client sends and what the service answers, as typed values.

A :class:`Question` is a target (and, for a workload that is new or changing, the manifest about
to be applied). An :class:`Answer` is the recorded :class:`~clearance.model.decision.Decision`,
read back with ``Decision.from_dict`` so it renders exactly as a local check does, and its
:class:`~clearance.model.standing.Standing` on the service: status, exit code and approvals (a
model type, so the renderers can show it without depending on the client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clearance.errors import ServiceUnavailableError, UnknownStatusError
from clearance.model.decision import Decision
from clearance.model.standing import PENDING, Standing
from clearance.model.target import Target


@dataclass(frozen=True, slots=True)
class Question:
    """One deploy to decide. ``manifest``: the workload object about to be applied.
    ``evidence``: reports about the change, as ``(format, name, text)`` (the service parses
    and records them)."""

    target: Target
    manifest: Mapping[str, Any] | None = None
    evidence: tuple[tuple[str, str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        body = self.target.to_dict()  # the API's request fields, by construction
        if self.manifest is not None:
            body["manifest"] = dict(self.manifest)
        if self.evidence:
            body["evidence"] = [
                {"format": fmt, "name": name, "content": text} for fmt, name, text in self.evidence
            ]
        return body


@dataclass(frozen=True, slots=True)
class Answer:
    """A recorded decision and its standing. ``exit_code`` is the standing's (0/10/20)."""

    decision: Decision
    standing: Standing

    @property
    def exit_code(self) -> int:
        return self.standing.exit_code

    @property
    def pending(self) -> bool:
        return self.standing.status == PENDING

    @classmethod
    def from_json(cls, body: Any, where: str) -> Answer:
        """Parse the body of ``POST /v1/decisions`` or ``GET /v1/decisions/{id}``."""
        try:
            return cls(Decision.from_dict(body["decision"]), Standing.from_dict(body))
        except UnknownStatusError:
            raise  # a status this client does not know: refused as such, never read as proceed
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceUnavailableError(
                f"{where} answered something that is not a decision "
                f"({type(exc).__name__}: {exc}); is it a Clearance service of this version?"
            ) from exc
