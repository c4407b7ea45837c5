"""Falco events from falcosidekick's NATS output, consumed through a durable JetStream consumer.

falcosidekick publishes each event (its webhook payload, JSON) with a core NATS publish on
``falco.<priority>.<rule>``: priority lower-cased, the rule lower-cased with every run of
characters outside ``[a-z0-9]`` replaced by ``_`` (falcosidekick ``outputs/nats.go``; the
template is ``nats.subjecttemplate``). A JetStream stream capturing those subjects keeps them until
Clearance has stored them; ``create_stream`` makes one when the operator has not.

Delivery contract (``docs/sources/falco.md``):

* A pull consumer fetches up to ``batch_size`` messages; they are normalized together (so repeats
  fold) and handed to the injected ``store(batch)`` coroutine.
* Messages are acknowledged only after ``store`` returns. If it raises, every message of the fetch
  is nak'ed and JetStream redelivers it; a consumer that dies before acknowledging gets its
  messages redelivered after ``ack_wait``.
* A malformed message is not an error: it is a quarantined entry in the batch, stored like the
  signals beside it, and acknowledged with them, so it never loops.
* The cluster, which Falco does not send, comes from the subject: each ``subjects`` entry is a
  NATS filter (``falco.>``, ``prod-eu.falco.>``) with its own Falco settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from clearance.errors import SourceError
from clearance.model.signal import Signal
from clearance.sources.falco.normalize import FalcoNormalizer
from clearance.sources.falco.settings import NatsFalcoConfig, SubjectConfig
from clearance.sources.interface import Batch, Quarantined

__all__ = ["FalcoNatsConsumer", "NatsFalcoConfig", "StoreBatch", "SubjectConfig", "subject_matches"]

log = logging.getLogger(__name__)

StoreBatch = Callable[[Batch], Awaitable[None]]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for index, part in enumerate(want):
        if part == ">":
            return len(have) > index
        if index >= len(have) or part not in ("*", have[index]):
            return False
    return len(want) == len(have)


class FalcoNatsConsumer:
    """A durable pull consumer feeding ``store``. Use ``async with``, then ``run`` or
    ``poll_once`` (tests drive it one fetch at a time)."""

    def __init__(self, config: NatsFalcoConfig, store: StoreBatch, *, source: str | None = None):
        self.config = config
        self.store = store
        self.source = source or config.source
        self.normalizers = [
            (s.subject, FalcoNormalizer.from_config(self.source, s)) for s in config.subjects
        ]
        self._fallback = FalcoNormalizer(self.source)
        self._nc: Any = None
        self._sub: Any = None

    async def __aenter__(self) -> FalcoNatsConsumer:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        cfg = self.config
        try:
            # One retry, then fail: nats-py otherwise retries a server that is down for minutes
            # (forever with max_reconnect_attempts=-1) without a word. The caller
            # (clearance.sync.background) reconnects with backoff and records each failure as the
            # source's error, which the source_down stance reads.
            self._nc = await nats.connect(
                cfg.url,
                connect_timeout=cfg.connect_timeout,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.5,
                error_cb=_quiet,
            )
            js = self._nc.jetstream()
            if cfg.create_stream:
                await self._ensure_stream(js)
            await self._ensure_consumer(js)
            self._sub = await js.pull_subscribe_bind(durable=cfg.durable, stream=cfg.stream)
        except (OSError, nats.errors.Error) as exc:
            await self.close()
            raise SourceError(self.source, f"NATS {_host(cfg.url)}: {exc}") from exc

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc = self._sub = None

    async def _ensure_stream(self, js: Any) -> None:
        try:
            await js.stream_info(self.config.stream)
        except nats.js.errors.NotFoundError:
            subjects = [s.subject for s in self.config.subjects]
            await js.add_stream(name=self.config.stream, subjects=subjects)

    async def _ensure_consumer(self, js: Any) -> None:
        cfg = self.config
        try:
            await js.consumer_info(cfg.stream, cfg.durable)
        except nats.js.errors.NotFoundError:
            subjects = [s.subject for s in cfg.subjects]
            # One filter is spelled filter_subject, which servers before 2.10 also understand.
            single = subjects[0] if len(subjects) == 1 else None
            await js.add_consumer(
                cfg.stream,
                ConsumerConfig(
                    durable_name=cfg.durable,
                    ack_policy=AckPolicy.EXPLICIT,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_wait=cfg.ack_wait,
                    filter_subject=single,
                    filter_subjects=None if single else subjects,
                ),
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and store until ``stop`` is set. A failed store is logged and its messages come
        back by redelivery; the loop carries on."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except SourceError as exc:
                log.warning("%s", exc)
                await asyncio.sleep(self.config.nak_delay)

    async def poll_once(self) -> int:
        """One fetch: normalize, store, then ack (or nak if the store failed). Returns how many
        messages were handled; 0 when none arrived within ``fetch_timeout``."""
        if self._sub is None:
            raise SourceError(self.source, "the NATS consumer is not connected")
        try:
            msgs = await self._sub.fetch(self.config.batch_size, timeout=self.config.fetch_timeout)
        except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either when idle
            return 0
        except nats.errors.Error as exc:  # the connection is gone: the caller reconnects
            raise SourceError(self.source, f"NATS {_host(self.config.url)}: {exc}") from exc
        batch = self.normalize(msgs)
        try:
            await self.store(batch)
        except Exception as exc:  # whatever the store raised, nothing was stored: redeliver
            for msg in msgs:
                await msg.nak(delay=self.config.nak_delay)
            raise SourceError(
                self.source,
                f"storing {len(msgs)} NATS messages failed ({exc}); nak'ed for redelivery",
            ) from exc
        for msg in msgs:
            await msg.ack()
        await self._nc.flush()
        return len(msgs)

    def normalize(self, msgs: Sequence[Any]) -> Batch:
        """Group messages by the subject filter they match and normalize each group."""
        groups: dict[int, list[tuple[bytes, str]]] = {}
        for msg in msgs:
            index = next(
                (i for i, (p, _) in enumerate(self.normalizers) if subject_matches(p, msg.subject)),
                -1,
            )
            where = f"nats {msg.subject} #{_sequence(msg)}"
            groups.setdefault(index, []).append((msg.data, where))
        signals: list[Signal] = []
        quarantined: list[Quarantined] = []
        for index, bodies in groups.items():
            normalizer = self.normalizers[index][1] if index >= 0 else self._fallback
            batch = normalizer.normalize_many(bodies)
            signals.extend(batch.signals)
            quarantined.extend(batch.quarantined)
        return Batch(signals=tuple(signals), quarantined=tuple(quarantined))

    def skipped(self) -> dict[str, int]:
        """Events read but not findings (internal, test), by reason, since start."""
        total: dict[str, int] = {}
        for _, normalizer in [*self.normalizers, (None, self._fallback)]:
            for reason, count in normalizer.skipped.items():
                total[reason] = total.get(reason, 0) + count
        return total


async def _quiet(exc: Exception) -> None:
    """nats-py logs every connection error with a traceback; the caller reports them once."""
    log.debug("NATS: %s", exc)


def _sequence(msg: Any) -> str:
    try:
        return str(msg.metadata.sequence.stream)
    except (AttributeError, ValueError, nats.errors.Error):
        return "?"


def _host(url: str) -> str:
    """The server without credentials (``nats://user:pass@host`` must not be echoed)."""
    return url.rsplit("@", 1)[-1]
