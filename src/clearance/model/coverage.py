"""Coverage: which security agents watch the hosts a deploy touches.

A finding on a node raises risk; a node that no agent watches raises none, so without this a
blind spot reads as safety. Sources that keep an inventory of their agents (Falcon hosts,
SentinelOne agents) report each one as a :class:`Managed` record: which machine (by every name
it is known by), what kind of coverage it gives (``edr``, ``runtime``), and when the agent last
checked in. A decision records, for each host the target touches, the records that name it
(:class:`HostCoverage`), and the policy says which coverage each environment needs and how long
an agent may be silent (``environments.<env>.coverage``); a host without it is ``not_covered``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, overload

import msgspec

from clearance.model.assets import AssetKind, AssetRef, compatible, index_keys, parse_asset
from clearance.model.memo import IdentityMemo
from clearance.model.signal import format_time, parse_time
from clearance.model.target import ExposedAsset, Exposure, Proximity

COVERAGE_KINDS = ("edr", "runtime")


class Managed(msgspec.Struct, frozen=True):
    """One agent in a source's inventory. ``last_seen``: its last check-in (None: never);
    ``active``: whether the platform counts it as working (Falcon: not in reduced
    functionality mode; SentinelOne: ``isActive``); ``device``: the platform's id for it.

    ``scope`` ``cluster``: the record is a whole cluster's (GuardDuty reports EKS runtime
    coverage per cluster, not per node), named by its ``cluster:`` assets, and speaks for every
    node of that cluster. A host agent's own ``cluster:`` asset (Falcon knows the cluster a
    sensor runs in) says where it is, never that it watches its neighbours."""

    source: str
    kind: str
    device: str
    assets: tuple[AssetRef, ...]
    last_seen: datetime | None
    active: bool = True
    scope: str = "host"

    def names(self, host: AssetRef) -> bool:
        """Whether this agent's machine is ``host`` (by any of its names)."""
        keys = set(index_keys(host))
        return any(
            keys.intersection(index_keys(ref)) and compatible(ref, host) for ref in self.assets
        )

    def watches(self, host: AssetRef, clusters: Iterable[AssetRef]) -> bool:
        """Whether this record covers ``host``, a node of one of ``clusters``."""
        if self.scope == "cluster":
            return any(self.names(c) for c in clusters)
        return self.names(host)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "device": self.device,
            "assets": [str(a) for a in self.assets],
            "last_seen": None if self.last_seen is None else format_time(self.last_seen),
            "active": self.active,
            # Only when not the default, so records made before scopes existed read the same.
            **({"scope": self.scope} if self.scope != "host" else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Managed:
        seen = data.get("last_seen")
        return cls(
            source=data["source"],
            kind=data["kind"],
            device=data["device"],
            assets=tuple(parse_asset(a) for a in data["assets"]),
            last_seen=None if seen is None else parse_time(seen),
            active=bool(data.get("active", True)),
            scope=str(data.get("scope", "host")),
        )


class HostCoverage(msgspec.Struct, frozen=True):
    """One host the target touches and every agent record that names it (maybe none)."""

    host: AssetRef
    agents: tuple[Managed, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"host": str(self.host), "agents": [a.to_dict() for a in self.agents]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostCoverage:
        return cls(
            host=parse_asset(data["host"]),
            agents=tuple(Managed.from_dict(a) for a in data["agents"]),
        )


def host_coverage(exposure: Exposure, agents: Sequence[Managed]) -> tuple[HostCoverage, ...]:
    """For each host (node) the exposure touches, the agents that name it or cover its whole
    cluster; hosts no agent covers are left out (the engine reads their absence).
    Deterministic: sorted throughout. Pass an :class:`AgentIndex` to reuse one inventory's
    index across decisions; a plain sequence is indexed for this call."""
    if isinstance(agents, AgentIndex):  # one read of the inventory, kept by the caller
        return _COVERAGE.get((exposure.assets, agents), lambda: _covered(exposure, agents))
    return _covered(exposure, AgentIndex(agents))


def _covered(exposure: Exposure, index: AgentIndex) -> tuple[HostCoverage, ...]:
    clusters = sorted({a.ref for a in exposure.assets if a.ref.kind is AssetKind.CLUSTER})
    whole = index.covering_clusters(clusters)
    return tuple(
        HostCoverage(host, named)
        for host in exposed_hosts(exposure)
        if (named := index.watching(host, whole))
    )


# Per asset tuple and inventory read: a target asked again while neither changed is covered by
# the same agents (``StoredEvidence`` keeps one AgentIndex per read of the store).
_COVERAGE: IdentityMemo[tuple[HostCoverage, ...]] = IdentityMemo()


class AgentIndex(Sequence[Managed]):
    """One inventory read: the agent records, in order, filed under their assets' identity
    keys (:func:`~clearance.model.assets.index_keys`) once, so matching a target's hosts costs
    a lookup per host rather than a pass over every record (bench/bench_release.py).

    Answers exactly what :meth:`Managed.watches` over the records would, in the same order,
    duplicates included: a key only narrows the records to check, :meth:`Managed.names`
    still decides.
    """

    __slots__ = ("_agents", "_by_cluster", "_by_host")

    def __init__(self, agents: Iterable[Managed]) -> None:
        self._agents = tuple(agents)
        self._by_host: dict[str, list[int]] = {}
        self._by_cluster: dict[str, list[int]] = {}
        for position, agent in enumerate(self._agents):
            filed = self._by_cluster if agent.scope == "cluster" else self._by_host
            for key in {key for ref in agent.assets for key in index_keys(ref)}:
                filed.setdefault(key, []).append(position)

    def __len__(self) -> int:
        return len(self._agents)

    @overload
    def __getitem__(self, item: int) -> Managed: ...
    @overload
    def __getitem__(self, item: slice) -> Sequence[Managed]: ...
    def __getitem__(self, item: int | slice) -> Managed | Sequence[Managed]:
        return self._agents[item]

    def covering_clusters(self, clusters: Iterable[AssetRef]) -> frozenset[int]:
        """The positions of the cluster-wide records that name one of ``clusters``."""
        return frozenset(
            position
            for cluster in clusters
            for key in index_keys(cluster)
            for position in self._by_cluster.get(key, ())
            if self._agents[position].names(cluster)
        )

    def watching(self, host: AssetRef, whole: frozenset[int]) -> tuple[Managed, ...]:
        """The records that name ``host`` plus the cluster-wide ones at ``whole``, in the
        order :func:`host_coverage` reports them."""
        positions = set(whole)
        for key in index_keys(host):
            positions.update(p for p in self._by_host.get(key, ()) if self._agents[p].names(host))
        # Input order first, then a stable sort: ties keep the order the records came in.
        return tuple(sorted((self._agents[p] for p in sorted(positions)), key=_order))


def exposed_hosts(exposure: Exposure) -> list[AssetRef]:
    """The hosts (nodes) a target runs on or may be scheduled on, by host name."""
    return sorted(_hosts(exposure.assets))


def _hosts(assets: Iterable[ExposedAsset]) -> set[AssetRef]:
    return {a.ref for a in assets if a.proximity is Proximity.HOST and a.ref.kind is AssetKind.HOST}


def _order(agent: Managed) -> tuple[str, str, str]:
    return (agent.source, agent.kind, agent.device)
