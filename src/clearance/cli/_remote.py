"""The CLI's side of the HTTP API: one small client, error mapping, and a text rendering.

The server is ``--server URL`` or ``$CLEARANCE_SERVER``; the credential is ``$CLEARANCE_TOKEN``
(an API token or an OIDC JWT), sent as a bearer token and never printed. 429 and 503 are retried
after their ``Retry-After`` (a few times); other refusals are mapped to the CLI's exit codes:
401/403/404/409 and body problems are usage errors (2), an unknown environment a target error
(4), an unreachable or failing service a dependency error (5).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import httpx

from clearance.errors import ClearanceError, ConfigError, TargetError

SERVER_ENV = "CLEARANCE_SERVER"
TOKEN_ENV = "CLEARANCE_TOKEN"  # noqa: S105 - the variable's name, not a secret
RETRIES = 3


class ServiceError(ClearanceError):
    """The service could not be reached or failed (exit 5)."""


def add_server_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", metavar="URL", help=f"the Clearance service (default: ${SERVER_ENV})"
    )


class Remote:
    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Remote:
        url = getattr(args, "server", None) or os.environ.get(SERVER_ENV)
        if not url:
            raise ConfigError(f"no service named: pass --server URL or set ${SERVER_ENV}")
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise ConfigError(f"no credential: set ${TOKEN_ENV} to an API token or an OIDC JWT")
        return cls(url, token)

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(RETRIES + 1):
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise ServiceError(
                    f"cannot reach the service at {self.url} ({type(exc).__name__})"
                ) from exc
            if response.status_code in (429, 503) and attempt < RETRIES:
                time.sleep(_retry_after(response))
                continue
            return _result(response, self.url)
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("retry-after", "1")), 30.0)
    except ValueError:
        return 1.0


def _result(response: httpx.Response, url: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:200]}
    if response.is_success:
        return body
    detail = body.get("detail", "") if isinstance(body, dict) else str(body)
    status = response.status_code
    message = f"the service answered {status}: {detail}"
    if status == 422 and isinstance(body, dict) and body.get("title") == "invalid target":
        raise TargetError(message)
    if status in (400, 401, 403, 404, 409, 422):
        raise ConfigError(message)
    raise ServiceError(message)


def render(answer: dict[str, Any]) -> str:
    """A decision as the service answered it, for a terminal or a CI log."""
    decision = answer["decision"]
    target = decision["target"]
    lines = [
        f"{decision['verdict'].upper()}  {target['environment']} "
        f"{target['cluster']}/{target['namespace']}/{target['workload']}  "
        f"risk {decision['score']:g}  (decision {answer['id']})",
    ]
    for reason in decision["reasons"]:
        waived = f" [waived by {reason['waived_by']}]" if reason.get("waived_by") else ""
        lines.append(f"  - [{reason['verdict']}] {reason['message']}{waived}")
    approval = answer["approval"]
    status = answer["status"]
    if status == "pending_approval":
        got = len(approval["approvers"])
        group = f" from group {approval['group']}" if approval.get("group") else ""
        lines.append(
            f"Approval needed: {got} of {approval['required']}{group}. "
            f"Approve with: clearance approve {answer['id']} --reason '…'"
        )
    elif status == "approved":
        lines.append(f"Approved by {', '.join(approval['approvers'])}.")
    elif status == "rejected":
        lines.append(f"Rejected by {', '.join(approval['rejected_by'])}.")
    elif status == "break_glass":
        grant = approval["break_glass"]
        lines.append(
            f"Break-glass {grant['id']} by {grant['requested_by']} (ticket {grant['ticket']}) "
            f"until {grant['expires_at']}: proceeding."
        )
    for voided in approval.get("voided", []):
        lines.append(f"  ! {voided['reason']}")
    return "\n".join(lines) + "\n"


def progress(line: str, *, tty: bool) -> None:
    if tty:
        sys.stderr.write("\r\033[K" + line)
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()
