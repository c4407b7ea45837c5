"""Every outbound HTTP client Clearance opens, made here, with every timeout in one table.

Callers ask for a client by what it talks to (:class:`Peer`) instead of choosing a timeout
where they stand, so "how long does Clearance wait for X" has one answer, in :data:`TIMEOUTS`.
Redirects are never followed (a redirect could carry a bearer token to another host) and the
proxy environment is honoured, as httpx does by default. Tests pass a ``transport`` or
``verify`` (a stand-in's CA) through.

The Kubernetes inventory talks through lightkube's own client (on httpx2); its timeouts are in
:data:`KUBERNETES_TIMEOUT` and :data:`WATCH_GRACE` here all the same.

:func:`retry_after` reads a ``Retry-After`` header (RFC 9110 §10.2.3) for every retrying caller.
"""

from __future__ import annotations

import email.utils
from enum import Enum
from typing import Any

import httpx

__all__ = ["KUBERNETES_TIMEOUT", "TIMEOUTS", "WATCH_GRACE", "Peer", "http_client", "retry_after"]


class Peer(Enum):
    """What a client talks to; each has its timeout in :data:`TIMEOUTS`."""

    VENDOR_API = "vendor-api"  # a signal source's REST API (per-source ``timeout`` overrides)
    SERVICE = "service"  # the Clearance service, from the CLI and pipelines
    GITHUB = "github"  # GitHub's API: installation tokens, protection-rule callbacks
    WEBHOOK = "webhook"  # break-glass notifications: best effort, never blocking a decision
    JWKS = "jwks"  # an OIDC issuer's keys, fetched while a request waits to be authenticated


TIMEOUTS: dict[Peer, httpx.Timeout] = {
    Peer.VENDOR_API: httpx.Timeout(30.0),
    # A decision is recorded before it is answered, so a slow store shows here first.
    Peer.SERVICE: httpx.Timeout(30.0, connect=10.0),
    Peer.GITHUB: httpx.Timeout(10.0),
    Peer.WEBHOOK: httpx.Timeout(5.0),
    Peer.JWKS: httpx.Timeout(5.0),
}

# lightkube's connection to an API server (``timeout_seconds`` in the inventory's config
# overrides it), and how much longer than the server's own ``timeoutSeconds`` a watch may stay
# silent before the client gives up on it.
KUBERNETES_TIMEOUT = 10.0
WATCH_GRACE = 30.0


def http_client(
    peer: Peer,
    *,
    timeout: float | httpx.Timeout | None = None,
    transport: httpx.BaseTransport | None = None,
    verify: Any = True,
    base_url: str = "",
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """A client for ``peer``, with its timeout unless the caller's configuration names one."""
    return httpx.Client(
        timeout=TIMEOUTS[peer] if timeout is None else timeout,
        transport=transport,
        verify=verify,
        base_url=base_url,
        headers=headers,
        follow_redirects=False,
    )


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date, compared
    with ``now`` in epoch seconds), or None when absent or unusable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)
