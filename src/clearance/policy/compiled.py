"""Policy: a validated document, its compiled rules, and the digest recorded with decisions."""

from __future__ import annotations

import fnmatch
import hashlib
from datetime import datetime

import msgspec

from clearance.errors import UnknownEnvironmentError
from clearance.model.assets import AssetKind
from clearance.model.exemptions import Exemption
from clearance.model.signal import Signal
from clearance.policy.rules import CompiledRule, compile_rule
from clearance.policy.schema import Environment, PolicyDocument, Suppression
from clearance.policy.weights import Weights


class Policy(msgspec.Struct, frozen=True):
    document: PolicyDocument
    digest: str  # "sha256:<hex>" of the policy file's bytes
    origin: str  # file path, or "<demo>"
    rules: tuple[CompiledRule, ...]
    exemptions: tuple[Exemption, ...]
    weights: Weights

    @classmethod
    def build(
        cls,
        document: PolicyDocument,
        text: bytes,
        origin: str,
        rules: tuple[CompiledRule, ...] | None = None,
    ) -> Policy:
        """Assemble from an already-validated document (rules must compile; see load.py).
        ``rules``: the document's rules already compiled, in order (the loader compiles each to
        report its errors), else compiled here."""
        if rules is None or len(rules) != len(document.rules):
            rules = tuple(compile_rule(r) for r in document.rules)
        return cls(
            document=document,
            digest="sha256:" + hashlib.sha256(text).hexdigest(),
            origin=origin,
            rules=rules,
            weights=Weights.of(document.scoring),
            exemptions=tuple(
                Exemption(
                    id=e.id,
                    signal=e.finding.signal,
                    rule=e.finding.rule,
                    environment=e.target.environment,
                    cluster=e.target.cluster,
                    namespace=e.target.namespace,
                    workload=e.target.workload,
                    expires=e.expires,
                    reason=e.reason,
                    ticket=e.ticket,
                    approver=e.approver,
                )
                for e in document.exceptions
            ),
        )

    def environment(self, name: str) -> Environment:
        try:
            return self.document.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.document.environments))
            raise UnknownEnvironmentError(
                f"environment {name!r} is not in the policy ({self.origin}); known: {known}"
            ) from None

    def suppression_for(self, signal: Signal, now: datetime) -> Suppression | None:
        """The first live suppression matching ``signal``, in policy order."""
        for s in self.document.suppressions:
            if now < s.expires and _suppresses(s, signal):
                return s
        return None


def _suppresses(s: Suppression, signal: Signal) -> bool:
    if s.source is not None and s.source != signal.source:
        return False
    if s.title is not None and not fnmatch.fnmatchcase(signal.title, s.title):
        return False
    if s.rule is not None and s.rule != signal.rule:
        return False
    if s.asset is not None:
        kind, _, pattern = s.asset.partition(":")
        try:
            wanted = AssetKind(kind.lower())
        except ValueError:
            return False
        pattern = pattern.lower()
        if not any(
            a.kind is wanted and fnmatch.fnmatchcase(a.value, pattern) for a in signal.assets
        ):
            return False
    return True
