"""Prometheus metrics, one registry per app (so tests and replicas never share counters)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from clearance.model.signal import utc
from clearance.model.target import SourceHealth
from clearance.store.interface import SourceState


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "clearance_decisions",
            "Decisions issued, by verdict and environment",
            ["verdict", "environment"],
            registry=r,
        )
        self.degraded = Counter(
            "clearance_degraded_decisions",
            "Verdicts issued under a failure stance, by environment and failure class",
            ["environment", "failure_class"],
            registry=r,
        )
        self.approval_wait = Histogram(
            "clearance_approval_wait_seconds",
            "From an approve verdict to the approval that cleared it",
            buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400),
            registry=r,
        )
        self.latency = Histogram(
            "clearance_http_request_duration_seconds",
            "HTTP request latency by route and status",
            ["method", "route", "status"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.freshness = Gauge(
            "clearance_source_age_seconds",
            "Seconds since each source last succeeded (-1: never)",
            ["source"],
            registry=r,
        )
        self.quarantined = Gauge(
            "clearance_source_quarantined_items",
            "Malformed vendor items kept in quarantine, by source and reason",
            ["source", "reason"],
            registry=r,
        )
        self.received = Counter(
            "clearance_ingested_signals",
            "Signals pushed to this process's receivers, by source and outcome",
            ["source", "outcome"],
            registry=r,
        )
        self.insecure_admission = Gauge(
            "clearance_insecure_admission",
            "1 when the admission webhook accepts unauthenticated requests (require_auth: false)",
            registry=r,
        )
        self.quarantine_dropped = Gauge(
            "clearance_source_quarantine_dropped_items",
            "Quarantined items dropped by the retention bound (oldest first), by source",
            ["source"],
            registry=r,
        )
        self.shed = Counter(
            "clearance_shed_requests",
            "Decision requests refused at the door (429, or the admission webhook's on_error "
            "stance) while the estimated wait for a place was past queue_wait, by route",
            ["route"],
            registry=r,
        )
        self.refused_writes = Counter(
            "clearance_refused_signal_writes",
            "Pushed signals refused at the boundary, by source and reason",
            ["source", "reason"],
            registry=r,
        )
        self.shadow = Counter(
            "clearance_shadow_verdicts",
            "Verdicts decided in shadow-mode environments (what enforcing would have answered; "
            "the deploy went ahead), by verdict and environment",
            ["verdict", "environment"],
            registry=r,
        )
        self.audit_append_failures = Counter(
            "clearance_audit_append_failures",
            "Decisions that could not be appended to the audit log (the caller got an error)",
            registry=r,
        )
        self.watch_alerts = Counter(
            "clearance_watch_alerts",
            "Deployed targets that would now be blocked on new evidence (watching after the "
            "deploy), by environment",
            ["environment"],
            registry=r,
        )
        self.notifications = Counter(
            "clearance_notifications",
            "Outbound notifications by outcome",
            ["outcome"],
            registry=r,
        )

    def decided(
        self, verdict: str, environment: str, degraded: list[str], mode: str | None = None
    ) -> None:
        self.decisions.labels(verdict, environment).inc()
        if mode == "shadow":
            self.shadow.labels(verdict, environment).inc()
        for failure in degraded:
            self.degraded.labels(environment, failure).inc()

    def ingested(self, source: str, stored: int, quarantined: int) -> None:
        self.received.labels(source, "stored").inc(stored)
        self.received.labels(source, "quarantined").inc(quarantined)

    def render(
        self, states: tuple[SourceState, ...], now: datetime, inventory: SourceHealth | None = None
    ) -> bytes:
        """``inventory``: the inventory's health, reported as a source (``inventory:<name>``),
        so an inventory that stopped hearing from its cluster shows its age like a source."""
        if inventory is not None:
            states = (*states, SourceState(inventory.name, inventory.last_success))
        for state in states:
            age = -1.0
            if state.last_success is not None:
                age = (utc(now) - utc(state.last_success)).total_seconds()
            self.freshness.labels(state.name).set(age)
            # From the store, so every replica reports what the sync loop quarantined anywhere.
            for reason, count in state.quarantined.items():
                self.quarantined.labels(state.name, reason).set(count)
            self.quarantine_dropped.labels(state.name).set(state.quarantine_dropped)
        return generate_latest(self.registry)
