"""A small run of ``bench.fuzz_api`` (the 1M run's numbers are in docs/security.md): generated
bodies on every route and push format, in-process and over real HTTP; no 5xx, no crash."""

from __future__ import annotations

import json

import pytest
from bench import fuzz_api


def test_generated_bodies_never_get_a_5xx_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code = fuzz_api.main(["--bodies", "3000", "--seed", "11"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["bodies"] == 3000
    assert (summary["responses_5xx"], summary["crashes"]) == (0, 0), summary
    assert code == 0
    # The run reached past authentication on every route, not only the front door.
    assert {"200", "202", "400", "401", "422"} <= set(summary["statuses"])


def test_generated_bodies_never_get_a_5xx_over_http(capsys: pytest.CaptureFixture[str]) -> None:
    code = fuzz_api.main(["--bodies", "600", "--seed", "12", "--http"])
    summary = json.loads(capsys.readouterr().out)
    assert (summary["responses_5xx"], summary["crashes"]) == (0, 0), summary
    assert code == 0
