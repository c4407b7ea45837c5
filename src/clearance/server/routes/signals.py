"""``POST /v1/signals`` (push normalized signals) and ``GET /v1/sources`` (freshness)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request

from clearance.errors import InvalidInputError, ModelError, ScopeError
from clearance.model.signal import Signal, format_time, signal_from_dict, utc
from clearance.policy.freshness import assess
from clearance.policy.schema import duration_seconds
from clearance.server.bodies import SignalsRequest
from clearance.server.routes._deps import Decider, Writer, context
from clearance.sources.interface import Batch
from clearance.store.interface import SourceState

router = APIRouter(tags=["signals"])


@router.post("/v1/signals", summary="Store normalized signals (bad items named, good ones kept)")
def push(body: SignalsRequest, request: Request, writer: Writer) -> dict[str, Any]:
    """Each item as ``clearance.model.signal.signal_from_dict`` reads it. Good items are stored
    even when others are bad; the answer is then 422 naming each bad item's index and field.

    The credential must be allowed to write every source the body names (403 naming the first
    that it may not, and nothing is stored): ``ingest`` writes any push source, ``ingest:NAME``
    only NAME, and a source that ``sync`` pulls only an admin. A time later than the service's
    clock plus ``future_skew`` is refused (422 naming the field)."""
    ctx = context(request)
    now = ctx.clock()
    latest = now + timedelta(seconds=duration_seconds(ctx.settings.future_skew))
    good: list[Signal] = []
    problems: list[dict[str, Any]] = []
    pulled = ctx.pulled
    for index, item in enumerate(body.signals):
        try:
            signal = signal_from_dict(item)
        except (ModelError, ValueError, TypeError, KeyError) as exc:
            problems.append({"field": f"body.signals.{index}", "problem": str(exc)})
            continue
        refusal = writer.may_write(signal.source, pulled)
        if refusal is not None:
            ctx.metrics.refused_writes.labels(signal.source, "not_allowed").inc()
            raise ScopeError(f"body.signals.{index}.source: {refusal}; nothing was stored")
        future = _future_field(signal, latest)
        if future is not None:
            ctx.metrics.refused_writes.labels(signal.source, "future_time").inc()
            problems.append(
                {
                    "field": f"body.signals.{index}.{future}",
                    "problem": f"later than the service's clock plus the allowed skew "
                    f"({format_time(latest)})",
                }
            )
            continue
        good.append(signal)
    # Each source's signals are stored as any push of that source is (KEV enrichment, fold).
    results = [
        ctx.store_batch(Batch(signals=tuple(s for s in good if s.source == name)), name, now)
        for name in sorted({s.source for s in good})
    ]
    ctx.decisions.health_cache.clear()
    inserted = sum(r.inserted for r in results)
    updated = sum(r.updated for r in results)
    stored = {
        "received": len(body.signals),
        "stored": len(good),
        "inserted": inserted,
        "updated": updated,
        "unchanged": sum(r.unchanged for r in results),
        "known_exploited": sum(r.known_exploited for r in results),
    }
    if problems:
        raise InvalidInputError(
            f"{len(problems)} of {len(body.signals)} signals are invalid; "
            f"the other {len(good)} were stored. First: {problems[0]['field']}: "
            f"{problems[0]['problem']}",
            problems,
            result=stored,
        )
    return stored


def _future_field(signal: Signal, latest: datetime) -> str | None:
    if signal.first_seen > latest:
        return "first_seen"
    if signal.last_seen > latest:
        return "last_seen"
    return None


@router.get("/v1/sources", summary="Freshness and quarantine counts per source")
def sources(request: Request, _caller: Decider, environment: str | None = None) -> dict[str, Any]:
    """With ``environment``, each source is also judged fresh/stale/down by that policy."""
    ctx = context(request)
    now = ctx.clock()
    env = None if environment is None else ctx.policy.environment(environment)
    items = []
    states = list(ctx.store.source_states())
    inventory = ctx.config.inventory.health(now)
    if inventory is not None:  # the inventory's cache ages like a source (inventory:<name>)
        states.append(
            SourceState(
                inventory.name,
                inventory.last_success,
                inventory.last_error,
                inventory.last_error_at,
            )
        )
    for state in states:
        age = None
        if state.last_success is not None:
            age = int((now - utc(state.last_success)).total_seconds())
        item: dict[str, Any] = {
            "name": state.name,
            "last_success": None
            if state.last_success is None
            else format_time(utc(state.last_success)),
            "age_seconds": age,
            "last_error": state.last_error,
            "last_error_at": None
            if state.last_error_at is None
            else format_time(utc(state.last_error_at)),
            "quarantined": dict(state.quarantined),
            "quarantine_dropped": state.quarantine_dropped,
            "unreadable": state.unreadable,
        }
        if env is not None:
            item["freshness"] = assess(state.health(), env, now).state.value
        items.append(item)
    return {"sources": items}
