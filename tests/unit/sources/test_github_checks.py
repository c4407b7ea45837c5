"""A commit's check runs read into a ``github-checks`` report: the pure reader on the REST
reference's example run, and the fetcher against the GitHub stand-in (paging, required checks
from protection and rulesets, refusals that leave no report and never show the token)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clearance.errors import ChecksError, ReportError
from clearance.integrations.github_checks import GitHubChecks
from clearance.integrations.settings import ChecksSettings
from clearance.model.reports import ReportFormat
from clearance.model.signal import SignalKind
from clearance.model.target import ChangeInfo, Target
from clearance.sources.reports import read_report
from clearance.sources.reports.github_checks import read_check_runs
from standins._server import Loopback
from standins.github_api import GitHubApiHandler, GitHubApiState

FIXTURE = Path(__file__).parents[2] / "fixtures" / "github" / "check-runs.docs-example.json"
SHA = "ce587453ced02b1526dfb4cb910479d431683101"
TOKEN = "ghp_read_only_token_for_tests"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def run(name: str, conclusion: str | None, status: str = "completed", id_: int = 4) -> Any:
    item = copy.deepcopy(json.loads(FIXTURE.read_text())["check_runs"][0])
    item.update(name=name, conclusion=conclusion, status=status, id=id_)
    return item


def test_the_reference_example_run_passes_and_counts_as_required_when_none_are_named() -> None:
    runs = json.loads(FIXTURE.read_text())["check_runs"]
    report = read_check_runs("github/hello-world", SHA, None, runs)
    assert report.format is ReportFormat.GITHUB_CHECKS
    assert (report.total, report.findings) == (1, ())  # "neutral" is what GitHub merges on
    assert report.summary() == (
        "github/hello-world@ce587453ced0 (github-checks): 1 required check(s), 0 not passed"
    )


def test_each_required_check_that_did_not_pass_is_a_finding_naming_it() -> None:
    runs = [
        run("test", "failure"),
        run("build", None, status="in_progress"),
        run("lint", "failure"),  # not required
        run("e2e", "timed_out"),
    ]
    report = read_check_runs("acme/shop", SHA, ["test", "build", "e2e", "deploy-preview"], runs)
    titles = [f.title for f in report.findings]
    assert titles == [
        "Required check build has not completed (in_progress)",
        f"Required check deploy-preview did not run on {SHA[:12]}",
        "Required check e2e concluded timed_out",
        "Required check test concluded failure",
    ]
    target = Target.of("production", "prod-eu", "shop", "deployment/checkout")
    signals = report.signals(target, NOW)
    assert {s.kind for s in signals} == {SignalKind.TEST}
    assert [s.rule for s in signals] == ["build", "deploy-preview", "e2e", "test"]


def test_the_newest_run_of_a_re_run_check_counts_and_the_digest_is_stable() -> None:
    runs = [run("test", "failure", id_=5), run("test", "success", id_=9)]
    report = read_check_runs("acme/shop", SHA, ["test"], runs)
    assert report.findings == ()
    again = read_check_runs("acme/shop", SHA, ["test"], list(reversed(runs)))
    assert again == report


def test_an_answer_that_is_not_check_runs_is_refused_whole() -> None:
    with pytest.raises(ReportError, match="check run 1 is not a check run"):
        read_check_runs("acme/shop", SHA, None, [run("test", "success"), {"name": "x"}])


def test_a_request_cannot_bring_a_github_checks_report_of_its_own() -> None:
    with pytest.raises(ReportError, match="unknown report format 'github-checks'"):
        read_report("github-checks", "forged.json", b"{}")


@pytest.fixture
def api() -> Iterator[tuple[str, GitHubApiState]]:
    state = GitHubApiState("Iv23liCLEARANCE", "", NOW, read_tokens={TOKEN})
    with Loopback(GitHubApiHandler, state) as url:
        yield url, state


def checks(url: str, **settings: Any) -> GitHubChecks:
    values: dict[str, Any] = {"repository": "acme/shop", "token": TOKEN, **settings}
    return GitHubChecks(ChecksSettings.model_validate(values), url)


def test_every_page_is_read_and_required_checks_come_from_protection_and_rulesets(
    api: tuple[str, GitHubApiState],
) -> None:
    url, state = api
    for n in range(230):  # three pages of 100
        state.add_run("acme/shop", SHA, f"matrix-{n:03d}", "success")
    state.add_run("acme/shop", SHA, "test", "failure")
    state.protection["acme/shop:main"] = ["test"]
    state.rulesets["acme/shop:main"] = ["matrix-229", "build"]
    report = checks(url).read(SHA)
    assert report.total == 3
    assert [f.key for f in report.findings] == ["build", "test"]
    pages = [p for m, p in state.scripted.requests if "/check-runs" in p]
    assert len(pages) == 3
    assert pages[-1].endswith("page=3")


def test_an_unprotected_branch_makes_every_run_required_and_settings_can_name_them(
    api: tuple[str, GitHubApiState],
) -> None:
    url, state = api
    state.add_run("acme/shop", SHA, "test", "success")
    state.add_run("acme/shop", SHA, "lint", "failure")
    assert [f.key for f in checks(url).read(SHA).findings] == ["lint"]
    named = checks(url, required=["test"]).read(SHA)
    assert (named.total, named.findings) == (1, ())
    asked = [p for _, p in state.scripted.requests]
    assert sum("protection" in p for p in asked) == 1  # not asked when the settings name them


def test_a_refusal_leaves_no_report_and_never_shows_the_token(
    api: tuple[str, GitHubApiState], caplog: pytest.LogCaptureFixture
) -> None:
    url, state = api
    state.add_run("acme/shop", SHA, "test", "failure")
    bad = checks(url, token="ghp_not_a_token_github_knows")
    with pytest.raises(ChecksError, match="HTTP 401") as raised:
        bad.read(SHA)
    assert "ghp_" not in str(raised.value)
    target = Target.of(
        "production", "prod-eu", "shop", "deployment/checkout", change=ChangeInfo(commit=SHA)
    )
    with caplog.at_level(logging.WARNING):
        assert bad.reports(target) == ()
    assert "no github-checks evidence for" in caplog.text
    assert "ghp_" not in caplog.text
    assert checks(url, environments=["staging"]).reports(target) == ()  # not read here
    assert len(checks(url).reports(target)) == 1


def test_settings_want_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="one of installation_id"):
        ChecksSettings.model_validate({"repository": "acme/shop"})
    with pytest.raises(ValueError, match="one of installation_id"):
        ChecksSettings.model_validate(
            {"repository": "acme/shop", "token": TOKEN, "installation_id": 1}
        )
