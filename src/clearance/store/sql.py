"""``SqlStore``: the :class:`~clearance.store.interface.Store` on SQLite or PostgreSQL.

One class, one code path for both databases; the differences (SQLite's single writer and
pragmas, PostgreSQL's row lock on the chain head) live in ``engine.py`` and ``decisions.py``.
Each method is one transaction: reads on a plain connection, writes through
:meth:`Database.write`, which commits before the method returns.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from clearance.model.checks import CheckEvidence, PostDeployCheck, Relation, release_key
from clearance.model.coverage import Managed
from clearance.model.decision import Decision
from clearance.model.exemptions import Exemption
from clearance.model.quarantine import DEFAULT_RETENTION, Quarantined, Retention
from clearance.model.reports import Report
from clearance.model.signal import Signal, SignalKind, format_time, utc
from clearance.model.snapshot import Snapshot, target_from_dict
from clearance.model.target import SourceHealth, Target
from clearance.store import (
    audit_log,
    break_glass,
    changes,
    checks,
    coverage,
    decisions,
    deliveries,
    deployments,
    events,
    grants,
    held_gates,
    identities,
    reference,
    signals,
    tokens,
)
from clearance.store.appender import ChainAppender
from clearance.store.chain import prepare
from clearance.store.database import (
    Database,
    build_engine,
    current_revision,
    head_revision,
    is_current,
    migrate,
    safe_url,
)
from clearance.store.interface import (
    Approval,
    AuditRecord,
    BreakGlass,
    Caller,
    Checkpoint,
    ConflictError,
    DecisionFilter,
    DecisionPage,
    ExemptionRecord,
    LogRow,
    ReferenceDocument,
    SchemaError,
    Scope,
    SourceState,
    TargetApproval,
    TokenInfo,
    TrustSnapshot,
    UpsertCounts,
)


class SqlStore:
    """The store over SQLAlchemy. Thread-safe; share one per process.

    Also the :class:`~clearance.store.interface.AuditLog` that ``clearance.audit`` reads. Every
    write to an approval, exception, break-glass grant, token or policy seals its record in the
    chain in the same transaction (``events.record_change``).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._appender = ChainAppender(db)
        # Bumped after each signal or approval write this process makes (committed or not), so
        # a reader caching what it read (the decision service) sees its own process's writes at
        # once; other processes' writes reach it within the reader's own staleness bound.
        self._generations = itertools.count(1)  # next() is atomic under the GIL
        self.signals_generation = 0
        self.approvals_generation = 0
        self.identities_generation = 0
        self.coverage_generation = 0
        # What post-deploy checks a decision reads: any check this process records, and the
        # deployment noted for one target (keyed as deployments are), change it.
        self.checks_generation = 0
        self._deployed_generations: dict[str, int] = {}

    @classmethod
    def open(
        cls, url: str, *, migrate: bool = True, pool_size: int = 8, require_current: bool = True
    ) -> SqlStore:
        """Connect to ``url``; with ``migrate``, bring the schema to head first.

        Without ``migrate`` the schema must already be at head (SchemaError otherwise), so a
        replica never runs against a database it does not understand; ``require_current=False``
        accepts any Clearance schema (the audit commands read the log of an older one).
        An unreachable database raises StoreUnavailableError either way.
        """
        store = cls(Database(build_engine(url, pool_size=pool_size)))
        if migrate:
            store.migrate()
            return store
        with store.db.read("check schema revision") as conn:
            revision = current_revision(conn)
        head = head_revision()
        if revision is None or (require_current and revision != head):
            store.close()
            found = "no Clearance schema" if revision is None else f"schema revision {revision}"
            raise SchemaError(
                f"the database at {safe_url(url)} has {found}; this Clearance needs {head}. "
                "Start `clearance serve` once (it migrates), or open the store with migrate=True"
            )
        return store

    # lifecycle
    def stored_changes(self) -> dict[str, int]:
        with self.db.read("read store changes") as conn:
            return changes.read(conn)

    def migrate(self) -> None:
        migrate(self.db)

    def ready(self) -> bool:
        return is_current(self.db)

    def close(self) -> None:
        self.db.dispose()

    # signals and sources
    def upsert_signals(self, signals_: Sequence[Signal], now: datetime) -> UpsertCounts:
        try:
            with self.db.write("upsert signals") as conn:
                return signals.upsert(conn, signals_, utc(now))
        finally:  # after the commit: a reader that read the old rows sees a new generation
            self.signals_generation = next(self._generations)

    def get_signal(self, uid: str) -> Signal:
        with self.db.read("read signal") as conn:
            return signals.get(conn, uid)

    def signal_status_history(self, uid: str) -> tuple[tuple[datetime, str], ...]:
        with self.db.read("read signal history") as conn:
            return signals.status_history(conn, uid)

    def signals_touching(self, keys: Iterable[str]) -> tuple[Signal, ...]:
        with self.db.read("find signals by asset") as conn:
            return signals.touching(conn, keys)

    def add_quarantined(
        self, items: Sequence[Quarantined], now: datetime, retention: Retention = DEFAULT_RETENTION
    ) -> int:
        with self.db.write("quarantine items") as conn:
            return signals.add_quarantined(conn, items, utc(now), retention)

    def put_identities(
        self, source: str, groups: Sequence[Mapping[str, Sequence[str]]], now: datetime
    ) -> int:
        try:
            with self.db.write(f"store host identities of {source!r}") as conn:
                return identities.put(conn, source, groups, utc(now))
        finally:
            self.identities_generation = next(self._generations)

    def identity_groups(
        self, since: datetime
    ) -> tuple[tuple[str, dict[str, tuple[str, ...]]], ...]:
        with self.db.read("read host identities") as conn:
            return identities.groups(conn, utc(since))

    def put_coverage(self, source: str, agents: Sequence[Managed], now: datetime) -> int:
        try:
            with self.db.write(f"store the agent inventory of {source!r}") as conn:
                return coverage.replace(conn, source, agents, utc(now))
        finally:
            self.coverage_generation = next(self._generations)

    def coverage(self) -> tuple[Managed, ...]:
        with self.db.read("read agent inventories") as conn:
            return coverage.every(conn)

    def record_source_success(self, name: str, now: datetime, watermark: str | None = None) -> None:
        with self.db.write(f"record success of source {name!r}") as conn:
            signals.record_success(conn, name, now, watermark)

    def record_source_failure(self, name: str, error: str, now: datetime) -> None:
        with self.db.write(f"record failure of source {name!r}") as conn:
            signals.record_failure(conn, name, error, now)

    def note_deployed(
        self, decision_id: str, via: str, by: str | None, now: datetime
    ) -> deployments.Deployment:
        """Note that ``decision_id``'s target was deployed (NotFoundError for an unknown one)."""
        record = self.get_decision(decision_id)
        target = dict(record.decision["target"])
        try:
            with self.db.write("note deployment") as conn:
                return deployments.note(conn, decision_id, target, via, by, utc(now))
        finally:
            self._deployed_generations[deployments.key_of(target)] = next(self._generations)

    def record_check(
        self, decision_id: str, report: Report, by: str | None, now: datetime
    ) -> PostDeployCheck:
        """Record a post-deploy check of ``decision_id``'s deploy (NotFoundError for an unknown
        decision), sealed into the chain in the same transaction: it changes later decisions."""
        record = self.get_decision(decision_id)
        target = target_from_dict(dict(record.decision["target"]))
        now = utc(now)
        seed = f"{decision_id}|{report.digest}|{format_time(now)}"
        check = PostDeployCheck(
            id="chk_" + hashlib.sha256(seed.encode()).hexdigest()[:24],
            decision_id=decision_id,
            environment=target.environment,
            target_key=target.key,
            at=now,
            report=report,
        )
        try:
            with self.db.write("record post-deploy check") as conn:
                checks.add(conn, check, release_key(target.images), by)
                events.record_change(
                    conn, events.EventKind.CHECK_RECORDED, events.CHECK, check.id, None, by, now
                )
        finally:
            self.checks_generation = next(self._generations)
        return check

    def checks_generation_of(self, target: Target) -> int:
        """Changes whenever :meth:`checks_for` of ``target`` may, by this process's writes
        (numbers only grow, so the larger of the two changes when either does)."""
        deployed = self._deployed_generations.get(deployments.key_of(target.to_dict()), 0)
        return max(self.checks_generation, deployed)

    def checks_for(self, target: Target) -> tuple[CheckEvidence, ...]:
        """The failed latest checks a decision of ``target`` reads: of the release running on
        it, and of the same release (image digests) in each other environment."""
        release = release_key(target.images)
        with self.db.read("read post-deploy checks") as conn:
            found = []
            deployed = checks.deployed_decision(conn, deployments.key_of(target.to_dict()))
            previous = checks.latest_of_target(conn, target.environment, target.key, deployed)
            if previous is not None:
                found.append(CheckEvidence(previous, Relation.PREVIOUS))
            if release is not None:
                found += [
                    CheckEvidence(c, Relation.RELEASE)
                    for c in checks.latest_of_release(conn, release, target.environment)
                ]
        return tuple(c for c in found if c.check.failed)

    def list_checks(self, decision_id: str) -> list[PostDeployCheck]:
        with self.db.read("list post-deploy checks") as conn:
            return checks.of_decision(conn, decision_id)

    def list_deployments(self) -> list[deployments.Deployment]:
        with self.db.read("list deployments") as conn:
            return deployments.every(conn)

    def claim_watch_alert(self, key: str, decision_id: str, digest: str, now: datetime) -> bool:
        """Whether this caller raises the alert for ``digest`` (once, across replicas)."""
        with self.db.write("claim watch alert") as conn:
            return deployments.claim_alert(conn, key, decision_id, digest, utc(now))

    def hold_gate(self, decision_id: str, gate: dict[str, Any], now: datetime) -> None:
        """Keep a gate waiting for ``decision_id``'s approvals (GitHub protection rules)."""
        with self.db.write("hold gate") as conn:
            held_gates.hold(conn, decision_id, gate, utc(now))

    def release_gate(self, decision_id: str, now: datetime) -> dict[str, Any] | None:
        """The held gate, to this caller only: a second release (here or on another replica)
        gets None."""
        with self.db.write("release gate") as conn:
            return held_gates.release(conn, decision_id, utc(now))

    def save_callback(
        self,
        callback_id: str,
        decision_id: str,
        integration: str,
        record: dict[str, Any],
        now: datetime,
    ) -> None:
        """Keep (or update) one callback an integration sent, with its attempts."""
        with self.db.write("record callback") as conn:
            held_gates.save_callback(conn, callback_id, decision_id, integration, record, utc(now))

    def list_callbacks(
        self, decision_id: str | None = None, outcome: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Callbacks oldest first: of one decision, or with one outcome (``failed``)."""
        with self.db.read("list callbacks") as conn:
            return held_gates.list_callbacks(conn, decision_id, outcome, limit)

    def claim_delivery(self, integration: str, delivery_id: str, now: datetime) -> datetime | None:
        """Note a signed webhook delivery as received; None the first time, else when it was
        first received (a replay, on this replica or another)."""
        try:
            with self.db.write("note webhook delivery") as conn:
                return deliveries.claim(conn, integration, delivery_id, utc(now))
        except ConflictError:  # a concurrent claim of the same id won the insert
            return utc(now)

    def put_reference(self, name: str, body: bytes, now: datetime) -> ReferenceDocument:
        with self.db.write(f"store reference {name!r}") as conn:
            return reference.put(conn, name, body, utc(now))

    def get_reference(self, name: str) -> ReferenceDocument | None:
        with self.db.read(f"read reference {name!r}") as conn:
            return reference.get(conn, name)

    def active_signals_of_kind(self, kind: SignalKind) -> tuple[Signal, ...]:
        with self.db.read(f"read active {kind.value} signals") as conn:
            return tuple(reference.active_of_kind(conn, kind))

    def get_watermark(self, name: str) -> str | None:
        with self.db.read(f"read watermark of source {name!r}") as conn:
            return signals.get_watermark(conn, name)

    def set_watermark(self, name: str, watermark: str | None) -> None:
        with self.db.write(f"set watermark of source {name!r}") as conn:
            signals.set_watermark(conn, name, watermark)

    def source_states(self) -> tuple[SourceState, ...]:
        with self.db.read("read source health") as conn:
            return signals.states(conn)

    def source_health(self) -> tuple[SourceHealth, ...]:
        return tuple(state.health() for state in self.source_states())

    # policies and the decision log
    def put_policy(self, digest: str, text: bytes, now: datetime, by: str | None = None) -> None:
        with self.db.write("store policy") as conn:
            events.lock_head(conn)  # before the policies row: the appender's lock order
            if decisions.put_policy(conn, digest, text, utc(now)):
                kind, actor = events.EventKind.POLICY_STORED, by or "service"
                events.record_change(conn, kind, events.POLICY, digest, None, actor, now)

    def get_policy(self, digest: str) -> bytes:
        with self.db.read("read policy") as conn:
            return decisions.get_policy(conn, digest)

    def append_decision(
        self,
        decision: Decision,
        snapshot: Snapshot,
        caller: Caller,
        now: datetime,
        policy_text: bytes | None = None,
    ) -> AuditRecord:
        prepared = prepare(decision, snapshot, caller, now)
        policy = None if policy_text is None else (decision.policy_digest, policy_text)
        return self._appender.append(prepared, policy, utc(now))

    def get_decision(self, decision_id: str) -> AuditRecord:
        with self.db.read("read decision") as conn:
            return decisions.get(conn, decision_id)

    def list_decisions(
        self, filters: DecisionFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> DecisionPage:
        with self.db.read("list decisions") as conn:
            return decisions.page(conn, filters or DecisionFilter(), limit, cursor)

    def iter_records(
        self, since_seq: int = 0, since: datetime | None = None
    ) -> Iterator[AuditRecord]:
        return decisions.iterate(self.db, since_seq, since)

    # approvals
    def add_approval(self, approval: Approval) -> None:
        try:
            with self.db.write("record approval") as conn:
                grants.add_approval(conn, approval)
                kind, actor = events.approval_kind(approval.outcome), approval.approver
                events.record_change(
                    conn, kind, events.APPROVAL, approval.id, None, actor, approval.at
                )
        finally:
            self.approvals_generation = next(self._generations)

    def list_approvals(self, decision_id: str) -> tuple[Approval, ...]:
        with self.db.read("list approvals") as conn:
            return grants.list_approvals(conn, decision_id)

    def target_approvals(
        self, environment: str, target_key: str, since: datetime
    ) -> list[TargetApproval]:
        with self.db.read("list approvals for a target") as conn:
            return grants.target_approvals(conn, environment, target_key, since)

    # exceptions
    def add_exemption(self, exemption: Exemption, now: datetime) -> ExemptionRecord:
        with self.db.write("add exception") as conn:
            added = grants.add_exemption(conn, exemption, utc(now))
            kind, actor = events.EventKind.EXCEPTION_CREATED, exemption.created_by
            events.record_change(conn, kind, events.EXCEPTION, exemption.id, None, actor, now)
            return added

    def list_exemptions(
        self, now: datetime, *, include_inactive: bool = False
    ) -> tuple[ExemptionRecord, ...]:
        with self.db.read("list exceptions") as conn:
            return grants.list_exemptions(conn, utc(now), include_inactive)

    def revoke_exemption(self, exemption_id: str, by: str, now: datetime) -> ExemptionRecord:
        with self.db.write("revoke exception") as conn:
            before = events.read_state(conn, events.EXCEPTION, exemption_id)
            revoked = grants.revoke_exemption(conn, exemption_id, by, utc(now))
            kind = events.EventKind.EXCEPTION_REVOKED
            events.record_change(conn, kind, events.EXCEPTION, exemption_id, before, by, now)
            return revoked

    # break-glass
    def add_break_glass(self, grant: BreakGlass) -> None:
        with self.db.write("record break-glass") as conn:
            break_glass.add(conn, grant)
            kind, actor = events.EventKind.BREAK_GLASS_REQUESTED, grant.requested_by
            events.record_change(conn, kind, events.BREAK_GLASS, grant.id, None, actor, grant.at)

    def confirm_break_glass(self, grant_id: str, by: str, now: datetime) -> BreakGlass:
        with self.db.write("confirm break-glass") as conn:
            before = events.read_state(conn, events.BREAK_GLASS, grant_id)
            confirmed = break_glass.confirm(conn, grant_id, by, utc(now))
            kind = events.EventKind.BREAK_GLASS_CONFIRMED
            events.record_change(conn, kind, events.BREAK_GLASS, grant_id, before, by, now)
            return confirmed

    def mark_break_glass_notified(self, grant_id: str, now: datetime) -> BreakGlass:
        with self.db.write("note break-glass notification") as conn:
            return break_glass.mark(conn, grant_id, "notified_at", utc(now))

    def revoke_break_glass(self, grant_id: str, now: datetime, by: str | None = None) -> BreakGlass:
        with self.db.write("revoke break-glass") as conn:
            before = events.read_state(conn, events.BREAK_GLASS, grant_id)
            revoked = break_glass.mark(conn, grant_id, "revoked_at", utc(now))
            kind = events.EventKind.BREAK_GLASS_REVOKED
            events.record_change(conn, kind, events.BREAK_GLASS, grant_id, before, by, now)
            return revoked

    def list_break_glass(
        self, now: datetime, *, target_key: str | None = None, include_expired: bool = False
    ) -> tuple[BreakGlass, ...]:
        with self.db.read("list break-glass") as conn:
            return break_glass.listing(conn, utc(now), target_key, include_expired)

    # API tokens
    def create_token(
        self,
        name: str,
        scopes: Iterable[Scope | str],
        now: datetime,
        expires_at: datetime | None = None,
        owner: str | None = None,
        by: str | None = None,
    ) -> tuple[TokenInfo, str]:
        with self.db.write("create API token") as conn:
            info, secret = tokens.create(conn, name, scopes, utc(now), expires_at, owner)
            kind = events.EventKind.TOKEN_CREATED
            events.record_change(conn, kind, events.TOKEN, info.id, None, by, now)
            return info, secret

    def verify_token(self, secret: str, now: datetime) -> TokenInfo:
        now = utc(now)
        with self.db.read("verify API token") as conn:
            info, stale = tokens.lookup(conn, secret, now)
        if stale:
            with self.db.write("note API token use") as conn:
                tokens.touch(conn, info.id, now)
        return info

    def list_tokens(self) -> tuple[TokenInfo, ...]:
        with self.db.read("list API tokens") as conn:
            return tokens.list_all(conn)

    def revoke_token(self, token_id: str, now: datetime, by: str | None = None) -> TokenInfo:
        with self.db.write("revoke API token") as conn:
            before = events.read_state(conn, events.TOKEN, token_id)
            revoked = tokens.revoke(conn, token_id, utc(now))
            kind = events.EventKind.TOKEN_REVOKED
            events.record_change(conn, kind, events.TOKEN, token_id, before, by, now)
            return revoked

    # the audit log (the AuditLog role: what verify, export and the checkpointer read)
    def chain_head(self) -> tuple[int, str]:
        return audit_log.chain_head(self.db)

    def log_rows(self, upto: int) -> Iterator[LogRow]:
        return audit_log.log_rows(self.db, upto)

    def first_row_past_head(self) -> int | None:
        return audit_log.first_row_past_head(self.db)

    def chain_links(self, after: int, upto: int) -> Iterator[tuple[int, str, str]]:
        return audit_log.chain_links(self.db, after, upto)

    def log_records(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return audit_log.log_records(self.db, since)

    def trust_snapshot(self) -> TrustSnapshot:
        return audit_log.trust_snapshot(self.db)

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        audit_log.add_checkpoint(self.db, checkpoint)

    def checkpoints(self) -> tuple[Checkpoint, ...]:
        return audit_log.checkpoints(self.db)

    def latest_checkpoint(self) -> Checkpoint | None:
        found = audit_log.checkpoints(self.db, latest_only=True)
        return found[0] if found else None
