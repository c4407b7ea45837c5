"""A stand-in for the GitHub REST API endpoints a protection-rule App calls.

    POST /app/installations/{id}/access_tokens                        app JWT → installation token
    POST /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule   → 204

Wire format from the REST docs ("Create an installation access token for an app", "Review custom
deployment protection rules for a workflow run"): the token endpoint answers 201
``{"token", "expires_at", "permissions", "repository_selection"}``; errors are
``{"message", "documentation_url"}``. The app JWT is verified like GitHub does: RS256 with the
App's public key, ``iss`` = the App's id, ``exp`` no more than 10 minutes after ``iat``, against
the stand-in's own clock (``state.now``). A body must be one of the two documented shapes.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import jwt

from clearance.model.signal import format_time
from standins._server import Scripted, StandInHandler

DOCS = "https://docs.github.com/rest"
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
