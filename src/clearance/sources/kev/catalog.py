"""CISA Known Exploited Vulnerabilities: the catalog, and the signals it adds to image scans.

A CVE in CISA's KEV catalog has been exploited in the wild, so in an image a target runs it is
a different risk from a scanner finding: :func:`enrich` emits, beside each vulnerability signal
whose CVE is listed, a distinct ``known_exploited`` signal on the same assets (reference §0, §8):

* uid ``kev:<image digest, else repo:tag>:<CVE>`` (one per image and CVE, whichever scanner
  reported it); rule = the CVE, so suppressions and exceptions name it the same way;
* severity raised to at least High, Critical when ``knownRansomwareCampaignUse`` is ``Known``;
  confidence 1.0 (exploitation is confirmed); status and times follow the vulnerability signal;
* the title names the CVE, KEV's ``vulnerabilityName`` and the remediation ``dueDate``.

The catalog is data, not findings: ``clearance ingest --format kev FILE`` loads it with
:func:`load_catalog` (see ``docs/sources/kev.md`` for how ingest and sync use it), and
:class:`KevNormalizer` exists so the format is registered like the others; its batch holds only
quarantined entries. Entries missing a required field are quarantined, their neighbours kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from clearance.errors import SourceError
from clearance.model.assets import AssetKind, AssetRef, parse_image
from clearance.model.signal import Severity, Signal, SignalKind, SignalUid
from clearance.sources._mapping import canonical_bytes, parse_json
from clearance.sources.interface import Batch, Quarantined, payload_digest

__all__ = ["KevCatalog", "KevEntry", "KevNormalizer", "enrich", "load_catalog"]

_CVE = re.compile(r"^CVE-\d{4}-\d{4,19}$")
# Required by known_exploited_vulnerabilities_schema.json (tests/fixtures/kev/).
_REQUIRED = (
    "cveID",
    "vendorProject",
    "product",
    "vulnerabilityName",
    "dateAdded",
    "shortDescription",
    "requiredAction",
    "dueDate",
)
_TITLE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class KevEntry:
    cve: str
    vendor_project: str
    product: str
    name: str
    date_added: date
    due_date: date
    ransomware: bool
    required_action: str
    digest: str


@dataclass(frozen=True, slots=True)
class KevCatalog:
    version: str
    released: str
    entries: dict[str, KevEntry] = field(default_factory=dict)
    quarantined: tuple[Quarantined, ...] = ()

    def get(self, cve: str) -> KevEntry | None:
        return self.entries.get(cve.strip().upper())


def load_catalog(data: bytes, *, source: str = "kev", location: str = "") -> KevCatalog:
    """Parse ``known_exploited_vulnerabilities.json``. A body that is not a catalog at all raises
    :class:`SourceError`; a bad entry is quarantined with its index and reason."""
    where = location or "catalog"
    try:
        doc = _document(data)
    except ValueError as exc:
        raise SourceError(source, f"{where}: {exc}") from exc
    entries: dict[str, KevEntry] = {}
    bad: list[Quarantined] = []
    for index, item in enumerate(doc["vulnerabilities"]):
        raw = canonical_bytes(item)
        problem = _problem(item)
        if problem is not None:
            reason, detail = problem
            at = f"{where}: vulnerabilities[{index}]"
            bad.append(Quarantined(source, reason, detail, payload_digest(raw), at, raw))
            continue
        entry = _entry(item, payload_digest(raw))
        entries[entry.cve] = entry
    return KevCatalog(
        version=str(doc.get("catalogVersion") or ""),
        released=str(doc.get("dateReleased") or ""),
        entries=entries,
        quarantined=tuple(bad),
    )


def _document(data: bytes) -> dict[str, Any]:
    try:
        doc = parse_json(data)
    except ValueError as exc:
        raise ValueError(f"the KEV catalog is not JSON ({str(exc)[:120]})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise ValueError("not a KEV catalog: no 'vulnerabilities' list (tip: use the JSON feed)")
    return doc


def _problem(item: Any) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return "invalid_item", f"expected an object, got {type(item).__name__}"
    for name in _REQUIRED:
        if not isinstance(item.get(name), str) or not item[name].strip():
            return "missing_field", f"field {name!r} is missing or not a string"
    if not _CVE.match(item["cveID"].strip().upper()):
        return "invalid_value", f"cveID {item['cveID']!r} is not CVE-YYYY-NNNN"
    for name in ("dateAdded", "dueDate"):
        try:
            date.fromisoformat(item[name].strip())
        except ValueError:
            return "invalid_value", f"field {name!r}: {item[name]!r} is not a YYYY-MM-DD date"
    return None


def _entry(item: dict[str, Any], digest: str) -> KevEntry:
    return KevEntry(
        cve=item["cveID"].strip().upper(),
        vendor_project=item["vendorProject"].strip(),
        product=item["product"].strip(),
        name=item["vulnerabilityName"].strip(),
        date_added=date.fromisoformat(item["dateAdded"].strip()),
        due_date=date.fromisoformat(item["dueDate"].strip()),
        ransomware=str(item.get("knownRansomwareCampaignUse", "")).strip().lower() == "known",
        required_action=item["requiredAction"].strip(),
        digest=digest,
    )


def enrich(signals: Iterable[Signal], catalog: KevCatalog, *, source: str = "kev") -> list[Signal]:
    """The ``known_exploited`` signals the catalog adds to these vulnerability signals (pure).

    Signals of other kinds, and vulnerabilities whose CVE (their ``rule``) is not listed or that
    name no image, add nothing. Two scanners reporting one CVE on one image give one signal
    whose assets are the union of theirs.
    """
    found: dict[str, Signal] = {}
    for signal in signals:
        if signal.kind is not SignalKind.VULNERABILITY or signal.rule is None:
            continue
        entry = catalog.get(signal.rule)
        image = next((a for a in signal.assets if a.kind is AssetKind.IMAGE), None)
        if entry is None or image is None:
            continue
        made = _known_exploited(signal, entry, image, source)
        kept = found.get(made.uid)
        found[made.uid] = made if kept is None else _merged(kept, made)
    return list(found.values())


def _known_exploited(signal: Signal, entry: KevEntry, image: AssetRef, source: str) -> Signal:
    parsed = parse_image(image.value)
    key = parsed.digest or f"{parsed.repository}:{parsed.tag}"
    floor = Severity.CRITICAL if entry.ransomware else Severity.HIGH
    title = f"{entry.cve} is known exploited (CISA KEV): {entry.name}"
    if entry.ransomware:
        title += "; used in ransomware campaigns"
    title += f"; CISA remediation due {entry.due_date.isoformat()}"
    return Signal(
        uid=SignalUid(f"{source}:{key}:{entry.cve}"),
        source=source,
        kind=SignalKind.KNOWN_EXPLOITED,
        title=title[:_TITLE_LIMIT],
        severity=max(signal.severity, floor),
        confidence=1.0,
        status=signal.status,
        first_seen=signal.first_seen,
        last_seen=signal.last_seen,
        assets=signal.assets,
        rule=entry.cve,
        url=signal.url,
        raw_digest=entry.digest,
        # What the scanner and EPSS know of the CVE holds for its known-exploited twin too.
        epss=signal.epss,
        epss_percentile=signal.epss_percentile,
        fix_available=signal.fix_available,
        cvss_vector=signal.cvss_vector,
        vex=signal.vex,
    )


def _merged(a: Signal, b: Signal) -> Signal:
    newer = b if b.last_seen >= a.last_seen else a
    return Signal(
        uid=newer.uid,
        source=newer.source,
        kind=newer.kind,
        title=newer.title,
        severity=max(a.severity, b.severity),
        confidence=1.0,
        status=newer.status,
        first_seen=min(a.first_seen, b.first_seen),
        last_seen=newer.last_seen,
        assets=tuple(sorted(set(a.assets) | set(b.assets))),
        rule=newer.rule,
        url=newer.url,
        raw_digest=newer.raw_digest,
        epss=newer.epss,
        epss_percentile=newer.epss_percentile,
        fix_available=newer.fix_available,
        cvss_vector=newer.cvss_vector,
        vex=newer.vex,
    )


class KevNormalizer:
    """``clearance ingest --format kev``: loads the catalog into ``catalog``; the batch carries
    no signals (the catalog enriches vulnerability signals, see :func:`enrich`), only the
    quarantined entries, so bad entries are counted like any source's."""

    format: ClassVar[str] = "kev"

    def __init__(self, source: str = "kev") -> None:
        self.source = source
        self.catalog: KevCatalog | None = None

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        """A body that is not a catalog is one quarantined ``invalid_catalog`` entry and leaves
        ``catalog`` as it was: a broken download never empties the known-exploited list."""
        try:
            self.catalog = load_catalog(data, source=self.source, location=location)
        except SourceError as exc:
            return Batch.unreadable(exc, "invalid_catalog", data, location or "catalog")
        return Batch(quarantined=self.catalog.quarantined)
