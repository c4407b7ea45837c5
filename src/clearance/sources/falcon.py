"""CrowdStrike Falcon: alerts and host identities pulled through FalconPy, the vendor's SDK.

What a fetch does (details and links in ``docs/sources/crowdstrike.md``):

1. OAuth2 client credentials; FalconPy renews the token before it expires, and a token the API
   rejects anyway (401) is renewed once and the call retried.
2. ``POST /alerts/combined/alerts/v1`` with ``updated_timestamp:>='<watermark>'`` sorted by
   ``updated_timestamp|asc``, following the ``after`` cursor to the end. One batch per page,
   oldest first; each batch's watermark is the newest ``updated_timestamp`` seen so far, so the
   caller can store a page and only then advance. The filter is inclusive, so the newest alert is
   read again next time: re-fetching is idempotent, skipping is not.
3. ``POST /devices/entities/devices/v2`` for the page's hosts: their records become
   ``Batch.identities`` and add Kubernetes pod/cluster references to the page's signals.

FalconPy answers with ``{"status_code", "headers", "body"}`` instead of raising. 429 is waited out
until ``X-Ratelimit-Retryafter``, an epoch time (not a delay); other errors become a
:class:`SourceError` naming the source, the call and the HTTP status, never the secret.
FalconPy is imported inside :meth:`FalconSource.fetch`, so ``clearance check`` never loads it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from clearance.errors import SourceError
from clearance.model.signal import format_time
from clearance.sources._pages import checked_watermark
from clearance.sources._plugin import checked_config
from clearance.sources.falcon_map import HostIdentity, alert_watermark, host_identity, map_alerts
from clearance.sources.interface import Batch

__all__ = ["FalconConfig", "FalconSource"]

log = logging.getLogger(__name__)

_SORT = "updated_timestamp|asc"
# What to tell the user for each failing status (scopes per the API client page in Falcon).
_HINTS = {
    401: "check client_id and client_secret",
    403: "check the API client's scopes (Alerts: Read, Hosts: Read) and member_cid",
    404: "check base_url (the cloud region of this CID)",
}


class FalconConfig(BaseModel):
    """``clearance.yaml`` settings for a ``falcon`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    # Region name (us-1, us-2, eu-1, us-gov-1, us-gov-2, auto) or a full URL.
    base_url: str = "us-1"
    member_cid: str | None = None
    # Extra FQL, ANDed with the watermark term (e.g. "product:'epp'").
    filter: str | None = None
    # Where the first fetch starts; without it the first fetch reads every alert.
    since: AwareDatetime | None = None
    page_size: int = Field(default=1000, ge=1, le=1000)
    hosts: bool = True
    # Falcon reports a Kubernetes cluster by id (k8s_cluster_id); name them here to correlate.
    clusters: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=30.0, gt=0)
    max_rate_limit_wait: float = Field(default=300.0, ge=0)
    max_retries: int = Field(default=5, ge=0)
    ssl_verify: bool = True


class FalconSource:
    """A pull source over one Falcon API client. ``clock``/``sleep`` are injectable for tests."""

    Config: ClassVar[type[BaseModel]] = FalconConfig

    def __init__(
        self,
        name: str,
        config: FalconConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._services: tuple[Any, Any, Any] | None = None
        # The last X-RateLimit-Limit / X-RateLimit-Remaining seen, for health reporting.
        self.rate_limit: tuple[int | None, int | None] = (None, None)

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> FalconSource:
        return cls(name, checked_config(name, config, FalconConfig, "falcon"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Yield one batch per alerts page from ``watermark`` on, oldest update first."""
        checked_watermark(self.name, watermark)
        alerts, hosts, _ = self._connect()
        fql = self._filter(watermark)
        known: dict[str, HostIdentity | None] = {}
        after: str | None = None
        page = 0
        while True:
            page += 1
            request = partial(
                alerts.get_alerts_combined,
                filter=fql,
                sort=_SORT,
                limit=self.config.page_size,
                after=after,
            )
            body = self._call("alerts", request)
            items = body.get("resources") or []
            if not isinstance(items, list):
                raise SourceError(self.name, "alerts: response 'resources' is not a list")
            fresh = self._lookup_hosts(hosts, items, known) if self.config.hosts else {}
            found = {k: v for k, v in known.items() if v is not None}
            signals, quarantined = map_alerts(
                items,
                source=self.name,
                location=f"alerts page {page}: resources",
                hosts=found,
                clusters=self.config.clusters,
            )
            watermark = alert_watermark(items, watermark)
            yield Batch(
                signals=tuple(signals),
                quarantined=tuple(quarantined),
                watermark=watermark,
                identities=tuple(h.identity() for h in fresh.values()),
            )
            pagination = (body.get("meta") or {}).get("pagination") or {}
            after = pagination.get("after") if isinstance(pagination, dict) else None
            if not items or not after:
                return

    def _filter(self, watermark: str | None) -> str:
        terms = []
        start = watermark or (format_time(self.config.since) if self.config.since else None)
        if start:
            terms.append(f"updated_timestamp:>='{start}'")
        if self.config.filter:
            terms.append(
                f"({self.config.filter})" if "," in self.config.filter else self.config.filter
            )
        return "+".join(terms)

    def _lookup_hosts(
        self, hosts: Any, items: list[Any], known: dict[str, HostIdentity | None]
    ) -> dict[str, HostIdentity]:
        """Host records for agents not looked up yet in this fetch (≤ 5000 ids per call)."""
        wanted = sorted(
            {
                i["agent_id"]
                for i in items
                if isinstance(i, dict) and isinstance(i.get("agent_id"), str)
            }
            - known.keys()
        )
        fresh: dict[str, HostIdentity] = {}
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            body = self._call("hosts", partial(hosts.get_device_details, ids=chunk))
            for record in body.get("resources") or []:
                found = host_identity(record, self.config.clusters)
                if found is not None:
                    fresh[found.device_id] = found
            known.update({aid: fresh.get(aid) for aid in chunk})
        return fresh

    def _connect(self) -> tuple[Any, Any, Any]:
        if self._services is None:
            try:
                import requests  # noqa: PLC0415 - installed with falconpy
                from falconpy import Alerts, Hosts, OAuth2  # noqa: PLC0415 - optional extra
            except ImportError as exc:
                raise SourceError(
                    self.name, "FalconPy is not installed; install clearance[crowdstrike]"
                ) from exc
            cfg = self.config
            pinned = cfg.base_url.rstrip("/") if "://" in cfg.base_url else None

            class PinnedOAuth2(OAuth2):
                """FalconPy's region autodiscovery, run on every login including its own
                renewals, swaps a custom URL (an egress proxy, a stand-in) for the cloud named
                in the token response's X-Cs-Region header (falconpy ``autodiscover_region``).
                An explicit URL is meant literally, so it is put back after each login."""

                def login(self) -> Any:
                    result = super().login()
                    if pinned:
                        self.base_url = pinned
                    return result

            auth = PinnedOAuth2(
                client_id=cfg.client_id,
                client_secret=cfg.client_secret.get_secret_value(),
                base_url=cfg.base_url,
                member_cid=cfg.member_cid,
                ssl_verify=cfg.ssl_verify,
                timeout=cfg.timeout,
                user_agent="clearance",
                session=requests.Session(),
            )
            self._login(auth)
            # Built after a successful login, so they do not log in again on their own.
            self._services = (Alerts(auth_object=auth), Hosts(auth_object=auth), auth)
        return self._services

    def _login(self, auth: Any) -> None:
        """Request a token now; a refusal (FalconPy returns it, never raises) is a SourceError."""
        result = auth.login()
        status = result.get("status_code") if isinstance(result, dict) else None
        if status != 201:
            self._services = None
            raise self._error("authentication", status, result, hint=401)

    def _call(self, what: str, request: Callable[[], Any]) -> dict[str, Any]:
        """Run one FalconPy request: wait out 429s, renew a rejected token once, map errors."""
        renewed = False
        for attempt in range(self.config.max_retries + 1):
            result = request()
            if not isinstance(result, dict) or not isinstance(result.get("body"), dict):
                raise SourceError(self.name, f"{what}: the API answered with something not JSON")
            status = int(result.get("status_code") or 0)
            headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
            self._note_rate_limit(headers)
            if 200 <= status < 300:
                body: dict[str, Any] = result["body"]
                return body
            if status == 429 and attempt < self.config.max_retries:
                self._sleep(self._retry_delay(what, headers, attempt))
                continue
            if status == 401 and not renewed and self._services is not None:
                # Revoked or expired before FalconPy's renew window: one fresh token, one retry.
                renewed = True
                self._login(self._services[2])
                continue
            raise self._error(what, status, result)
        raise SourceError(
            self.name, f"{what}: still rate limited after {self.config.max_retries} retries"
        )

    def _retry_delay(self, what: str, headers: Mapping[str, str], attempt: int) -> float:
        """Seconds until ``X-Ratelimit-Retryafter`` (epoch seconds), else exponential backoff."""
        retry_at = headers.get("x-ratelimit-retryafter")
        try:
            delay = float(retry_at) - self._clock() if retry_at else float(2**attempt)
        except ValueError:
            delay = float(2**attempt)
        delay = max(delay, 0.0)
        if delay > self.config.max_rate_limit_wait:
            raise SourceError(
                self.name,
                f"{what}: HTTP 429 rate limited for {delay:.0f}s more, beyond max_rate_limit_wait "
                f"({self.config.max_rate_limit_wait:.0f}s); the next sync will resume",
            )
        log.info("source %s: %s rate limited, waiting %.1fs", self.name, what, delay)
        return delay

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        def number(name: str) -> int | None:
            value = headers.get(name, "")
            return int(value) if value.isdigit() else None

        self.rate_limit = (number("x-ratelimit-limit"), number("x-ratelimit-remaining"))

    def _error(self, what: str, status: int | None, result: Any, hint: int = 0) -> SourceError:
        message = ""
        body = result.get("body") if isinstance(result, dict) else None
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = str(errors[0].get("message", ""))[:300]
        secret = self.config.client_secret.get_secret_value()
        if secret:
            message = message.replace(secret, "***")
        text = f"{what}: HTTP {status}" + (f" {message}" if message else "")
        tip = _HINTS.get(hint or status or 0)
        if tip:
            text += f" (tip: {tip})"
        return SourceError(self.name, text)
