"""Every error Clearance raises on purpose, in one tree, all defined here.

    ClearanceError
    ├── ConfigError                  clearance.yaml missing, unreadable or invalid; a bad flag
    │   ├── CaseFileError            a policy test file that breaks its format (policytest)
    │   ├── SigningKeyError          an audit signing/public key that cannot be used (audit)
    │   └── PortInUseError           ``serve`` cannot bind its address (exit 6)
    ├── PolicyError                  a policy file that cannot be used (all problems listed)
    ├── RuleError                    a CEL rule
    │   ├── RuleCompileError         does not compile (line/column within the expression)
    │   └── RuleEvaluationError      cannot be decided for this input (the engine fails closed)
    ├── ModelError
    │   ├── InvalidAssetError        an asset value that cannot be normalized
    │   ├── InvalidSignalError       a signal that breaks its invariants
    │   ├── InvalidPrincipalError    a name that cannot name a principal
    │   └── UnknownStatusError       an approval status a client does not know (never proceed)
    ├── TargetError                  a target that cannot be decided about (HTTP 422)
    │   └── UnknownEnvironmentError  the policy has no such environment
    ├── SourceError                  a signal source failed (names the source, never a secret)
    │   └── UnparseableError         a GuardDuty answer that does not fit the API model
    ├── InventoryError               an inventory failed (names the inventory)
    │   └── KubeApiError             a Kubernetes API call failed (names the cluster; its
    │                                ``failure``, a :class:`KubeFailure`, says how)
    ├── StoreError                   the store failed; the message names the operation
    │   ├── StoreUnavailableError    cannot connect, busy, or the append queue is full (503)
    │   ├── SchemaError              migrations are not current, or a bad URL
    │   ├── NotFoundError            no such decision, policy, exception or token (404)
    │   ├── ConflictError            a duplicate, or a grant in a state that forbids it (409)
    │   └── TokenError               a presented API token is unknown, revoked or expired (401)
    ├── LeaseError                   a sync lease cannot be taken or kept
    ├── AuditError                   the decision log's own machinery
    │   ├── ReplayError              a record cannot be replayed (its policy is gone)
    │   └── CheckpointError          a checkpoint cannot be made or kept
    ├── ServiceError                 a refusal the service makes on purpose
    │   ├── RefusedError             the caller may not do this (403): self-approval, wrong group
    │   ├── StateError               the decision's state does not allow it (409)
    │   ├── AuthError                no credential, or one that cannot be accepted (401)
    │   ├── ScopeError               authenticated, but the credential lacks the scope (403)
    │   ├── OverloadedError          too many decisions in flight (429 + Retry-After)
    │   └── InvalidInputError        field-level problems pydantic cannot see (422)
    ├── IntegrationError             a pipeline integration (admission, Argo, Flagger, GitHub)
    │   ├── PayloadError             a body that does not parse; names the field (400/422)
    │   ├── SignatureError           a webhook whose signature does not verify (401)
    │   ├── CallerError              a missing or refused credential (401)
    │   ├── CallbackError            a call back to the pipeline (GitHub) failed after retries
    │   └── ChecksError              a commit's checks could not be read from GitHub
    ├── ServiceCallError             asking the Clearance service failed (``clearance.client``)
    │   ├── ServiceUnavailableError  unreachable, or 5xx/429 after the retries (exit 5)
    │   └── ServiceRefusedError      the service refused the request: a 4xx (exit 2)
    └── SignInError                  a console sign-in could not be completed (never a token)

Foreign exceptions (YAML, pydantic, I/O, vendor SDKs) are re-raised as one of these ``from`` the
original, so the CLI and server map errors to exit codes and HTTP statuses in one place each
(``clearance.cli`` and ``clearance.server.errors``). Messages say where, what, and what to try.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ClearanceError(Exception):
    """Root of every error Clearance raises on purpose."""


class ConfigError(ClearanceError):
    """A configuration mistake. ``tip`` is what to try, when there is something more to say than
    the message does (the CLI prints no tip otherwise, rather than one that does not apply)."""

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        self.tip = tip
        super().__init__(message)


class CaseFileError(ConfigError):
    """A policy test file that cannot be read or does not follow the format (every problem
    listed); raised by :mod:`clearance.policytest`."""


class SigningKeyError(ConfigError):
    """A signing or public key cannot be read or used; the message names the file."""


class PortInUseError(ConfigError):
    """``serve`` cannot start: the address is taken (another server, or an earlier one)."""


# A dataclass, not a msgspec Struct as the model's records are: every command imports this
# module first, and msgspec would load with it (+37 M instructions for `clearance --help`);
# the dataclass costs a local check ~2.5 M.
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


class RuleError(ClearanceError):
    """A CEL rule that cannot be used."""


class RuleCompileError(RuleError):
    """A rule that cannot be compiled; ``line``/``column`` are 1-based within the expression."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        self.line = line
        self.column = column
        super().__init__(message)


