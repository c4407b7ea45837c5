"""How a REST source (Defender, SentinelOne, Wazuh) builds its :class:`HttpClient` from its
config: the same connection settings, retry policy and test seams for each, only the credential,
the secrets to mask and the status tips differ."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import httpx
from pydantic import SecretStr

from clearance.sources._http import Auth, HttpClient, RetryPolicy

__all__ = ["RestSettings", "rest_client"]


class RestSettings(Protocol):
    """The connection settings every REST source's config carries."""

    @property
    def base_url(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def verify(self) -> bool: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def max_wait(self) -> float: ...


def rest_client(
    source: str,
    config: RestSettings,
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
