"""Approvals bound to a decision and its evidence; exceptions with expiry and revocation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

from builders import NOW
from clearance.model import Exemption
from clearance.model.artifact import Artifact
from clearance.store.interface import Approval, ApprovalOutcome, ConflictError, NotFoundError
from clearance.store.sql import SqlStore
from store_samples import append, sample


def _approval(decision_id: str, approver: str, minute: int = 0) -> Approval:
    return Approval(
        id=f"apr-{approver}",
        decision_id=decision_id,
        approver=approver,
        outcome=ApprovalOutcome.APPROVE,
        reason="risk accepted for the hotfix",
        at=NOW + timedelta(minutes=minute),
        expires_at=NOW + timedelta(hours=4),
        score=42.38,
        signals=("edr:1",),
        groups=("security",),
    )


def test_approvals_are_kept_in_order_with_their_evidence(store: SqlStore) -> None:
    decision_id = append(store, sample(0)).decision_id
    second, first = _approval(decision_id, "bob", 5), _approval(decision_id, "carol", 1)
    store.add_approval(second)
    store.add_approval(first)
    assert store.list_approvals(decision_id) == (first, second)
    assert store.list_approvals("dec_unknown") == ()


def test_one_answer_per_person_per_decision(store: SqlStore) -> None:
    decision_id = append(store, sample(0)).decision_id
    store.add_approval(_approval(decision_id, "bob"))
    change_of_mind = replace(
        _approval(decision_id, "bob"), id="apr-2", outcome=ApprovalOutcome.REJECT
    )
    with pytest.raises(ConflictError, match="bob already answered"):
        store.add_approval(change_of_mind)
    assert [a.outcome for a in store.list_approvals(decision_id)] == [ApprovalOutcome.APPROVE]


def test_one_answer_per_principal_under_any_of_its_names(store: SqlStore) -> None:
    """``token:alice`` (an API token before principals), ``Alice`` (a raw OIDC claim) and
    ``user:alice`` are one principal: the second answer is refused whichever name it uses."""
    decision_id = append(store, sample(0)).decision_id
    store.add_approval(_approval(decision_id, "token:alice"))
    for other in ("Alice", "user:alice", " ALICE "):
        with pytest.raises(ConflictError, match="user:alice already answered"):
            store.add_approval(replace(_approval(decision_id, other), id=f"apr-{other.strip()}"))
    assert [a.approver for a in store.list_approvals(decision_id)] == ["token:alice"]


def test_concurrent_answers_by_one_principal_store_one(store_url: str) -> None:
    """The unique constraint on the principal holds when the read-check races, across pools."""
    first = SqlStore.open(store_url)
    decision_id = append(first, sample(0)).decision_id
    first.close()
    names = ["alice", "Alice", "ALICE", "token:alice", "user:alice", "alice "] * 2
    stores = [SqlStore.open(store_url, migrate=False) for _ in names]
    start = threading.Barrier(len(names))

    def answer(i: int) -> bool:
        start.wait()
        try:
            stores[i].add_approval(replace(_approval(decision_id, names[i]), id=f"apr-{i}"))
        except ConflictError:
            return False
        return True

    try:
        with ThreadPoolExecutor(len(names)) as pool:
            stored = list(pool.map(answer, range(len(names))))
    finally:
        for own in stores:
            own.close()
    assert stored.count(True) == 1
    check = SqlStore.open(store_url, migrate=False)
    assert len(check.list_approvals(decision_id)) == 1
    check.close()


def test_an_approval_keeps_the_artifact_it_covers(store: SqlStore) -> None:
    decision_id = append(store, sample(0)).decision_id
    artifact = Artifact(("ghcr.io/acme/checkout:1.8.0", "sha256:" + "b" * 64), "9f1c")
    approval = replace(_approval(decision_id, "user:bob"), artifact=artifact)
    store.add_approval(approval)
    assert store.list_approvals(decision_id) == (approval,)


def test_approving_an_unknown_decision_is_refused(store: SqlStore) -> None:
    with pytest.raises(NotFoundError, match="dec_nope"):
        store.add_approval(_approval("dec_nope", "bob"))


def _exemption(id_: str, hours: int = 24) -> Exemption:
    return Exemption(
        id=id_,
        signal="edr:1",
        rule=None,
        environment="production",
        cluster="prod-eu",
        namespace="shop",
        workload="deployment/api",
        expires=NOW + timedelta(hours=hours),
        reason="false positive: backup agent",
        ticket="SEC-1234",
        approver="carol",
        created_by="bob",
    )


def test_exceptions_listed_while_active_then_not(store: SqlStore) -> None:
    long_lived, short = _exemption("exc-long", 48), _exemption("exc-short", 1)
    record = store.add_exemption(long_lived, NOW)
    store.add_exemption(short, NOW)
    assert record.exemption == long_lived
    assert record.created_at == NOW
    active = store.list_exemptions(NOW)
    assert [r.exemption.id for r in active] == ["exc-long", "exc-short"]
    assert active[0].exemption == long_lived
    later = NOW + timedelta(hours=2)
    assert [r.exemption.id for r in store.list_exemptions(later)] == ["exc-long"]
    everything = store.list_exemptions(later, include_inactive=True)
    assert [r.exemption.id for r in everything] == ["exc-long", "exc-short"]


def test_revoked_exception_stops_counting_and_keeps_who_revoked(store: SqlStore) -> None:
    store.add_exemption(_exemption("exc-1"), NOW)
    revoked = store.revoke_exemption("exc-1", "dave", NOW + timedelta(minutes=3))
    assert (revoked.revoked_by, revoked.revoked_at) == ("dave", NOW + timedelta(minutes=3))
    assert not revoked.active(NOW + timedelta(minutes=4))
    assert store.list_exemptions(NOW + timedelta(minutes=4)) == ()
    again = store.revoke_exemption("exc-1", "erin", NOW + timedelta(minutes=9))
    assert again.revoked_by == "dave"  # the first revocation stays on record


def test_exception_ids_are_unique_and_unknown_ids_named(store: SqlStore) -> None:
    store.add_exemption(_exemption("exc-1"), NOW)
    with pytest.raises(ConflictError, match="exc-1"):
        store.add_exemption(_exemption("exc-1"), NOW)
    with pytest.raises(NotFoundError, match="exc-9"):
        store.revoke_exemption("exc-9", "dave", NOW)
