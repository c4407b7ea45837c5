"""Signed checkpoints of the chain's head, their copy outside the database, and checking them.

A checkpoint is the statement ``{"at", "head_hash", "key_id", "seq", "type"}`` as RFC 8785
canonical JSON, signed (Ed25519) by a key kept outside the database. Whoever can write the
database can rewrite the chain and seal it again, but cannot sign: a checkpoint's head hash then
no longer matches the record at its seq. Whoever can write the database can also delete
checkpoints there, so each is mirrored to an append-only copy outside it (:class:`Mirror`): a
JSON Lines file (each line the statement plus ``signature``), or a directory holding one file per
checkpoint, each created once and never rewritten.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from clearance.errors import CheckpointError
from clearance.model.canonical import canonical_json
from clearance.model.signal import format_time, parse_time, utc
from clearance.store.interface import Checkpoint

CHECKPOINT_TYPE = "clearance.audit.checkpoint/v1"


def statement(seq: int, head_hash: str, at: datetime, key_id: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return canonical_json(
        {
            "at": format_time(utc(at)),
            "head_hash": head_hash,
            "key_id": key_id,
            "seq": seq,
            "type": CHECKPOINT_TYPE,
        }
    )


def signed_bytes(checkpoint: Checkpoint) -> bytes:
    return statement(checkpoint.seq, checkpoint.head_hash, checkpoint.at, checkpoint.key_id)


def signature_of(checkpoint: Checkpoint) -> bytes | None:
    try:
        return base64.b64decode(checkpoint.signature, validate=True)
    except (binascii.Error, ValueError):
        return None


def to_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        **json.loads(signed_bytes(checkpoint)),
        "signature": checkpoint.signature,
    }


def from_json(data: Any) -> Checkpoint:
    """Raise ValueError (or KeyError, TypeError) for anything that is not a checkpoint."""
    if not isinstance(data, dict) or data.get("type") != CHECKPOINT_TYPE:
        raise ValueError(f"not a {CHECKPOINT_TYPE} statement")
    seq = data["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError(f"seq {seq!r} is not a record number")
    return Checkpoint(
        seq=seq,
        head_hash=str(data["head_hash"]),
        at=parse_time(str(data["at"])),
        key_id=str(data["key_id"]),
        signature=str(data["signature"]),
    )


class Mirror:
    """The append-only copy outside the database: ``path`` is a file (JSON Lines, appended) or
    an existing directory (one file per checkpoint, created exclusively)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, checkpoint: Checkpoint) -> None:
        line = canonical_json(to_json(checkpoint)) + b"\n"
        try:
            if self.path.is_dir():
                stamp = format_time(utc(checkpoint.at)).replace(":", "")
                name = f"{checkpoint.seq:012d}-{stamp}.json"
                self._write(self.path / name, line, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            else:
                self._write(self.path, line, os.O_CREAT | os.O_APPEND | os.O_WRONLY)
        except OSError as exc:
            raise CheckpointError(
                f"cannot write the checkpoint copy at {self.path}: {exc.strerror}; the "
                "checkpoint is in the database, but its external copy is what survives "
                "someone who can write the database: fix the path or its permissions"
            ) from exc

    @staticmethod
    def _write(path: Path, data: bytes, flags: int) -> None:
        fd = os.open(path, flags, 0o644)
        try:
            os.write(fd, data)  # one write of one line: appends never interleave
            os.fsync(fd)
        finally:
            os.close(fd)


def read_external(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints of an external copy (file or directory), and a note for each bad line."""
    found: list[Checkpoint] = []
    problems: list[str] = []
    for where, line in _lines(path):
        if not line.strip():
            continue
        try:
            found.append(from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{where} is not a checkpoint ({exc})")
    return found, problems


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    try:
        files = sorted(path.glob("*.json*")) if path.is_dir() else [path]
        for file in files:
            text = file.read_text(encoding="utf-8")
            for number, line in enumerate(text.splitlines(), start=1):
                yield f"{file}:{number}", line
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read the checkpoint copy {path}: {exc}") from exc
