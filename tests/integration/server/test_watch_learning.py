"""What the watcher after the deploy learns and says, on a real service with a clock the test
moves: an integration that lets a deploy through notes it (a hold does not); a pass over a clean
deployed target is silent; new evidence alerts once, and a later deploy is watched afresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clearance.integrations.settings import IntegrationSettings
from server_harness import Live, start_live


@pytest.fixture
def service(store_url: str, tmp_path: Path) -> Iterator[Live]:
    settings = IntegrationSettings.model_validate({"argo": {"cluster": "prod-eu"}})
    live, stop = start_live(store_url, tmp_path, integrations=settings, watch={"interval": None})
    yield live
    stop()


def measure(live: Live, workload: str) -> dict[str, object]:
    query = f"environment=production&namespace=shop&workload=deployment/{workload}"
    with live.client("ci") as c:
        body: dict[str, object] = c.get(f"/v1/integrations/argo/measurement?{query}").json()
    return body


def test_argo_notes_what_it_lets_through_and_the_watcher_alerts_once_on_new_evidence(
    service: Live,
) -> None:
    service.push(service.signal("c1", 5, "hot"))
    assert measure(service, "clean")["phase"] == "Successful"
    assert measure(service, "hot")["phase"] == "Failed"
    (noted,) = service.ctx.store.list_deployments()
    assert (noted.target["workload"], noted.via) == ("deployment/clean", "argo")
    assert service.ctx.watcher is not None
    assert service.ctx.watcher.tick() == []  # clean, as deployed

    service.push(service.signal("n1", 5, "clean"))
    (alert,) = service.ctx.watcher.tick()
    assert str(alert.decision.target.workload) == "deployment/clean"
    assert ("rule:critical-detection-near-target", "edr:n1", "block") in alert.new
    assert service.ctx.watcher.tick() == []  # the same evidence: said already
    metrics = httpx.get(f"{service.url}/metrics").text
    assert 'clearance_watch_alerts_total{environment="production"} 1.0' in metrics

    # A new deploy of the target (here, through the API) is watched afresh.
    decision = service.ask("clean")
    with service.client("ci") as c:
        assert c.post(f"/v1/decisions/{decision['id']}/deployed").status_code == 200
    assert service.ctx.watcher.tick() == []  # deployed with that evidence: not news


def test_deployed_names_an_unknown_decision_with_404(service: Live) -> None:
    with service.client("ci") as c:
        assert c.post("/v1/decisions/dec_000000000000000000000000/deployed").status_code == 404
