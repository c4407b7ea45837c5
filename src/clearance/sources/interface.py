"""The contract every signal source satisfies: open this one file to write a new adapter.

A source turns a platform's findings into :class:`~clearance.model.Signal` values. Two shapes:

* **pull** sources implement :class:`Source`: ``fetch(watermark)`` yields :class:`Batch` pages;
  the caller (``sync``) stores each batch and only then advances the watermark to
  ``batch.watermark``, so a crash never skips data.
* **push** and file formats implement :class:`Normalizer`: ``normalize(data)`` turns one payload
  (a webhook body, an export file) into a :class:`Batch`.

A malformed vendor item never raises: it becomes a :class:`Quarantined` entry in the batch beside
the good signals, with a named reason. Only failures of the whole call (auth, network, a vendor
error body) raise :class:`SourceError`, and its message never contains a secret.

A source is closed when its owner is done with it (``sync`` and the CLI commands that read
sources, through :func:`clearance.config.Config.close`): ``close()`` releases its connections.

Plugins register under the ``clearance.sources`` entry point as a :class:`SourcePlugin`: a class
with a ``Config`` (a pydantic model, or a msgspec ``Struct`` as the built-in ``file`` source's:
validated first, so a bad config fails at start-up naming the source) and a ``create``
constructor.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from clearance.errors import SourceError
from clearance.model.coverage import Managed
from clearance.model.quarantine import Quarantined, payload_digest
from clearance.model.signal import Signal

__all__ = [
    "Batch",
    "Dated",
    "Normalizer",
    "Quarantined",
    "Source",
    "SourceError",
    "SourcePlugin",
    "payload_digest",
]


class Batch(msgspec.Struct, frozen=True):
    signals: tuple[Signal, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()
    # Opaque resume point for the next fetch; None when the source has none (full re-read).
    watermark: str | None = None
    # Host identities a source reports beside findings (EDR device inventories), as
    # {"host": [...], "instance": [...], "ip": [...], "mac": [...]} groups, one per machine.
    identities: tuple[dict[str, tuple[str, ...]], ...] = msgspec.field(default_factory=tuple)
    # The source's whole agent inventory (a source that covers hosts, e.g. Falcon's hosts with
    # ``covers: edr``), when this batch carries it: it replaces what the source reported before.
    coverage: tuple[Managed, ...] | None = None

    @classmethod
    def unreadable(cls, error: SourceError, reason: str, data: bytes, where: str) -> Batch:
        """A whole document (a catalog, a feed, a VEX file) that could not be read: one
        quarantined entry with ``reason`` and the error's message, and nothing else."""
        detail = str(error).removeprefix(f"source {error.source!r}: ")
        bad = Quarantined(error.source, reason, detail, payload_digest(data), where)
        return cls(quarantined=(bad,))


@runtime_checkable
class Source(Protocol):
    """A pull source. ``name`` is the instance name from the config (``falcon-eu``)."""

    name: str

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Yield batches from ``watermark`` on, oldest first; raise SourceError on failure."""
        ...

    def close(self) -> None:
        """Release what the source holds open (connections); it is not used afterwards."""
        ...


class Document(msgspec.Struct, frozen=True):
    """A reference document as fetched: ``body`` None when it has not changed since
    ``validator`` (an HTTP 304); ``validator`` is what to send next time (the ETag)."""

    body: bytes | None
    validator: str | None


@runtime_checkable
class DocumentFeed(Protocol):
    """A source that ships one document whole (the CISA KEV catalog) rather than signals.

    ``kind`` names what the document is (``kev``); sync stores it and applies it to the stored
    signals, local mode applies it to the signals it read. ``fetch`` yields nothing.
    """

    name: str
    kind: ClassVar[str]

    def fetch_document(self, validator: str | None) -> Document: ...

    def close(self) -> None: ...


@runtime_checkable
class Dated(Protocol):
    """A source whose data has an age of its own (a file: when it was last written).

    For other sources the data is as fresh as the moment the pull succeeded.
    """

    def modified_at(self) -> datetime: ...


class Normalizer(Protocol):
    """Turns one native payload into a batch. ``format`` is the ``clearance ingest`` name."""

    format: ClassVar[str]

    def normalize(self, data: bytes, *, location: str = "") -> Batch: ...


class SourcePlugin(Protocol):
    """What the ``clearance.sources`` entry point names."""

    # A pydantic model or a msgspec Struct (the built-in file source's and static inventory's).
    Config: ClassVar[type[Any]]

    @classmethod
    def create(cls, name: str, config: Any, *, base_dir: Path) -> Source: ...
