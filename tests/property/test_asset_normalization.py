"""Normalization is idempotent and never raises anything but our own error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clearance.errors import InvalidAssetError
from clearance.model import AssetKind, asset
from clearance.model.assets import compatible, index_keys


@given(st.sampled_from(list(AssetKind)), st.text(max_size=80))
def test_normalizing_twice_changes_nothing_and_bad_values_raise_our_error(
    kind: AssetKind, value: str
) -> None:
    try:
        ref = asset(kind, value)
    except InvalidAssetError:
        return
    assert asset(kind, ref.value) == ref
    assert index_keys(ref)
    assert compatible(ref, ref)


@given(st.binary(min_size=6, max_size=6), st.sampled_from([":", "-", ""]), st.booleans())
def test_every_mac_spelling_normalizes_to_one_value(raw: bytes, sep: str, upper: bool) -> None:
    text = sep.join(f"{b:02x}" for b in raw)
    text = text.upper() if upper else text
    assert asset("mac", text).value == ":".join(f"{b:02x}" for b in raw)


@given(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    st.from_regex(r"[a-z]{2,8}(\.[a-z]{2,8}){0,2}", fullmatch=True),
)
def test_a_short_host_name_matches_any_fqdn_built_on_it(short: str, domain: str) -> None:
    a, b = asset("host", short.upper()), asset("host", f"{short}.{domain}")
    assert set(index_keys(a)) == set(index_keys(b))
    assert compatible(a, b)
