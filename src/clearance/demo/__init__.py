"""The built-in demo: a small fleet, written out as ordinary files and decided the ordinary way.

``materialize`` writes a ``clearance.yaml``, JSON Lines signal files, a static inventory and the
example policy into a directory, with signal times relative to ``now``; the demo then runs the
same code path as any configuration. Nothing about the demo is special-cased in the engine.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import yaml

from clearance import bounded_yaml
from clearance.model.signal import format_time
from clearance.policy.schema import duration_seconds


class DemoTarget(msgspec.Struct, frozen=True):
    environment: str
    cluster: str
    namespace: str
    workload: str
    shows: str


# libyaml's emitter where PyYAML has it: the files are read back as values, not compared as text.
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _read(name: str) -> str:
    """A file shipped beside this module. Read from disk when the package is (an ordinary
    install): ``importlib.resources``, which also reads from zip archives, loads ``zipfile``
    and more on a path a user waits on (``check --demo``)."""
    here = Path(__file__).with_name(name)
    if here.is_file():
        return here.read_text(encoding="utf-8")
    from importlib import resources  # noqa: PLC0415 - a zipped install only

    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def targets() -> tuple[DemoTarget, ...]:
    scenario = bounded_yaml.load(_read("scenario.yaml"), "scenario.yaml")
    return tuple(DemoTarget(**t) for t in scenario["targets"])


def materialize(directory: Path, now: datetime) -> Path:
    """Write the demo's files into ``directory``; return the path of its ``clearance.yaml``."""
    scenario: dict[str, Any] = bounded_yaml.load(_read("scenario.yaml"), "scenario.yaml")
    sources = []
    for source, items in scenario["sources"].items():
        lines = [json.dumps(_signal(source, item, now), sort_keys=True) for item in items]
        (directory / f"{source}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        sources.append({"name": source, "type": "file", "path": f"{source}.jsonl"})
    (directory / "inventory.yaml").write_text(
        yaml.dump(scenario["inventory"], Dumper=_DUMPER, sort_keys=False), encoding="utf-8"
    )
    (directory / "policy.yaml").write_text(_read("policy.yaml"), encoding="utf-8")
    config = {
        "policy": "policy.yaml",
        "sources": sources,
        "inventory": {"name": "demo-fleet", "type": "static", "path": "inventory.yaml"},
    }
    path = directory / "clearance.yaml"
    path.write_text(yaml.dump(config, Dumper=_DUMPER, sort_keys=False), encoding="utf-8")
    return path


def _signal(source: str, item: dict[str, Any], now: datetime) -> dict[str, Any]:
    data = {k: v for k, v in item.items() if k not in ("age", "seen_for")}
    last_seen = now - timedelta(seconds=duration_seconds(item["age"]))
    first_seen = last_seen - timedelta(seconds=duration_seconds(item["seen_for"]))
    data.update(
        source=source,
        first_seen=format_time(first_seen.replace(microsecond=0)),
        last_seen=format_time(last_seen.replace(microsecond=0)),
    )
    return data
