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

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Unpack

from pydantic import BaseModel, Field

from clearance.sources._plugin import checked_config
from clearance.sources._rest import HttpSeams, RestConnection, rest_client
from clearance.sources.interface import Batch, Document

__all__ = ["CISA_FEED", "KevFeedConfig", "KevFeedSource"]

CISA_FEED = "https://www.cisa.gov/sites/default/files/feeds/"


class KevFeedConfig(RestConnection):
    base_url: str = Field(default=CISA_FEED, min_length=1)
    path: str = Field(default="known_exploited_vulnerabilities.json", min_length=1)


class KevFeedSource:
    Config: ClassVar[type[BaseModel]] = KevFeedConfig
    kind: ClassVar[str] = "kev"

    def __init__(self, name: str, config: KevFeedConfig, **seams: Unpack[HttpSeams]) -> None:
        self.name = name
        self.config = config
        tips = {404: "check base_url and path: the feed is known_exploited_vulnerabilities.json"}
        self.client = rest_client(name, config, auth=None, secrets=(), tips=tips, **seams)

    def __repr__(self) -> str:
        return f"KevFeedSource(name={self.name!r}, base_url={self.config.base_url!r})"

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> KevFeedSource:
        return cls(name, checked_config(name, config, KevFeedConfig, "kev"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """No signals: the catalog is a document (``fetch_document``)."""
        return iter(())

    def fetch_document(self, validator: str | None) -> Document:
        headers = {"Accept": "application/json"}
        if validator:
            headers["If-None-Match"] = validator
        response = self.client.request("GET", self.config.path, headers=headers, accept=(304,))
        if response.status_code == 304:
            return Document(None, validator)
        return Document(response.content, response.headers.get("etag"))
