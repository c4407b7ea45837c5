"""Signals (upsert by uid, status history, asset index), source health and the quarantine.

Functions here take an open :class:`~sqlalchemy.engine.Connection` inside the caller's
transaction; :class:`clearance.store.sql.SqlStore` owns the transactions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from clearance.model.assets import index_keys
from clearance.model.quarantine import Quarantined
from clearance.model.signal import Signal, fold, signal_from_dict, utc
from clearance.store import tables as t
from clearance.store.interface import NotFoundError, SourceState, UpsertCounts

CHUNK = 500  # rows per IN (...) query: far below SQLite's and PostgreSQL's parameter limits
# Signals parsed by ``touching``, by their stored JSON text: the same text is the same signal,
# so a decision re-reading a workload's rows reuses the object (and its memoized content
# digest) instead of parsing it again. Bounded; a changed row has new text and is parsed anew.
_PARSED_MAX = 16384
_parsed: dict[str, Signal] = {}


def _keys(signal: Signal) -> set[str]:
    return {key for ref in signal.assets for key in index_keys(ref)}


def _merge(batch: Sequence[Signal]) -> dict[str, Signal]:
    """One signal per uid: the one seen last, keeping the earliest first_seen of the batch."""
    merged: dict[str, Signal] = {}
    for signal in batch:
        kept = merged.get(signal.uid)
        if kept is None:
            merged[signal.uid] = signal
            continue
        merged[signal.uid] = fold(kept, signal)
    return merged


def upsert(conn: Connection, batch: Sequence[Signal], now: datetime) -> UpsertCounts:
    """Insert new uids; update known ones unless the incoming copy is older than the stored one.

    An out-of-order page (incoming ``last_seen`` before the stored one) can only move
    ``first_seen`` earlier: it must not reopen a signal the vendor has since resolved.
    """
    merged = list(_merge(batch).values())
    inserted = updated = unchanged = history = 0
    for start in range(0, len(merged), CHUNK):
        chunk = merged[start : start + CHUNK]
        rows = conn.execute(
            select(t.signals.c.uid, t.signals.c.status, t.signals.c.data).where(
                t.signals.c.uid.in_([s.uid for s in chunk])
            )
        ).all()
        stored = {row.uid: (row.status, json.loads(row.data)) for row in rows}
        new_rows: list[dict[str, Any]] = []
        new_keys: list[dict[str, str]] = []
        new_history: list[dict[str, Any]] = []
        for incoming in chunk:
            if incoming.uid not in stored:
                new_rows.append(_row(incoming, now))
                new_keys.extend({"uid": incoming.uid, "key": k} for k in sorted(_keys(incoming)))
                new_history.append(
                    {"uid": incoming.uid, "status": incoming.status.value, "at": now}
                )
                inserted += 1
                continue
            old_status, old_data = stored[incoming.uid]
            old = signal_from_dict(old_data)
            signal = fold(old, incoming)
            if signal.to_dict() == old_data:
                unchanged += 1
                continue
            conn.execute(
                update(t.signals).where(t.signals.c.uid == signal.uid).values(_row(signal, now))
            )
            if _keys(signal) != _keys(old):
                conn.execute(delete(t.signal_assets).where(t.signal_assets.c.uid == signal.uid))
                new_keys.extend({"uid": signal.uid, "key": k} for k in sorted(_keys(signal)))
            if signal.status.value != old_status:
                new_history.append({"uid": signal.uid, "status": signal.status.value, "at": now})
            updated += 1
        if new_rows:
            conn.execute(insert(t.signals), new_rows)
        if new_keys:
            conn.execute(insert(t.signal_assets), new_keys)
        if new_history:
            conn.execute(insert(t.signal_status_history), new_history)
            history += len(new_history)
    return UpsertCounts(
        inserted=inserted, updated=updated, unchanged=unchanged, status_changes=history
    )


def _row(signal: Signal, now: datetime) -> dict[str, Any]:
    return {
        "uid": signal.uid,
        "source": signal.source,
        "status": signal.status.value,
        "first_seen": signal.first_seen,
        "last_seen": signal.last_seen,
        "updated_at": now,
        "data": json.dumps(signal.to_dict(), sort_keys=True, separators=(",", ":")),
    }


def get(conn: Connection, uid: str) -> Signal:
    data = conn.execute(select(t.signals.c.data).where(t.signals.c.uid == uid)).scalar()
    if data is None:
        raise NotFoundError(f"no signal with uid {uid!r}")
    return signal_from_dict(json.loads(data))


def status_history(conn: Connection, uid: str) -> tuple[tuple[datetime, str], ...]:
    rows = conn.execute(
        select(t.signal_status_history.c.at, t.signal_status_history.c.status)
        .where(t.signal_status_history.c.uid == uid)
        .order_by(t.signal_status_history.c.id)
    ).all()
    return tuple((row.at, row.status) for row in rows)


def touching(conn: Connection, keys: Iterable[str]) -> tuple[Signal, ...]:
    wanted = sorted(set(keys))
    found: dict[str, Signal] = {}
    for start in range(0, len(wanted), CHUNK):
        uids = (
            select(t.signal_assets.c.uid)
            .where(t.signal_assets.c.key.in_(wanted[start : start + CHUNK]))
            .distinct()
        )
        for row in conn.execute(
            select(t.signals.c.uid, t.signals.c.data).where(t.signals.c.uid.in_(uids))
        ):
            if row.uid not in found:
                found[row.uid] = _parse(row.data)
    return tuple(found[uid] for uid in sorted(found))


def _parse(data: str) -> Signal:
    signal = _parsed.get(data)
    if signal is None:
        signal = signal_from_dict(json.loads(data))
        if len(_parsed) >= _PARSED_MAX:
            _parsed.clear()
        _parsed[data] = signal
    return signal


def add_quarantined(conn: Connection, items: Sequence[Quarantined], now: datetime) -> int:
    """Insert items not yet kept for their (source, digest); returns how many were new."""
    added = 0
    by_source: dict[str, dict[str, Quarantined]] = defaultdict(dict)
    for item in items:
        by_source[item.source].setdefault(item.digest, item)
    for source, by_digest in by_source.items():
        digests = list(by_digest)
        known: set[str] = set()
        for start in range(0, len(digests), CHUNK):
            known.update(
                conn.execute(
                    select(t.quarantine.c.digest).where(
                        t.quarantine.c.source == source,
                        t.quarantine.c.digest.in_(digests[start : start + CHUNK]),
                    )
                ).scalars()
            )
        rows = [
            {
                "source": q.source,
                "reason": q.reason,
                "detail": q.detail,
                "digest": q.digest,
                "location": q.location,
                "payload": q.payload,
                "at": now,
            }
            for digest, q in by_digest.items()
            if digest not in known
        ]
        if rows:
            conn.execute(insert(t.quarantine), rows)
            added += len(rows)
    return added


def _ensure_source(conn: Connection, name: str) -> None:
    exists = conn.execute(
        select(t.source_health.c.name).where(t.source_health.c.name == name)
    ).first()
    if exists is None:
        conn.execute(insert(t.source_health).values(name=name))


def record_success(conn: Connection, name: str, now: datetime, watermark: str | None) -> None:
    _ensure_source(conn, name)
    values: dict[str, Any] = {"last_success": utc(now)}
    if watermark is not None:
        values["watermark"] = watermark
    conn.execute(update(t.source_health).where(t.source_health.c.name == name).values(values))


def record_failure(conn: Connection, name: str, error: str, now: datetime) -> None:
    _ensure_source(conn, name)
    conn.execute(
        update(t.source_health)
        .where(t.source_health.c.name == name)
        .values(last_error=error, last_error_at=utc(now))
    )


def get_watermark(conn: Connection, name: str) -> str | None:
    value = conn.execute(
        select(t.source_health.c.watermark).where(t.source_health.c.name == name)
    ).scalar()
    return None if value is None else str(value)


def set_watermark(conn: Connection, name: str, watermark: str | None) -> None:
    _ensure_source(conn, name)
    conn.execute(
        update(t.source_health).where(t.source_health.c.name == name).values(watermark=watermark)
    )


def states(conn: Connection) -> tuple[SourceState, ...]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for source, reason, count in conn.execute(
        select(t.quarantine.c.source, t.quarantine.c.reason, func.count()).group_by(
            t.quarantine.c.source, t.quarantine.c.reason
        )
    ):
        counts[source][reason] = int(count)
    health = {row.name: row for row in conn.execute(select(t.source_health))}
    result: list[SourceState] = []
    for name in sorted(set(health) | set(counts)):
        row = health.get(name)
        result.append(
            SourceState(
                name=name,
                last_success=None if row is None else row.last_success,
                last_error=None if row is None else row.last_error,
                last_error_at=None if row is None else row.last_error_at,
                watermark=None if row is None else row.watermark,
                quarantined=dict(sorted(counts.get(name, {}).items())),
            )
        )
    return tuple(result)
