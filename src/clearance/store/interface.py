"""The contract of the durable store: open this one file to learn what the service can keep.

The store holds what outlives one ``clearance check``: signals (upserted by uid, with status
history and an asset index), source health and watermarks, quarantined vendor items, the policies
decisions were made under, the hash-chained decision log, approvals, exceptions, break-glass
grants and API tokens. Open one with ``clearance.store.open_store(url)`` (SQLite or PostgreSQL;
``clearance.store.database_url()`` resolves ``--database`` / ``$CLEARANCE_DATABASE_URL``).

The contract is split by role (:class:`SignalStore`, :class:`SourceHealthStore`,
:class:`ReferenceStore`, :class:`DecisionLogStore`, :class:`GrantStore`, :class:`TokenStore`,
:class:`GateStore`, :class:`StoreLifecycle`); callers are typed against the roles they use, and
:class:`Store` is their union for the few that open and hand out the whole store.

Rules every implementation follows:

* **Time is an argument.** Every method that stamps a row takes ``now``; nothing reads a clock.
* **Returned only after commit.** A method returns once its transaction is durable;
  :meth:`Store.append_decision` in particular returns the sealed :class:`AuditRecord` only after
  the record is committed, so a caller never acts on a decision the log could lose.
* **One chain.** Appends are serialized (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a row lock on the
  chain head), so concurrent writers extend one chain and never fork it.
* **Every trust change is a record.** Approvals, exceptions, break-glass grants, API tokens and
  stored policies are sealed into the same chain in the transaction that writes their row
  (``clearance.store.events``); :class:`AuditLog` is what ``clearance.audit`` reads back.
* **No secret at rest.** API tokens are stored as sha256 hashes; the secret is returned once, by
  :meth:`Store.create_token`. A :class:`Caller` has no field that could hold a secret.
* **Our errors only.** Driver and SQL errors are re-raised as :class:`StoreError` subclasses
  ``from`` the original, naming the operation, never the URL's password.

Error tree (defined in :mod:`clearance.errors`, re-exported here)::

    StoreError
    ├── StoreUnavailableError   cannot connect, busy past the lock timeout, or the decision log's
    │                           append queue is full: retry shortly (HTTP 503 + Retry-After)
    ├── SchemaError             migrations are not current (readiness fails), or a bad URL
    ├── NotFoundError           no such decision, policy, exception or token
    ├── ConflictError           a duplicate (approval by the same principal, token name, exception
    │                           id, GitHub delivery), or a break-glass confirmed already, by its
    │                           own requester, or once it expired or was revoked
    └── TokenError              a presented API token is unknown, revoked or expired (HTTP 401)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NewType, Protocol

from clearance.errors import (
    ConflictError,
    InvalidPrincipalError,
    NotFoundError,
    SchemaError,
    StoreError,
    StoreUnavailableError,
    TokenError,
)
from clearance.model.artifact import Artifact
from clearance.model.canonical import with_present
from clearance.model.checks import CheckEvidence, PostDeployCheck
from clearance.model.coverage import Managed
from clearance.model.decision import Decision
from clearance.model.exemptions import Exemption
from clearance.model.principal import USER, PrincipalId, parse, principal, recorded
from clearance.model.quarantine import DEFAULT_RETENTION, Quarantined, Retention
from clearance.model.reports import Report
from clearance.model.signal import Signal, SignalKind
from clearance.model.snapshot import Snapshot
from clearance.model.target import SourceHealth, Target

__all__ = [
    "AUDIT_SCHEMA_VERSION",
    "GENESIS_HASH",
    "Approval",
    "ApprovalOutcome",
    "AuditLog",
    "AuditRecord",
    "BreakGlass",
    "Caller",
    "CheckStore",
    "Checkpoint",
    "ConflictError",
    "DecisionFilter",
    "DecisionLogStore",
    "DecisionPage",
    "ExemptionRecord",
    "GateStore",
    "GrantStore",
    "LogRow",
    "NotFoundError",
    "ReferenceStore",
    "SchemaError",
    "Scope",
    "SignalStore",
    "SourceHealthStore",
    "SourceState",
    "Store",
    "StoreError",
    "StoreLifecycle",
    "StoreUnavailableError",
    "TargetApproval",
    "TokenError",
    "TokenId",
    "TokenInfo",
    "TokenStore",
    "TrustRow",
    "TrustSnapshot",
    "UpsertCounts",
    "token_owner",
]

AUDIT_SCHEMA_VERSION = 1
GENESIS_HASH = "0" * 64  # prev_hash of the first record

TokenId = NewType("TokenId", str)


# --- errors -------------------------------------------------------------------------------------


# The store's errors are defined in clearance.errors (one tree) and re-exported here.


# --- value types --------------------------------------------------------------------------------


class Scope(StrEnum):
    DECIDE = "decide"
    APPROVE = "approve"
    ADMIN = "admin"
    INGEST = "ingest"


def parse_scopes(words: Iterable[Scope | str]) -> tuple[frozenset[Scope], frozenset[str] | None]:
    """Scopes as granted (``decide``, ``ingest``, ``ingest:falco-eu``…) → the scopes held, and
    the sources an ``ingest`` grant is limited to (None: any push source; ``ingest:NAME`` grants
    ``ingest`` for NAME only, and plain ``ingest`` beside it lifts the limit). Raises ValueError
    naming an unknown scope."""
    scopes: set[Scope] = set()
    sources: set[str] = set()
    unrestricted = False
    for word in words:
        text = str(word.value if isinstance(word, Scope) else word).strip()
        kind, sep, name = text.partition(":")
        if sep and kind == Scope.INGEST.value and _SOURCE_NAME.match(name):
            scopes.add(Scope.INGEST)
            sources.add(name)
            continue
        try:
            scope = Scope(text)
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {text!r} (scopes: {known}, ingest:<source>)") from None
        scopes.add(scope)
        unrestricted = unrestricted or scope is Scope.INGEST
    limit = None if unrestricted or Scope.INGEST not in scopes else frozenset(sources)
    return frozenset(scopes), limit


def scope_words(scopes: frozenset[Scope], sources: frozenset[str] | None) -> list[str]:
    """The inverse of :func:`parse_scopes`: the grants as written, sorted."""
    words = {s.value for s in scopes}
    if sources is not None and Scope.INGEST in scopes:
        words.discard(Scope.INGEST.value)
        words.update(f"ingest:{name}" for name in sources)
    return sorted(words)


_SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked, as recorded in the audit log. Holds identities, never credentials.

    ``subject`` is the caller's principal (``clearance.model.principal``: ``user:alice``, an API
    token's owner or an OIDC claim mapped by the issuer's settings). ``method`` is ``token``,
    ``oidc``, ``webhook``, ``admission`` or ``local``; ``token_id`` is the id of the API token
    used (not its secret); ``issuer`` the OIDC issuer; ``groups`` the groups claims mapped to
    (used for approval rights). ``on_behalf_of`` is the person a CI run acts for, when the
    platform states it in a signed claim (GitHub Actions' ``actor``, GitLab's ``user_login``, a
    signed GitHub webhook's sender): then they, not the CI identity, requested the decision.
    """

    subject: str
    method: str
    token_id: str | None = None
    issuer: str | None = None
    groups: tuple[str, ...] = ()
    on_behalf_of: str | None = None

    @property
    def requester(self) -> str:
        """The person a decision asked by this caller is for."""
        return self.on_behalf_of or self.subject

    def to_dict(self) -> dict[str, Any]:
        return with_present(
            {"subject": self.subject, "method": self.method},
            token_id=self.token_id,
            issuer=self.issuer,
            groups=list(self.groups) if self.groups else None,
            on_behalf_of=self.on_behalf_of,
        )


