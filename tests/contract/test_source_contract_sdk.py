"""The source contract (``source_contract.py``) for the SDK-backed sources: CrowdStrike Falcon
through FalconPy, AWS GuardDuty through boto3, each against its loopback stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clearance.sources.falcon.source import FalconConfig, FalconSource
from clearance.sources.guardduty.source import GuardDutyConfig, GuardDutySource
from clearance.sources.interface import Source
from closing import closed_after_test
from contract.source_contract import ContractStandIn, SourceContract
from standins.falcon import CLIENT_ID, CLIENT_SECRET, FalconStandIn, fixture
from standins.guardduty import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    GuardDutyStandIn,
    fixture_findings,
    numbered,
)

START = datetime(2025, 6, 1, tzinfo=UTC)
# A fixed "now" for the Falcon source's clock: X-Ratelimit-Retryafter is an epoch time.
NOW = 1_750_000_000.0


def _stamp(n: int) -> str:
    return (START + timedelta(seconds=n)).isoformat().replace("+00:00", ".123456789Z")


class FalconContractStandIn:
    secret = CLIENT_SECRET
    page_size = 5
    auth_status = 403  # the token endpoint refuses a client with 403 (see standins/falcon.py)

    def __init__(self, server: FalconStandIn, base_url: str) -> None:
        self.server = server
        self.base_url = base_url
        self.count = 0
        self.template: dict[str, Any] = fixture("alerts-combined-v1.epp.page1.json")["resources"][0]

    def source(self, *, sleep: Callable[[float], None]) -> Source:
        config = FalconConfig(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,  # type: ignore[arg-type]
            base_url=self.base_url,
            page_size=self.page_size,
        )
        return closed_after_test(
            FalconSource("falcon-contract", config, clock=lambda: NOW, sleep=sleep)
        )

    def _next(self) -> dict[str, Any]:
        self.count += 1
        alert: dict[str, Any] = json.loads(json.dumps(self.template))
        alert["composite_id"] = f"{alert['cid']}:ind:{alert['agent_id']}:contract-{self.count}"
        alert["updated_timestamp"] = _stamp(self.count)
        return alert

    def seed(self, count: int) -> None:
        self.server.add_alerts(self._next() for _ in range(count))

    def add_malformed(self) -> None:
        alert = self._next()
        alert["device"] = 7  # sorted and filtered like any alert, but no device object
        self.server.add_alerts([alert])

    def fail_auth(self) -> None:
        self.server.client_secret = "rotated-" + CLIENT_SECRET

    def rate_limit(self, times: int) -> float | None:
        self.server.queue_429(retry_at=NOW + 7, times=times)
        return 7.0


class GuardDutyContractStandIn:
    secret = SECRET_KEY
    page_size = 5
    auth_status = 403  # InvalidSignatureException

    def __init__(self, server: GuardDutyStandIn, endpoint: str) -> None:
        self.server = server
        self.endpoint = endpoint
        self.count = 0
        self.templates = fixture_findings()

    def source(self, *, sleep: Callable[[float], None]) -> Source:
        config = GuardDutyConfig(
            region=REGION,
            endpoint_url=self.endpoint,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,  # type: ignore[arg-type]
            page_size=self.page_size,
        )
        return closed_after_test(GuardDutySource("guardduty-contract", config, sleep=sleep))

    def _next(self) -> dict[str, Any]:
        self.count += 1
        stamp = (START + timedelta(seconds=self.count)).isoformat().replace("+00:00", ".000Z")
        return numbered(self.templates[self.count % 2], self.count, stamp)

    def seed(self, count: int) -> None:
        self.server.findings += [self._next() for _ in range(count)]

    def add_malformed(self) -> None:
        finding = self._next()
        del finding["createdAt"]  # listed and sorted by updatedAt as usual; unusable to map
        self.server.findings.append(finding)

    def fail_auth(self) -> None:
        self.server.secret_key = "rotated/" + SECRET_KEY

    def rate_limit(self, times: int) -> float | None:
        self.server.throttle(times)
        return None  # ThrottlingException names no wait; botocore backs off on its own


class TestFalconContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        server = FalconStandIn()
        base_url = server.start()
        yield FalconContractStandIn(server, base_url)
        server.stop()


class TestGuardDutyContract(SourceContract):
    @pytest.fixture
    def stand_in(self) -> Iterator[ContractStandIn]:
        server = GuardDutyStandIn()
        endpoint = server.start()
        yield GuardDutyContractStandIn(server, endpoint)
        server.stop()
