"""Lean page decoding gives the same records as decoding every field, and falls back safely."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from clearance.inventory.kubernetes.cache import parse_all
from clearance.inventory.kubernetes.wire import decode_page

CLUSTER = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "k8s" / "prod-eu.cluster.json").read_text()
)
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
