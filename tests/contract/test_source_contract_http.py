"""The source contract (tests/contract/source_contract.py) run against the REST adapters:
Defender for Endpoint, SentinelOne and Wazuh, each on its loopback stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from clearance.sources.defender.source import DefenderConfig, DefenderSource
from clearance.sources.sentinelone.source import SentinelOneConfig, SentinelOneSource
from clearance.sources.wazuh.source import WazuhConfig, WazuhSource
from closing import closed_after_test
from contract.source_contract import ContractStandIn, SourceContract
from standins import defender, sentinelone, wazuh

PAGE = 3


def _no_jitter() -> float:
    return 0.5


class DefenderContractStandIn:
    secret = defender.CLIENT_SECRET
    page_size = PAGE
    auth_status = 401

    def __init__(self, state: defender.DefenderState, url: str) -> None:
        self.state, self.url = state, url

    def source(self, *, sleep: Callable[[float], None]) -> DefenderSource:
        config = DefenderConfig(
            tenant_id=defender.TENANT,
            client_id=defender.CLIENT_ID,
            client_secret=SecretStr(self.secret),
            base_url=self.url,
            token_url=f"{self.url}/{defender.TENANT}/oauth2/v2.0/token",
            page_size=PAGE,
        )
        return closed_after_test(DefenderSource("mde", config, sleep=sleep, random=_no_jitter))

    def seed(self, count: int) -> None:
        self.state.add_alerts(count)

    def add_malformed(self) -> None:
        bad: dict[str, Any] = self.state.add_alerts(1)[0]
        bad["severity"] = {"level": "High"}  # an object where the API sends a string

    def fail_auth(self) -> None:
        self.state.client_secret = "rotated-" + self.secret[::-1]

    def rate_limit(self, times: int) -> float:
        body = b'{"error":{"code":"TooManyRequests","message":"Rate limit is exceeded."}}'
        for _ in range(times):
            self.state.scripted.queue(429, body, {"Retry-After": "17"})
        return 17.0


class TestDefenderContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        state = defender.DefenderState()
        with defender.serve(state) as url:
            yield DefenderContractStandIn(state, url)


class SentinelOneContractStandIn:
    secret = sentinelone.API_TOKEN
    page_size = PAGE
    auth_status = 401

    def __init__(self, state: sentinelone.SentinelOneState, url: str) -> None:
        self.state, self.url = state, url

    def source(self, *, sleep: Callable[[float], None]) -> SentinelOneSource:
        config = SentinelOneConfig(
            base_url=self.url, api_token=SecretStr(self.secret), page_size=PAGE
        )
        return closed_after_test(SentinelOneSource("s1", config, sleep=sleep, random=_no_jitter))

    def seed(self, count: int) -> None:
        self.state.add_threats(count)

    def add_malformed(self) -> None:
        bad = self.state.add_threats(1)[0]
        bad["threatInfo"]["identifiedAt"] = "yesterday"  # not a time
        bad["threatInfo"]["createdAt"] = None

    def fail_auth(self) -> None:
        self.state.api_token = "rotated-token"

    def rate_limit(self, times: int) -> None:
        body = b'{"errors":[{"code":4290010,"detail":null,"title":"Too Many Requests"}]}'
        for _ in range(times):
            self.state.scripted.queue(429, body)


class TestSentinelOneContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        state = sentinelone.SentinelOneState()
        with sentinelone.serve(state) as url:
            yield SentinelOneContractStandIn(state, url)


class WazuhContractStandIn:
    secret = wazuh.PASSWORD
    page_size = PAGE
    auth_status = 401

    def __init__(self, state: wazuh.WazuhState, url: str) -> None:
        self.state, self.url = state, url

    def source(self, *, sleep: Callable[[float], None]) -> WazuhSource:
        config = WazuhConfig(
            base_url=self.url,
            username=wazuh.USERNAME,
            password=SecretStr(self.secret),
            page_size=PAGE,
        )
        return closed_after_test(WazuhSource("wazuh-prod", config, sleep=sleep, random=_no_jitter))

    def seed(self, count: int) -> None:
        self.state.add_alerts(count)

    def add_malformed(self) -> None:
        bad = self.state.add_alerts(1)[0]
        bad["rule"]["level"] = "high"  # a word where the rule level is a number

    def fail_auth(self) -> None:
        self.state.password = "rotated-password"

    def rate_limit(self, times: int) -> None:
        body = json.dumps(wazuh.REJECTED_429).encode()
        for _ in range(times):
            self.state.scripted.queue(429, body)


class TestWazuhContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        state = wazuh.WazuhState()
        with wazuh.serve(state) as url:
            yield WazuhContractStandIn(state, url)
