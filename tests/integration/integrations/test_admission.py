"""AdmissionReview v1 round trips over TLS (a generated CA) through the real endpoint."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from clearance.store.interface import DecisionFilter
from integration.integrations.integrations_harness import (
    FIXTURES,
    AppUnderTest,
    BrokenDecider,
    FailingDecider,
    Tls,
    build_app,
    serve,
)

URL = "/v1/integrations/k8s/admission"


def kube_review(namespace: str | None, name: str = "nginx", image: str = "nginx") -> dict[str, Any]:
    """The kube-review fixture; the API server sets request.namespace for namespaced objects."""
    review: dict[str, Any] = json.loads(
        (FIXTURES / "admission/admissionreview.v1.deployment-create.kube-review.json").read_text()
    )
    request = review["request"]
    request["dryRun"] = False
    if namespace is not None:
        request["namespace"] = namespace
    request["name"] = name
    request["object"]["metadata"]["name"] = name
    request["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return review


def post(base: str, tls: Tls, body: Any) -> httpx.Response:
    with httpx.Client(verify=tls.context()) as client:
        return client.post(base + URL, json=body)


@pytest.fixture
def base(test_app: AppUnderTest, tls: Tls) -> Any:
    with serve(test_app.app, tls.cert, tls.key, client_ca=tls.ca_pem) as url:
        yield url


def test_block_is_denied_with_the_reasons_and_the_uid_echoed(base: str, tls: Tls) -> None:
    review = kube_review("shop", "checkout", "ghcr.io/acme/checkout:1.0")
    reply = post(base, tls, review)
    assert reply.status_code == 200
    out = reply.json()
    assert out["apiVersion"] == "admission.k8s.io/v1"
    assert out["kind"] == "AdmissionReview"
    response = out["response"]
    assert response["uid"] == review["request"]["uid"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert "block" in response["status"]["message"]
    assert "critical detection" in response["status"]["message"].lower()
    assert response["auditAnnotations"]["verdict"] == "block"


def test_approve_is_denied_until_approved_and_says_how(base: str, tls: Tls) -> None:
    reply = post(base, tls, kube_review("stage", "web", "ghcr.io/acme/web:2.0")).json()
    response = reply["response"]
    assert response["allowed"] is False
    message = response["status"]["message"]
    assert "approval required" in message
    decision_id = response["auditAnnotations"]["decision-id"]
    assert f"https://clearance.test/decisions/{decision_id}" in message
    assert "apply again" in message


def test_proceed_is_allowed_without_warnings(base: str, tls: Tls) -> None:
    reply = post(base, tls, kube_review("shop", "ledger", "ghcr.io/acme/ledger:1.0")).json()
    assert reply["response"]["allowed"] is True
    assert "warnings" not in reply["response"]


def test_a_degraded_proceed_is_allowed_with_warnings_and_counted(
    base: str, tls: Tls, test_app: AppUnderTest
) -> None:
    reply = post(base, tls, kube_review("dev", "unknown-app")).json()
    response = reply["response"]
    assert response["allowed"] is True
    assert response["warnings"]
    assert all(len(w) <= 120 for w in response["warnings"])
    assert any("inventory" in w or "target" in w for w in response["warnings"])
    value = test_app.metrics.registry.get_sample_value(
        "clearance_integration_degraded_verdicts_total",
        {"integration": "admission", "environment": "development", "verdict": "proceed"},
    )
    assert value == 1.0


def test_the_decision_is_recorded_with_the_callers_identity(
    base: str, tls: Tls, test_app: AppUnderTest
) -> None:
    post(base, tls, kube_review("shop", "checkout", "ghcr.io/acme/checkout:1.0"))
    store = test_app.deps.decider.store  # type: ignore[attr-defined]
    records = store.list_decisions(DecisionFilter(environment="production")).records
    assert len(records) == 1
    # Named by its verified client certificate, not by anything in the body.
    assert records[0].caller == {"subject": "x509:kube-apiserver", "method": "mtls"}
    assert records[0].decision["target"]["change"]["actor"] == "kube-review"
    assert records[0].decision["target"]["workload"] == "deployment/checkout"
    assert records[0].decision["target"]["images"] == ["ghcr.io/acme/checkout:1.0"]


def test_a_dry_run_is_decided_but_not_recorded(base: str, tls: Tls, test_app: AppUnderTest) -> None:
    review = kube_review("shop", "checkout", "ghcr.io/acme/checkout:1.0")
    review["request"]["dryRun"] = True
    reply = post(base, tls, review).json()
    assert reply["response"]["allowed"] is False  # still the real answer
    decider = test_app.deps.decider
    assert decider.calls[-1][2] is False  # type: ignore[attr-defined]
    assert decider.store.list_decisions().records == ()  # type: ignore[attr-defined]


def test_the_verbatim_fixture_without_a_namespace_gets_a_clear_stance_answer(
    base: str, tls: Tls
) -> None:
    review = json.loads(
        (FIXTURES / "admission/admissionreview.v1.deployment-create.kube-review.json").read_text()
    )
    reply = post(base, tls, review)
    assert reply.status_code == 200
    response = reply.json()["response"]
    assert response["uid"] == "2024ee9c-c374-413c-838d-e62bcb4826be"
    assert response["allowed"] is False
    assert "cannot decide" in response["status"]["message"]
    assert "namespace" in response["status"]["message"]


def test_a_bare_kubewarden_request_in_the_v1_envelope(base: str, tls: Tls) -> None:
    request = json.loads(
        (FIXTURES / "admission/admissionrequest.deployment-create.kubewarden.json").read_text()
    )
    request["namespace"] = "dev"
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    response = post(base, tls, review).json()["response"]
    assert response["uid"] == "1299d386-525b-4032-98ae-1949f69f9cfc"
    assert response["allowed"] is True  # development: unknown target proceeds with a warning
    assert response["warnings"]


def test_every_field_of_the_api_round_trip_fixture_is_tolerated(base: str, tls: Tls) -> None:
    review = json.loads(
        (FIXTURES / "admission/admission.k8s.io.v1.AdmissionReview.json").read_text()
    )
    reply = post(base, tls, review)
    assert reply.status_code == 200
    response = reply.json()["response"]
    assert response["uid"] == review["request"]["uid"]
    assert response["allowed"] is False  # kind 'kindValue' is unknown: stance deny, said so
    assert "kindValue" in response["status"]["message"]


def test_unknown_kind_follows_the_allow_stance_when_configured(
    test_app: AppUnderTest, tls: Tls
) -> None:
    settings = test_app.deps.settings
    assert settings.admission is not None
    admission = settings.admission.model_copy(update={"unknown_kind": "allow"})
    test_app.deps.settings = settings.model_copy(update={"admission": admission})
    review = kube_review("shop")
    review["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    with serve(build_app(test_app.deps), tls.cert, tls.key, client_ca=tls.ca_pem) as url:
        response = post(url, tls, review).json()["response"]
    assert response["allowed"] is True
    assert "ConfigMap" in response["warnings"][0]


def test_an_unknown_review_version_is_answered_in_its_version_per_stance(
    base: str, tls: Tls
) -> None:
    review = copy.deepcopy(kube_review("shop", "checkout"))
    review["apiVersion"] = "admission.k8s.io/v2alpha9"
    reply = post(base, tls, review)
    assert reply.status_code == 200
    out = reply.json()
    assert out["apiVersion"] == "admission.k8s.io/v2alpha9"
    assert out["response"]["allowed"] is False
    assert "v2alpha9" in out["response"]["status"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"apiVersion": "admission.k8s.io/v1"}', "request"),
        (b'{"apiVersion": "admission.k8s.io/v1", "request": {"kind": {}}}', "request.uid"),
    ],
)
def test_malformed_bodies_are_400_naming_the_field(
    base: str, tls: Tls, body: bytes, field: str
) -> None:
    with httpx.Client(verify=tls.context()) as client:
        reply = client.post(base + URL, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == field


def test_when_clearance_cannot_decide_the_stance_answers_never_a_500(
    test_app: AppUnderTest, tls: Tls
) -> None:
    test_app.deps.decider = FailingDecider()
    with serve(build_app(test_app.deps), tls.cert, tls.key, client_ca=tls.ca_pem) as url:
        reply = post(url, tls, kube_review("shop", "checkout"))
    assert reply.status_code == 200
    response = reply.json()["response"]
    assert response["allowed"] is False
    assert "store is unavailable" in response["status"]["message"]


def test_an_unparseable_image_is_a_clear_denial_not_a_500(base: str, tls: Tls) -> None:
    reply = post(base, tls, kube_review("shop", "checkout", "NOT AN IMAGE::"))
    assert reply.status_code == 200
    response = reply.json()["response"]
    assert response["allowed"] is False
    assert "cannot be read as a target" in response["status"]["message"]


def test_without_a_token_or_an_allowed_certificate_admission_is_refused_unread(
    base: str, tls: Tls, test_app: AppUnderTest
) -> None:
    # Observation 8: authenticated by default. No certificate, no token: 401, nothing decided.
    with httpx.Client(verify=tls.context(present=False)) as client:
        reply = client.post(base + URL, json=kube_review("shop", "checkout"))
    assert reply.status_code == 401
    assert test_app.deps.decider.calls == []  # type: ignore[attr-defined]


def test_a_certificate_of_another_subject_is_refused(
    test_app: AppUnderTest, tls: Tls, tmp_path: Any
) -> None:
    stranger = tls.ca.issue_cert("intruder", common_name="intruder")
    path = tmp_path / "intruder.pem"
    stranger.private_key_and_cert_chain_pem.write_to_path(str(path))
    context = tls.context(present=False)
    context.load_cert_chain(str(path))
    app = build_app(test_app.deps)
    with (
        serve(app, tls.cert, tls.key, client_ca=tls.ca_pem) as url,
        httpx.Client(verify=context) as client,
    ):
        reply = client.post(url + URL, json=kube_review("shop", "checkout"))
    assert reply.status_code == 401
    assert test_app.deps.decider.calls == []  # type: ignore[attr-defined]


def test_the_insecure_mode_is_explicit_and_records_the_cluster(
    test_app: AppUnderTest, tls: Tls
) -> None:
    settings = test_app.deps.settings
    assert settings.admission is not None
    admission = settings.admission.model_copy(update={"require_auth": False})
    test_app.deps.settings = settings.model_copy(update={"admission": admission})
    app = build_app(test_app.deps)
    with (
        serve(app, tls.cert, tls.key, client_ca=tls.ca_pem) as url,
        httpx.Client(verify=tls.context(present=False)) as client,
    ):
        reply = client.post(url + URL, json=kube_review("shop", "checkout"))
    assert reply.status_code == 200
    caller = test_app.deps.decider.calls[-1][1]  # type: ignore[attr-defined]
    assert caller.subject == "kube-apiserver:prod-eu"


def test_any_failure_while_deciding_is_the_error_stance(test_app: AppUnderTest, tls: Tls) -> None:
    # Never a 500: the API server would apply failurePolicy (Ignore admits without a decision).
    test_app.deps.decider = BrokenDecider()
    with serve(build_app(test_app.deps), tls.cert, tls.key, client_ca=tls.ca_pem) as url:
        reply = post(url, tls, kube_review("shop", "checkout"))
    assert reply.status_code == 200
    assert reply.json()["response"]["allowed"] is False


def test_a_deeply_nested_review_is_400(base: str, tls: Tls) -> None:
    body = b'{"request": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with httpx.Client(verify=tls.context()) as client:
        reply = client.post(base + URL, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
