"""Garbage beside valid lines never stops the batch and never loses a good line."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from builders import signal
from clearance.sources.file import parse_jsonl

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
garbage = st.one_of(
    st.binary(max_size=60).filter(lambda b: b"\n" not in b and b"\r" not in b and b.strip()),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@given(
    st.lists(
        st.one_of(
            st.integers(0, 999).map(lambda n: ("good", n)), garbage.map(lambda g: ("bad", g))
        ),
        max_size=20,
    )
)
def test_good_lines_survive_any_neighbours(items: list[tuple[str, object]]) -> None:
    lines: list[bytes] = []
    expected: list[str] = []
    for n, (kind, value) in enumerate(items):
        if kind == "good":
            uid = f"edr:{n}-{value}"
            lines.append(json.dumps(signal(uid).to_dict()).encode())
            expected.append(uid)
        else:
            assert isinstance(value, bytes)
            lines.append(value)
    batch = parse_jsonl("edr", b"\n".join(lines), "x")
    got = [s.uid for s in batch.signals]
    assert got == expected
    assert len(batch.signals) + len(batch.quarantined) == sum(1 for line in lines if line.strip())
