"""The schema as SQLAlchemy Core tables: what the queries are written against.

The migrations in ``migrations/versions`` create the same schema (a test compares the two), so
the database is always built by ``alembic upgrade head`` and never by ``metadata.create_all``.
Times are stored in UTC (``UTCDateTime``) and always come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from clearance.model.signal import utc


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC (naive on SQLite, ``timestamptz`` on PostgreSQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = utc(value)  # refuses naive times: they are ambiguous evidence
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

UID = String(512)
NAME = String(200)
DIGEST = String(80)  # "sha256:" + 64 hex

signals = Table(
    "signals",
    metadata,
    Column("uid", UID, primary_key=True),
    Column("source", NAME, nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("data", Text, nullable=False),  # Signal.to_dict() as JSON
)

signal_assets = Table(
    "signal_assets",
    metadata,
    Column("uid", UID, ForeignKey("signals.uid", ondelete="CASCADE"), primary_key=True),
    Column("key", String(600), primary_key=True),  # clearance.model.assets.index_keys
    Index("ix_signal_assets_key", "key"),
)

signal_status_history = Table(
    "signal_status_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", UID, ForeignKey("signals.uid", ondelete="CASCADE"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

source_health = Table(
    "source_health",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("last_success", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("watermark", Text),
    # Quarantined items dropped by the retention bound (store/signals.py), ever.
    Column("quarantine_dropped", BigInteger, nullable=False, server_default="0"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", NAME, nullable=False),
    Column("reason", String(100), nullable=False),
    Column("detail", Text, nullable=False),
    Column("digest", DIGEST, nullable=False),
    Column("location", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "digest", name="uq_quarantine_source_digest"),
    Index("ix_quarantine_source_id", "source", "id"),
)

policies = Table(
    "policies",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("text", LargeBinary, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
)

# The decision log. ``record`` is the canonical JSON of the sealed body (everything but the hash);
# the other columns are copies for filtering, checked against the body by ``audit verify``.
decisions = Table(
    "decisions",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("decision_id", String(100), nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("environment", NAME, nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("target_key", String(600), nullable=False),
    Column("actor", NAME),
    Column("policy_digest", DIGEST, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_decisions_environment_seq", "environment", "seq"),
    Index("ix_decisions_target_key_seq", "target_key", "seq"),
)

# Parts of decision records stored once by content (migration 0017): a record's ``record``
# column names each by the sha256 of its text (clearance.store.record_parts).
record_parts = Table(
    "record_parts",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("text", Text, nullable=False),
)

# One row (id = 1): the last sealed seq and hash. Appenders lock it to serialize the chain, and
# ``verify`` compares it with the last record so a deleted tail is noticed too.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# A counter per kind of shared data, bumped by the database's own triggers on every write of it
# (migration 0016): read caches ask it whether any process changed what they hold.
store_changes = Table(
    "store_changes",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# The other records of the same hash chain (one seq space, one head with ``decisions``): each
# change to an approval, exception, break-glass grant, API token or stored policy, written in the
# transaction that changes the row (``clearance.store.events``). ``record`` is the canonical JSON
# of the sealed body; ``kind``, ``object``, ``object_id``, ``at`` and ``actor`` are copies of it.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(40), nullable=False),
    Column("object", String(20), nullable=False),
    Column("object_id", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", NAME),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_audit_events_object", "object", "object_id"),
)

# Signed statements "the chain's head was (seq, head_hash) at ``at``", by a key kept outside the
# database (``clearance.audit.checkpoints``); also mirrored outside it, since whoever can write
# this table can delete rows from it.
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False, index=True),
    Column("head_hash", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("key_id", String(100), nullable=False),
    Column("signature", String(200), nullable=False),  # base64 of the 64-byte Ed25519 signature
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(100), primary_key=True),
    Column(
        "decision_id",
        String(100),
        ForeignKey("decisions.decision_id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("approver", NAME, nullable=False),  # as recorded (the principal, since 0006)
    Column("outcome", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("score", Float, nullable=False),
    Column("signals", Text, nullable=False),  # JSON list of signal uids
    Column("groups", Text, nullable=False),  # JSON list
    # The canonical principal: one answer per person per decision. NULL only for an answer
    # stored before principals that duplicates an earlier one of the same person (0006).
    Column("principal", NAME),
    Column("artifact_images", Text),  # JSON list of image identities; NULL before 0006
    Column("artifact_commit", NAME),
    UniqueConstraint("decision_id", "principal", name="uq_approvals_decision_principal"),
)

exemptions = Table(
    "exemptions",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("signal", UID),
    Column("rule", NAME),
    Column("environment", NAME, nullable=False),
    Column("cluster", NAME, nullable=False),
    Column("namespace", NAME, nullable=False),
    Column("workload", NAME, nullable=False),
    Column("expires", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("ticket", NAME, nullable=False),
    Column("approver", NAME, nullable=False),
    Column("created_by", NAME),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoked_by", NAME),
)

break_glass = Table(
    "break_glass",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("environment", NAME, nullable=False),
    Column("target_key", String(600), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("ticket", NAME, nullable=False),
    Column("requested_by", NAME, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("decision_id", String(100)),
    Column("confirmed_by", NAME),
    Column("confirmed_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("notified_at", UTCDateTime),
    Column("artifact_images", Text),  # JSON list of image identities; NULL before 0006
    Column("artifact_commit", NAME),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("hash", String(64), nullable=False, unique=True),  # sha256 hex of the secret
    Column("scopes", Text, nullable=False),  # space-separated
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Column("owner", NAME),  # a principal; NULL: made before owners, owned by its name
)

# Reference data a source ships as one document (the CISA KEV catalog): the latest body kept
# whole, so enrichment is reproducible from what was stored.
reference_data = Table(
    "reference_data",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("digest", DIGEST, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Host identity groups the sources report beside findings (EDR device inventories): which names,
# instance ids, IPs and MACs belong to one machine. Keyed by a digest of the group's values, so a
# machine reported again only moves ``seen_at``; the decision path joins them into machines.
host_identities = Table(
    "host_identities",
    metadata,
    Column("source", NAME, primary_key=True),
    Column("key", DIGEST, primary_key=True),
    Column("group", Text, nullable=False),  # JSON: {"host": [...], "instance": [...], ...}
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

# The last agent inventory of each source that covers hosts: one row per agent (the platform's
# device id), replaced whole at each sync (an agent gone from the inventory no longer covers).
host_coverage = Table(
    "host_coverage",
    metadata,
    Column("source", NAME, primary_key=True),
    Column("device", String(512), primary_key=True),
    Column("record", Text, nullable=False),  # JSON: Managed.to_dict()
    Column("seen_at", UTCDateTime, nullable=False),
)

# GitHub protection-rule gates answered "waiting for approval", until the approvals settle.
# In the store so that whichever worker or replica records the approval answers the gate.
# What was deployed (a clearing decision followed by the deploy), watched after the deploy: one
# row per target (environment|cluster/namespace/workload), the latest deploy wins.
deployments = Table(
    "deployments",
    metadata,
    Column("key", String(600), primary_key=True),
    Column("decision_id", String(100), nullable=False),
    Column("target", Text, nullable=False),  # JSON: the deployed decision's target
    Column("via", String(50), nullable=False),  # api, admission, argo, flagger
    Column("by", String(300)),
    Column("deployed_at", UTCDateTime, nullable=False),
    Column("alert_digest", String(100)),  # the evidence of the last alert raised for it
    Column("alerted_at", UTCDateTime),
)

# Post-deploy check reports (smoke tests) recorded against the decision whose deploy they
# checked; a later decision of the same target, or of the same release (``release`` digest of
# the image digests, :func:`clearance.model.checks.release_key`) elsewhere, reads the latest.
# Each row is sealed into the hash chain when written (``clearance.store.events``).
post_deploy_checks = Table(
    "post_deploy_checks",
    metadata,
    Column("id", String(100), primary_key=True),
    Column(
        "decision_id",
        String(100),
        ForeignKey("decisions.decision_id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("environment", String(100), nullable=False),
    Column("target_key", String(600), nullable=False),
    Column("release", String(80)),  # None: an image without a digest, not comparable
    Column("at", UTCDateTime, nullable=False),
    Column("by", NAME),
    Column("failed", Integer, nullable=False),
    Column("report", Text, nullable=False),  # JSON: Report.to_dict
    Index("ix_post_deploy_checks_target", "environment", "target_key", "at"),
    Index("ix_post_deploy_checks_release", "release", "at"),
)

held_gates = Table(
    "held_gates",
    metadata,
    Column("decision_id", String(100), primary_key=True),
    Column("gate", Text, nullable=False),  # JSON: where and how to answer it
    Column("held_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime),
)

# Every answer an integration sent back (a GitHub callback): its attempts and outcome, so a
# failed callback is visible with the decision whichever replica sent it.
callbacks = Table(
    "callbacks",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the order they were sent
    Column("id", String(100), nullable=False, unique=True),
    Column("decision_id", String(100), nullable=False, index=True),
    Column("integration", String(50), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("record", Text, nullable=False),  # JSON: url, state, outcome, attempts
    Column("updated_at", UTCDateTime, nullable=False),
)

# Signed webhook deliveries already received (GitHub's X-GitHub-Delivery), so a replayed one is
# refused by whichever replica it reaches.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("integration", String(50), primary_key=True),
    Column("delivery_id", String(200), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
)
