"""Decision records stored with their repeating parts apart, put back together on every read.

A record's body is the canonical JSON that was hashed (:mod:`clearance.store.chain`). Most of it
is the snapshot's exposed assets and the signals it matched, and those are the same bytes from one
decision of a target to the next while neither changes (for a 200-asset target, ~27 KiB of a
~35 KiB record). So the ``record`` column holds the body with each such *part* replaced by a
reference — ``\\x01`` + the sha256 (hex) of the part's bytes + ``\\x01`` — and the part itself is
kept once in ``record_parts`` under that digest (migration 0017). (Until the digests were kept
with the parts, the whole exposure member was the part: those records read the same way.)

Why a control character: canonical JSON escapes every control character inside strings and
writes none outside them, so U+0001 never occurs in a body and a reference cannot be mistaken
for content. Records stored before 0017 hold none and read as they are.

Reads put every part back before anything parses or hashes the body, so the record returned,
exported, replayed and verified is the body that was sealed, byte for byte. A part whose text no
longer hashes to its digest (edited in the database) is *not* put back: its reference stays,
and ``audit verify`` names the record (:func:`missing`) instead of a body quietly changed.
Reads keep the last parts they verified (content under its own hash never changes); ``audit
verify`` and export read every part from the database.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from clearance.model.canonical import Repeating

if TYPE_CHECKING:  # the pure functions serve `audit verify` on an export, without SQLAlchemy
    from sqlalchemy.engine import Connection

MARK = "\x01"
_MARK = MARK.encode()
MIN_PART = 1024  # bytes: a smaller part stays in the body (its reference and lookup cost more)


def stored_pieces(
    pieces: Iterable[bytes | Repeating], min_part: int = MIN_PART
) -> tuple[bytes, dict[str, bytes]]:
    """The text to store for the bytes ``pieces`` stand for: each repeating piece (at least
    ``min_part`` bytes) replaced by its reference; and those parts by digest. The writer knows
    where the parts are and their digests (hashed once per kept object), so the sealed body is
    neither searched nor hashed again."""
    out: list[bytes] = []
    parts: dict[str, bytes] = {}
    for piece in pieces:
        if isinstance(piece, bytes):
            out.append(piece)
        elif len(piece.data) < min_part:
            out.append(piece.data)
        else:
            out += [_MARK, piece.digest.encode(), _MARK]
            parts[piece.digest] = piece.data
    return b"".join(out), parts


def references(text: str) -> list[str]:
    """The digests ``text`` refers to, in order."""
    return text.split(MARK)[1::2] if MARK in text else []


def joined(text: str, parts: Mapping[str, str]) -> str:
    """``text`` with each reference replaced by its part; one not in ``parts`` stays."""
    if MARK not in text:
        return text
    pieces = text.split(MARK)
    for i in range(1, len(pieces), 2):
        found = parts.get(pieces[i])
        pieces[i] = found if found is not None else MARK + pieces[i] + MARK
    return "".join(pieces)


def missing(text: str) -> list[str]:
    """The references left in a read record: parts absent from the database or altered."""
    return references(text)


def fetch(conn: Connection, digests: Iterable[str]) -> dict[str, str]:
    """The parts named, those whose text still hashes to its digest."""
    from sqlalchemy import select  # noqa: PLC0415

    from clearance.store import tables as t  # noqa: PLC0415

    wanted = sorted(set(digests))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):  # bounded IN lists
        rows = conn.execute(
            select(t.record_parts.c.digest, t.record_parts.c.text).where(
                t.record_parts.c.digest.in_(wanted[start : start + 500])
            )
        )
        for digest, text in rows:
            if hashlib.sha256(text.encode("utf-8")).hexdigest() == digest:
                found[digest] = text
    return found


class _Verified:
    """Parts read and verified (their text hashes to their digest), for the reads that repeat
    (a target's last decision, the console's pages): content under its own hash never changes,
    so a kept part is the part. ``audit verify`` reads around it, from the database every time."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._parts: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, digests: Iterable[str]) -> dict[str, str]:
        wanted = set(digests)
        found = {d: self._parts[d] for d in wanted if d in self._parts}
        if len(found) < len(wanted):
            fetched = fetch(conn, wanted - found.keys())
            with self._lock:
                for digest, text in fetched.items():
                    if len(self._parts) >= self._size:
                        del self._parts[next(iter(self._parts))]  # the oldest
                    self._parts[digest] = text
            found |= fetched
        return found


_VERIFIED = _Verified()


def expand(conn: Connection, texts: Sequence[str], *, kept: bool = True) -> list[str]:
    """Each stored record text with its parts put back (one query for all of them; parts read
    and verified before are taken as kept unless ``kept`` is False)."""
    wanted = [d for text in texts for d in references(text)]
    if not wanted:
        return list(texts)
    parts = _VERIFIED.get(conn, wanted) if kept else fetch(conn, wanted)
    return [joined(text, parts) for text in texts]


def expand_rows(
    conn: Connection, rows: Sequence[Any], column: str = "record", *, kept: bool = True
) -> list[str]:
    """:func:`expand` over the ``column`` of result rows."""
    return expand(conn, [getattr(row, column) for row in rows], kept=kept)
