"""Every YAML a person gives Clearance is read within bounds (observation 11 of issue 11)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from clearance import bounded_yaml
from clearance.config import load_config
from clearance.errors import ClearanceError
from clearance.integrations.settings import load_settings as load_integration_settings
from clearance.policytest import run_file
from clearance.server.settings import load_settings as load_server_settings

BOMB = "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
DEEP = "[" * 100_000 + "]" * 100_000


def test_ordinary_documents_read_as_safe_load_reads_them() -> None:
    assert bounded_yaml.load("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}
    assert list(bounded_yaml.load_all("a: 1\n---\nb: 2\n")) == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1, 2]\nb: *x\nc: {d: 1}\n",
        # merge keys: PyYAML's constructor rewrites such nodes, so the tree is parsed apart
        "base: &b {x: 1, y: 2}\nover:\n  <<: *b\n  y: 3\n",
        "",
    ],
)
def test_composed_once_the_tree_and_data_are_what_compose_and_load_give(text: str) -> None:
    """The policy loader reads its file once for both positions and values."""
    root, data = bounded_yaml.compose_and_load(text)
    assert data == bounded_yaml.load(text)
    expected = bounded_yaml.compose(text)
    assert _tree(root) == _tree(expected)
    if expected is not None:
        assert root is not None
        assert root.start_mark.line == expected.start_mark.line


def _tree(node: Any) -> Any:
    if node is None or isinstance(node.value, str):
        return None if node is None else (node.tag, node.value, *_at(node))
    if node.value and isinstance(node.value[0], tuple):
        return [(node.tag, *_at(node), _tree(k), _tree(v)) for k, v in node.value]
    return [(node.tag, *_at(node), *(_tree(v) for v in node.value))]


def _at(node: Any) -> tuple[int, int, int, int]:
    start, end = node.start_mark, node.end_mark
    return start.line, start.column, end.line, end.column


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (BOMB, "aliases expand the document past"),
        (DEEP, "nested deeper than"),
        ("a: [" + ", ".join(["*x"] * 1001) + "]", "more than 1000 aliases"),
    ],
)
def test_a_document_over_a_bound_is_refused_with_its_position(text: str, problem: str) -> None:
    if "*x" in text:
        text = "x: &x 1\n" + text
    with pytest.raises(bounded_yaml.YamlLimitError) as caught:
        bounded_yaml.load(text, "bomb.yaml")
    assert problem in str(caught.value)
    assert 'in "bomb.yaml", line' in str(caught.value)


def test_a_document_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(bounded_yaml.YamlLimitError, match="bytes; the limit is"):
        bounded_yaml.load("a: 1\n" * (bounded_yaml.MAX_BYTES // 4))


LOADERS: dict[str, Callable[[Path], Any]] = {
    "clearance.yaml": load_config,
    "server settings": load_server_settings,
    "integration settings": load_integration_settings,
    "policy test cases": run_file,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
@pytest.mark.parametrize("text", [BOMB, DEEP], ids=["alias bomb", "deep"])
def test_every_loader_refuses_a_bomb_with_our_error(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    path.write_text(text)
    with pytest.raises(ClearanceError) as caught:
        LOADERS[name](path)
    assert str(path) in str(caught.value)


ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    [
        *ROOT.glob("examples/**/*.yaml"),
        *ROOT.glob("src/clearance/demo/*.yaml"),
        *ROOT.glob("deploy/base/config/*.yaml"),
    ]
)


@pytest.mark.skipif(bounded_yaml._Loader is bounded_yaml.BoundedLoader, reason="no libyaml")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_libyaml_reads_every_shipped_file_as_pyyaml_does(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast parser gives the same values and node positions (error lines come from PyYAML)."""
    text = path.read_bytes()
    if b"\n---" in text:
        pytest.skip("a stream of documents: read by load_all, PyYAML's own loader")
    fast_root, fast = bounded_yaml.compose_and_load(text, str(path))
    monkeypatch.setattr(bounded_yaml, "_Loader", bounded_yaml.BoundedLoader)
    slow_root, slow = bounded_yaml.compose_and_load(text, str(path))
    assert fast == slow
    assert _tree(fast_root) == _tree(slow_root)


def test_a_yaml_error_is_worded_and_placed_by_pyyaml() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        bounded_yaml.load("a: b: c\n", "p.yaml")
    assert 'mapping values are not allowed here\n  in "p.yaml", line 1, column 5' in str(
        caught.value
    )
