"""Signals (upsert by uid, status history, asset index), source health and the quarantine.

Functions here take an open :class:`~sqlalchemy.engine.Connection` inside the caller's
transaction; :class:`clearance.store.sql.SqlStore` owns the transactions.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from clearance.errors import ModelError
from clearance.model.assets import index_keys
from clearance.model.quarantine import Quarantined, Retention
from clearance.model.signal import Signal, fold, signal_from_dict, utc
from clearance.store import tables as t
from clearance.store.interface import NotFoundError, SourceState, UpsertCounts

logger = logging.getLogger(__name__)

CHUNK = 500  # rows per IN (...) query: far below SQLite's and PostgreSQL's parameter limits
# Signals parsed by ``touching``, by their stored JSON text: the same text is the same signal,
# so a decision re-reading a workload's rows reuses the object (and its memoized content
# digest) instead of parsing it again. Bounded; a changed row has new text and is parsed anew.
_PARSED_MAX = 16384
_parsed: dict[str, Signal] = {}
# Stored rows that no longer parse, uid → source: skipped by decisions, counted in the source's
# health (``SourceState.unreadable``), logged once. Per process, bounded.
_unreadable: dict[str, str] = {}


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
            try:
                old: Signal | None = signal_from_dict(old_data)
            except (ModelError, ValueError, TypeError, KeyError):
                old = None  # an unreadable row (see _parse) is replaced by the new copy
            signal = incoming if old is None else fold(old, incoming)
            if signal.to_dict() == old_data:
                unchanged += 1
                continue
            conn.execute(
                update(t.signals).where(t.signals.c.uid == signal.uid).values(_row(signal, now))
            )
            if old is None or _keys(signal) != _keys(old):
                conn.execute(delete(t.signal_assets).where(t.signal_assets.c.uid == signal.uid))
                new_keys.extend({"uid": signal.uid, "key": k} for k in sorted(_keys(signal)))
            _unreadable.pop(signal.uid, None)
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
            select(t.signals.c.uid, t.signals.c.source, t.signals.c.data).where(
                t.signals.c.uid.in_(uids)
            )
        ):
            if row.uid not in found:
                signal = _parse(row.uid, row.source, row.data)
                if signal is not None:
                    found[row.uid] = signal
    return tuple(found[uid] for uid in sorted(found))


def _parse(uid: str, source: str, data: str) -> Signal | None:
    """The stored row as a Signal; None (logged once, counted in the source's health) for a row
    that no longer parses: written by hand, or by a version with looser checks. A decision skips
    it rather than failing: one bad row must not answer 500 for every target it touches."""
    signal = _parsed.get(data)
    if signal is None:
        try:
            signal = signal_from_dict(json.loads(data))
        except (ModelError, ValueError, TypeError, KeyError, RecursionError) as exc:
            if uid not in _unreadable:
                logger.warning("skipping stored signal %r of source %r: %s", uid, source, exc)
                if len(_unreadable) >= _PARSED_MAX:
                    _unreadable.clear()
                _unreadable[uid] = source
            return None
        if len(_parsed) >= _PARSED_MAX:
            _parsed.clear()
        _parsed[data] = signal
    return signal


def add_quarantined(
    conn: Connection, items: Sequence[Quarantined], now: datetime, retention: Retention
) -> int:
    """Insert items not yet kept for their (source, digest), then hold each source to
    ``retention``; returns how many were new. Of a batch larger than the bound, only the last
    ``retention.keep`` items are inserted at all (the rest are counted as dropped at once)."""
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
        fresh = [q for digest, q in by_digest.items() if digest not in known]
        dropped = max(len(fresh) - retention.keep, 0)
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
            for q in fresh[dropped:]
        ]
        if rows:
            conn.execute(insert(t.quarantine), rows)
            added += len(rows)
        dropped += _retain(conn, source, now, retention)
        if dropped:
            _ensure_source(conn, source)
            conn.execute(
                update(t.source_health)
                .where(t.source_health.c.name == source)
                .values(quarantine_dropped=t.source_health.c.quarantine_dropped + dropped)
            )
    return added


def _retain(conn: Connection, source: str, now: datetime, retention: Retention) -> int:
    """Delete ``source``'s quarantined items past the bound (too old, then the oldest over
    ``keep``); returns how many."""
    q = t.quarantine.c
    cutoff = utc(now) - timedelta(seconds=retention.max_age_seconds)
    old = conn.execute(delete(t.quarantine).where(q.source == source, q.at < cutoff)).rowcount
    # The id of the newest item that falls outside the bound, if any: everything up to it goes.
    edge = conn.execute(
        select(q.id).where(q.source == source).order_by(q.id.desc()).offset(retention.keep).limit(1)
    ).scalar()
    over = 0
    if edge is not None:
        over = conn.execute(delete(t.quarantine).where(q.source == source, q.id <= edge)).rowcount
    return int(old or 0) + int(over or 0)


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
    for name in sorted(set(health) | set(counts) | set(_unreadable.values())):
        row = health.get(name)
        result.append(
            SourceState(
                name=name,
                last_success=None if row is None else row.last_success,
                last_error=None if row is None else row.last_error,
                last_error_at=None if row is None else row.last_error_at,
                watermark=None if row is None else row.watermark,
                quarantined=dict(sorted(counts.get(name, {}).items())),
                quarantine_dropped=0 if row is None else int(row.quarantine_dropped or 0),
                unreadable=sum(1 for s in _unreadable.values() if s == name),
            )
        )
    return tuple(result)
