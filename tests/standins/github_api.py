"""A stand-in for the GitHub REST API endpoints a protection-rule App calls.

    POST /app/installations/{id}/access_tokens                        app JWT → installation token
    POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule   → 204
    GET  /repos/{owner}/{repo}/commits/{ref}/check-runs           paged: per_page, page, Link
    GET  /repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks   404 unset
    GET  /repos/{owner}/{repo}/rules/branches/{branch}            the active rules, maybe none

Wire format from the REST docs ("Create an installation access token for an app", "Review custom
deployment protection rules for a workflow run"): the token endpoint answers 201
``{"token", "expires_at", "permissions", "repository_selection"}``; errors are
``{"message", "documentation_url"}``. The app JWT is verified like GitHub does: RS256 with the
App's public key, ``iss`` = the App's id, ``exp`` no more than 10 minutes after ``iat``, against
the stand-in's own clock (``state.now``). A body must be one of the two documented shapes.

The checks endpoints ("List check runs for a Git reference", "Get status checks protection",
"Get rules for a branch") answer a token the stand-in issued or one of ``state.read_tokens``.
Check runs are copies of the REST reference's example run
(tests/fixtures/github/check-runs.docs-example.json) with each test's name, status and
conclusion; pages carry ``Link: <…>; rel="next"`` as GitHub's do.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import jwt

from clearance.model.signal import format_time
from standins._server import Scripted, StandInHandler

DOCS = "https://docs.github.com/rest"
FIXTURE = Path(__file__).parents[1] / "fixtures" / "github" / "check-runs.docs-example.json"
_RUNS = re.compile(r"^/repos/([^/]+)/([^/]+)/commits/([^/]+)/check-runs$")
_PROTECTION = re.compile(
    r"^/repos/([^/]+)/([^/]+)/branches/([^/]+)/protection/required_status_checks$"
)
_RULES = re.compile(r"^/repos/([^/]+)/([^/]+)/rules/branches/([^/]+)$")
_TOKENS = re.compile(r"^/app/installations/(\d+)/access_tokens$")
_REVIEW = re.compile(r"^/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/deployment_protection_rule$")


@dataclass
class GitHubApiState:
    app_id: str
    public_key_pem: str
    now: datetime
    installations: set[int] = field(default_factory=set)
    tokens: dict[str, int] = field(default_factory=dict)  # installation token → installation
    reviews: list[dict[str, Any]] = field(default_factory=list)  # accepted callback bodies
    jwt_claims: list[dict[str, Any]] = field(default_factory=list)  # verified app JWTs
    scripted: Scripted = field(default_factory=Scripted)
    read_tokens: set[str] = field(default_factory=set)  # tokens of their own (not the App's)
    # "owner/repo@sha" → check runs; "owner/repo:branch" → required checks (protection) and
    # the required_status_checks contexts of the branch's rulesets.
    check_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    protection: dict[str, list[str]] = field(default_factory=dict)
    rulesets: dict[str, list[str]] = field(default_factory=dict)

    def add_run(
        self, repo: str, sha: str, name: str, conclusion: str | None, status: str = "completed"
    ) -> dict[str, Any]:
        """A check run on ``repo`` at ``sha``: the reference's example with these values."""
        run: dict[str, Any] = copy.deepcopy(json.loads(FIXTURE.read_text())["check_runs"][0])
        runs = self.check_runs.setdefault(f"{repo}@{sha}", [])
        run_id = 1000 + sum(len(r) for r in self.check_runs.values())
        owner, name_ = repo.split("/")
        run.update(
            id=run_id,
            name=name,
            head_sha=sha,
            status=status,
            conclusion=conclusion if status == "completed" else None,
            url=f"https://api.github.com/repos/{owner}/{name_}/check-runs/{run_id}",
            html_url=f"https://github.com/{owner}/{name_}/runs/{run_id}",
        )
        runs.append(run)
        return run


