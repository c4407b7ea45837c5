"""A risk-over-time chart for the history page, drawn as inline SVG on the server (no script):
each decision a dot at its time and score, coloured by verdict; one line joining them when the
page shows one target; the thresholds when it shows one environment. The table below the chart
holds the same data, for screen readers and for exact values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH, HEIGHT, PAD_X, PAD_Y = 760, 200, 44, 16


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    verdict: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    dots: tuple[Dot, ...]
    line: str | None  # SVG polyline points, when one target
    thresholds: tuple[tuple[float, str], ...]  # (y, label)
    start: str
    end: str
    summary: str

    def y_of(self, score: float) -> float:
        return _y(score)


def _y(score: float) -> float:
    return PAD_Y + (100.0 - max(0.0, min(100.0, score))) / 100.0 * (HEIGHT - 2 * PAD_Y)


def risk_chart(rows: Sequence[dict[str, Any]]) -> Chart | None:
    """``rows``: the history page's records (``at`` RFC 3339 UTC, ``score``, ``verdict``,
    ``target``, ``environment``, ``thresholds``), newest first. None below two records."""
    if len(rows) < 2:
        return None
    ordered = sorted(rows, key=lambda r: r["at"])
    times = [datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp() for r in ordered]
    first, last = times[0], times[-1]
    span = (last - first) or 1.0
    dots = tuple(
        Dot(
            x=round(PAD_X + (t - first) / span * (WIDTH - PAD_X - 8), 1),
            y=round(_y(float(r["score"])), 1),
            verdict=str(r["verdict"]),
            label=f"{r['at']} {r['target']}: {r['verdict']}, score {float(r['score']):g}",
        )
        for t, r in zip(times, ordered, strict=True)
    )
    one_target = len({r["target"] for r in rows}) == 1
    line = " ".join(f"{d.x},{d.y}" for d in dots) if one_target else None
    thresholds: tuple[tuple[float, str], ...] = ()
    if len({r["environment"] for r in rows}) == 1:
        latest = ordered[-1]["thresholds"]
        thresholds = (
            (round(_y(float(latest["approve"])), 1), f"approve {float(latest['approve']):g}"),
            (round(_y(float(latest["block"])), 1), f"block {float(latest['block']):g}"),
        )
    scores = [float(r["score"]) for r in rows]
    summary = (
        f"Risk of {len(rows)} decisions from {ordered[0]['at']} to {ordered[-1]['at']}: "
        f"lowest {min(scores):g}, highest {max(scores):g}, latest {float(ordered[-1]['score']):g}"
    )
    return Chart(WIDTH, HEIGHT, dots, line, thresholds, ordered[0]["at"], ordered[-1]["at"],
                 summary)  # fmt: skip