# Caller.method of the records the watcher after the deploy appends (clearance.service.watch):
# re-decisions of deployed targets, not deploy requests, so reports about traffic skip them.
WATCH_METHOD = "watch"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One sealed entry of the decision log (OPA decision-log style, versioned).

    ``hash`` is sha256 (hex) over the RFC 8785 canonical JSON of :meth:`body` (everything but
    ``hash``); ``prev_hash`` is the previous record's ``hash`` (``GENESIS_HASH`` for seq 1).
    ``decision`` and ``snapshot`` are the JSON forms (``Decision.to_dict``, ``Snapshot.to_dict``),
    kept as recorded so verification and replay see the exact bytes that were hashed.
    """

    schema_version: int
    seq: int
    decision_id: str
    at: datetime
    decision: Mapping[str, Any]
    snapshot: Mapping[str, Any]
    policy_digest: str
    caller: Mapping[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The hashed part: every field but ``hash``, in JSON form."""
        from clearance.model.signal import format_time  # noqa: PLC0415 - keep the header short

        return {
            "schema_version": self.schema_version,
            "seq": self.seq,
            "decision_id": self.decision_id,
            "at": format_time(self.at),
            "decision": dict(self.decision),
            "snapshot": dict(self.snapshot),
            "policy_digest": self.policy_digest,
            "caller": dict(self.caller),
            "prev_hash": self.prev_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}


