"""Flagger webhooks (pre-rollout, confirm-rollout, confirm-promotion): 200 to go on, 403 to hold.

Flagger POSTs ``{name, namespace, phase, checksum, metadata}`` and treats a status <= 202 as
success (fluxcd/flagger ``pkg/controller/webhook.go``; fixture
tests/fixtures/flagger/webhook-payload.docs-example.json). The payload names no image, workload
or cluster, so they come from the webhook's ``metadata`` (``environment``, ``cluster``,
``workload``, ``images`` comma-separated) or the configuration; the workload defaults to
``deployment/<canary name>`` (Flagger's targetRef is usually the Deployment of the same name).
A ``confirm-*`` hook holding on 403 is retried by Flagger every analysis interval, so an
``approve`` turns into a 200 once the approvals are given. On ``pre-rollout`` a 403 counts
toward the analysis threshold and ends in a rollback.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from clearance.errors import ClearanceError, PayloadError
from clearance.integrations.interface import Answer
from clearance.integrations.settings import FlaggerSettings
from clearance.integrations.verdicts import dialect
from clearance.model.target import ChangeInfo, Target

HOOKS = ("pre-rollout", "confirm-rollout", "confirm-promotion")


class FlaggerPayload(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    phase: str = ""
    checksum: str = ""
    metadata: dict[str, str] = {}


def target_of(payload: FlaggerPayload, settings: FlaggerSettings) -> Target:
    meta = payload.metadata
    environment = meta.get("environment") or settings.environment_for(payload.namespace)
    if not environment:
        raise PayloadError(
            "metadata.environment", f"not given and namespace {payload.namespace!r} is not mapped"
        )
    images = tuple(i.strip() for i in meta.get("images", "").split(",") if i.strip())
    try:
        return Target.of(
            environment=environment,
            cluster=meta.get("cluster") or settings.cluster,
            namespace=payload.namespace,
            workload=meta.get("workload") or f"deployment/{payload.name}",
            images=images,
            change=ChangeInfo(pipeline_run=payload.checksum or None),
        )
    except (ValueError, ClearanceError) as exc:
        field = "metadata.images" if "image" in str(exc) else "metadata.workload"
        raise PayloadError(field, str(exc)) from exc


def status_code(ans: Answer) -> int:
    return dialect(ans.verdict).flagger_status


def answer_text(hook: str, ans: Answer, decision_url: str | None) -> str:
    d = ans.decision
    reasons = "; ".join(r.message for r in d.reasons if r.waived_by is None)
    link = f" {decision_url}" if decision_url else ""
    return (
        f"Clearance {hook}: {ans.verdict.value} ({ans.status}, risk {d.score:g}) "
        f"{reasons} [{d.id}]{link}{ans.would_have}"
    )
