"""Checking the chain against its signed checkpoints while ``verify`` walks it.

Feed :meth:`Anchoring.see` every ``(seq, hash)`` in order (seq 0 is the genesis hash), then
:meth:`Anchoring.finish`. A checkpoint counts once its signature verifies with a given public key;
without keys the stored checkpoints are still compared (an edit someone forgot to cover shows),
and the result notes that their signatures were not checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from clearance.audit.checkpoints import signature_of, signed_bytes
from clearance.audit.findings import Break, BrokenRecord
from clearance.audit.signing import PublicKeys
from clearance.model.signal import format_time, utc
from clearance.store.interface import Checkpoint


@dataclass(frozen=True, slots=True)
class Anchors:
    """What ``verify`` checks the chain against, beyond the chain itself.

    ``external`` is the copy kept outside the database; ``max_age`` how old the latest
    checkpoint may be (the service's interval plus slack) before a missing newer one is reported
    as a possible truncation; it needs ``now``.
    """

    keys: PublicKeys | None = None
    external: tuple[Checkpoint, ...] = ()
    external_problems: tuple[str, ...] = ()
    max_age: timedelta | None = None
    now: datetime | None = None


def _identity(c: Checkpoint) -> tuple[int, str, str, str, str]:
    return (c.seq, c.head_hash, format_time(utc(c.at)), c.key_id, c.signature)


def _name(c: Checkpoint) -> str:
    return f"the checkpoint of seq {c.seq} signed {format_time(utc(c.at))} by {c.key_id}"


class Anchoring:
    """``stored`` are the database's checkpoints; None when there is no database (an export):
    then the external copy is all there is, and nothing can have been deleted from it."""

    def __init__(self, stored: Sequence[Checkpoint] | None, anchors: Anchors) -> None:
        self.anchors = anchors
        self.problems: list[BrokenRecord] = [
            BrokenRecord(None, None, Break.CHECKPOINT, f"external copy: {p}")
            for p in anchors.external_problems
        ]
        self.notes: list[str] = []
        self.valid: list[Checkpoint] = []
        in_db = None if stored is None else {_identity(c) for c in stored}
        stored = stored or ()
        seen: set[tuple[int, str, str, str, str]] = set()
        for checkpoint, external in [(c, False) for c in stored] + [
            (c, True) for c in anchors.external
        ]:
            if _identity(checkpoint) in seen or not self._signed(checkpoint, external):
                continue
            seen.add(_identity(checkpoint))
            self.valid.append(checkpoint)
            if external and in_db is not None and _identity(checkpoint) not in in_db:
                self.problems.append(
                    BrokenRecord(
                        checkpoint.seq,
                        None,
                        Break.TRUNCATED,
                        f"{_name(checkpoint)} is in the external copy but not in the database: "
                        "it was deleted there",
                    )
                )
        self._pending: dict[int, list[Checkpoint]] = defaultdict(list)
        for checkpoint in self.valid:
            self._pending[checkpoint.seq].append(checkpoint)
        self.matched = 0
        self.last_matched: Checkpoint | None = None
        if stored and anchors.keys is None:
            self.notes.append(
                f"{_count(len(stored))} in the database compared, signatures not checked: "
                "pass --public-key"
            )

    def _signed(self, checkpoint: Checkpoint, external: bool) -> bool:
        keys = self.anchors.keys
        if keys is None:
            return True
        signature = signature_of(checkpoint)
        wrong = (
            "its signature is not base64"
            if signature is None
            else keys.check(checkpoint.key_id, signed_bytes(checkpoint), signature)
        )
        if wrong is None:
            return True
        where = "in the external copy" if external else "in the database"
        detail = f"{_name(checkpoint)} {where}: {wrong}"
        self.problems.append(BrokenRecord(checkpoint.seq, None, Break.CHECKPOINT, detail))
        return False

    def see(self, seq: int, digest: str) -> None:
        for checkpoint in self._pending.pop(seq, ()):
            if checkpoint.head_hash == digest:
                self.matched += 1
                if self.last_matched is None or checkpoint.seq >= self.last_matched.seq:
                    self.last_matched = checkpoint
                continue
            since = 0 if self.last_matched is None else self.last_matched.seq
            self.problems.append(
                BrokenRecord(
                    seq,
                    None,
                    Break.RESEALED,
                    f"{_name(checkpoint)} says the head there was {checkpoint.head_hash[:12]}…, "
                    f"but the record at seq {seq} hashes to {digest[:12]}…: the log between "
                    f"seq {since + 1} and {seq} was rewritten and sealed again",
                )
            )

    def finish(self, last_seq: int, walked_to_end: bool) -> None:
        """After the walk: checkpoints past the end, the age of the latest, what is unanchored."""
        if walked_to_end:
            for seq in sorted(s for s in self._pending if s > last_seq):
                for checkpoint in self._pending[seq]:
                    self.problems.append(
                        BrokenRecord(
                            last_seq + 1,
                            None,
                            Break.TRUNCATED,
                            f"{_name(checkpoint)} says the log reached seq {seq}, but it ends "
                            f"at seq {last_seq}: records {last_seq + 1}..{seq} were deleted "
                            "and the head moved back",
                        )
                    )
        self._check_age()
        if self.anchors.keys is not None and not self.valid and last_seq > 0:
            self.problems.append(
                BrokenRecord(
                    None,
                    None,
                    Break.UNANCHORED,
                    f"no checkpoint signed by the given key(s) covers the log ({last_seq} "
                    "records): its head could have been rewritten; is the service configured "
                    "with server.audit.signing_key?",
                )
            )
        if self.last_matched is not None:
            c = self.last_matched
            tail = last_seq - c.seq
            self.notes.append(
                f"{_count(self.matched)} {'matches' if self.matched == 1 else 'match'}; "
                f"the latest covers seq {c.seq} "
                f"(signed {format_time(utc(c.at))} by {c.key_id})"
                + (f"; {tail} records after it are not anchored yet" if tail > 0 else "")
            )

    def _check_age(self) -> None:
        max_age, now = self.anchors.max_age, self.anchors.now
        if max_age is None or now is None:
            return
        latest = max(self.valid, key=lambda c: utc(c.at), default=None)
        if latest is None:
            return
        age = utc(now) - utc(latest.at)
        if age > max_age:
            self.problems.append(
                BrokenRecord(
                    latest.seq,
                    None,
                    Break.STALE,
                    f"the latest checkpoint (seq {latest.seq}, signed "
                    f"{format_time(utc(latest.at))}) is {_duration(age)} old, more than the "
                    f"{_duration(max_age)} allowed: records after it may have been deleted "
                    "together with their checkpoints (possible truncation), unless the "
                    "service was stopped",
                )
            )


def _count(n: int) -> str:
    return f"{n} checkpoint" + ("" if n == 1 else "s")


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
