"""``type: epss`` in ``clearance.yaml``: FIRST's daily EPSS scores, kept fresh by ``sync``.

The feed is one gzipped CSV (a few MB), fetched whole with a conditional GET like the CISA KEV
feed: the ETag of the stored copy goes out as ``If-None-Match``, and a 304 means the stored
scores are current. A new body is stored and applied to the stored vulnerabilities by sync
(``clearance.ingest.storing``), and to the signals read in local mode by ``clearance check``
(``clearance.snapshot``). A body that is not the feed keeps the stored scores.

    sources:
      - {name: first-epss, type: epss, every: 12h}
      # base_url: a mirror; path: epss_scores-YYYY-MM-DD.csv.gz for a given day
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from clearance.sources._feed import DocumentFeedSource, FeedConfig

__all__ = ["EPSS_FEED", "EpssFeedConfig", "EpssFeedSource"]

EPSS_FEED = "https://epss.empiricalsecurity.com/"  # where epss.cyentia.com redirects


class EpssFeedConfig(FeedConfig):
    base_url: str = Field(default=EPSS_FEED, min_length=1)
    path: str = Field(default="epss_scores-current.csv.gz", min_length=1)


class EpssFeedSource(DocumentFeedSource):
    Config = EpssFeedConfig
    kind: ClassVar[str] = "epss"
    accept: ClassVar[str] = "application/gzip, text/csv"
    not_found_tip: ClassVar[str] = "check base_url and path: the feed is epss_scores-current.csv.gz"
