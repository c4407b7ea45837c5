"""Break-glass confirmation is taken once (issue #11, observation 13): of 20 approvers confirming
at the same moment exactly one is told they confirmed; the others get 409. On SQLite and
PostgreSQL, through the real HTTP API."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from clearance.store.interface import Scope
from server_harness import GROUPS, Live

CONFIRMERS = 20


def test_of_twenty_concurrent_confirmations_exactly_one_wins(live: Callable[..., Live]) -> None:
    names = [f"approver-{i:02d}" for i in range(CONFIRMERS)]
    server = live(
        break_glass={"second_person": True},
        token_groups={**GROUPS, **{name: ["security"] for name in names}},
    )
    secrets = {
        name: server.ctx.store.create_token(name, (Scope.APPROVE,), server.clock.now)[1]
        for name in names
    }
    server.push(server.signal("2", 5, "hot"))
    blocked = server.ask("hot")
    with server.client("alice") as c:
        grant = c.post(
            f"/v1/decisions/{blocked['id']}/break-glass", json={"reason": "fix", "ticket": "INC-3"}
        ).json()["break_glass"]
    start = threading.Barrier(CONFIRMERS)

    def confirm(name: str) -> httpx.Response:
        with server.client(token=secrets[name]) as c:
            start.wait()
            return c.post(f"/v1/break-glass/{grant['id']}/confirm")

    with ThreadPoolExecutor(CONFIRMERS) as pool:
        answers = dict(zip(names, pool.map(confirm, names), strict=True))
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [200] + [409] * (CONFIRMERS - 1), [r.text for r in answers.values()]
    [winner] = [name for name, r in answers.items() if r.status_code == 200]
    assert answers[winner].json()["break_glass"]["confirmed_by"] == f"user:{winner}"
    losers = [r.json()["detail"] for r in answers.values() if r.status_code == 409]
    assert all(f"confirmed already by user:{winner}" in d for d in losers)
    [stored] = server.ctx.store.list_break_glass(server.clock.now)
    assert stored.confirmed_by == f"user:{winner}"  # the winner's answer is the record
    assert server.ask("hot")["status"] == "break_glass"


def test_a_confirmation_is_refused_to_requesters_outsiders_and_late_comers(
    live: Callable[..., Live],
) -> None:
    server = live(break_glass={"second_person": True})
    server.push(server.signal("2", 5, "hot"))
    blocked = server.ask("hot", who="dana")
    with server.client("alice") as c:
        grant = c.post(
            f"/v1/decisions/{blocked['id']}/break-glass", json={"reason": "fix", "ticket": "INC-4"}
        ).json()["break_glass"]
    url = f"/v1/break-glass/{grant['id']}/confirm"
    for who, status, says in (
        ("alice", 403, "requested break-glass"),  # its requester
        ("dana", 403, "requested decision"),  # the requester of the decision it overrides
        ("carol", 403, "security"),  # outside the approval group
    ):
        with server.client(who) as c:
            refused = c.post(url)
        assert (refused.status_code, says in refused.json()["detail"]) == (status, True), who
    server.clock.advance(hours=2)  # past the grant's hour
    with server.client("bob") as c:
        late = c.post(url)
    assert late.status_code == 409
    assert "expired" in late.json()["detail"]
