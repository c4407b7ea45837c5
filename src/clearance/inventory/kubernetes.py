"""The ``kubernetes`` inventory: resolve targets from live clusters through a watch cache.

Configuration (``clearance.yaml``)::

    inventory:
      name: k8s
      type: kubernetes
      kubeconfig: ~/.kube/config        # default; a context per cluster name
      clusters:
        - {name: prod-eu}               # context "prod-eu"
        - {name: prod-us, context: arn:aws:eks:us-east-1:123:cluster/prod-us}
        - {name: local, in_cluster: true}  # the pod's service account

``start()`` runs a list + watch reflector per cluster and resource (the server does this), so a
decision reads the cache and never waits on an API server. Without ``start()`` (a one-shot
``clearance check``), the first ``resolve`` for a cluster lists it once. Everything that cannot be
correlated is in ``Exposure.unresolved``, naming the cluster; API failures (unreachable, expired
credential, RBAC 403) are in ``health()``; malformed objects are skipped and counted there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from clearance.errors import InventoryError
from clearance.identity import IdentityGraph
from clearance.inventory.k8s_api import KubeApi, load_config
from clearance.inventory.k8s_cache import RESOURCES, ClusterCache
from clearance.inventory.k8s_candidates import read_manifest
from clearance.inventory.k8s_objects import MalformedObjectError
from clearance.inventory.k8s_resolve import Resolution, resolve_in_cluster, workload_kind
from clearance.inventory.k8s_watch import Reflector, list_into
from clearance.model.target import Exposure, Proximity, SourceHealth, Target, UnresolvedReason

# What each workload kind's chain reads, beside pods and nodes.
_CHAIN = {
    "deployment": ("deployment", "replicaset"),
    "rollout": ("rollout", "replicaset"),
    "cronjob": ("cronjob", "job"),
    "statefulset": ("statefulset",),
    "daemonset": ("daemonset",),
    "job": ("job",),
    "replicaset": ("replicaset",),
}


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    context: str | None = None  # default: the cluster name
    kubeconfig: Path | None = None  # default: the inventory's
    in_cluster: bool = False


class KubernetesInventoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kubeconfig: Path | None = None
    clusters: list[ClusterSettings] = Field(min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0)
    initial_sync_seconds: float = Field(default=10.0, ge=0)
    watch_timeout_seconds: int = Field(default=300, ge=1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KubernetesInventory:
    Config: ClassVar[type[BaseModel]] = KubernetesInventoryConfig

    def __init__(
        self,
        name: str,
        apis: Mapping[str, Callable[[], KubeApi]],
        *,
        clock: Callable[[], datetime] = _utc_now,
        identities: IdentityGraph | None = None,
        initial_sync_seconds: float = 10.0,
        watch_timeout_seconds: int = 300,
    ) -> None:
        """``apis`` maps each cluster name to a factory of its API client (connected lazily)."""
        self.name = name
        self.identities = identities
        self._connect = dict(apis)
        self._apis: dict[str, KubeApi] = {}
        self.caches = {cluster: ClusterCache(cluster, clock) for cluster in apis}
        self._initial_sync = initial_sync_seconds
        self._watch_timeout = watch_timeout_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sync_lock = threading.Lock()
        self.reflectors: list[Reflector] = []

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> KubernetesInventory:
        if not isinstance(config, KubernetesInventoryConfig):
            raise InventoryError(name, "expected a kubernetes inventory configuration")

        def path(p: Path | None) -> Path | None:
            if p is None:
                return None
            p = p.expanduser()
            return p if p.is_absolute() else base_dir / p

        apis: dict[str, Callable[[], KubeApi]] = {}
        for cluster in config.clusters:
            # Load every kubeconfig now: a missing file or context fails at start-up.
            single = load_config(
                name,
                cluster.name,
                kubeconfig=path(cluster.kubeconfig) or path(config.kubeconfig),
                context=cluster.context,
                in_cluster=cluster.in_cluster,
            )
            apis[cluster.name] = lambda c=cluster.name, s=single: KubeApi.connect(  # type: ignore[misc]
                name, c, s, timeout=config.timeout_seconds
            )
        return cls(
            name,
            apis,
            initial_sync_seconds=config.initial_sync_seconds,
            watch_timeout_seconds=config.watch_timeout_seconds,
        )

    # --- lifecycle -------------------------------------------------------------------------

    def _api(self, cluster: str) -> KubeApi:
        api = self._apis.get(cluster)
        if api is None:
            api = self._apis[cluster] = self._connect[cluster]()
        return api

    def start(self) -> None:
        """Start list + watch reflectors for every cluster and resource (daemon threads)."""
        for cluster, cache in self.caches.items():
            try:
                api = self._api(cluster)
            except InventoryError as exc:
                for resource in RESOURCES:
                    cache.fail(resource.kind, str(exc))
                continue
            for resource in RESOURCES:
                reflector = Reflector(
                    api, cache, resource, self._stop, watch_timeout=self._watch_timeout
                )
                thread = threading.Thread(
                    target=reflector.run,
                    name=f"clearance-k8s-{cluster}-{resource.kind}",
                    daemon=True,
                )
                self.reflectors.append(reflector)
                self._threads.append(thread)
                thread.start()

    def stop(self, wait: float = 1.0) -> None:
        """Stop the reflectors. A watch blocked on a quiet stream ends at its server timeout
        (``watch_timeout_seconds``); its daemon thread then sees the stop and exits."""
        self._stop.set()
        for api in self._apis.values():
            api.close()
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def sync(self, cluster: str) -> None:
        """List every resource of ``cluster`` once, now (one-shot use without watches)."""
        cache = self.caches[cluster]
        try:
            api = self._api(cluster)
        except InventoryError as exc:
            for resource in RESOURCES:
                cache.fail(resource.kind, str(exc))
            return
        for resource in RESOURCES:
            list_into(api, cache, resource)

    def _ensure_synced(self, cluster: str, kinds: tuple[str, ...]) -> None:
        cache = self.caches[cluster]
        if all(cache.state[k].synced for k in kinds):
            return
        if not self._threads:
            with self._sync_lock:
                if not all(cache.state[k].synced for k in kinds):
                    self.sync(cluster)
            return
        deadline = time.monotonic() + self._initial_sync
        while not all(cache.state[k].synced for k in kinds) and time.monotonic() < deadline:
            if all(cache.state[k].synced or cache.state[k].error for k in kinds):
                return  # failed already: do not make the decision wait for the retry
            self._stop.wait(0.02)

    # --- resolution ------------------------------------------------------------------------

    def resolve(self, target: Target, *, manifest: Mapping[str, Any] | None = None) -> Exposure:
        """Resolve ``target``; ``manifest`` is the workload object about to be applied, if any.

        With a manifest the host assets also include its candidate nodes (a new workload has
        only those). A malformed manifest raises :class:`InventoryError`.
        """
        cluster = target.cluster
        kind = workload_kind(target.workload.kind)

        def unresolved(reason: UnresolvedReason, detail: str) -> Exposure:
            return Exposure(target, (), self.name, ((reason, detail),))

        if cluster not in self.caches:
            served = ", ".join(sorted(self.caches))
            return unresolved(
                UnresolvedReason.TARGET_NOT_FOUND,
                f"cluster {cluster!r} is not served by inventory {self.name!r} ({served})",
            )
        if kind not in _CHAIN:
            return unresolved(
                UnresolvedReason.TARGET_NOT_FOUND,
                f"{target.workload.kind!r} is not a workload kind this inventory resolves "
                f"({', '.join(sorted(_CHAIN))})",
            )
        parsed = None
        if manifest is not None:
            try:
                parsed = read_manifest(manifest)
            except MalformedObjectError as exc:
                raise InventoryError(self.name, str(exc)) from exc
        needed = (*_CHAIN[kind], "pod", "node")
        self._ensure_synced(cluster, needed)
        cache = self.caches[cluster]
        for k in needed[:-1]:
            state = cache.state[k]
            if not state.synced:
                why = state.error or f"cluster {cluster!r}: {k}s not listed yet"
                return unresolved(UnresolvedReason.INVENTORY_UNAVAILABLE, why)
        result = resolve_in_cluster(cache, target, parsed)
        node_state = cache.state["node"]
        if not node_state.synced and result.machines:
            result.unresolved.append(
                (
                    UnresolvedReason.NODES_UNKNOWN,
                    node_state.error or f"cluster {cluster!r}: nodes not listed yet",
                )
            )
        if self.identities is not None:
            self._expand(result)
        return Exposure(
            target=target,
            assets=result.assets(),
            inventory=self.name,
            unresolved=tuple(dict.fromkeys(result.unresolved)),
            notes=tuple(result.notes),
        )

    def _expand(self, result: Resolution) -> None:
        assert self.identities is not None
        for _, (refs, path) in sorted(result.machines.items()):
            expansion = self.identities.expand(refs)
            for ref, by in expansion.joined:
                result.add(Proximity.HOST, ref, f"{path} → identity: same machine as {by}")
            for text in expansion.ambiguities:
                result.note(f"identity: {text}")

    def health(self) -> SourceHealth:
        """The cache's age (its stalest cluster) and every current API error, named."""
        fresh = [t for c in self.caches.values() if (t := c.fresh_as_of()) is not None]
        errors = [e for c in self.caches.values() for e in c.errors()]
        failed_at = [
            c.last_error_at for c in self.caches.values() if c.errors() and c.last_error_at
        ]
        never = [name for name, c in self.caches.items() if c.fresh_as_of() is None and c.errors()]
        return SourceHealth(
            name=f"inventory:{self.name}",
            last_success=min(fresh) if fresh and not never else None,
            last_error="; ".join(errors) if errors else None,
            last_error_at=max(failed_at) if failed_at else None,
            skipped=sum(c.skipped for c in self.caches.values()),
        )
