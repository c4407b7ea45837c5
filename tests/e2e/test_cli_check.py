"""`clearance check` through a real subprocess: exit codes, output, failure stances."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_fleet import Fleet, Run, signal, target


def test_each_verdict_has_its_exit_code_and_headline(clearance: Run) -> None:
    proceed = clearance("check", *target("deployment/clean"))
    assert proceed.code == 0, proceed.err
    assert proceed.out.startswith("PROCEED")
    approve = clearance("check", *target("deployment/medium"))
    assert approve.code == 10, approve.err
    assert "APPROVE" in approve.out
    assert "2 approval(s) from group 'security'" in approve.out
    block = clearance("check", *target("deployment/hot"))
    assert block.code == 20, block.err
    assert "BLOCK" in block.out
    assert "rule:critical-detection-near-target" in block.out
    assert "finding 2" in block.out  # the detection is named among the contributors


def test_json_output_is_the_canonical_decision_and_repeats_byte_for_byte(clearance: Run) -> None:
    first = clearance("check", *target("deployment/hot"), "--format", "json")
    second = clearance("check", *target("deployment/hot"), "--format", "json")
    assert first.code == second.code == 20
    assert first.out == second.out
    decision = json.loads(first.out)
    assert decision["verdict"] == "block"
    assert decision["schema_version"] == 1
    assert decision["policy_digest"].startswith("sha256:")
    assert decision["contributors"][0]["signal"] == "edr:2"
    assert decision["contributors"][0]["matched"] == "host:node-c.corp.example"


def test_github_format_writes_outputs_summary_and_annotations(
    clearance: Run, tmp_path: Path
) -> None:
    outputs, summary = tmp_path / "out", tmp_path / "summary.md"
    result = clearance(
        "check",
        *target("deployment/hot"),
        "--format",
        "github",
        env={"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.code == 20
    lines = outputs.read_text().splitlines()
    assert "verdict=block" in lines
    assert any(line.startswith("decision-id=dec_") for line in lines)
    assert "Clearance: **block**" in summary.read_text()
    assert "::error title=Clearance: block::" in result.out


def test_explain_shows_the_arithmetic(clearance: Run) -> None:
    result = clearance("explain", *target("deployment/medium"))
    assert result.code == 10
    assert "= 0.3 × 0.9 ×" in result.out  # medium weight × confidence × decay × proximity
    assert "risk = 100 × (1 − (1 − " in result.out


def test_source_down_blocks_production_and_warns_in_development(
    clearance: Run, fleet: Fleet
) -> None:
    fleet.write_config([{"name": "edr", "type": "file", "path": "missing.jsonl"}])
    prod = clearance("check", *target("deployment/clean"))
    assert prod.code == 20
    assert "stance:source_down" in prod.out
    assert "'edr' is down" in prod.out


def test_stale_data_requires_approval_in_production(clearance: Run, fleet: Fleet) -> None:
    an_hour_earlier = 1_795_867_200 - 3600
    os.utime(fleet.root / "edr.jsonl", (an_hour_earlier, an_hour_earlier))
    result = clearance("check", *target("deployment/clean"))
    assert result.code == 10
    assert "stance:stale" in result.out
    assert "data is 1 h old; production requires at most 15 min" in result.out


def test_unknown_target_fires_its_stance(clearance: Run) -> None:
    result = clearance("check", *target("deployment/unlisted"))
    assert result.code == 20
    assert "stance:unknown_target" in result.out
    assert "prod-eu/shop/deployment/unlisted is not listed" in result.out


def test_no_sources_fires_its_stance(clearance: Run, fleet: Fleet) -> None:
    fleet.write_config([])
    result = clearance("check", *target("deployment/clean"))
    assert result.code == 20
    assert "stance:no_sources" in result.out


def test_malformed_lines_are_skipped_counted_and_the_good_ones_used(
    clearance: Run, fleet: Fleet
) -> None:
    fleet.write_signals(["{not json", signal("2", 5, "node-c"), '{"uid": "edr:3"}'])
    os.utime(fleet.root / "edr.jsonl", (1_795_867_200, 1_795_867_200))
    result = clearance("check", *target("deployment/hot"))
    assert result.code == 20  # the good line beside the bad ones still blocks
    assert "2 malformed record(s) skipped" in result.out
    assert "edr.jsonl:1" in result.err
    assert "edr.jsonl:3" in result.err
    decision = json.loads(clearance("check", *target("deployment/hot"), "--format", "json").out)
    assert decision["sources"][0]["skipped"] == 2


def test_unknown_environment_is_exit_4_with_a_message_not_a_traceback(clearance: Run) -> None:
    result = clearance("check", *target("deployment/clean", env="prod"))
    assert result.code == 4
    assert "environment 'prod' is not in the policy" in result.err
    assert "Traceback" not in result.err


def test_missing_config_is_exit_2_with_what_to_try(clearance: Run, tmp_path: Path) -> None:
    result = clearance(
        "check", *target("deployment/clean"), "--config", str(tmp_path / "nope.yaml"), config=False
    )
    assert result.code == 2
    assert "no configuration at" in result.err
    assert "--demo" in result.err


def test_a_bad_policy_is_exit_3_with_its_location(clearance: Run, fleet: Fleet) -> None:
    policy = fleet.root / "policy.yaml"
    policy.write_text(policy.read_text().replace("thresholds:", "tresholds:", 1))
    result = clearance("check", *target("deployment/clean"))
    assert result.code == 3
    assert "policy.yaml:" in result.err
    assert "tresholds" in result.err


def test_a_bad_flag_is_a_usage_error(clearance: Run) -> None:
    result = clearance("check", "--env", "production")
    assert result.code == 2
    assert "required" in result.err


def test_demo_shows_every_verdict(clearance: Run) -> None:
    result = clearance("demo")
    assert result.code == 0, result.err
    for headline in ("PROCEED", "APPROVE", "BLOCK"):
        assert headline in result.out


# What a local check in text format never uses: the service's, the store's and the push
# receivers' code, the HTTP client, the other renderers and report readers, a standing on the
# service, suggestions for a bad policy, and pydantic (clearance.yaml, the policy and the built-in
# plugins' settings are msgspec structs). Start-up is most of a check's time in a pipeline
# (docs/benchmarks.md), and each of these once loaded on this path.
NOT_LOADED_BY_A_LOCAL_CHECK = (
    "pydantic",
    "pydantic_core",
    "clearance.client",
    "clearance.server",
    "clearance.service",
    "clearance.store",
    "clearance.sync",
    "clearance.ingest",
    "clearance.sources.falco",
    "clearance.sources.reports",
    "clearance.render.sarif",
    "clearance.render.junit",
    "clearance.render.github",
    "clearance.model.standing",
    "httpx",
    "sqlalchemy",
    "xml",
    "difflib",
)
CHECK_THEN_LIST_MODULES = (
    "import sys; from clearance.cli import main; code = main(sys.argv[1:]); "
    "print(*sys.modules, sep='\\n', file=sys.stderr); sys.exit(code)"
)


def test_a_local_check_loads_nothing_it_does_not_use(fleet: Fleet) -> None:
    argv = ["check", *target("deployment/hot"), "--config", str(fleet.config)]
    done = subprocess.run(
        [sys.executable, "-c", CHECK_THEN_LIST_MODULES, *argv],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 20, done.stderr
    assert done.stdout.startswith("BLOCK")
    assert _heavy(done.stderr) == []
    # argparse's formatter imports shutil (bz2, lzma) for the terminal's width unless given it;
    # the demo writes its files through tempfile, which imports it anyway.
    assert "shutil" not in done.stderr.splitlines()


@pytest.mark.parametrize("columns", [90, 140])
def test_help_is_wrapped_to_the_terminals_width(columns: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clearance", "check", "--help"],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": str(columns)},
    )  # fmt: skip
    widest = max(len(line) for line in done.stdout.splitlines())
    assert columns - 12 <= widest <= columns - 2


def test_a_demo_check_loads_nothing_it_does_not_use() -> None:
    argv = ["check", "--demo", "--env", "production", "--cluster", "prod-eu", "--namespace"]
    argv += ["shop", "--workload", "deployment/checkout"]
    done = subprocess.run(
        [sys.executable, "-c", CHECK_THEN_LIST_MODULES, *argv],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 10, 20), done.stderr
    assert _heavy(done.stderr) == []


def _heavy(listed: str) -> list[str]:
    """The modules of NOT_LOADED_BY_A_LOCAL_CHECK among those a run listed."""
    loaded = set(listed.splitlines())
    return sorted(
        name
        for name in loaded
        if any(
            name == heavy or name.startswith(f"{heavy}.") for heavy in NOT_LOADED_BY_A_LOCAL_CHECK
        )
    )
