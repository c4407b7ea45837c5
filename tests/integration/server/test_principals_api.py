"""One person, one principal (issue #11, observations 2, 5 and the OIDC/token collision of 15).

Through the real HTTP API with real OIDC: a workforce IdP and GitHub Actions sign JWTs with keys
served as a JWKS on loopback; API tokens come from the harness's cast (``user:<name>``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oidc_support import Issuer, jwks
from server_harness import Live, Receiver

IDP = Issuer("https://idp.example", "clearance", "idp-1")
MAIL = Issuer("https://mail-idp.example", "clearance", "mail-1")
ACTIONS = Issuer("https://token.actions.githubusercontent.com", "https://github.com/acme", "gha-1")
CI_REPO = {"repository": "acme/shop", "sub": "repo:acme/shop:ref:refs/heads/main"}

Start = Callable[..., Live]


@pytest.fixture
def start(live: Callable[..., Live], receiver: Receiver) -> Start:
    """A service trusting the IdP (people, by username), a second IdP (people, by email) and
    GitHub Actions (CI: the run acts for its ``actor``)."""
    receiver.document = jwks(IDP, MAIL, ACTIONS)
    url = receiver.url + "/jwks"

    def begin(**settings: Any) -> Live:
        people = {"claims": {"azp": "clearance-cli"}, "scopes": ["approve", "decide"]}
        return live(
            oidc=[
                IDP.settings(
                    url, subject_claim="preferred_username", groups_claim="groups", rules=[people]
                ),
                MAIL.settings(url, subject_claim="email", groups_claim="groups", rules=[people]),
                ACTIONS.settings(
                    url,
                    subject_claim="sub",
                    requester_claim="actor",
                    rules=[{"claims": {"repository": "acme/shop"}, "scopes": ["decide"]}],
                ),
            ],
            **settings,
        )

    return begin


def person(issuer: Issuer, name: str, claim: str = "preferred_username") -> str:
    return issuer.token(**{claim: name, "azp": "clearance-cli", "groups": ["security"]})


def answer(server: Live, credential: str, decision_id: str, outcome: str = "approve") -> Any:
    with server.client(token=credential) as c:
        return c.post(
            f"/v1/decisions/{decision_id}/approvals",
            json={"outcome": outcome, "reason": "looked at it"},
        )


def pending(server: Live, **extra: Any) -> dict[str, Any]:
    assert server.push(server.signal("1", 3, "medium")).status_code == 200
    decision: dict[str, Any] = server.ask("medium", **extra)
    assert decision["status"] == "pending_approval"
    return decision


def test_one_person_counts_once_under_every_name(start: Start) -> None:
    """``token:alice`` + OIDC ``alice`` + ``Alice`` (+ her email, joined by configuration) once
    satisfied a 2-of-M rule: they are one principal now, so the second answer is 409."""
    server = start(principals={"email_domains": ["example.com"]})
    decision = pending(server)
    first = server.answer(decision["id"], "alice")
    assert first.status_code == 201, first.text
    assert first.json()["approval"]["approver"] == "user:alice"
    for credential in (
        person(IDP, "alice"),
        person(IDP, "Alice"),
        person(MAIL, "Alice@Example.com", claim="email"),
    ):
        again = answer(server, credential, decision["id"])
        assert again.status_code == 409, again.text
        assert "user:alice already answered" in again.json()["detail"]
    with server.client("ci") as c:
        now = c.get(f"/v1/decisions/{decision['id']}").json()
        listed = c.get(f"/v1/decisions/{decision['id']}/approvals").json()["approvals"]
    assert (now["status"], now["approval"]["approvers"]) == ("pending_approval", ["user:alice"])
    assert [a["approver"] for a in listed] == ["user:alice"]
    second = answer(server, person(IDP, "bob"), decision["id"])
    assert second.json()["decision"]["status"] == "approved"
    assert second.json()["decision"]["approval"]["approvers"] == ["user:alice", "user:bob"]


def test_an_email_is_joined_to_a_username_only_where_configured(start: Start) -> None:
    server = start()  # no email_domains: alice@example.com is not known to be alice
    decision = pending(server)
    assert server.answer(decision["id"], "alice").status_code == 201
    other = answer(server, person(MAIL, "alice@example.com", claim="email"), decision["id"])
    assert other.status_code == 201, other.text
    assert other.json()["approval"]["approver"] == "user:alice@example.com"


def test_an_oidc_subject_can_never_be_a_token_owner(start: Start) -> None:
    """An IdP account literally named ``token:alice`` is ``user:token:alice``: neither the
    token owner ``user:alice`` nor anyone's record under that name."""
    server = start()
    decision = pending(server)
    lookalike = answer(server, person(IDP, "token:alice"), decision["id"])
    assert lookalike.status_code == 201, lookalike.text
    assert lookalike.json()["approval"]["approver"] == "user:token:alice"
    real = server.answer(decision["id"], "alice")
    assert real.status_code == 201, real.text  # not "already answered": another principal
    assert real.json()["decision"]["approval"]["approvers"] == ["user:alice", "user:token:alice"]
    server.clock.advance(seconds=1)  # the same inputs at the same moment are one decision
    with server.client(token=person(IDP, "token:dana")) as c:
        asked = c.post(
            "/v1/decisions",
            json={"environment": "production", "cluster": "prod-eu", "namespace": "shop",
                  "workload": "deployment/medium"},
        )  # fmt: skip
    assert asked.json()["requested_by"] == "user:token:dana"
    assert server.answer(asked.json()["id"], "dana").status_code == 201  # dana did not ask


