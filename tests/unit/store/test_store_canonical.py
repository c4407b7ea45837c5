"""The fast canonical encoder writes exactly what ``rfc8785`` writes, or fails the same way."""

from __future__ import annotations

import enum
import math
import uuid
from datetime import timedelta
from typing import Any

import pytest
import rfc8785
from bench.bench_audit_append import samples
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import NOW, exposure, fresh, make_policy, signal, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import Severity, SignalKind, SignalStatus, Snapshot, SourceHealth
from clearance.model.canonical import canonical_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.integers()
    | st.floats()  # NaN and infinities too: both must refuse them
    | st.sampled_from(
        [
            *(0.0, -0.0, 1.0, 3.0, 1e-4, 9.99e-5, 1e-5, 9.99e-6, 1e-6, 9.99e-7, 1e-7, 5e-324),
            *(1e16, 1e21, 1e22, 2.0**53, 123456789.125, 0.1, 4.5e15 + 0.5),
        ]
    )
    | st.text()
)
keys = st.text() | st.sampled_from(["a", "B", "\ufb33", "\U0001f600", "é", "\x7f", ""])
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=30,
)


def assert_same_as_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception as exc:  # whatever rfc8785 raises, the fast path must raise the same
        with pytest.raises(type(exc)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@settings(max_examples=1000, deadline=None)
@given(values)
def test_same_bytes_as_rfc8785(value: Any) -> None:
    assert_same_as_rfc8785(value)


@settings(max_examples=3000, deadline=None)
@given(st.floats() | st.floats(min_value=-1e-3, max_value=1e-3))
def test_every_float_alone_and_in_a_record(number: float) -> None:
    assert_same_as_rfc8785(number)
    assert_same_as_rfc8785({"score": number, "list": [number, "x", None]})


def test_floats_across_every_magnitude() -> None:
    # Where orjson's notation could part from ES6's: each power of ten and its neighbours.
    for exponent in range(-323, 308):
        for mantissa in (1.0, 1.5, 2.5, 9.999999, 1.0000000000000002):
            x = mantissa * 10.0**exponent
            for value in (x, -x, math.nextafter(x, 0.0), math.nextafter(x, math.inf)):
                assert_same_as_rfc8785(value)


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1.0, 2.5, -0.0, 1e-7, 1e22, 2**53 + 1.0]},
        {"\U0001f600": 1, "\ufb33": 2},  # UTF-16 order differs from code-point order here
        {"s": 'tab\tnl\ncontrol\x01 quote" backslash\\ del\x7f \u2028 é'},
        {"tiny": 4.5e-6, "small": 4.5e-5},  # orjson writes 4.5e-6 in exponent form, ES6 does not
        {"s": "".join(map(chr, range(0x80)))},
        ("a", (1.0, 2.5)),
    ],
)
def test_known_divergences_of_plain_json_are_handled(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**60, 2**53, {1: "x"}, "\ud800"])
def test_values_outside_json_are_refused_like_rfc8785(value: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(value)
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)


class _Plain(enum.Enum):
    A = "a"


class _Text(enum.StrEnum):
    B = "b"


class _Number(enum.IntEnum):
    C = 3


class _Str(str):
    pass


class _Dict(dict[str, Any]):
    pass


@pytest.mark.parametrize(
    "value",
    [
        _Plain.A,  # orjson would write "a"; rfc8785 refuses
        [_Plain.A],
        {"k": uuid.UUID(int=1)},  # orjson would write the UUID; rfc8785 refuses
        _Text.B,
        {"k": _Number.C},
        {_Text.B: 1},
        _Str("s"),
        _Dict(a=1.0),
        NOW,
        object(),
        {"\ud800": 1},  # rfc8785 raises UnicodeEncodeError sorting it: so must we
    ],
)
def test_other_types_are_left_to_rfc8785(value: Any) -> None:
    assert_same_as_rfc8785(value)


# Records as the store writes them: decisions and snapshots over generated signals.
TGT = target()
EXPOSURE = exposure(
    TGT,
    direct=("pod:shop/api-1", "image:ghcr.io/acme/api:1.0"),
    host=("host:node-1", "ip:10.0.1.5"),
    namespace=("namespace:prod-eu/shop",),
)
POLICY = make_policy()

generated_signals = st.builds(
    signal,
    uid=st.integers(0, 10_000).map(lambda n: f"edr:{n}"),
    severity=st.sampled_from(list(Severity)),
    confidence=st.floats(min_value=0, max_value=1),
    kind=st.sampled_from(list(SignalKind)),
    status=st.sampled_from(list(SignalStatus)),
    assets=st.lists(
        st.sampled_from([str(a.ref) for a in EXPOSURE.assets] + ["host:elsewhere"]),
        min_size=1,
        max_size=3,
        unique=True,
    ).map(tuple),
    age=st.integers(0, 200 * 86400).map(lambda s: timedelta(seconds=s)),
    title=st.text(max_size=40),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(generated_signals, max_size=8, unique_by=lambda s: s.uid),
    st.integers(0, 10**7),
    st.text(max_size=20),
)
def test_generated_decisions_and_snapshots(items: list[Any], seconds: int, source: str) -> None:
    snapshot = Snapshot(
        EXPOSURE,
        SignalIndex(items).match(EXPOSURE),
        (fresh(), SourceHealth(source or "x", None, last_error="down \U0001f525")),
    )
    decision = decide(TGT, snapshot, POLICY, NOW + timedelta(seconds=seconds))
    assert canonical_json(decision.to_dict()) == rfc8785.dumps(decision.to_dict())
    assert canonical_json(snapshot.to_dict()) == rfc8785.dumps(snapshot.to_dict())


def test_the_benchmark_record() -> None:
    (decision, snapshot), *_ = samples(1, 200)[0]
    for part in (decision.to_dict(), snapshot.to_dict()):
        assert canonical_json(part) == rfc8785.dumps(part)
