"""Sample decisions for store and audit tests: real decisions by the real engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
import yaml

from builders import NOW, POLICY_YAML, exposure, fresh, signal, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import ChangeInfo, Decision, Signal, Snapshot, Target
from clearance.policy.compiled import Policy
from clearance.policy.load import load_policy_text
from clearance.store.interface import AuditRecord, Caller
from clearance.store.sql import SqlStore

POLICY_TEXT = yaml.safe_dump(yaml.safe_load(POLICY_YAML)).encode()


def load_policy(text_: bytes, origin: str) -> Policy:
    """The shipped loader, as ``clearance check`` and ``clearance audit replay`` use it."""
    return load_policy_text(text_, origin)


POLICY = load_policy(POLICY_TEXT, "<test>")


@dataclass(frozen=True)
class Sample:
    decision: Decision
    snapshot: Snapshot
    caller: Caller


def sample(
    i: int = 0,
    *,
    environment: str = "production",
    actor: str = "dev@example.com",
    signals: tuple[Signal, ...] | None = None,
    at: datetime | None = None,
) -> Sample:
    """A real decision (by the real engine) on a real snapshot; ``i`` makes it distinct."""
    now = at or NOW + timedelta(seconds=i)
    tgt: Target = msgspec.structs.replace(
        target(environment), change=ChangeInfo(commit=f"c{i}", actor=actor)
    )
    exp = exposure(tgt, direct=("pod:shop/api-1",), host=("host:node-1",))
    found = signals if signals is not None else (signal("edr:1"),)
    snap = Snapshot(exposure=exp, matches=SignalIndex(list(found)).match(exp), sources=(fresh(),))
    return Sample(decide(tgt, snap, POLICY, now), snap, Caller(actor, "token", token_id="tok_1"))


def append(store: SqlStore, s: Sample, policy: bytes | None = POLICY_TEXT) -> AuditRecord:
    return store.append_decision(s.decision, s.snapshot, s.caller, s.decision.at, policy)
