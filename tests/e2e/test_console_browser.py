"""The approvers' console in a real browser (Debian's chromium, driven by Playwright) against
a real ``clearance serve`` over HTTPS, signing in at an OIDC stand-in: the flows of issue 14.

Skipped, saying why, only where chromium is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from console_harness import CHROMIUM, CHROMIUM_ARGS, Console, console_service
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does)",
)


class SignIn(Protocol):
    def __call__(self, name: str, start: str = "/console/queue") -> Page: ...


# The browser tests always take the screenshots; they replace the ones in docs/ only when asked
# (CLEARANCE_SCREENSHOTS=docs), since every run's ids and ages differ.
DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("CLEARANCE_SCREENSHOTS") == "docs":
        DOCS.mkdir(parents=True, exist_ok=True)
        return DOCS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with console_service(tmp_path_factory.mktemp("console")) as console:
        yield console


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def person(browser: Browser, service: Console) -> Iterator[SignIn]:
    """``person(name)``: a fresh browser (its own cookies) signed in as ``name``."""
    contexts: list[BrowserContext] = []

    def sign_in(name: str, start: str = "/console/queue") -> Page:
        context = browser.new_context(
            ignore_https_errors=True,  # the service's certificate is from the test's own CA
            viewport={"width": 1366, "height": 900},  # a laptop screen
        )
        contexts.append(context)
        page = context.new_page()
        page.goto(service.base + start)
        # Not signed in: the console sends the browser to the issuer's sign-in form.
        expect(page.get_by_label("Username")).to_be_visible()
        page.get_by_label("Username").fill(name)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(f"Signed in as user:{name}")).to_be_visible()
        return page

    yield sign_in
    for context in contexts:
        context.close()


def _decision_page(page: Page, decision_id: str, service: Console) -> None:
    page.goto(f"{service.base}/decisions/{decision_id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_signing_in_shows_the_pending_approval_asked_for_through_the_api(
    service: Console, person: SignIn, shots: Path
) -> None:
    asked = service.decide("staging", "stage")
    assert asked["status"] == "pending_approval", json.dumps(asked)
    page = person("alice")
    assert page.url == f"{service.base}/console/queue"
    staging = page.get_by_role("region", name=re.compile("^staging"))
    row = staging.get_by_role("row").filter(has_text="prod-eu/stage/deployment/web")
    expect(row).to_contain_text("dave")  # the requester
    expect(row).to_contain_text("approve")
    expect(row).to_contain_text("known-exploited")
    expect(row).to_contain_text("0 of 1 from engineering")
    link = row.get_by_role("link", name="prod-eu/stage/deployment/web")
    assert link.get_attribute("href") == f"/decisions/{asked['id']}"
    page.screenshot(path=str(shots / "console-queue.png"), full_page=True)
    assert (shots / "console-queue.png").stat().st_size > 10_000


def test_a_held_github_gate_opens_from_its_link_and_needs_two_approvers(
    service: Console, person: SignIn, shots: Path
) -> None:
    before = len(service.github.reviews)
    service.deliver_gate(run=101)
    [held] = service.reviews(before + 1)[before:]
    assert "state" not in held  # a status report: the gate is held for approval
    link = re.search(r"\((https://[^)]+/decisions/([^)]+))\)", held["comment"])
    assert link is not None, held["comment"]
    url, decision_id = link.group(1), link.group(2)

    alice = person("alice", start=url.removeprefix(service.base))
    assert alice.url == url  # back on the page the link named, signed in
    expect(alice.locator("#status")).to_have_text("pending approval")
    expect(alice.get_by_text("Needs 2 approvals from group security")).to_be_visible()
    alice.screenshot(path=str(shots / "console-decision.png"), full_page=True)
    alice.get_by_label("Reason").first.fill("KEV in xz: patched base image ships tomorrow")
    alice.get_by_role("button", name="Approve").click()
    expect(alice.get_by_role("status")).to_have_text("Your approval was recorded.")
    expect(alice.get_by_text("1 so far: user:alice")).to_be_visible()
    expect(alice.locator("#status")).to_have_text("pending approval")  # 1 of 2
    assert service.status(decision_id)["status"] == "pending_approval"
    assert len(service.reviews(before + 2, wait=1.0)) == before + 1  # still held on GitHub

    bob = person("bob", start=f"/decisions/{decision_id}")
    bob.get_by_label("Reason").first.fill("agree: exposure is internal only")
    bob.get_by_role("button", name="Approve").click()
    expect(bob.locator("#status")).to_have_text("approved")
    final = service.reviews(before + 2)[before + 1]
    assert final["state"] == "approved"  # the held gate is answered on GitHub
    assert final["environment_name"] == "production"
    assert decision_id in final["comment"]
    assert service.status(decision_id)["status"] == "approved"


def test_the_requester_cannot_approve_their_own_deploy(service: Console, person: SignIn) -> None:
    asked = service.decide("staging", "stage")  # asked with dave's token: dave requested it
    page = person("dave", start=f"/decisions/{asked['id']}")
    page.get_by_label("Reason").first.fill("looks fine to me")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("alert")).to_contain_text("Refused")
    expect(page.get_by_role("alert")).to_contain_text("dave")
    assert service.status(asked["id"])["status"] == "pending_approval"


def test_a_read_only_viewer_sees_the_decision_but_no_buttons(
    service: Console, person: SignIn
) -> None:
    asked = service.decide("staging", "stage")
    page = person("carol", start=f"/decisions/{asked['id']}")
    expect(page.get_by_text("Signed in as user:carol")).to_contain_text("read-only")
    expect(page.get_by_role("heading", name="Reasons")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    expect(page.get_by_text("Break-glass")).to_have_count(0)
    expect(page.get_by_text("You have read-only access")).to_be_visible()


def test_someone_the_rules_grant_nothing_is_refused_after_signing_in(
    service: Console, browser: Browser
) -> None:
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(service.base + "/console/queue")
    page.get_by_label("Username").fill("erin")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="No access")).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)
    context.close()


def test_posts_without_the_session_csrf_token_are_refused(service: Console, person: SignIn) -> None:
    asked = service.decide("staging", "stage")
    page = person("alice")
    action = f"{service.base}/decisions/{asked['id']}/answer"
    # The browser's own cookies go with these posts: only the CSRF token is missing or wrong.
    forms: list[dict[str, str | float | bool]] = [
        {"outcome": "approve", "reason": "no token"},
        {"outcome": "approve", "reason": "forged token", "csrf": "x" * 43},
    ]
    for form in forms:
        answer = page.request.post(action, form=form, max_redirects=0)
        assert answer.status == 403, answer.text()
        assert "CSRF" in answer.text()
    assert service.status(asked["id"])["status"] == "pending_approval"
    # The same page's own form, which carries the token, works.
    _decision_page(page, asked["id"], service)
    page.get_by_label("Reason").first.fill("reviewed: the CVE is not reachable here")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#status")).to_have_text("approved")
