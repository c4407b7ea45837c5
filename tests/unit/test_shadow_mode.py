"""Shadow mode: the same decision as enforcing (verdict, reasons, score), carrying ``mode``, so
replay stays byte for byte; every consumer reads it as "let through, and say so"."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from builders import NOW, POLICY_YAML, make_policy, signal, target
from clearance.audit.replay import replay_record
from clearance.engine import decide
from clearance.errors import PolicyError
from clearance.integrations.interface import Answer
from clearance.model import Decision, Severity, Signal, Verdict
from clearance.model.status import ApprovalStatus
from clearance.policy.load import load_policy_text
from clearance.render.github import annotation_lines, summary
from clearance.render.text import render_text
from clearance.store.interface import Caller
from clearance.store.sql import SqlStore
from unit.test_engine import snap

SHADOW_YAML = POLICY_YAML.replace(
    "    stances: {source_down: block, stale: approve, unknown_target: block, no_sources: block}",
    "    stances: {source_down: block, stale: approve, unknown_target: block, no_sources: block}\n"
    "    mode: shadow",
)


def critical() -> Signal:
    return signal(severity=Severity.CRITICAL, confidence=1.0, age=timedelta(minutes=5))


def test_shadow_decides_exactly_as_enforcing_and_only_adds_the_mode() -> None:
    tgt = target()
    shadow = decide(tgt, snap(tgt, [critical()]), load_policy_text(SHADOW_YAML, "s"), NOW)
    enforcing = decide(tgt, snap(tgt, [critical()]), load_policy_text(POLICY_YAML, "e"), NOW)
    assert shadow.verdict is enforcing.verdict is Verdict.BLOCK
    assert (shadow.mode, enforcing.mode) == ("shadow", None)
    a, b = shadow.to_dict(), enforcing.to_dict()
    assert a.pop("mode") == "shadow"
    assert "mode" not in b
    for d in (a, b):
        del d["policy_digest"], d["id"]
    assert a == b
    assert (shadow.exit_code, enforcing.exit_code) == (0, 20)
    assert Decision.from_dict(json.loads(shadow.to_json())) == shadow


def test_a_mode_other_than_enforce_or_shadow_is_refused_at_load() -> None:
    with pytest.raises(PolicyError) as err:
        load_policy_text(SHADOW_YAML.replace("mode: shadow", "mode: observe"), "policy.yaml")
    (problem,) = [str(p) for p in err.value.problems]
    assert "environments.production.mode" in problem
    assert "'enforce' or 'shadow'" in problem


def test_a_shadow_decision_replays_byte_for_byte(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        tgt = target()
        snapshot = snap(tgt, [critical()])
        decision = decide(tgt, snapshot, load_policy_text(SHADOW_YAML, "s"), NOW)
        caller = Caller(subject="ci", method="token")
        store.append_decision(decision, snapshot, caller, NOW, SHADOW_YAML.encode())
        result = replay_record(store, store.get_decision(decision.id))
    finally:
        store.close()
    assert result.identical, result.diff
    assert json.loads(result.replayed)["mode"] == "shadow"


def test_the_answer_lets_it_through_and_says_what_enforcing_would_do() -> None:
    tgt = target()
    decision = decide(tgt, snap(tgt, [critical()]), load_policy_text(SHADOW_YAML, "s"), NOW)
    ans = Answer.unapproved(decision)
    assert ans.status is ApprovalStatus.SHADOW
    assert ans.verdict is Verdict.PROCEED
    assert "would have answered block" in ans.would_have
    assert ApprovalStatus.SHADOW.exit_code == 0
    proceed = decide(tgt, snap(tgt, []), load_policy_text(SHADOW_YAML, "s"), NOW)
    assert Answer.unapproved(proceed).status is ApprovalStatus.PROCEED


def test_renderers_say_shadow_and_never_raise_an_error_annotation() -> None:
    tgt = target()
    decision = decide(tgt, snap(tgt, [critical()]), load_policy_text(SHADOW_YAML, "s"), NOW)
    assert "mode     shadow: enforcing would answer block" in render_text(decision)
    lines = annotation_lines(decision)
    assert "::error" not in lines
    assert "::warning title=Clearance (shadow mode)::enforcing would answer block" in lines
    assert "Shadow mode: enforcing would answer **block**" in summary(decision)


def test_an_enforcing_policy_keeps_its_decision_bytes() -> None:
    """No ``mode`` key unless shadow: decisions recorded before shadow mode replay unchanged."""
    tgt = target()
    decision = decide(tgt, snap(tgt, [critical()]), make_policy(), NOW)
    assert "mode" not in decision.to_dict()
