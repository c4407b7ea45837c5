"""Export streams the log as JSON Lines; redactions are listed; unredacted records re-verify."""

from __future__ import annotations

import json
from datetime import timedelta

from builders import NOW
from clearance.audit.export import export, verify_export
from clearance.audit.verify import Break, BrokenRecord
from clearance.model import canonical_json
from clearance.store.chain import body_hash
from clearance.store.sql import SqlStore
from store_samples import append, sample


def test_export_streams_every_record_in_chain_order(store: SqlStore) -> None:
    records = [append(store, sample(i)) for i in range(3)]
    lines = list(export(store))
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == [1, 2, 3]
    for event, record in zip(events, records, strict=True):
        assert event["decision_id"] == record.decision_id
        assert event["timestamp"] == event["at"]
        assert event["redacted"] == []
        body = {k: v for k, v in event.items() if k not in ("hash", "timestamp", "redacted")}
        assert body_hash(canonical_json(body)) == event["hash"] == record.hash


def test_export_since_skips_older_records(store: SqlStore) -> None:
    for i in range(4):
        append(store, sample(i * 60))  # a minute apart
    events = [json.loads(line) for line in export(store, since=NOW + timedelta(minutes=2))]
    assert [e["seq"] for e in events] == [3, 4]


def test_redacted_paths_are_removed_and_listed(store: SqlStore) -> None:
    append(store, sample(0))
    (line,) = export(store, redact=("caller.subject", "snapshot.matches.signal.title", "x.y"))
    event = json.loads(line)
    assert event["redacted"] == ["caller.subject", "snapshot.matches.signal.title"]
    assert "subject" not in event["caller"]
    assert all("title" not in m["signal"] for m in event["snapshot"]["matches"])
    assert "dev@example.com" not in json.dumps(event["caller"])
    # the stored record is untouched by an export's redaction
    assert store.get_decision(event["decision_id"]).caller["subject"] == "dev@example.com"


def test_an_unredacted_export_verifies_offline_and_names_tampering(store: SqlStore) -> None:
    for i in range(4):
        append(store, sample(i))
    lines = list(export(store))
    intact = verify_export(lines)
    assert (intact.ok, intact.records, intact.head_seq) == (True, 4, 4)

    edited = [*lines]
    edited[1] = edited[1].replace('"verdict":"block"', '"verdict":"proceed"')
    assert (verify_export(edited).broken or _none()).kind is Break.EDITED

    dropped = lines[:2] + lines[3:]
    broken = verify_export(dropped).broken or _none()
    assert (broken.seq, broken.kind) == (4, Break.DELETED)

    swapped = [lines[0], lines[2], lines[1], lines[3]]
    assert (verify_export(swapped).broken or _none()).kind is Break.DELETED  # 3 where 2 was due

    redacted = list(export(store, redact=("caller.subject",)))
    assert (verify_export(redacted).broken or _none()).kind is Break.REDACTED


def test_an_export_since_a_time_is_anchored_on_its_first_record(store: SqlStore) -> None:
    records = [append(store, sample(i * 60)) for i in range(4)]
    result = verify_export(export(store, since=NOW + timedelta(minutes=2)))
    assert (result.ok, result.records) == (True, 2)
    assert result.head_hash == records[-1].hash


def _none() -> BrokenRecord:
    raise AssertionError("expected a broken record")