class GitHubApiHandler(StandInHandler):
    state: ClassVar[GitHubApiState]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.record()
        if m := _TOKENS.match(self.path_only):
            self._access_token(int(m.group(1)))
        elif m := _REVIEW.match(self.path_only):
            raw = self.body()  # read it first: the connection is kept alive
            if self.play_queued():  # scripted outages hit the callback, not the token call
                return
            self._review(m.group(1), m.group(2), int(m.group(3)), raw)
        else:
            self.send_json(404, {"message": "Not Found", "documentation_url": DOCS})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.record()
        if self.play_queued():
            return
        token = self._bearer()
        if token not in self.state.tokens and token not in self.state.read_tokens:
            self.send_json(401, {"message": "Bad credentials", "documentation_url": DOCS})
        elif m := _RUNS.match(self.path_only):
            self._check_runs(f"{m.group(1)}/{m.group(2)}", m.group(3))
        elif m := _PROTECTION.match(self.path_only):
            names = self.state.protection.get(f"{m.group(1)}/{m.group(2)}:{m.group(3)}")
            if names is None:
                self.send_json(404, {"message": "Branch not protected", "documentation_url": DOCS})
                return
            url = f"https://api.github.com{self.path_only}"
            self.send_json(
                200,
                {
                    "url": url,
                    "strict": True,
                    "contexts": names,
                    "contexts_url": f"{url}/contexts",
                    "checks": [{"context": n, "app_id": None} for n in names],
                },
            )
        elif m := _RULES.match(self.path_only):
            key = f"{m.group(1)}/{m.group(2)}"
            names = self.state.rulesets.get(f"{key}:{m.group(3)}") or []
            rules = [{"type": "deletion", "ruleset_source_type": "Repository",
                      "ruleset_source": key, "ruleset_id": 42}]  # fmt: skip
            if names:
                rules.append(
                    {
                        "type": "required_status_checks",
                        "parameters": {
                            "strict_required_status_checks_policy": False,
                            "required_status_checks": [
                                {"context": n, "integration_id": 15368} for n in names
                            ],
                        },
                        "ruleset_source_type": "Repository",
                        "ruleset_source": key,
                        "ruleset_id": 42,
                    }
                )
            self.send_json(200, rules)
        else:
            self.send_json(404, {"message": "Not Found", "documentation_url": DOCS})

    def _check_runs(self, repo: str, ref: str) -> None:
        runs = self.state.check_runs.get(f"{repo}@{ref}", [])
        per_page = min(int(self.query.get("per_page", "30")), 100)
        page = int(self.query.get("page", "1"))
        chunk = runs[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(runs):
            host = self.headers.get("Host")
            link = f"http://{host}{self.path_only}?per_page={per_page}&page={page + 1}"
            headers["Link"] = f'<{link}>; rel="next"'
        self.send_json(200, {"total_count": len(runs), "check_runs": chunk}, headers)

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        return value if scheme.lower() == "bearer" and value else None

    def _access_token(self, installation: int) -> None:
        token = self._bearer()
        try:
            claims = jwt.decode(
                token or "",
                self.state.public_key_pem,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": ["iat", "exp", "iss"],
                },
            )
        except jwt.PyJWTError:
            self.send_json(
                401, {"message": "A JSON web token could not be decoded", "documentation_url": DOCS}
            )
            return
        now = self.state.now.timestamp()
        if str(claims["iss"]) != self.state.app_id:
            self.send_json(401, {"message": "Integration not found", "documentation_url": DOCS})
            return
        if claims["exp"] - claims["iat"] > 600 or claims["exp"] <= now or claims["iat"] > now:
            self.send_json(
                401,
                {
                    "message": "'Expiration time' claim ('exp') is too far in the future",
                    "documentation_url": DOCS,
                },
            )
            return
        if installation not in self.state.installations:
            self.send_json(404, {"message": "Not Found", "documentation_url": DOCS})
            return
        self.state.jwt_claims.append(claims)
        secret = "ghs_" + secrets.token_hex(18)
        self.state.tokens[secret] = installation
        expires = self.state.now + timedelta(hours=1)
        self.send_json(
            201,
            {
                "token": secret,
                "expires_at": format_time(expires),
                "permissions": {"actions": "read", "deployments": "write"},
                "repository_selection": "all",
            },
        )

    def _review(self, owner: str, repo: str, run_id: int, raw: bytes) -> None:
        if self._bearer() not in self.state.tokens:
            self.send_json(401, {"message": "Bad credentials", "documentation_url": DOCS})
            return
        body: Any = json.loads(raw) if raw else None
        shapes = ({"environment_name", "state", "comment"}, {"environment_name", "comment"})
        ok = isinstance(body, dict) and (
            set(body) in shapes or set(body) == {"environment_name", "state"}
        )
        if ok and "state" in body and body["state"] not in ("approved", "rejected"):
            ok = False
        if not ok:
            self.send_json(
                422,
                {"message": "Invalid request.", "documentation_url": DOCS, "status": "422"},
            )
            return
        self.state.reviews.append(
            {"owner": owner, "repo": repo, "run_id": run_id, "body": body, "path": self.path_only}
        )
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
