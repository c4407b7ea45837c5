"""Refusals the service makes on purpose, beside the store's errors (HTTP status in brackets).

ClearanceError
└── ServiceError
    ├── RefusedError      the caller may not do this (403): self-approval, wrong group
    └── StateError        the decision is not in a state that allows it (409)
"""

from __future__ import annotations

from clearance.errors import ClearanceError


class ServiceError(ClearanceError):
    pass


class RefusedError(ServiceError):
    """Authenticated and in scope, but not allowed: the message says why."""


class StateError(ServiceError):
    """E.g. approving a decision whose verdict is not ``approve``."""
