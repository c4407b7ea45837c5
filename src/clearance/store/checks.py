"""Post-deploy checks: stored against their decision, read back as the latest check of a target
and the latest check of a release in each other environment."""

from __future__ import annotations

import json

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.engine import Connection

from clearance.model.checks import PostDeployCheck
from clearance.model.reports import Report
from clearance.store import tables as t

# A release deployed to more environments than this is not a case worth a bigger query.
_RELEASE_ROWS = 200


def add(conn: Connection, check: PostDeployCheck, release: str | None, by: str | None) -> None:
    conn.execute(
        insert(t.post_deploy_checks).values(
            id=check.id,
            decision_id=check.decision_id,
            environment=check.environment,
            target_key=check.target_key,
            release=release,
            at=check.at,
            by=by,
            failed=check.failed,
            report=json.dumps(check.report.to_dict(), sort_keys=True),
        )
    )


def latest_of_target(
    conn: Connection, environment: str, target_key: str, deployed: str | None
) -> PostDeployCheck | None:
    """The latest check of the target's running release: of ``deployed`` (the decision noted
    as its latest deploy), or, where no deploy was noted, of any decision of the target."""
    c = t.post_deploy_checks.c
    query = select(t.post_deploy_checks).where(
        c.environment == environment, c.target_key == target_key
    )
    if deployed is not None:  # a release deployed since the check replaced what it checked
        query = query.where(c.decision_id == deployed)
    row = conn.execute(query.order_by(c.at.desc(), c.id.desc()).limit(1)).mappings().first()
    return None if row is None else _check(row)


def deployed_decision(conn: Connection, key: str) -> str | None:
    """The decision noted as the target's latest deploy (``deployments``), if any."""
    found = conn.execute(
        select(t.deployments.c.decision_id).where(t.deployments.c.key == key)
    ).scalar()
    return None if found is None else str(found)


def latest_of_release(conn: Connection, release: str, besides: str) -> list[PostDeployCheck]:
    """The latest check of ``release`` on each target of each environment but ``besides``."""
    c = t.post_deploy_checks.c
    rows = conn.execute(
        select(t.post_deploy_checks)
        .where(c.release == release, c.environment != besides)
        .order_by(c.at.desc(), c.id.desc())
        .limit(_RELEASE_ROWS)
    ).mappings()
    latest: dict[tuple[str, str], PostDeployCheck] = {}
    for row in rows:
        latest.setdefault((row["environment"], row["target_key"]), _check(row))
    return [latest[key] for key in sorted(latest)]


def of_decision(conn: Connection, decision_id: str) -> list[PostDeployCheck]:
    c = t.post_deploy_checks.c
    rows = conn.execute(
        select(t.post_deploy_checks).where(c.decision_id == decision_id).order_by(c.at, c.id)
    ).mappings()
    return [_check(row) for row in rows]


def _check(r: RowMapping) -> PostDeployCheck:
    return PostDeployCheck(
        id=r["id"],
        decision_id=r["decision_id"],
        environment=r["environment"],
        target_key=r["target_key"],
        at=r["at"],
        report=Report.from_dict(json.loads(r["report"])),
    )
