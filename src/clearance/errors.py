"""Every error Clearance raises on purpose, in one tree.

    ClearanceError
    ├── ConfigError                  clearance.yaml missing, unreadable or invalid; a bad flag
    │   └── PortInUseError           ``serve`` cannot bind its address (exit 6)
    ├── PolicyError                  a policy file that cannot be used (all problems listed)
    ├── ModelError
    │   ├── InvalidAssetError        an asset value that cannot be normalized
    │   ├── InvalidSignalError       a signal that breaks its invariants
    │   ├── InvalidPrincipalError    a name that cannot name a principal
    │   └── UnknownStatusError       an approval status a client does not know (never proceed)
    ├── TargetError
    │   ├── UnknownEnvironmentError  the policy has no such environment
    │   └── UnknownTargetError       the inventory cannot resolve the target
    ├── SourceError                  a signal source failed (names the source, never a secret)
    ├── InventoryError               an inventory failed (names the inventory)
    └── ServiceCallError             asking the Clearance service failed (``clearance.client``)
        ├── ServiceUnavailableError  unreachable, or 5xx/429 after the retries (exit 5)
        └── ServiceRefusedError      the service refused the request: a 4xx (exit 2)

Foreign exceptions (YAML, pydantic, I/O, vendor SDKs) are re-raised as one of these ``from`` the
original, so the CLI and server map errors to exit codes and HTTP statuses in one place each.
Messages say where, what, and what to try.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ClearanceError(Exception):
    """Root of every error Clearance raises on purpose."""


class ConfigError(ClearanceError):
    """A configuration mistake. ``tip`` is what to try, when there is something more to say than
    the message does (the CLI prints no tip otherwise, rather than one that does not apply)."""

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        self.tip = tip
        super().__init__(message)


class PortInUseError(ConfigError):
    """``serve`` cannot start: the address is taken (another server, or an earlier one)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a file, located like a compiler error: ``file:line:col: message``
    (line 0: the file as a whole, ``file: message``)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line < 1:  # the whole file (it cannot be read): no made-up position
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PolicyError(ClearanceError):
    """A policy that cannot be used. Carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ModelError(ClearanceError):
    pass


class InvalidAssetError(ModelError, ValueError):
    pass


class InvalidSignalError(ModelError, ValueError):
    pass


class InvalidPrincipalError(ModelError, ValueError):
    """A name that cannot name a principal (empty, control characters, a bad namespace)."""


class UnknownStatusError(ModelError, ValueError):
    """A status this Clearance does not know (a newer or a broken service): never proceed."""


class TargetError(ClearanceError):
    pass


class UnknownEnvironmentError(TargetError):
    pass


class UnknownTargetError(TargetError):
    pass


class SourceError(ClearanceError):
    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"source {source!r}: {message}")


class InventoryError(ClearanceError):
    def __init__(self, inventory: str, message: str) -> None:
        self.inventory = inventory
        super().__init__(f"inventory {inventory!r}: {message}")


class ServiceCallError(ClearanceError):
    """Asking the Clearance service failed. Messages name the service, never the credential."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ServiceUnavailableError(ServiceCallError):
    """The service could not be reached, or kept answering 429/503/5xx through the retries."""


class ServiceRefusedError(ServiceCallError):
    """The service answered a 4xx: a bad credential, a missing scope, a refused or bad request."""
