"""Break-glass grants: reason and ticket required, second person distinct, expiry honoured."""

from __future__ import annotations

from datetime import timedelta

import pytest

from builders import NOW
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
    assert store.confirm_break_glass("bg-1", "carol", NOW).confirmed_by == "bob"


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
