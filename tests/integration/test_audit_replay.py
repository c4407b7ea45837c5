"""Replay re-runs ``decide`` on the recorded snapshot and policy bytes: same bytes out."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import msgspec
import pytest

from builders import NOW, signal
from clearance.audit.replay import replay, replay_all
from clearance.errors import ReplayError
from clearance.model import Severity, SignalKind
from clearance.store.interface import NotFoundError
from clearance.store.sql import SqlStore
from store_samples import POLICY_TEXT, append, load_policy, sample


def test_replay_reproduces_recorded_decisions_byte_for_byte(store: SqlStore) -> None:
    samples = [
        sample(0),  # block: a high detection on the host
        sample(1, signals=()),  # proceed: nothing touches the target
        sample(2, environment="development"),
        sample(
            3,
            signals=(
                signal("vuln:1", kind=SignalKind.VULNERABILITY, severity=Severity.MEDIUM),
                signal("edr:9", severity=Severity.CRITICAL, age=timedelta(hours=3)),
            ),
        ),
    ]
    for s in samples:
        append(store, s)
    verdicts = {s.decision.verdict for s in samples}
    assert len(verdicts) >= 2  # the samples cover more than one verdict
    results = list(replay_all(store, load_policy))
    assert [r.decision_id for r in results] == [s.decision.id for s in samples]
    for result, s in zip(results, samples, strict=True):
        assert result.identical, result.diff
        assert result.diff == ""
        assert result.replayed == s.decision.to_json()


def test_replay_shows_where_a_decision_differs(store: SqlStore) -> None:
    honest = sample(0)
    # A decision that its own evidence does not support: replay must say so, at the member.
    altered = replace(honest, decision=msgspec.structs.replace(honest.decision, score=3.5))
    append(store, altered)
    result = replay(store, honest.decision.id, load_policy)
    assert not result.identical
    assert '-  "score": 3.5,' in result.diff
    assert f'+  "score": {honest.decision.score},' in result.diff


def test_replay_needs_the_exact_policy_bytes(store: SqlStore) -> None:
    s = sample(0)
    append(store, s, policy=None)  # recorded without its policy text
    with pytest.raises(NotFoundError, match="no stored policy"):
        replay(store, s.decision.id, load_policy)
    # Bytes that load but are not the ones recorded (a comment added after the fact).
    store.put_policy(s.decision.policy_digest, POLICY_TEXT + b"# edited later\n", NOW)
    with pytest.raises(ReplayError, match=f"not the recorded {s.decision.policy_digest}"):
        replay(store, s.decision.id, load_policy)


def test_replay_with_the_shipped_policy_loader(store: SqlStore) -> None:
    s = sample(0)
    append(store, s)
    assert replay(store, s.decision.id).identical
