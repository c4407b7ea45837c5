"""Store a normalized batch, and keep the KEV catalog's signals current: the one storing path.

Every writer goes through :func:`store_batch`: the pull loop (``sync``, ``serve``'s background
and its ``--demo`` seed), the push receivers (``POST /v1/ingest/*``, ``POST /v1/signals``), the
NATS consumer and ``clearance ingest``:

* signals are upserted (folded with what is stored: :func:`clearance.model.signal.fold`), bad
  items quarantined, the host identities the batch reports kept, then the batch's watermark
  moved, then (for a push) the source's success recorded, in that order, so a source is never
  reported fresh, nor a pull resumed past, data that was not stored;
* vulnerability signals are enriched with the stored KEV catalog: each CVE that CISA lists adds a
  ``known_exploited`` signal on the same image (``docs/sources/kev.md``), stored with them;
* a new catalog is stored whole, then every stored active vulnerability is enriched again, so a
  CVE added to KEV today raises the images that already carry it;
* FIRST's EPSS scores are reference data the same way: vulnerability and known-exploited
  signals carry their CVE's score (``epss``, ``epss_percentile``) from the stored scores when
  stored, and a new feed re-scores the stored ones;
* so are VEX documents (OpenVEX, CycloneDX VEX): the statements of every document stored are
  kept as one reference, and a finding a statement waives for its image carries it (``vex``)
  when stored; a new document (or a new version of one) re-reads every stored finding, waiving
  or lifting as the latest statement says.

Time is passed in. The parsed catalog is cached by digest: a Trivy push does not re-parse it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from clearance.errors import SourceError
from clearance.model.canonical import canonical_json
from clearance.model.quarantine import DEFAULT_RETENTION, Quarantined, Retention, payload_digest
from clearance.model.signal import Signal, SignalKind, format_time
from clearance.sources.epss.catalog import EPSS_KINDS, EpssScores, load_scores
from clearance.sources.epss.catalog import apply as apply_epss
from clearance.sources.interface import Batch
from clearance.sources.kev.catalog import KevCatalog, enrich, load_catalog
from clearance.sources.vex.documents import load_document
from clearance.sources.vex.index import VEX_KINDS, VexIndex, dump_documents, load_documents, merged
from clearance.sources.vex.index import apply as apply_vex
from clearance.store.interface import ReferenceStore, SignalStore, SourceHealthStore

__all__ = [
    "DEFAULT_SKEW",
    "EPSS_REFERENCE",
    "KEV_REFERENCE",
    "KEV_SOURCE",
    "VEX_REFERENCE",
    "IngestStore",
    "Stored",
    "store_batch",
    "store_document",
    "store_kev_catalog",
]

# How far past the storing clock a signal's times may be: clocks differ a little between a
# sensor, a vendor's console and this service; more than this is a forged or broken time.
DEFAULT_SKEW = timedelta(minutes=5)
KEV_REFERENCE = "cisa-kev"
KEV_SOURCE = "kev"
EPSS_REFERENCE = "first-epss"
VEX_REFERENCE = "vex-statements"


class IngestStore(SignalStore, SourceHealthStore, ReferenceStore, Protocol):
    """The roles storing a batch or a feed's document touches: signals, source health and the
    reference documents (KEV, EPSS, VEX) that enrich them."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What one batch left in the store (the body of a 202, a line of ``ingest``)."""

    source: str
    signals: int
    known_exploited: int
    quarantined: int
    inserted: int
    updated: int
    unchanged: int = 0
    entries: int | None = None  # a reference document's entries (KEV CVEs, EPSS scores)

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "signals": self.signals,
            "known_exploited": self.known_exploited,
            "quarantined": self.quarantined,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            **({} if self.entries is None else {"entries": self.entries}),
        }


_T = TypeVar("_T")

_catalogs: dict[str, KevCatalog] = {}
_epss: dict[str, EpssScores] = {}
_vex: dict[str, VexIndex] = {}


def stored_vex(store: ReferenceStore) -> VexIndex | None:
    """The index of every stored VEX statement, built once per stored digest."""
    return _current(
        store,
        VEX_REFERENCE,
        _vex,
        lambda body: VexIndex(
            s for statements in load_documents(body).values() for s in statements
        ),
    )


