"""A reference document fetched whole over HTTP with a conditional GET (the CISA KEV catalog,
FIRST's EPSS scores): the one :class:`~clearance.sources.interface.DocumentFeed` over HTTP.

The ETag of the stored copy goes out as ``If-None-Match``; a 304 means the stored copy is current
(the source is fresh, nothing is re-parsed), a 200 brings a body for the storing path to store
and apply. A subclass says what it fetches: its ``kind``, ``Config`` (``base_url`` and ``path``
defaults), the ``Accept`` header and the tip for a 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Self, Unpack

from pydantic import BaseModel

from clearance.sources._plugin import checked_config
from clearance.sources._rest import HttpSeams, RestConnection, rest_client
from clearance.sources.interface import Batch, Document

__all__ = ["DocumentFeedSource", "FeedConfig"]


class FeedConfig(RestConnection):
    path: str


class DocumentFeedSource:
    Config: ClassVar[type[BaseModel]]
    kind: ClassVar[str]
    accept: ClassVar[str]
    not_found_tip: ClassVar[str]

    def __init__(self, name: str, config: FeedConfig, **seams: Unpack[HttpSeams]) -> None:
        self.name = name
        self.config = config
        tips = {404: self.not_found_tip}
        self.client = rest_client(name, config, auth=None, secrets=(), tips=tips, **seams)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.config.base_url!r})"

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> Self:
        checked = checked_config(name, config, cls.Config, cls.kind)
        assert isinstance(checked, FeedConfig)
        return cls(name, checked)

    def close(self) -> None:
        self.client.close()

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """No signals: the document is fetched whole (``fetch_document``)."""
        return iter(())

    def fetch_document(self, validator: str | None) -> Document:
        headers = {"Accept": self.accept}
        if validator:
            headers["If-None-Match"] = validator
        response = self.client.request("GET", self.config.path, headers=headers, accept=(304,))
        if response.status_code == 304:
            return Document(None, validator)
        return Document(response.content, response.headers.get("etag"))
