"""The tamper suite: an insider with write access to the database edits the log as they would,
with correct sha256s, and ``audit verify`` names every one (SQLite and PostgreSQL).

The log holds decisions and every kind of trust record, with signed checkpoints at seq 7, 13 and
16 in the database and in an external copy::

    1 policy.stored  2 token.created (ci)  3 token.created (old-ci)  4 token.revoked (old-ci)
    5-7 decisions                          ── checkpoint at 7
    8 approval (alice)  9 rejection (bob)  10 exception.created  11 exception.revoked
    12 break_glass.requested  13 break_glass.confirmed              ── checkpoint at 13
    14-16 decisions                                                 ── checkpoint at 16
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from audit_insider import Insider
from builders import NOW
from clearance.audit.anchoring import Anchors
from clearance.audit.checkpointer import Checkpointer
from clearance.audit.checkpoints import Mirror, read_external
from clearance.audit.signing import Ed25519FileSigner, PublicKeys, generate
from clearance.audit.verify import Break, BrokenRecord, VerifyResult, verify
from clearance.model import Exemption
from clearance.store.interface import Approval, ApprovalOutcome, BreakGlass, ConflictError, Scope
from clearance.store.sql import SqlStore
from store_samples import POLICY, POLICY_TEXT, append, sample

CHECKPOINT_TIMES = {7: NOW + timedelta(minutes=10), 13: NOW + timedelta(minutes=20)}
LAST_CHECKPOINT = NOW + timedelta(minutes=30)
VERIFY_AT = NOW + timedelta(minutes=40)


@dataclass
class Log:
    store: SqlStore
    public: Path
    copy: Path
    revoked_token: str
    secret: str  # of the live token "ci"
    insider: Insider

    def anchors(self, *, external: bool = True, max_age: timedelta | None = None) -> Anchors:
        found = read_external(self.copy)[0] if external else []
        return Anchors(
            keys=PublicKeys.from_files([self.public]),
            external=tuple(found),
            max_age=max_age,
            now=VERIFY_AT,
        )

    def verify(self, *, external: bool = True, max_age: timedelta | None = None) -> VerifyResult:
        return verify(self.store, self.anchors(external=external, max_age=max_age))


def _approval(decision_id: str, approver: str, outcome: ApprovalOutcome) -> Approval:
    return Approval(
        id=f"apr-{approver}",
        decision_id=decision_id,
        approver=approver,
        outcome=outcome,
        reason="looked at the evidence",
        at=NOW + timedelta(minutes=11),
        expires_at=NOW + timedelta(hours=4),
        score=42.38,
        signals=("edr:1",),
        groups=("security",),
    )


@pytest.fixture
def log(store: SqlStore, tmp_path: Path) -> Log:
    public, _ = generate(tmp_path / "audit.pem")
    signer = Ed25519FileSigner.from_file(tmp_path / "audit.pem")
    copy = tmp_path / "checkpoints.jsonl"
    checkpointer = Checkpointer(store, signer, mirror=Mirror(copy))
    store.put_policy(POLICY.digest, POLICY_TEXT, NOW, by="service")
    _, secret = store.create_token("ci", [Scope.DECIDE], NOW, by="local:root")
    old, _ = store.create_token("old-ci", [Scope.DECIDE, Scope.APPROVE], NOW, by="local:root")
    store.revoke_token(old.id, NOW + timedelta(minutes=1), by="local:root")
    ids = [append(store, sample(i)).decision_id for i in range(3)]
    checkpointer.write(CHECKPOINT_TIMES[7])
    store.add_approval(_approval(ids[1], "alice", ApprovalOutcome.APPROVE))
    store.add_approval(_approval(ids[2], "bob", ApprovalOutcome.REJECT))
    exemption = Exemption(
        id="exc-1",
        signal="edr:1",
        rule=None,
        environment="production",
        cluster="prod-eu",
        namespace="shop",
        workload="deployment/api",
        expires=NOW + timedelta(days=1),
        reason="lab host",
        ticket="SEC-1",
        approver="carol",
        created_by="carol",
    )
    store.add_exemption(exemption, NOW + timedelta(minutes=12))
    store.revoke_exemption("exc-1", "dana", NOW + timedelta(minutes=13))
    grant = BreakGlass(
        id="bg-1",
        environment="production",
        target_key="prod-eu/shop/deployment/api",
        reason="payment outage",
        ticket="INC-4711",
        requested_by="alice",
        at=NOW + timedelta(minutes=14),
        expires_at=NOW + timedelta(hours=1),
        decision_id=ids[2],
    )
    store.add_break_glass(grant)
    store.confirm_break_glass("bg-1", "bob", NOW + timedelta(minutes=15))
    checkpointer.write(CHECKPOINT_TIMES[13])
    for i in range(3, 6):
        append(store, sample(i))
    checkpointer.write(LAST_CHECKPOINT)
    return Log(store, public, copy, old.id, secret, Insider(store))


def _only(result: VerifyResult, kind: Break) -> list[BrokenRecord]:
    found = [f for f in result.findings if f.kind is kind]
    assert found, f"expected {kind.value}, found {[str(f) for f in result.findings]}"
    return found


def test_an_untouched_log_verifies_against_its_checkpoints(log: Log) -> None:
    result = log.verify(max_age=timedelta(minutes=15))
    assert result.ok, [str(f) for f in result.findings]
    assert (result.records, result.head_seq) == (16, 16)
    assert result.counts == {
        "decision": 6,
        "policy.stored": 1,
        "token.created": 2,
        "token.revoked": 1,
        "approval": 1,
        "rejection": 1,
        "exception.created": 1,
        "exception.revoked": 1,
        "break_glass.requested": 1,
        "break_glass.confirmed": 1,
    }
    assert any("3 checkpoints match; the latest covers seq 16" in n for n in result.notes)


def test_an_edited_decision_resealed_to_the_head_is_named_by_its_checkpoints(log: Log) -> None:
    rows = log.insider.rows()
    edited = rows[5]  # seq 6, a decision between the first two checkpoints
    edited.body["decision"] = {**edited.body["decision"], "verdict": "proceed", "score": 0.0}
    log.insider.reseal(rows)
    assert verify(log.store).ok is False  # even without the key: the stored checkpoints disagree
    result = log.verify()
    assert result.broken is None  # the chain itself was sealed again correctly
    first = _only(result, Break.RESEALED)[0]
    assert first.seq == 7
    assert "the log between seq 1 and 7 was rewritten and sealed again" in first.detail


def test_a_truncated_tail_with_its_checkpoints_deleted(log: Log) -> None:
    log.insider.truncate(13)
    gone = _only(log.verify(), Break.TRUNCATED)
    assert any("in the external copy but not in the database" in f.detail for f in gone)
    assert any("records 14..16 were deleted and the head moved back" in f.detail for f in gone)
    # Without the external copy, the checkpoint that should be there is missed: too old.
    stale = _only(log.verify(external=False, max_age=timedelta(minutes=15)), Break.STALE)
    assert "possible truncation" in stale[0].detail
    assert "seq 13" in stale[0].detail


def test_a_truncated_tail_under_its_own_checkpoint(log: Log) -> None:
    log.insider.truncate(14, checkpoints_too=False)
    (gone,) = _only(log.verify(external=False), Break.TRUNCATED)
    assert (gone.seq, gone.kind) == (15, Break.TRUNCATED)
    assert "says the log reached seq 16, but it ends at seq 14" in gone.detail


def test_a_deleted_middle_record(log: Log) -> None:
    log.insider.sql("DELETE FROM decisions WHERE seq = 15")
    broken = log.verify().broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (16, Break.DELETED)
    assert "seq 15 missing before it" in broken.detail


def test_a_deleted_middle_record_renumbered_and_resealed(log: Log) -> None:
    log.insider.reseal([r for r in log.insider.rows() if r.seq != 5])
    result = log.verify()
    assert result.broken is None
    assert [f.seq for f in _only(result, Break.RESEALED)] == [7, 13]
    assert "ends at seq 15" in _only(result, Break.TRUNCATED)[0].detail


def test_two_records_reordered(log: Log) -> None:
    log.insider.sql("UPDATE decisions SET seq = -1 WHERE seq = 14")
    log.insider.sql("UPDATE decisions SET seq = 14 WHERE seq = 15")
    log.insider.sql("UPDATE decisions SET seq = 15 WHERE seq = -1")
    broken = log.verify().broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (14, Break.REORDERED)


def test_two_records_reordered_and_resealed(log: Log) -> None:
    rows = log.insider.rows()
    rows[13], rows[14] = rows[14], rows[13]
    log.insider.reseal(rows)
    (resealed,) = _only(log.verify(), Break.RESEALED)
    assert resealed.seq == 16
    assert "between seq 14 and 16" in resealed.detail


def test_a_rewritten_approver(log: Log) -> None:
    log.insider.sql("UPDATE approvals SET approver = 'mallory' WHERE id = 'apr-alice'")
    result = log.verify()
    (found,) = _only(result, Break.MISMATCH)
    assert str(found) == (
        "mismatch: approval apr-alice approver is 'mallory' in the table, "
        "'alice' in the record at seq 8"
    )
    assert result.broken is None


def test_a_rejection_turned_into_an_approval(log: Log) -> None:
    log.insider.sql("UPDATE approvals SET outcome = 'approve' WHERE id = 'apr-bob'")
    (found,) = _only(log.verify(), Break.MISMATCH)
    assert "apr-bob outcome is 'approve' in the table, 'reject' in the record at seq 9" in str(
        found
    )


def test_a_deleted_break_glass_grant(log: Log) -> None:
    log.insider.sql("DELETE FROM break_glass WHERE id = 'bg-1'")
    (found,) = _only(log.verify(), Break.MISSING)
    assert str(found) == (
        "missing: break-glass grant bg-1 is in the record at seq 13 (break_glass.confirmed) "
        "but not in its table: it was deleted"
    )


def test_a_re_enabled_token(log: Log) -> None:
    log.insider.sql("UPDATE api_tokens SET revoked_at = NULL WHERE id = :i", i=log.revoked_token)
    (found,) = _only(log.verify(), Break.MISMATCH)
    assert f"token {log.revoked_token} revoked_at is null in the table" in found.detail
    assert "in the record at seq 4 (a revoked token was re-enabled)" in found.detail


def test_a_re_enabled_exception_and_an_unconfirmed_grant(log: Log) -> None:
    log.insider.sql("UPDATE exemptions SET revoked_at = NULL, revoked_by = NULL")
    log.insider.sql("UPDATE break_glass SET confirmed_by = 'alice'")
    found = {f.record_id: str(f) for f in _only(log.verify(), Break.MISMATCH)}
    assert "(a revoked exception was re-enabled)" in found["exc-1"]
    assert "revoked_by is null in the table, 'dana' in the record at seq 11" in found["exc-1"]
    assert "confirmed_by is 'alice' in the table, 'bob'" in found["bg-1"]


def test_a_token_secret_replaced_and_a_token_slipped_in(log: Log) -> None:
    log.insider.sql("UPDATE api_tokens SET hash = :h WHERE name = 'ci'", h="ab" * 32)
    log.insider.sql(
        "INSERT INTO api_tokens (id, name, hash, scopes, created_at) "
        "SELECT 'tok_backdoor', 'backdoor', :h, 'admin', created_at FROM api_tokens "
        "WHERE name = 'ci'",
        h="cd" * 32,
    )
    result = log.verify()
    assert "(the token's secret was replaced)" in str(_only(result, Break.MISMATCH)[0])
    (slipped,) = _only(result, Break.UNRECORDED)
    assert str(slipped) == (
        "unrecorded: token tok_backdoor is in the table, but no record in the chain holds it "
        "(written outside Clearance)"
    )


def test_an_approval_deleted_with_its_record_and_the_chain_resealed(log: Log) -> None:
    log.insider.sql("DELETE FROM approvals WHERE id = 'apr-alice'")
    log.insider.reseal([r for r in log.insider.rows() if r.seq != 8])
    result = log.verify()
    assert [f.seq for f in _only(result, Break.RESEALED)] == [13]
    assert [f.seq for f in _only(result, Break.TRUNCATED)] == [16]


def test_a_checkpoint_forged_with_another_key(log: Log, tmp_path: Path) -> None:
    generate(tmp_path / "mallory.pem")
    forger = Ed25519FileSigner.from_file(tmp_path / "mallory.pem")
    log.insider.reseal([r for r in log.insider.rows() if r.seq != 15])
    log.insider.sql("DELETE FROM audit_checkpoints")
    Checkpointer(log.store, forger).write(LAST_CHECKPOINT)
    result = log.verify(external=False)
    forged = _only(result, Break.CHECKPOINT)[0]
    assert f"signed by key {forger.key_id}, not one of the keys given" in forged.detail
    assert _only(result, Break.UNANCHORED)


def test_the_external_copy_is_append_only_json_lines(log: Log) -> None:
    lines = log.copy.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [7, 13, 16]
    assert [c.seq for c in log.store.checkpoints()] == [7, 13, 16]


def test_the_checkpointer_refuses_to_sign_a_rewritten_log(log: Log, tmp_path: Path) -> None:
    from clearance.errors import CheckpointError

    rows = log.insider.rows()
    rows[2].body["state"]["scopes"] = "admin approve decide"
    log.insider.reseal(rows)
    signer = Ed25519FileSigner.from_file(tmp_path / "audit.pem")
    with pytest.raises(CheckpointError, match="refusing to sign: the record at seq 16"):
        Checkpointer(log.store, signer).write(VERIFY_AT)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clearance", "audit", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_verify_through_the_cli(log: Log, store_url: str) -> None:
    anchored = ["--public-key", str(log.public), "--checkpoints", str(log.copy)]
    intact = _cli("verify", "--database", store_url, *anchored)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("ok: 16 records, head ")
    assert "3 checkpoints match; the latest covers seq 16" in intact.stdout

    log.insider.sql("UPDATE approvals SET approver = 'mallory' WHERE id = 'apr-alice'")
    log.insider.truncate(15)
    broken = _cli("verify", "--database", store_url, *anchored)
    assert broken.returncode == 1
    assert (
        "broken: mismatch: approval apr-alice approver is 'mallory' in the table, "
        "'alice' in the record at seq 8"
    ) in broken.stderr
    assert "broken: truncated: the checkpoint of seq 16 signed " in broken.stderr

    as_json = _cli("verify", "--database", store_url, *anchored, "--format", "json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert {p["kind"] for p in report["problems"]} == {"mismatch", "truncated"}


def test_export_holds_every_record_and_verifies_against_the_checkpoints(
    log: Log, store_url: str, tmp_path: Path
) -> None:
    exported = _cli("export", "--database", store_url)
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, 17))
    approval = events[7]
    assert (approval["kind"], approval["actor"], approval["id"]) == (
        "approval",
        "alice",
        "apr-alice",
    )
    assert approval["state"]["approver"] == "alice"
    token = events[1]["state"]
    assert set(token) == {"id", "name", "hash_fingerprint", "scopes", "created_at", "expires_at",
                          "revoked_at", "owner"}  # fmt: skip
    path = tmp_path / "log.jsonl"
    path.write_text(exported.stdout)
    anchored = ["--public-key", str(log.public), "--checkpoints", str(log.copy)]
    assert _cli("verify", "--export", str(path), *anchored).returncode == 0
    forged = exported.stdout.replace('"approver":"alice"', '"approver":"mallory"')
    path.write_text(forged)
    done = _cli("verify", "--export", str(path), *anchored)
    assert done.returncode == 1
    assert "record seq 8 (apr-alice) edited" in done.stderr


def test_a_repeated_revocation_or_confirmation_records_nothing(log: Log) -> None:
    store = log.store
    head = store.chain_head()
    store.revoke_token(log.revoked_token, VERIFY_AT, by="local:root")
    store.revoke_exemption("exc-1", "erin", VERIFY_AT)
    with pytest.raises(ConflictError, match="confirmed already"):  # refused, and not recorded
        store.confirm_break_glass("bg-1", "carol", VERIFY_AT)
    store.mark_break_glass_notified("bg-1", VERIFY_AT)  # delivery bookkeeping, not trust
    store.verify_token(log.secret, VERIFY_AT)  # notes last_used_at: not trust, not recorded
    assert store.chain_head() == head
    assert log.verify().ok


def test_a_later_grant_is_recorded_with_its_row(log: Log) -> None:
    store = log.store
    grant = store.list_break_glass(VERIFY_AT, include_expired=True)[0]
    store.add_break_glass(
        replace(grant, id="bg-2", at=VERIFY_AT, expires_at=VERIFY_AT + timedelta(hours=1))
    )
    store.revoke_break_glass("bg-2", VERIFY_AT + timedelta(minutes=1), by="alice")
    rows = log.insider.rows()
    assert [(r.body["kind"], r.body["actor"]) for r in rows[-2:]] == [
        ("break_glass.requested", "alice"),
        ("break_glass.revoked", "alice"),
    ]
    assert rows[-1].body["state"]["revoked_at"] is not None
    assert log.verify().ok
