"""One cluster's objects, kept current by list + watch, indexed for resolution.

Writers (the reflector threads in ``watch``) hold the lock for one list or one event; readers
(resolution) hold it for one look-up and get immutable records, so a decision never waits on the
API server. Times come from an injected clock: when the cache last heard from the cluster is what
source health reports, and the policy's ``stale`` stance judges it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clearance.inventory.kubernetes.objects import (
    Controller,
    MalformedObjectError,
    Node,
    Pod,
    parse_controller,
    parse_node,
    parse_pod,
)


@dataclass(frozen=True, slots=True)
class ResourceType:
    kind: str  # lower case, as in WorkloadRef
    prefix: str  # API group/version path
    plural: str
    namespaced: bool = True
    optional: bool = False  # a CRD that may not be installed (404 = absent, not an error)

    def path(self, namespace: str | None = None) -> str:
        """The cluster-wide list/watch path, or the namespaced one."""
        if namespace is not None and self.namespaced:
            return f"{self.prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.prefix}/{self.plural}"


RESOURCES = (
    ResourceType("node", "/api/v1", "nodes", namespaced=False),
    ResourceType("pod", "/api/v1", "pods"),
    ResourceType("replicaset", "/apis/apps/v1", "replicasets"),
    ResourceType("deployment", "/apis/apps/v1", "deployments"),
    ResourceType("statefulset", "/apis/apps/v1", "statefulsets"),
    ResourceType("daemonset", "/apis/apps/v1", "daemonsets"),
    ResourceType("job", "/apis/batch/v1", "jobs"),
    ResourceType("cronjob", "/apis/batch/v1", "cronjobs"),
    ResourceType("rollout", "/apis/argoproj.io/v1alpha1", "rollouts", optional=True),
)
BY_KIND = {r.kind: r for r in RESOURCES}


@dataclass
class ResourceState:
    synced: bool = False  # a list completed since the last failure that emptied it
    resource_version: str = ""
    error: str | None = None  # the last failure, cleared by the next success
    absent: bool = False  # optional CRD not served by this cluster
    last_success: datetime | None = None  # the last list, event or watch (re)connection
    namespaces: set[str] = field(default_factory=set)  # listed one namespace at a time


class ClusterCache:
    """Objects of one cluster by uid, with the indexes ``resolve.ClusterView`` needs."""

    def __init__(self, cluster: str, clock: Callable[[], datetime]) -> None:
        self.cluster = cluster
        self._clock = clock
        self._lock = threading.Lock()
        self._controllers: dict[str, Controller] = {}
        self._by_name: dict[tuple[str, str, str], str] = {}
        self._children: dict[str, set[str]] = {}
        self._pods: dict[str, Pod] = {}
        self._pods_by_owner: dict[str, set[str]] = {}
        self._nodes: dict[str, Node] = {}  # by name
        self._uids: dict[str, set[str]] = {r.kind: set() for r in RESOURCES}
        self._malformed: dict[str, dict[str, str]] = {r.kind: {} for r in RESOURCES}
        self.state: dict[str, ResourceState] = {r.kind: ResourceState() for r in RESOURCES}
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None

    # --- reads (ClusterView) ---------------------------------------------------------------

    def controller(self, kind: str, namespace: str, name: str) -> Controller | None:
        with self._lock:
            uid = self._by_name.get((kind, namespace, name))
            return None if uid is None else self._controllers.get(uid)

    def owned_controllers(self, owner_uid: str) -> Sequence[Controller]:
        with self._lock:
            return tuple(self._controllers[u] for u in self._children.get(owner_uid, ()))

    def owned_pods(self, owner_uid: str) -> Sequence[Pod]:
        with self._lock:
            return tuple(self._pods[u] for u in self._pods_by_owner.get(owner_uid, ()))

    def node(self, name: str) -> Node | None:
        with self._lock:
            return self._nodes.get(name)

    def nodes(self) -> Sequence[Node]:
        with self._lock:
            return tuple(self._nodes.values())

    @property
    def skipped(self) -> int:
        with self._lock:
            return sum(len(m) for m in self._malformed.values())

    def malformed(self) -> list[str]:
        with self._lock:
            return sorted(r for m in self._malformed.values() for r in m.values())

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {kind: len(uids) for kind, uids in self._uids.items()}

    # --- writes (reflectors) ---------------------------------------------------------------

    def replace(self, kind: str, objects: list[Any], resource_version: str) -> None:
        """Install a fresh list of ``kind``: what it lacks is gone from the cluster."""
        parsed, malformed = parse_all(kind, objects)
        self.install(kind, parsed, malformed, resource_version)

    def install(
        self,
        kind: str,
        parsed: list[Controller | Pod | Node],
        malformed: dict[str, str],
        resource_version: str,
        *,
        namespace: str | None = None,
    ) -> None:
        """Install records parsed from a complete list (see :func:`parse_all`).

        With ``namespace``, the list was of that namespace only: only its objects are replaced,
        and the resource counts as listed for that namespace, not for the cluster.
        """
        with self._lock:
            for uid in list(self._uids[kind]):
                if namespace is None or self._namespace_of(kind, uid) == namespace:
                    self._remove(kind, uid)
            for record in parsed:
                self._insert(kind, record)
            state = self.state[kind]
            if namespace is None:
                self._malformed[kind] = malformed
                state.synced, state.resource_version = True, resource_version
            else:
                self._malformed[kind].update(malformed)
                state.namespaces.add(namespace)
            state.error, state.absent = None, False
            self._succeeded(kind)

    def listed(self, kind: str, namespace: str) -> bool:
        """Whether ``kind`` has been listed cluster-wide, or for ``namespace``."""
        with self._lock:
            state = self.state[kind]
            return state.synced or namespace in state.namespaces

    def _namespace_of(self, kind: str, uid: str) -> str | None:
        if kind == "pod":
            return self._pods[uid].namespace
        if kind == "node":
            return None
        return self._controllers[uid].namespace

    def apply(self, kind: str, event: str, obj: object) -> None:
        """Apply one watch event (ADDED, MODIFIED, DELETED, BOOKMARK). ``obj`` is the event's
        object as decoded from the wire: not necessarily a mapping."""
        meta = obj.get("metadata") if isinstance(obj, Mapping) else None
        version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
        with self._lock:
            if version:
                self.state[kind].resource_version = str(version)
            self.state[kind].error = None
            self._succeeded(kind)
        if event in ("BOOKMARK", "CONNECTED"):
            return
        uid = meta.get("uid") if isinstance(meta, Mapping) else None
        if event == "DELETED":
            with self._lock:
                if isinstance(uid, str):
                    self._remove(kind, uid)
                    self._malformed[kind].pop(uid, None)
            return
        parsed, malformed = parse_all(kind, [obj])
        with self._lock:
            if isinstance(uid, str):
                self._remove(kind, uid)
                self._malformed[kind].pop(uid, None)
            for record in parsed:
                self._insert(kind, record)
            for key, reason in malformed.items():
                self._malformed[kind][key] = reason

    def mark_absent(self, kind: str) -> None:
        with self._lock:
            state = self.state[kind]
            state.synced, state.absent, state.error = True, True, None
            self._succeeded(kind)

    def fail(self, kind: str, message: str) -> None:
        """Record a failed list or watch; the cached objects stay (stale beats nothing)."""
        with self._lock:
            self.state[kind].error = message
            self.last_error = message
            self.last_error_at = self._clock()

    def _succeeded(self, kind: str) -> None:
        now = self._clock()
        self.state[kind].last_success = now
        if not any(s.error for s in self.state.values()):
            self.last_error = None

    def fresh_as_of(self) -> datetime | None:
        """When the stalest listed resource was last confirmed current; None before any list.

        An optional resource the cluster does not serve (Argo Rollouts without its CRD) is not
        watched, so its one confirmation only ages: it has nothing to be stale about and does
        not count."""
        with self._lock:
            times = [
                s.last_success
                for s in self.state.values()
                if s.last_success is not None and not s.absent
            ]
            return min(times) if times else None

    def errors(self) -> list[str]:
        with self._lock:
            return sorted({s.error for s in self.state.values() if s.error})

    def _insert(self, kind: str, record: Controller | Pod | Node) -> None:
        self._uids[kind].add(record.uid)
        if isinstance(record, Node):
            self._nodes[record.name] = record
        elif isinstance(record, Pod):
            self._pods[record.uid] = record
            if record.owner_uid:
                self._pods_by_owner.setdefault(record.owner_uid, set()).add(record.uid)
        else:
            self._controllers[record.uid] = record
            self._by_name[(record.kind, record.namespace, record.name)] = record.uid
            if record.owner_uid:
                self._children.setdefault(record.owner_uid, set()).add(record.uid)

    def _remove(self, kind: str, uid: str) -> None:
        if uid not in self._uids[kind]:
            return
        self._uids[kind].discard(uid)
        if kind == "node":
            for name, node in list(self._nodes.items()):
                if node.uid == uid:
                    del self._nodes[name]
        elif kind == "pod":
            pod = self._pods.pop(uid)
            if pod.owner_uid:
                _discard(self._pods_by_owner, pod.owner_uid, uid)
        else:
            ctrl = self._controllers.pop(uid)
            if self._by_name.get((ctrl.kind, ctrl.namespace, ctrl.name)) == uid:
                del self._by_name[(ctrl.kind, ctrl.namespace, ctrl.name)]
            if ctrl.owner_uid:
                _discard(self._children, ctrl.owner_uid, uid)


def _discard(index: dict[str, set[str]], key: str, uid: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(uid)
        if not members:
            del index[key]


def parse_all(
    kind: str, objects: list[Any], start: int = 0
) -> tuple[list[Controller | Pod | Node], dict[str, str]]:
    """Parse raw objects of ``kind``; a malformed one is kept aside by uid with its reason."""
    parsed: list[Controller | Pod | Node] = []
    malformed: dict[str, str] = {}
    for i, obj in enumerate(objects):
        try:
            if not isinstance(obj, Mapping):
                raise MalformedObjectError(f"{kind} item {i}", "not an object")
            if kind == "pod":
                parsed.append(parse_pod(obj))
            elif kind == "node":
                parsed.append(parse_node(obj))
            else:
                parsed.append(parse_controller(obj, kind))
        except (MalformedObjectError, TypeError, AttributeError, ValueError) as exc:
            # A field of an unexpected type anywhere in the object is that object's problem:
            # it is skipped with its reason, never allowed to cost the list.
            meta = obj.get("metadata") if isinstance(obj, Mapping) else None
            uid = meta.get("uid") if isinstance(meta, Mapping) else None
            name = meta.get("name") if isinstance(meta, Mapping) else None
            reason = (
                str(exc)
                if isinstance(exc, MalformedObjectError)
                else f"malformed {kind} {name or f'#{start + i}'}: unexpected shape ({exc})"
            )
            malformed[uid if isinstance(uid, str) and uid else f"#{start + i}"] = reason
    return parsed, malformed
