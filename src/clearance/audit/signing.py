"""Signing checkpoints with a key kept outside the database, and checking them with its public key.

A :class:`Signer` is anything with a ``key_id`` and a ``sign(message) -> signature``: the
shipped one reads an Ed25519 private key from a PEM file (``clearance audit keygen`` makes one).
A key held in a KMS or an HSM plugs in as another ``Signer`` whose ``sign`` calls the KMS's
sign operation on an Ed25519 key and whose ``key_id`` is :func:`key_id` of its public key:
verification needs only that public key (PEM), never the signer.

A key id names the public key: ``ed25519:`` and the first 16 hex digits of the sha256 of its raw
32 bytes, so a checkpoint says which key signed it and keys can be rotated (verify with each).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from clearance.errors import SigningKeyError


class Signer(Protocol):
    """Signs checkpoint statements. Implementations keep the private key out of the database."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature of ``message`` (64 bytes)."""
        ...


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


class Ed25519FileSigner:
    """An Ed25519 private key read once from an unencrypted PKCS#8 PEM file."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._key_id = key_id(private_key.public_key())

    @classmethod
    def from_file(cls, path: Path) -> Ed25519FileSigner:
        data = _read(path, "audit signing key")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise SigningKeyError(
                f"audit signing key {path}: not an unencrypted PEM private key ({exc}); "
                "make one with `clearance audit keygen`"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(
                f"audit signing key {path}: a {type(key).__name__}, not an Ed25519 key; "
                "make one with `clearance audit keygen`"
            )
        return cls(key)

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


@dataclass(frozen=True, slots=True)
class PublicKeys:
    """The public keys a verifier trusts, by key id (several while a key is being rotated)."""

    by_id: Mapping[str, Ed25519PublicKey]

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> PublicKeys:
        keys: dict[str, Ed25519PublicKey] = {}
        for path in paths:
            data = _read(path, "audit public key")
            try:
                key = serialization.load_pem_public_key(data)
            except (ValueError, UnsupportedAlgorithm) as exc:
                raise SigningKeyError(
                    f"audit public key {path}: not a PEM public key ({exc}); "
                    "`clearance audit keygen` writes it beside the private key as KEY.pub"
                ) from exc
            if not isinstance(key, Ed25519PublicKey):
                raise SigningKeyError(f"audit public key {path}: not an Ed25519 key")
            keys[key_id(key)] = key
        return cls(keys)

    def check(self, key: str, message: bytes, signature: bytes) -> str | None:
        """None when ``signature`` by ``key`` over ``message`` holds; else what is wrong."""
        public = self.by_id.get(key)
        if public is None:
            known = ", ".join(sorted(self.by_id)) or "none"
            return f"it is signed by key {key}, not one of the keys given ({known})"
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return f"its signature does not verify with key {key} (forged or altered)"
        return None


def generate(private_path: Path) -> tuple[Path, str]:
    """Write a new Ed25519 key pair: ``private_path`` (mode 0600) and ``private_path.pub``.

    Refuses to overwrite either file. Returns the public key's path and the key id.
    """
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise SigningKeyError(f"{path} exists; choose another name (keys are never replaced)")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        # Created 0600 and exclusive: the private key is never readable by others, not even
        # between the write and a chmod.
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private_pem)
        public_path.write_bytes(public_pem)
    except OSError as exc:
        raise SigningKeyError(f"cannot write the key pair at {private_path}: {exc}") from exc
    return public_path, key_id(key.public_key())


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the {what} {path}: {exc.strerror}") from exc
