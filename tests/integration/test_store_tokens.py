"""API tokens: the secret is shown once and never stored; verification names why it refuses."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from builders import NOW
from clearance.audit.export import export
from clearance.store import tables
from clearance.store.interface import ConflictError, NotFoundError, Scope, StoreError, TokenError
from clearance.store.sql import SqlStore
from store_samples import sample


def _all_stored_text(store: SqlStore) -> str:
    with store.db.engine.connect() as conn:
        return repr([tuple(row) for row in conn.execute(select(tables.api_tokens))])


def test_token_verifies_to_its_identity_and_scopes(store: SqlStore) -> None:
    info, secret = store.create_token("ci-deploy", [Scope.DECIDE, Scope.INGEST], NOW)
    assert secret.startswith("clr_")
    assert len(secret) > 40
    verified = store.verify_token(secret, NOW + timedelta(minutes=1))
    assert (verified.id, verified.name) == (info.id, "ci-deploy")
    assert verified.scopes == {Scope.DECIDE, Scope.INGEST}
    assert verified.caller().subject == "user:ci-deploy"  # no owner named: its name is
    assert store.list_tokens()[0].last_used_at == NOW + timedelta(minutes=1)


def test_a_token_belongs_to_its_owner(store: SqlStore) -> None:
    mine, secret = store.create_token("alice-laptop", [Scope.APPROVE], NOW, owner="Alice")
    assert mine.owner == "user:alice"
    verified = store.verify_token(secret, NOW)
    assert verified.caller().subject == "user:alice"
    bot, _ = store.create_token("deployer", [Scope.DECIDE], NOW, owner="service:deployer")
    assert bot.principal == "service:deployer"
    assert [t.principal for t in store.list_tokens()] == ["user:alice", "service:deployer"]
    for bad in ("token:alice", "", "bad ns:x\x01"):
        with pytest.raises(StoreError, match="owner cannot be a principal"):
            store.create_token(f"t-{len(bad)}", [Scope.DECIDE], NOW, owner=bad)


def test_only_the_hash_is_stored(store: SqlStore, store_url: str) -> None:
    _, secret = store.create_token("ci-deploy", [Scope.DECIDE], NOW)
    assert secret not in _all_stored_text(store)
    assert secret[4:] not in _all_stored_text(store)
    if store_url.startswith("sqlite:///"):
        store.close()
        raw = b"".join(
            p.read_bytes()
            for p in Path(store_url[len("sqlite:///") :]).parent.glob("clearance.db*")
        )
        assert secret.encode() not in raw
        assert secret[4:].encode() not in raw


def test_refusals_name_their_reason(store: SqlStore) -> None:
    expiring, secret_e = store.create_token("short", [Scope.DECIDE], NOW, NOW + timedelta(hours=1))
    revoked, secret_r = store.create_token("gone", [Scope.ADMIN], NOW)
    store.revoke_token(revoked.id, NOW)
    cases = [
        ("clr_not-a-token", "unknown"),
        (secret_r, "revoked"),
        (secret_e, "expired"),
    ]
    for secret, reason in cases:
        with pytest.raises(TokenError) as caught:
            store.verify_token(secret, NOW + timedelta(hours=2))
        assert caught.value.reason == reason
        assert secret not in str(caught.value)
    assert store.verify_token(secret_e, NOW + timedelta(minutes=59)).id == expiring.id


def test_names_unique_scopes_required_unknown_ids_named(store: SqlStore) -> None:
    store.create_token("ci", [Scope.DECIDE], NOW)
    with pytest.raises(ConflictError, match="'ci' exists"):
        store.create_token("ci", [Scope.DECIDE], NOW)
    with pytest.raises(StoreError, match="at least one scope"):
        store.create_token("empty", [], NOW)
    with pytest.raises(StoreError, match="scopes are decide, approve, admin, ingest"):
        store.create_token("bad", ["root"], NOW)  # type: ignore[list-item]
    with pytest.raises(NotFoundError, match="tok_nope"):
        store.revoke_token("tok_nope", NOW)


def test_no_token_reaches_the_decision_log_or_its_export(store: SqlStore) -> None:
    info, secret = store.create_token("ci", [Scope.DECIDE], NOW)
    s = sample(0)
    caller = store.verify_token(secret, NOW).caller()
    store.append_decision(s.decision, s.snapshot, caller, NOW)
    lines = "\n".join(export(store))
    assert info.id in lines
    assert secret not in lines
    assert secret[4:] not in lines
