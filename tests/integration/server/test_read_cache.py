"""The read cache: another replica's writes are seen within ``read_cache``, our own at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from clearance.model.exemptions import Exemption
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
