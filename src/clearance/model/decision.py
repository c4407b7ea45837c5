"""Decision: the verdict, its reasons and the evidence, serialized as canonical JSON.

The JSON form is the contract with every consumer (CLI, API, audit log, integrations), so it is
versioned by ``DECISION_SCHEMA_VERSION`` and rendered with RFC 8785 canonicalization: the same
decision gives the same bytes on every machine. ``Decision.to_dict`` and ``Decision.from_dict``
are the one serializer pair: a decision the service answered is read back into a Decision, so
the CLI and the pipeline gate render it with the same renderers as a local check.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import msgspec

from clearance.model.canonical import canonical_json, with_present
from clearance.model.signal import format_time, parse_time
from clearance.model.snapshot import target_from_dict
from clearance.model.target import Target

DECISION_SCHEMA_VERSION = 1
SHADOW = "shadow"  # Decision.mode of an environment that observes without enforcing


class Verdict(StrEnum):
    PROCEED = "proceed"
    APPROVE = "approve"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        return _EXIT[self]

    @staticmethod
    def strictest(verdicts: list[Verdict]) -> Verdict:
        return max(verdicts, key=lambda v: v.rank, default=Verdict.PROCEED)


_RANK = {Verdict.PROCEED: 0, Verdict.APPROVE: 1, Verdict.BLOCK: 2}
_EXIT = {Verdict.PROCEED: 0, Verdict.APPROVE: 10, Verdict.BLOCK: 20}


class Freshness(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    DOWN = "down"


class Reason(msgspec.Struct, frozen=True):
    """One sentence of the verdict's explanation, naming what produced it.

    ``code`` is stable and machine-readable (``score``, ``rule:<name>``, ``stance:stale``,
    ``exception:<id>``); ``verdict`` is what this reason alone asks for; ``waived_by`` names the
    exception that lowered it, in which case it no longer counts toward the verdict.
    """

    code: str
    verdict: Verdict
    message: str
    signal: str | None = None
    waived_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"code": self.code, "verdict": self.verdict.value, "message": self.message}
        return with_present(data, signal=self.signal, waived_by=self.waived_by)


class Contribution(NamedTuple):
    """The factor-by-factor arithmetic of one signal's share of the risk.

    Immutable like the other records, but a named tuple rather than a frozen dataclass: every
    decision builds one per scored signal, and a frozen dataclass sets its 18 fields one
    ``object.__setattr__`` at a time (1.9 µs a record; 0.3 µs as a tuple, bench/decide.py).
    """

    signal: str
    source: str
    title: str
    severity: int
    severity_weight: float
    confidence: float
    age_seconds: int
    half_life_seconds: int
    decay: float
    proximity: str
    proximity_weight: float
    matched: str  # the exposed asset it matched, e.g. "host:ip-10-0-1-5"
    contribution: float
    url: str | None = None
    kind: str | None = None  # set when the policy weighs kinds apart (scoring.kinds)
    # What is known of a vulnerability's exploitability (EPSS, fix, CVSS vector), when anything
    # is: shown with the arithmetic, since a rule may have read it.
    exploitability: Mapping[str, Any] | None = None
    change: str | None = None  # what the deploy does to an image finding (clearance.change)
    change_weight: float | None = None  # the policy's weight for that change, when it sets one

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "signal": self.signal,
            "source": self.source,
            "title": self.title,
            "severity": self.severity,
            "severity_weight": self.severity_weight,
            "confidence": self.confidence,
            "age_seconds": self.age_seconds,
            "half_life_seconds": self.half_life_seconds,
            "decay": self.decay,
            "proximity": self.proximity,
            "proximity_weight": self.proximity_weight,
            "matched": self.matched,
            "contribution": self.contribution,
        }
        exploitability = None if self.exploitability is None else dict(self.exploitability)
        return with_present(
            data,
            url=self.url,
            kind=self.kind,
            exploitability=exploitability,
            change=self.change,
            change_weight=self.change_weight,
        )


class KindTotal(msgspec.Struct, frozen=True):
    """What one kind of finding added up to, and what of it counted after its cap."""

    kind: str
    total: float  # 1 − Π(1 − c) over the kind's contributions
    cap: float | None
    counted: float  # min(cap, total), or total when uncapped

    def to_dict(self) -> dict[str, Any]:
        data = {"kind": self.kind, "total": self.total, "counted": self.counted}
        return with_present(data, cap=self.cap)


class SourceFreshness(msgspec.Struct, frozen=True):
    name: str
    state: Freshness
    age_seconds: int | None  # None: never succeeded
    limit_seconds: int
    skipped: int
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "state": self.state.value,
            "age_seconds": self.age_seconds,
            "limit_seconds": self.limit_seconds,
            "skipped": self.skipped,
        }
        return with_present(data, last_error=self.last_error)


class Decision(msgspec.Struct, frozen=True):
    id: str
    at: datetime
    target: Target
    verdict: Verdict
    score: float
    band: Verdict  # what the score alone asks for
    threshold_approve: float
    threshold_block: float
    reasons: tuple[Reason, ...]
    contributors: tuple[Contribution, ...]
    suppressed: tuple[tuple[str, str], ...]  # (signal uid, suppression name)
    waived: tuple[tuple[str, str], ...]  # (signal uid, exception id): excluded from the score
    sources: tuple[SourceFreshness, ...]
    exposure_summary: dict[str, int]
    approvals_required: int
    approval_group: str | None
    degraded: tuple[str, ...]  # failure classes whose stance fired
    notes: tuple[str, ...]  # what the inventory wants the reader to know (candidates, ambiguity)
    policy_digest: str
    inputs_digest: str
    # Per kind, when the policy weighs kinds apart (scoring.kinds); empty otherwise, and then
    # left out of the JSON, so decisions under a policy without it keep their exact bytes.
    kinds: tuple[KindTotal, ...] = ()
    # "shadow" when the environment observes only (policy ``mode: shadow``): the verdict is what
    # enforcing would have answered, and every integration lets the deploy through. None
    # (enforcing) is left out of the JSON, so enforcing decisions keep their exact bytes.
    mode: str | None = None

    @property
    def shadow(self) -> bool:
        return self.mode == SHADOW

    @property
    def exit_code(self) -> int:
        """What a pipeline acts on: the verdict's code, or 0 in shadow mode (it only observes)."""
        return 0 if self.shadow else self.verdict.exit_code

    def to_dict(self) -> dict[str, Any]:
        data = {
            "schema_version": DECISION_SCHEMA_VERSION,
            "id": self.id,
            "at": format_time(self.at),
            "target": self.target.to_dict(),
            "verdict": self.verdict.value,
            "score": self.score,
            "band": self.band.value,
            "thresholds": {"approve": self.threshold_approve, "block": self.threshold_block},
            "reasons": [r.to_dict() for r in self.reasons],
            "contributors": [c.to_dict() for c in self.contributors],
            "suppressed": [{"signal": s, "suppression": n} for s, n in self.suppressed],
            "exceptions": [{"signal": s, "exception": e} for s, e in self.waived],
            "sources": [s.to_dict() for s in self.sources],
            "exposure": dict(sorted(self.exposure_summary.items())),
            "approvals": {"required": self.approvals_required, "group": self.approval_group},
            "degraded": list(self.degraded),
            "notes": list(self.notes),
            "policy_digest": self.policy_digest,
            "inputs_digest": self.inputs_digest,
        }
        kinds = [k.to_dict() for k in self.kinds] if self.kinds else None
        return with_present(data, kinds=kinds, mode=self.mode)

    def to_json(self) -> bytes:
        """Canonical JSON (RFC 8785): byte-identical for identical decisions."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        """The inverse of :meth:`to_dict`: ``from_dict(d.to_dict()) == d``.

        Raises KeyError, TypeError or ValueError on a body that is not a decision; the caller
        names where it came from.
        """
        approvals = data.get("approvals") or {}
        return cls(
            id=data["id"],
            at=parse_time(data["at"]),
            target=target_from_dict(data["target"]),
            verdict=Verdict(data["verdict"]),
            score=float(data["score"]),
            band=Verdict(data["band"]),
            threshold_approve=float(data["thresholds"]["approve"]),
            threshold_block=float(data["thresholds"]["block"]),
            reasons=tuple(
                Reason(
                    code=r["code"],
                    verdict=Verdict(r["verdict"]),
                    message=r["message"],
                    signal=r.get("signal"),
                    waived_by=r.get("waived_by"),
                )
                for r in data.get("reasons", ())
            ),
            contributors=tuple(Contribution(**c) for c in data.get("contributors", ())),
            suppressed=tuple((s["signal"], s["suppression"]) for s in data.get("suppressed", ())),
            waived=tuple((e["signal"], e["exception"]) for e in data.get("exceptions", ())),
            sources=tuple(
                SourceFreshness(
                    name=s["name"],
                    state=Freshness(s["state"]),
                    age_seconds=s.get("age_seconds"),
                    limit_seconds=int(s["limit_seconds"]),
                    skipped=int(s.get("skipped", 0)),
                    last_error=s.get("last_error"),
                )
                for s in data.get("sources", ())
            ),
            exposure_summary=dict(data.get("exposure", {})),
            approvals_required=int(approvals.get("required", 0)),
            approval_group=approvals.get("group"),
            degraded=tuple(data.get("degraded", ())),
            notes=tuple(data.get("notes", ())),
            policy_digest=data["policy_digest"],
            inputs_digest=data["inputs_digest"],
            kinds=tuple(
                KindTotal(
                    kind=k["kind"],
                    total=float(k["total"]),
                    cap=None if k.get("cap") is None else float(k["cap"]),
                    counted=float(k["counted"]),
                )
                for k in data.get("kinds", ())
            ),
            mode=data.get("mode"),
        )