@dataclass(frozen=True, slots=True)
class DecisionFilter:
    """Filters for :meth:`Store.list_decisions`; ``None`` means any. Times are inclusive bounds."""

    environment: str | None = None
    verdict: str | None = None
    target_key: str | None = None  # Target.key: cluster/namespace/kind/name
    actor: str | None = None  # Target.change.actor
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DecisionPage:
    """Newest first. Pass ``next_cursor`` back to get the next (older) page; ``None`` at the end."""

    records: tuple[AuditRecord, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ReferenceDocument:
    """A document a source ships whole (the KEV catalog), as last stored."""

    name: str
    digest: str
    body: bytes
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0  # existing uid, content changed (last_seen, status, …)
    unchanged: int = 0
    status_changes: int = 0  # history rows written (each insert writes one too)


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source's stored health. ``quarantined`` counts distinct bad items by reason."""

    name: str
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    watermark: str | None = None
    quarantined: Mapping[str, int] = field(default_factory=dict)
    quarantine_dropped: int = 0  # dropped by the retention bound, ever
    unreadable: int = 0  # stored signals that no longer parse (skipped by decisions)

    def health(self) -> SourceHealth:
        """The form a decision snapshot records (freshness is derived later, from policy)."""
        return SourceHealth(
            name=self.name,
            last_success=self.last_success,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            skipped=sum(self.quarantined.values()) + self.unreadable,
        )


class ApprovalOutcome(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Approval:
    """A named human's answer to an ``approve`` verdict, bound to the evidence they saw and the
    artifact they were shown.

    ``approver`` is the approver's principal; one principal answers a decision once (the store
    refuses a second answer with ConflictError). ``score`` and ``signals`` (contributing signal
    uids) are the evidence at approval time, ``artifact`` the decision's images and commit: the
    service voids the approval for a later decision with a new contributor, a higher score, or
    an artifact it does not cover. ``artifact`` is None for approvals stored before artifacts
    were (they count only for the decision they were given on).
    """

    id: str
    decision_id: str
    approver: str
    outcome: ApprovalOutcome
    reason: str
    at: datetime
    expires_at: datetime | None
    score: float
    signals: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    artifact: Artifact | None = None


@dataclass(frozen=True, slots=True)
class ExemptionRecord:
    """An exception granted at run time (API/CLI), with its audit trail."""

    exemption: Exemption
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.exemption.active(now)


@dataclass(frozen=True, slots=True)
class BreakGlass:
    """An audited proceed-anyway for one target and artifact, with a reason and a ticket, until
    it expires.

    ``target_key`` is ``Target.key`` (cluster/namespace/kind/name) in ``environment``;
    ``artifact`` the images and commit of the decision it was asked on (None for grants stored
    before artifacts were: they cover only that decision). When the service asks for a second
    person, ``confirmed_by`` names them (a principal other than the requester); an unconfirmed
    break-glass that needs one does not count. ``notified_at`` records when the outbound
    notification was delivered (None: not yet).
    """

    id: str
    environment: str
    target_key: str
    reason: str
    ticket: str
    requested_by: str
    at: datetime
    expires_at: datetime
    decision_id: str | None = None  # the decision it overrides, when there is one
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    revoked_at: datetime | None = None
    notified_at: datetime | None = None
    artifact: Artifact | None = None

    def active(self, now: datetime, *, needs_confirmation: bool) -> bool:
        if self.revoked_at is not None or now >= self.expires_at:
            return False
        return self.confirmed_by is not None or not needs_confirmation


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token's public facts; the secret itself is never stored or returned again.

    ``owner`` is the principal the token belongs to (``user:alice``); a token made before
    tokens had owners has None, and is owned by the person its name names.
    """

    id: TokenId
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    # The sources an ``ingest`` scope may write (``ingest:NAME`` grants); None: any push source.
    sources: frozenset[str] | None = None
    owner: str | None = None

    @property
    def principal(self) -> PrincipalId:
        if self.owner is not None:
            return recorded(self.owner)
        try:
            return principal(USER, self.name)
        except InvalidPrincipalError:
            return recorded(self.name)

    def caller(self) -> Caller:
        return Caller(subject=self.principal, method="token", token_id=self.id)


def token_owner(owner: str | None, name: str) -> PrincipalId:
    """The owner a new token is stored with: ``owner`` as a principal (a bare name is a person,
    ``user:``), else the token's own name. InvalidPrincipalError for a name that cannot be one."""
    return parse(owner) if owner is not None else principal(USER, name)


@dataclass(frozen=True, slots=True)
class TargetApproval:
    """An approval with the time and place in the log of the decision it was given on."""

    approval: Approval
    decision_at: datetime
    decision_seq: int


# --- the contract -------------------------------------------------------------------------------


# The store's roles: each caller is typed against the role it uses, so a reader sees what a
# module can touch, and a role can be served by something other than SQL (a test double, a
# cache) without implementing the rest. :class:`Store` is their union, for the few callers that
# open, migrate and hand out the whole store.


class StoreLifecycle(Protocol):
    """Opening, migrating and closing the database."""

    def migrate(self) -> None:
        """Bring the schema to the migration head (idempotent; safe with concurrent replicas)."""
        ...

    def ready(self) -> bool:
        """True when the database answers and its schema is at the migration head."""
        ...

    def close(self) -> None: ...

    def stored_changes(self) -> dict[str, int]:
        """The database's change counters (``signals``, ``checks``, ``approvals``), bumped by
        its triggers on every write of that kind by any process: read caches ask them."""
        ...


class SignalStore(Protocol):
    """Signals by uid and by asset, quarantined vendor items, host identity groups."""

    def upsert_signals(self, signals: Sequence[Signal], now: datetime) -> UpsertCounts:
        """Insert or update by uid; keep the earliest first_seen and latest last_seen."""
        ...

    def get_signal(self, uid: str) -> Signal:
        """Raise NotFoundError for an unknown uid."""
        ...

    def signal_status_history(self, uid: str) -> tuple[tuple[datetime, str], ...]:
        """``(at, status)`` for each status the signal has had, oldest first."""
        ...

    def signals_touching(self, keys: Iterable[str]) -> tuple[Signal, ...]:
        """Candidate signals filed under any of ``keys`` (``clearance.model.assets.index_keys``).

        A superset of true matches: the caller's correlation applies ``compatible``. Sorted by uid.
        """
        ...

    def add_quarantined(
        self, items: Sequence[Quarantined], now: datetime, retention: Retention = DEFAULT_RETENTION
    ) -> int:
        """Keep bad vendor items (deduplicated by source and digest); returns how many were new.
        Each source keeps at most ``retention.keep`` items, none older than ``retention.max_age``
        (the oldest go first, counted in ``SourceState.quarantine_dropped``)."""
        ...

    def put_identities(
        self, source: str, groups: Sequence[Mapping[str, Sequence[str]]], now: datetime
    ) -> int:
        """Keep host identity groups (``Batch.identities``) as seen at ``now``; returns how many
        were new. A group reported again only moves its ``seen_at``."""
        ...

    def identity_groups(
        self, since: datetime
    ) -> tuple[tuple[str, dict[str, tuple[str, ...]]], ...]:
        """``(source, group)`` of every identity group seen at or after ``since``."""
        ...

    def put_coverage(self, source: str, agents: Sequence[Managed], now: datetime) -> int:
        """Make ``agents`` the whole agent inventory of ``source`` (``Batch.coverage``)."""
        ...

    def coverage(self) -> tuple[Managed, ...]:
        """Every agent of every covering source's last inventory."""
        ...

    def active_signals_of_kind(self, kind: SignalKind) -> tuple[Signal, ...]:
        """Open and in-progress signals of ``kind``, sorted by uid (re-enrichment reads them)."""
        ...


class SourceHealthStore(Protocol):
    """Each source's last success and failure, and where its next pull resumes."""

    def record_source_success(
        self, name: str, now: datetime, watermark: str | None = None
    ) -> None: ...

    def record_source_failure(self, name: str, error: str, now: datetime) -> None: ...

    def get_watermark(self, name: str) -> str | None: ...

    def set_watermark(self, name: str, watermark: str | None) -> None: ...

    def source_states(self) -> tuple[SourceState, ...]:
        """Every known source, sorted by name."""
        ...

    def source_health(self) -> tuple[SourceHealth, ...]:
        """``source_states()`` in the form a snapshot records."""
        ...


class ReferenceStore(Protocol):
    """Reference documents (the KEV catalog, EPSS scores, VEX statements) by name."""

    def put_reference(self, name: str, body: bytes, now: datetime) -> ReferenceDocument:
        """Keep the latest body of a reference document (the KEV catalog) under its name."""
        ...

    def get_reference(self, name: str) -> ReferenceDocument | None: ...


class DecisionLogStore(Protocol):
    """The policies decisions were made under, and the hash-chained decision log."""

    def put_policy(self, digest: str, text: bytes, now: datetime, by: str | None = None) -> None:
        """Keep a policy's exact bytes under its digest (idempotent) so replay can reload it.

        A digest stored for the first time is a ``policy.stored`` record in the chain (actor
        ``by``, default ``service``)."""
        ...

    def get_policy(self, digest: str) -> bytes: ...

    def append_decision(
        self,
        decision: Decision,
        snapshot: Snapshot,
        caller: Caller,
        now: datetime,
        policy_text: bytes | None = None,
    ) -> AuditRecord:
        """Seal and commit the decision's audit record; return it only after commit.

        ``policy_text``, when given, is stored under ``decision.policy_digest`` in the same
        transaction (ConflictError if that digest is stored with other bytes). Idempotent: a
        decision id digests policy, inputs and time, so appending an id already in the log
        returns the record sealed first. A lock wait past the timeout raises
        StoreUnavailableError (the service answers 503 with Retry-After).
        """
        ...

    def get_decision(self, decision_id: str) -> AuditRecord: ...

    def list_decisions(
        self, filters: DecisionFilter | None = None, limit: int = 50, cursor: str | None = None
    ) -> DecisionPage: ...

    def iter_records(
        self, since_seq: int = 0, since: datetime | None = None
    ) -> Iterator[AuditRecord]:
        """Every record with seq > since_seq (and at >= since), in chain order, streamed."""
        ...


class GrantStore(Protocol):
    """Approvals, exceptions and break-glass grants: what lets a deployment through."""

    @property
    def approvals_generation(self) -> int:
        """Moves on every approval this process writes (a cache of approvals compares it)."""
        ...

    def add_approval(self, approval: Approval) -> None:
        """Raise NotFoundError for an unknown decision; ConflictError if this approver answered."""
        ...

    def list_approvals(self, decision_id: str) -> tuple[Approval, ...]:
        """Oldest first."""
        ...

    def target_approvals(
        self, environment: str, target_key: str, since: datetime
    ) -> list[TargetApproval]:
        """Approvals given on decisions about this target at or after ``since``, oldest first,
        each with its decision's time and seq (one indexed query, not one per decision)."""
        ...

    # exceptions
    def add_exemption(self, exemption: Exemption, now: datetime) -> ExemptionRecord: ...

    def list_exemptions(
        self, now: datetime, *, include_inactive: bool = False
    ) -> tuple[ExemptionRecord, ...]:
        """Active (unrevoked, unexpired at ``now``) exceptions, or all of them; sorted by id."""
        ...

    def revoke_exemption(self, exemption_id: str, by: str, now: datetime) -> ExemptionRecord: ...

    # break-glass
    def add_break_glass(self, grant: BreakGlass) -> None:
        """Raise ConflictError for a duplicate id."""
        ...

    def confirm_break_glass(self, grant_id: str, by: str, now: datetime) -> BreakGlass:
        """Second-person confirmation, once: a conditional update, so of concurrent confirmers
        exactly one wins. ConflictError when ``by`` is the requester, or the grant is confirmed
        already, expired or revoked at ``now``; NotFoundError for an unknown id."""
        ...

    def mark_break_glass_notified(self, grant_id: str, now: datetime) -> BreakGlass: ...

    def revoke_break_glass(
        self, grant_id: str, now: datetime, by: str | None = None
    ) -> BreakGlass: ...

    def list_break_glass(
        self, now: datetime, *, target_key: str | None = None, include_expired: bool = False
    ) -> tuple[BreakGlass, ...]:
        """Unrevoked and unexpired at ``now`` (or all), optionally for one target; by time."""
        ...


class TokenStore(Protocol):
    """API tokens: made, verified on every request, listed and revoked."""

    def create_token(
        self,
        name: str,
        scopes: Iterable[Scope | str],
        now: datetime,
        expires_at: datetime | None = None,
        owner: str | None = None,
        by: str | None = None,
    ) -> tuple[TokenInfo, str]:
        """Make a token (``scopes`` as :func:`parse_scopes` reads them) owned by ``owner``
        (a principal, see :func:`token_owner`; default: the person its name names); returns its
        info and the secret, shown once and never kept. ``by`` (who made it) is named in the
        token's record in the chain."""
        ...

    def verify_token(self, secret: str, now: datetime) -> TokenInfo:
        """The token's info, or TokenError (unknown, revoked, expired). Notes last use."""
        ...

    def list_tokens(self) -> tuple[TokenInfo, ...]: ...

    def revoke_token(self, token_id: str, now: datetime, by: str | None = None) -> TokenInfo: ...


class GateStore(Protocol):
    """What the pipeline integrations keep: held gates, GitHub callbacks, webhook deliveries."""

    def hold_gate(self, decision_id: str, gate: dict[str, Any], now: datetime) -> None: ...

    def release_gate(self, decision_id: str, now: datetime) -> dict[str, Any] | None: ...

    def save_callback(
        self,
        callback_id: str,
        decision_id: str,
        integration: str,
        record: dict[str, Any],
        now: datetime,
    ) -> None: ...

    def list_callbacks(
        self, decision_id: str | None = None, outcome: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]: ...

    def claim_delivery(
        self, integration: str, delivery_id: str, now: datetime
    ) -> datetime | None: ...


class CheckStore(Protocol):
    """Post-deploy checks (smoke tests), recorded against a decision, read by later ones."""

    def record_check(
        self, decision_id: str, report: Report, by: str | None, now: datetime
    ) -> PostDeployCheck:
        """Record it, sealed into the chain (NotFoundError for an unknown decision)."""
        ...

    def checks_for(self, target: Target) -> tuple[CheckEvidence, ...]:
        """The failed latest checks a decision of ``target`` reads."""
        ...

    def list_checks(self, decision_id: str) -> list[PostDeployCheck]: ...


class Store(
    StoreLifecycle,
    SignalStore,
    SourceHealthStore,
    ReferenceStore,
    DecisionLogStore,
    GrantStore,
    TokenStore,
    GateStore,
    CheckStore,
    Protocol,
):
    """Durable state of a Clearance service: every role. Thread-safe: share one per process."""


# --- the audit log as verify and export read it -------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogRow:
    """One record of the chain as stored, unparsed, so that damage still shows.

    ``table`` is ``decisions`` or ``audit_events``; ``columns`` are the row's filter columns
    (copies of members of the sealed body, which ``audit verify`` compares with it).
    """

    seq: int
    table: str
    prev_hash: str
    hash: str
    record: str
    columns: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the chain's head was ``(seq, head_hash)`` at ``at``.

    ``signature`` is base64 of the signature by key ``key_id`` over the statement
    (``clearance.audit.checkpoints.statement``); the store keeps it, it never signs.
    """

    seq: int
    head_hash: str
    at: datetime
    key_id: str
    signature: str


@dataclass(frozen=True, slots=True)
class TrustRow:
    """A tracked row (approval, exception, break_glass, token, policy) as its record holds it."""

    object: str
    id: str
    state: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TrustSnapshot:
    """Every tracked row, read in one snapshot together with the head seq it corresponds to."""

    head_seq: int
    rows: tuple[TrustRow, ...]


class AuditLog(Protocol):
    """The reads (and the one write) that ``clearance.audit`` needs: verify, export, checkpoint.

    Implemented by :class:`~clearance.store.sql.SqlStore`; every method returns after commit.
    """

    def chain_head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last sealed record, as the head row says."""
        ...

    def log_rows(self, upto: int) -> Iterator[LogRow]:
        """Every record (decisions and others) with seq <= ``upto``, in seq order, streamed."""
        ...

    def first_row_past_head(self) -> int | None:
        """The lowest seq stored beyond the head (a record no append sealed there), if any."""
        ...

    def chain_links(self, after: int, upto: int) -> Iterator[tuple[int, str, str]]:
        """``(seq, prev_hash, hash)`` of the records in ``(after, upto]``, in seq order."""
        ...

    def log_records(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Every record's body plus ``hash``, in seq order (recorded at or after ``since``)."""
        ...

    def trust_snapshot(self) -> TrustSnapshot:
        """Every tracked row in its recordable form, with the head seq of the same snapshot."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    def checkpoints(self) -> tuple[Checkpoint, ...]:
        """Every stored checkpoint, oldest first."""
        ...

    def latest_checkpoint(self) -> Checkpoint | None: ...
