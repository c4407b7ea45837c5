"""GitHub custom deployment protection rules: verify the delivery, map it to a target, answer.

Docs: https://docs.github.com/actions/how-tos/deploy/configure-and-manage-deployments/create-custom-protection-rules
(schema: tests/fixtures/github/deployment_protection_rule.requested.schema.json). GitHub signs
the raw body with the webhook secret (``X-Hub-Signature-256: sha256=<hex HMAC-SHA256>``), waits
10 s for a 2xx and never redelivers on its own, so the route verifies, acknowledges with 202 and
decides in the background; the answer goes to ``deployment_callback_url`` (github_app.py).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from clearance.errors import ClearanceError, PayloadError, SignatureError
from clearance.integrations.interface import Answer
from clearance.integrations.settings import GitHubSettings
from clearance.integrations.verdicts import dialect
from clearance.model.decision import Verdict
from clearance.model.target import ChangeInfo, Target

COMMENT_LIMIT = 1024  # characters per status report / review comment


def verify_signature(secret: bytes, body: bytes, header: str | None) -> None:
    """Raise :class:`SignatureError` unless ``header`` is the HMAC-SHA256 of ``body``."""
    if not header or not header.startswith("sha256="):
        raise SignatureError("X-Hub-Signature-256 is missing or not sha256=<hex>")
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.encode()):
        raise SignatureError("X-Hub-Signature-256 does not match the body")


@dataclass(frozen=True, slots=True)
class Gate:
    """One pending protection rule: where and how to answer it."""

    callback_url: str
    environment: str  # GitHub environment name, echoed as environment_name
    installation_id: int | None
    repository: str
    run_id: str | None


@dataclass(frozen=True, slots=True)
class Request:
    gate: Gate
    target: Target | None  # None: no mapping; answered "rejected" with the reason
    unmapped_reason: str | None = None
    sender: str | None = None  # the login that asked for the deployment (signed by GitHub)


def parse_request(payload: Any, settings: GitHubSettings) -> Request:
    if not isinstance(payload, dict):
        raise PayloadError("body", "expected a JSON object")
    if payload.get("action") != "requested":
        raise PayloadError("action", f"expected 'requested', got {payload.get('action')!r}")
    environment = _str(payload, "environment")
    callback = _str(payload, "deployment_callback_url")
    repo = payload.get("repository")
    if not isinstance(repo, dict) or not isinstance(repo.get("full_name"), str):
        raise PayloadError("repository.full_name", "missing")
    repository: str = repo["full_name"]
    installation = payload.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    deployment = _obj(payload, "deployment")
    sender = _obj(payload, "sender")
    # The run id is only in the callback URL: …/actions/runs/{run_id}/deployment_protection_rule
    parts = callback.rstrip("/").split("/")
    run_id = parts[-2] if len(parts) > 2 and parts[-3] == "runs" else None
    gate = Gate(callback, environment, installation_id, repository, run_id)
    template = settings.target_for(repository, environment)
    if template is None:
        return Request(gate, None, f"no Clearance target is mapped to {repository}:{environment}")
    login = sender.get("login")
    who = str(login) if isinstance(login, str) and login else None
    sha = str(deployment.get("sha") or "")
    ref = str(deployment.get("ref") or "")
    try:
        images = tuple(i.format(sha=sha, ref=ref) for i in template.images)
        target = Target.of(
            environment=template.environment,
            cluster=template.cluster,
            namespace=template.namespace,
            workload=template.workload,
            images=images,
            change=ChangeInfo(
                commit=sha or None,
                pipeline_run=f"{repository}/actions/runs/{run_id}" if run_id else None,
                actor=who,
            ),
        )
    except (ValueError, KeyError, IndexError, ClearanceError) as exc:
        return Request(gate, None, f"the mapping for {repository}:{environment} is invalid: {exc}")
    return Request(gate, target, sender=who)


def review_body(gate: Gate, ans: Answer, decision_url: str | None) -> dict[str, str]:
    """The callback body: a decision (approved/rejected), or a status report for ``approve``."""
    d = ans.decision
    reasons = [r.message for r in d.reasons if r.waived_by is None and r.verdict is d.verdict]
    link = f"\n\n[Decision {d.id}]({decision_url})" if decision_url else f"\n\nDecision `{d.id}`"
    head = f"**Clearance: {ans.verdict.value}** ({ans.status}, risk {d.score:g})"
    if ans.verdict is Verdict.APPROVE:
        group = f" from `{d.approval_group}`" if d.approval_group else ""
        head += f": waiting for {d.approvals_required} approval(s){group}"
    head += ans.would_have
    comment = _fit(head + "\n\n" + "\n".join(f"- {r}" for r in reasons), link)
    state = dialect(ans.verdict).github_state
    body = {"environment_name": gate.environment, "comment": comment}
    if state is not None:
        body["state"] = state
    return body


def refusal_body(gate: Gate, why: str) -> dict[str, str]:
    return {
        "environment_name": gate.environment,
        "state": "rejected",
        "comment": _fit(f"**Clearance could not decide**: {why}", ""),
    }


def finish_body(gate: Gate, approved: bool, note: str) -> dict[str, str]:
    return {
        "environment_name": gate.environment,
        "state": "approved" if approved else "rejected",
        "comment": _fit(note, ""),
    }


def _fit(text: str, tail: str) -> str:
    room = COMMENT_LIMIT - len(tail)
    return (text if len(text) <= room else text[: room - 1] + "…") + tail


def _obj(payload: dict[str, Any], field: str) -> dict[str, Any]:
    value = payload.get(field)
    return value if isinstance(value, dict) else {}


def _str(payload: dict[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        raise PayloadError(field, "missing or not a string")
    return value
