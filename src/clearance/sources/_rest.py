"""How a REST source (Defender, SentinelOne, Wazuh) builds its :class:`HttpClient` from its
config: the same connection settings, retry policy and test seams for each, only the credential,
the secrets to mask and the status tips differ."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from clearance.sources._http import Auth, HttpClient, RetryPolicy

__all__ = ["RestConnection", "rest_client"]


class RestConnection(BaseModel):
    """The ``clearance.yaml`` settings every REST source's config shares: where the API is and
    how patiently to talk to it. A source's own config adds its credentials and query options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    max_wait: float = Field(default=300.0, ge=0)
    verify: bool = True


def rest_client(
    source: str,
    config: RestConnection,
    *,
    auth: Auth | None,
    secrets: Iterable[SecretStr],
    tips: Mapping[int, str],
    sleep: Callable[[float], None],
    random: Callable[[], float],
    clock: Callable[[], float],
    transport: httpx.BaseTransport | None,
) -> HttpClient:
    """The client a REST source talks through, built from its config's connection settings;
    ``sleep``/``random``/``clock``/``transport`` are the source's injected test seams."""
    retry = RetryPolicy(
        max_retries=config.max_retries,
        max_wait=config.max_wait,
        sleep=sleep,
        random=random,
        clock=clock,
    )
    return HttpClient(
        source,
        config.base_url,
        auth=auth,
        timeout=config.timeout,
        verify=config.verify,
        retry=retry,
        secrets=secrets,
        transport=transport,
        tips=tips,
    )
