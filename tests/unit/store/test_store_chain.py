"""Sealing splices pre-canonicalized parts; the result must be exactly RFC 8785 of the body."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from builders import NOW, POLICY_YAML, exposure, fresh, make_policy, signal, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import Snapshot, canonical_json
from clearance.store.chain import body_hash, prepare, record_from_body, seal
from clearance.store.interface import GENESIS_HASH, Caller

POLICY = make_policy(POLICY_YAML)
TGT = target()
EXPOSURE = exposure(TGT, direct=("pod:shop/api-1",), host=("host:node-1",))
SNAPSHOT = Snapshot(
    exposure=EXPOSURE, matches=SignalIndex([signal("edr:1")]).match(EXPOSURE), sources=(fresh(),)
)
DECISION = decide(TGT, SNAPSHOT, POLICY, NOW)

texts = st.text(min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    subject=texts,
    groups=st.lists(texts, max_size=3),
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    prev=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    seconds=st.integers(min_value=0, max_value=10**6),
)
def test_sealed_bytes_are_the_canonical_json_of_the_body(
    subject: str, groups: list[str], seq: int, prev: str, seconds: int
) -> None:
    caller = Caller(
        subject=subject, method="oidc", issuer="https://token.actions.example", groups=tuple(groups)
    )
    at = NOW + timedelta(seconds=seconds, microseconds=seconds % 7)
    body, digest = seal(prepare(DECISION, SNAPSHOT, caller, at), seq, prev)
    record = record_from_body(body.decode(), digest)
    assert canonical_json(record.body()) == body
    assert body_hash(body) == digest
    assert (record.seq, record.prev_hash, record.at) == (seq, prev, at)
    assert record.caller == caller.to_dict()


def test_every_member_is_covered_by_the_hash() -> None:
    prepared = prepare(DECISION, SNAPSHOT, Caller("alice", "local"), NOW)
    _, base = seal(prepared, 1, GENESIS_HASH)
    assert seal(prepared, 2, GENESIS_HASH)[1] != base
    assert seal(prepared, 1, "1" * 64)[1] != base
    other_caller = prepare(DECISION, SNAPSHOT, Caller("mallory", "local"), NOW)
    assert seal(other_caller, 1, GENESIS_HASH)[1] != base
    later = prepare(DECISION, SNAPSHOT, Caller("alice", "local"), NOW + timedelta(microseconds=1))
    assert seal(later, 1, GENESIS_HASH)[1] != base
