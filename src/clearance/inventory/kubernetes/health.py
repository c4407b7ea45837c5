"""The health of a workload's pods, its rollout and its nodes, from the objects' own status.

Parsed once per object at ingest (into the slim records the cache keeps), turned into
:class:`~clearance.model.health.HealthCondition` values at resolution. The status fields read:

* pod: ``status.phase``/``reason`` (``Failed``/``Evicted``), the ``Ready`` condition, and each
  container's ``state.waiting.reason`` (``CrashLoopBackOff``, ``ImagePullBackOff``,
  ``ErrImagePull``), ``restartCount`` and ``lastState.terminated.finishedAt``
  (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/);
* deployment: the ``Progressing`` condition: ``False`` is a rollout past its
  ``progressDeadlineSeconds`` (``ProgressDeadlineExceeded``), ``True`` with ``ReplicaSetUpdated``
  one under way (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#deployment-status);
* node: the ``Ready``, ``MemoryPressure``, ``DiskPressure`` and ``PIDPressure`` conditions, and
  ``spec.unschedulable`` (cordoned; the ``node.kubernetes.io/unschedulable`` taint's
  ``timeAdded`` says since when).

A status field of an unexpected shape never costs the object: health is read best-effort (a
time that does not parse is simply unknown), so resolution keeps every asset it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clearance.errors import InvalidSignalError
from clearance.model.assets import AssetRef
from clearance.model.health import HealthCondition, Problem
from clearance.model.signal import parse_time

_WAITING = {
    "CrashLoopBackOff": Problem.CRASH_LOOP,
    "ImagePullBackOff": Problem.IMAGE_PULL,
    "ErrImagePull": Problem.IMAGE_PULL,
}
_PRESSURE = {
    "MemoryPressure": Problem.MEMORY_PRESSURE,
    "DiskPressure": Problem.DISK_PRESSURE,
    "PIDPressure": Problem.PID_PRESSURE,
}


@dataclass(frozen=True, slots=True)
class ContainerHealth:
    name: str
    waiting: str | None  # state.waiting.reason
    restarts: int
    last_exit: datetime | None  # lastState.terminated.finishedAt


@dataclass(frozen=True, slots=True)
class PodHealth:
    phase: str
    reason: str  # status.reason: "Evicted" for an evicted pod
    ready: bool | None  # the Ready condition; None when the pod has none yet
    ready_since: datetime | None
    containers: tuple[ContainerHealth, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """The node's conditions that say it is unwell: (type, since), and since when cordoned."""

    problems: tuple[tuple[Problem, str, datetime | None], ...] = ()
    cordoned_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class RolloutHealth:
    problem: Problem
    detail: str
    since: datetime | None


HEALTHY_POD = PodHealth("Running", "", True, None)
HEALTHY_NODE = NodeHealth()


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except InvalidSignalError:
        return None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = status.get("conditions")
    if not isinstance(found, list):
        return {}
    return {str(c.get("type")): c for c in found if isinstance(c, Mapping)}


def pod_health(status: Mapping[str, Any]) -> PodHealth:
    containers = []
    for field in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(field) or ():
            if not isinstance(cs, Mapping):
                continue
            waiting = _map(_map(cs.get("state")).get("waiting")).get("reason")
            restarts = cs.get("restartCount")
            restarts = restarts if type(restarts) is int and restarts > 0 else 0
            if not waiting and not restarts:
                continue  # the common case: nothing to keep
            ended = _map(_map(cs.get("lastState")).get("terminated"))
            containers.append(
                ContainerHealth(
                    name=str(cs.get("name") or "?"),
                    waiting=str(waiting) if waiting else None,
                    restarts=restarts,
                    last_exit=_time(ended.get("finishedAt")),
                )
            )
    ready = _conditions(status).get("Ready")
    reason = str(status.get("reason") or "")
    if ready is not None and ready.get("status") == "True" and not containers and not reason:
        return HEALTHY_POD  # most pods are well: one shared record, not a copy per pod
    return PodHealth(
        phase=str(status.get("phase") or ""),
        reason=reason,
        ready=None if ready is None else ready.get("status") == "True",
        ready_since=None if ready is None else _time(ready.get("lastTransitionTime")),
        containers=tuple(containers),
    )


