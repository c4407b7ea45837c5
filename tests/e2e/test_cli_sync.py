"""`clearance sync` through a real subprocess, into a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from cli_fleet import Fleet, Run

from clearance.store.sql import SqlStore


def test_sync_stores_signals_and_source_health(
    clearance: Run, fleet: Fleet, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = clearance("sync", "--config", str(fleet.config), "--database", url)
    assert result.code == 0, result.err
    assert "edr: ok, 1 page(s), 2 signal(s), 0 quarantined" in result.out
    store = SqlStore.open(url)
    try:
        assert store.get_signal("edr:2").severity == 5
        (health,) = store.source_health()
        assert health.name == "edr"
        assert health.last_success is not None
        assert health.last_success.isoformat() == "2026-11-28T12:00:00+00:00"  # the file's age
    finally:
        store.close()


def test_a_failing_source_is_recorded_and_exits_5(
    clearance: Run, fleet: Fleet, tmp_path: Path
) -> None:
    fleet.write_config([{"name": "edr", "type": "file", "path": "missing.jsonl", "retries": 0}])
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = clearance("sync", "--config", str(fleet.config), "--database", url)
    assert result.code == 5
    assert "edr: failed: source 'edr': cannot read" in result.out
    store = SqlStore.open(url)
    try:
        (state,) = store.source_states()
        assert state.last_success is None
        assert state.last_error is not None
    finally:
        store.close()
