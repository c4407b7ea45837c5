"""Lean page decoding gives the same records as decoding every field, and falls back safely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from clearance.inventory.kubernetes.cache import parse_all
from clearance.inventory.kubernetes.health import HEALTHY_POD
from clearance.inventory.kubernetes.wire import decode_page

FIXTURES = Path(__file__).parents[2] / "fixtures" / "k8s"
CLUSTER = json.loads((FIXTURES / "prod-eu.cluster.json").read_text())
KINDS = [
    ("pods", "pod"),
    ("nodes", "node"),
    ("deployments", "deployment"),
    ("replicasets", "replicaset"),
    ("statefulsets", "statefulset"),
    ("daemonsets", "daemonset"),
]


def page(items: list[Any], token: str | None = None) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": "42"}
    if token:
        meta["continue"] = token
    return msgspec.json.encode({"kind": "List", "metadata": meta, "items": items})


@pytest.mark.parametrize(("plural", "kind"), KINDS)
def test_lean_decoding_parses_to_the_same_records(plural: str, kind: str) -> None:
    items, version, token = decode_page(kind, page(CLUSTER[plural], "abc"))
    assert (version, token) == ("42", "abc")
    assert parse_all(kind, items) == parse_all(kind, CLUSTER[plural])


@pytest.mark.parametrize("name", ["crashloopbackoff", "imagepullbackoff", "restarting", "evicted"])
def test_lean_decoding_keeps_what_pod_health_reads(name: str) -> None:
    pod = {
        **CLUSTER["pods"][0],
        "status": json.loads((FIXTURES / f"status.{name}.json").read_text()),
    }
    items, _, _ = decode_page("pod", page([pod]))
    assert parse_all("pod", items) == parse_all("pod", [pod])
    [parsed], _ = parse_all("pod", items)
    assert parsed.health != HEALTHY_POD  # type: ignore[union-attr]


def test_lean_decoding_keeps_node_and_rollout_conditions() -> None:
    node = {**CLUSTER["nodes"][0]}
    node["status"] = {
        **node["status"],
        "conditions": json.loads((FIXTURES / "status.node-pressure.json").read_text()),
    }
    deployment = {
        **CLUSTER["deployments"][0],
        "status": json.loads((FIXTURES / "status.progress-deadline-exceeded.json").read_text()),
    }
    for kind, obj in (("node", node), ("deployment", deployment)):
        items, _, _ = decode_page(kind, page([obj]))
        assert parse_all(kind, items) == parse_all(kind, [obj])
    [parsed], _ = parse_all("node", decode_page("node", page([node]))[0])
    assert parsed.health.problems  # type: ignore[union-attr]


def test_a_page_with_an_odd_object_falls_back_and_keeps_the_others() -> None:
    odd = ["not an object", {"metadata": {"name": 7}}]
    items, version, _ = decode_page("pod", page([*odd, *CLUSTER["pods"]]))
    assert version == "42"
    parsed, malformed = parse_all("pod", items)
    assert len(parsed) == len(CLUSTER["pods"])
    assert len(malformed) == 2


def test_a_body_that_is_not_json_raises_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_page("pod", b"<html>proxy error</html>")
