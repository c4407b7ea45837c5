"""Argo Rollouts ``web`` metric provider: a JSON measurement the AnalysisTemplate's conditions read.

Argo parses the body as JSON, applies the template's ``jsonPath`` (k8s client-go JSONPath,
default ``{$}``) and evaluates ``successCondition``/``failureCondition`` (expr) on ``result``
(argo-rollouts ``metricproviders/webmetric/webmetric.go``, ``utils/evaluate``). With both
conditions set — ``result.verdict == "proceed"`` and ``result.verdict == "block"`` — ``approve``
matches neither, the measurement is Inconclusive and the rollout pauses for a person. A non-2xx
answer would be a measurement *Error* (retried up to ``consecutiveErrorLimit``), so a decision is
always a 200; only a malformed query is a 4xx. See examples/argo/analysis-template.yaml.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from clearance.errors import ClearanceError, PayloadError
from clearance.integrations.interface import Answer
from clearance.integrations.settings import ArgoSettings
from clearance.integrations.verdicts import dialect
from clearance.model.target import ChangeInfo, Target


class ArgoQuery(BaseModel):
    """What the template sends (query string for GET, ``jsonBody`` for POST)."""

    model_config = ConfigDict(extra="forbid")
    namespace: str = Field(min_length=1)
    workload: str = Field(min_length=1, description="KIND/NAME, or a Rollout name")
    environment: str | None = None
    cluster: str | None = None
    images: list[str] = []
    revision: str | None = None  # e.g. the new ReplicaSet's pod-template-hash, recorded


def target_of(query: ArgoQuery, settings: ArgoSettings) -> Target:
    environment = query.environment or settings.environment
    cluster = query.cluster or settings.cluster
    if not environment:
        raise PayloadError("environment", "not given and no argo.environment configured")
    if not cluster:
        raise PayloadError("cluster", "not given and no argo.cluster configured")
    workload = query.workload if "/" in query.workload else f"rollout/{query.workload}"
    try:
        return Target.of(
            environment=environment,
            cluster=cluster,
            namespace=query.namespace,
            workload=workload,
            images=tuple(query.images),
            change=ChangeInfo(pipeline_run=query.revision),
        )
    except (ValueError, ClearanceError) as exc:
        raise PayloadError("images" if "image" in str(exc) else "workload", str(exc)) from exc


def measurement(ans: Answer, decision_url: str | None) -> dict[str, Any]:
    """The measurement body: ``verdict`` is what the rollout acts on (approvals applied)."""
    d = ans.decision
    body: dict[str, Any] = {
        "verdict": ans.verdict.value,
        "phase": dialect(ans.verdict).argo_phase.value,
        "status": ans.status,
        "score": d.score,
        "decision_id": d.id,
        "decision_url": decision_url,
        "degraded": list(d.degraded),
        "reasons": [r.message for r in d.reasons if r.waived_by is None],
    }
    if ans.would_have:  # shadow mode: the rollout goes on; this is what enforcing would answer
        body["would_have"] = d.verdict.value
    return body
