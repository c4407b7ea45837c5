"""Pod scheduling constraints, parsed from a pod spec: what decides which nodes a pod may use.

Fields: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#scheduling
(``nodeName``, ``nodeSelector``, ``affinity.nodeAffinity``, ``tolerations``) and node taints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class MalformedObjectError(ValueError):
    """An API object missing what correlation needs; ``where`` names it (``pod shop/api-1``)."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        super().__init__(f"malformed {where}: {problem}")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``matchExpressions`` entry of a node selector term."""

    key: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SelectorTerm:
    """``nodeSelectorTerms[i]``: its expressions and fields are ANDed."""

    expressions: tuple[Requirement, ...]
    fields: tuple[Requirement, ...]


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str  # Equal | Exists
    value: str
    effect: str  # "" = every effect


@dataclass(frozen=True, slots=True)
class Scheduling:
    """The parts of a pod spec that restrict which nodes it may run on."""

    node_name: str | None
    node_selector: tuple[tuple[str, str], ...]
    required_terms: tuple[SelectorTerm, ...] | None  # None: no required node affinity
    tolerations: tuple[Toleration, ...]


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


def _strings(value: Any, where: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedObjectError(where, f"{field} must be a list of strings")
    return tuple(value)


def _requirements(items: Any, where: str, field: str) -> tuple[Requirement, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise MalformedObjectError(where, f"{field} is not a list")
    out = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            raise MalformedObjectError(where, f"{field} entry without key")
        op = item.get("operator")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"):
            raise MalformedObjectError(where, f"{field} operator {op!r} is not known")
        out.append(Requirement(item["key"], op, _strings(item.get("values"), where, field)))
    return tuple(out)


def scheduling_of(spec: Any, where: str) -> Scheduling:
    """Parse the scheduling constraints of a pod spec (``spec`` or ``spec.template.spec``)."""
    if not isinstance(spec, Mapping):
        raise MalformedObjectError(where, "pod spec missing")
    selector = spec.get("nodeSelector") or {}
    if not isinstance(selector, Mapping):
        raise MalformedObjectError(where, "nodeSelector is not a map")
    terms: tuple[SelectorTerm, ...] | None = None
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None:
        raw_terms = required.get("nodeSelectorTerms") if isinstance(required, Mapping) else None
        if not isinstance(raw_terms, list):
            raise MalformedObjectError(where, "nodeSelectorTerms is not a list")
        terms = tuple(
            SelectorTerm(
                _requirements(t.get("matchExpressions"), where, "matchExpressions"),
                _requirements(t.get("matchFields"), where, "matchFields"),
            )
            for t in raw_terms
            if isinstance(t, Mapping)
        )
    tolerations = []
    for t in spec.get("tolerations") or []:
        if not isinstance(t, Mapping):
            raise MalformedObjectError(where, "toleration is not a map")
        tolerations.append(
            Toleration(
                key=str(t.get("key") or ""),
                operator=str(t.get("operator") or "Equal"),
                value=str(t.get("value") or ""),
                effect=str(t.get("effect") or ""),
            )
        )
    node_name = spec.get("nodeName") or None
    return Scheduling(
        node_name=str(node_name) if node_name else None,
        node_selector=tuple(sorted((str(k), str(v)) for k, v in selector.items())),
        required_terms=terms,
        tolerations=tuple(tolerations),
    )


def pod_template_spec(obj: Mapping[str, Any], kind: str) -> Any:
    """The pod spec a workload object creates pods from (``None`` if it has no template)."""
    spec = obj.get("spec") or {}
    if kind == "pod":
        return spec
    if kind == "cronjob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec")
