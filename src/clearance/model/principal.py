"""Principals: one canonical name for every person or system that calls Clearance.

A principal is written ``namespace:name``. The namespace says whose names these are:

* ``user`` — people. API token owners live here (``clearance tokens create --owner alice``;
  a token made before owners existed is owned by its own name), and so do the names an OIDC
  issuer's claim gives, unless that issuer is configured with a namespace of its own.
* anything else — an issuer configured apart (``namespace: github``), or a system:
  ``github-app:installation/42``, ``kube-apiserver:prod-eu``.

A namespace never contains ``:``, and the name is everything after the first one, so no name
can reach into another namespace: an OIDC subject ``token:carol`` is ``user:token:carol``,
never the token owner ``user:carol``. The namespace ``token`` is reserved: it is how records
made before principals named API tokens (:func:`recorded` reads them).

Names are normalised — Unicode NFKC, case-folded, surrounding space removed — so ``Alice`` and
``alice`` are one person. Nothing else is joined unless configured (:class:`PrincipalMap`): an
email is the person of its local part only when its domain is listed, and other names of one
person are joined by explicit aliases. Merging two people fails closed (they count once and
neither may approve the other's change); guessing could let one person count twice, so we never
guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NewType

from clearance.errors import InvalidPrincipalError

PrincipalId = NewType("PrincipalId", str)

USER = "user"
LEGACY_TOKEN = "token"  # noqa: S105 - a namespace, not a secret
MAX_NAME = 180  # the columns hold 200 characters: room for the namespace
_NAMESPACE = re.compile(r"^[a-z][a-z0-9.-]{0,62}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise_name(name: str) -> str:
    """``name`` as principals compare it: NFKC, case-folded, without surrounding space."""
    folded = unicodedata.normalize("NFKC", name).casefold().strip()
    if not folded:
        raise InvalidPrincipalError("a principal needs a name: it is empty")
    if _CONTROL.search(folded):
        raise InvalidPrincipalError(f"name {name!r} holds control characters")
    if len(folded) > MAX_NAME:
        raise InvalidPrincipalError(f"name {name[:40]!r}… is longer than {MAX_NAME} characters")
    return folded


def check_namespace(namespace: str) -> str:
    if not _NAMESPACE.match(namespace):
        raise InvalidPrincipalError(
            f"namespace {namespace!r} must be lower-case letters, digits, '.' or '-', "
            "starting with a letter (e.g. user, github)"
        )
    return namespace


def principal(namespace: str, name: str) -> PrincipalId:
    """``namespace:name``, normalised. The ``token`` namespace is reserved for old records."""
    if check_namespace(namespace) == LEGACY_TOKEN:
        raise InvalidPrincipalError(
            "the namespace 'token' is reserved (records made before principals used it)"
        )
    return PrincipalId(f"{namespace}:{normalise_name(name)}")


def split(value: PrincipalId) -> tuple[str, str]:
    namespace, _, name = value.partition(":")
    return namespace, name


def parse(text: str) -> PrincipalId:
    """A principal as a person writes one: ``alice`` is ``user:alice``; ``github:alice-gh``
    names another namespace (the part before the first ``:`` must be a valid namespace)."""
    namespace, sep, name = text.strip().partition(":")
    if sep and _NAMESPACE.match(namespace):
        return principal(namespace, name)
    return principal(USER, text)


def recorded(subject: str) -> PrincipalId:
    """The principal of a name as the store or the log holds it, old records included.

    Before principals, an API token was recorded as ``token:NAME`` and an OIDC caller by its raw
    claim (``Alice``): those read as ``user:name``. A principal reads as itself. Never raises: a
    value that cannot be normalised is kept as a ``user`` name of its own, so it matches no one.
    """
    namespace, sep, name = subject.partition(":")
    try:
        if sep and namespace == LEGACY_TOKEN:
            return principal(USER, name)
        if sep and _NAMESPACE.match(namespace):
            return principal(namespace, name)
        return principal(USER, subject)
    except InvalidPrincipalError:
        return PrincipalId(f"{USER}:{subject}")


@dataclass(frozen=True, slots=True)
class PrincipalMap:
    """The configured joins: email domains whose addresses name a person by the local part,
    and aliases (one principal → another). Settings: ``server.principals``."""

    email_domains: frozenset[str] = frozenset()
    aliases: Mapping[PrincipalId, PrincipalId] = field(default_factory=dict)

    @classmethod
    def configure(cls, email_domains: Iterable[str], aliases: Mapping[str, str]) -> PrincipalMap:
        """Raise InvalidPrincipalError for a bad name or an alias chain (``a → b → c``)."""
        joined = {parse(k): parse(v) for k, v in aliases.items()}
        chained = sorted(k for k, v in joined.items() if v in joined)
        if chained:
            raise InvalidPrincipalError(
                f"aliases must point at a principal that is not itself an alias: {chained[0]}"
            )
        domains = frozenset(normalise_name(d).lstrip("@") for d in email_domains)
        return cls(domains, joined)

    def person(self, name: str, namespace: str = USER) -> PrincipalId:
        """The principal ``name`` in ``namespace`` stands for, after the configured joins."""
        normal = normalise_name(name)
        local, at, domain = normal.rpartition("@")
        if at and local and domain in self.email_domains:
            normal = local
        found = principal(namespace, normal)
        return self.aliases.get(found, found)

    def canonical(self, value: str) -> PrincipalId:
        """A stored or recorded name (old records included) after the configured joins."""
        namespace, name = split(recorded(value))
        try:
            return self.person(name, namespace)
        except InvalidPrincipalError:
            return recorded(value)
