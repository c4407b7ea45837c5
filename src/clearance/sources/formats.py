"""The ``clearance ingest --format NAME`` registry: format name → :class:`Normalizer` class.

Entries are ``module:Class`` strings, imported only when a format is used, so ``ingest --format
falco`` never imports boto3 or FalconPy, and a module that is missing (an adapter not installed,
or an optional extra absent) fails with a message naming the format and what to try.

Every registered class can be built as ``cls(source_name)``; formats that need more (the Falco
cluster, a scan time for Trivy reports that carry none) take keyword arguments documented on the
class. ``kev`` is special: its normalizer returns no signals; ingest loads the catalog with
:func:`clearance.sources.kev.catalog.load_catalog` and enriches vulnerability signals with it
(``docs/sources/kev.md``).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, cast

from clearance.errors import ConfigError
from clearance.sources.interface import Normalizer

__all__ = [
    "DOCUMENT_FORMATS",
    "FORMATS",
    "format_names",
    "make_normalizer",
    "normalizer_class",
]

FORMATS: dict[str, str] = {
    "falcon": "clearance.sources.falcon.mapping:FalconNormalizer",
    "falco": "clearance.sources.falco.normalize:FalcoNormalizer",
    "defender": "clearance.sources.defender.source:DefenderNormalizer",
    "sentinelone": "clearance.sources.sentinelone.source:SentinelOneNormalizer",
    "guardduty": "clearance.sources.guardduty.mapping:GuardDutyNormalizer",
    "wazuh": "clearance.sources.wazuh.source:WazuhNormalizer",
    "ocsf": "clearance.sources.ocsf:OcsfNormalizer",
    "trivy": "clearance.sources.trivy.report:TrivyNormalizer",
    "kev": "clearance.sources.kev.catalog:KevNormalizer",
    "epss": "clearance.sources.epss.catalog:EpssNormalizer",
    "openvex": "clearance.sources.vex.documents:VexNormalizer",
    "cyclonedx-vex": "clearance.sources.vex.documents:CycloneDxVexNormalizer",
    "alertmanager": "clearance.sources.alertmanager.mapping:AlertmanagerNormalizer",
}
# Formats that are reference documents (stored whole and applied), not findings.
DOCUMENT_FORMATS = frozenset({"kev", "epss", "openvex", "cyclonedx-vex"})


def format_names() -> tuple[str, ...]:
    return tuple(FORMATS)


def normalizer_class(name: str) -> type[Normalizer]:
    """The normalizer class for a format; :class:`ConfigError` names the problem and the fix."""
    target = FORMATS.get(name.strip().lower())
    if target is None:
        known = ", ".join(FORMATS)
        raise ConfigError(f"unknown ingest format {name!r} (one of {known})")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module_name
        raise ConfigError(
            f"ingest format {name!r} needs module {missing!r}, which cannot be imported: {exc} "
            "(tip: install Clearance with the extra for this source, e.g. clearance[aws])"
        ) from exc
    found = getattr(module, class_name, None)
    if not isinstance(found, type):
        raise ConfigError(f"ingest format {name!r}: {module_name} has no class {class_name!r}")
    declared = getattr(found, "format", None)
    if declared != name.strip().lower():
        raise ConfigError(
            f"ingest format {name!r}: {target} declares format {declared!r}, not {name!r}"
        )
    return cast("type[Normalizer]", found)


def make_normalizer(name: str, *, source: str | None = None, **options: Any) -> Normalizer:
    """A normalizer for ``clearance ingest``: ``source`` names the stored signals (default: the
    format name); ``options`` (``cluster``, ``scanned_at``, ``hostname_is_node``, …) are passed
    to formats that take them. ``None`` options are left out; an option the format does not take
    is a :class:`ConfigError`, so ``--cluster`` on a Defender export is refused, not ignored."""
    cls = normalizer_class(name)
    given = {k: v for k, v in options.items() if v is not None}
    accepted = inspect.signature(cls).parameters
    unknown = sorted(k for k in given if k not in accepted)
    if unknown:
        raise ConfigError(f"ingest format {cls.format!r} does not take {', '.join(unknown)}")
    factory = cast("Any", cls)
    return cast("Normalizer", factory(source or cls.format, **given))
