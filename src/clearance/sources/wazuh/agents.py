"""Wazuh's agent inventory, read from the Wazuh server API (not the indexer, which holds alerts).

* ``POST {api_url}/security/user/authenticate`` with HTTP Basic → ``{"data": {"token": <JWT>}}``;
  the JWT then goes as ``Authorization: Bearer``. It lives 900 s by default, so a 401 logs in
  again once (:class:`ServerApiToken`).
* ``GET {api_url}/agents?offset=&limit=&sort=+id`` → ``{"data": {"affected_items": [...],
  "total_affected_items": N}}``, paged by offset until every agent was read.

An agent covers its host while its ``status`` is ``active``; ``disconnected``, ``pending`` and
``never_connected`` agents are listed but cover nothing. ``lastKeepAlive`` is its check-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from clearance.errors import SourceError
from clearance.model.coverage import Managed
from clearance.sources._auth import StaticAuth
from clearance.sources._hosts import managed_host
from clearance.sources.wazuh.mapping import agent_refs

if TYPE_CHECKING:
    from clearance.sources._http import HttpClient

__all__ = ["AUTHENTICATE_PATH", "ServerApiToken", "managed_agent", "read_agents"]

AUTHENTICATE_PATH = "/security/user/authenticate"


class ServerApiToken:
    """The server API's JWT: logged in for on first use, and again after a 401 (it expired)."""

    def __init__(self, client: HttpClient, username: str, password: SecretStr) -> None:
        self._client = client
        self._login = StaticAuth.basic(username, password)
        self._token: SecretStr | None = None
        self.logins = 0

    def __repr__(self) -> str:
        return "ServerApiToken(**********)"

    def headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = self._authenticate()
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def invalidate(self) -> bool:
        self._token = None
        return True

    def _authenticate(self) -> SecretStr:
        self.logins += 1
        body = self._client.request_json(
            "POST", AUTHENTICATE_PATH, headers=self._login.headers(), authenticate=False
        )
        data = body.get("data") if isinstance(body, dict) else None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise SourceError(self._client.source, f"{AUTHENTICATE_PATH} answered without a token")
        return SecretStr(token)


class _Agent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    id: str = Field(min_length=1)
    name: str | None = None
    ip: str | None = None
    status: str | None = None
    last_keep_alive: str | None = Field(default=None, alias="lastKeepAlive")


def managed_agent(record: Any, source: str, kind: str) -> Managed | None:
    """An agent record as an inventory entry; None if it names no machine. ``ip`` is the
    address the agent connects from (``any`` before it ever did, which names nothing)."""
    try:
        agent = _Agent.model_validate(record)
    except ValidationError:
        return None
    working = (agent.status or "").lower() == "active"
    found = agent_refs(agent.name, agent.ip)
    return managed_host(source, kind, agent.id, found, agent.last_keep_alive, working)


def read_agents(client: HttpClient, source: str, kind: str, page_size: int) -> tuple[Managed, ...]:
    """Every agent the server API lists, sorted by id so offsets stay put between pages."""
    agents: list[Managed] = []
    offset = 0
    while True:
        params: dict[str, str | int] = {"offset": offset, "limit": page_size, "sort": "+id"}
        body = client.request_json("GET", "/agents", params=params)
        data = body.get("data") if isinstance(body, dict) else None
        items = data.get("affected_items") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(items, list):
            raise SourceError(source, "/agents: response has no data.affected_items list")
        agents += [a for i in items if (a := managed_agent(i, source, kind)) is not None]
        offset += len(items)
        total = data.get("total_affected_items")
        if not items or not isinstance(total, int) or offset >= total:
            return tuple(agents)
