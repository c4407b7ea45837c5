"""The console in process (the browser tests drive the main flows in chromium): sign-in with
OIDC code + PKCE at a stand-in issuer, signed cookies with their flags, the state, nonce and
redirect checks, the headers every page is sent with; the decision page's content and forms
(reject, break-glass, field errors), sign-out; history, sources and exceptions pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from clearance.model.exemptions import Exemption
from clearance.model.signal import signal_from_dict
from clearance.model.target import Target
from clearance.server.app import ServerContext, build_context, create_app
from clearance.server.settings import ServerSettings
from clearance.store.interface import Caller
from clearance.store.sql import SqlStore
from integration.integrations.integrations_harness import NOW, write_scenario
from oidc_support import Issuer
from standins._server import Loopback
from standins.oidc_provider import OidcProviderHandler, OidcProviderState

BASE = "https://testserver"
SECRET = "a-session-secret-for-the-console-tests"


@dataclass
class Site:
    client: TestClient
    provider: OidcProviderState
    ctx: ServerContext

    def sign_in(self, user: str = "alice") -> None:
        self.client.cookies.clear()
        assert self.client.get(_at_issuer(self, user=user).removeprefix(BASE)).status_code == 303

    def csrf(self, page: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.client.get(page).text)
        assert found is not None
        return found.group(1)


def _settings(idp: str, issuer: Issuer) -> dict[str, object]:
    return {
        "oidc": [
            issuer.settings(
                f"{idp}/.well-known/jwks",
                subject_claim="preferred_username",
                groups_claim="groups",
                rules=[
                    {"claims": {"role": "approver"}, "scopes": ["approve"]},
                    {"claims": {"role": "admin"}, "scopes": ["admin"]},
                ],
            )
        ],
        "console": {"url": BASE, "issuer": idp, "client_id": "console", "session_secret": SECRET},
    }


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    write_scenario(tmp_path)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'clearance.db'}")
    lines = (tmp_path / "signals.jsonl").read_text().splitlines()
    store.upsert_signals([signal_from_dict(json.loads(line)) for line in lines], NOW)
    store.record_source_success("edr", NOW - timedelta(minutes=1))
    provider = OidcProviderState(
        issuer=Issuer(url="", audience="clearance-api", kid="k1"),
        clients={"console": {f"{BASE}/console/callback"}},
        users={"alice": {"sub": "alice", "preferred_username": "alice", "role": "approver",
                         "groups": ["engineering"]},
               "root": {"sub": "root", "preferred_username": "root", "role": "admin"}},
    )  # fmt: skip
    with Loopback(OidcProviderHandler, provider) as idp:
        provider.issuer.url = idp
        settings = ServerSettings.model_validate(_settings(idp, provider.issuer))
        ctx = build_context(tmp_path / "clearance.yaml", store, settings, clock=lambda: NOW)
        with TestClient(create_app(ctx), base_url=BASE, follow_redirects=False) as client:
            yield Site(client, provider, ctx)
        ctx.close()


def _at_issuer(site: Site, start: str = "/console/queue", user: str = "alice") -> str:
    """Follow the console to the issuer and sign in there: the callback URL it sends back."""
    first = site.client.get(start)
    assert first.status_code == 303
    login = site.client.get(first.headers["location"])
    assert login.status_code == 303
    authorize = urlsplit(login.headers["location"])
    request = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert request["code_challenge_method"] == "S256"
    assert len(request["code_challenge"]) == 43
    assert request["nonce"]
    assert request["state"]
    assert request["redirect_uri"] == f"{BASE}/console/callback"
    answer = httpx.post(f"{site.provider.issuer.url}/authorize", data={**request, "username": user})
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def test_sign_in_sets_a_secure_httponly_samesite_session_and_returns_to_the_page(
    site: Site,
) -> None:
    callback = _at_issuer(site, start="/decisions/dec_123?x=1")
    done = site.client.get(callback.removeprefix(BASE))
    assert done.status_code == 303
    assert done.headers["location"] == "/decisions/dec_123?x=1"
    cookie = next(c for c in done.headers.get_list("set-cookie") if "clearance_session=" in c)
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= flags
    queue = site.client.get("/console/queue")
    assert queue.status_code == 200
    assert "Signed in as <strong>user:alice</strong>" in queue.text
    assert queue.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in queue.headers["content-security-policy"]
    assert queue.headers["x-frame-options"] == "DENY"


def test_a_tampered_session_cookie_reads_as_signed_out(site: Site) -> None:
    site.client.get(_at_issuer(site).removeprefix(BASE))
    value = site.client.cookies["clearance_session"]
    assert site.client.get("/console/queue").status_code == 200
    payload, _, signature = value.rpartition(".")
    for forged in (payload + "." + signature[::-1], "x" + value[1:], ""):
        site.client.cookies.clear()
        site.client.cookies.set("clearance_session", forged)
        assert site.client.get("/console/queue").status_code == 303  # back to sign-in


def test_a_callback_whose_state_differs_is_refused(site: Site) -> None:
    callback = _at_issuer(site)
    forged = callback.replace("state=", "state=x")
    refused = site.client.get(forged.removeprefix(BASE))
    assert refused.status_code == 401
    assert "state does not match" in refused.text
    assert "clearance_session" not in site.client.cookies


def test_a_code_used_twice_is_refused_by_the_issuer(site: Site) -> None:
    callback = _at_issuer(site).removeprefix(BASE)
    assert site.client.get(callback).status_code == 303
    site.client.cookies.clear()
    again = _at_issuer(site)  # a new sign-in (its own state) replaying the first code
    code = parse_qs(urlsplit(callback).query)["code"][0]
    state = parse_qs(urlsplit(again).query)["state"][0]
    replay = site.client.get(f"/console/callback?code={code}&state={state}")
    assert replay.status_code == 401
    assert "invalid_grant" in replay.text
    assert "invalid_grant" in site.provider.refused


def test_after_sign_in_the_console_never_redirects_off_site(site: Site) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example",
                   "/\t/evil.example", "/\n/evil.example", " //evil.example"):  # fmt: skip
        site.client.cookies.clear()
        first = site.client.get("/console/login", params={"next": target})
        authorize = urlsplit(first.headers["location"])
        request = {k: v[0] for k, v in parse_qs(authorize.query).items()}
        answer = httpx.post(
            f"{site.provider.issuer.url}/authorize", data={**request, "username": "alice"}
        )
        done = site.client.get(answer.headers["location"].removeprefix(BASE))
        assert done.headers["location"] == "/console/queue", target


def test_an_unknown_person_at_the_issuer_is_not_signed_in(site: Site) -> None:
    callback = _at_issuer(site, user="mallory")
    assert "error=access_denied" in callback
    refused = site.client.get(callback.removeprefix(BASE))
    assert refused.status_code == 401
    assert "clearance_session" not in site.client.cookies


def test_the_console_signs_in_only_at_a_trusted_issuer() -> None:
    issuer = Issuer(url="https://login.example.com", audience="api", kid="k")
    settings = _settings("https://login.example.com", issuer)
    settings["console"] = {**settings["console"], "issuer": "https://other.example.com"}  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="not one of the oidc issuers"):
        ServerSettings.model_validate(settings)
    settings["console"] = {**settings["console"], "issuer": issuer.url, "session_secret": "short"}  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match="at least 32 characters"):
        ServerSettings.model_validate(settings)


def _decide(
    site: Site, environment: str, namespace: str, workload: str, image: str | None = None
) -> str:
    """Decided now (the fixed clock): a different image makes a different decision."""
    images = (image,) if image else ()
    target = Target.of(environment, "prod-eu", namespace, workload, images=images)
    caller = Caller(subject="user:ci", method="token")
    return site.ctx.decisions.decide(target, caller).record.decision_id


def test_history_filters_by_environment_verdict_and_target(site: Site) -> None:
    web = _decide(site, "staging", "stage", "deployment/web")  # approve
    ledger = _decide(site, "production", "shop", "deployment/ledger")  # proceed
    site.sign_in()
    everything = site.client.get("/console/history").text
    assert web in everything
    assert ledger in everything
    staging = site.client.get("/console/history", params={"environment": "staging"}).text
    assert web in staging
    assert ledger not in staging
    proceed = site.client.get("/console/history", params={"verdict": "proceed"}).text
    assert ledger in proceed
    assert web not in proceed
    by_target = site.client.get(
        "/console/history", params={"target": "prod-eu/shop/deployment/ledger"}
    ).text
    assert ledger in by_target
    assert web not in by_target
    later = site.client.get("/console/history", params={"since": "2026-11-29T00:00:00Z"}).text
    assert "No decision matches" in later  # both were decided at NOW, the 28th
    bad = site.client.get("/console/history", params={"since": "yesterday"})
    assert bad.status_code == 400
    assert "since: not a time" in bad.text


def test_the_sources_page_shows_freshness_and_quarantine(site: Site) -> None:
    site.sign_in()
    page = site.client.get("/console/sources").text
    assert "<td>edr</td>" in page
    assert "2026-11-28T11:59:00Z" in page  # its last success
    assert "1 min" in page  # its age, by the service's clock


def test_exceptions_are_listed_and_only_an_admin_revokes_them(site: Site) -> None:
    def exemption(ident: str, hours: int) -> Exemption:
        return Exemption(
            id=ident, signal="edr:v1", rule=None, environment="staging", cluster="prod-eu",
            namespace="stage", workload="deployment/web", expires=NOW + timedelta(hours=hours),
            reason="vendor fix due", ticket="SEC-1", approver="user:root",
        )  # fmt: skip

    site.ctx.store.add_exemption(exemption("exc_soon", 2), NOW)
    site.ctx.store.add_exemption(exemption("exc_later", 72), NOW)
    site.sign_in()  # alice: an approver, not an admin
    page = site.client.get("/console/exceptions").text
    assert page.index("exc_soon") < page.index("exc_later")
    assert page.count("expiring soon") == 1
    assert "Revoke" not in page
    csrf = site.csrf("/console/queue")
    refused = site.client.post("/console/exceptions/exc_soon/revoke", data={"csrf": csrf})
    assert refused.status_code == 403
    assert "revoking an exception needs &#39;admin&#39;" in refused.text
    site.sign_in("root")
    no_token = site.client.post("/console/exceptions/exc_soon/revoke", data={})
    assert no_token.status_code == 403
    assert "CSRF token is missing or wrong: nothing was done" in no_token.text
    csrf = site.csrf("/console/exceptions")
    done = site.client.post("/console/exceptions/exc_soon/revoke", data={"csrf": csrf})
    assert done.status_code == 303
    [record] = [r for r in site.ctx.store.list_exemptions(NOW, include_inactive=True)
                if r.exemption.id == "exc_soon"]  # fmt: skip
    assert record.revoked_by == "user:root"
    assert "revoked by user:root" in site.client.get("/console/exceptions").text


def test_the_decision_page_shows_reasons_arithmetic_exposure_and_chain(site: Site) -> None:
    decision_id = _decide(site, "staging", "stage", "deployment/web")
    site.sign_in()
    page = site.client.get(f"/decisions/{decision_id}").text
    assert "rule:known-exploited-in-image" in page
    assert "risk = 100 × (1 − " in page  # the arithmetic, as clearance explain prints it
    assert "https://edr.example/detections/v1" in page  # the vendor console link
    assert "<code>image:ghcr.io/acme/web:2.0</code>" in page  # exposure: the image
    assert "<code>host:node-b</code>" in page  # … and the node it runs on
    assert re.search(r"record (\d+) of \1, hash <code>[0-9a-f]{16}…</code>", page)
    assert "Needs 1 approval from group <strong>engineering</strong>" in page


def test_reject_and_break_glass_forms_go_through_the_service_rules(site: Site) -> None:
    decision_id = _decide(site, "staging", "stage", "deployment/web")
    site.sign_in()
    csrf = site.csrf(f"/decisions/{decision_id}")
    action = f"/decisions/{decision_id}"
    blank = site.client.post(action + "/answer", data={"csrf": csrf, "outcome": "reject",
                                                       "reason": "  "})  # fmt: skip
    assert blank.status_code == 422
    assert "reason:" in blank.text  # names the field
    no_ticket = site.client.post(action + "/break-glass", data={"csrf": csrf, "reason": "outage"})
    assert no_ticket.status_code == 422
    assert "ticket:" in no_ticket.text
    assert site.ctx.decisions.get(decision_id).state.status.value == "pending_approval"
    glass = site.client.post(
        action + "/break-glass", data={"csrf": csrf, "reason": "outage fix", "ticket": "INC-7"}
    )
    assert glass.status_code == 303
    assert site.ctx.decisions.get(decision_id).state.status.value == "break_glass"
    other = _decide(site, "staging", "stage", "deployment/web")
    rejected = site.client.post(
        f"/decisions/{other}/answer",
        data={"csrf": csrf, "outcome": "reject", "reason": "not during the freeze"},
    )
    assert rejected.status_code == 303
    assert site.client.get(rejected.headers["location"]).text.count("Your rejection") == 1


def test_signing_out_needs_the_token_and_ends_the_session(site: Site) -> None:
    site.sign_in()
    csrf = site.csrf("/console/queue")
    assert site.client.post("/console/logout", data={}).status_code == 403
    assert site.client.get("/console/queue").status_code == 200  # still signed in
    out = site.client.post("/console/logout", data={"csrf": csrf})
    assert out.status_code == 200
    assert "clearance_session" not in site.client.cookies
    assert site.client.get("/console/queue").status_code == 303


def test_history_draws_risk_over_time_for_a_target(site: Site) -> None:
    for n in range(3):
        _decide(site, "staging", "stage", "deployment/web", f"ghcr.io/acme/web:2.{n}")
    _decide(site, "production", "shop", "deployment/ledger")
    site.sign_in()
    one = site.client.get("/console/history", params={"target": "prod-eu/stage/deployment/web"})
    assert one.text.count("<circle") == 3
    assert "<polyline" in one.text  # one target: its dots joined
    assert "approve 40" in one.text  # staging's thresholds, one environment
    assert "block 80" in one.text
    assert 'aria-label="Risk of 3 decisions' in one.text
    mixed = site.client.get("/console/history").text
    assert mixed.count("<circle") == 4
    assert "<polyline" not in mixed  # two targets are not one line
    assert "approve 40" not in mixed  # two environments, two sets of thresholds
