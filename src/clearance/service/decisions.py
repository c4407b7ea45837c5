"""Decide from the store, record, and say where the decision stands with its approvals.

The snapshot is assembled by :func:`clearance.snapshot.assemble` from :class:`StoredEvidence`
(what ``sync`` and the push receivers stored) and the configured inventory: the same assembly a
local ``clearance check`` uses. The pure :func:`clearance.engine.decide` then decides, and the
decision is appended to the hash-chained log **before** it is returned.

A configured source the store has never heard from is reported as never having succeeded, so
the ``source_down`` stance applies: the service does not treat silence as safety.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clearance.engine import decide
from clearance.inventory.interface import Inventory
from clearance.model.decision import Decision
from clearance.model.reports import Report
from clearance.model.snapshot import Snapshot
from clearance.model.target import SourceHealth, Target
from clearance.policy.compiled import Policy
from clearance.render.hints import hints
from clearance.service.approvals import ApprovalBook, ApprovalState
from clearance.service.breakglass import BreakGlassDesk
from clearance.service.signers import requested_by
from clearance.snapshot import StoredEvidence, assemble
from clearance.store.interface import AuditRecord, Caller, ExemptionRecord, Store
from clearance.store.read_cache import Recent

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A recorded decision and where it stands now (approvals, break-glass)."""

    record: AuditRecord
    decision: Decision | None  # None when read back from the log (the record holds its JSON)
    state: ApprovalState

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.record.decision_id,
            "seq": self.record.seq,
            "hash": self.record.hash,
            "status": self.state.status.value,
            "exit_code": self.state.exit_code,
            "decision": dict(self.record.decision),
            "requested_by": requested_by(self.record),
            "approval": self.state.to_dict(),
            # Advice beside the decision, never inside it: the decision's bytes are the record.
            "hints": [h.to_dict() for h in hints(self._decision())],
        }

    def _decision(self) -> Decision:
        return self.decision or Decision.from_dict(dict(self.record.decision))


class DecisionService:
    """Thread-safe; one per process. ``audit`` may be disabled only by the benchmark factory."""

    def __init__(
        self,
        store: Store,
        inventory: Inventory,
        policy: Policy,
        policy_text: bytes,
        source_names: Sequence[str],
        approvals: ApprovalBook,
        break_glass: BreakGlassDesk,
        clock: Clock,
        *,
        read_cache: float = 0.0,
        on_append_failure: Callable[[], object] = lambda: None,
        _audit: bool = True,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self.policy = policy
        self.policy_text = policy_text
        self.source_names = tuple(source_names)
        self.approvals = approvals
        self.break_glass = break_glass
        self.clock = clock
        self.on_append_failure = on_append_failure
        self._audit = _audit
        self._policy_stored = False
        self.evidence = StoredEvidence(store, read_cache)
        # Told of each decision recorded (notifications): each must return at once (queue its
        # work); a listener's failure is logged, never the caller's.
        self.recorded: list[Callable[[Outcome], object]] = []
        # Every ``approve`` decision reads them: kept as the signals are, by the same counter.
        approvals.cache_reads(read_cache, self.evidence.changes.of("approvals"))

    def snapshot(
        self,
        target: Target,
        now: datetime,
        manifest: Mapping[str, Any] | None = None,
        reports: tuple[Report, ...] = (),
    ) -> Snapshot:
        """``manifest``: the object about to be applied (admission, API), when the caller has it;
        ``reports``: what the request brought about the change (test results, code scanning)."""
        return assemble(
            target,
            now,
            inventory=self.inventory,
            evidence=self.evidence,
            expected=self.source_names,
            manifest=manifest,
            reports=reports,
        )

    @property
    def health_cache(self) -> Recent[tuple[SourceHealth, ...]]:
        return self.evidence.health_cache

    @property
    def exemption_cache(self) -> Recent[tuple[ExemptionRecord, ...]]:
        return self.evidence.exemption_cache

    def decide(
        self,
        target: Target,
        caller: Caller,
        manifest: Mapping[str, Any] | None = None,
        *,
        computing: AbstractContextManager[Any] | None = None,
        record: bool = True,
        reports: tuple[Report, ...] = (),
        deadline: Callable[[str], object] | None = None,
    ) -> Outcome:
        """Decide ``target`` now, record it, and return it with its approval state.

        ``computing`` (a semaphore, say) is held while the decision is computed and released
        before the append waits for its group commit: callers bound the CPU-bound part without
        bounding how many records can share one commit. ``record=False`` is a dry run (an
        admission ``dryRun``): decided from the same snapshot, with its approval state, but not
        appended to the log.

        ``deadline`` (the request's, :mod:`clearance.server.intake`) raises when the answer
        could no longer arrive in time: it is asked once computing may start and again before
        the append, so a request refused for its deadline leaves no record behind.
        """
        with computing or nullcontext():
            if deadline is not None:
                deadline("the decision was computed")
            # Read the clock once computing: decisions then read the caches in time order.
            now = self.clock()
            self.policy.environment(target.environment)  # unknown environment: TargetError
            snapshot = self.snapshot(target, now, manifest, reports)
            decision = decide(target, snapshot, self.policy, now)
        if record and self._audit:
            if deadline is not None:
                deadline("the decision was recorded")
            entry = self.record(decision, snapshot, caller, now)
        else:  # a dry run, or benchmark-only (see bench/bench_http_decisions.py)
            entry = _unrecorded(decision, caller)
        state = self.approvals.state(entry, now, self.break_glass.active_for(entry, now))
        outcome = Outcome(entry, decision, state)
        if record and self._audit:
            for listener in self.recorded:
                try:
                    listener(outcome)
                except Exception:
                    logger.exception("telling %s of decision %s failed", listener, decision.id)
        return outcome

    def redecide(self, target: Target, now: datetime) -> tuple[Decision, Snapshot]:
        """Decide ``target`` at ``now`` from the store's evidence, without recording it (the
        watcher records only what it alerts on, with :meth:`record`)."""
        snapshot = self.snapshot(target, now)
        return decide(target, snapshot, self.policy, now), snapshot

    def record(
        self, decision: Decision, snapshot: Snapshot, caller: Caller, now: datetime
    ) -> AuditRecord:
        """Append ``decision`` with its snapshot to the log (the policy text once). A failure
        is counted (``on_append_failure``) and raised: nothing unrecorded is answered, and a
        gate that cannot record cannot clear anything, so an operator must hear of it."""
        policy_text = None if self._policy_stored else self.policy_text
        try:
            entry = self.store.append_decision(decision, snapshot, caller, now, policy_text)
        except Exception:
            self.on_append_failure()
            raise
        self._policy_stored = True
        self.evidence.recorded(entry)  # the target's last decision, for its next drift check
        return entry

    def get(self, decision_id: str) -> Outcome:
        """A recorded decision with its approval state as of now (NotFoundError if unknown)."""
        now = self.clock()
        record = self.store.get_decision(decision_id)
        state = self.approvals.state(record, now, self.break_glass.active_for(record, now))
        return Outcome(record, None, state)


def _unrecorded(decision: Decision, caller: Caller) -> AuditRecord:
    return AuditRecord(
        schema_version=0,
        seq=0,
        decision_id=decision.id,
        at=decision.at,
        decision=decision.to_dict(),
        snapshot={},
        policy_digest=decision.policy_digest,
        caller=caller.to_dict(),
        prev_hash="",
        hash="",
    )
