"""N-of-M approvals, bound to evidence: who may approve, how many, for how long, on what."""

from __future__ import annotations

from collections.abc import Callable

from server_harness import Live


def _approve_decision(server: Live) -> dict:  # type: ignore[type-arg]
    assert server.push(server.signal("1", 3, "medium")).status_code == 200
    answer = server.ask("medium", who="dana", change={"actor": "dana"})
    assert answer["status"] == "pending_approval"
    return answer  # type: ignore[no-any-return]


def test_two_distinct_people_of_the_group_approve(live: Callable[..., Live]) -> None:
    server = live()
    decision = _approve_decision(server)
    first = server.answer(decision["id"], "alice")
    assert first.status_code == 201
    assert first.json()["decision"]["status"] == "pending_approval"
    assert first.json()["decision"]["approval"]["approvers"] == ["user:alice"]

    again = server.answer(decision["id"], "alice")
    assert again.status_code == 409  # the same person cannot count twice

    second = server.answer(decision["id"], "bob")
    assert second.json()["decision"]["status"] == "approved"
    assert second.json()["decision"]["exit_code"] == 0
    with server.client("ci") as c:
        assert c.get(f"/v1/decisions/{decision['id']}").json()["status"] == "approved"


def test_the_requester_can_never_approve(live: Callable[..., Live]) -> None:
    server = live()
    decision = _approve_decision(server)
    refused = server.answer(decision["id"], "dana")
    assert refused.status_code == 403
    assert "requested" in refused.json()["detail"]
    assert "dana" in refused.json()["detail"]


def test_approver_outside_the_group_is_refused(live: Callable[..., Live]) -> None:
    server = live()
    decision = _approve_decision(server)
    refused = server.answer(decision["id"], "carol")
    assert refused.status_code == 403
    assert "security" in refused.json()["detail"]


def test_a_rejection_rejects(live: Callable[..., Live]) -> None:
    server = live()
    decision = _approve_decision(server)
    server.answer(decision["id"], "alice")
    rejected = server.answer(decision["id"], "bob", "reject").json()["decision"]
    assert (rejected["status"], rejected["exit_code"]) == ("rejected", 20)


def test_reason_is_required_and_only_approve_verdicts_take_approvals(
    live: Callable[..., Live],
) -> None:
    server = live()
    decision = _approve_decision(server)
    with server.client("alice") as c:
        blank = c.post(
            f"/v1/decisions/{decision['id']}/approvals", json={"outcome": "approve", "reason": " "}
        )
        missing = c.post(f"/v1/decisions/{decision['id']}/approvals", json={"outcome": "approve"})
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["field"] == "body.reason"
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.reason"
    clean = server.ask("clean")
    assert server.answer(clean["id"], "alice").status_code == 409


def test_a_new_ask_reuses_approvals_while_the_evidence_holds(live: Callable[..., Live]) -> None:
    server = live()
    decision = _approve_decision(server)
    server.answer(decision["id"], "alice")
    server.answer(decision["id"], "bob")
    server.clock.advance(minutes=1)
    again = server.ask("medium")
    assert again["id"] != decision["id"]
    assert again["status"] == "approved"
    assert again["approval"]["approvers"] == ["user:alice", "user:bob"]


def test_new_evidence_voids_the_approval_and_says_why(live: Callable[..., Live]) -> None:
    server = live()
    decision = _approve_decision(server)
    server.answer(decision["id"], "alice")
    server.answer(decision["id"], "bob")
    server.clock.advance(minutes=1)
    assert server.push(server.signal("9", 2, "medium")).status_code == 200  # a new contributor
    fresh = server.ask("medium")
    assert fresh["decision"]["verdict"] == "approve"
    assert fresh["status"] == "pending_approval"
    reasons = [v["reason"] for v in fresh["approval"]["voided"]]
    assert len(reasons) == 2
    assert all("new contributing signal" in r and "edr:9" in r for r in reasons)


def test_risk_rising_voids_the_approval(live: Callable[..., Live]) -> None:
    server = live()
    decision = _approve_decision(server)
    server.answer(decision["id"], "alice")
    server.answer(decision["id"], "bob")
    server.clock.advance(minutes=1)
    # The same signal, now more certain: same uid, higher score.
    server.push(server.signal("1", 3, "medium", confidence=1.0))
    fresh = server.ask("medium")
    assert fresh["status"] == "pending_approval"
    assert all("risk rose" in v["reason"] for v in fresh["approval"]["voided"])


def test_approvals_expire(live: Callable[..., Live]) -> None:
    server = live()
    decision = _approve_decision(server)
    server.answer(decision["id"], "alice")
    server.answer(decision["id"], "bob")
    server.clock.advance(hours=25)  # the policy's default expires_after is 24h
    with server.client("ci") as c:
        later = c.get(f"/v1/decisions/{decision['id']}").json()
    assert later["status"] == "pending_approval"
    assert all("expired" in v["reason"] for v in later["approval"]["voided"])


def test_a_personal_token_cannot_approve_its_owners_deploy(live: Callable[..., Live]) -> None:
    server = live()
    assert server.push(server.signal("1", 3, "medium")).status_code == 200
    # The pipeline asks (token ci) on behalf of the actor alice; alice's own token may not approve.
    decision = server.ask("medium", who="ci", change={"actor": "alice"})
    refused = server.answer(decision["id"], "alice")
    assert refused.status_code == 403
    assert "requested" in refused.json()["detail"]
    assert server.answer(decision["id"], "bob").status_code == 201
