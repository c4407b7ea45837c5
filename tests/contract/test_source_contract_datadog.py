"""The source contract (tests/contract/source_contract.py) run against the Datadog monitors
source, through the official datadog-api-client, on its loopback stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from clearance.sources.datadog.source import DatadogConfig, DatadogSource
from contract.source_contract import ContractStandIn, SourceContract
from standins import datadog

PAGE = 3
RESET = 3.0


class DatadogContractStandIn:
    secret = datadog.APP_KEY
    page_size = PAGE
    auth_status = 403  # Datadog refuses a bad key with 403 {"errors": ["Forbidden"]}

    def __init__(self, state: datadog.DatadogState, url: str) -> None:
        self.state, self.url = state, url

    def source(self, *, sleep: Callable[[float], None]) -> DatadogSource:
        config = DatadogConfig.model_validate(
            {
                "base_url": self.url,
                "api_key": datadog.API_KEY,
                "app_key": self.secret,
                "page_size": PAGE,
            }
        )
        return DatadogSource(
            "datadog-prod", config, sleep=sleep, clock=lambda: 1796212800.0, random=lambda: 0.5
        )

    def seed(self, count: int) -> None:
        self.state.add_monitors(count)

    def add_malformed(self) -> None:
        bad = self.state.add_monitors(1)[0]
        bad["id"] = "not-a-number"  # Monitor.id is an integer

    def fail_auth(self) -> None:
        self.state.app_key = "revoked-application-key"

    def rate_limit(self, times: int) -> float:
        body = json.dumps({"errors": ["Too many requests"]}).encode()
        headers = {**datadog.RATE_HEADERS, "x-ratelimit-remaining": "0"}
        headers["x-ratelimit-reset"] = str(int(RESET))
        for _ in range(times):
            self.state.scripted.queue(429, body, headers)
        return RESET


class TestDatadogContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        state = datadog.DatadogState()
        with datadog.serve(state) as url:
            yield DatadogContractStandIn(state, url)
