"""SentinelOne threats grouped into incidents by their storyline.

SentinelOne has no incident object of its own in the Management API: each threat carries the
``threatInfo.storyline`` of the activity it belongs to (one attack chain, as the console's
Storyline view shows it; ``docs/sources/sentinelone.md``). Threats that share a storyline are
one intrusion seen more than once, so Clearance files them, beside the threats themselves, as
one ``incident`` signal: on every asset of its threats, as severe and as confident as the worst
of them, open while any of them is, resolved when all are (suppressed when all are false
positives), first seen with the first and last seen with the last. A storyline with a single
threat is that threat, already a detection: no incident is made of it.

Grouped over the threats one fetch reads (the pages from the watermark on), so a storyline
whose threats arrive over several fetches is re-filed with those each fetch saw. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from clearance.model.signal import Signal, SignalKind, SignalStatus, SignalUid

__all__ = ["storyline_incidents", "storylines"]

MIN_THREATS = 2
_ACTIVITY = (SignalStatus.OPEN, SignalStatus.IN_PROGRESS, SignalStatus.RESOLVED)


def storylines(items: Iterable[Any]) -> dict[str, str]:
    """Threat id → storyline, for every threat that names both."""
    found: dict[str, str] = {}
    for item in items:
        info = item.get("threatInfo") if isinstance(item, dict) else None
        threat = item.get("id") if isinstance(item, dict) else None
        story = info.get("storyline") if isinstance(info, dict) else None
        if isinstance(threat, str) and threat and isinstance(story, str) and story.strip():
            found[threat] = story.strip()
    return found


def storyline_incidents(
    signals: Sequence[Signal], stories: dict[str, str], *, source: str, console: str = ""
) -> tuple[Signal, ...]:
    """One ``incident`` per storyline that two or more of ``signals`` (the threats' own
    signals, uid ``<source>:<threat id>``) share; ``stories``: :func:`storylines`."""
    groups: dict[str, list[Signal]] = {}
    for signal in signals:
        story = stories.get(signal.uid.removeprefix(f"{source}:"))
        if story is not None:
            groups.setdefault(story, []).append(signal)
    out = []
    for story, members in sorted(groups.items()):
        if len(members) < MIN_THREATS:
            continue
        members.sort(key=lambda s: s.uid)
        worst = max(members, key=lambda s: (s.severity, s.confidence))
        active = [s.status for s in members if s.status in _ACTIVITY]
        status = min(active, key=_ACTIVITY.index) if active else SignalStatus.SUPPRESSED
        names = sorted({s.title for s in members})
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        digest = hashlib.sha256("\n".join(s.raw_digest or s.uid for s in members).encode())
        out.append(
            Signal(
                uid=SignalUid(f"{source}:storyline-{story}"),
                source=source,
                kind=SignalKind.INCIDENT,
                title=f"SentinelOne storyline {story}: {len(members)} threats ({shown})",
                severity=worst.severity,
                confidence=max(s.confidence for s in members),
                status=status,
                first_seen=min(s.first_seen for s in members),
                last_seen=max(s.last_seen for s in members),
                assets=tuple(sorted({a for s in members for a in s.assets})),
                rule="incident",
                techniques=tuple(sorted({t for s in members for t in s.techniques})),
                url=f"{console.rstrip('/')}/incidents/threats" if console else None,
                raw_digest="sha256:" + digest.hexdigest(),
            )
        )
    return tuple(out)
