"""The per-target read caches (a target's last decision, its post-deploy checks) change no
recorded byte: the same requests at the same service times give the same decisions and the
same snapshots with ``read_cache`` on and off, drift and post-deploy checks included, and
every one of them replays as decided.

What this process writes is seen by its next decision at once, cache or not: its own append
(the last decision a drift is measured from), a deployment it notes and a check it records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from clearance.audit.replay import replay
from clearance.inventory.static import StaticInventory
from clearance.model.canonical import canonical_json
from server_harness import Live, start_live

ROOT = Path(__file__).parents[3]
REPORTS = ROOT / "tests" / "fixtures" / "reports"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
IMAGE = "ghcr.io/acme/clean:1.4@sha256:" + "a" * 64


def _running(root: Path, image: str) -> StaticInventory:
    target = {
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/clean",
        "assets": {"direct": ["pod:shop/clean-1", f"image:{image}"], "host": ["host:node-a"]},
    }
    path = root / "running.yaml"
    path.write_text(yaml.safe_dump({"targets": [target]}))
    return StaticInventory.from_file("hosts", path)


def _story(server: Live, root: Path) -> None:
    """Decisions of one target, some moments apart (within and past the cache's life), with
    a drift, a deployment noted and a failed then passing post-deploy check between them."""
    server.clock.now = AT
    server.ctx.store.record_source_success("edr", AT - timedelta(minutes=1))
    decisions = server.ctx.decisions
    decisions.inventory = _running(root, "ghcr.io/acme/clean:1.0")
    server.ask("clean")
    server.clock.advance(seconds=0.1)
    server.ask("clean", images=[IMAGE])
    decisions.inventory = _running(root, "ghcr.io/acme/clean:6.6-hotfix")  # kubectl set image
    server.clock.advance(seconds=0.1)
    drifted = server.ask("clean", images=[IMAGE])
    assert any(r["code"] == "rule:drift" for r in drifted["decision"]["reasons"])
    with server.client("ci") as c:
        assert c.post(f"/v1/decisions/{drifted['id']}/deployed").status_code == 200
        server.clock.advance(seconds=0.1)
        report = (REPORTS / "pytest-junit.failing.xml").read_text()
        body = {"report": {"format": "junit", "name": "smoke.xml", "content": report}}
        assert c.post(f"/v1/decisions/{drifted['id']}/checks", json=body).status_code == 201
    server.clock.advance(seconds=0.1)
    held = server.ask("clean", images=[IMAGE])
    assert any(r["code"] == "rule:failed-smoke-check" for r in held["decision"]["reasons"])
    server.clock.advance(seconds=2)  # past the cache's life
    server.ask("clean", images=[IMAGE])


def _recorded(store_url: str, root: Path, read_cache: float) -> list[tuple[str, bytes]]:
    root.mkdir()
    policy = (ROOT / "examples" / "policy.yaml").read_text()
    server, stop = start_live(store_url, root, policy=policy, read_cache=read_cache)
    try:
        _story(server, root)
        records = list(server.ctx.store.iter_records())
        assert all(replay(server.ctx.store, r.decision_id).identical for r in records)
        return [(r.decision_id, canonical_json(dict(r.snapshot))) for r in records]
    finally:
        stop()


def test_the_caches_change_no_recorded_byte(tmp_path: Path) -> None:
    cached = _recorded(f"sqlite:///{tmp_path / 'cached.db'}", tmp_path / "cached", 0.5)
    uncached = _recorded(f"sqlite:///{tmp_path / 'uncached.db'}", tmp_path / "uncached", 0.0)
    assert len(cached) == 5
    assert cached == uncached


def test_a_deployment_noted_here_is_read_by_the_next_decision_at_once(tmp_path: Path) -> None:
    server, stop = start_live(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, read_cache=0.5)
    try:
        server.ask("clean")
        calls: list[object] = []
        real = server.ctx.store.checks_for

        def counted(t: Any) -> Any:
            calls.append(t)
            return real(t)

        server.ctx.store.checks_for = counted  # type: ignore[method-assign,assignment]
        server.ask("clean")
        assert calls == []  # within read_cache, unchanged: not read again
        decision = server.ask("clean")["id"]
        with server.client("ci") as c:
            assert c.post(f"/v1/decisions/{decision}/deployed").status_code == 200
        server.ask("clean")
        assert len(calls) == 1  # the deployment changed what it reads: read again
        server.clock.advance(seconds=1)
        server.ask("clean")
        assert len(calls) == 2  # and again once the cache's life (0.5 s) has passed
    finally:
        stop()
