"""Error-budget burn rates from a Prometheus instant query → ``health`` signals.

Each configured SLO is one query whose value is its **burn rate**: how many times faster than
allowed the error budget is being spent (1 = exactly on budget; the Google SRE workbook's
fast-burn page is 14.4 over an hour, 2% of a 30-day budget; its slow-burn ticket 6 over six
hours, 5%). Sloth and the workbook's multi-window rules record the ingredients, for example
``slo:sli_error:ratio_rate1h{sloth_id="checkout-availability"} / on() group_left()
slo:error_budget:ratio{sloth_id="checkout-availability"}``.

The answer is Prometheus's ``{"status": "success", "data": {"resultType": "vector", "result":
[{"metric": {...}, "value": [<unix time>, "<number>"]}]}}`` (https://prometheus.io/docs/prometheus/
latest/querying/api/#instant-queries). The SLO's burn rate is the highest value of its series
(the worst window or instance decides): at or above ``slow`` an open signal (critical from
``fast``), below it the same signal resolved (the source reports that only for an SLO that was
burning, so a budget that stops burning stops counting at the next pull). A query that answers
no series at all is quarantined (``no_data``) and changes nothing: a typo in a metric name must
not read as a healthy budget (write ``… or vector(0)`` where no traffic means no burn).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clearance.errors import InvalidAssetError, InvalidSignalError
from clearance.model.assets import AssetRef, parse_asset
from clearance.model.quarantine import Quarantined, payload_digest
from clearance.model.signal import Severity, Signal, SignalKind, SignalStatus, SignalUid

__all__ = ["BURN_RULE", "Slo", "burn_signal"]

BURN_RULE = "error_budget_burn"


class Slo(BaseModel):
    """One SLO: its burn-rate query, the assets it is about, and the rates that count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=200)
    query: str = Field(min_length=1)
    # What the SLO is about, as `kind:value` assets: the workload (and its namespace).
    assets: list[str] = Field(min_length=1)
    slow: float = Field(default=6.0, gt=0)  # burn rate that counts (high)
    fast: float = Field(default=14.4, gt=0)  # burn rate that is critical (the fast-burn page)
    url: str | None = None  # a dashboard for the reason to link; default: the query's graph

    @model_validator(mode="after")
    def _ordered(self) -> Slo:
        if self.fast < self.slow:
            raise ValueError(f"fast ({self.fast:g}) must not be below slow ({self.slow:g})")
        for text in self.assets:
            try:
                parse_asset(text)
            except (InvalidAssetError, ValueError) as exc:
                raise ValueError(f"asset {text!r}: {exc}") from exc
        return self

    def refs(self) -> tuple[AssetRef, ...]:
        return tuple(parse_asset(a) for a in self.assets)


def _sample(item: Any) -> tuple[float, float]:
    """``(unix time, value)`` of one vector element; ValueError when it is not one."""
    value = item.get("value") if isinstance(item, dict) else None
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], str):
        raise ValueError('a vector element needs value: [<time>, "<number>"]')
    moment, number = float(value[0]), float(value[1])
    if not math.isfinite(moment):
        raise ValueError(f"sample time {value[0]!r} is not finite")
    return moment, number


def burn_signal(
    slo: Slo, result: Sequence[Any], *, source: str, graph_url: str
) -> tuple[Signal | None, Quarantined | None]:
    """The SLO's signal from its query's ``result`` (open when burning, else resolved), or why
    there is none (quarantined: no series, a value that is not a number)."""
    try:
        samples = [_sample(item) for item in result]
        if not samples:
            raise LookupError(
                "the query answered no series (tip: '… or vector(0)' if no traffic means no burn)"
            )
        # NaN (0/0: no requests in the window) burns nothing; +Inf is the worst there is.
        rates = [v for _, v in samples if not math.isnan(v)]
        rate = max(rates, default=0.0)
        at = datetime.fromtimestamp(max(t for t, _ in samples), UTC)
        burning = rate >= slo.slow
        severity = Severity.CRITICAL if rate >= slo.fast else Severity.HIGH
        shown = "∞" if math.isinf(rate) else f"{rate:.3g}"
        signal = Signal(
            uid=SignalUid(f"{source}:{slo.name}"),
            source=source,
            kind=SignalKind.HEALTH,
            title=f"Error budget of {slo.name} burning {shown}x "
            f"(counts from {slo.slow:g}x, fast burn from {slo.fast:g}x)",
            severity=severity if burning else Severity.INFORMATIONAL,
            confidence=1.0,
            status=SignalStatus.OPEN if burning else SignalStatus.RESOLVED,
            first_seen=at,
            last_seen=at,
            assets=slo.refs(),
            rule=BURN_RULE,
            url=slo.url or graph_url,
        )
    except (LookupError, ValueError, TypeError, OverflowError, OSError, InvalidSignalError) as exc:
        raw = json.dumps({"slo": slo.name, "result": list(result)}, default=str).encode()
        return None, Quarantined(
            source=source,
            reason="no_data" if isinstance(exc, LookupError) else "malformed_result",
            detail=f"SLO {slo.name!r}: {exc}"[:500],
            digest=payload_digest(raw),
            location=f"slos.{slo.name}",
            payload=raw,
        )
    return signal, None
