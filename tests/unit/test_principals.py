"""Principals: normalised names, namespaces no name can cross, joins only where configured."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearance.errors import InvalidPrincipalError
from clearance.model.principal import PrincipalMap, parse, principal, recorded, split


def test_a_person_is_one_principal_however_their_name_is_written() -> None:
    names = PrincipalMap()
    assert {names.person(n) for n in ("alice", "Alice", " ALICE ", "ａｌｉｃｅ")} == {"user:alice"}
    assert names.person("alice@example.com") == "user:alice@example.com"  # never guessed


def test_configured_joins_and_only_those() -> None:
    names = PrincipalMap.configure(["Example.com"], {"github:alice-gh": "alice"})
    assert names.person("Alice@EXAMPLE.com") == "user:alice"
    assert names.person("alice@example.org") == "user:alice@example.org"
    assert names.person("alice-gh", "github") == "user:alice"
    assert names.person("alice-gh") == "user:alice-gh"  # the alias is of the github name only
    assert names.canonical("token:Alice") == "user:alice"
    with pytest.raises(InvalidPrincipalError, match="not itself an alias"):
        PrincipalMap.configure([], {"a": "b", "b": "c"})


def test_no_name_reaches_into_another_namespace() -> None:
    names = PrincipalMap()
    assert names.person("token:carol") == "user:token:carol"
    assert names.person("user:carol") == "user:user:carol"
    assert names.person("github:carol") == "user:github:carol"
    with pytest.raises(InvalidPrincipalError, match="reserved"):
        parse("token:carol")
    with pytest.raises(InvalidPrincipalError, match="namespace"):
        principal("User", "carol")


def test_old_records_read_as_principals() -> None:
    assert recorded("token:alice") == "user:alice"
    assert recorded("Alice") == "user:alice"
    assert recorded("user:alice") == "user:alice"
    assert recorded("github-app:installation/42") == "github-app:installation/42"
    assert recorded("") == "user:"  # kept, and equal to no real principal


@pytest.mark.parametrize("bad", ["", "   ", "al\x00ice", "x" * 181])
def test_names_that_cannot_be_principals(bad: str) -> None:
    with pytest.raises(InvalidPrincipalError):
        PrincipalMap().person(bad)


@given(st.text(min_size=1, max_size=60), st.sampled_from(["user", "github", "svc.internal"]))
def test_a_principal_keeps_its_namespace_and_is_stable(name: str, namespace: str) -> None:
    try:
        found = PrincipalMap().person(name, namespace)
    except InvalidPrincipalError:
        return
    assert split(found)[0] == namespace
    assert recorded(found) == found  # reading it back changes nothing
    assert PrincipalMap().canonical(found) == found
