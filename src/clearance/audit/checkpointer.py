"""Writing signed checkpoints: on demand, or by the service every N records or T seconds.

Before signing, the checkpointer checks that the chain still runs from the previous checkpoint
to the head (each record's ``prev_hash`` the previous one's ``hash``, and the record at the
previous checkpoint's seq still hashing to what it signed). A log rewritten before the previous
checkpoint is therefore never signed again: the checkpointer refuses, and says so. The
unanchored window is what was appended since the last checkpoint; ``every`` and ``interval``
bound it.

A checkpoint goes to the database first, then to the external copy (:class:`Mirror`). The
service writes one at start, at each due time (even with no new record, so that a missing newer
checkpoint means something: see ``audit verify --max-checkpoint-age``) and at a clean stop.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from clearance.audit.checkpoints import Mirror, statement
from clearance.audit.signing import Signer
from clearance.errors import CheckpointError, ClearanceError
from clearance.model.signal import utc
from clearance.store.interface import AuditLog, Checkpoint

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Checkpointer:
    def __init__(
        self,
        log: AuditLog,
        signer: Signer,
        *,
        every: int = 1000,
        interval: timedelta = timedelta(minutes=5),
        mirror: Mirror | None = None,
    ) -> None:
        self.log = log
        self.signer = signer
        self.every = every
        self.interval = interval
        self.mirror = mirror

    def due(self, now: datetime) -> bool:
        """No checkpoint yet, ``every`` records since the last, or ``interval`` elapsed."""
        last = self.log.latest_checkpoint()
        if last is None:
            return True
        head_seq, _ = self.log.chain_head()
        return head_seq - last.seq >= self.every or utc(now) - utc(last.at) >= self.interval

    def moved(self) -> bool:
        """No checkpoint yet, or the head is not the one the last checkpoint signed."""
        last = self.log.latest_checkpoint()
        return last is None or self.log.chain_head() != (last.seq, last.head_hash)

    def write(self, now: datetime) -> Checkpoint:
        """Sign the current head, store it, mirror it; CheckpointError if the chain no longer
        runs from the previous checkpoint (or the mirror cannot be written, after storing)."""
        head_seq, head_hash = self.log.chain_head()
        self._check_continuity(head_seq, head_hash)
        at = utc(now)
        signature = self.signer.sign(statement(head_seq, head_hash, at, self.signer.key_id))
        checkpoint = Checkpoint(
            seq=head_seq,
            head_hash=head_hash,
            at=at,
            key_id=self.signer.key_id,
            signature=base64.b64encode(signature).decode("ascii"),
        )
        self.log.add_checkpoint(checkpoint)
        if self.mirror is not None:
            self.mirror.write(checkpoint)
        return checkpoint

    def _check_continuity(self, head_seq: int, head_hash: str) -> None:
        last = self.log.latest_checkpoint()
        if last is None:
            return  # the first checkpoint anchors whatever is there: trust on first use
        if head_seq < last.seq:
            raise CheckpointError(
                f"refusing to sign: the chain head is at seq {head_seq}, before the last "
                f"checkpoint's seq {last.seq} (records were deleted); run `clearance audit "
                "verify` to see what broke"
            )
        prev, expected = last.head_hash, last.seq + 1
        for seq, prev_hash, digest in self.log.chain_links(max(last.seq - 1, 0), head_seq):
            if seq == last.seq:
                if digest != last.head_hash:
                    raise self._broken(seq, "it no longer hashes to what was signed")
                continue
            if seq != expected:
                raise self._broken(seq, f"seq {expected} is missing before it")
            if prev_hash != prev:
                raise self._broken(seq, "its prev_hash is not the previous record's hash")
            prev, expected = digest, seq + 1
        if prev != head_hash:
            raise self._broken(head_seq, "the head does not follow from the last checkpoint")

    @staticmethod
    def _broken(seq: int, why: str) -> CheckpointError:
        return CheckpointError(
            f"refusing to sign: the record at seq {seq} breaks the chain since the last "
            f"checkpoint ({why}); run `clearance audit verify` to see what broke"
        )


class CheckpointThread:
    """Runs a :class:`Checkpointer` in the background: polls at most once a second, writes when
    due; a failure is logged (and retried at the next poll), never raised into the service."""

    def __init__(self, checkpointer: Checkpointer, clock: Clock, poll: float = 1.0) -> None:
        self.checkpointer = checkpointer
        self.clock = clock
        self.poll = min(poll, max(checkpointer.interval.total_seconds(), 0.05))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self.written = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; write a last checkpoint when records came since the last one."""
        self._stop.set()
        self._thread.join(timeout)
        try:
            if self.checkpointer.moved():
                self._write()
        except ClearanceError as exc:
            logger.error("audit checkpoint at stop failed: %s", exc)

    def _run(self) -> None:
        starting = True  # at start, anchor what the service found (and check it still chains)
        while True:
            try:
                if (starting and self.checkpointer.moved()) or self.checkpointer.due(self.clock()):
                    self._write()
            except ClearanceError as exc:
                if str(exc) != self.last_error:  # once per distinct failure, not every poll
                    logger.error("audit checkpoint failed: %s", exc)
                self.last_error = str(exc)
            starting = False
            if self._stop.wait(self.poll):
                return

    def _write(self) -> None:
        checkpoint = self.checkpointer.write(self.clock())
        self.written += 1
        self.last_error = None
        logger.info("audit checkpoint: seq %d signed by %s", checkpoint.seq, checkpoint.key_id)