def stored_scores(store: ReferenceStore) -> EpssScores | None:
    """The EPSS scores last stored, parsed once per digest."""
    return _current(
        store,
        EPSS_REFERENCE,
        _epss,
        lambda body: load_scores(body, source="epss", location=EPSS_REFERENCE),
    )


def stored_catalog(store: ReferenceStore) -> KevCatalog | None:
    """The KEV catalog last stored, parsed once per digest."""
    return _current(
        store,
        KEV_REFERENCE,
        _catalogs,
        lambda body: load_catalog(body, source=KEV_SOURCE, location=KEV_REFERENCE),
    )


def _current(
    store: ReferenceStore, name: str, cache: dict[str, _T], parse: Callable[[bytes], _T]
) -> _T | None:
    """The reference document ``name`` as last stored, parsed once per digest. One document is
    current, so ``cache`` keeps only its parse: an older one is never needed again."""
    document = store.get_reference(name)
    if document is None:
        return None
    parsed = cache.get(document.digest)
    if parsed is None:
        parsed = parse(document.body)
        cache.clear()
        cache[document.digest] = parsed
    return parsed


def store_batch(
    store: IngestStore,
    batch: Batch,
    source: str,
    now: datetime,
    *,
    complete: bool = True,
    skew: timedelta = DEFAULT_SKEW,
    retention: Retention = DEFAULT_RETENTION,
) -> Stored:
    """Store ``batch`` as ``source``'s data at ``now``; returns the counts.

    ``complete``: the batch is all the source has to say now (a push), so its success is recorded
    at ``now``. A pull stores page after page with ``complete=False`` and records its success
    once every page is stored, at the data's own time (a file's modification time).

    A signal seen later than ``now + skew`` is quarantined (``future_time``), not stored: the
    copy with the latest ``last_seen`` wins a fold, so a time in the future would pin a signal's
    status (a forged ``resolved`` would outlive the vendor's own reports). The quarantine is held
    to ``retention``.
    """
    signals, future = _split_future(batch.signals, now + skew)
    quarantined = [*batch.quarantined, *future]
    exploited = []
    if any(s.kind in EPSS_KINDS for s in signals):
        scores = stored_scores(store)
        if scores is not None:
            scored = {s.uid: s for s in apply_epss(signals, scores)}
            signals = [scored.get(s.uid, s) for s in signals]
    if any(s.kind in VEX_KINDS for s in signals):
        index = stored_vex(store)
        if index is not None:
            waived = {s.uid: s for s in apply_vex(signals, index)}
            signals = [waived.get(s.uid, s) for s in signals]
    if any(s.kind is SignalKind.VULNERABILITY for s in signals):
        catalog = stored_catalog(store)
        if catalog is not None:
            exploited = enrich(signals, catalog, source=KEV_SOURCE)
    inserted = updated = unchanged = 0
    if signals or exploited:
        counts = store.upsert_signals([*signals, *exploited], now)
        inserted, updated, unchanged = counts.inserted, counts.updated, counts.unchanged
    if quarantined:
        store.add_quarantined(quarantined, now, retention)
    if batch.identities:
        store.put_identities(source, batch.identities, now)
    if batch.coverage is not None:
        store.put_coverage(source, batch.coverage, now)
    # Only now that the batch is stored may the resume point move past it.
    if batch.watermark is not None:
        store.set_watermark(source, batch.watermark)
    if complete:
        store.record_source_success(source, now)
    return Stored(
        source, len(signals), len(exploited), len(quarantined), inserted, updated, unchanged
    )


def _split_future(
    signals: Sequence[Signal], latest: datetime
) -> tuple[list[Signal], list[Quarantined]]:
    """The signals seen no later than ``latest``, and the others as quarantined items."""
    kept: list[Signal] = []
    future: list[Quarantined] = []
    for signal in signals:
        if signal.last_seen <= latest and signal.first_seen <= latest:
            kept.append(signal)
            continue
        payload = canonical_json(signal.to_dict())
        future.append(
            Quarantined(
                source=signal.source,
                reason="future_time",
                detail=f"signal {signal.uid!r} was seen at {format_time(signal.last_seen)}, "
                f"after the service's clock ({format_time(latest)} with the allowed skew)",
                digest=payload_digest(payload),
                location=signal.uid,
                payload=payload,
            )
        )
    return kept, future


