"""The parts of the package depend on each other one way, as README's architecture draws them.

Each part (a top-level package or module of ``clearance``) has a layer; a part may import only
parts of a lower layer (or itself). Parts of one layer do not import each other: ``sources``,
``inventory`` and ``store`` all stand on the model alone, which is what lets a source, an
inventory or a store be replaced without touching the others. Every import counts, including
those made inside functions or only for type checking: a cycle hidden behind a late import is
still a cycle for the reader.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "clearance"

LAYERS: tuple[tuple[str, ...], ...] = (
    # bounded_yaml, http_client, retries, validation: YAML within bounds, the HTTP client
    # factory, the retry waits and msgspec's validation of our own documents; they import
    # nothing of ours.
    ("errors", "bounded_yaml", "http_client", "retries", "validation"),
    ("model",),
    ("policy", "sources", "inventory", "store", "secrets"),
    ("scoring", "correlate", "change", "ingest", "render", "demo", "manifest"),
    ("engine", "config"),
    ("policytest", "audit", "sync", "snapshot"),
    ("service", "integrations", "client"),
    ("server",),
    ("cli",),
    ("__main__",),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _part(module: str) -> str | None:
    """``clearance.sources.falco.nats`` → ``sources``; ``clearance`` itself → None."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[0] == "clearance" else None


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    package = ".".join(("clearance", *path.relative_to(SRC).with_suffix("").parts[:-1]))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if name == "clearance":  # `from clearance import demo`: the names are parts
                for alias in node.names:
                    yield node.lineno, f"clearance.{alias.name}"
            else:
                yield node.lineno, name


def _violations() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        own = relative.parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for line, module in _imports(path):
            other = _part(module)
            if other is None or other in (own, "__version__"):
                continue
            if own not in RANK or other not in RANK:
                found.append(f"{relative}:{line}: part {own!r} or {other!r} has no layer")
            elif RANK[other] >= RANK[own]:
                found.append(
                    f"{relative}:{line}: {own} (layer {RANK[own]}) imports {module} "
                    f"({other}, layer {RANK[other]})"
                )
    return found


def test_every_part_has_a_layer() -> None:
    parts = {p.name.removesuffix(".py") for p in SRC.iterdir() if not p.name.startswith("_")}
    parts -= {"py.typed"}
    parts.discard("__pycache__")
    assert parts <= set(RANK), sorted(parts - set(RANK))


def test_dependencies_point_one_way() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # The cycles this test exists to keep out (issue #13): each must be caught.
        ("from clearance.scoring import Weights", "policy (layer 2) imports clearance.scoring"),
        ("from clearance.ingest.settings import X", "sources (layer 2) imports clearance.ingest"),
        ("from clearance.sources.interface import Q", "store (layer 2) imports clearance.sources"),
        ("from clearance.cli.check import emit", "integrations (layer 6) imports clearance.cli"),
        ("from clearance.server.app import C", "integrations (layer 6) imports clearance.server"),
    ],
)
def test_an_upward_import_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str
) -> None:
    owner = expected.split(" ", 1)[0]
    tree = tmp_path / "clearance"
    (tree / owner).mkdir(parents=True)
    (tree / owner / "bad.py").write_text(source + "\n")
    monkeypatch.setattr(f"{__name__}.SRC", tree)
    (problem,) = _violations()
    assert expected in problem
