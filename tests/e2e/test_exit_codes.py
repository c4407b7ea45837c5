"""Every exit code in docs/exit-codes.md, through the real command in a subprocess, and the
messages around them: true (a busy port is not a policy error, a missing kubeconfig is not a
failing source), with a tip only where one applies, and never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_fleet import Fleet, Run, target
from served import clearance as run_clearance
from served import environ

from clearance.store.sql import SqlStore
from store_samples import append, sample

FIXTURES = Path(__file__).parent.parent / "fixtures"
CONFIG_TIP = "examples/clearance.yaml"


def no_traceback(err: str) -> None:
    assert "Traceback" not in err, err


@pytest.mark.parametrize(
    ("workload", "code"),
    [("deployment/clean", 0), ("deployment/medium", 10), ("deployment/hot", 20)],
)
def test_verdicts_exit_0_10_20(clearance: Run, workload: str, code: int) -> None:
    assert clearance("check", *target(workload)).code == code


def test_a_bad_flag_exits_2_pointing_at_help(clearance: Run) -> None:
    result = clearance("check", "--no-such-flag")
    assert result.code == 2
    assert "Tip: run with --help" in result.err


def test_a_missing_clearance_yaml_exits_2_with_the_config_tip(tmp_path: Path) -> None:
    result = run_clearance(
        "check", "--config", str(tmp_path / "absent.yaml"), *target("deployment/api")
    )
    assert result.code == 2
    assert f"no configuration at {tmp_path / 'absent.yaml'}" in result.err
    assert CONFIG_TIP in result.err


def test_a_missing_token_exits_2_without_the_config_tip() -> None:
    # Nothing about clearance.yaml is wrong: pointing at it would send the user astray.
    result = run_clearance("approve", "dec_x", "--reason", "ok", "--server", "http://127.0.0.1:9")
    assert result.code == 2, result.err
    assert "no credential for http://127.0.0.1:9" in result.err
    assert CONFIG_TIP not in result.err
    assert "Tip:" not in result.err


def test_a_missing_kubeconfig_is_a_configuration_error_exit_2(fleet: Fleet) -> None:
    inventory = {
        "name": "k8s",
        "type": "kubernetes",
        "kubeconfig": "no-such-kubeconfig",
        "clusters": [{"name": "prod-eu"}],
    }
    config = {"policy": "policy.yaml", "sources": [], "inventory": inventory}
    fleet.config.write_text(yaml.safe_dump(config))
    result = run_clearance("check", "--config", str(fleet.config), *target("deployment/api"))
    assert result.code == 2, result.err  # not 5, "a source failed"
    assert "inventory 'k8s': cluster 'prod-eu': cannot load config" in result.err
    assert "no-such-kubeconfig" in result.err
    assert "kubeconfig, context and in_cluster" in result.err
    no_traceback(result.err)


def test_a_missing_policy_file_exits_3_naming_the_file_without_a_position(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "policy.yaml"
    result = run_clearance("policy", "validate", str(missing))
    assert result.code == 3
    assert f"{missing}: cannot read the policy" in result.err
    assert f"{missing}:1:1" not in result.err


def test_an_unknown_environment_exits_4(clearance: Run) -> None:
    result = clearance("check", *target("deployment/clean", env="nowhere"))
    assert result.code == 4, result.err


def test_an_unreachable_service_exits_5() -> None:
    result = run_clearance(
        "check", *target("deployment/api")[:-2], "--server", "http://127.0.0.1:9",
        env={"CLEARANCE_TOKEN": "clr_none"},
    )  # fmt: skip
    assert result.code == 5, result.err
    no_traceback(result.err)


def test_serve_on_a_busy_port_exits_6_without_claiming_to_serve(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_clearance(
            "serve", "--demo", "--port", str(port), "--database",
            f"sqlite:///{tmp_path / 'serve.db'}",
        )  # fmt: skip
    assert result.code == 6, result.err
    assert "serving on" not in result.out
    assert f"cannot start: 127.0.0.1:{port} is already in use" in result.err
    assert "--port" in result.err
    no_traceback(result.err)


def test_audit_export_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = SqlStore.open(url)
    try:
        for i in range(200):  # well past a pipe's buffer, so the writer meets the closed end
            append(store, sample(i))
    finally:
        store.close()
    # `clearance audit export | head -n 1`, with the reader gone after one line.
    process = subprocess.Popen(
        [sys.executable, "-m", "clearance", "audit", "export", "--database", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ(),
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    process.stderr.close()
    code = process.wait(timeout=60)
    assert json.loads(first)["seq"] == 1
    assert code == 141, err  # 128 + SIGPIPE, as a shell reports a command a pipe stopped
    assert err == ""


def test_an_unreachable_falcon_api_reads_as_a_connection_error(fleet: Fleet) -> None:
    fleet.write_config(
        [
            {
                "name": "falcon-eu",
                "type": "falcon",
                "client_id": "id",
                "client_secret": "not-shown",
                "base_url": "http://127.0.0.1:9",
            }
        ]
    )
    result = run_clearance("check", "--config", str(fleet.config), *target("deployment/clean"))
    assert result.code == 20  # production blocks on a source that is down
    assert "authentication: cannot connect to http://127.0.0.1:9" in result.out
    assert "Connection refused" in result.out
    assert "client_id" not in result.out + result.err
    assert "not-shown" not in result.out + result.err


def test_data_ingested_under_another_name_hints_at_source(fleet: Fleet, tmp_path: Path) -> None:
    fleet.write_config([{"name": "falcon-eu", "type": "falcon", "client_id": "id",
                         "client_secret": "s", "base_url": "http://127.0.0.1:9"}])  # fmt: skip
    url = f"sqlite:///{tmp_path / 'store.db'}"
    export = FIXTURES / "crowdstrike" / "alerts-combined-v1.epp.page1.json"
    ingested = run_clearance("ingest", "--format", "falcon", "--database", url, str(export))
    assert ingested.code == 0, ingested.err
    args = ("--config", str(fleet.config), "--database", url, *target("deployment/clean")[:-2])
    result = run_clearance("check", *args)
    assert "Source 'falcon-eu' is down" in result.out
    assert "data is stored as 'falcon'" in result.err
    assert "clearance ingest --source falcon-eu" in result.err
    # Stored under the configured name, the hint has nothing left to say.
    again = run_clearance(
        "ingest", "--format", "falcon", "--source", "falcon-eu", "--database", url, str(export)
    )
    assert again.code == 0, again.err
    assert "--source" not in run_clearance("check", *args).err


MISSING = "import sys; sys.modules[{module!r}] = None; from clearance.cli import main; "
MISSING += "sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize(
    ("module", "argv", "postgres_will_do"),
    [
        ("sqlalchemy", ["audit", "verify"], True),
        ("sqlalchemy", ["tokens", "list"], True),
        ("sqlalchemy", ["serve", "--demo", "--port", "0"], False),
        ("fastapi", ["serve", "--demo", "--port", "0"], False),
    ],
)
def test_a_command_missing_its_extra_names_it(
    module: str, argv: list[str], postgres_will_do: bool, tmp_path: Path
) -> None:
    """As in a core-only install (the install matrix runs the real one): the module is made
    unimportable, the command says which extra to install and exits 2."""
    database = ["--database", f"sqlite:///{tmp_path / 'x.db'}"]
    done = subprocess.run(
        [sys.executable, "-c", MISSING.format(module=module), *argv, *database],
        capture_output=True, text=True, env=environ(), check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"({module} is not installed): pip install 'clearance[server]'" in done.stderr
    # The store alone comes with the postgres extra as well; the HTTP server does not.
    assert ("'clearance[postgres]'" in done.stderr) is postgres_will_do
    no_traceback(done.stderr)


def test_a_refusal_by_the_service_exits_2_with_its_own_tip(fleet: Fleet, tmp_path: Path) -> None:
    from served import serve

    with serve(fleet.config, f"sqlite:///{tmp_path / 'service.db'}") as service:
        decided = service.decide(
            {"environment": "production", "cluster": "prod-eu", "namespace": "shop",
             "workload": "deployment/medium"}
        )  # fmt: skip
        # The decide-only pipeline token may not approve: a 403 from the service.
        result = service.clearance("approve", decided["decision"]["id"], "--reason", "ok")
    assert result.returncode == 2, result.stderr
    assert "403" in result.stderr
    assert "Tip: the token lacks the scope for this" in result.stderr
    assert CONFIG_TIP not in result.stderr
