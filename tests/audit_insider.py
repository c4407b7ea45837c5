"""Someone with write access to the database, rewriting the audit log the way they would.

Plain SQL on the real tables (SQLite or PostgreSQL), with correct sha256s: an insider who read
the code can re-seal what they edit, move the head, renumber records and delete checkpoints.
None of it uses Clearance's own write path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from clearance.model.canonical import canonical_json
from clearance.store.chain import body_hash
from clearance.store.interface import GENESIS_HASH
from clearance.store.sql import SqlStore


@dataclass
class Row:
    table: str  # decisions or audit_events
    seq: int  # where it is stored now
    body: dict[str, Any]


class Insider:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def sql(self, statement: str, **params: Any) -> None:
        with self.store.db.engine.begin() as conn:
            conn.execute(text(statement), params)

    def rows(self) -> list[Row]:
        found: list[Row] = []
        with self.store.db.engine.connect() as conn:
            for table in ("decisions", "audit_events"):
                for seq, record in conn.execute(text(f"SELECT seq, record FROM {table}")):
                    found.append(Row(table, int(seq), json.loads(record)))
        return sorted(found, key=lambda r: r.seq)

    def reseal(self, rows: list[Row]) -> None:
        """Store ``rows`` as the whole chain, in this order: numbered 1.., each linked to the
        one before and hashed, the head moved to the last. Rows left out are deleted."""
        kept = {(r.table, r.seq) for r in rows}
        with self.store.db.engine.begin() as conn:
            for old in self.rows():
                if (old.table, old.seq) not in kept:
                    conn.execute(text(f"DELETE FROM {old.table} WHERE seq = :s"), {"s": old.seq})
            for table in ("decisions", "audit_events"):  # out of the way of the new numbers
                conn.execute(text(f"UPDATE {table} SET seq = -seq - 1000000"))
            prev = GENESIS_HASH
            for number, row in enumerate(rows, start=1):
                body = {**row.body, "seq": number, "prev_hash": prev}
                digest = body_hash(canonical_json(body))
                extra = ", verdict = :verdict" if row.table == "decisions" else ""
                params: dict[str, Any] = {
                    "seq": number,
                    "prev": prev,
                    "hash": digest,
                    "record": canonical_json(body).decode(),
                    "old": -row.seq - 1000000,
                }
                if row.table == "decisions":
                    params["verdict"] = body["decision"]["verdict"]
                conn.execute(
                    text(
                        f"UPDATE {row.table} SET seq = :seq, prev_hash = :prev, hash = :hash, "
                        f"record = :record{extra} WHERE seq = :old"
                    ),
                    params,
                )
                prev = digest
            conn.execute(
                text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                {"seq": len(rows), "hash": prev},
            )

    def truncate(self, keep: int, *, checkpoints_too: bool = True) -> None:
        """Delete every record after seq ``keep`` and move the head back onto it."""
        last = next(r for r in self.rows() if r.seq == keep)
        digest = body_hash(canonical_json(last.body))
        self.sql("DELETE FROM decisions WHERE seq > :k", k=keep)
        self.sql("DELETE FROM audit_events WHERE seq > :k", k=keep)
        self.sql("UPDATE audit_head SET seq = :k, hash = :h WHERE id = 1", k=keep, h=digest)
        if checkpoints_too:
            self.sql("DELETE FROM audit_checkpoints WHERE seq > :k", k=keep)
