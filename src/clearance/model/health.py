"""Health conditions: what an inventory sees wrong with the target itself, as of a decision.

A crash-looping pod, a stuck rollout or a node under memory pressure is not a security finding,
but it is a reason not to change the target right now. The inventory reports each as a
:class:`HealthCondition` (a fact about an object, with the time it started when the object
says), and :func:`health_signals` turns the conditions into ``health`` signals *at the
decision's* ``now``, so they are scored, ruled on and recorded like any other signal, and
replaying the decision reads the same signals from its snapshot.

Two shapes of condition:

* a **state** (``CrashLoopBackOff``, ``NodeNotReady``…) holds now: its signal is last seen at
  ``now``, so it does not decay while it lasts;
* an **event** (the last restart, an eviction) happened at ``at``: its signal is last seen then,
  and fades with the policy's ``half_lives.health`` like any finding.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from clearance.model.assets import AssetRef
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid

HEALTH_SOURCE = "kubernetes"
_MAX_DETAIL = 500  # a title stays readable (and far below the signal's bound)


class Problem(StrEnum):
    """What is wrong; the value is the signal's ``rule`` (what policies and exceptions name)."""

    CRASH_LOOP = "CrashLoopBackOff"
    IMAGE_PULL = "ImagePullBackOff"
    POD_NOT_READY = "PodNotReady"
    RESTARTING = "Restarting"
    EVICTED = "Evicted"
    ROLLOUT_STUCK = "RolloutStuck"
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    NODE_NOT_READY = "NodeNotReady"
    NODE_CORDONED = "NodeCordoned"
    MEMORY_PRESSURE = "MemoryPressure"
    DISK_PRESSURE = "DiskPressure"
    PID_PRESSURE = "PIDPressure"

    @property
    def severity(self) -> Severity:
        """How bad each is, as an adapter maps a vendor's severity; the weights are the
        policy's (``scoring.kinds.health``)."""
        return _SEVERITY[self]

    @property
    def is_event(self) -> bool:
        return self in (Problem.RESTARTING, Problem.EVICTED)


_SEVERITY = {
    Problem.CRASH_LOOP: Severity.HIGH,
    Problem.IMAGE_PULL: Severity.HIGH,
    Problem.ROLLOUT_STUCK: Severity.HIGH,
    Problem.NODE_NOT_READY: Severity.HIGH,
    Problem.POD_NOT_READY: Severity.MEDIUM,
    Problem.RESTARTING: Severity.MEDIUM,
    Problem.MEMORY_PRESSURE: Severity.MEDIUM,
    Problem.DISK_PRESSURE: Severity.MEDIUM,
    Problem.PID_PRESSURE: Severity.MEDIUM,
    Problem.EVICTED: Severity.LOW,
    Problem.ROLLOUT_IN_PROGRESS: Severity.LOW,
    Problem.NODE_CORDONED: Severity.LOW,
}


class HealthCondition(msgspec.Struct, frozen=True):
    """One problem of one object. ``subject`` names the object (``pod shop/checkout-7d9-x2``,
    ``node duckboat-01``, ``deployment shop/checkout``) and, with ``cluster`` and the problem,
    makes the signal's uid; ``assets`` are the refs it is filed under (the pod, the node's
    names, the workload); ``since`` is when the state began or the event happened, if the
    object says; ``count`` the restarts behind a crash loop or restart."""

    cluster: str
    subject: str
    problem: Problem
    detail: str
    assets: tuple[AssetRef, ...]
    since: datetime | None = None
    count: int = 1


def _order(c: HealthCondition) -> tuple[str, str, str, str, str, int, tuple[str, ...]]:
    since = "" if c.since is None else c.since.isoformat()
    return (
        c.cluster,
        c.subject,
        c.problem.value,
        c.detail,
        since,
        c.count,
        tuple(map(str, c.assets)),
    )


def health_signals(
    conditions: tuple[HealthCondition, ...], now: datetime, source: str = HEALTH_SOURCE
) -> tuple[Signal, ...]:
    """The ``health`` signals of ``conditions`` as of ``now``. Pure: same input, same signals.

    A state is last seen at ``now`` (it holds now), first seen when it began; an event is seen
    when it happened. A time after ``now`` (clock skew between the cluster and this process)
    counts as ``now``.
    """
    # One signal per object and problem (two crash-looping containers are one pod's crash loop):
    # the earliest start, the most restarts, every detail.
    merged: dict[tuple[str, str, Problem], list[HealthCondition]] = {}
    for c in sorted(set(conditions), key=_order):
        merged.setdefault((c.cluster, c.subject, c.problem), []).append(c)
    signals = []
    for (cluster, subject, problem), group in sorted(merged.items()):
        starts = [now if c.since is None or c.since > now else c.since for c in group]
        since = min(starts)
        last = max(starts) if problem.is_event else now
        details = "; ".join(dict.fromkeys(c.detail for c in group))[:_MAX_DETAIL]
        assets = tuple(dict.fromkeys(a for c in group for a in c.assets))
        signals.append(
            Signal(
                uid=SignalUid(f"{source}:{cluster}/{subject.replace(' ', '/')}/{problem.value}"),
                source=source,
                kind=SignalKind.HEALTH,
                title=f"{problem.value}: {subject} in cluster {cluster} ({details})",
                severity=problem.severity,
                confidence=1.0,  # read from the API server, not inferred
                status=SignalStatus.OPEN,
                first_seen=since,
                last_seen=last,
                assets=assets,
                rule=problem.value,
                count=max(1, *(c.count for c in group)),
            )
        )
    return tuple(signals)