def node_health(spec: Mapping[str, Any], status: Mapping[str, Any]) -> NodeHealth:
    problems: list[tuple[Problem, str, datetime | None]] = []
    for kind, condition in sorted(_conditions(status).items()):
        state = condition.get("status")
        since = _time(condition.get("lastTransitionTime"))
        why = str(condition.get("reason") or condition.get("message") or state)
        if kind == "Ready" and state != "True":
            problems.append((Problem.NODE_NOT_READY, f"Ready={state}: {why}", since))
        elif kind in _PRESSURE and state == "True":
            problems.append((_PRESSURE[kind], why, since))
    cordoned = None
    if spec.get("unschedulable"):
        taints = [t for t in spec.get("taints") or [] if isinstance(t, Mapping)]
        added = [
            _time(t.get("timeAdded"))
            for t in taints
            if t.get("key") == "node.kubernetes.io/unschedulable"
        ]
        cordoned = next((a for a in added if a is not None), None)
        problems.append((Problem.NODE_CORDONED, "spec.unschedulable", cordoned))
    if not problems:
        return HEALTHY_NODE
    return NodeHealth(tuple(problems), cordoned)


def rollout_health(kind: str, status: object) -> RolloutHealth | None:
    """A Deployment's rollout that is stuck or under way; None when it is complete."""
    if kind != "deployment" or not isinstance(status, Mapping):
        return None
    progressing = _conditions(status).get("Progressing")
    if progressing is None:
        return None
    reason = str(progressing.get("reason") or "")
    message = str(progressing.get("message") or reason)
    if progressing.get("status") == "False":
        return RolloutHealth(
            Problem.ROLLOUT_STUCK,
            f"Progressing=False: {message}",
            _time(progressing.get("lastTransitionTime")),
        )
    if progressing.get("status") == "True" and reason == "ReplicaSetUpdated":
        return RolloutHealth(
            Problem.ROLLOUT_IN_PROGRESS, message, _time(progressing.get("lastUpdateTime"))
        )
    return None


def pod_conditions(
    cluster: str, where: str, ref: AssetRef, health: PodHealth, *, restarts: int
) -> list[HealthCondition]:
    """The conditions of one pod (``where``: ``pod ns/name``). A pod in a crash loop or an
    image pull back-off is not also reported as not ready or restarting: one cause, one signal.
    ``restarts``: how many restarts make a container "restarting repeatedly"."""
    if health is HEALTHY_POD:
        return []
    found: list[HealthCondition] = []
    if health.phase == "Failed" and health.reason == "Evicted":
        return [HealthCondition(cluster, where, Problem.EVICTED, "evicted", (ref,), None)]
    for c in health.containers:
        if (problem := _WAITING.get(c.waiting or "")) is not None:
            detail = f"container {c.name}: {c.waiting}, {c.restarts} restarts"
            found.append(
                HealthCondition(
                    cluster, where, problem, detail, (ref,), health.ready_since, c.restarts
                )
            )
    if found:
        return found
    for c in health.containers:
        if c.restarts >= restarts:
            detail = f"container {c.name} restarted {c.restarts} times"
            found.append(
                HealthCondition(
                    cluster, where, Problem.RESTARTING, detail, (ref,), c.last_exit, c.restarts
                )
            )
    if health.ready is False and health.phase in ("Pending", "Running"):
        found.append(
            HealthCondition(
                cluster,
                where,
                Problem.POD_NOT_READY,
                f"phase {health.phase}, Ready=False",
                (ref,),
                health.ready_since,
            )
        )
    return found


def node_conditions(
    cluster: str, name: str, refs: tuple[AssetRef, ...], health: NodeHealth
) -> list[HealthCondition]:
    return [
        HealthCondition(cluster, f"node {name}", problem, detail, refs, since)
        for problem, detail, since in health.problems
    ]
