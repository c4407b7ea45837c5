"""The decided commit's required checks, read from GitHub as ``github-checks`` evidence.

Where ``github.checks`` is configured (:class:`~clearance.integrations.settings.ChecksSettings`),
every decision whose target names a commit (``change.commit``) reads, before it is decided:

- the check runs of the commit, every page:
  ``GET /repos/{owner}/{repo}/commits/{sha}/check-runs?per_page=100`` (followed by the
  ``Link: rel="next"`` header; https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference);
- unless the settings list them, which checks are required on the branch: branch protection
  (``GET /repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks``, 404 when
  the branch has none; https://docs.github.com/rest/branches/branch-protection#get-status-checks-protection)
  and rulesets (``GET /repos/{owner}/{repo}/rules/branches/{branch}``, the
  ``required_status_checks`` rules; https://docs.github.com/rest/repos/rules#get-rules-for-a-branch).

The answer becomes a report (:func:`~clearance.sources.reports.github_checks.read_check_runs`)
recorded in the decision's snapshot like a JUnit report, so a replay reads what GitHub said
then and never asks again. GitHub unreachable or refusing: no report, logged, and an
environment that requires ``github-checks`` gets its ``missing_evidence`` stance — the gate
does not wait on GitHub, and does not clear a deploy on its silence either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from clearance.errors import ChecksError, ClearanceError, ReportError
from clearance.http_client import Peer, http_client
from clearance.integrations.settings import ChecksSettings
from clearance.model.reports import Report
from clearance.model.target import Target
from clearance.sources.reports.github_checks import read_check_runs

logger = logging.getLogger(__name__)
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
PER_PAGE = 100
MAX_PAGES = 20  # 2,000 check runs on one commit: far past any real pipeline


class GitHubChecks:
    """Reads one repository's checks. ``token``: an installation token for the App's
    installation (the App's own cache), when the settings name no token of their own."""

    def __init__(
        self,
        settings: ChecksSettings,
        api_url: str,
        token: Callable[[int], str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._transport = transport

    def reports(self, target: Target) -> tuple[Report, ...]:
        """The ``github-checks`` report for ``target``'s commit: none when the target names no
        commit, its environment is not one the settings read checks for, or GitHub cannot be
        read (logged: the policy's ``missing_evidence`` stance decides what that means)."""
        commit = target.change.commit
        wanted = self.settings.environments
        if not commit or (wanted and target.environment not in wanted):
            return ()
        try:
            return (self.read(commit),)
        except (ChecksError, ReportError) as exc:
            logger.warning("no github-checks evidence for %s: %s", target.key, exc)
            return ()

    def read(self, sha: str) -> Report:
        """Read ``sha``'s check runs and the required checks; ChecksError if GitHub cannot be
        read, ReportError if what it answers is not check runs."""
        repo = self.settings.repository
        with http_client(Peer.GITHUB, transport=self._transport) as client:
            client.headers.update({**API_HEADERS, "Authorization": f"Bearer {self._bearer()}"})
            required = self.settings.required
            if required is None:
                required = self._required(client)
            runs = self._runs(client, sha)
        return read_check_runs(repo, sha, required, runs)

    def _bearer(self) -> str:
        if self.settings.token is not None:
            return self.settings.token.get_secret_value()
        if self._token is None or self.settings.installation_id is None:
            raise ChecksError("github.checks names an installation but no App is configured")
        try:
            return self._token(self.settings.installation_id)
        except (ClearanceError, httpx.HTTPError, KeyError, ValueError) as exc:
            raise ChecksError(
                f"no installation token for {self.settings.repository}: {exc}"
            ) from exc

    def _runs(self, client: httpx.Client, sha: str) -> list[Mapping[str, Any]]:
        url: str | None = (
            f"{self._repo_url()}/commits/{quote(sha, safe='')}/check-runs?per_page={PER_PAGE}"
        )
        runs: list[Mapping[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return runs
            reply = self._get(client, url)
            body = _json(reply, "check runs")
            page = body.get("check_runs") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise ReportError(f"{self.settings.repository}@{sha}: no check_runs in the answer")
            runs.extend(page)
            url = _next(reply, self.api_url)
        if url is not None:
            raise ChecksError(f"{self.settings.repository}@{sha}: over {MAX_PAGES} pages of runs")
        return runs

    def _required(self, client: httpx.Client) -> list[str]:
        """The branch's required checks: protection's ``checks`` (or the older ``contexts``)
        and every active ruleset's ``required_status_checks`` rule."""
        branch = quote(self.settings.branch, safe="")
        names: set[str] = set()
        reply = self._get(
            client,
            f"{self._repo_url()}/branches/{branch}/protection/required_status_checks",
            missing_ok=True,
        )
        if reply.status_code != 404:
            body = _json(reply, "required status checks")
            if isinstance(body, dict):
                names.update(c["context"] for c in body.get("checks") or () if _named(c))
                names.update(c for c in body.get("contexts") or () if isinstance(c, str))
        reply = self._get(
            client,
            f"{self._repo_url()}/rules/branches/{branch}?per_page={PER_PAGE}",
            missing_ok=True,
        )
        if reply.status_code != 404:
            rules = _json(reply, "branch rules")
            for rule in rules if isinstance(rules, list) else ():
                if not isinstance(rule, dict) or rule.get("type") != "required_status_checks":
                    continue
                params = rule.get("parameters") or {}
                checks = params.get("required_status_checks") if isinstance(params, dict) else ()
                names.update(c["context"] for c in checks or () if _named(c))
        return sorted(names)

    def _get(self, client: httpx.Client, url: str, *, missing_ok: bool = False) -> httpx.Response:
        where = url.removeprefix(self.api_url)
        try:
            reply = client.get(url)
        except httpx.HTTPError as exc:
            raise ChecksError(f"GET {where}: {type(exc).__name__}") from exc
        if reply.status_code == 200 or (missing_ok and reply.status_code == 404):
            return reply
        raise ChecksError(f"GET {where}: HTTP {reply.status_code}")

    def _repo_url(self) -> str:
        owner, _, name = self.settings.repository.partition("/")
        return f"{self.api_url}/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _named(check: Any) -> bool:
    return isinstance(check, dict) and isinstance(check.get("context"), str)


def _json(reply: httpx.Response, what: str) -> Any:
    try:
        return reply.json()
    except ValueError as exc:
        raise ReportError(f"GitHub's answer for the {what} is not JSON") from exc


def _next(reply: httpx.Response, api_url: str) -> str | None:
    """The ``Link: rel="next"`` page, only ever on the API (the token goes where it points)."""
    url = reply.links.get("next", {}).get("url")
    if url is None:
        return None
    if not url.startswith(api_url + "/"):
        raise ChecksError(f"the next page of check runs is not on {api_url}")
    return str(url)
