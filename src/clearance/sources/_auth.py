"""Credentials for the REST sources: a fixed header (SentinelOne's ``ApiToken``, Wazuh's HTTP Basic)
or OAuth 2.0 client-credentials tokens (Defender's Entra ID app), both shaped as :class:`Auth`
so :class:`~clearance.sources._http.HttpClient` asks for headers per request and, after a 401,
whether a fresh credential could help."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from pydantic import SecretStr

from clearance.errors import SourceError

if TYPE_CHECKING:
    from clearance.sources._http import HttpClient

__all__ = ["OAuth2ClientCredentials", "StaticAuth"]


class StaticAuth:
    """A fixed credential in one header: ``Authorization: ApiToken …`` or HTTP Basic."""

    def __init__(self, scheme: str, credential: SecretStr, header: str = "Authorization") -> None:
        self._header = header
        self._scheme = scheme
        self._credential = credential

    @classmethod
    def basic(cls, username: str, password: SecretStr) -> StaticAuth:
        pair = f"{username}:{password.get_secret_value()}".encode()
        return cls("Basic", SecretStr(base64.b64encode(pair).decode()))

    def __repr__(self) -> str:
        return f"StaticAuth({self._scheme!r}, **********)"

    def headers(self) -> dict[str, str]:
        return {self._header: f"{self._scheme} {self._credential.get_secret_value()}"}

    def invalidate(self) -> bool:
        return False


def basic_or_bearer(
    username: str | None, password: SecretStr | None, bearer_token: SecretStr | None
) -> tuple[StaticAuth | None, list[SecretStr]]:
    """The credential of an API behind a reverse proxy (Alertmanager, Prometheus): basic auth
    when a user and password are set, else a bearer token, else none; with the secrets an
    error message must never show."""
    if username is not None and password is not None:
        auth: StaticAuth | None = StaticAuth.basic(username, password)
    elif bearer_token is not None:
        auth = StaticAuth("Bearer", bearer_token)
    else:
        auth = None
    return auth, [s for s in (password, bearer_token) if s is not None]


class OAuth2ClientCredentials:
    """OAuth 2.0 client-credentials tokens (RFC 6749 §4.4), fetched on first use and renewed
    ``renew_window`` seconds before ``expires_in`` runs out. The token request goes through
    ``client`` (its retries and error mapping) without auth headers of its own."""

    def __init__(
        self,
        client: HttpClient,
        token_url: str,
        *,
        client_id: str,
        client_secret: SecretStr,
        scope: str,
        renew_window: float = 300.0,
    ) -> None:
        self._client = client
        self._token_url = token_url
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "scope": scope}
        self._secret = client_secret
        self._renew_window = renew_window
        self._token: SecretStr | None = None
        self._expires_at = 0.0
        self.requests = 0

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self._token_url!r})"

    def headers(self) -> dict[str, str]:
        now = self._client.retry.clock()
        if self._token is None or now >= self._expires_at - self._renew_window:
            self._fetch(now)
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def invalidate(self) -> bool:
        self._token = None
        return True

    def _fetch(self, now: float) -> None:
        self.requests += 1
        form = {**self._form, "client_secret": self._secret.get_secret_value()}
        body = self._client.request_json("POST", self._token_url, data=form, authenticate=False)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceError(self._client.source, "token endpoint answered without access_token")
        lifetime = body.get("expires_in", 3599)
        try:
            seconds = float(lifetime)
        except (TypeError, ValueError):
            seconds = 3599.0
        self._token = SecretStr(token)
        self._expires_at = now + seconds
