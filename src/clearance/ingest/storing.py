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
  CVE added to KEV today raises the images that already carry it.

Time is passed in. The parsed catalog is cached by digest: a Trivy push does not re-parse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clearance.errors import SourceError
from clearance.model.signal import SignalKind
from clearance.sources.interface import Batch
from clearance.sources.kev.catalog import KevCatalog, enrich, load_catalog
from clearance.store.interface import Store

__all__ = [
    "KEV_REFERENCE",
    "KEV_SOURCE",
    "Stored",
    "store_batch",
    "store_document",
    "store_kev_catalog",
]

KEV_REFERENCE = "cisa-kev"
KEV_SOURCE = "kev"


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

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "signals": self.signals,
            "known_exploited": self.known_exploited,
            "quarantined": self.quarantined,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


_catalogs: dict[str, KevCatalog] = {}


def stored_catalog(store: Store) -> KevCatalog | None:
    """The KEV catalog last stored, parsed once per digest."""
    document = store.get_reference(KEV_REFERENCE)
    if document is None:
        return None
    catalog = _catalogs.get(document.digest)
    if catalog is None:
        catalog = load_catalog(document.body, source=KEV_SOURCE, location=KEV_REFERENCE)
        _catalogs.clear()  # one catalog is current; an older one is never needed again
        _catalogs[document.digest] = catalog
    return catalog


def store_batch(
    store: Store, batch: Batch, source: str, now: datetime, *, complete: bool = True
) -> Stored:
    """Store ``batch`` as ``source``'s data at ``now``; returns the counts.

    ``complete``: the batch is all the source has to say now (a push), so its success is recorded
    at ``now``. A pull stores page after page with ``complete=False`` and records its success
    once every page is stored, at the data's own time (a file's modification time).
    """
    signals = list(batch.signals)
    exploited = []
    if any(s.kind is SignalKind.VULNERABILITY for s in signals):
        catalog = stored_catalog(store)
        if catalog is not None:
            exploited = enrich(signals, catalog, source=KEV_SOURCE)
    inserted = updated = unchanged = 0
    if signals or exploited:
        counts = store.upsert_signals([*signals, *exploited], now)
        inserted, updated, unchanged = counts.inserted, counts.updated, counts.unchanged
    if batch.quarantined:
        store.add_quarantined(batch.quarantined, now)
    if batch.identities:
        store.put_identities(source, batch.identities, now)
    # Only now that the batch is stored may the resume point move past it.
    if batch.watermark is not None:
        store.set_watermark(source, batch.watermark)
    if complete:
        store.record_source_success(source, now)
    return Stored(
        source, len(signals), len(exploited), len(batch.quarantined), inserted, updated, unchanged
    )


def store_kev_catalog(
    store: Store, body: bytes, now: datetime, *, source: str = KEV_SOURCE
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
    return Stored(source, 0, len(exploited), len(catalog.quarantined), inserted, updated)


# Document kinds a ``DocumentFeed`` can ship, and how each is stored.
DOCUMENTS = {"kev": store_kev_catalog}


def store_document(store: Store, kind: str, body: bytes, now: datetime, *, source: str) -> Stored:
    handler = DOCUMENTS.get(kind)
    if handler is None:
        raise SourceError(source, f"no way to store a {kind!r} document")
    return handler(store, body, now, source=source)
