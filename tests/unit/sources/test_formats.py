"""The ``clearance ingest --format`` registry."""

from __future__ import annotations

import sys
import types

import pytest

from clearance.errors import ConfigError
from clearance.sources import formats
from clearance.sources.falco.normalize import FalcoNormalizer
from clearance.sources.interface import Batch

ISSUE_FORMATS = (
    "falcon",
    "falco",
    "defender",
    "sentinelone",
    "guardduty",
    "wazuh",
    "ocsf",
    "trivy",
    "kev",
    "epss",
    "openvex",
    "cyclonedx-vex",
    "alertmanager",
)


def test_every_format_the_cli_promises_is_registered() -> None:
    assert formats.format_names() == ISSUE_FORMATS


@pytest.mark.parametrize("name", ISSUE_FORMATS)
def test_each_format_builds_a_normalizer_that_reads_an_empty_body(name: str) -> None:
    cls = formats.normalizer_class(name)
    assert cls.format == name
    normalizer = cls(name)  # type: ignore[call-arg]
    batch = normalizer.normalize(b"", location="empty")
    assert isinstance(batch, Batch)
    assert batch.signals == ()


def test_names_are_case_insensitive() -> None:
    assert formats.normalizer_class(" Falco ") is FalcoNormalizer


def test_an_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown ingest format 'splunk' \(one of falcon, falco"):
        formats.normalizer_class("splunk")


def test_a_missing_module_fails_with_the_format_and_a_tip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        formats.FORMATS, "acme", "clearance.sources.acme_not_installed:AcmeNormalizer"
    )
    with pytest.raises(ConfigError, match=r"ingest format 'acme' needs module .*tip: install"):
        formats.normalizer_class("acme")


def test_a_module_without_the_class_or_with_another_format_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("clearance_fake_format")
    fake.Wrong = type("Wrong", (), {"format": "other"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "clearance_fake_format", fake)
    monkeypatch.setitem(formats.FORMATS, "fake", "clearance_fake_format:Missing")
    with pytest.raises(ConfigError, match="has no class 'Missing'"):
        formats.normalizer_class("fake")
    monkeypatch.setitem(formats.FORMATS, "fake", "clearance_fake_format:Wrong")
    with pytest.raises(ConfigError, match="declares format 'other'"):
        formats.normalizer_class("fake")


def test_make_normalizer_passes_the_options_a_format_takes() -> None:
    falco = formats.make_normalizer("falco", source="falco-eu", cluster="eu", scanned_at=None)
    assert isinstance(falco, FalcoNormalizer)
    assert (falco.source, falco.cluster) == ("falco-eu", "eu")
    wazuh = formats.make_normalizer("wazuh")
    assert wazuh.format == "wazuh"


def test_make_normalizer_refuses_an_option_the_format_does_not_take() -> None:
    with pytest.raises(ConfigError, match="'defender' does not take cluster"):
        formats.make_normalizer("defender", cluster="eu")
