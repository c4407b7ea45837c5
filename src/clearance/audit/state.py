"""The state the chain says each approval, exception, grant, token and policy must have.

Every trust record holds its row's whole state after the change (``clearance.store.events``);
the latest record of an object is therefore what its row must look like now. ``verify`` feeds
each record to a :class:`Ledger` as it walks, then compares the ledger with the tables read in
one snapshot: a rewritten approver, a deleted grant, a token whose ``revoked_at`` was set back to
NULL, a row inserted by hand, each is named with the record that disagrees.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clearance.audit.findings import Break, BrokenRecord
from clearance.model.canonical import canonical_json
from clearance.store.interface import TrustRow

_LABELS = {
    "approval": "approval",
    "exception": "exception",
    "break_glass": "break-glass grant",
    "token": "token",
    "policy": "policy",
}


@dataclass(frozen=True, slots=True)
class _Recorded:
    seq: int
    kind: str
    state: Mapping[str, Any]


class Ledger:
    """The latest recorded state of each object, from records with seq <= ``upto``."""

    def __init__(self, upto: int) -> None:
        self.upto = upto
        self.states: dict[tuple[str, str], _Recorded] = {}
        self.decision_policies: set[str] = set()  # digests a decision record names

    def add_record(self, seq: int, body: Mapping[str, Any]) -> None:
        if seq > self.upto:
            return
        state = body.get("state")
        if isinstance(state, dict):
            key = (str(body.get("object")), str(body.get("id")))
            self.states[key] = _Recorded(seq, str(body.get("kind")), state)

    def add_decision(self, policy_digest: str) -> None:
        self.decision_policies.add(policy_digest)

    def compare(self, rows: Iterable[TrustRow]) -> list[BrokenRecord]:
        problems: list[BrokenRecord] = []
        in_tables: set[tuple[str, str]] = set()
        for row in rows:
            key = (row.object, row.id)
            in_tables.add(key)
            table_state = json.loads(canonical_json(dict(row.state)))  # the JSON a record holds
            if row.object == "policy":
                problems.extend(_policy_bytes(row.id, table_state))
            recorded = self.states.get(key)
            if recorded is None:
                if row.object == "policy" and row.id in self.decision_policies:
                    continue  # stored with the decision that names it, in its transaction
                problems.append(
                    BrokenRecord(
                        None,
                        row.id,
                        Break.UNRECORDED,
                        f"{_LABELS.get(row.object, row.object)} {row.id} is in the table, but "
                        "no record in the chain holds it (written outside Clearance)",
                    )
                )
                continue
            differences = _differences(table_state, recorded.state)
            if differences:
                label = _LABELS.get(row.object, row.object)
                problems.append(
                    BrokenRecord(
                        recorded.seq,
                        row.id,
                        Break.MISMATCH,
                        f"{label} {row.id} "
                        + "; ".join(
                            f"{name} is {_show(now)} in the table, {_show(then)} in the record "
                            f"at seq {recorded.seq}{_hint(row.object, name, now, then)}"
                            for name, now, then in differences
                        ),
                    )
                )
        for (obj, object_id), recorded in sorted(self.states.items()):
            if (obj, object_id) not in in_tables:
                problems.append(
                    BrokenRecord(
                        recorded.seq,
                        object_id,
                        Break.MISSING,
                        f"{_LABELS.get(obj, obj)} {object_id} is in the record at seq "
                        f"{recorded.seq} ({recorded.kind}) but not in its table: it was deleted",
                    )
                )
        return problems


def _differences(
    table: Mapping[str, Any], recorded: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    names = sorted(set(table) | set(recorded))
    return [(n, table.get(n), recorded.get(n)) for n in names if table.get(n) != recorded.get(n)]


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value if len(value) <= 80 else value[:77] + "...")
    return json.dumps(value, ensure_ascii=False)


def _hint(obj: str, name: str, now: Any, then: Any) -> str:
    if name == "revoked_at" and now is None and then is not None:
        return f" (a revoked {_LABELS.get(obj, obj)} was re-enabled)"
    if name == "hash_fingerprint":
        return " (the token's secret was replaced)"
    return ""


def _policy_bytes(digest: str, state: Mapping[str, Any]) -> list[BrokenRecord]:
    """A stored policy's bytes must hash to its digest (replay reloads exactly these)."""
    text = state.get("text")
    if isinstance(text, str):
        raw = text.encode("utf-8")
    elif isinstance(text, dict) and isinstance(text.get("base64"), str):
        raw = base64.b64decode(text["base64"])
    else:
        raw = b""
    actual = "sha256:" + hashlib.sha256(raw).hexdigest()
    if actual == digest:
        return []
    return [
        BrokenRecord(
            None,
            digest,
            Break.MISMATCH,
            f"policy {digest}: the stored bytes hash to {actual}, not to their digest",
        )
    ]
