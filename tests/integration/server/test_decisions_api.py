"""Decisions through the real service: each verdict, recorded before it is returned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clearance.audit.verify import verify
from server_harness import Live


def test_each_verdict_is_answered_and_recorded(live: Callable[..., Live]) -> None:
    server = live()
    assert (
        server.push(server.signal("1", 3, "medium"), server.signal("2", 5, "hot")).status_code
        == 200
    )

    clean = server.ask("clean")
    medium = server.ask("medium")
    hot = server.ask("hot")

    assert (clean["decision"]["verdict"], clean["status"], clean["exit_code"]) == (
        "proceed",
        "proceed",
        0,
    )
    assert (medium["decision"]["verdict"], medium["status"], medium["exit_code"]) == (
        "approve",
        "pending_approval",
        10,
    )
    assert medium["approval"]["required"] == 2
    assert medium["approval"]["group"] == "security"
    assert (hot["decision"]["verdict"], hot["status"], hot["exit_code"]) == ("block", "block", 20)
    assert any(
        r["code"] == "rule:critical-detection-near-target" for r in hot["decision"]["reasons"]
    )

    # Returned only after commit: each is in the log, chained, and the chain verifies.
    with server.client("ci") as c:
        for answer in (clean, medium, hot):
            stored = c.get(f"/v1/decisions/{answer['id']}").json()
            assert stored["decision"] == answer["decision"]
            assert stored["requested_by"] == "user:ci"
        listed = c.get("/v1/decisions", params={"verdict": "block"}).json()["decisions"]
    assert [d["id"] for d in listed] == [hot["id"]]
    assert verify(server.ctx.store).ok
    assert verify(server.ctx.store).counts["decision"] == 3  # beside the tokens and policy


def test_a_source_never_heard_from_is_down_not_silent(live: Callable[..., Live]) -> None:
    server = live()
    server.ctx.decisions.source_names = ("edr", "falcon")  # configured, never synced
    answer = server.ask("clean")
    assert answer["decision"]["verdict"] == "block"
    assert "source_down" in answer["decision"]["degraded"]


def test_listing_pages_with_a_cursor(live: Callable[..., Live]) -> None:
    server = live()
    ids = []
    for _ in range(3):
        server.clock.advance(seconds=1)
        ids.append(server.ask("clean")["id"])
    with server.client("ci") as c:
        first = c.get("/v1/decisions", params={"limit": 2}).json()
        second = c.get("/v1/decisions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [d["id"] for d in first["decisions"] + second["decisions"]] == ids[::-1]
    assert second["next_cursor"] is None


def test_unknown_decision_is_404_and_unknown_environment_422(live: Callable[..., Live]) -> None:
    server = live()
    with server.client("ci") as c:
        assert c.get("/v1/decisions/dec_nope").status_code == 404
        bad = c.post(
            "/v1/decisions",
            json={"environment": "moon", "cluster": "c", "namespace": "n", "workload": "d/x"},
        )
    assert bad.status_code == 422
    assert "moon" in bad.json()["detail"]


def test_bad_bodies_name_the_field(live: Callable[..., Live]) -> None:
    server = live()
    with server.client("ci") as c:
        missing = c.post("/v1/decisions", json={"environment": "production"})
        extra = c.post(
            "/v1/decisions",
            json={
                "environment": "production",
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": "deployment/clean",
                "colour": "red",
            },
        )
        image = c.post(
            "/v1/decisions",
            json={
                "environment": "production",
                "cluster": "prod-eu",
                "namespace": "shop",
                "workload": "deployment/clean",
                "images": ["UPPER CASE::"],
            },
        )
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} >= {"body.cluster", "body.workload"}
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["field"] == "body.colour"
    assert image.status_code == 422
    assert image.json()["errors"][0]["field"].startswith("body.images")


def test_listing_times_need_a_time_zone(live: Callable[..., Live]) -> None:
    server = live()
    with server.client("ci") as c:
        naive = c.get("/v1/decisions", params={"since": "2026-01-01T00:00:00"})
        aware = c.get("/v1/decisions", params={"since": "2026-01-01T00:00:00Z"})
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "query.since"
    assert aware.status_code == 200


def _deployment(image: str, **metadata: str) -> dict[str, Any]:
    container = {"name": "app", "image": image}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


def test_the_manifest_counts_in_the_decision(live: Callable[..., Live]) -> None:
    """The static inventory counts the manifest's images as the workload's own (direct)."""
    server = live()
    image = "ghcr.io/acme/clean@sha256:" + "a" * 64
    vulnerable = server.signal("img", 5, "clean", kind="vulnerability", assets=[f"image:{image}"])
    assert server.push(vulnerable).status_code == 200
    assert server.ask("clean")["decision"]["contributors"] == []
    with_manifest = server.ask("clean", manifest=_deployment(image, name="clean"))
    [contributor] = with_manifest["decision"]["contributors"]
    assert (contributor["signal"], contributor["proximity"]) == ("edr:img", "direct")


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (["not", "an", "object"], "valid dictionary"),
        ({"kind": "ConfigMap", "metadata": {"name": "clean"}}, "not a workload"),
        (_deployment("nginx:1", namespace="payments"), "metadata.namespace 'payments'"),
        (_deployment("nginx:1", name="other"), "metadata.name 'other'"),
        (_deployment("nginx:1") | {"padding": "x" * (1024 * 1024)}, "at most 1048576"),
    ],
)
def test_a_bad_manifest_is_a_422_naming_the_field(
    live: Callable[..., Live], manifest: Any, problem: str
) -> None:
    server = live()
    body = {"environment": "production", "cluster": "prod-eu", "namespace": "shop",
            "workload": "deployment/clean", "manifest": manifest}  # fmt: skip
    with server.client("ci") as c:
        answer = c.post("/v1/decisions", json=body)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "body.manifest"
    assert problem in error["problem"]
    assert server.ctx.store.list_decisions().records == ()
