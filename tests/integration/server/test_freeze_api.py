"""Freeze windows through the API: a real service on loopback whose clock the test moves across
the 2026 daylight-saving changes in Berlin (tests/fixtures/freeze/policy.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server_harness import Live, start_live

# The fixture's one-off freeze names checkout; this service's fleet calls it medium.
POLICY = (
    (Path(__file__).parents[2] / "fixtures/freeze/policy.yaml")
    .read_text()
    .replace("prod-eu/shop/deployment/checkout", "prod-eu/shop/deployment/medium")
)


@pytest.fixture
def service(store_url: str, tmp_path: Path) -> Iterator[Live]:
    live, stop = start_live(store_url, tmp_path, policy=POLICY)
    yield live
    stop()


def ask_at(live: Live, moment: str, workload: str) -> tuple[str, str, list[str]]:
    live.clock.now = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    live.ctx.store.record_source_success("edr", live.clock.now)  # the source is fresh then
    answer = live.ask(workload)
    codes = [r["code"] for r in answer["decision"]["reasons"] if r["code"].startswith("freeze:")]
    return answer["decision"]["verdict"], answer["status"], codes


def test_the_weekly_window_requires_approval_inside_and_not_outside_across_spring(
    service: Live,
) -> None:
    assert ask_at(service, "2026-03-29T00:30", "clean") == (
        "approve", "pending_approval", ["freeze:sunday-maintenance"]
    )  # fmt: skip
    assert ask_at(service, "2026-03-29T01:15", "clean")[2] == ["freeze:sunday-maintenance"]
    assert ask_at(service, "2026-03-29T01:45", "clean") == ("proceed", "proceed", [])


def test_the_one_off_freeze_blocks_its_target_until_its_local_end_across_autumn(
    service: Live,
) -> None:
    assert ask_at(service, "2026-10-24T15:59", "medium") == ("proceed", "proceed", [])
    assert ask_at(service, "2026-10-24T16:00", "medium") == (
        "block", "block", ["freeze:autumn-release-freeze"]
    )  # fmt: skip
    assert ask_at(service, "2026-10-26T06:59", "medium")[2] == ["freeze:autumn-release-freeze"]
    assert ask_at(service, "2026-10-26T06:59", "clean") == ("proceed", "proceed", [])  # not named
    assert ask_at(service, "2026-10-26T07:00", "medium") == ("proceed", "proceed", [])
