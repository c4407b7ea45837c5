"""AWS GuardDuty: findings pulled through boto3 (``ListFindings`` + ``GetFindings``).

What a fetch does (details and links in ``docs/sources/guardduty.md``):

1. Find the region's detector (``ListDetectors``) unless ``detector_id`` is configured.
2. ``ListFindings`` with ``updatedAt >= <watermark>`` (epoch milliseconds, inclusive), sorted by
   ``updatedAt`` ascending, ≤ 50 ids a page, following ``NextToken`` to the end.
3. ``GetFindings`` for each page's ids (the API takes at most 50), mapped by
   :mod:`clearance.sources.guardduty.mapping`. One batch per page; its watermark is the newest
   ``UpdatedAt`` so far, so the caller stores a page and only then advances.
4. With ``covers: runtime``, ``ListCoverage`` for EKS clusters last: each cluster's runtime
   coverage status makes the batch's ``coverage`` (:mod:`clearance.sources.guardduty.coverage`).

Throttling (``ThrottlingException``, HTTP 429) and transient errors are retried by botocore's own
retry modes (``standard`` by default, ``adaptive`` adds client-side rate limiting), configured
in :mod:`clearance.sources.guardduty.api`; what still fails becomes a :class:`SourceError` naming
the source, the call, the HTTP status and AWS's error code, never a credential. boto3 is imported
inside :meth:`fetch`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from clearance.errors import SourceError, UnparseableError
from clearance.model.signal import format_time, parse_time
from clearance.sources._pages import checked_watermark
from clearance.sources._plugin import checked_config, require_sdk
from clearance.sources.guardduty.api import GuardDutyApi
from clearance.sources.guardduty.coverage import read_coverage
from clearance.sources.guardduty.mapping import finding_watermark, map_findings
from clearance.sources.interface import Batch, Quarantined, payload_digest

__all__ = ["GuardDutyConfig", "GuardDutySource"]

_SORT = {"AttributeName": "updatedAt", "OrderBy": "ASC"}


class GuardDutyConfig(BaseModel):
    """``clearance.yaml`` settings for a ``guardduty`` source. Without keys, boto3's default
    credential chain is used (environment, profile, instance or pod role)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(min_length=1)
    detector_id: str | None = None
    endpoint_url: str | None = None  # a VPC endpoint, or a local stand-in in tests
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    # Where the first fetch starts; without it the first fetch reads every finding.
    since: AwareDatetime | None = None
    min_severity: int | None = Field(default=None, ge=1, le=10)
    include_archived: bool = True  # archived findings become suppressed signals
    page_size: int = Field(default=50, ge=1, le=50)
    retry_mode: Literal["standard", "adaptive"] = "standard"
    max_attempts: int = Field(default=5, ge=1)  # tries per call, the first one included
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    # What GuardDuty Runtime Monitoring gives the EKS clusters it watches; set, each fetch also
    # reads ListCoverage, and a node of a cluster not fully and healthily covered is not
    # covered (docs/coverage.md). ``clusters`` renames EKS cluster names to Clearance's.
    covers: Literal["edr", "runtime"] | None = None
    clusters: dict[str, str] = Field(default_factory=dict)


class GuardDutySource:
    """A pull source over one GuardDuty detector (one account and region)."""

    Config: ClassVar[type[BaseModel]] = GuardDutyConfig

    def __init__(
        self, name: str, config: GuardDutyConfig, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.name = name
        self.config = config
        self._api = GuardDutyApi(name, config, sleep=sleep)

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> GuardDutySource:
        require_sdk(name, "guardduty", "boto3", "aws")
        return cls(name, checked_config(name, config, GuardDutyConfig, "guardduty"))

    def close(self) -> None:
        self._api.close()

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Yield one batch per ``ListFindings`` page from ``watermark`` on, oldest update first."""
        checked_watermark(self.name, watermark)
        client = self._api.client()
        detector = self.config.detector_id or self._detector(client)
        listing: dict[str, Any] = {
            "DetectorId": detector,
            "SortCriteria": _SORT,
            "MaxResults": self.config.page_size,
        }
        criterion = self._criterion(watermark)
        if criterion:
            listing["FindingCriteria"] = {"Criterion": criterion}
        token = ""
        page = 0
        while True:
            page += 1
            listed = self._api.call("ListFindings", client.list_findings, **listing)
            ids = listed.get("FindingIds") or []
            where = f"findings page {page}: Findings"
            findings, unreadable = self._get(client, detector, ids, where) if ids else ([], [])
            signals, quarantined = map_findings(findings, source=self.name, location=where)
            quarantined += unreadable
            watermark = finding_watermark(findings, watermark)
            yield Batch(signals=tuple(signals), quarantined=tuple(quarantined), watermark=watermark)
            token = listed.get("NextToken") or ""
            if not token or not ids:
                break
            listing["NextToken"] = token
        if self.config.covers is not None:
            inventory = read_coverage(
                self._api.call,
                client.list_coverage,
                detector,
                source=self.name,
                kind=self.config.covers,
                clusters=self.config.clusters,
            )
            yield Batch(coverage=inventory)

    def _get(
        self, client: Any, detector: str, ids: list[str], where: str
    ) -> tuple[list[Any], list[Quarantined]]:
        """GetFindings for ``ids``. botocore parses the whole response against its model, so one
        finding that does not fit the model fails the page: then each id is fetched alone and
        only the ones botocore cannot read are quarantined."""
        try:
            got = self._api.call(
                "GetFindings", client.get_findings, DetectorId=detector, FindingIds=ids
            )
            return list(got.get("Findings") or []), []
        except UnparseableError:
            if len(ids) == 1:
                raise
        findings: list[Any] = []
        unreadable: list[Quarantined] = []
        for index, finding_id in enumerate(ids):
            try:
                one = self._api.call(
                    "GetFindings", client.get_findings, DetectorId=detector, FindingIds=[finding_id]
                )
                findings += one.get("Findings") or []
            except UnparseableError as exc:
                unreadable.append(
                    Quarantined(
                        source=self.name,
                        reason="unparseable",
                        detail=f"finding {finding_id}: {exc}",
                        digest=payload_digest(finding_id.encode()),
                        location=f"{where}[{index}]",
                        payload=finding_id.encode(),
                    )
                )
        return findings, unreadable

    def _criterion(self, watermark: str | None) -> dict[str, Any]:
        criterion: dict[str, Any] = {}
        start = watermark or (format_time(self.config.since) if self.config.since else None)
        if start:
            millis = int(parse_time(start).timestamp() * 1000)
            criterion["updatedAt"] = {"GreaterThanOrEqual": millis}
        if self.config.min_severity is not None:
            criterion["severity"] = {"GreaterThanOrEqual": self.config.min_severity}
        if not self.config.include_archived:
            criterion["service.archived"] = {"Equals": ["false"]}
        return criterion

    def _detector(self, client: Any) -> str:
        ids = self._api.call("ListDetectors", client.list_detectors).get("DetectorIds") or []
        if not ids:
            raise SourceError(
                self.name,
                f"no GuardDuty detector in {self.config.region} (tip: enable GuardDuty there "
                "or set detector_id)",
            )
        return str(ids[0])
