"""A small fleet on disk for end-to-end tests of the `clearance` command."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

NOW = "2026-11-28T12:00:00Z"


@dataclass
class Fleet:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "clearance.yaml"

    def write_config(self, sources: list[dict[str, object]] | None = None) -> None:
        sources = (
            [{"name": "edr", "type": "file", "path": "edr.jsonl"}] if sources is None else sources
        )
        config = {
            "policy": "policy.yaml",
            "sources": sources,
            "inventory": {"name": "hosts", "type": "static", "path": "inventory.yaml"},
        }
        self.config.write_text(yaml.safe_dump(config))

    def write_signals(self, lines: list[dict[str, object] | str], name: str = "edr") -> Path:
        path = self.root / f"{name}.jsonl"
        text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
        path.write_text(text + "\n")
        return path


def signal(uid: str, severity: int, host: str, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "uid": f"edr:{uid}",
        "source": "edr",
        "kind": "detection",
        "title": f"finding {uid}",
        "severity": severity,
        "confidence": 0.9,
        "status": "open",
        "first_seen": "2026-11-28T11:40:00Z",
        "last_seen": "2026-11-28T11:50:00Z",
        "assets": [f"host:{host}"],
    }
    data.update(extra)
    return data


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


def target(workload: str, env: str = "production") -> list[str]:
    return [
        "--env",
        env,
        "--cluster",
        "prod-eu",
        "--namespace",
        "shop",
        "--workload",
        workload,
        "--now",
        NOW,
    ]