def store_kev_catalog(
    store: IngestStore, body: bytes, now: datetime, *, source: str = KEV_SOURCE
) -> Stored:
    """Store a KEV catalog (raises :class:`~clearance.errors.SourceError` when ``body`` is not
    one: the stored catalog is then kept), then re-enrich the stored vulnerabilities. ``source``
    is the name its freshness and quarantine are kept under (``ingest``: ``kev``; a ``type: kev``
    feed: its own name); the signals it adds are always source ``kev``."""
    catalog = load_catalog(body, source=source, location=KEV_REFERENCE)
    document = store.put_reference(KEV_REFERENCE, body, now)
    _catalogs.clear()
    _catalogs[document.digest] = catalog
    exploited = enrich(store.active_signals_of_kind(SignalKind.VULNERABILITY), catalog)
    inserted = updated = 0
    if exploited:
        counts = store.upsert_signals(exploited, now)
        inserted, updated = counts.inserted, counts.updated
    if catalog.quarantined:
        store.add_quarantined(catalog.quarantined, now)
    store.record_source_success(source, now)
    return Stored(
        source,
        0,
        len(exploited),
        len(catalog.quarantined),
        inserted,
        updated,
        entries=len(catalog.entries),
    )


def store_epss_scores(
    store: IngestStore, body: bytes, now: datetime, *, source: str = "epss"
) -> Stored:
    """Store FIRST's EPSS feed (raises :class:`~clearance.errors.SourceError` when ``body`` is
    not the feed: the stored scores are then kept), then re-score the stored vulnerability and
    known-exploited signals whose score changed."""
    scores = load_scores(body, source=source, location=EPSS_REFERENCE)
    document = store.put_reference(EPSS_REFERENCE, body, now)
    _epss.clear()
    _epss[document.digest] = scores
    stored: list[Signal] = []
    for kind in sorted(EPSS_KINDS):
        stored += store.active_signals_of_kind(kind)
    changed = apply_epss(stored, scores)
    updated = 0
    if changed:
        updated = store.upsert_signals(changed, now).updated
    if scores.quarantined:
        store.add_quarantined(scores.quarantined, now)
    store.record_source_success(source, now)
    return Stored(source, 0, 0, len(scores.quarantined), 0, updated, entries=len(scores.scores))


def store_vex_document(
    store: IngestStore, body: bytes, now: datetime, *, source: str = "vex"
) -> Stored:
    """Keep a VEX document's statements beside the others stored (a document stored again, by
    its id, replaces its earlier copy), then re-read the stored findings: each carries the
    waiver the latest statement about it gives, or none. A body that is not a VEX document
    raises :class:`~clearance.errors.SourceError`, and the stored statements stay."""
    document = load_document(body, source=source, location=VEX_REFERENCE)
    stored = store.get_reference(VEX_REFERENCE)
    documents = load_documents(stored.body) if stored is not None else {}
    store.put_reference(VEX_REFERENCE, dump_documents(merged(documents, document)), now)
    index = stored_vex(store)
    if index is None:  # pragma: no cover - put_reference just stored it
        raise SourceError(source, "the VEX statements were not kept")
    findings: list[Signal] = []
    for kind in sorted(VEX_KINDS):
        findings += store.active_signals_of_kind(kind)
    changed = apply_vex(findings, index)
    updated = store.upsert_signals(changed, now).updated if changed else 0
    if document.quarantined:
        store.add_quarantined(document.quarantined, now)
    store.record_source_success(source, now)
    return Stored(
        source, 0, 0, len(document.quarantined), 0, updated, entries=len(document.statements)
    )


# Document kinds a ``DocumentFeed`` can ship, and how each is stored.
DOCUMENTS = {
    "kev": store_kev_catalog,
    "epss": store_epss_scores,
    "openvex": store_vex_document,
    "cyclonedx-vex": store_vex_document,
}


def store_document(
    store: IngestStore, kind: str, body: bytes, now: datetime, *, source: str
) -> Stored:
    handler = DOCUMENTS.get(kind)
    if handler is None:
        raise SourceError(source, f"no way to store a {kind!r} document")
    return handler(store, body, now, source=source)
