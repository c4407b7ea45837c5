from __future__ import annotations

from pathlib import Path

import pytest

from clearance.config import load_config, locate
from clearance.errors import ConfigError
from clearance.inventory.static import StaticInventory
from clearance.sources.file import FileSource


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "inventory.yaml").write_text("targets: []\n")
    path = tmp_path / "clearance.yaml"
    path.write_text(text)
    return path


def test_plugins_are_created_with_paths_relative_to_the_config(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "policy: p.yaml\nsources: [{name: a, type: file, path: a.jsonl}]\n"
            "inventory: {name: inv, type: static, path: inventory.yaml}\n",
        )
    )
    assert config.policy_path == tmp_path / "p.yaml"
    (source,) = config.sources
    assert isinstance(source, FileSource)
    assert source.path == tmp_path / "a.jsonl"
    assert isinstance(config.inventory, StaticInventory)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("policy: p\ninventory: {name: i, type: nope}\n", "unknown type 'nope' (known: "),
        ("policy: p\ninventory: {name: i, type: static}\n", "static 'i': path: Field required"),
        ("policy: p\ninventory: {name: i, type: static, path: x, colour: red}\n", "colour"),
        ("inventory: {name: i, type: static, path: x}\n", "policy: Field required"),
        (
            "policy: p\nsources: [{name: a, type: file, path: x}, {name: a, type: file, path: y}]\n"
            "inventory: {name: i, type: static, path: inventory.yaml}\n",
            "source names must be unique",
        ),
    ],
)
def test_a_bad_config_names_the_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)


def test_config_is_found_by_flag_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLEARANCE_CONFIG", raising=False)
    assert locate(None) == Path("clearance.yaml")
    monkeypatch.setenv("CLEARANCE_CONFIG", "/etc/clearance.yaml")
    assert locate(None) == Path("/etc/clearance.yaml")
    assert locate("mine.yaml") == Path("mine.yaml")
