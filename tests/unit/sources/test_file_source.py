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


FIXTURES = Path(__file__).parents[2] / "fixtures"


def _create(tmp_path: Path, **settings: object) -> object:
    from clearance.sources.file import FileSourceConfig
    from clearance.validation import validate

    config = validate({"path": "data", **settings}, FileSourceConfig)
    return FileSource.create("mirror", config, base_dir=tmp_path)


def test_a_platform_export_on_disk_is_read_with_that_platforms_normalizer(
    tmp_path: Path,
) -> None:
    """Falco's file_output as a file source: the same signals `clearance ingest --format falco`
    stores, named after the source, as old as the file."""
    from clearance.sources.formats import make_normalizer

    data = (FIXTURES / "falco" / "events.syscall-k8s.falco-website.jsonl").read_bytes()
    (tmp_path / "data").write_bytes(data)
    source = _create(tmp_path, format="falco", cluster="prod-eu")
    assert isinstance(source, FileSource)
    (batch,) = list(source.fetch(None))
    expected = make_normalizer("falco", source="mirror", cluster="prod-eu").normalize(
        data, location=str(tmp_path / "data")
    )
    assert batch == expected
    assert batch.signals
    assert {s.source for s in batch.signals} == {"mirror"}
    assert not any(s.tracked for s in batch.signals)  # Falco events are never closed


def test_an_option_the_format_does_not_take_is_refused_at_load(tmp_path: Path) -> None:
    from clearance.errors import ConfigError

    with pytest.raises(ConfigError, match="does not take cluster"):
        _create(tmp_path, format="defender", cluster="prod-eu")
    with pytest.raises(ConfigError, match="not to normalized signals"):
        _create(tmp_path, cluster="prod-eu")


def test_a_mirrored_kev_catalog_is_a_document_feed_read_again_only_when_it_changed(
    tmp_path: Path,
) -> None:
    from clearance.sources.interface import Dated, DocumentFeed

    catalog = (FIXTURES / "kev" / "known_exploited_vulnerabilities.trimmed.json").read_bytes()
    (tmp_path / "data").write_bytes(catalog)
    feed = _create(tmp_path, format="kev")
    assert isinstance(feed, DocumentFeed)
    assert isinstance(feed, Dated)
    first = feed.fetch_document(None)
    assert first.body == catalog
    assert feed.fetch_document(first.validator).body is None  # unchanged: nothing to store
    (tmp_path / "data").write_bytes(catalog + b"\n")
    assert feed.fetch_document(first.validator).body == catalog + b"\n"
