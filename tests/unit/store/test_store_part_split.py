"""Splitting a record's repeating parts out and joining them back gives the sealed bytes, for
any canonical body and any of its members as parts; a reference to a part not supplied (absent
or altered in the database) stays visible instead of yielding a different body."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clearance.model.canonical import canonical_json, canonical_members
from clearance.store.record_parts import MIN_PART, joined, missing, references, split

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=60,
)


@given(st.dictionaries(st.text(min_size=1, max_size=6), JSON, min_size=1, max_size=6), st.data())
def test_split_then_joined_is_the_body(members: dict[str, Any], data: st.DataObject) -> None:
    known = {k: canonical_json(v) for k, v in members.items()}
    body = canonical_members(members, known) if all(k.isascii() for k in members) else None
    if body is None:
        body = canonical_json(members)
    chosen = data.draw(st.lists(st.sampled_from(sorted(known)), unique=True))
    shared = [known[k] for k in chosen]
    min_part = data.draw(st.sampled_from([1, 16, MIN_PART]))
    stored, parts = split(body, shared, min_part)
    assert set(parts) <= {hashlib.sha256(p).hexdigest() for p in shared if len(p) >= min_part}
    assert len(references(stored)) == len(parts)
    texts = {d: p.decode() for d, p in parts.items()}
    assert joined(stored, texts).encode() == body
    assert missing(joined(stored, texts)) == []


def test_a_part_not_supplied_stays_a_visible_reference() -> None:
    exposure = canonical_json({"assets": [f"pod:shop/api-{i}" for i in range(100)]})
    body = b'{"decision":{},"snapshot":{"exposure":' + exposure + b"}}"
    stored, parts = split(body, [exposure])
    assert len(stored) < len(body) / 5
    (digest,) = parts
    assert missing(joined(stored, {})) == [digest]
    assert joined(stored, {digest: exposure.decode()}).encode() == body
