"""IdentityMemo: kept by identity, never by equality; bounded; holds its keys."""

from __future__ import annotations

from clearance.model.memo import IdentityMemo


def test_a_value_is_made_once_per_object_and_again_for_an_equal_new_one() -> None:
    memo: IdentityMemo[int] = IdentityMemo(size=4)
    made: list[object] = []
    first, equal = [1, 2], [1, 2]

    def make(obj: object) -> int:
        made.append(obj)
        return len(made)

    assert memo.get((first,), lambda: make(first)) == 1
    assert memo.get((first,), lambda: make(first)) == 1  # kept
    assert memo.get((equal,), lambda: make(equal)) == 2  # equal is not the same object
    assert made == [first, equal]


def test_keys_are_held_so_an_id_is_never_reused_while_kept_and_old_ones_go() -> None:
    memo: IdentityMemo[str] = IdentityMemo(size=2)
    for n in range(5):
        value = f"v{n}"
        memo.get(([n],), lambda: value)  # noqa: B023 - called at once; the list is dropped
    # Only the last two are kept; the lists they were made from are alive (held by the memo),
    # so no later list could have taken an id of theirs and been answered with their value.
    assert [value for _, value in memo._entries.values()] == ["v3", "v4"]
    assert [keys[0] for keys, _ in memo._entries.values()] == [[3], [4]]


def test_a_key_tuple_matches_only_with_every_member_the_same() -> None:
    memo: IdentityMemo[str] = IdentityMemo()
    a, b, c = object(), object(), object()
    assert memo.get((a, b), lambda: "ab") == "ab"
    assert memo.get((a, c), lambda: "ac") == "ac"
    assert memo.get((a, b), lambda: "never") == "ab"
