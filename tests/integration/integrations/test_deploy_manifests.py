"""deploy/: the kustomize base and overlays render, every object validates against the Kubernetes
schemas, and what they describe is what Clearance needs: its settings load with Clearance's own
loaders, credentials arrive by reference only, RBAC grants exactly the inventory's reads, and the
webhook is wired as documented. (tests/e2e/test_image_entrypoint.py starts the service from it.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from clearance.integrations.settings import load_settings as load_integrations
from clearance.inventory.kubernetes.cache import RESOURCES
from clearance.policy.load import load_policy
from clearance.policy.rules import cel
from clearance.server.settings import load_settings as load_server
from integration.integrations.integrations_harness import FIXTURES
from kustomize_lite import render

ROOT = FIXTURES.parents[1]
DEPLOY = ROOT / "deploy"
VARIANTS = {"base": DEPLOY / "base", "sqlite-single": DEPLOY / "overlays/sqlite-single"}
CRDS = {"cert-manager.io/v1"}  # not in the core schemas; checked below and by cert-manager

Doc = dict[str, Any]


def rendered(variant: str) -> list[Doc]:
    return render(VARIANTS[variant])


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    [doc] = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return doc


def container(docs: list[Doc]) -> Doc:
    [main] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(main, dict)
    return main


def objects() -> list[tuple[str, Doc]]:
    return [(variant, doc) for variant in VARIANTS for doc in rendered(variant)]


@pytest.mark.parametrize(
    ("variant", "doc"),
    objects(),
    ids=[f"{v}-{d['kind']}-{d['metadata']['name']}" for v, d in objects()],
)
@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_every_rendered_object_validates_against_the_kubernetes_schemas(
    variant: str, doc: Doc, version: str
) -> None:
    if doc["apiVersion"] in CRDS:
        pytest.skip(f"{doc['kind']}: {doc['apiVersion']} is a CRD (checked below)")
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_test_renderer_agrees_with_kubectl_kustomize(variant: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests are rendered by kustomize_lite only")
    out = subprocess.run(
        [kubectl, "kustomize", str(VARIANTS[variant])], check=True, capture_output=True, text=True
    ).stdout
    theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}
    ours = {(d["kind"], d["metadata"]["name"]): d for d in rendered(variant)}
    assert ours == theirs


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_certificate_is_issued_by_an_issuer_the_package_defines(variant: str) -> None:
    docs = rendered(variant)
    certificate = one(docs, "Certificate")
    issuer = one(docs, "Issuer", certificate["spec"]["issuerRef"]["name"])
    assert certificate["spec"]["issuerRef"]["kind"] == "Issuer"
    assert issuer["metadata"]["namespace"] == certificate["metadata"]["namespace"]
    service = one(docs, "Service")
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert f"{name}.{namespace}.svc" in certificate["spec"]["dnsNames"]
    hooks = one(docs, "ValidatingWebhookConfiguration")
    injected = hooks["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    assert injected == f"{namespace}/{certificate['metadata']['name']}"
    secret_volumes = {
        v["secret"]["secretName"]
        for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
        if "secret" in v
    }
    assert certificate["spec"]["secretName"] in secret_volumes


def test_rbac_grants_exactly_the_reads_the_kubernetes_inventory_makes() -> None:
    docs = rendered("base")
    role = one(docs, "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    needed = set()
    for resource in RESOURCES:  # the inventory only lists and watches, never gets or writes
        group = "" if resource.prefix == "/api/v1" else resource.prefix.split("/")[2]
        needed |= {(group, resource.plural, "list"), (group, resource.plural, "watch")}
    assert granted == needed
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    [subject] = binding["subjects"]
    deployment = one(docs, "Deployment")
    assert subject["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert subject["namespace"] == deployment["metadata"]["namespace"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_credentials_are_referenced_never_inlined(variant: str) -> None:
    docs = rendered(variant)
    assert not [d for d in docs if d["kind"] == "Secret"]  # the package creates none
    main = container(docs)
    by_name = {e["name"]: e for e in main["env"]}
    assert "secretKeyRef" in by_name["FALCON_CLIENT_ID"]["valueFrom"]
    database = by_name["CLEARANCE_DATABASE_URL"]
    if variant == "base":
        assert database["valueFrom"]["secretKeyRef"] == {"name": "clearance-database", "key": "url"}
    else:  # SQLite on the volume: no password to hide
        assert database["value"].startswith("sqlite:////var/lib/clearance/")
    config = one(docs, "ConfigMap")
    text = json.dumps(config["data"])
    for key in ("client_secret:", "password:", "api_token:", "secret_access_key:"):
        assert key not in text, f"{key} written inline in the ConfigMap"
    clearance_yaml = yaml.safe_load(config["data"]["clearance.yaml"])
    [falcon] = clearance_yaml["sources"]
    secret_file = Path(falcon["client_secret_file"])
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert secret_file.parent == Path(mounts["falcon"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_pod_runs_locked_down(variant: str) -> None:
    docs = rendered(variant)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(docs)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    namespace = one(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    main = container(docs)
    assert main["resources"]["requests"]
    assert main["resources"]["limits"]["memory"]
    paths = {main[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")}
    assert paths == {"/readyz", "/healthz"}


def test_the_probes_name_routes_the_service_serves() -> None:
    from clearance.server.routes import health

    routes = {getattr(r, "path", None) for r in health.router.routes}
    assert {"/healthz", "/readyz"} <= routes


def test_the_single_replica_overlay_recreates_and_lets_drains_through() -> None:
    docs = rendered("sqlite-single")
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one writer per SQLite file
    assert one(docs, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "clearance"}},
    }
    claim = one(docs, "PersistentVolumeClaim")["metadata"]["name"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": claim}} in volumes


def deployment_env(docs: list[Doc]) -> dict[str, str]:
    """The environment the pod gets; Secret values stand in as placeholders."""
    return {
        e["name"]: e.get("value", f"<{e['name']} from a Secret>") for e in container(docs)["env"]
    }


def write_config_map(docs: list[Doc], directory: Path) -> Path:
    for key, text in one(docs, "ConfigMap")["data"].items():
        (directory / key).write_text(text)
    return directory


def test_the_config_map_is_what_the_container_args_name(tmp_path: Path) -> None:
    docs = rendered("base")
    main = container(docs)
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    config_files = set(one(docs, "ConfigMap")["data"])
    named = {
        Path(a.split("=", 1)[1]).name
        for a in main["args"]
        if a.startswith(("--config=", "--settings=", "--integrations="))
    }
    assert named == config_files - {"policy.yaml"}
    assert all(
        a.split("=", 1)[1].startswith(mounts["config"] + "/")
        for a in main["args"]
        if a.startswith(("--config=", "--settings=", "--integrations="))
    )
    clearance_yaml = yaml.safe_load(one(docs, "ConfigMap")["data"]["clearance.yaml"])
    assert clearance_yaml["policy"] in config_files


def test_server_and_integration_settings_load_with_clearances_loaders(tmp_path: Path) -> None:
    docs = rendered("base")
    write_config_map(docs, tmp_path)
    env = deployment_env(docs)
    settings = load_server(tmp_path / "server.yaml", env=env)
    assert settings.oidc
    integrations = load_integrations(tmp_path / "integrations.yaml", env=env)
    assert integrations.admission is not None
    assert integrations.admission.cluster == env["CLEARANCE_CLUSTER"]


def test_the_packaged_policy_loads_and_is_the_example_policy(tmp_path: Path) -> None:
    docs = rendered("base")
    write_config_map(docs, tmp_path)
    policy = load_policy(tmp_path / "policy.yaml")
    assert set(policy.document.environments) >= {"production", "staging", "development"}
    packaged = (DEPLOY / "base/config/policy.yaml").read_text()
    assert packaged == (ROOT / "examples/policy.yaml").read_text(), (
        "deploy/base/config/policy.yaml is a copy of examples/policy.yaml (kustomize cannot "
        "read files outside the kustomization); copy it again"
    )


# --- the admission webhook ------------------------------------------------------------------


def webhook_configuration() -> Doc:
    return one(rendered("base"), "ValidatingWebhookConfiguration")


def test_failure_policy_per_environment_and_the_admission_contract() -> None:
    hooks = {h["name"]: h for h in webhook_configuration()["webhooks"]}
    assert hooks["production.clearance.dev"]["failurePolicy"] == "Fail"
    assert hooks["nonproduction.clearance.dev"]["failurePolicy"] == "Ignore"
    service = one(rendered("base"), "Service")
    for hook in hooks.values():
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["sideEffects"] == "NoneOnDryRun"  # dry runs are decided, not recorded
        assert 1 <= hook["timeoutSeconds"] <= 10
        target = hook["clientConfig"]["service"]
        assert target["path"] == "/v1/integrations/k8s/admission"
        assert (target["name"], target["namespace"]) == (
            service["metadata"]["name"],
            service["metadata"]["namespace"],
        )
        assert target["port"] in {p["port"] for p in service["spec"]["ports"]}
        excluded = {
            v
            for e in hook["namespaceSelector"]["matchExpressions"]
            if e["operator"] == "NotIn"
            for v in e["values"]
        }
        assert {"kube-system", "clearance"} <= excluded


def test_clearances_own_namespace_is_exempt() -> None:
    ns = one(rendered("base"), "Namespace")
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
