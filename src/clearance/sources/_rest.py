"""How a REST source (Defender, SentinelOne, Wazuh) builds its :class:`HttpClient` from its
config: the same connection settings, retry policy and test seams for each, only the credential,
the secrets to mask and the status tips differ."""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypedDict, TypeVar, Unpack

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from clearance.sources._http import Auth, HttpClient, RetryPolicy

__all__ = ["HttpSeams", "RestConnection", "RestSource", "rest_client"]


class RestConnection(BaseModel):
    """The ``clearance.yaml`` settings every REST source's config shares: where the API is and
    how patiently to talk to it. A source's own config adds its credentials and query options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    max_wait: float = Field(default=300.0, ge=0)
    verify: bool = True


class HttpSeams(TypedDict, total=False):
    """What a REST source lets tests inject (each defaults to the real thing): the sleep between
    retries, the jitter's random source, the clock read for Retry-After dates and token expiry,
    and the httpx transport."""

    sleep: Callable[[float], None]
    random: Callable[[], float]
    clock: Callable[[], float]
    transport: httpx.BaseTransport | None


def rest_client(
    source: str,
    config: RestConnection,
    *,
    auth: Auth | None,
    secrets: Iterable[SecretStr],
    tips: Mapping[int, str],
    **seams: Unpack[HttpSeams],
) -> HttpClient:
    """The client a REST source talks through, built from its config's connection settings."""
    retry = RetryPolicy(
        max_retries=config.max_retries,
        max_wait=config.max_wait,
        sleep=seams.get("sleep", time.sleep),
        random=seams.get("random", _random.random),
        clock=seams.get("clock", time.time),
    )
    return HttpClient(
        source,
        config.base_url,
        auth=auth,
        timeout=config.timeout,
        verify=config.verify,
        retry=retry,
        secrets=secrets,
        transport=seams.get("transport"),
        tips=tips,
    )


C = TypeVar("C", bound=RestConnection)


class RestSource(Generic[C]):
    """What every REST source is besides its queries: its name, its config and the client built
    from that config; ``close()`` closes the client."""

    def __init__(
        self,
        name: str,
        config: C,
        *,
        auth: Auth | None,
        secrets: Iterable[SecretStr],
        tips: Mapping[int, str],
        **seams: Unpack[HttpSeams],
    ) -> None:
        self.name = name
        self.config = config
        self._http = rest_client(name, config, auth=auth, secrets=secrets, tips=tips, **seams)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.config.base_url!r})"

    def close(self) -> None:
        self._http.close()
