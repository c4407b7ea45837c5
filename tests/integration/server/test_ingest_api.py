"""The push receivers on a real service: Falco events and OCSF findings posted over HTTP are
stored as a sync would store them, change the next decision, and bad items are quarantined,
named in the answer and counted in /v1/sources and /metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from server_harness import Live

FIXTURES = Path(__file__).parent.parent.parent / "fixtures"
CONFIG = {
    "ingest": {
        "falco": {"default": {"cluster": "prod-eu"}, "edge": {"cluster": "edge-1"}},
        "ocsf": {"default": {"cluster": "prod-eu", "source": "findings"}},
    }
}


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def falco_event(live: Live, pod: str, priority: str = "Critical", **fields: str) -> dict[str, Any]:
    """The falco-website syscall event, moved onto ``pod`` in namespace shop, seen just now."""
    lines = (FIXTURES / "falco" / "events.syscall-k8s.falco-website.jsonl").read_text().splitlines()
    event: dict[str, Any] = json.loads(lines[0])
    event["priority"] = priority
    event["time"] = _stamp(live.clock.now)
    event["output_fields"] |= {"k8s.ns.name": "shop", "k8s.pod.name": pod, **fields}
    return event


def post(live: Live, path: str, body: bytes | str, who: str = "feeder") -> Any:
    with live.client(who) as client:
        return client.post(path, content=body, headers={"content-type": "application/json"})


def test_a_critical_falco_event_posted_by_falcosidekick_blocks_the_workload(
    live: Callable[..., Live],
) -> None:
    server = live(config=CONFIG)
    assert server.ask("hot")["decision"]["verdict"] == "proceed"
    response = post(server, "/v1/ingest/falco", json.dumps(falco_event(server, "hot-1")))
    assert response.status_code == 202, response.text
    assert response.json() | {"skipped": {}} == {
        "source": "falco",
        "signals": 1,
        "known_exploited": 0,
        "quarantined": 0,
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "skipped": {},
        "quarantined_items": [],
    }
    decision = server.ask("hot")["decision"]
    assert decision["verdict"] == "block"
    (contributor,) = decision["contributors"]
    assert (contributor["source"], contributor["matched"]) == ("falco", "pod:shop/hot-1")
    assert contributor["title"].startswith("A shell was spawned in a container")


def test_repeats_fold_and_a_bad_line_is_quarantined_beside_the_good_ones(
    live: Callable[..., Live],
) -> None:
    server = live(config=CONFIG)
    events = [falco_event(server, "medium-1", "Warning") for _ in range(3)]
    body = "\n".join(json.dumps(e) for e in events) + '\n{"rule": "cut off'
    response = post(server, "/v1/ingest/falco", body)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["signals"], answer["quarantined"]) == (1, 1)  # three repeats, one signal
    (bad,) = answer["quarantined_items"]
    assert bad["field"] == "POST falco/default: line 4"
    assert bad["problem"].startswith("invalid_json")
    with server.client("ci") as client:
        (state,) = [s for s in client.get("/v1/sources").json()["sources"] if s["name"] == "falco"]
        metrics = client.get("/metrics").text
    assert state["quarantined"] == {"invalid_json": 1}
    assert 'clearance_source_quarantined_items{reason="invalid_json",source="falco"} 1.0' in metrics
    assert 'clearance_ingested_signals_total{outcome="stored",source="falco"} 1.0' in metrics


def test_a_body_with_nothing_usable_is_a_422_and_still_counted(
    live: Callable[..., Live],
) -> None:
    server = live(config=CONFIG)
    response = post(server, "/v1/ingest/falco", "<html>502 Bad Gateway</html>")
    assert response.status_code == 422
    problem = response.json()
    assert "nothing in the body could be used" in problem["detail"]
    assert problem["errors"][0]["field"] == "POST falco/default: line 1"
    with server.client("ci") as client:
        sources = {s["name"]: s for s in client.get("/v1/sources").json()["sources"]}
    assert sources["falco"]["quarantined"] == {"invalid_json": 1}
    empty = post(server, "/v1/ingest/falco", "")
    assert empty.status_code == 422
    assert empty.json()["errors"] == [{"field": "body", "problem": "empty"}]


def test_an_endpoint_names_its_cluster_and_unknown_endpoints_are_404(
    live: Callable[..., Live],
) -> None:
    server = live(config=CONFIG)
    edge = post(server, "/v1/ingest/falco/edge", json.dumps(falco_event(server, "edge-pod")))
    assert edge.status_code == 202, edge.text
    (signal,) = server.ctx.store.signals_touching(["pod:shop/edge-pod"])
    assert {"cluster:edge-1", "namespace:edge-1/shop"} <= {str(a) for a in signal.assets}
    missing = post(server, "/v1/ingest/falco/nowhere", "{}")
    assert missing.status_code == 404
    assert "ingest.falco" in missing.json()["detail"]


def test_only_callers_with_the_ingest_scope_may_push(live: Callable[..., Live]) -> None:
    server = live(config=CONFIG)
    body = json.dumps(falco_event(server, "hot-1"))
    with server.client() as anonymous:
        assert anonymous.post("/v1/ingest/falco", content=body).status_code == 401
    assert post(server, "/v1/ingest/falco", body, who="ci").status_code == 403
    assert server.ask("hot")["decision"]["verdict"] == "proceed"  # nothing was stored


def test_ocsf_findings_are_stored_under_the_endpoints_source(live: Callable[..., Live]) -> None:
    server = live(config=CONFIG)
    finding = json.loads(
        (FIXTURES / "ocsf" / "detection_finding.k8s-container.synthetic.ocsf.json").read_text()
    )
    response = post(server, "/v1/ingest/ocsf", json.dumps([finding, {"class_uid": 2004}]))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["source"], answer["signals"], answer["quarantined"]) == ("findings", 1, 1)
