"""What a deploy changes about the vulnerabilities its target carries: introduced, kept, fixed.

The images a deploy brings (``Snapshot.deploying``) are compared with the images the target runs
now (the exposure's other direct images: the running pods'). For each vulnerability (or
known-exploited) finding on an image, by CVE (the finding's ``rule``):

* **introduced** — on an image being deployed, and no running image has that CVE;
* **unchanged** — on an image being deployed, and a running image has it too (the deploy keeps
  it); or on a running image, and an image being deployed has it too;
* **fixed** — on a running image only, and the image being deployed was scanned without that
  CVE. When the new image has no image finding at all, a clean scan and no scan look alike, so
  the finding stays **unchanged**: only evidence makes a fix;
* ``""`` — not an image finding, or nothing is known of what the deploy brings.

Pure: the same snapshot always gives the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from clearance.model.assets import AssetKind, AssetRef, compatible
from clearance.model.signal import Severity, Signal, SignalKind
from clearance.model.snapshot import Match, Snapshot
from clearance.model.target import Proximity

__all__ = ["IMAGE_FINDINGS", "Change", "changes", "summary"]

IMAGE_FINDINGS = frozenset({SignalKind.VULNERABILITY, SignalKind.KNOWN_EXPLOITED})


class Change(StrEnum):
    INTRODUCED = "introduced"
    UNCHANGED = "unchanged"
    FIXED = "fixed"
    NONE = ""


def changes(snapshot: Snapshot, matches: Iterable[Match]) -> dict[str, Change]:
    """The change of every image finding among ``matches``, by signal uid."""
    if not snapshot.deploying:
        return {}
    deploying = snapshot.deploying
    running = tuple(
        a.ref
        for a in snapshot.exposure.assets
        if a.proximity is Proximity.DIRECT
        and a.ref.kind is AssetKind.IMAGE
        and not _on(a.ref, deploying)
    )
    findings = [m.signal for m in matches if m.signal.kind in IMAGE_FINDINGS and m.signal.rule]
    new_cves = {_cve(s) for s in findings if _images_on(s, deploying)}
    old_cves = {_cve(s) for s in findings if _images_on(s, running)}
    scanned = bool(new_cves)  # some finding on a deploying image: it was scanned
    result: dict[str, Change] = {}
    for signal in findings:
        cve = _cve(signal)
        if _images_on(signal, deploying):
            result[signal.uid] = Change.UNCHANGED if cve in old_cves else Change.INTRODUCED
        elif _images_on(signal, running):
            fixed = scanned and cve not in new_cves
            result[signal.uid] = Change.FIXED if fixed else Change.UNCHANGED
    return result


def summary(found: Mapping[str, Change], signals: Mapping[str, Signal]) -> str | None:
    """``This deploy introduces CVE-… (critical), CVE-…; fixes 9; keeps 1.``, or None."""
    if not found:
        return None
    by_change: dict[Change, list[Signal]] = {c: [] for c in Change}
    for uid, change in found.items():
        by_change[change].append(signals[uid])
    parts = []
    introduced = sorted({(-int(s.severity), _cve(s)) for s in by_change[Change.INTRODUCED]})
    if introduced:
        named = [f"{cve} ({_label(-sev)})" for sev, cve in introduced[:5]]
        more = f" and {len(introduced) - 5} more" if len(introduced) > 5 else ""
        parts.append("introduces " + ", ".join(named) + more)
    fixed = {_cve(s) for s in by_change[Change.FIXED]}
    if fixed:
        parts.append(f"fixes {len(fixed)}")
    kept = {_cve(s) for s in by_change[Change.UNCHANGED]}
    if kept:
        parts.append(f"keeps {len(kept)}")
    return "This deploy " + "; ".join(parts) + " (image vulnerabilities, by CVE)."


def _images_on(signal: Signal, images: tuple[AssetRef, ...]) -> bool:
    return any(_on(ref, images) for ref in signal.assets if ref.kind is AssetKind.IMAGE)


def _on(ref: AssetRef, images: tuple[AssetRef, ...]) -> bool:
    return any(compatible(ref, image) for image in images)


def _cve(signal: Signal) -> str:
    return (signal.rule or "").strip().upper()


def _label(severity: int) -> str:
    return Severity(severity).label
