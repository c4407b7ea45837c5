"""Asset references: the vocabulary that joins a signal to what a deployment touches.

Every platform names the same machine differently (``IP-10-0-1-5`` to one EDR, an FQDN to
another, a MAC to a third), so every value is normalized once, here, when the reference is made.
Correlation then compares normalized values only.

Matching is by :func:`index_keys` (what a reference is filed under) and :func:`compatible`
(whether two references filed under the same key really name the same thing). The split lets the
index stay a plain dict while short host names and 12-character container ids still match their
long forms without matching unrelated machines.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from functools import lru_cache

import msgspec

from clearance.errors import InvalidAssetError


class AssetKind(StrEnum):
    HOST = "host"
    INSTANCE = "instance"
    IP = "ip"
    MAC = "mac"
    CONTAINER = "container"
    POD = "pod"
    NAMESPACE = "namespace"
    CLUSTER = "cluster"
    IMAGE = "image"
    WORKLOAD = "workload"


class AssetRef(msgspec.Struct, frozen=True, order=True):
    """A normalized ``(kind, value)`` pair. Build one with :func:`asset` or the ``of_*`` helpers."""

    kind: AssetKind
    value: str

    def __str__(self) -> str:
        # StrEnum members are str: concatenation skips Enum's formatting machinery.
        return self.kind + ":" + self.value


# Container runtimes prefix ids in pod status: "containerd://", "docker://", "cri-o://".
_RUNTIME_PREFIX = re.compile(r"^[a-z0-9-]+://")
_HEX = re.compile(r"^[0-9a-f]+$")
_MAC_DIGITS = re.compile(r"[^0-9a-f]")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Falco reports the 12-character truncation of a container id; runtimes report 64 characters.
SHORT_CONTAINER_ID = 12


def normalize_host(value: str) -> str:
    host = value.strip().rstrip(".").lower()
    if not host or any(ch.isspace() for ch in host):
        raise InvalidAssetError(f"invalid host name {value!r}")
    return host


def normalize_mac(value: str) -> str:
    digits = _MAC_DIGITS.sub("", value.strip().lower())
    if len(digits) != 12:
        raise InvalidAssetError(f"invalid MAC address {value!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError as exc:
        raise InvalidAssetError(f"invalid IP address {value!r}") from exc


def normalize_container(value: str) -> str:
    cid = _RUNTIME_PREFIX.sub("", value.strip().lower())
    if len(cid) < SHORT_CONTAINER_ID or not _HEX.match(cid):
        raise InvalidAssetError(f"invalid container id {value!r}")
    return cid


class ImageRef(msgspec.Struct, frozen=True):
    """An OCI image reference split into its parts (``registry/repo``, tag, digest)."""

    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        if not self.repository:  # a bare content address, as some scanners report it
            return self.digest or ""
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@lru_cache(maxsize=8192)
def parse_image(value: str) -> ImageRef:
    """Parse ``[registry/]repo[:tag][@sha256:…]`` the way container runtimes do.

    Memoized (an ImageRef is immutable): a decision compares the same few image names many
    times over (index keys, drift against the last decision, change-aware matching).

    Docker Hub shorthands are expanded (``nginx`` → ``docker.io/library/nginx``) so that the
    name in a pod spec matches the name a scanner reports. Runtime prefixes seen in
    ``status.containerStatuses[].imageID`` (``docker-pullable://``) are stripped.
    """
    text = _RUNTIME_PREFIX.sub("", value.strip())
    if not text or any(ch.isspace() for ch in text):
        raise InvalidAssetError(f"invalid image reference {value!r}")
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        digest = digest.lower()
        if not _DIGEST.match(digest):
            raise InvalidAssetError(f"invalid image digest in {value!r}")
    elif _DIGEST.match(text.lower()):
        # A bare digest (some scanners report only the content address).
        return ImageRef(repository="", tag=None, digest=text.lower())
    tag: str | None = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
    if not text:
        raise InvalidAssetError(f"invalid image reference {value!r}")
    parts = text.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if len(parts) == 1:
            parts = ["library", *parts]
        parts = ["docker.io", *parts]
    repository = "/".join(parts).lower()
    if not tag and not digest:
        tag = "latest"
    return ImageRef(repository=repository, tag=tag, digest=digest)


def asset(kind: AssetKind | str, value: str) -> AssetRef:
    """Make a normalized reference; raises :class:`InvalidAssetError` for a malformed value."""
    if kind.__class__ is not AssetKind:  # Enum lookup by value is slow; callers mostly pass one
        kind = AssetKind(kind)
    match kind:
        case AssetKind.HOST:
            norm = normalize_host(value)
        case AssetKind.IP:
            norm = normalize_ip(value)
        case AssetKind.MAC:
            norm = normalize_mac(value)
        case AssetKind.CONTAINER:
            norm = normalize_container(value)
        case AssetKind.IMAGE:
            norm = str(parse_image(value))
        case AssetKind.POD | AssetKind.NAMESPACE | AssetKind.WORKLOAD:
            norm = value.strip().lower()
            if "/" not in norm or norm.startswith("/") or norm.endswith("/"):
                raise InvalidAssetError(f"{kind} reference {value!r} must be scoped with '/'")
        case AssetKind.INSTANCE | AssetKind.CLUSTER:
            norm = value.strip().lower()
            if not norm:
                raise InvalidAssetError(f"empty {kind} reference")
        case _:  # pragma: no cover - AssetKind is closed
            raise InvalidAssetError(f"unknown asset kind {kind!r}")
    return AssetRef(kind, norm)


def parse_asset(text: str) -> AssetRef:
    """Parse the ``kind:value`` form used in files and policy (``host:web-1``)."""
    kind, sep, value = text.partition(":")
    if not sep:
        raise InvalidAssetError(f"asset {text!r} must be written kind:value")
    try:
        return asset(AssetKind(kind.strip().lower()), value)
    except ValueError as exc:
        if isinstance(exc, InvalidAssetError):
            raise
        kinds = ", ".join(k.value for k in AssetKind)
        raise InvalidAssetError(f"unknown asset kind {kind!r} (one of {kinds})") from exc


@lru_cache(maxsize=1 << 16)
def index_keys(ref: AssetRef) -> tuple[str, ...]:
    """The keys a reference is filed under in the correlation index.

    A host is filed under its short name so that ``web-1`` finds ``web-1.corp.example``; an image
    under its digest and its ``repo:tag`` so that either form finds it; a container under its
    12-character prefix. :func:`compatible` then rejects look-alikes that share a key.
    Cached: an exposure's assets are looked up on every decision about its target.
    """
    match ref.kind:
        case AssetKind.HOST:
            return (f"host:{ref.value.split('.', 1)[0]}",)
        case AssetKind.CONTAINER:
            return (f"container:{ref.value[:SHORT_CONTAINER_ID]}",)
        case AssetKind.IMAGE:
            image = parse_image(ref.value)
            keys: list[str] = []
            if image.digest:
                keys.append(f"image@{image.digest}")
            if image.repository and image.tag:
                keys.append(f"image:{image.repository}:{image.tag}")
            return tuple(keys)
        case _:
            return (str(ref),)


def compatible(a: AssetRef, b: AssetRef) -> bool:
    """Whether two references that share an index key name the same asset."""
    if a.kind is not b.kind:
        return False
    match a.kind:
        case AssetKind.HOST:
            # Same FQDN, or one side is a bare short name: web-1 ~ web-1.corp, but
            # web-1.corp !~ web-1.lab (two machines in two domains).
            return a.value == b.value or "." not in a.value or "." not in b.value
        case AssetKind.CONTAINER:
            short, long = sorted((a.value, b.value), key=len)
            return long.startswith(short)
        case AssetKind.IMAGE:
            ia, ib = parse_image(a.value), parse_image(b.value)
            if ia.digest and ib.digest:
                return ia.digest == ib.digest
            return ia.repository == ib.repository and ia.tag == ib.tag
        case _:
            return a.value == b.value
