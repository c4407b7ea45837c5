"""Sign-offs bound to the artifact (issue #11, observations 4 and 6): an approval or a
break-glass for image A / commit A never clears image B or commit B."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server_harness import Live

CHECKOUT = "ghcr.io/acme/checkout"
DIGEST_A = "sha256:" + "a" * 64
IMAGE_A = f"{CHECKOUT}:1.8.0@{DIGEST_A}"
BACKDOOR = "ghcr.io/evil/backdoor:6.6.6"


def _approved(server: Live, images: list[str], commit: str) -> dict[str, Any]:
    assert server.push(server.signal("1", 3, "medium")).status_code == 200
    decision = server.ask("medium", images=images, change={"commit": commit})
    assert server.answer(decision["id"], "alice").status_code == 201
    done: dict[str, Any] = server.answer(decision["id"], "bob").json()["decision"]
    assert done["status"] == "approved"
    server.clock.advance(minutes=1)
    return done


def test_an_approval_does_not_clear_another_image(live: Callable[..., Live]) -> None:
    server = live()
    _approved(server, [IMAGE_A], "c0ffee1")
    later = server.ask("medium", images=[BACKDOOR], change={"commit": "c0ffee1"})
    assert (later["status"], later["exit_code"]) == ("pending_approval", 10)
    reasons = [v["reason"] for v in later["approval"]["voided"]]
    assert len(reasons) == 2
    assert all("does not cover this artifact" in r and BACKDOOR in r for r in reasons)
    sneaked = server.ask("medium", images=[IMAGE_A, BACKDOOR], change={"commit": "c0ffee1"})
    assert sneaked["status"] == "pending_approval"  # one approved image does not carry another


def test_an_approval_does_not_clear_another_commit(live: Callable[..., Live]) -> None:
    server = live()
    _approved(server, [IMAGE_A], "c0ffee1")
    later = server.ask("medium", images=[IMAGE_A], change={"commit": "badc0de"})
    assert later["status"] == "pending_approval"
    assert all("commit badc0de" in v["reason"] for v in later["approval"]["voided"])
    unnamed = server.ask("medium", images=[IMAGE_A])  # no commit named: not the approved one
    assert unnamed["status"] == "pending_approval"


def test_the_same_artifact_asked_again_keeps_its_approval(live: Callable[..., Live]) -> None:
    server = live()
    _approved(server, [IMAGE_A], "C0FFEE1")
    again = server.ask("medium", images=[IMAGE_A], change={"commit": "c0ffee1"})
    assert again["status"] == "approved"
    # The same content under another tag is the same artifact: images are bound by digest.
    retagged = server.ask(
        "medium", images=[f"{CHECKOUT}:latest@{DIGEST_A}"], change={"commit": "c0ffee1"}
    )
    assert retagged["status"] == "approved"
    with server.client("ci") as c:
        listed = c.get(f"/v1/decisions/{again['id']}/approvals").json()["approvals"]
    assert listed == []  # the approvals were given on the first decision …
    assert again["approval"]["approvers"] == ["user:alice", "user:bob"]  # … and count here


def test_a_break_glass_covers_its_artifact_only(live: Callable[..., Live]) -> None:
    server = live()
    server.push(server.signal("2", 5, "hot"))
    blocked = server.ask("hot", images=[IMAGE_A], change={"commit": "c0ffee1"})
    assert blocked["status"] == "block"
    with server.client("alice") as c:
        made = c.post(
            f"/v1/decisions/{blocked['id']}/break-glass",
            json={"reason": "outage fix", "ticket": "INC-7"},
        )
    assert made.status_code == 201, made.text
    assert made.json()["break_glass"]["artifact"] == {"images": [DIGEST_A], "commit": "c0ffee1"}
    server.clock.advance(minutes=1)
    same = server.ask("hot", images=[IMAGE_A], change={"commit": "c0ffee1"})
    assert (same["status"], same["exit_code"]) == ("break_glass", 0)
    other = server.ask("hot", images=[BACKDOOR], change={"commit": "c0ffee1"})
    assert (other["status"], other["exit_code"]) == ("block", 20)
    other_commit = server.ask("hot", images=[IMAGE_A], change={"commit": "badc0de"})
    assert other_commit["status"] == "block"


def test_break_glass_is_for_signers_only(live: Callable[..., Live]) -> None:
    """Never the requester of the decision it overrides, never outside the approval group."""
    server = live()
    server.push(server.signal("2", 5, "hot"))
    own = server.ask("hot", who="dana")  # dana asks, and holds the approve scope
    body = {"reason": "I need this out", "ticket": "INC-9"}
    with server.client("dana") as c:
        refused = c.post(f"/v1/decisions/{own['id']}/break-glass", json=body)
    assert refused.status_code == 403
    assert "requested" in refused.json()["detail"]
    with server.client("carol") as c:  # approve scope, not in the security group
        outsider = c.post(f"/v1/decisions/{own['id']}/break-glass", json=body)
    assert outsider.status_code == 403
    assert "security" in outsider.json()["detail"]
    assert server.ctx.store.list_break_glass(server.clock.now) == ()
    server.clock.advance(minutes=1)
    assert server.ask("hot", who="dana")["status"] == "block"
