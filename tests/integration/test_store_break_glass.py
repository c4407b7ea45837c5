"""Break-glass grants: reason and ticket required, second person distinct and confirmed once,
expiry honoured, the artifact kept."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from builders import NOW
from clearance.model.artifact import Artifact
from clearance.store.interface import BreakGlass, ConflictError, NotFoundError, StoreError
from clearance.store.sql import SqlStore

KEY = "prod-eu/shop/deployment/api"


def _grant(id_: str = "bg-1", hours: int = 2, **overrides: object) -> BreakGlass:
    values: dict[str, object] = {
        "id": id_,
        "environment": "production",
        "target_key": KEY,
        "reason": "payment outage; rollback blocked by a stale feed",
        "ticket": "INC-4711",
        "requested_by": "alice",
        "at": NOW,
        "expires_at": NOW + timedelta(hours=hours),
        "decision_id": "dec_abc",
    }
    values.update(overrides)
    return BreakGlass(**values)  # type: ignore[arg-type]


def test_a_grant_counts_until_it_expires_or_is_revoked(store: SqlStore) -> None:
    store.add_break_glass(_grant("bg-1", hours=2))
    store.add_break_glass(_grant("bg-2", hours=1, target_key="prod-eu/shop/deployment/web"))
    assert [g.id for g in store.list_break_glass(NOW, target_key=KEY)] == ["bg-1"]
    (grant,) = store.list_break_glass(NOW, target_key=KEY)
    assert grant == _grant("bg-1", hours=2)
    assert grant.active(NOW, needs_confirmation=False)
    assert not grant.active(NOW, needs_confirmation=True)
    assert [g.id for g in store.list_break_glass(NOW + timedelta(minutes=90))] == ["bg-1"]
    revoked = store.revoke_break_glass("bg-1", NOW + timedelta(minutes=5))
    assert revoked.revoked_at == NOW + timedelta(minutes=5)
    assert store.list_break_glass(NOW + timedelta(minutes=6), target_key=KEY) == ()
    everything = store.list_break_glass(NOW + timedelta(hours=3), include_expired=True)
    assert [g.id for g in everything] == ["bg-1", "bg-2"]


def test_the_second_person_is_never_the_requester(store: SqlStore) -> None:
    store.add_break_glass(_grant())
    with pytest.raises(ConflictError, match="a second person must confirm"):
        store.confirm_break_glass("bg-1", "alice", NOW)
    confirmed = store.confirm_break_glass("bg-1", "bob", NOW + timedelta(minutes=1))
    assert (confirmed.confirmed_by, confirmed.confirmed_at) == ("bob", NOW + timedelta(minutes=1))
    assert confirmed.active(NOW + timedelta(minutes=2), needs_confirmation=True)
    with pytest.raises(ConflictError, match="confirmed already by bob"):
        store.confirm_break_glass("bg-1", "carol", NOW + timedelta(minutes=3))
    assert store.list_break_glass(NOW)[0].confirmed_by == "bob"  # the first stays on record


def test_the_requester_under_another_name_is_still_the_requester(store: SqlStore) -> None:
    store.add_break_glass(_grant(requested_by="user:alice"))
    for alias in ("token:alice", "Alice", "user:ALICE"):
        with pytest.raises(ConflictError, match="a second person must confirm"):
            store.confirm_break_glass("bg-1", alias, NOW)


def test_an_expired_or_revoked_grant_cannot_be_confirmed(store: SqlStore) -> None:
    store.add_break_glass(_grant("bg-1", hours=1))
    store.add_break_glass(_grant("bg-2", hours=1))
    with pytest.raises(ConflictError, match="expired"):
        store.confirm_break_glass("bg-1", "bob", NOW + timedelta(hours=2))
    store.revoke_break_glass("bg-2", NOW)
    with pytest.raises(ConflictError, match="revoked"):
        store.confirm_break_glass("bg-2", "bob", NOW + timedelta(minutes=1))


def test_of_concurrent_confirmers_exactly_one_wins(store_url: str) -> None:
    """Each confirmer on its own connection pool, as replicas would be."""
    first = SqlStore.open(store_url)
    first.add_break_glass(_grant())
    first.close()
    people = [f"approver-{i}" for i in range(12)]
    stores = [SqlStore.open(store_url, migrate=False) for _ in people]
    start = threading.Barrier(len(people))

    def confirm(pair: tuple[SqlStore, str]) -> str:
        own, who = pair
        start.wait()
        try:
            return own.confirm_break_glass("bg-1", who, NOW).confirmed_by or ""
        except ConflictError:
            return "refused"

    try:
        with ThreadPoolExecutor(len(people)) as pool:
            outcomes = list(pool.map(confirm, zip(stores, people, strict=True)))
    finally:
        for own in stores:
            own.close()
    winners = [o for o in outcomes if o != "refused"]
    assert len(winners) == 1
    assert outcomes.count("refused") == len(people) - 1
    check = SqlStore.open(store_url, migrate=False)
    assert check.list_break_glass(NOW)[0].confirmed_by == winners[0]
    check.close()


def test_a_grant_keeps_the_artifact_it_covers(store: SqlStore) -> None:
    artifact = Artifact(("sha256:" + "a" * 64,), "9f1c")
    store.add_break_glass(_grant(artifact=artifact))
    (grant,) = store.list_break_glass(NOW)
    assert grant.artifact == artifact


def test_notification_time_is_kept_once(store: SqlStore) -> None:
    store.add_break_glass(_grant())
    first = store.mark_break_glass_notified("bg-1", NOW + timedelta(seconds=3))
    again = store.mark_break_glass_notified("bg-1", NOW + timedelta(seconds=9))
    assert first.notified_at == again.notified_at == NOW + timedelta(seconds=3)


def test_reason_ticket_and_ids_are_checked(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="needs a reason and a ticket"):
        store.add_break_glass(_grant(ticket=" "))
    with pytest.raises(StoreError, match="expire before it starts"):
        store.add_break_glass(_grant(hours=0))
    store.add_break_glass(_grant())
    with pytest.raises(ConflictError, match="bg-1"):
        store.add_break_glass(_grant())
    with pytest.raises(NotFoundError, match="bg-9"):
        store.confirm_break_glass("bg-9", "bob", NOW)
