"""The source contract (tests/contract/source_contract.py) run against the REST adapters:
Defender for Endpoint, SentinelOne, Wazuh and Alertmanager, each on its loopback stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from clearance.sources.alertmanager.source import AlertmanagerConfig, AlertmanagerSource
from clearance.sources.defender.source import DefenderConfig, DefenderSource
from clearance.sources.prometheus.source import PrometheusConfig, PrometheusSource
from clearance.sources.sentinelone.source import SentinelOneConfig, SentinelOneSource
from clearance.sources.wazuh.source import WazuhConfig, WazuhSource
from closing import closed_after_test
from contract.source_contract import ContractStandIn, SourceContract
from standins import alertmanager, defender, prometheus, sentinelone, wazuh

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


class DefenderIncidentsContractStandIn(DefenderContractStandIn):
    """The same source with ``incidents: true``: Defender XDR incidents, with their own token."""

    def source(self, *, sleep: Callable[[float], None]) -> DefenderSource:
        config = DefenderConfig(
            tenant_id=defender.TENANT,
            client_id=defender.CLIENT_ID,
            client_secret=SecretStr(self.secret),
            base_url=self.url,
            token_url=f"{self.url}/{defender.TENANT}/oauth2/v2.0/token",
            page_size=PAGE,
            machines=False,
            incidents=True,
        )
        return closed_after_test(DefenderSource("xdr", config, sleep=sleep, random=_no_jitter))

    def seed(self, count: int) -> None:
        self.state.add_incidents(count)

    def add_malformed(self) -> None:
        bad: dict[str, Any] = self.state.add_incidents(1)[0]
        bad["createdTime"] = {"at": "yesterday"}  # an object where the API sends a time


class TestDefenderIncidentsContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        state = defender.DefenderState()
        with defender.serve(state) as url:
            yield DefenderIncidentsContractStandIn(state, url)


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


class AlertmanagerContractStandIn:
    secret = alertmanager.PASSWORD
    page_size = PAGE  # the API has no pages: the source stores its answer in batches this big
    auth_status = 401

    def __init__(self, state: alertmanager.AlertmanagerState, url: str) -> None:
        self.state, self.url = state, url

    def source(self, *, sleep: Callable[[float], None]) -> AlertmanagerSource:
        config = AlertmanagerConfig(
            base_url=self.url,
            cluster="prod-eu",
            username=alertmanager.USERNAME,
            password=SecretStr(self.secret),
            batch_size=PAGE,
        )
        return closed_after_test(
            AlertmanagerSource("alertmanager-eu", config, sleep=sleep, random=_no_jitter)
        )

    def seed(self, count: int) -> None:
        self.state.add_alerts(count)

    def add_malformed(self) -> None:
        bad = self.state.add_alerts(1)[0]
        bad["startsAt"] = "yesterday"  # not an RFC 3339 time

    def fail_auth(self) -> None:
        self.state.password = "rotated-password"

    def rate_limit(self, times: int) -> None:
        for _ in range(times):  # a proxy's limit_req: no Retry-After
            self.state.scripted.queue(429, alertmanager.TOO_MANY, {"Content-Type": "text/html"})


class TestAlertmanagerContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        state = alertmanager.AlertmanagerState()
        with alertmanager.serve(state) as url:
            yield AlertmanagerContractStandIn(state, url)


class PrometheusContractStandIn:
    """Items are SLOs: each seeded one is a burning SLO the next source built will query."""

    secret = prometheus.PASSWORD
    page_size = PAGE  # SLOs per batch
    auth_status = 401

    def __init__(self, state: prometheus.PrometheusState, url: str) -> None:
        self.state, self.url = state, url

    def source(self, *, sleep: Callable[[float], None]) -> PrometheusSource:
        slos = [
            {
                "name": f"slo-{i}",
                "query": query,
                "assets": [f"workload:prod-eu/shop/deployment/app-{i}"],
            }
            for i, query in enumerate(self.state.vectors)
        ] or [{"name": "idle", "query": "vector(0)", "assets": ["namespace:prod-eu/shop"]}]
        if not self.state.vectors:
            self.state.burn("vector(0)", "0")  # an SLO that does not burn: no finding
        config = PrometheusConfig.model_validate(
            {
                "base_url": self.url,
                "slos": slos,
                "username": prometheus.USERNAME,
                "password": self.secret,
                "batch_size": PAGE,
            }
        )
        return closed_after_test(
            PrometheusSource("prometheus-eu", config, sleep=sleep, random=_no_jitter)
        )

    def seed(self, count: int) -> None:
        start = len(self.state.vectors)
        for n in range(start, start + count):
            self.state.burn(f'slo:burn_rate:ratio_rate1h{{sloth_id="app-{n}"}}', "16.2")

    def add_malformed(self) -> None:
        n = len(self.state.vectors)
        self.state.burn(f'slo:burn_rate:ratio_rate1h{{sloth_id="app-{n}"}}', "high")

    def fail_auth(self) -> None:
        self.state.password = "rotated-password"

    def rate_limit(self, times: int) -> float:
        for _ in range(times):
            self.state.scripted.queue(
                503, b"Service Unavailable", {"Retry-After": "7", "Content-Type": "text/plain"}
            )
        return 7.0


class TestPrometheusContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        state = prometheus.PrometheusState()
        with prometheus.serve(state) as url:
            yield PrometheusContractStandIn(state, url)