def test_the_second_person_of_a_break_glass_is_another_principal(start: Start) -> None:
    server = start(break_glass={"second_person": True})
    server.push(server.signal("2", 5, "hot"))
    blocked = server.ask("hot")
    with server.client("alice") as c:
        made = c.post(
            f"/v1/decisions/{blocked['id']}/break-glass", json={"reason": "fix", "ticket": "INC-1"}
        )
    assert made.status_code == 201, made.text
    grant = made.json()["break_glass"]
    assert grant["requested_by"] == "user:alice"
    with server.client(token=person(IDP, "ALICE")) as c:
        herself = c.post(f"/v1/break-glass/{grant['id']}/confirm")
    assert herself.status_code == 403, herself.text
    assert server.ask("hot")["status"] == "block"
    with server.client(token=person(IDP, "bob")) as c:
        confirmed = c.post(f"/v1/break-glass/{grant['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["break_glass"]["confirmed_by"] == "user:bob"
    assert server.ask("hot")["status"] == "break_glass"


@pytest.mark.parametrize("claimed", [None, "bob", "Alice", "alice@example.com", "octocat"])
def test_the_requester_is_the_signed_ci_actor_whatever_the_body_claims(
    start: Start, claimed: str | None
) -> None:
    """GitHub Actions states who pushed in its signed ``actor`` claim: that person requested the
    decision, whether the body names them, misspells them, names someone else or no one."""
    server = start()
    server.push(server.signal("1", 3, "medium"))
    body: dict[str, Any] = {
        "environment": "production",
        "cluster": "prod-eu",
        "namespace": "shop",
        "workload": "deployment/medium",
    }
    if claimed is not None:
        body["change"] = {"actor": claimed}
    with server.client(token=ACTIONS.token(actor="alice", **CI_REPO)) as c:
        asked = c.post("/v1/decisions", json=body)
    assert asked.status_code == 200, asked.text
    decision = asked.json()
    assert decision["requested_by"] == "user:alice"
    record = server.ctx.store.get_decision(decision["id"])
    assert record.caller["on_behalf_of"] == "user:alice"
    assert record.caller["subject"] == "user:repo:acme/shop:ref:refs/heads/main"
    assert decision["decision"]["target"].get("change", {}).get("actor") == claimed  # as claimed
    refused = server.answer(decision["id"], "alice")
    assert refused.status_code == 403, refused.text
    assert "requested" in refused.json()["detail"]
    refused_too = answer(server, person(IDP, "Alice"), decision["id"])
    assert refused_too.status_code == 403
    # A claimed actor never lets anyone approve; at most it keeps the person it names out.
    bob = server.answer(decision["id"], "bob")
    assert bob.status_code == (403 if claimed == "bob" else 201), bob.text


def test_a_ci_token_without_its_requester_claim_is_refused(start: Start) -> None:
    server = start()
    with server.client(token=ACTIONS.token(**CI_REPO)) as c:
        refused = c.post(
            "/v1/decisions",
            json={"environment": "production", "cluster": "prod-eu", "namespace": "shop",
                  "workload": "deployment/clean"},
        )  # fmt: skip
    assert refused.status_code == 401
    assert "'actor'" in refused.json()["detail"]


def test_a_personal_token_requests_for_its_owner_whatever_the_body_claims(start: Start) -> None:
    server = start()
    decision = pending(server, who="dana", change={"actor": "somebody-else"})
    assert decision["requested_by"] == "user:dana"
    assert server.answer(decision["id"], "dana").status_code == 403
    with_oidc = answer(server, person(IDP, "Dana"), decision["id"])
    assert with_oidc.status_code == 403


@pytest.mark.parametrize("claimed", ["ALICE", " alice", "alice@example.com"])
def test_a_claimed_actor_is_compared_as_a_principal(start: Start, claimed: str) -> None:
    """A shared CI token names the pusher only as a claim: normalised (and joined where
    configured), it still keeps that person from approving their own change."""
    server = start(principals={"email_domains": ["example.com"]})
    decision = pending(server, change={"actor": claimed.strip()})
    refused = server.answer(decision["id"], "alice")
    assert refused.status_code == 403, refused.text
    assert "requested" in refused.json()["detail"]
