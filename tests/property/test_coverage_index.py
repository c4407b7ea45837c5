"""Coverage through the agent index answers what a pass over every agent record answers.

``host_coverage`` files the records under their identity keys once (``AgentIndex``); the
reference below is the pass it replaced (each host against every record with
``Managed.watches``). Names are drawn from a small pool of short names, FQDNs in two domains,
IPs and clusters so that look-alikes (``web-1.corp`` vs ``web-1.lab``), duplicates and
cluster-wide records meet often.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.model.assets import AssetKind, parse_asset
from clearance.model.coverage import AgentIndex, HostCoverage, Managed, host_coverage
from clearance.model.target import ExposedAsset, Exposure, Proximity, Target

HOSTS = [
    f"host:{name}{domain}"
    for name in ("web-1", "web-2", "ip-10-0-0-1")
    for domain in ("", ".corp.example", ".lab.example")
]
ASSETS = [*HOSTS, "ip:10.0.0.1", "ip:10.0.0.2", "cluster:prod-eu", "cluster:prod-us"]
CLUSTERS = ["cluster:prod-eu", "cluster:prod-us", "cluster:dev"]

managed = st.builds(
    Managed,
    source=st.sampled_from(["falcon", "s1", "gd"]),
    kind=st.sampled_from(["edr", "runtime"]),
    device=st.sampled_from(["a", "b", "c"]),
    assets=st.lists(st.sampled_from(ASSETS), max_size=3).map(
        lambda names: tuple(parse_asset(n) for n in names)
    ),
    last_seen=st.sampled_from([None, datetime(2026, 12, 1, tzinfo=UTC)]),
    active=st.booleans(),
    scope=st.sampled_from(["host", "cluster"]),
)


def exposure(hosts: Sequence[str], clusters: Sequence[str]) -> Exposure:
    target = Target.of("production", "prod-eu", "shop", "deployment/checkout")
    assets = [ExposedAsset(Proximity.HOST, parse_asset(h)) for h in hosts]
    assets += [ExposedAsset(Proximity.CLUSTER, parse_asset(c)) for c in clusters]
    return Exposure(target, tuple(assets), "property")


def reference(seen: Exposure, agents: Sequence[Managed]) -> tuple[HostCoverage, ...]:
    """The pass over every record that ``AgentIndex`` replaced, kept as the specification."""
    clusters = sorted({a.ref for a in seen.assets if a.ref.kind is AssetKind.CLUSTER})
    hosts = sorted(
        {
            a.ref
            for a in seen.assets
            if a.proximity is Proximity.HOST and a.ref.kind is AssetKind.HOST
        }
    )

    def order(agent: Managed) -> tuple[str, str, str]:
        return (agent.source, agent.kind, agent.device)

    return tuple(
        HostCoverage(host, named)
        for host in hosts
        if (named := tuple(sorted((a for a in agents if a.watches(host, clusters)), key=order)))
    )


@settings(max_examples=300)
@given(
    st.lists(managed, max_size=12),
    st.lists(st.sampled_from(HOSTS), max_size=5),
    st.lists(st.sampled_from(CLUSTERS), max_size=2),
)
def test_the_index_reports_what_every_record_checked_one_by_one_reports(
    agents: list[Managed], hosts: list[str], clusters: list[str]
) -> None:
    seen = exposure(hosts, clusters)
    expected = reference(seen, agents)
    assert host_coverage(seen, agents) == expected
    # The same index reused across targets (as the service caches it) answers the same, and
    # the recorded form is byte for byte the one the pass gave.
    index = AgentIndex(agents)
    assert list(index) == agents
    assert host_coverage(seen, index) == expected
    # Asked again with the same assets and index: the kept answer (model/memo.py), the same.
    assert host_coverage(seen, index) == expected
    assert [c.to_dict() for c in host_coverage(seen, index)] == [c.to_dict() for c in expected]
