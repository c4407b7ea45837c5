from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import signal
from clearance.errors import SourceError
from clearance.sources.file import FileSource, parse_jsonl


def good(uid: str) -> str:
    return json.dumps(signal(uid).to_dict())


def test_every_good_line_becomes_a_signal_and_round_trips() -> None:
    batch = parse_jsonl("edr", f"{good('edr:1')}\n\n{good('edr:2')}\n".encode(), "x.jsonl")
    assert [s.uid for s in batch.signals] == ["edr:1", "edr:2"]
    assert batch.signals[0] == signal("edr:1")
    assert batch.quarantined == ()


def test_bad_lines_are_quarantined_with_line_number_reason_and_digest() -> None:
    data = "\n".join([good("edr:1"), "{oops", '{"uid": "edr:2"}', good("edr:3")]).encode()
    batch = parse_jsonl("edr", data, "x.jsonl")
    assert [s.uid for s in batch.signals] == ["edr:1", "edr:3"]
    (bad_json, bad_signal) = batch.quarantined
    assert (bad_json.reason, bad_json.location) == ("invalid_json", "x.jsonl:2")
    assert (bad_signal.reason, bad_signal.location) == ("invalid_signal", "x.jsonl:3")
    assert "missing field 'assets'" in bad_signal.detail
    assert bad_json.digest.startswith("sha256:")
    assert bad_json.payload == b"{oops"


def test_a_missing_file_is_a_source_error_naming_the_source(tmp_path: Path) -> None:
    source = FileSource("edr", tmp_path / "missing.jsonl")
    with pytest.raises(SourceError, match="source 'edr': cannot read"):
        list(source.fetch(None))


def test_invalid_field_values_name_the_field() -> None:
    item = signal("edr:1").to_dict() | {"severity": 9}
    batch = parse_jsonl("edr", json.dumps(item).encode(), "x")
    assert "field 'severity'" in batch.quarantined[0].detail
    item = signal("edr:1").to_dict() | {"assets": ["hots:web-1"]}
    batch = parse_jsonl("edr", json.dumps(item).encode(), "x")
    assert "unknown asset kind 'hots'" in batch.quarantined[0].detail