class RuleEvaluationError(RuleError, ValueError):
    """A rule that cannot be decided for this input (a missing field, a non-boolean result).
    Still a ValueError: ``tests/unit/test_rules.py`` catches it as one."""


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


class ReportError(ModelError, ValueError):
    """A report about the change (JUnit, SARIF) that cannot be read: named, never half-read."""


class TargetError(ClearanceError):
    pass


class UnknownEnvironmentError(TargetError):
    pass


class SourceError(ClearanceError):
    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"source {source!r}: {message}")


class UnparseableError(SourceError):
    """A response botocore could not parse against the GuardDuty model."""


class InventoryError(ClearanceError):
    def __init__(self, inventory: str, message: str) -> None:
        self.inventory = inventory
        super().__init__(f"inventory {inventory!r}: {message}")


class KubeFailure(StrEnum):
    """How a Kubernetes API call failed, for the caller to act on (re-list on ``GONE``)."""

    UNREACHABLE = "unreachable"
    UNAUTHORIZED = "unauthorized"  # expired or rejected credential
    FORBIDDEN = "forbidden"  # RBAC
    GONE = "gone"  # resourceVersion too old: re-list
    NOT_FOUND = "not_found"  # e.g. an optional CRD (Argo Rollouts) not installed
    BAD_RESPONSE = "bad_response"
    CONFIG = "config"


class KubeApiError(InventoryError):
    """A failed API call, naming the inventory, the cluster and what was asked."""

    def __init__(self, inventory: str, cluster: str, failure: KubeFailure, message: str) -> None:
        self.cluster = cluster
        self.failure = failure
        super().__init__(inventory, f"cluster {cluster!r}: {message}")


class StoreError(ClearanceError):
    """The store failed; the message names the operation."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached, or stayed busy past the lock timeout. Safe to retry."""


class SchemaError(StoreError):
    """The schema is not at the migration head (or the URL is not a usable database)."""


class NotFoundError(StoreError):
    pass


class ConflictError(StoreError):
    pass


class TokenError(StoreError):
    """A presented API token was refused. ``reason`` is ``unknown``, ``revoked`` or ``expired``."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class LeaseError(ClearanceError):
    pass


class AuditError(ClearanceError):
    """The decision log's machinery (replay, checkpoints) cannot do what was asked."""


class ReplayError(AuditError):
    """A record cannot be replayed (its policy is missing or no longer loads)."""


class CheckpointError(AuditError):
    """A checkpoint cannot be made or kept: the message says where and what to try."""


class ServiceError(ClearanceError):
    """A refusal the service makes on purpose; the server maps each to its HTTP status."""


class RefusedError(ServiceError):
    """Authenticated and in scope, but not allowed: the message says why."""


class StateError(ServiceError):
    """E.g. approving a decision whose verdict is not ``approve``."""


class AuthError(ServiceError):
    """401: no credential, or one that cannot be accepted (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ScopeError(ServiceError):
    """403: authenticated, but the credential lacks the scope."""


class OverloadedError(ServiceError):
    """Too many decisions in flight (the service's ``max_in_flight``): 429 with Retry-After."""


class InvalidInputError(ServiceError):
    """422 with field-level problems found after pydantic (e.g. signals in a batch)."""

    def __init__(self, detail: str, errors: list[dict[str, Any]], **extra: Any) -> None:
        self.errors = errors
        self.extra = extra
        super().__init__(detail)


class IntegrationError(ClearanceError):
    pass


class PayloadError(IntegrationError):
    """The body does not parse. ``field`` is the dotted path of the first bad field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class SignatureError(IntegrationError):
    pass


class CallerError(IntegrationError):
    pass


class CallbackError(IntegrationError):
    pass


class ChecksError(IntegrationError):
    """A commit's check runs or its branch's required checks could not be read from GitHub.
    Messages name the repository and the HTTP status, never the token."""


class ServiceCallError(ClearanceError):
    """Asking the Clearance service failed. Messages name the service, never the credential."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ServiceUnavailableError(ServiceCallError):
    """The service could not be reached, or kept answering 429/503/5xx through the retries."""


class ServiceRefusedError(ServiceCallError):
    """The service answered a 4xx: a bad credential, a missing scope, a refused or bad request."""


class SignInError(ClearanceError):
    """The console sign-in could not be completed; the message says why (never a token or
    secret)."""
