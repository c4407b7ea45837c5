"""The fast canonical encoder writes exactly what ``rfc8785`` writes, or fails the same way."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.store.canonical import canonical_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1.0, 3.0, 1e-4, 9.99e-5, 1e-7, 1e16, 1e21, 123456789.125, 0.1])
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(values)
def test_same_bytes_as_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1.0, 2.5, -0.0, 1e-7, 1e22, 2**53 + 1.0]},
        {"\U0001f600": 1, "\ufb33": 2},  # UTF-16 order differs from code-point order here
        {"s": 'tab\tnl\ncontrol\x01 quote" backslash\\ del\x7f \u2028 é'},
    ],
)
def test_known_divergences_of_plain_json_are_handled(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [float("nan"), 2**60, {1: "x"}, "\ud800"])
def test_values_outside_json_are_refused_like_rfc8785(value: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(value)
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)
