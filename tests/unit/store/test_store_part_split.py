"""Storing a record's repeating parts apart and joining them back gives the sealed bytes, for
any canonical body and any of its members as parts; a reference to a part not supplied (absent
or altered in the database) stays visible instead of yielding a different body."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from clearance.model.canonical import (
    Repeating,
    canonical_json,
    joined_pieces,
    member_pieces,
)
from clearance.store.record_parts import MIN_PART, joined, missing, references, stored_pieces

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=60,
)


@given(st.dictionaries(st.text(min_size=1, max_size=6), JSON, min_size=1, max_size=6), st.data())
def test_stored_then_joined_is_the_body(members: dict[str, Any], data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(sorted(members)), unique=True))
    pieces = member_pieces(
        members, {k: (Repeating.of(canonical_json(members[k])),) for k in chosen}
    )
    body = joined_pieces(pieces)
    assert body == canonical_json(members)
    min_part = data.draw(st.sampled_from([1, 16, MIN_PART]))
    stored, parts = stored_pieces(pieces, min_part)
    kept = [p for p in pieces if isinstance(p, Repeating) and len(p.data) >= min_part]
    assert set(parts) == {p.digest for p in kept}
    assert all(hashlib.sha256(b).hexdigest() == d for d, b in parts.items())
    assert len(references(stored.decode())) == len(kept)
    texts = {d: p.decode() for d, p in parts.items()}
    assert joined(stored.decode(), texts).encode() == body
    assert missing(joined(stored.decode(), texts)) == []


def test_a_part_not_supplied_stays_a_visible_reference() -> None:
    exposure = canonical_json({"assets": [f"pod:shop/api-{i}" for i in range(100)]})
    pieces: list[bytes | Repeating] = [
        b'{"decision":{},"snapshot":{"exposure":',
        Repeating.of(exposure),
        b"}}",
    ]
    body = joined_pieces(pieces)
    stored, parts = stored_pieces(pieces)
    assert len(stored) < len(body) / 5
    (digest,) = parts
    assert missing(joined(stored.decode(), {})) == [digest]
    assert joined(stored.decode(), {digest: exposure.decode()}).encode() == body
