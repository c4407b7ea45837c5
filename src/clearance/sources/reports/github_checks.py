"""A commit's check runs on GitHub, read into a ``github-checks`` :class:`Report`.

Pure: the check runs (``GET /repos/{owner}/{repo}/commits/{ref}/check-runs``, every page) and
the names of the required checks come in as arguments, fetched by
:mod:`clearance.integrations.github_checks`. Shapes from the REST reference
(https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference; fixture
tests/fixtures/github/check-runs.docs-example.json): each run has a ``name``, a ``status``
(``queued``, ``in_progress``, ``completed``, ``waiting``, ``requested``, ``pending``) and, once
completed, a ``conclusion`` (``success``, ``failure``, ``neutral``, ``cancelled``, ``skipped``,
``timed_out``, ``action_required``, ``stale``).

A required check is a finding (``high``, like a failing test) unless its latest run completed
with ``success``, ``neutral`` or ``skipped`` — what GitHub's own merge gate accepts. A required
check with no run on the commit is a finding too: GitHub would not merge without it, and a
deploy should not pretend it passed. With no required checks named (an unprotected branch),
every check run on the commit counts as required.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from clearance.errors import ReportError
from clearance.model.canonical import canonical_json
from clearance.model.reports import Finding, Report, ReportFormat
from clearance.model.signal import Severity

PASSING = frozenset({"success", "neutral", "skipped"})
TOOL = "github-checks"


class _Run(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    name: str
    status: str
    conclusion: str | None = None
    html_url: str | None = None


def read_check_runs(
    repository: str,
    sha: str,
    required: Sequence[str] | None,
    runs: Sequence[Mapping[str, Any]],
) -> Report:
    """The report on ``repository`` at ``sha``: one finding per required check that did not
    pass. ``required``: the required checks' names (None or empty: every run's name).
    A run that is not a check run (no id, name or status) makes the whole answer unreadable:
    :class:`ReportError`, since half a list could hide the failing check."""
    parsed: dict[str, _Run] = {}
    for n, raw in enumerate(runs):
        try:
            run = _Run.model_validate(raw)
        except ValidationError as exc:
            raise ReportError(
                f"{repository}@{sha}: check run {n} is not a check run: {exc}"
            ) from exc
        # Re-runs: GitHub lists the latest per name by default (filter=latest); keep the newest
        # (highest id) if an answer still holds several.
        if run.name not in parsed or run.id > parsed[run.name].id:
            parsed[run.name] = run
    names = sorted(set(required) if required else parsed)
    findings = []
    for name in names:
        latest = parsed.get(name)
        if latest is None:
            title = f"Required check {name} did not run on {sha[:12]}"
        elif latest.status != "completed":
            title = f"Required check {name} has not completed ({latest.status})"
        elif latest.conclusion in PASSING:
            continue
        else:
            title = f"Required check {name} concluded {latest.conclusion or 'with no conclusion'}"
        findings.append(Finding(key=name, title=title, severity=Severity.HIGH, rule=name))
    # What was read, in a canonical form: the same answer from GitHub, the same digest.
    seen = {
        "repository": repository,
        "sha": sha,
        "required": names,
        "runs": [
            {"id": r.id, "name": r.name, "status": r.status, "conclusion": r.conclusion}
            for r in sorted(parsed.values(), key=lambda r: r.name)
        ],
    }
    digest = "sha256:" + hashlib.sha256(canonical_json(seen)).hexdigest()
    return Report(
        ReportFormat.GITHUB_CHECKS,
        f"{repository}@{sha[:12]}",
        digest,
        TOOL,
        len(names),
        tuple(findings),
    )
