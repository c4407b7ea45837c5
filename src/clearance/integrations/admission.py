"""Kubernetes ValidatingAdmissionWebhook: AdmissionReview v1 in, AdmissionReview out.

Wire format: https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
(fixtures: tests/fixtures/admission/, tests/fixtures/k8s-api-schema/). The reply is always an
HTTP 200 AdmissionReview of the request's own ``apiVersion`` with ``response.uid`` echoed: any
other answer is a webhook *error*, which the API server resolves by ``failurePolicy`` without our
reasons, so even "cannot decide" is answered here, explicitly, per the configured stance.

Verdicts: proceed → allowed (with ``warnings`` when a failure stance fired); block → denied, 403,
the reasons in ``status.message``; approve → denied with how to approve (or allowed with a warning
where the environment chose ``warn``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clearance.errors import ClearanceError, PayloadError
from clearance.integrations.interface import Answer
from clearance.integrations.settings import AdmissionSettings
from clearance.model.decision import Verdict
from clearance.model.target import ChangeInfo, Target

SUPPORTED_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
WARNING_LIMIT = 120  # the docs advise at most 120 characters per warning
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


@dataclass(frozen=True, slots=True)
class Review:
    """The parts of an AdmissionRequest Clearance reads."""

    api_version: str
    uid: str
    kind: str
    namespace: str
    name: str
    operation: str
    username: str
    dry_run: bool
    obj: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A request Clearance cannot turn into a target (unknown kind/version, no object)."""

    why: str


def parse_review(body: Any) -> Review:
    """Parse the envelope; raise :class:`PayloadError` naming the field when it is not one."""
    if not isinstance(body, dict):
        raise PayloadError("body", "expected an AdmissionReview JSON object")
    api_version = body.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        raise PayloadError("apiVersion", "missing")
    request = body.get("request")
    if not isinstance(request, dict):
        raise PayloadError("request", "missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise PayloadError("request.uid", "missing (the response must echo it)")
    kind = request.get("kind") or {}
    obj = request.get("object")
    user = request.get("userInfo") or {}
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    return Review(
        api_version=api_version,
        uid=uid,
        kind=str(kind.get("kind", "")) if isinstance(kind, dict) else "",
        namespace=str(request.get("namespace") or meta.get("namespace") or ""),
        name=str(request.get("name") or meta.get("name") or meta.get("generateName") or ""),
        operation=str(request.get("operation") or ""),
        username=str(user.get("username") or "") if isinstance(user, dict) else "",
        dry_run=bool(request.get("dryRun")),
        obj=obj if isinstance(obj, dict) else None,
    )


def target_of(review: Review, settings: AdmissionSettings) -> Target | Unreadable:
    if review.api_version not in SUPPORTED_VERSIONS:
        return Unreadable(f"AdmissionReview version {review.api_version!r} is not supported")
    path = _POD_SPEC_PATHS.get(review.kind)
    if path is None:
        return Unreadable(f"kind {review.kind or '(none)'!r} has no pod template Clearance reads")
    if review.obj is None:
        return Unreadable(f"{review.operation or 'request'} carries no object")
    if not review.namespace or not review.name:
        return Unreadable("the object has no namespace or name")
    environment = settings.environment_for(review.namespace)
    if environment is None:
        return Unreadable(f"namespace {review.namespace!r} is not mapped to an environment")
    try:
        return Target.of(
            environment=environment,
            cluster=settings.cluster,
            namespace=review.namespace,
            workload=f"{review.kind.lower()}/{review.name}",
            images=images_of(review.obj, path),
            change=ChangeInfo(actor=review.username or None),
        )
    except (ValueError, ClearanceError) as exc:  # a malformed image or name in the object
        return Unreadable(f"the object cannot be read as a target: {exc}")


def images_of(obj: Mapping[str, Any], path: tuple[str, ...]) -> tuple[str, ...]:
    spec: Any = obj
    for key in path:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return ()
    images: list[str] = []
    for group in ("initContainers", "containers"):
        containers = spec.get(group)
        for container in containers if isinstance(containers, list) else ():
            image = container.get("image") if isinstance(container, dict) else None
            if isinstance(image, str) and image and image not in images:
                images.append(image)
    return tuple(images)


def respond(
    review: Review,
    allowed: bool,
    message: str | None = None,
    warnings: tuple[str, ...] = (),
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": review.uid, "allowed": allowed}
    if message is not None:
        response["status"] = {"code": 200 if allowed else 403, "message": message}
    if warnings:
        response["warnings"] = [_short(w) for w in warnings]
    if annotations:
        response["auditAnnotations"] = dict(annotations)
    return {"apiVersion": review.api_version, "kind": "AdmissionReview", "response": response}


def answer(
    review: Review, ans: Answer, settings: AdmissionSettings, decision_url: str | None
) -> dict[str, Any]:
    d = ans.decision
    verdict = ans.verdict
    annotations = {"decision-id": d.id, "verdict": d.verdict.value, "status": ans.status}
    counted = [r for r in d.reasons if r.waived_by is None and r.verdict is not Verdict.PROCEED]
    warnings = tuple(
        f"Clearance: {r.message}"
        for r in d.reasons
        if r.waived_by is None and r.code.startswith("stance:")
    )
    where = f"{d.target.cluster}/{d.target.namespace}/{d.target.workload} ({d.target.environment})"
    if ans.would_have:  # shadow mode: allowed, and the warning says what enforcing would do
        reasons = "; ".join(r.message for r in counted) or "see the decision"
        said = f"Clearance{ans.would_have.rstrip(']')} {where}: {reasons} (decision {d.id})]"
        return respond(review, True, None, (said, *warnings), annotations)
    if verdict is Verdict.PROCEED:
        return respond(review, True, None, warnings, annotations)
    reasons = "; ".join(r.message for r in counted) or "see the decision"
    if verdict is Verdict.BLOCK:
        if ans.status == "rejected":
            reasons = "an approver rejected it"
        text = f"Clearance: block {where}, risk {d.score:g}: {reasons} (decision {d.id})"
        return respond(review, False, text, warnings, annotations)
    how = (
        f"approve it at {decision_url}"
        if decision_url
        else f"approve it with `clearance approve {d.id}`"
    )
    needed = f"{d.approvals_required} approval(s)" + (
        f" from {d.approval_group}" if d.approval_group else ""
    )
    if settings.approve.get(d.target.environment, "deny") == "warn":
        return respond(
            review,
            True,
            None,
            (f"Clearance: approval required (allowed: {d.target.environment} warns)", *warnings),
            annotations,
        )
    text = (
        f"Clearance: approval required for {where}, risk {d.score:g}: {reasons}. "
        f"Needs {needed}: {how}, then apply again (decision {d.id})"
    )
    return respond(review, False, text, warnings, annotations)


def stance_answer(review: Review, allow: bool, why: str) -> dict[str, Any]:
    """Answer a request Clearance could not decide, by the configured stance, saying so."""
    if allow:
        return respond(review, True, None, (f"Clearance did not decide: {why} (stance: allow)",))
    return respond(review, False, f"Clearance cannot decide: {why} (stance: deny)")


def _short(text: str) -> str:
    return text if len(text) <= WARNING_LIMIT else text[: WARNING_LIMIT - 1] + "…"
