"""The ``file`` source: JSON Lines of normalized signals (the form ``Signal.to_dict`` writes).

It is the simplest way to feed Clearance (an export job writes the file, Clearance reads it) and
the reference for what every source must do with bad input: a malformed line is quarantined with
its line number and reason, and the good lines beside it are still used.

Freshness comes from the file's modification time: data written an hour ago is an hour old,
whenever it is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from clearance.errors import InvalidSignalError, SourceError
from clearance.model.signal import Signal, signal_from_dict
from clearance.sources.interface import Batch, Quarantined, payload_digest


class FileSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: Path


class FileSource:
    Config: ClassVar[type[BaseModel]] = FileSourceConfig

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> FileSource:
        assert isinstance(config, FileSourceConfig)
        path = config.path if config.path.is_absolute() else base_dir / config.path
        return cls(name, path)

    def modified_at(self) -> datetime:
        """When the file was last written: the age of the data it holds."""
        try:
            return datetime.fromtimestamp(self.path.stat().st_mtime, tz=UTC)
        except OSError as exc:
            raise SourceError(self.name, f"cannot read {self.path}: {exc.strerror}") from exc

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """One batch with every line; the whole file is re-read each time (no watermark)."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise SourceError(self.name, f"cannot read {self.path}: {exc.strerror}") from exc
        yield parse_jsonl(self.name, data, str(self.path))


def parse_jsonl(source: str, data: bytes, origin: str) -> Batch:
    signals: list[Signal] = []
    quarantined: list[Quarantined] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue

        def bad(reason: str, detail: str, raw: bytes = raw, number: int = number) -> None:
            quarantined.append(
                Quarantined(
                    source=source,
                    reason=reason,
                    detail=detail,
                    digest=payload_digest(raw),
                    location=f"{origin}:{number}",
                    payload=raw,
                )
            )

        try:
            item = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            bad("invalid_json", f"not JSON: {exc}")
            continue
        try:
            signals.append(signal_from_dict(item))
        except InvalidSignalError as exc:
            bad("invalid_signal", str(exc))
    return Batch(signals=tuple(signals), quarantined=tuple(quarantined))
