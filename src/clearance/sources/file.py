"""The ``file`` source: a file on disk, re-read on every pull.

By default it holds JSON Lines of normalized signals (the form ``Signal.to_dict`` writes): the
simplest way to feed Clearance (an export job writes the file, Clearance reads it) and the
reference for what every source must do with bad input: a malformed line is quarantined with its
line number and reason, and the good lines beside it are still used.

With ``format`` it holds a platform's own export, read by the same normalizer ``clearance ingest
--format`` uses: Falco's ``file_output``, Wazuh's ``alerts.json``, a Trivy report a CI job wrote,
a Falcon or GuardDuty export, the CISA KEV catalog or FIRST's EPSS scores mirrored for an
air-gapped site::

    sources:
      - {name: falco, type: file, path: /var/log/falco/events.jsonl, format: falco,
         cluster: prod-eu}
      - {name: kev, type: file, path: mirror/known_exploited_vulnerabilities.json, format: kev}

Options a format takes (``cluster``, ``hostname_is_node``) are checked when the configuration
loads: one a format does not take is refused, naming it.

Freshness comes from the file's modification time: data written an hour ago is an hour old,
whenever it is read, by ``sync`` or by a local check alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from clearance.errors import ConfigError, InvalidSignalError, SourceError
from clearance.model.signal import Signal, signal_from_dict
from clearance.sources.interface import Batch, Document, Normalizer, Quarantined, payload_digest

SIGNALS = "signals"  # the default format: JSON Lines of normalized signals


class FileSourceConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    path: Path
    format: Annotated[str, Meta(min_length=1)] = SIGNALS
    cluster: Annotated[str, Meta(min_length=1)] | None = None
    hostname_is_node: bool | None = None


class FileSource:
    Config: ClassVar[type[FileSourceConfig]] = FileSourceConfig

    def __init__(self, name: str, path: Path, normalizer: Normalizer | None = None) -> None:
        self.name = name
        self.path = path
        self.normalizer = normalizer

    @classmethod
    def create(
        cls, name: str, config: FileSourceConfig, *, base_dir: Path
    ) -> FileSource | FileFeed:
        assert isinstance(config, FileSourceConfig)
        path = config.path if config.path.is_absolute() else base_dir / config.path
        fmt = config.format.strip().lower()
        options = {"cluster": config.cluster, "hostname_is_node": config.hostname_is_node}
        if fmt == SIGNALS:
            if any(v is not None for v in options.values()):
                raise ConfigError(
                    f"file source {name!r}: cluster and hostname_is_node apply to a platform's "
                    "format (format: falco, …), not to normalized signals"
                )
            return cls(name, path)
        if fmt in _FEEDS:
            if any(v is not None for v in options.values()):
                raise ConfigError(f"file source {name!r}: format {fmt} takes no other option")
            return _FEEDS[fmt](name, path)
        # Imported here: the registry imports each format's module only when it is used.
        from clearance.sources.formats import make_normalizer  # noqa: PLC0415

        return cls(name, path, make_normalizer(fmt, source=name, **options))

    def modified_at(self) -> datetime:
        """When the file was last written: the age of the data it holds."""
        return _modified(self.name, self.path)

    def close(self) -> None:
        pass  # a file is opened and closed by each read

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """One batch with every item; the whole file is re-read each time (no watermark)."""
        data = _read(self.name, self.path)
        if self.normalizer is None:
            yield parse_jsonl(self.name, data, str(self.path))
        else:
            yield self.normalizer.normalize(data, location=str(self.path))


class FileFeed:
    """A reference document kept in a file (the CISA KEV catalog or FIRST's EPSS scores,
    mirrored): a :class:`~clearance.sources.interface.DocumentFeed` whose validator is the
    content's digest, so ``sync`` stores and applies it again only when the file changed."""

    kind: ClassVar[str] = "kev"

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    def modified_at(self) -> datetime:
        """When the file was last written: the age of the document it holds."""
        return _modified(self.name, self.path)

    def close(self) -> None:
        pass  # a file is opened and closed by each read

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """No signals: the catalog is a document (``fetch_document``)."""
        return iter(())

    def fetch_document(self, validator: str | None) -> Document:
        data = _read(self.name, self.path)
        digest = payload_digest(data)
        return Document(None if digest == validator else data, digest)


class EpssFile(FileFeed):
    kind: ClassVar[str] = "epss"


class OpenVexFile(FileFeed):
    kind: ClassVar[str] = "openvex"


class CycloneDxVexFile(FileFeed):
    kind: ClassVar[str] = "cyclonedx-vex"


_FEEDS: dict[str, type[FileFeed]] = {
    "kev": FileFeed,
    "epss": EpssFile,
    "openvex": OpenVexFile,
    "cyclonedx-vex": CycloneDxVexFile,
}


def _read(name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(name, f"cannot read {path}: {exc.strerror}") from exc


def _modified(name: str, path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    except OSError as exc:
        raise SourceError(name, f"cannot read {path}: {exc.strerror}") from exc


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
