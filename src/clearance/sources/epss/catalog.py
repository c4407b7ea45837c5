"""FIRST EPSS: the probability that a CVE is exploited in the next 30 days, for every CVE.

The daily feed (``epss_scores-current.csv.gz``, about 250,000 rows) is one gzipped CSV whose
first line is a comment carrying the model and the date, then a header, then one row per CVE::

    #model_version:v2025.03.14,score_date:2026-12-06T00:00:00+0000
    cve,epss,percentile
    CVE-1999-0001,0.01141,0.7769

(``tests/fixtures/epss/``; https://www.first.org/epss/data_stats). It is reference data, like
the CISA KEV catalog: :func:`apply` sets ``epss`` and ``epss_percentile`` on the vulnerability
and known-exploited signals whose CVE (their ``rule``) it scores, wherever signals are stored or
read, so a rule can say "a critical with EPSS ≥ 0.5 in the image asks for a person". A row that
is not a CVE with two numbers in 0..1 is quarantined with its line; a body that is not the feed
at all (a proxy's HTML, a truncated download) raises :class:`SourceError`, and whoever stored
the previous feed keeps it.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import ClassVar

from clearance.errors import SourceError
from clearance.model.signal import Signal, SignalKind
from clearance.sources.interface import Batch, Quarantined, payload_digest

__all__ = ["EPSS_KINDS", "EpssNormalizer", "EpssScores", "apply", "load_scores"]

_CVE = re.compile(r"^CVE-\d{4}-\d{4,19}$")
_GZIP_MAGIC = b"\x1f\x8b"
_HEADER = ("cve", "epss", "percentile")
# Signal kinds a CVE's exploitation probability describes.
EPSS_KINDS = frozenset({SignalKind.VULNERABILITY, SignalKind.KNOWN_EXPLOITED})


@dataclass(frozen=True, slots=True)
class EpssScores:
    model_version: str
    score_date: str
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)  # cve → (epss, pct)
    quarantined: tuple[Quarantined, ...] = ()

    def get(self, cve: str) -> tuple[float, float] | None:
        return self.scores.get(cve.strip().upper())


def load_scores(data: bytes, *, source: str = "epss", location: str = "") -> EpssScores:
    """Parse the EPSS CSV, gzipped or not."""
    where = location or "epss"
    try:
        text = (gzip.decompress(data) if data[:2] == _GZIP_MAGIC else data).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise SourceError(source, f"{where}: not the EPSS feed ({exc})") from exc
    lines = text.lstrip("\ufeff").splitlines()
    meta: dict[str, str] = {}
    start = 0
    if lines and lines[0].startswith("#"):
        for part in lines[0][1:].split(","):
            key, _, value = part.partition(":")
            meta[key.strip()] = value.strip()
        start = 1
    header = tuple(c.strip().lower() for c in lines[start].split(",")) if len(lines) > start else ()
    if header[:3] != _HEADER:
        raise SourceError(
            source, f"{where}: not the EPSS feed (no 'cve,epss,percentile' header; tip: the "
            "feed is epss_scores-current.csv.gz)"
        )  # fmt: skip
    scores: dict[str, tuple[float, float]] = {}
    bad: list[Quarantined] = []
    for number, line in enumerate(lines[start + 1 :], start=start + 2):
        if not line.strip():
            continue
        parsed = _row(line)
        if isinstance(parsed, str):
            raw = line.encode()
            at = f"{where}:{number}"
            bad.append(Quarantined(source, "invalid_row", parsed, payload_digest(raw), at, raw))
            continue
        cve, epss, percentile = parsed
        scores[cve] = (epss, percentile)
    return EpssScores(
        model_version=meta.get("model_version", ""),
        score_date=meta.get("score_date", ""),
        scores=scores,
        quarantined=tuple(bad),
    )


def _row(line: str) -> tuple[str, float, float] | str:
    """A row as (cve, epss, percentile), or why it is not one."""
    cells = line.split(",")
    if len(cells) < 3:
        return f"expected cve,epss,percentile, got {len(cells)} column(s)"
    cve = cells[0].strip().upper()
    if not _CVE.match(cve):
        return f"{cells[0].strip()!r} is not CVE-YYYY-NNNN"
    try:
        epss, percentile = float(cells[1]), float(cells[2])
    except ValueError:
        return f"{cve}: epss and percentile must be numbers"
    if not (0.0 <= epss <= 1.0 and 0.0 <= percentile <= 1.0):  # NaN fails too
        return f"{cve}: epss {cells[1].strip()} and percentile {cells[2].strip()} must be in 0..1"
    return cve, epss, percentile


def apply(signals: Iterable[Signal], scores: EpssScores) -> list[Signal]:
    """The signals whose EPSS the scores change, with their new scores (pure).

    Vulnerability and known-exploited signals are scored by their CVE (``rule``); a CVE the
    feed no longer scores keeps the value it had (the feed drops rejected CVEs, not risk).
    """
    changed = []
    for signal in signals:
        if signal.kind not in EPSS_KINDS or signal.rule is None:
            continue
        found = scores.get(signal.rule)
        if found is None or (signal.epss, signal.epss_percentile) == found:
            continue
        changed.append(replace(signal, epss=found[0], epss_percentile=found[1]))
    return changed


class EpssNormalizer:
    """``clearance ingest --format epss``: loads the scores into ``scores``; the batch carries
    no signals (the scores annotate stored vulnerabilities), only the quarantined rows."""

    format: ClassVar[str] = "epss"

    def __init__(self, source: str = "epss") -> None:
        self.source = source
        self.scores: EpssScores | None = None

    def normalize(self, data: bytes, *, location: str = "") -> Batch:
        try:
            self.scores = load_scores(data, source=self.source, location=location)
        except SourceError as exc:
            return Batch.unreadable(exc, "invalid_feed", data, location or "epss")
        return Batch(quarantined=self.scores.quarantined)
