"""Which VEX statement speaks last for a finding, and the findings it waives.

For a vulnerability (or its known-exploited twin) on an image, the statements that name both are
ordered by time (each statement's own timestamp, else its document's, per OpenVEX's inheritance
rules); the latest one speaks. ``not_affected`` and ``fixed`` waive the finding: :func:`apply`
records on it which statement did (``Signal.vex``), so it contributes nothing and every decision
names the statement. ``affected`` and ``under_investigation`` waive nothing, and a later one
undoes an earlier waiver: VEX is a sequence of statements, each overriding the previous.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace

from clearance.model.assets import AssetKind
from clearance.model.signal import Signal, SignalKind
from clearance.sources.vex.documents import VexDocument, VexStatement, image_keys

__all__ = ["VEX_KINDS", "VexIndex", "apply", "dump_documents", "load_documents", "merged"]

VEX_KINDS = frozenset({SignalKind.VULNERABILITY, SignalKind.KNOWN_EXPLOITED})
_WAIVING = frozenset({"not_affected", "fixed"})


class VexIndex:
    def __init__(self, statements: Iterable[VexStatement] = ()) -> None:
        self._by_key: dict[tuple[str, str], list[VexStatement]] = {}
        for statement in statements:
            for image in statement.images:
                self._by_key.setdefault((statement.vulnerability, image), []).append(statement)
        for found in self._by_key.values():
            # Latest first; ties broken by content so the choice never depends on load order.
            found.sort(key=lambda s: (s.timestamp, s.status, s.document), reverse=True)

    def __len__(self) -> int:
        return len(self._by_key)

    def speaking(self, signal: Signal) -> VexStatement | None:
        """The latest statement about ``signal``'s CVE on any image it names, if any."""
        if signal.kind not in VEX_KINDS or signal.rule is None:
            return None
        cve = signal.rule.strip().upper()
        candidates = [
            statement
            for ref in signal.assets
            if ref.kind is AssetKind.IMAGE
            for key in image_keys(ref.value)
            for statement in self._by_key.get((cve, key), ())[:1]
        ]
        return max(candidates, key=lambda s: (s.timestamp, s.status, s.document), default=None)

    def waiver(self, signal: Signal) -> str | None:
        statement = self.speaking(signal)
        return statement.describe() if statement and statement.status in _WAIVING else None


def apply(signals: Iterable[Signal], index: VexIndex) -> list[Signal]:
    """The signals whose waiver the statements change (set, or lifted), as they now are."""
    changed = []
    for signal in signals:
        if signal.kind not in VEX_KINDS:
            continue
        waiver = index.waiver(signal)
        if waiver != signal.vex:
            changed.append(replace(signal, vex=waiver))
    return changed


def load_documents(body: bytes) -> dict[str, list[VexStatement]]:
    """The stored statements, by document (see :func:`dump_documents`)."""
    data = json.loads(body)
    return {
        key: [VexStatement.from_dict(s) for s in statements]
        for key, statements in data["documents"].items()
    }


def dump_documents(documents: Mapping[str, Iterable[VexStatement]]) -> bytes:
    """Every document's statements as one stored reference (sorted: the same set, the same
    bytes)."""
    data = {
        "documents": {
            key: [s.to_dict() for s in statements] for key, statements in sorted(documents.items())
        }
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def merged(
    stored: dict[str, list[VexStatement]], document: VexDocument
) -> dict[str, list[VexStatement]]:
    """``stored`` with ``document`` in place of any earlier copy of it (same key)."""
    return {**stored, document.key: list(document.statements)}
