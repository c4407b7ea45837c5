"""Prometheus counters of the verdicts each integration issued, and of the degraded ones.

A verdict is *degraded* when a failure stance fired (a source down or stale, a target that could
not be correlated): the gate answered without seeing everything. Those are counted per
integration and environment so an operator sees a gate that has been answering half-blind.
Register on the app's registry (``IntegrationMetrics(registry)``); ``None`` keeps them on a
private registry (tests, two apps in one process).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from clearance.model.decision import Decision


class IntegrationMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ["integration", "environment", "verdict"]
        self.verdicts = Counter(
            "clearance_integration_verdicts",
            "Verdicts issued through an integration",
            labels,
            registry=self.registry,
        )
        self.degraded = Counter(
            "clearance_integration_degraded_verdicts",
            "Verdicts issued while a failure stance fired (a source down or stale, an "
            "uncorrelated target), per integration and environment",
            labels,
            registry=self.registry,
        )
        self.admission_undecided = Counter(
            "clearance_admission_undecided",
            "Admission requests Clearance could not decide, answered by the configured stance "
            "(stance=allow is a fail-open admission), by cause (unknown_kind, error, overloaded)",
            ["stance", "cause"],
            registry=self.registry,
        )

    def undecided(self, allowed: bool, cause: str) -> None:
        """An admission answered by its stance because Clearance could not decide; ``allowed``:
        the stance let it in (fail open)."""
        self.admission_undecided.labels("allow" if allowed else "deny", cause).inc()

    def observe(self, integration: str, decision: Decision) -> None:
        labels = (integration, decision.target.environment, decision.verdict.value)
        self.verdicts.labels(*labels).inc()
        if decision.degraded:
            self.degraded.labels(*labels).inc()
