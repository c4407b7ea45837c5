"""The shadow report's time figures from records spread over days: how long each degraded stance
lasted (from a decision that fired it to the environment's next decision, the last one until
the window ends) and how long approvals took."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from clearance.audit.shadow import render_text, shadow_report
from clearance.model.signal import format_time
from clearance.store.interface import Approval, ApprovalOutcome, AuditRecord

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)


def record(seq: int, at: datetime, verdict: str, *, degraded: tuple[str, ...] = (),
           mode: str | None = "shadow", env: str = "production") -> AuditRecord:  # fmt: skip
    reasons: list[dict[str, Any]] = [{"code": "score", "verdict": verdict, "message": "m"}]
    reasons += [{"code": f"stance:{d}", "verdict": verdict, "message": "m"} for d in degraded]
    decision: dict[str, Any] = {
        "at": format_time(at),
        "verdict": verdict,
        "target": {"environment": env, "cluster": "c", "namespace": "n", "workload": "d/w"},
        "reasons": reasons,
        "contributors": [],
        "degraded": list(degraded),
        "approvals": {"required": 1, "group": None},
    }
    if mode:
        decision["mode"] = mode
    return AuditRecord(1, seq, f"dec_{seq}", at, decision, {}, "sha256:x", {}, "", "")


def approval(decision_id: str, at: datetime, outcome: ApprovalOutcome) -> Approval:
    return Approval("ap", decision_id, "user:alice", outcome, "ok", at, None, 10.0)


def test_stance_time_runs_to_the_next_decision_and_the_last_to_the_window_end() -> None:
    records = [
        record(1, DAY0, "approve", degraded=("stale",)),
        record(2, DAY0 + timedelta(hours=6), "block", degraded=("source_down",)),
        record(3, DAY0 + timedelta(days=1), "proceed"),
        record(4, DAY0 + timedelta(days=2), "approve", degraded=("stale",)),
        record(5, DAY0 + timedelta(days=2, hours=1), "block", mode=None),  # enforcing: skipped
    ]
    given = {
        "dec_1": [approval("dec_1", DAY0 + timedelta(minutes=42), ApprovalOutcome.APPROVE)],
        "dec_4": [approval("dec_4", DAY0 + timedelta(days=2), ApprovalOutcome.REJECT)],
    }
    until = DAY0 + timedelta(days=3)
    report = shadow_report(records, lambda i: given.get(i, []), DAY0, until)
    assert report.enforcing == 1
    production = report.to_dict()["environments"]["production"]
    assert production["degraded_seconds"] == {"source_down": 18 * 3600.0, "stale": 30 * 3600.0}
    assert production["approval_wait_seconds"] == {"count": 1, "median": 2520.0, "max": 2520.0}
    assert production["approvals"] == {
        "score": {"granted": 1, "refused": 1, "unanswered": 0},
        "stance:stale": {"granted": 1, "refused": 1, "unanswered": 0},
    }
    assert "stale: 108000s" in render_text(report)


def test_the_window_and_the_environment_filter_what_is_counted() -> None:
    records = [
        record(1, DAY0 - timedelta(days=1), "block"),
        record(2, DAY0, "block"),
        record(3, DAY0, "approve", env="staging"),
    ]
    report = shadow_report(records, lambda _: [], DAY0, DAY0 + timedelta(days=1), "production")
    assert list(report.environments) == ["production"]
    assert report.environments["production"].verdicts.block == 1
    empty = shadow_report([], lambda _: [], DAY0, DAY0)
    assert "no shadow-mode decisions in this window" in render_text(empty)
