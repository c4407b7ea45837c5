"""``clearance completion bash|zsh|fish``: the scripts come from the parser, and the bash one,
sourced into a real bash, completes commands, actions, options and their choices."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from served import clearance


def complete(script: str, *words: str) -> list[str]:
    """What bash offers for ``clearance WORDS…`` (the last word being completed)."""
    line = " ".join(f"'{w}'" for w in ("clearance", *words))
    program = f"""{script}
COMP_WORDS=({line}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=()
_clearance
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return [w for w in done.stdout.splitlines() if w]


@pytest.fixture(scope="module")
def bash_script() -> str:
    if shutil.which("bash") is None:  # pragma: no cover - bash is on every CI image here
        pytest.skip("no bash")
    result = clearance("completion", "bash")
    assert result.code == 0, result.err
    return result.out


def test_bash_completes_commands_actions_options_and_choices(bash_script: str) -> None:
    assert {"check", "ingest", "serve", "audit", "completion"} <= set(complete(bash_script, ""))
    assert complete(bash_script, "ch") == ["check"]
    assert complete(bash_script, "audit", "exp") == ["export"]
    assert "--since" in complete(bash_script, "audit", "export", "--")
    assert complete(bash_script, "check", "--format", "") == [
        "github", "json", "junit", "sarif", "text",
    ]  # fmt: skip
    assert complete(bash_script, "policy", "test", "--format", "j") == ["json", "junit"]
    assert "--log-format" in complete(bash_script, "serve", "--log")
    assert complete(bash_script, "serve", "--log-format", "") == ["json", "text"]
    assert complete(bash_script, "completion", "") == ["bash", "fish", "zsh"]


def test_file_arguments_complete_as_files(bash_script: str, tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text("{}\n")
    offered = complete(bash_script, "ingest", "--format", "falco", f"{tmp_path}/ev")
    assert offered == [f"{tmp_path}/events.jsonl"]


def test_zsh_and_fish_scripts() -> None:
    zsh = clearance("completion", "zsh")
    assert zsh.code == 0
    assert "bashcompinit" in zsh.out
    assert "complete -o filenames -F _clearance clearance" in zsh.out
    fish = clearance("completion", "fish")
    assert fish.code == 0
    lines = fish.out.splitlines()
    assert all(line.startswith(("#", "complete -c clearance ")) for line in lines)
    assert any("-a check " in line for line in lines)
    assert any("-l format -r -a 'text json github sarif junit'" in line for line in lines)
    if shutil.which("fish"):  # pragma: no cover - not installed on this machine
        subprocess.run(["fish", "--no-execute", "-c", fish.out], check=True)


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = clearance("completion", "tcsh")
    assert result.code == 2
    assert "invalid choice: 'tcsh'" in result.err
