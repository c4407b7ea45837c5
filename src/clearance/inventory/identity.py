"""The host identity graph: which names, across platforms, belong to one machine.

The same machine is ``ip-10-0-1-5.ec2.internal`` to Kubernetes, ``i-0abc…`` in its providerID,
``IP-10-0-1-5`` to CrowdStrike, an FQDN to Defender and a MAC to SentinelOne. Each platform reports
*groups* (one per machine it knows: ``{"host": [...], "instance": [...], "ip": [...], "mac":
[...]}``, the ``Batch.identities`` shape); the graph joins groups into machines and expands a set
of refs to every ref of the same machine.

Joining rules, chosen so that a wrong join is impossible rather than unlikely:

* groups join into one machine when they share an instance id, a MAC, or a host name (an FQDN,
  or a short name that another group spells as the first label of its FQDN), unless their instance
  ids differ (two cloud machines are never one, whatever their names say);
* an IP never joins groups (private ranges are reused across VPCs and by NAT), it only points to
  the one machine that claims it;
* a ref claimed by two machines (two hosts with one IP, one short name in two domains) is
  *ambiguous*: it is not used for joining, and every expansion that meets it reports it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

import msgspec

from clearance.errors import InvalidAssetError
from clearance.model.assets import AssetKind, AssetRef, asset, compatible, index_keys
from clearance.model.canonical import canonical_digest
from clearance.model.target import ExposedAsset, Exposure, Proximity

_JOINING = (AssetKind.INSTANCE, AssetKind.MAC, AssetKind.HOST)
_KINDS = {AssetKind.HOST, AssetKind.INSTANCE, AssetKind.IP, AssetKind.MAC}
# How much a shared value says about two records being one machine, strongest first.
_MEMO_LIMIT = 1 << 16
_STRENGTH = {AssetKind.INSTANCE: 0, AssetKind.MAC: 1, AssetKind.HOST: 2, AssetKind.IP: 3}


class Expansion(msgspec.Struct, frozen=True):
    """``refs`` plus every ref of the same machine; ``joined`` says which input ref led to each."""

    refs: tuple[AssetRef, ...]
    joined: tuple[tuple[AssetRef, AssetRef], ...]  # (added ref, the input ref that joined it)
    ambiguities: tuple[str, ...]


class IdentityGraph:
    """Machines built from identity groups. Not thread-safe: build it, then read it."""

    def __init__(self) -> None:
        self._groups: list[frozenset[AssetRef]] = []
        self._labels: list[str] = []
        self._by_key: defaultdict[str, set[int]] = defaultdict(set)
        self._parent: list[int] = []
        self._refs: dict[int, set[AssetRef]] = {}  # machine root -> every ref of its groups
        self._members: dict[int, list[int]] = {}  # machine root -> its groups
        self.skipped: list[str] = []  # values that could not be normalized, with their group
        # Expansions by input: a node is expanded on every decision about its workloads.
        self._memo: dict[frozenset[AssetRef], Expansion] = {}

    def add(self, group: Mapping[str, Iterable[str]], *, label: str = "") -> None:
        """Add one machine as one platform sees it. Malformed values are skipped and listed."""
        refs: set[AssetRef] = set()
        for kind, values in group.items():
            try:
                asset_kind = AssetKind(kind)
            except ValueError:
                self.skipped.append(f"{label or 'group'}: unknown identity kind {kind!r}")
                continue
            if asset_kind not in _KINDS:
                continue
            for value in values:
                try:
                    refs.add(asset(asset_kind, value))
                except InvalidAssetError as exc:
                    self.skipped.append(f"{label or 'group'}: {exc}")
        if not refs:
            return
        self._memo.clear()
        gid = len(self._groups)
        self._groups.append(frozenset(refs))
        self._labels.append(label or str(min(refs)))
        self._parent.append(gid)
        self._refs[gid] = set(refs)
        self._members[gid] = [gid]
        for ref in sorted(refs):
            if ref.kind not in _JOINING:
                continue
            for key in index_keys(ref):
                for other in sorted(self._by_key.get(key, ())):
                    if self._joins(gid, ref, other):
                        self._union(gid, other)
        for ref in refs:
            for key in index_keys(ref):
                self._by_key[key].add(gid)

    @classmethod
    def of(cls, reported: Iterable[tuple[str, Mapping[str, Iterable[str]]]]) -> IdentityGraph:
        """The graph of ``(source, group)`` pairs, built in one canonical order (by source, then
        by the group's content digest, each distinct group once): whoever reported them first,
        the same groups give the same machines and the same explanations."""
        distinct: dict[tuple[str, str], Mapping[str, Iterable[str]]] = {}
        for source, group in reported:
            value = {kind: list(values) for kind, values in group.items()}
            distinct.setdefault((source, canonical_digest(value)), value)
        graph = cls()
        for (source, _), group in sorted(distinct.items(), key=lambda item: item[0]):
            graph.add_all((group,), source=source)
        return graph

    def add_all(self, groups: Iterable[Mapping[str, Iterable[str]]], *, source: str) -> None:
        """Add a source's ``Batch.identities``, labelling each machine ``source:<first name>``."""
        for group in groups:
            names = [*group.get("host", ()), *group.get("instance", ()), *group.get("ip", ())]
            self.add(group, label=f"{source}:{names[0]}" if names else source)

    def __len__(self) -> int:
        return len(self._members)

    def _find(self, gid: int) -> int:
        while self._parent[gid] != gid:
            self._parent[gid] = self._parent[self._parent[gid]]
            gid = self._parent[gid]
        return gid

    def _claims(self, gid: int, ref: AssetRef) -> bool:
        return any(compatible(ref, o) for o in self._groups[gid])

    def _joins(self, gid: int, ref: AssetRef, other: int) -> bool:
        mine, theirs = self._find(gid), self._find(other)
        if mine == theirs or not self._claims(other, ref):
            return False
        a, b = self._refs[mine], self._refs[theirs]
        inst_a = {r for r in a if r.kind is AssetKind.INSTANCE}
        inst_b = {r for r in b if r.kind is AssetKind.INSTANCE}
        if inst_a and inst_b and not inst_a & inst_b:
            return False  # two cloud machines are never one
        if ref.kind is AssetKind.HOST:
            key = index_keys(ref)[0]
            hosts = [r for r in a | b if r.kind is AssetKind.HOST and index_keys(r)[0] == key]
            if any(not compatible(x, y) for x in hosts for y in hosts):
                return False  # web-1.corp and web-1.lab are two machines
            if "." not in ref.value:
                # A bare short name joins only if one machine answers to it.
                roots = {self._find(g) for g in self._by_key.get(key, ()) if self._claims(g, ref)}
                if len(roots) > 1:
                    return False
        return True

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        keep, gone = min(ra, rb), max(ra, rb)
        self._parent[gone] = keep
        self._refs[keep] |= self._refs.pop(gone)
        self._members[keep] += self._members.pop(gone)

    def machines_of(self, ref: AssetRef) -> set[int]:
        """The machines (root ids) that claim ``ref``.

        An FQDN claimed exactly by some machine belongs to those only: a group that knows just
        the short name is a weaker claim than one that reports the full name.
        """
        groups = {g for key in index_keys(ref) for g in self._by_key.get(key, ())}
        if ref.kind is AssetKind.HOST and "." in ref.value:
            exact = {self._find(g) for g in groups if ref in self._groups[g]}
            if exact:
                return exact
        return {self._find(g) for g in groups if self._claims(g, ref)}

    def _describe(self, root: int) -> str:
        return min(self._labels[g] for g in self._members[root])

    def expand(self, refs: Iterable[AssetRef]) -> Expansion:
        """``refs`` plus the refs of the one machine they name; ambiguities are reported.

        Input refs that belong to one machine (a node's names) are expanded together. If they
        point at different machines, only the machine reached by the strongest identifier
        (instance id, then MAC, then host name) is joined, and the conflict is reported.
        """
        key = frozenset(refs)
        known = self._memo.get(key)
        if known is None:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            known = self._memo[key] = self._expand(key)
        return known

    def _expand(self, refs: frozenset[AssetRef]) -> Expansion:
        given = sorted(refs)
        ambiguities: list[str] = []
        reached: dict[int, list[AssetRef]] = defaultdict(list)
        for ref in given:
            roots = self.machines_of(ref)
            if len(roots) > 1:
                names = ", ".join(sorted(self._describe(r) for r in roots))
                ambiguities.append(
                    f"{ref} is claimed by {len(roots)} machines ({names}); not used to join"
                )
            elif roots:
                reached[roots.pop()].append(ref)
        if len(reached) > 1:
            strength = _STRENGTH
            ranked = sorted(reached, key=lambda r: (min(strength[x.kind] for x in reached[r]), r))
            best, rest = ranked[0], ranked[1:]
            best_rank = min(strength[x.kind] for x in reached[best])
            if any(min(strength[x.kind] for x in reached[r]) == best_rank for r in rest):
                names = ", ".join(sorted(self._describe(r) for r in ranked))
                ambiguities.append(
                    f"{', '.join(map(str, given))} name different machines ({names}); not joined"
                )
                return Expansion(tuple(given), (), tuple(ambiguities))
            for r in rest:
                ambiguities.append(
                    f"{', '.join(map(str, reached[r]))} also names {self._describe(r)}, "
                    f"a different machine from {self._describe(best)}; not joined"
                )
            reached = {best: reached[best]}
        known = set(given)
        joined: list[tuple[AssetRef, AssetRef]] = []
        for root, via in reached.items():
            strongest = min(via, key=lambda r: (_STRENGTH[r.kind], r))
            for ref in sorted(self._refs[root] - known):
                if len(self.machines_of(ref)) > 1:
                    ambiguities.append(
                        f"{ref} of {self._describe(root)} is claimed by other machines too; "
                        "not used"
                    )
                    continue
                joined.append((ref, strongest))
                known.add(ref)
        return Expansion(tuple(sorted(known)), tuple(joined), tuple(ambiguities))


def expand_hosts(exposure: Exposure, graph: IdentityGraph) -> Exposure:
    """Add every name the EDR host inventories know for each host the exposure touches.

    Each host reference is expanded on its own (a static inventory does not say which names
    belong to one machine); ambiguities are kept as notes, never joined.
    """
    if not len(graph):
        return exposure
    added: list[ExposedAsset] = []
    notes: list[str] = []
    for exposed in exposure.assets:
        if exposed.proximity is not Proximity.HOST:
            continue
        expansion = graph.expand([exposed.ref])
        added += [
            ExposedAsset(Proximity.HOST, ref, f"identity: same machine as {by}")
            for ref, by in expansion.joined
        ]
        notes += [f"identity: {text}" for text in expansion.ambiguities]
    if not added and not notes:
        return exposure
    return replace(
        exposure,
        assets=tuple(sorted({*exposure.assets, *added})),
        notes=tuple(dict.fromkeys((*exposure.notes, *notes))),
    )
