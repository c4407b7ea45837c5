"""Candidate nodes: the scheduler's filters, on real nodes and pods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.inventory.kubernetes.candidates import candidate_nodes, read_manifest
from clearance.inventory.kubernetes.objects import (
    MalformedObjectError,
    Node,
    Requirement,
    Scheduling,
    SelectorTerm,
    Taint,
    Toleration,
    parse_node,
    parse_pod,
    scheduling_of,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "k8s"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def eks_nodes() -> list[Node]:
    return [parse_node(n) for n in load("honeycomb.nodelist.eks.json")["items"]]


def node(
    name: str,
    labels: dict[str, str] | None = None,
    *,
    taints: tuple[Taint, ...] = (),
    unschedulable: bool = False,
) -> Node:
    return Node(name, f"uid-{name}", labels or {}, taints, unschedulable, ())


def names(scheduling: Scheduling, nodes: list[Node], *, daemonset: bool = False) -> list[str]:
    return [n.name for n in candidate_nodes(scheduling, nodes, daemonset=daemonset).nodes]


def spec(**fields: Any) -> Scheduling:
    return scheduling_of({"containers": [{"name": "app", "image": "app:1"}], **fields}, "test")


def test_pending_pod_fixture_has_no_candidate_among_tainted_arm64_eks_nodes() -> None:
    # The documented case: required affinity arch NotIn [arm64] against two arm64 nodes that
    # also carry type=hound:NoSchedule.
    pod = parse_pod(load("troubleshoot.pod.pending-node-affinity.json")["items"][0])
    assert pod.scheduling is not None
    found = candidate_nodes(pod.scheduling, eks_nodes(), daemonset=False)
    assert found.nodes == ()
    assert any("eks.amazonaws.com/nodegroup=custom-1" in n for n in found.notes)


def test_node_selector_and_toleration_pick_the_matching_eks_node() -> None:
    scheduling = spec(
        nodeSelector={"topology.kubernetes.io/zone": "us-east-1a"},
        tolerations=[
            {"key": "type", "operator": "Equal", "value": "hound", "effect": "NoSchedule"}
        ],
    )
    assert names(scheduling, eks_nodes()) == ["duckboat-01"]


def test_without_the_toleration_the_taint_excludes_every_node() -> None:
    assert names(spec(nodeSelector={"kubernetes.io/arch": "arm64"}), eks_nodes()) == []


def test_daemonset_fixture_tolerates_everything_but_honours_its_node_selector() -> None:
    ds = load("k9s.daemonset.json")
    scheduling = scheduling_of(ds["spec"]["template"]["spec"], "ds")
    selector = dict(scheduling.node_selector)
    fits = node("fits", selector, taints=(Taint("dedicated", "x", "NoExecute"),))
    other = node("other", {})
    assert names(scheduling, [fits, other], daemonset=True) == ["fits"]


@pytest.mark.parametrize(
    ("operator", "values", "label", "fits"),
    [
        ("In", ("a", "b"), "b", True),
        ("In", ("a",), "b", False),
        ("In", ("a",), None, False),
        ("NotIn", ("a",), "b", True),
        ("NotIn", ("a",), None, True),
        ("NotIn", ("a",), "a", False),
        ("Exists", (), "x", True),
        ("Exists", (), None, False),
        ("DoesNotExist", (), None, True),
        ("DoesNotExist", (), "x", False),
        ("Gt", ("4",), "8", True),
        ("Gt", ("4",), "4", False),
        ("Lt", ("4",), "2", True),
        ("Lt", ("4",), "not-a-number", False),
    ],
)
def test_match_expression_operators(
    operator: str, values: tuple[str, ...], label: str | None, fits: bool
) -> None:
    term = SelectorTerm((Requirement("k", operator, values),), ())
    scheduling = Scheduling(None, (), (term,), ())
    labels = {} if label is None else {"k": label}
    assert names(scheduling, [node("n", labels)]) == (["n"] if fits else [])


def test_terms_are_ored_and_an_empty_term_list_matches_nothing() -> None:
    a = SelectorTerm((Requirement("zone", "In", ("a",)),), ())
    b = SelectorTerm((), (Requirement("metadata.name", "In", ("n2",)),))
    nodes = [node("n1", {"zone": "a"}), node("n2", {"zone": "b"}), node("n3", {"zone": "c"})]
    assert names(Scheduling(None, (), (a, b), ()), nodes) == ["n1", "n2"]
    assert names(Scheduling(None, (), (), ()), nodes) == []


def test_cordoned_nodes_are_excluded_unless_tolerated() -> None:
    nodes = [node("up"), node("cordoned", unschedulable=True)]
    assert names(spec(), nodes) == ["up"]
    tolerant = spec(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}])
    assert names(tolerant, nodes) == ["cordoned", "up"]


def test_prefer_no_schedule_does_not_filter_and_no_execute_does() -> None:
    soft = node("soft", taints=(Taint("k", "v", "PreferNoSchedule"),))
    hard = node("hard", taints=(Taint("k", "v", "NoExecute"),))
    assert names(spec(), [soft, hard]) == ["soft"]
    effectless = Toleration("k", "Equal", "v", "")  # empty effect tolerates every effect
    assert names(Scheduling(None, (), None, (effectless,)), [soft, hard]) == ["hard", "soft"]


def test_node_name_bypasses_filters() -> None:
    pinned = spec(nodeName="cordoned")
    nodes = [node("up"), node("cordoned", unschedulable=True)]
    found = candidate_nodes(pinned, nodes, daemonset=False)
    assert [n.name for n in found.nodes] == ["cordoned"]


def test_read_manifest_of_a_cronjob_uses_its_job_template() -> None:
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "report", "namespace": "ops"},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "nodeSelector": {"pool": "batch"},
                            "containers": [{"name": "r", "image": "r:1"}],
                        }
                    }
                }
            }
        },
    }
    workload = read_manifest(manifest)
    assert (workload.kind, workload.namespace, workload.name) == ("cronjob", "ops", "report")
    assert workload.scheduling.node_selector == (("pool", "batch"),)


@pytest.mark.parametrize(
    "manifest",
    [
        {"kind": "Service", "metadata": {"name": "x"}},
        {"kind": "Deployment", "metadata": {"name": "x"}},
    ],
)
def test_manifests_that_are_not_workloads_are_refused_by_name(manifest: dict[str, Any]) -> None:
    with pytest.raises(MalformedObjectError, match="manifest"):
        read_manifest(manifest)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "kind",
                        "metadata",
                        "spec",
                        "template",
                        "jobTemplate",
                        "name",
                        "nodeSelector",
                        "affinity",
                        "nodeAffinity",
                        "tolerations",
                        "nodeName",
                        "x",
                    ]
                ),
                c,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_any_manifest_is_read_or_refused_by_name_never_crashes(manifest: Any) -> None:
    errors: list[str] = []
    try:
        read_manifest(manifest)
    except MalformedObjectError as exc:
        errors.append(str(exc))
    assert all(e.startswith("malformed manifest") for e in errors)


def test_the_notes_say_why_nodes_were_excluded() -> None:
    nodes = [
        *eks_nodes(),
        node("cordoned", unschedulable=True),
        node("x86", {"kubernetes.io/arch": "amd64"}),
    ]
    found = candidate_nodes(
        spec(nodeSelector={"kubernetes.io/arch": "arm64"}), nodes, daemonset=False
    )
    assert found.nodes == ()
    assert (
        "4 of 4 nodes excluded: cordoned (1), nodeSelector/affinity not matched (1), "
        "taint type=hound:NoSchedule not tolerated (2)"
    ) in found.notes
