"""The shipped alerting rules (deploy/monitoring): the plain rules file and the PrometheusRule
hold the same groups, every expression parses as PromQL (promql-parser; promtool does not
install here), every alert is documented, and every metric an expression reads is one the real
service exposes on /metrics — the fail-open and audit-failure counters are driven to show it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from clearance.integrations.settings import IntegrationSettings
from clearance.store.interface import StoreUnavailableError
from kustomize_lite import render
from server_harness import Live, start_live

ROOT = Path(__file__).parents[2]
MONITORING = ROOT / "deploy/monitoring"
RULES = yaml.safe_load((MONITORING / "clearance.rules.yml").read_text())
ALERTS_DOC = (ROOT / "docs/alerts.md").read_text()
# Metrics another component exposes, with where: the rules read them too.
ELSEWHERE = {
    "apiserver_admission_webhook_fail_open_count": "kube-apiserver /metrics (ALPHA; labels "
    "name, type): a webhook call that failed under failurePolicy Ignore",
}
SERIES = {  # the series names a family of each type exposes
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def alerts() -> list[dict[str, Any]]:
    return [rule for group in RULES["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_the_prometheus_rule_carries_exactly_the_plain_rules() -> None:
    (rule,) = render(MONITORING)
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["metadata"]["namespace"] == "clearance"
    assert rule["spec"] == RULES


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_each_alert_parses_is_labelled_and_documented(alert: dict[str, Any]) -> None:
    assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}
    assert metric_names(alert["expr"]), "an alert that reads no metric"
    if "for" in alert:
        promql_parser.parse_duration(alert["for"])
    assert alert["labels"]["severity"] in ("critical", "warning")
    annotations = alert["annotations"]
    assert {"summary", "description", "runbook_url"} <= set(annotations)
    anchor = annotations["runbook_url"].split("#")[1]
    assert anchor == alert["alert"].lower()
    assert f"\n### {alert['alert']}\n" in ALERTS_DOC, "document it in docs/alerts.md"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Live]:
    settings = IntegrationSettings.model_validate(
        {"admission": {"cluster": "prod-eu", "namespaces": {"shop": "production"},
                       "unknown_kind": "allow", "on_error": "deny"}}
    )  # fmt: skip
    live, stop = start_live(
        f"sqlite:///{tmp_path / 'clearance.db'}", tmp_path, integrations=settings
    )
    yield live
    stop()


def families(live: Live) -> dict[str, str]:
    text = httpx.get(f"{live.url}/metrics").text
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def exposed(live: Live) -> set[str]:
    return {name + suffix for name, kind in families(live).items() for suffix in SERIES[kind]}


def test_every_metric_the_rules_read_is_on_the_services_metrics(service: Live) -> None:
    read = {name for alert in alerts() for name in metric_names(alert["expr"])}
    missing = read - exposed(service) - set(ELSEWHERE)
    assert not missing, f"rules read metrics the service does not expose: {sorted(missing)}"


def test_an_admission_let_in_undecided_is_counted_as_fail_open(service: Live) -> None:
    review = json.loads(
        (
            ROOT / "tests/fixtures/admission/admissionreview.v1.deployment-create.kube-review.json"
        ).read_text()
    )
    review["request"]["namespace"] = "shop"
    review["request"]["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    with service.client("ci") as c:
        reply = c.post("/v1/integrations/k8s/admission", json=review).json()
    assert reply["response"]["allowed"] is True
    text = httpx.get(f"{service.url}/metrics").text
    assert 'clearance_admission_undecided_total{cause="unknown_kind",stance="allow"} 1.0' in text
    expr = next(a["expr"] for a in alerts() if a["alert"] == "ClearanceAdmissionFailOpen")
    assert 'stance="allow"' in expr


def test_a_decision_the_log_refuses_is_an_error_and_counted(
    service: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise StoreUnavailableError("store: the database refused the append (test)")

    monkeypatch.setattr(service.ctx.store, "append_decision", refuse)
    with service.client("ci") as c:
        reply = c.post(
            "/v1/decisions",
            json={"environment": "production", "cluster": "prod-eu", "namespace": "shop",
                  "workload": "deployment/clean"},
        )  # fmt: skip
    assert reply.status_code == 503
    text = httpx.get(f"{service.url}/metrics").text
    assert re.search(r"^clearance_audit_append_failures_total 1\.0$", text, re.M)
