"""The store's contract is split by role: each method of ``Store`` belongs to exactly one role,
so a method added to the union without a role (or to two roles) is caught here."""

from __future__ import annotations

import inspect
from pathlib import Path

from clearance.store import interface
from clearance.store.interface import (
    CheckStore,
    DecisionLogStore,
    GateStore,
    GrantStore,
    ReferenceStore,
    SignalStore,
    SourceHealthStore,
    Store,
    StoreLifecycle,
    TokenStore,
)
from clearance.store.sql import SqlStore

ROLES = (
    StoreLifecycle,
    SignalStore,
    SourceHealthStore,
    ReferenceStore,
    DecisionLogStore,
    GrantStore,
    TokenStore,
    GateStore,
    CheckStore,
)


def _members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_every_method_of_the_store_has_exactly_one_role() -> None:
    owners: dict[str, list[str]] = {}
    for role in ROLES:
        for name in _members(role):
            owners.setdefault(name, []).append(role.__name__)
    shared = {name: roles for name, roles in owners.items() if len(roles) > 1}
    assert shared == {}
    union = {n for n, _ in inspect.getmembers(Store) if not n.startswith("_")}
    assert union - set(owners) == set()  # nothing in Store outside a role
    assert set(Store.__mro__[1 : len(ROLES) + 1]) == set(ROLES)


def test_the_sql_store_implements_every_role(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'roles.db'}", migrate=True)
    try:
        for role in ROLES:
            missing = {name for name in _members(role) if not hasattr(store, name)}
            assert missing == set(), (role.__name__, missing)
    finally:
        store.close()


def test_roles_are_exported() -> None:
    assert {role.__name__ for role in ROLES} <= set(interface.__all__)
