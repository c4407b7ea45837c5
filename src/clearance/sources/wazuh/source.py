"""Wazuh: alerts read from the Wazuh indexer (OpenSearch) search API.

The Wazuh server API does not serve alerts (4.x); the indexer does, in the
``wazuh-alerts-4.x-YYYY.MM.DD`` indices (details and links in ``docs/sources/wazuh.md``).

* ``POST {indexer}/{index}/_search`` with HTTP Basic auth, sorted on ``timestamp`` then ``id``,
  ``agent.id`` and ``rule.id`` (the tie-breakers make the order total), paged with
  ``search_after`` = the last hit's ``sort`` values.
* The watermark is ``<RFC 3339 time>|<sort values as JSON>`` of the last hit stored: resuming
  narrows the search with a ``timestamp >=`` range and continues exactly after that hit, so each
  batch's watermark is a safe resume point and nothing is read twice.
* With ``covers: edr``, the agent inventory last, from the Wazuh *server* API (``api_url``, its
  own user): :mod:`clearance.sources.wazuh.agents`.

Mapping: :mod:`clearance.sources.wazuh.mapping`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, Unpack

from pydantic import AwareDatetime, BaseModel, Field, SecretStr, model_validator

from clearance.errors import InvalidSignalError, SourceError
from clearance.model.signal import format_time, parse_time
from clearance.sources._auth import StaticAuth
from clearance.sources._http import HttpClient
from clearance.sources._plugin import checked_config
from clearance.sources._rest import HttpSeams, RestConnection, RestSource, rest_client
from clearance.sources.interface import Batch
from clearance.sources.wazuh.agents import ServerApiToken, read_agents
from clearance.sources.wazuh.mapping import WazuhNormalizer, map_alerts, severity_of_level

__all__ = ["WazuhConfig", "WazuhNormalizer", "WazuhSource", "map_alerts", "severity_of_level"]

_TIPS = {
    401: "check username and password (an indexer user, e.g. with the readall role)",
    403: "give the indexer user read access to the wazuh-alerts-* indices",
    404: "check base_url and index (no index matches)",
}
_API_TIPS = {
    401: "check api_username and api_password (a server API user, e.g. with agents:read)",
    403: "give the server API user the agents:read permission",
    404: "check api_url (the server API, https://<manager>:55000)",
}


class WazuhConfig(RestConnection):
    """``clearance.yaml`` settings for a ``wazuh`` source (the indexer, not the server API)."""

    # Also timeout, max_retries, max_wait and verify, from RestConnection.

    base_url: str = Field(min_length=1)  # https://<indexer>:9200
    username: str = Field(min_length=1)
    password: SecretStr
    index: str = "wazuh-alerts-4.x-*"
    time_field: str = "timestamp"
    # Alerts below this rule level are not read (0–3 are mostly informational noise).
    min_level: int = Field(default=0, ge=0, le=15)
    since: AwareDatetime | None = None
    page_size: int = Field(default=1000, ge=1, le=10000)
    # What Wazuh's agents give the hosts they run on; set, each fetch also reads the agent
    # inventory from the server API, which has its own address and users (docs/coverage.md).
    covers: Literal["edr", "runtime"] | None = None
    api_url: str | None = None  # https://<manager>:55000
    api_username: str | None = None
    api_password: SecretStr | None = None

    @model_validator(mode="after")
    def _inventory_needs_the_server_api(self) -> Self:
        if self.covers is not None and not (
            self.api_url and self.api_username and self.api_password
        ):
            raise ValueError("covers needs api_url, api_username and api_password (the server API)")
        return self


def parse_watermark(source: str, watermark: str) -> tuple[str, list[Any] | None]:
    """``(time, search_after)`` from a stored watermark (a bare time resumes by time only)."""
    moment, _, after = watermark.partition("|")
    try:
        parse_time(moment)
        values = json.loads(after) if after else None
    except (InvalidSignalError, ValueError) as exc:
        raise SourceError(
            source, f"stored watermark {watermark!r} is not '<time>|<sort values>' (tip: reset it)"
        ) from exc
    if values is not None and not isinstance(values, list):
        raise SourceError(source, f"stored watermark {watermark!r} has no sort values list")
    return moment, values


class WazuhSource(RestSource[WazuhConfig]):
    """A pull source over the Wazuh indexer. ``sleep``/``random``/``clock`` and the httpx
    ``transport`` are injectable for tests."""

    Config: ClassVar[type[BaseModel]] = WazuhConfig

    def __init__(
        self,
        name: str,
        config: WazuhConfig,
        **seams: Unpack[HttpSeams],
    ) -> None:
        super().__init__(
            name,
            config,
            auth=StaticAuth.basic(config.username, config.password),
            secrets=(config.password,),
            tips=_TIPS,
            **seams,
        )
        self._api: HttpClient | None = None
        if config.api_url and config.api_username and config.api_password:
            self._api = rest_client(
                name,
                config.model_copy(update={"base_url": config.api_url}),
                auth=None,
                secrets=(config.api_password,),
                tips=_API_TIPS,
                **seams,
            )
            self._api.auth = ServerApiToken(self._api, config.api_username, config.api_password)

    def close(self) -> None:
        super().close()
        if self._api is not None:
            self._api.close()

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> WazuhSource:
        return cls(name, checked_config(name, config, WazuhConfig, "wazuh"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Yield one batch per page of hits, oldest first, each with its exact resume point."""
        cfg = self.config
        start: str | None = format_time(cfg.since) if cfg.since else None
        after: list[Any] | None = None
        if watermark is not None:
            start, after = parse_watermark(self.name, watermark)
        page = 0
        while True:
            page += 1
            body = self._http.request_json(
                "POST", f"/{cfg.index}/_search", json=self._query(start, after)
            )
            hits = body.get("hits", {}).get("hits") if isinstance(body, dict) else None
            if not isinstance(hits, list):
                raise SourceError(self.name, "_search: response has no hits.hits list")
            batch = map_alerts(hits, source=self.name, location=f"_search page {page}: hits")
            last = hits[-1] if hits else None
            if isinstance(last, dict) and isinstance(last.get("sort"), list):
                after = last["sort"]
                start = self._hit_time(last) or start
            mark = f"{start}|{json.dumps(after, separators=(',', ':'))}" if after else watermark
            yield Batch(batch.signals, batch.quarantined, mark)
            if len(hits) < cfg.page_size:
                break
        if cfg.covers is not None and self._api is not None:
            yield Batch(coverage=read_agents(self._api, self.name, cfg.covers, cfg.page_size))

    def _query(self, start: str | None, after: list[Any] | None) -> dict[str, Any]:
        cfg = self.config
        filters: list[dict[str, Any]] = []
        if start:
            filters.append({"range": {cfg.time_field: {"gte": start}}})
        if cfg.min_level:
            filters.append({"range": {"rule.level": {"gte": cfg.min_level}}})
        query: dict[str, Any] = {
            "size": cfg.page_size,
            "sort": [
                {cfg.time_field: {"order": "asc"}},
                {"id": {"order": "asc", "missing": "_last"}},
                {"agent.id": {"order": "asc", "missing": "_last"}},
                {"rule.id": {"order": "asc", "missing": "_last"}},
            ],
            "query": {"bool": {"filter": filters}} if filters else {"match_all": {}},
        }
        if after:
            query["search_after"] = after
        return query

    def _hit_time(self, hit: dict[str, Any]) -> str | None:
        """The hit's time in UTC, from its first sort value (epoch milliseconds)."""
        first = hit["sort"][0] if hit["sort"] else None
        if isinstance(first, int | float) and not isinstance(first, bool):
            return format_time(datetime.fromtimestamp(first / 1000.0, tz=UTC))
        return None
