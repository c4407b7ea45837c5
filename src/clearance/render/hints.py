"""Remediation hints for a block or approve decision: what would clear it, where one exists.

Derived from the decision alone (pure, so the same decision always gets the same hints), and
never part of the decision's own JSON: a hint is advice, the decision is the record. Per reason
that counts:

* a finding (a rule that named a signal, or the score's top contributor): the exception that
  would waive it on this target, as the ``clearance exceptions create`` command to run (it needs
  the admin scope, a reason and a ticket, and expires);
* a decision-scope rule: the same, for the rule;
* a failure stance or a freeze window: no exception waives those; what to look at instead;
* the detection's console link, when the source gave one;
* findings on the nodes the workload may run on: those nodes, and the scheduling constraint
  (a required nodeAffinity) that keeps the workload off them.
"""

from __future__ import annotations

import shlex
from typing import Any

import msgspec

from clearance.model.canonical import with_present
from clearance.model.decision import Contribution, Decision, Verdict

EXPIRES_IN = "7d"  # a suggestion; the environment's exceptions.max_lifetime bounds it


class Hint(msgspec.Struct, frozen=True):
    reason: str  # the reason code it answers
    text: str
    command: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"reason": self.reason, "text": self.text}
        return with_present(data, command=self.command, url=self.url)


def hints(decision: Decision) -> tuple[Hint, ...]:
    if decision.verdict is Verdict.PROCEED:
        return ()
    d = decision
    by_signal = {c.signal: c for c in d.contributors}
    out: list[Hint] = []
    seen: set[tuple[str, str]] = set()
    for r in d.reasons:
        if r.waived_by is not None or r.verdict is Verdict.PROCEED:
            continue
        if r.code.startswith("stance:"):
            out.append(Hint(r.code, _STANCE, None))
        elif r.code.startswith("freeze:"):
            out.append(Hint(r.code, _FREEZE.format(id=d.id)))
        elif r.code.startswith("rule:") and r.signal is None:
            rule = r.code.removeprefix("rule:")
            if ("rule", rule) not in seen:
                seen.add(("rule", rule))
                out.append(
                    Hint(r.code, f"an exception for rule {rule} on this target would waive it",
                         _exception(d, "--rule", rule))
                )  # fmt: skip
        elif r.signal is not None or (r.code == "score" and d.contributors):
            uid = r.signal or d.contributors[0].signal
            if ("signal", uid) in seen:
                continue
            seen.add(("signal", uid))
            what = "waive it" if r.signal else f"take its top contributor ({uid}) out of the score"
            out.append(
                Hint(r.code, f"an exception for {uid} on this target would {what}",
                     _exception(d, "--signal", uid), _url(by_signal.get(uid)))
            )  # fmt: skip
    nodes = _nodes(d, {uid for kind, uid in seen if kind == "signal"})
    if nodes:
        out.append(Hint("scheduling", _avoid(nodes)))
    return tuple(out)


_STANCE = (
    "a failure stance is never waived by an exception: bring the source back or fresh "
    "(GET /v1/sources), or correlate the target (check the inventory), then ask again"
)
_FREEZE = (
    "a freeze window is never waived by an exception: wait for it to end, or break glass "
    "(POST /v1/decisions/{id}/break-glass, scope approve, with a reason and a ticket)"
)


def _exception(d: Decision, flag: str, value: str) -> str:
    t = d.target
    argv = ["clearance", "exceptions", "create", flag, value, "--env", t.environment,
            "--cluster", t.cluster, "--namespace", t.namespace, "--workload", str(t.workload),
            "--expires-in", EXPIRES_IN, "--reason", "WHY", "--ticket", "TICKET"]  # fmt: skip
    return shlex.join(argv)


def _url(c: Contribution | None) -> str | None:
    return None if c is None else c.url


def _nodes(d: Decision, uids: set[str]) -> list[str]:
    found = {
        c.matched.removeprefix("host:")
        for c in d.contributors
        if c.signal in uids and c.proximity == "host" and c.matched.startswith("host:")
    }
    return sorted(found)


def _avoid(nodes: list[str]) -> str:
    values = ", ".join(nodes)
    return (
        f"the findings are on node(s) {values}: keep the workload off them with "
        "spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        f".nodeSelectorTerms: [{{matchExpressions: [{{key: kubernetes.io/hostname, "
        f"operator: NotIn, values: [{values}]}}]}}] (or drain and replace them)"
    )
