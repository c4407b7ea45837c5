"""ServiceDecider over the real service: the admitted object's images reach the decision, recorded
or dry-run, and the read caches never hide this process's own writes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clearance.model.signal import Signal, SignalStatus
from clearance.model.target import Target
from clearance.server.integration_decider import ServiceDecider
from clearance.store.interface import ApprovalOutcome, Caller
from clearance.store.sql import SqlStore
from integration.integrations.integrations_harness import NOW, service_context, write_scenario

API_SERVER = Caller(subject="kube-apiserver:prod-eu", method="admission")
KEV = "edr:v1"  # touches image:ghcr.io/acme/web:2.0 only


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Any]:
    scenario = tmp_path / "scenario"
    scenario.mkdir()
    write_scenario(scenario)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'service.db'}")
    yield service_context(scenario, store)
    store.close()


def checkout() -> Target:
    return Target.of(
        environment="production",
        cluster="prod-eu",
        namespace="shop",
        workload="deployment/checkout",
    )


def manifest(image: str) -> dict[str, Any]:
    pod = {"containers": [{"name": "app", "image": image}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"template": {"spec": pod}},
    }


def contributors(answer: Any) -> set[str]:
    return {c["signal"] for c in answer.decision.to_dict()["contributors"]}


@pytest.mark.parametrize("record", [True, False])
def test_the_manifests_images_reach_the_decision(ctx: Any, record: bool) -> None:
    decider = ServiceDecider(ctx)
    plain = decider.decide(checkout(), API_SERVER, record=record)
    assert KEV not in contributors(plain)
    admitted = decider.decide(
        checkout(), API_SERVER, record=record, manifest=manifest("ghcr.io/acme/web:2.0")
    )
    assert KEV in contributors(admitted)
    assert admitted.decision.id != plain.decision.id  # the inputs differ, so does the digest


def test_a_signal_written_by_this_process_is_seen_at_once(ctx: Any) -> None:
    decider = ServiceDecider(ctx)
    web = manifest("ghcr.io/acme/web:2.0")
    assert KEV in contributors(decider.decide(checkout(), API_SERVER, manifest=web))
    store: SqlStore = ctx.store
    resolved: Signal = replace(store.get_signal(KEV), status=SignalStatus.RESOLVED)
    store.upsert_signals([resolved], NOW)
    # Same instant, same keys, within read_cache: the cache must not answer with the old signal.
    assert KEV not in contributors(decider.decide(checkout(), API_SERVER, manifest=web))


def test_an_approval_given_in_this_process_counts_at_once(ctx: Any) -> None:
    decider = ServiceDecider(ctx)
    target = Target.of(
        environment="staging", cluster="prod-eu", namespace="stage", workload="deployment/web"
    )
    first = decider.decide(target, API_SERVER)
    assert first.status == "pending_approval"
    approver = Caller("alice", "token", groups=("engineering",))
    ctx.approvals.answer(first.decision.id, approver, ApprovalOutcome.APPROVE, "ok", NOW)
    assert decider.decide(target, API_SERVER).status == "approved"
