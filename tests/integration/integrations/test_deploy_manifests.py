"""deploy/ manifests: valid against the Kubernetes schemas, and the webhook wired as documented."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from clearance.policy.rules import cel
from integration.integrations.integrations_harness import FIXTURES

ROOT = FIXTURES.parents[1]
CRDS = {"cert-manager.io/v1"}  # not in the core schemas; checked by cert-manager itself


def documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted((ROOT / "deploy").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize(
    ("name", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else ""
)
@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_manifests_validate_against_the_kubernetes_schemas(
    name: str, doc: dict[str, Any], version: str
) -> None:
    if doc["apiVersion"] in CRDS:
        pytest.skip(f"{name}: {doc['apiVersion']} is a CRD")
    kubernetes_validate.validate(doc, version, strict=True)


def webhook_configuration() -> dict[str, Any]:
    [doc] = [d for _, d in documents() if d["kind"] == "ValidatingWebhookConfiguration"]
    return doc


def test_failure_policy_per_environment_and_the_admission_contract() -> None:
    hooks = {h["name"]: h for h in webhook_configuration()["webhooks"]}
    assert hooks["production.clearance.dev"]["failurePolicy"] == "Fail"
    assert hooks["nonproduction.clearance.dev"]["failurePolicy"] == "Ignore"
    for hook in hooks.values():
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["sideEffects"] == "NoneOnDryRun"  # dry runs are decided, not recorded
        assert 1 <= hook["timeoutSeconds"] <= 10
        assert hook["clientConfig"]["service"]["path"] == "/v1/integrations/k8s/admission"
        excluded = {
            v
            for e in hook["namespaceSelector"]["matchExpressions"]
            if e["operator"] == "NotIn"
            for v in e["values"]
        }
        assert {"kube-system", "clearance"} <= excluded


def test_clearances_own_namespace_is_exempt() -> None:
    [ns] = [d for _, d in documents() if d["kind"] == "Namespace"]
    assert ns["metadata"]["labels"]["clearance.dev/exempt"] == "true"


def conditions() -> dict[str, Any]:
    hook = webhook_configuration()["webhooks"][0]
    return {c["name"]: cel.compile(c["expression"]) for c in hook["matchConditions"]}


def test_match_conditions_send_template_changes_and_skip_the_rest() -> None:
    review = json.loads(
        (FIXTURES / "admission/admissionreview.v1.deployment-create.kube-review.json").read_text()
    )
    request = review["request"]
    obj = request["object"]

    def matches(req: dict[str, Any], new: Any, old: Any) -> bool:
        variables = {"request": req, "object": new, "oldObject": old}
        return all(p.execute(cel.Context(variables=variables)) for p in conditions().values())

    assert matches(request, obj, None)  # CREATE
    update = dict(request, operation="UPDATE")
    scaled = json.loads(json.dumps(obj))
    scaled["spec"]["replicas"] = 5
    assert not matches(update, scaled, obj)  # scaling is not a deploy
    new_image = json.loads(json.dumps(obj))
    new_image["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    assert matches(update, new_image, obj)
    controller = dict(update, userInfo={"username": "system:serviceaccount:kube-system:gc"})
    assert not matches(controller, new_image, obj)
