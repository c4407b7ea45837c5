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

``clearance serve`` calls ``start()`` before its first decision: a list + watch reflector per
cluster and resource keeps the cache current, so a decision reads the cache and never waits on an
API server; every few seconds it calls ``supervise()``, which restarts a reflector whose thread
died, and ``stop()`` at shutdown. Without ``start()`` (a one-shot ``clearance check``),
``resolve`` lists what it needs once: the target's namespace and the nodes.

``health(now)`` is deterministic: a cache whose watches are connected (or, one-shot, that was
listed for this check) is current, so it is fresh as of the decision's ``now``; a cache whose
watch failed, or that has heard nothing for longer than a watch can stay quiet, is as old as the
last time it heard from its cluster, and the policy's ``stale`` stance judges it.

Everything that cannot be correlated is in ``Exposure.unresolved``, naming the cluster;
API failures (unreachable, expired credential, RBAC 403) are in ``health()``; malformed objects
are skipped and counted there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from clearance.errors import InventoryError
from clearance.inventory.identity import IdentityGraph
from clearance.inventory.kubernetes.api import KubeApi
from clearance.inventory.kubernetes.cache import BY_KIND, RESOURCES, ClusterCache
from clearance.inventory.kubernetes.candidates import read_manifest
from clearance.inventory.kubernetes.config import (
    ClusterSettings,
    KubernetesInventoryConfig,
    api_factories,
)
from clearance.inventory.kubernetes.objects import MalformedObjectError
from clearance.inventory.kubernetes.resolve import (
    DEFAULT_RESTARTS,
    Resolution,
    resolve_in_cluster,
    workload_kind,
)
from clearance.inventory.kubernetes.watch import Reflector, list_into
from clearance.model.target import Exposure, Proximity, SourceHealth, Target, UnresolvedReason

__all__ = ["ClusterSettings", "KubernetesInventory", "KubernetesInventoryConfig"]

