"""Checkpoint keys and statements: made once, read strictly, checked with the public key only."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from clearance.audit.checkpoints import Mirror, from_json, read_external, signed_bytes, statement
from clearance.audit.signing import (
    Ed25519FileSigner,
    PublicKeys,
    generate,
)
from clearance.errors import CheckpointError, ConfigError, SigningKeyError
from clearance.store.interface import Checkpoint

AT = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def _checkpoint(signer: Ed25519FileSigner, seq: int = 7, head: str = "ab" * 32) -> Checkpoint:
    signature = signer.sign(statement(seq, head, AT, signer.key_id))
    return Checkpoint(seq, head, AT, signer.key_id, base64.b64encode(signature).decode())


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    public, key_id = generate(tmp_path / "audit.pem")
    assert public == tmp_path / "audit.pem.pub"
    assert stat.S_IMODE((tmp_path / "audit.pem").stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in public.read_bytes()
    assert Ed25519FileSigner.from_file(tmp_path / "audit.pem").key_id == key_id
    assert set(PublicKeys.from_files([public]).by_id) == {key_id}
    with pytest.raises(SigningKeyError, match="exists; choose another name"):
        generate(tmp_path / "audit.pem")


def test_a_checkpoint_verifies_with_the_public_key_and_nothing_else(tmp_path: Path) -> None:
    public, _ = generate(tmp_path / "a.pem")
    other_public, _ = generate(tmp_path / "b.pem")
    signer = Ed25519FileSigner.from_file(tmp_path / "a.pem")
    checkpoint = _checkpoint(signer)
    signature = base64.b64decode(checkpoint.signature)
    keys = PublicKeys.from_files([public, other_public])
    assert keys.check(signer.key_id, signed_bytes(checkpoint), signature) is None
    moved = statement(6, checkpoint.head_hash, AT, signer.key_id)
    assert "does not verify" in (keys.check(signer.key_id, moved, signature) or "")
    only_other = PublicKeys.from_files([other_public])
    assert "not one of the keys given" in (
        only_other.check(signer.key_id, signed_bytes(checkpoint), signature) or ""
    )


def test_the_signed_statement_is_canonical_and_names_everything(tmp_path: Path) -> None:
    generate(tmp_path / "a.pem")
    signer = Ed25519FileSigner.from_file(tmp_path / "a.pem")
    assert statement(7, "ab" * 32, AT, signer.key_id) == (
        b'{"at":"2026-11-28T12:00:00.123456Z","head_hash":"' + b"ab" * 32 + b'","key_id":"'
        + signer.key_id.encode() + b'","seq":7,"type":"clearance.audit.checkpoint/v1"}'
    )  # fmt: skip


def test_unusable_keys_are_configuration_errors_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the audit signing key .*missing\.pem"):
        Ed25519FileSigner.from_file(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(SigningKeyError, match=r"junk\.pem: not an unencrypted PEM private key"):
        Ed25519FileSigner.from_file(tmp_path / "junk.pem")
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_bytes(
        ecdsa.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        Ed25519FileSigner.from_file(tmp_path / "ec.pem")
    with pytest.raises(SigningKeyError, match="not a PEM public key"):
        PublicKeys.from_files([tmp_path / "junk.pem"])


def test_the_mirror_appends_lines_or_creates_one_file_each(tmp_path: Path) -> None:
    generate(tmp_path / "a.pem")
    signer = Ed25519FileSigner.from_file(tmp_path / "a.pem")
    first, second = _checkpoint(signer, 7), _checkpoint(signer, 9)
    copy = tmp_path / "checkpoints.jsonl"
    for checkpoint in (first, second):
        Mirror(copy).write(checkpoint)
    assert read_external(copy) == ([first, second], [])
    directory = tmp_path / "anchor"
    directory.mkdir()
    Mirror(directory).write(first)
    Mirror(directory).write(second)
    assert sorted(p.name for p in directory.iterdir()) == [
        "000000000007-2026-11-28T120000.123456Z.json",
        "000000000009-2026-11-28T120000.123456Z.json",
    ]
    with pytest.raises(CheckpointError, match="cannot write the checkpoint copy"):
        Mirror(directory).write(first)  # never rewritten
    assert read_external(directory) == ([first, second], [])


def test_a_bad_line_in_the_external_copy_is_reported_not_fatal(tmp_path: Path) -> None:
    generate(tmp_path / "a.pem")
    checkpoint = _checkpoint(Ed25519FileSigner.from_file(tmp_path / "a.pem"))
    copy = tmp_path / "checkpoints.jsonl"
    Mirror(copy).write(checkpoint)
    with copy.open("a") as out:
        out.write('{"type": "something else"}\n')
    found, problems = read_external(copy)
    assert found == [checkpoint]
    assert len(problems) == 1
    assert "checkpoints.jsonl:2 is not a checkpoint" in problems[0]
    with pytest.raises(ValueError, match="not a record number"):
        from_json({**json.loads(signed_bytes(checkpoint)), "seq": -1, "signature": "x"})
