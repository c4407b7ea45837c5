"""Replay a recorded decision: same snapshot, same policy bytes, same time; expect the same bytes.

The record holds the whole evidence (``Snapshot.to_dict``) and the policy digest; the store
keeps the policy's exact bytes under that digest. Replay rebuilds both, runs the pure
``decide`` at the decision's own time, and compares the canonical JSON (RFC 8785) of the
recorded and the replayed decision byte for byte. A difference means the engine or the policy
loader changed meaning since the decision was made; the unified diff (of an indented rendering,
so it points at the member that changed) shows where.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from clearance.errors import ClearanceError, ReplayError
from clearance.model.canonical import canonical_json
from clearance.model.signal import parse_time
from clearance.model.snapshot import snapshot_from_dict, target_from_dict
from clearance.policy.compiled import Policy
from clearance.store.interface import AuditRecord, DecisionLogStore

PolicyLoader = Callable[[bytes, str], Policy]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    decision_id: str
    recorded: bytes  # canonical JSON of the decision as recorded
    replayed: bytes  # canonical JSON of the decision decided again
    diff: str  # unified diff, empty when identical

    @property
    def identical(self) -> bool:
        return self.recorded == self.replayed


def default_policy_loader() -> PolicyLoader:
    """``clearance.policy.load.load_policy_text``: the loader ``clearance check`` uses."""
    from clearance.policy.load import load_policy_text  # noqa: PLC0415 - YAML only when replaying

    return load_policy_text


def replay(
    store: DecisionLogStore, decision_id: str, load: PolicyLoader | None = None
) -> ReplayResult:
    return replay_record(store, store.get_decision(decision_id), load)


def replay_all(store: DecisionLogStore, load: PolicyLoader | None = None) -> Iterator[ReplayResult]:
    """Replay every record in chain order (policies are loaded once per digest)."""
    loader = load or default_policy_loader()
    cache: dict[str, Policy] = {}

    def cached(text: bytes, origin: str) -> Policy:
        if origin not in cache:
            cache[origin] = loader(text, origin)
        return cache[origin]

    for record in store.iter_records():
        yield replay_record(store, record, cached)


def replay_record(
    store: DecisionLogStore, record: AuditRecord, load: PolicyLoader | None = None
) -> ReplayResult:
    from clearance.engine import decide  # noqa: PLC0415 - the engine only when replaying

    loader = load or default_policy_loader()
    text = store.get_policy(record.policy_digest)
    origin = f"<audit policy {record.policy_digest}>"
    try:
        policy = loader(text, origin)
    except ClearanceError as exc:
        raise ReplayError(
            f"decision {record.decision_id}: its policy {record.policy_digest} no longer loads: "
            f"{exc}"
        ) from exc
    if policy.digest != record.policy_digest:
        raise ReplayError(
            f"decision {record.decision_id}: stored policy bytes hash to {policy.digest}, "
            f"not the recorded {record.policy_digest}"
        )
    snapshot = snapshot_from_dict(dict(record.snapshot))
    target = target_from_dict(dict(record.decision["target"]))
    now = parse_time(str(record.decision["at"]))
    replayed = decide(target, snapshot, policy, now).to_json()
    recorded = canonical_json(dict(record.decision))
    return ReplayResult(
        decision_id=record.decision_id,
        recorded=recorded,
        replayed=replayed,
        diff=_diff(recorded, replayed, record.decision_id),
    )


def _diff(recorded: bytes, replayed: bytes, decision_id: str) -> str:
    if recorded == replayed:
        return ""
    before, after = _lines(recorded), _lines(replayed)
    return "".join(
        difflib.unified_diff(
            before, after, f"{decision_id} (recorded)", f"{decision_id} (replayed)"
        )
    )


def _lines(canonical: bytes) -> list[str]:
    data: Any = json.loads(canonical)
    return [line + "\n" for line in json.dumps(data, indent=2, ensure_ascii=False).splitlines()]
