"""Where the service is and who is asking: ``--server``/``$CLEARANCE_SERVER`` and the bearer.

The bearer is ``$CLEARANCE_TOKEN`` (an API token, a GitLab ID token, a CI secret) when set. In a
GitHub Actions job without it, the job's OIDC token is requested for the audience
(``$CLEARANCE_AUDIENCE``, else the server URL) from ``ACTIONS_ID_TOKEN_REQUEST_URL`` with
``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (the job needs ``permissions: id-token: write``); both the
request token and the issued token are handed to ``mask`` (the CLI prints ``::add-mask::``)
before anything else can print them. See
https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import quote, urlsplit

from clearance.errors import ConfigError

SERVER_ENV = "CLEARANCE_SERVER"
TOKEN_ENV = "CLEARANCE_TOKEN"  # noqa: S105 - the variable's name, not a secret
AUDIENCE_ENV = "CLEARANCE_AUDIENCE"
OIDC_URL_ENV = "ACTIONS_ID_TOKEN_REQUEST_URL"
OIDC_BEARER_ENV = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"

Mask = Callable[[str], None]
# Fetch a JSON object with GET and a bearer, through the client's one retrying transport.
FetchJson = Callable[[str, str], object]


def server_url(flag: str | None, env: Mapping[str, str]) -> str | None:
    """``--server`` if given, else ``$CLEARANCE_SERVER``; None when neither names a service."""
    url = (flag or env.get(SERVER_ENV) or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--server/${SERVER_ENV}: {shown(url)!r} is not an http(s) URL")
    return url.rstrip("/")


def shown(url: str) -> str:
    """A URL fit to print: any ``user:password@`` dropped."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def bearer(server: str, env: Mapping[str, str], mask: Mask, fetch: FetchJson) -> str:
    """The credential to send: ``$CLEARANCE_TOKEN``, else the GitHub job's OIDC token."""
    token = env.get(TOKEN_ENV, "").strip()
    if token:
        return token
    url, request_token = env.get(OIDC_URL_ENV), env.get(OIDC_BEARER_ENV)
    if not url or not request_token:
        raise ConfigError(
            f"no credential for {shown(server)}: set ${TOKEN_ENV} to an API token or an OIDC JWT "
            "the service trusts, or in a GitHub Actions job grant `permissions: id-token: write`"
        )
    mask(request_token)
    audience = env.get(AUDIENCE_ENV) or server
    separator = "&" if "?" in url else "?"
    answer = fetch(f"{url}{separator}audience={quote(audience, safe='')}", request_token)
    issued = answer.get("value") if isinstance(answer, dict) else None
    if not isinstance(issued, str) or not issued:
        raise ConfigError("the GitHub Actions OIDC token endpoint answered without a token")
    mask(issued)
    return issued
