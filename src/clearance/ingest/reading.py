"""Reading an export file in bounded pieces, so ``clearance ingest`` holds as much memory for a
10 GB file as for a 10 MB one.

JSON Lines (what Falco, falcosidekick and most exporters write) is cut into chunks of whole
lines, each normalized before the next is read; a quarantined item's location is then shifted
from its line in the chunk to its line in the file. The chunks' signals are folded together in
memory (:class:`Pending`) and stored when enough are held: a Falco rule firing on one pod all
day is one signal, stored once, not once per chunk (which made a 100 MB ingest six times
slower). Folding uses the normalizer's own ``combine`` where it has one (Falco: as if the
whole file had been normalized at once), else the store's :func:`clearance.model.signal.fold`
(what storing each chunk would have left). Anything else (one JSON document: an API page, a
Trivy report, the KEV catalog) has to be parsed whole, and is read whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import msgspec
import orjson

from clearance.errors import InvalidSignalError
from clearance.model.quarantine import Quarantined
from clearance.model.signal import Signal, fold
from clearance.sources.interface import Batch

__all__ = ["CHUNK_BYTES", "Chunk", "Pending", "chunks", "shift_lines"]

# Big enough that per-chunk costs (a transaction, a fold) vanish; small enough that a chunk's
# events, parsed, stay a few tens of MB.
CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole lines of the input, or the whole input; ``first_line`` is the 1-based number of its
    first line in the file, ``read`` the bytes read so far (for progress)."""

    data: bytes
    first_line: int
    read: int
    lines: bool


def chunks(stream: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """``stream`` as chunks of whole JSON Lines of about ``size`` bytes, or as one chunk when it
    is not JSON Lines (its first line is not a complete JSON value, or it is the only line)."""
    first = stream.readline()
    second = stream.readline() if _is_json(first) else b""
    if not second:
        data = first + second + stream.read()
        yield Chunk(data, 1, len(data), lines=False)
        return
    pending = [first, second]
    held = len(first) + len(second)
    read = held
    start = 1
    # Each full chunk waits for the next line: a last chunk of one line (which a normalizer
    # would read as one JSON document, not as line N) is joined to the chunk before it.
    full: list[bytes] | None = None
    for line in stream:
        pending.append(line)
        held += len(line)
        read += len(line)
        if full is not None and len(pending) >= 2:
            yield Chunk(b"".join(full), start, read - held, lines=True)
            start += len(full)
            full = None
        if full is None and held >= size:
            full, pending, held = pending, [], 0
    if full is not None:
        pending = full + pending
    if pending:
        yield Chunk(b"".join(pending), start, read, lines=True)


def _is_json(line: bytes) -> bool:
    if not line.strip():
        return False
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


_LINE = re.compile(r"^(?P<where>.*): line (?P<number>\d+)$")


def shift_lines(items: tuple[Quarantined, ...], offset: int) -> tuple[Quarantined, ...]:
    """Quarantined items located ``…: line N`` in a chunk, relocated to ``…: line N+offset``
    (their line in the file), in the location and in a detail that starts ``line N``."""
    if offset == 0:
        return items
    shifted = []
    for item in items:
        found = _LINE.match(item.location)
        if found is None:
            shifted.append(item)
            continue
        number = int(found["number"]) + offset
        detail = item.detail
        said = f"line {found['number']} "
        if detail.startswith(said):  # "line 7 is not JSON: …" says the number too
            detail = f"line {number} " + detail[len(said) :]
        shifted.append(
            msgspec.structs.replace(
                item, location=f"{found['where']}: line {number}", detail=detail
            )
        )
    return tuple(shifted)


class Pending:
    """Batches folded together until stored: signals by uid, quarantined items and host
    identities in order, the last watermark. ``full`` bounds what is held (signals, and the
    bytes of quarantined payloads), so memory stays bounded whatever the input."""

    def __init__(
        self,
        combine: Callable[[Signal, Signal], Signal] = fold,
        max_signals: int = 20_000,
        max_quarantined_bytes: int = 16 << 20,
    ) -> None:
        self.combine = combine
        self.max_signals = max_signals
        self.max_quarantined_bytes = max_quarantined_bytes
        self._clear()

    def _clear(self) -> None:
        self.signals: dict[str, Signal] = {}
        self.quarantined: list[Quarantined] = []
        self.identities: list[dict[str, tuple[str, ...]]] = []
        self.watermark: str | None = None
        self.quarantined_bytes = 0

    def add(self, batch: Batch) -> None:
        for signal in batch.signals:
            held = self.signals.get(signal.uid)
            if held is None:
                self.signals[signal.uid] = signal
                continue
            try:
                self.signals[signal.uid] = self.combine(held, signal)
            except InvalidSignalError:  # the union is too large to be one signal
                self.signals[signal.uid] = fold(held, signal)
        self.quarantined += batch.quarantined
        self.quarantined_bytes += sum(len(q.payload) for q in batch.quarantined)
        self.identities += batch.identities
        if batch.watermark is not None:
            self.watermark = batch.watermark

    @property
    def full(self) -> bool:
        return (
            len(self.signals) >= self.max_signals
            or self.quarantined_bytes >= self.max_quarantined_bytes
        )

    def take(self) -> Batch:
        """What is held, as one batch; then nothing is."""
        batch = Batch(
            signals=tuple(self.signals.values()),
            quarantined=tuple(self.quarantined),
            watermark=self.watermark,
            identities=tuple(self.identities),
        )
        self._clear()
        return batch
