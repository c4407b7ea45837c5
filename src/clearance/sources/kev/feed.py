"""``type: kev`` in ``clearance.yaml``: the CISA KEV catalog, kept fresh by ``sync``.

The feed is one JSON document (about 1.5 MB), so it is fetched whole with a conditional GET:
the ETag of the last stored copy goes out as ``If-None-Match`` and a 304 means the stored
catalog is current (the source is fresh, nothing is re-parsed). A new body is stored and applied
to the stored image vulnerabilities by sync (``clearance.ingest.storing``), and to the signals
read in local mode by ``clearance check`` (``clearance.snapshot``). A body that is not a catalog
(a proxy's HTML page) is the source's error, and the stored catalog is kept.

    sources:
      - {name: cisa-kev, type: kev, every: 6h}
      # base_url: a mirror (e.g. https://raw.githubusercontent.com/cisagov/kev-data/develop/)
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from clearance.sources._feed import DocumentFeedSource, FeedConfig

__all__ = ["CISA_FEED", "KevFeedConfig", "KevFeedSource"]

CISA_FEED = "https://www.cisa.gov/sites/default/files/feeds/"


class KevFeedConfig(FeedConfig):
    base_url: str = Field(default=CISA_FEED, min_length=1)
    path: str = Field(default="known_exploited_vulnerabilities.json", min_length=1)


class KevFeedSource(DocumentFeedSource):
    Config = KevFeedConfig
    kind: ClassVar[str] = "kev"
    accept: ClassVar[str] = "application/json"
    not_found_tip: ClassVar[str] = (
        "check base_url and path: the feed is known_exploited_vulnerabilities.json"
    )
