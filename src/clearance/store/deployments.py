"""Deployed targets: noted once per target (the latest deploy replaces the earlier one), and the
watcher's alert claimed by a conditional UPDATE, so two replicas seeing the same new evidence at
once alert once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection

from clearance.store import tables as t


@dataclass(frozen=True, slots=True)
class Deployment:
    key: str
    decision_id: str
    target: dict[str, Any]  # the deployed decision's target (Target.to_dict)
    via: str
    by: str | None
    deployed_at: datetime
    alert_digest: str | None = None


def key_of(target: dict[str, Any]) -> str:
    return f"{target['environment']}|{target['cluster']}/{target['namespace']}/{target['workload']}"


def note(
    conn: Connection,
    decision_id: str,
    target: dict[str, Any],
    via: str,
    by: str | None,
    now: datetime,
) -> Deployment:
    key = key_of(target)
    values = {
        "decision_id": decision_id,
        "target": json.dumps(target, sort_keys=True),
        "via": via,
        "by": by,
        "deployed_at": now,
        "alert_digest": None,  # a new deploy is watched afresh
        "alerted_at": None,
    }
    found = conn.execute(update(t.deployments).where(t.deployments.c.key == key).values(**values))
    if found.rowcount == 0:
        conn.execute(insert(t.deployments).values(key=key, **values))
    return Deployment(key, decision_id, target, via, by, now)


def every(conn: Connection) -> list[Deployment]:
    rows = conn.execute(select(t.deployments).order_by(t.deployments.c.key)).mappings()
    return [
        Deployment(
            key=r["key"],
            decision_id=r["decision_id"],
            target=json.loads(r["target"]),
            via=r["via"],
            by=r["by"],
            deployed_at=r["deployed_at"],
            alert_digest=r["alert_digest"],
        )
        for r in rows
    ]


def claim_alert(conn: Connection, key: str, decision_id: str, digest: str, now: datetime) -> bool:
    """True for the one caller that records ``digest`` as the target's latest alert."""
    taken = conn.execute(
        update(t.deployments)
        .where(t.deployments.c.key == key)
        .where(t.deployments.c.decision_id == decision_id)  # not a deploy made since
        .where(or_(t.deployments.c.alert_digest.is_(None), t.deployments.c.alert_digest != digest))
        .values(alert_digest=digest, alerted_at=now)
    )
    return bool(taken.rowcount == 1)
