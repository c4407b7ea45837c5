"""Prometheus: each configured SLO's burn rate, through the HTTP API's instant query.

* ``GET {base_url}/api/v1/query?query=<the SLO's query>`` per SLO, HTTP Basic (Prometheus's
  ``--web.config.file``) or a bearer token (a proxy, Grafana Mimir, Thanos behind a gateway).
* Every pull evaluates every SLO, in batches of ``batch_size`` SLOs: a burning one is an open
  signal; one that was burning at the last pull (the watermark lists them) and no longer is,
  the same signal resolved.
* Unreachable, refused, or an API error (``{"status": "error", "errorType", "error"}``): a
  :class:`SourceError` — the source is down and the ``source_down`` stance applies.

Mapping: :mod:`clearance.sources.prometheus.burn`; docs: ``docs/sources/prometheus.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Unpack
from urllib.parse import quote, urlencode

from pydantic import BaseModel, Field, SecretStr, model_validator

from clearance.errors import SourceError
from clearance.model.quarantine import Quarantined
from clearance.model.signal import Signal, SignalStatus
from clearance.sources._auth import basic_or_bearer
from clearance.sources._plugin import checked_config
from clearance.sources._rest import HttpSeams, RestConnection, rest_client
from clearance.sources.interface import Batch
from clearance.sources.prometheus.burn import Slo, burn_signal

__all__ = ["PrometheusConfig", "PrometheusSource", "Slo"]

_TIPS = {
    400: "the query does not parse: try it in the Prometheus UI",
    401: "check username and password (Prometheus's web.config basic_auth_users) or token",
    422: "the query cannot be evaluated: try it in the Prometheus UI",
    503: "Prometheus is overloaded or shutting down",
}


class PrometheusConfig(RestConnection):
    """``clearance.yaml`` settings for a ``prometheus`` source."""

    base_url: str = Field(min_length=1)  # http://prometheus.monitoring:9090
    slos: list[Slo] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None
    batch_size: int = Field(default=100, ge=1, le=10000)

    @model_validator(mode="after")
    def _valid(self) -> PrometheusConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.password is not None and self.bearer_token is not None:
            raise ValueError("set username/password or bearer_token, not both")
        names = [s.name for s in self.slos]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"duplicate SLO name(s): {', '.join(dupes)}")
        return self


class PrometheusSource:
    """A pull source over the Prometheus HTTP API (instant queries). ``sleep``/``random``/
    ``clock`` and the httpx ``transport`` are injectable for tests."""

    Config: ClassVar[type[BaseModel]] = PrometheusConfig

    def __init__(self, name: str, config: PrometheusConfig, **seams: Unpack[HttpSeams]) -> None:
        self.name = name
        self.config = config
        auth, secrets = basic_or_bearer(config.username, config.password, config.bearer_token)
        self._http = rest_client(name, config, auth=auth, secrets=secrets, tips=_TIPS, **seams)

    def __repr__(self) -> str:
        return f"PrometheusSource(name={self.name!r}, base_url={self.config.base_url!r})"

    def close(self) -> None:
        self._http.close()

    @classmethod
    def create(cls, name: str, config: BaseModel, *, base_dir: Path) -> PrometheusSource:
        return cls(name, checked_config(name, config, PrometheusConfig, "prometheus"))

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        """Every burning SLO, ``batch_size`` SLOs a batch, and, resolved, each that was burning
        at the last pull (``watermark``: their uids) and no longer is. The last batch carries
        the SLOs burning now."""
        before = self._burning_before(watermark)
        slos = self.config.slos
        size = self.config.batch_size
        burning: list[str] = []
        for start in range(0, len(slos), size):
            signals: list[Signal] = []
            quarantined: list[Quarantined] = []
            for slo in slos[start : start + size]:
                signal, bad = burn_signal(
                    slo, self._query(slo), source=self.name, graph_url=self._graph(slo)
                )
                if bad is not None:
                    quarantined.append(bad)
                if signal is None:
                    if f"{self.name}:{slo.name}" in before:
                        burning.append(f"{self.name}:{slo.name}")  # unknown: still as it was
                    continue
                if signal.status is SignalStatus.OPEN:
                    burning.append(signal.uid)
                    signals.append(signal)
                elif signal.uid in before:  # stopped burning since the last pull
                    signals.append(signal)
            last = start + size >= len(slos)
            mark = json.dumps(sorted(burning)) if last else None
            yield Batch(tuple(signals), tuple(quarantined), mark)

    def _burning_before(self, watermark: str | None) -> set[str]:
        if not watermark:
            return set()
        try:
            uids = json.loads(watermark)
            if not isinstance(uids, list) or not all(isinstance(u, str) for u in uids):
                raise ValueError("not a list of uids")
        except ValueError as exc:
            raise SourceError(
                self.name,
                f"stored watermark is not the list of SLOs burning at the last pull ({exc}); "
                "tip: reset it",
            ) from exc
        return set(uids)

    def _query(self, slo: Slo) -> list[Any]:
        body = self._http.request_json("GET", "/api/v1/query", params={"query": slo.query})
        where = f"SLO {slo.name!r}"
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceError(self.name, f"{where}: the query failed: {error or 'no status'}")
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") not in ("vector", "scalar"):
            raise SourceError(
                self.name, f"{where}: the query must give an instant vector (a burn rate)"
            )
        result = data.get("result")
        if data["resultType"] == "scalar":  # [<time>, "<value>"]: one sample, no labels
            return [{"metric": {}, "value": result}]
        if not isinstance(result, list):
            raise SourceError(self.name, f"{where}: data.result is not a list")
        return result

    def _graph(self, slo: Slo) -> str:
        base = self.config.base_url.rstrip("/")
        return f"{base}/graph?" + urlencode({"g0.expr": slo.query, "g0.tab": "0"}, quote_via=quote)