_ALL_KINDS = tuple(resource.kind for resource in RESOURCES)

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
        initial_sync_seconds: float = 10.0,
        watch_timeout_seconds: int = 300,
        restarts: int = DEFAULT_RESTARTS,
    ) -> None:
        """``apis`` maps each cluster name to a factory of its API client (connected lazily)."""
        self.name = name
        self._connect = dict(apis)
        self._apis: dict[str, KubeApi] = {}
        self.caches = {cluster: ClusterCache(cluster, clock) for cluster in apis}
        self._initial_sync = initial_sync_seconds
        self._watch_timeout = watch_timeout_seconds
        self._restarts = restarts
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sync_lock = threading.Lock()
        self.reflectors: list[Reflector] = []
        self.restarts = 0  # reflector threads that died and were started again

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> KubernetesInventory:
        if not isinstance(config, KubernetesInventoryConfig):
            raise InventoryError(name, "expected a kubernetes inventory configuration")
        return cls(
            name,
            api_factories(name, config, base_dir),
            initial_sync_seconds=config.initial_sync_seconds,
            watch_timeout_seconds=config.watch_timeout_seconds,
            restarts=config.restarts,
        )

    # --- lifecycle -------------------------------------------------------------------------

    def _api(self, cluster: str) -> KubeApi:
        api = self._apis.get(cluster)
        if api is None:
            api = self._apis[cluster] = self._connect[cluster]()
        return api

    def _connected(self, cluster: str, kinds: Iterable[str]) -> KubeApi | None:
        """The cluster's API; None when it cannot be had, the reason recorded on ``kinds``."""
        try:
            return self._api(cluster)
        except InventoryError as exc:
            for kind in kinds:
                self.caches[cluster].fail(kind, str(exc))
            return None

    def start(self) -> None:
        """Start list + watch reflectors for every cluster and resource (daemon threads)."""
        for cluster, cache in self.caches.items():
            api = self._connected(cluster, _ALL_KINDS)
            if api is None:
                continue
            for resource in RESOURCES:
                reflector = Reflector(
                    api, cache, resource, self._stop, watch_timeout=self._watch_timeout
                )
                self.reflectors.append(reflector)
                self._threads.append(self._spawn(reflector))

    def _spawn(self, reflector: Reflector) -> threading.Thread:
        thread = threading.Thread(
            target=reflector.run,
            name=f"clearance-k8s-{reflector.cache.cluster}-{reflector.resource.kind}",
            daemon=True,
        )
        thread.start()
        return thread

    def supervise(self) -> None:
        """Start again every reflector whose thread died of an unexpected error (a reflector
        that finished because its optional CRD is absent stays finished). The death is recorded
        as the resource's error until the new reflector lists again, so health shows it."""
        if self._stop.is_set():
            return
        for i, (reflector, thread) in enumerate(zip(self.reflectors, self._threads, strict=True)):
            if thread.is_alive() or reflector.finished:
                continue
            reflector.cache.fail(
                reflector.resource.kind,
                f"cluster {reflector.cache.cluster!r}: the {reflector.resource.kind} watch "
                "stopped unexpectedly; restarted",
            )
            self.restarts += 1
            self._threads[i] = self._spawn(reflector)

    def stop(self, wait: float = 1.0) -> None:
        """Stop the reflectors. A watch blocked on a quiet stream ends at its server timeout
        (``watch_timeout_seconds``); its daemon thread then sees the stop and exits."""
        self._stop.set()
        for api in self._apis.values():
            api.close()
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Close every cluster's connection (and stop the watches, if started): for a one-shot
        use, as ``stop`` is for a service."""
        self.stop(wait=0.0)

    def sync(self, cluster: str) -> None:
        """List every resource of ``cluster`` once, now (one-shot use without watches)."""
        api = self._connected(cluster, _ALL_KINDS)
        if api is None:
            return
        for resource in RESOURCES:
            list_into(api, self.caches[cluster], resource)

    def _ensure_listed(self, cluster: str, kinds: tuple[str, ...], namespace: str) -> None:
        """Make sure ``kinds`` are in the cache for ``namespace`` before resolving there.

        With reflectors running, wait (at most ``initial_sync_seconds``) for their first list.
        Without (one-shot use), list what is missing now, in the target's namespace only: a
        ``clearance check`` in CI need not read every pod of a large cluster.
        """
        cache = self.caches[cluster]
        if all(cache.listed(k, namespace) for k in kinds):
            return
        if not self._threads:
            with self._sync_lock:
                api = self._connected(cluster, kinds)
                if api is None:
                    return
                for kind in kinds:
                    if not cache.listed(kind, namespace):
                        list_into(api, cache, BY_KIND[kind], namespace)
            return
        deadline = time.monotonic() + self._initial_sync
        while not all(cache.listed(k, namespace) for k in kinds) and time.monotonic() < deadline:
            if all(cache.listed(k, namespace) or cache.state[k].error for k in kinds):
                return  # failed already: do not make the decision wait for the retry
            self._stop.wait(0.02)

    # --- resolution ------------------------------------------------------------------------

    def resolve(
        self,
        target: Target,
        *,
        manifest: Mapping[str, Any] | None = None,
        identities: IdentityGraph | None = None,
    ) -> Exposure:
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
        namespace = target.namespace
        self._ensure_listed(cluster, needed, namespace)
        cache = self.caches[cluster]
        for k in needed[:-1]:
            if not cache.listed(k, namespace):
                why = cache.state[k].error or f"cluster {cluster!r}: {k}s not listed yet"
                return unresolved(UnresolvedReason.INVENTORY_UNAVAILABLE, why)
        result = resolve_in_cluster(cache, target, parsed, restarts=self._restarts)
        node_state = cache.state["node"]
        if not node_state.synced and result.machines:
            # The nodes could not be listed at all: say that once, rather than node by node.
            result.unresolved = [
                u for u in result.unresolved if u[0] is not UnresolvedReason.NODES_UNKNOWN
            ]
            result.unresolved.append(
                (
                    UnresolvedReason.NODES_UNKNOWN,
                    node_state.error or f"cluster {cluster!r}: nodes not listed yet",
                )
            )
        if identities is not None:
            _expand(result, identities)
        return Exposure(
            target=target,
            assets=result.assets(),
            inventory=self.name,
            unresolved=tuple(dict.fromkeys(result.unresolved)),
            notes=tuple(result.notes),
            conditions=tuple(result.conditions),
            template=result.template,
        )

    def health(self, now: datetime) -> SourceHealth:
        """The cache's age as of ``now`` and every current API error, naming cluster and resource.

        A cluster kept current (no error, and heard from within the time a watch may stay quiet
        before its server ends it; or, without watches, listed for this check) is fresh as of
        ``now``. Otherwise its age is the last time it heard from its cluster. ``last_success``
        is the stalest cluster's (so ``stale`` and ``source_down`` judge the oldest data a
        decision may read); a cluster never reached adds its error but no age: its targets are
        ``inventory_unavailable`` on their own.
        """
        quiet = timedelta(seconds=self._watch_timeout + 60) if self._threads else None
        fresh = []
        for cache in self.caches.values():
            heard = cache.fresh_as_of()
            if heard is None:
                continue
            current = not cache.errors() and (quiet is None or heard >= now - quiet)
            fresh.append(now if current else heard)
        errors = [e for c in self.caches.values() for e in c.errors()]
        failed_at = [
            c.last_error_at for c in self.caches.values() if c.errors() and c.last_error_at
        ]
        return SourceHealth(
            name=f"inventory:{self.name}",
            last_success=min(fresh) if fresh else None,
            last_error="; ".join(errors) if errors else None,
            last_error_at=max(failed_at) if failed_at else None,
            skipped=sum(c.skipped for c in self.caches.values()),
        )


def _expand(result: Resolution, graph: IdentityGraph) -> None:
    """Add every name the identity graph knows for each node's machine, and its ambiguities."""
    for _, (refs, path) in sorted(result.machines.items()):
        expansion = graph.expand(refs)
        for ref, by in expansion.joined:
            result.add(Proximity.HOST, ref, f"{path} → identity: same machine as {by}")
        for text in expansion.ambiguities:
            result.note(f"identity: {text}")
