"""The read cache: another replica's writes are seen within ``read_cache``, our own at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from clearance.model.exemptions import Exemption
from clearance.service.approvals import ApprovalBook
from clearance.store.interface import ApprovalOutcome, Caller, TargetApproval
from clearance.store.sql import SqlStore
from server_harness import Live


def _exemption(server: Live, id_: str) -> Exemption:
    return Exemption(
        id=id_, signal="edr:2", rule=None, environment="production", cluster="prod-eu",
        namespace="shop", workload="deployment/hot", expires=server.clock.now + timedelta(days=1),
        reason="r", ticket="T-1", approver="someone",
    )  # fmt: skip


def test_another_replicas_exception_applies_once_the_cache_ages(live: Callable[..., Live]) -> None:
    server = live(read_cache=60)
    server.push(server.signal("2", 5, "hot"))
    assert server.ask("hot")["decision"]["verdict"] == "block"  # caches "no exceptions"
    server.ctx.store.add_exemption(_exemption(server, "other-replica"), server.clock.now)
    assert server.ask("hot")["decision"]["verdict"] == "block"  # not seen yet: cached
    server.clock.advance(seconds=61)
    server.push(server.signal("2", 5, "hot"))  # keep the data fresh
    assert server.ask("hot")["decision"]["verdict"] == "proceed"


def test_read_cache_zero_reads_every_time(live: Callable[..., Live]) -> None:
    server = live(read_cache=0)
    server.push(server.signal("2", 5, "hot"))
    assert server.ask("hot")["decision"]["verdict"] == "block"
    server.ctx.store.add_exemption(_exemption(server, "direct"), server.clock.now)
    assert server.ask("hot")["decision"]["verdict"] == "proceed"


def test_a_targets_approvals_are_read_again_only_when_the_database_says_they_changed(
    live: Callable[..., Live],
) -> None:
    """Past ``read_cache`` a quiet store is asked its counter, not every target's approvals;
    another replica's approval moves the counter and is counted at the next decision."""
    server = live(read_cache=0.5)
    assert server.push(server.signal("1", 3, "medium")).status_code == 200
    store = server.ctx.store
    reads: list[str] = []
    read = store.target_approvals

    def counted(environment: str, target_key: str, since: datetime) -> list[TargetApproval]:
        reads.append(target_key)
        return read(environment, target_key, since)

    store.target_approvals = counted  # type: ignore[method-assign]
    asked = [server.ask("medium", who="dana", change={"actor": "dana"})]
    for _ in range(5):  # five read_cache periods, nothing written
        server.clock.advance(seconds=1)
        asked.append(server.ask("medium", who="dana", change={"actor": "dana"}))
    assert all(a["status"] == "pending_approval" for a in asked)
    assert len(reads) == 1
    # Another replica (its own store on the database: no in-process generation moves) records
    # alice's approval; the next decision past read_cache counts it.
    other = SqlStore.open(store.db.engine.url.render_as_string(hide_password=False), migrate=False)
    try:
        book = ApprovalBook(other, server.ctx.decisions.policy)
        alice = Caller("user:alice", "token", token_id="tok-alice", groups=("security",))
        book.answer(asked[-1]["id"], alice, ApprovalOutcome.APPROVE, "looked", server.clock.now)
    finally:
        other.close()
    server.clock.advance(seconds=1)
    again = server.ask("medium", who="dana", change={"actor": "dana"})
    assert again["approval"]["approvers"] == ["user:alice"]
    assert len(reads) == 2
