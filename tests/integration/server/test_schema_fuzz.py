"""Schemathesis against /openapi.json: generated requests, authenticated, never a 5xx.

Bounded: a few dozen examples per operation (a few hundred in all), on SQLite, so it runs in
seconds. Bodies that the schema allows but the service refuses (unknown environment, expired
exception) must be 4xx naming the problem, never 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from server_harness import Live

EXAMPLES = 25


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_generated_requests_never_get_a_5xx(live: Callable[..., Live]) -> None:
    server = live()
    server.push(server.signal("1", 3, "medium"), server.signal("2", 5, "hot"))
    for workload in ("clean", "medium", "hot"):
        server.ask(workload)
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    headers = {"Authorization": f"Bearer {server.secrets['root']}"}
    failures: list[str] = []
    statuses: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # every operation in our schema loads
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), data=st.data())
        def check(case: Any, data: Any) -> None:
            response = case.call(base_url=server.url, headers=headers)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:200]}"
                )

        check()
    assert operations >= 10
    assert len(statuses) >= operations * 5  # the examples were really sent
    assert any(200 <= s < 300 for s in statuses)
    assert failures == []
