"""``clearance audit`` and ``clearance tokens`` as a user runs them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import text

from clearance.cli import main
from clearance.model import Verdict
from clearance.store.sql import SqlStore
from store_samples import append, sample


def test_verify_reports_ok_then_the_first_broken_record(
    store: SqlStore, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        append(store, sample(i))
    assert main(["audit", "verify", "--database", store_url]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 records, head ")
    with store.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM decisions WHERE seq = 2"))
    assert main(["audit", "verify", "--database", store_url]) == 1
    err = capsys.readouterr().err
    assert "record seq 3" in err
    assert "deleted: seq 2 missing before it" in err


def test_export_writes_json_lines_since_a_time(
    store: SqlStore, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        append(store, sample(i * 60))
    since = ["--since", "2026-11-28T12:01:00Z"]
    code = main(["audit", "export", "--database", store_url, *since, "--redact", "caller.subject"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["seq"] for e in events] == [2, 3]
    assert all(e["redacted"] == ["caller.subject"] for e in events)


def test_replay_by_id_exits_zero_when_identical(
    store: SqlStore, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s = sample(0)
    append(store, s)
    assert main(["audit", "replay", "--database", store_url, s.decision.id]) == 0
    assert f"identical: {s.decision.id}" in capsys.readouterr().out


def test_unknown_decision_and_missing_database_are_errors(
    store: SqlStore, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "replay", "--database", store_url, "dec_nope"]) == 5
    assert "no decision with id 'dec_nope'" in capsys.readouterr().err
    missing = tmp_path / "typo.db"
    assert main(["audit", "verify", "--database", f"sqlite:///{missing}"]) == 5
    assert f"no database at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_database_url_comes_from_the_environment(
    store: SqlStore,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLEARANCE_DATABASE_URL", store_url)
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out.startswith("ok: 0 records")


def test_tokens_create_prints_the_secret_once_and_list_never(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--database", store_url]
    assert main(["tokens", "create", "ci", "--scope", "decide", "--expires-in", "30d", *args]) == 0
    out = capsys.readouterr()
    secret = out.out.strip()
    assert secret.startswith("clr_")
    assert "not shown again" in out.err
    assert secret not in out.err
    assert main(["tokens", "list", *args]) == 0
    listing = capsys.readouterr().out
    assert "ci  scopes=decide" in listing
    assert secret not in listing
    token_id = listing.split()[0]
    assert main(["tokens", "revoke", token_id, *args]) == 0
    assert "revoked " in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["tokens", "create", "x", "--scope", "root", *args])
    assert refused.value.code == 2
    assert "unknown scope 'root'" in capsys.readouterr().err


def test_verify_an_export_file_without_the_database(
    store: SqlStore, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(3):
        append(store, sample(i))
    assert main(["audit", "export", "--database", store_url]) == 0
    exported = tmp_path / "log.jsonl"
    exported.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["audit", "verify", "--file", str(exported)]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 records")
    exported.write_text(
        exported.read_text(encoding="utf-8").replace(
            '"subject":"dev@example.com"', '"subject":"x"'
        ),
        encoding="utf-8",
    )
    assert main(["audit", "verify", "--file", str(exported)]) == 1
    assert "record seq 1" in capsys.readouterr().err


def test_replay_all_reports_each_decision_and_fails_on_a_difference(
    store: SqlStore, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    honest, other = sample(0), sample(1)
    append(store, honest)
    append(
        store,
        replace(other, decision=msgspec.structs.replace(other.decision, verdict=Verdict.PROCEED)),
    )
    assert main(["audit", "replay", "--all", "--database", store_url]) == 1
    captured = capsys.readouterr()
    assert f"identical: {honest.decision.id}" in captured.out
    assert f"differs: {other.decision.id}" in captured.out
    assert '-  "verdict": "proceed"' in captured.out
    assert "2 replayed, 1 differ" in captured.err
