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

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Unpack

from pydantic import BaseModel, Field

from clearance.sources._plugin import checked_config
from clearance.sources._rest import HttpSeams, RestConnection, rest_client
from clearance.sources.interface import Batch, Document

__all__ = ["EPSS_FEED", "EpssFeedConfig", "EpssFeedSource"]

EPSS_FEED = "https://epss.empiricalsecurity.com/"  # where epss.cyentia.com redirects


class EpssFeedConfig(RestConnection):
    base_url: str = Field(default=EPSS_FEED, min_length=1)
    path: str = Field(default="epss_scores-current.csv.gz", min_length=1)


class EpssFeedSource:
    Config: ClassVar[type[BaseModel]] = EpssFeedConfig
    kind: ClassVar[str] = "epss"

    def __init__(self, name: str, config: EpssFeedConfig, **seams: Unpack[HttpSeams]) -> None:
        self.name = name
        self.config = config
        tips = {404: "check base_url and path: the feed is epss_scores-current.csv.gz"}
        self.client = rest_client(name, config, auth=None, secrets=(), tips=tips, **seams)

    def __repr__(self) -> str:
        return f"EpssFeedSource(name={self.name!r}, base_url={self.config.base_url!r})"

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> EpssFeedSource:
        return cls(name, checked_config(name, config, EpssFeedConfig, "epss"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """No signals: the scores are a document (``fetch_document``)."""
        return iter(())

    def fetch_document(self, validator: str | None) -> Document:
        headers = {"Accept": "application/gzip, text/csv"}
        if validator:
            headers["If-None-Match"] = validator
        response = self.client.request("GET", self.config.path, headers=headers, accept=(304,))
        if response.status_code == 304:
            return Document(None, validator)
        return Document(response.content, response.headers.get("etag"))
