"""The host identity graph: one machine under every platform's name, and no false joins."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clearance.inventory.identity import IdentityGraph
from clearance.model.assets import AssetRef, parse_asset


def refs(*texts: str) -> list[AssetRef]:
    return [parse_asset(t) for t in texts]


# The EKS node of tests/fixtures/k8s/honeycomb.nodelist.eks.json, as the inventory sees it.
NODE = refs(
    "host:duckboat-01",
    "host:ip-10-9-150-105.ec2.internal",
    "ip:10.9.150.105",
    "instance:i-03dc801fd988ab620",
)
FALCON = {
    "host": ["IP-10-9-150-105"],
    "instance": ["i-03dc801fd988ab620"],
    "ip": ["10.9.150.105"],
    "mac": ["0a-1b-2c-3d-4e-5f"],
}
DEFENDER = {
    "host": ["ip-10-9-150-105.ec2.internal"],
    "ip": ["10.9.150.105"],
    "mac": ["0A:1B:2C:3D:4E:5F"],
}
SENTINELONE = {"host": ["duckboat-01"], "mac": ["0a1b2c3d4e5f"]}


def expanded(graph: IdentityGraph, given_refs: list[AssetRef]) -> set[str]:
    return {str(r) for r in graph.expand(given_refs).refs}


def test_node_expands_to_every_platforms_name_for_the_machine() -> None:
    graph = IdentityGraph()
    graph.add(FALCON, label="falcon:aid-1")
    graph.add(DEFENDER, label="defender:m-1")
    graph.add(SENTINELONE, label="s1:agent-1")
    assert len(graph) == 1
    result = graph.expand(NODE)
    assert {str(r) for r in result.refs} >= {
        "host:ip-10-9-150-105",  # Falcon's upper-case short name, normalized
        "mac:0a:1b:2c:3d:4e:5f",
    }
    assert result.ambiguities == ()
    joined = dict(result.joined)
    assert joined[parse_asset("mac:0a:1b:2c:3d:4e:5f")] in NODE


def test_a_mac_alone_reaches_the_machine() -> None:
    graph = IdentityGraph()
    graph.add(FALCON)
    assert "instance:i-03dc801fd988ab620" in expanded(graph, refs("mac:0A1B2C3D4E5F"))


def test_two_machines_claiming_one_ip_are_reported_not_joined() -> None:
    graph = IdentityGraph()
    graph.add({"host": ["web-1"], "ip": ["10.0.0.5"]}, label="falcon:web-1")
    graph.add({"host": ["db-2"], "ip": ["10.0.0.5"]}, label="falcon:db-2")
    assert len(graph) == 2
    result = graph.expand(refs("ip:10.0.0.5"))
    assert {str(r) for r in result.refs} == {"ip:10.0.0.5"}
    assert result.ambiguities
    assert "claimed by 2 machines" in result.ambiguities[0]
    assert "falcon:db-2" in result.ambiguities[0]


def test_an_ambiguous_ip_of_a_joined_machine_is_not_handed_out() -> None:
    graph = IdentityGraph()
    graph.add({"instance": ["i-1"], "ip": ["10.0.0.5"]}, label="a")
    graph.add({"instance": ["i-2"], "ip": ["10.0.0.5"]}, label="b")
    result = graph.expand(refs("instance:i-1"))
    assert "ip:10.0.0.5" not in {str(r) for r in result.refs}
    assert any("10.0.0.5" in a for a in result.ambiguities)


def test_one_short_name_in_two_domains_is_two_machines() -> None:
    graph = IdentityGraph()
    graph.add({"host": ["web-1.corp.example"], "ip": ["10.0.0.1"]})
    graph.add({"host": ["web-1.lab.example"], "ip": ["10.9.0.1"]})
    graph.add({"host": ["WEB-1"], "mac": ["aa:aa:aa:aa:aa:aa"]})  # which one? nobody can say
    assert len(graph) == 3
    result = graph.expand(refs("host:web-1"))
    assert result.ambiguities
    assert "ip:10.0.0.1" not in {str(r) for r in result.refs}
    # The FQDN itself is unambiguous.
    assert "ip:10.0.0.1" in expanded(graph, refs("host:web-1.corp.example"))


def test_names_never_join_machines_with_different_instance_ids() -> None:
    graph = IdentityGraph()
    graph.add({"host": ["node-1"], "instance": ["i-aaa"]})
    graph.add({"host": ["node-1"], "instance": ["i-bbb"]})
    assert len(graph) == 2
    assert "instance:i-bbb" not in expanded(graph, refs("instance:i-aaa"))


def test_refs_naming_different_machines_join_only_the_strongest() -> None:
    graph = IdentityGraph()
    graph.add({"instance": ["i-1"], "host": ["a"]}, label="by-instance")
    graph.add({"ip": ["10.0.0.9"], "host": ["b"]}, label="by-ip")
    result = graph.expand(refs("instance:i-1", "ip:10.0.0.9"))
    out = {str(r) for r in result.refs}
    assert "host:a" in out
    assert "host:b" not in out
    assert any("by-ip" in a for a in result.ambiguities)


def test_malformed_values_are_skipped_and_listed() -> None:
    graph = IdentityGraph()
    graph.add({"host": ["ok-1"], "mac": ["zz"], "ip": ["999.1.1.1"], "color": ["blue"]}, label="g")
    assert len(graph) == 1
    assert len(graph.skipped) == 3
    assert all(s.startswith("g: ") for s in graph.skipped)


def test_unknown_refs_expand_to_themselves() -> None:
    assert expanded(IdentityGraph(), NODE) == {str(r) for r in NODE}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["i-1", "i-2", "i-3"]),
            st.sampled_from(["h1", "h2", "h1.x.example"]),
            st.sampled_from(["10.0.0.1", "10.0.0.2"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_expansion_never_crosses_instance_ids(groups: list[tuple[str, str, str]]) -> None:
    graph = IdentityGraph()
    for instance, host, ip in groups:
        graph.add({"instance": [instance], "host": [host], "ip": [ip]})
    for instance, _, _ in groups:
        found = {
            r.value for r in graph.expand(refs(f"instance:{instance}")).refs if r.kind == "instance"
        }
        assert found == {instance}


def test_a_group_added_after_an_expansion_is_seen_by_the_next_one() -> None:
    graph = IdentityGraph()
    graph.add({"instance": ["i-1"], "host": ["a"]})
    assert "mac:aa:aa:aa:aa:aa:aa" not in expanded(graph, refs("instance:i-1"))
    graph.add({"instance": ["i-1"], "mac": ["aa:aa:aa:aa:aa:aa"]})
    assert "mac:aa:aa:aa:aa:aa:aa" in expanded(graph, refs("instance:i-1"))


def test_add_all_labels_machines_by_source_for_the_notes() -> None:
    graph = IdentityGraph()
    graph.add_all(
        [{"host": ["web-1"], "ip": ["10.0.0.5"]}, {"host": ["db-2"], "ip": ["10.0.0.5"]}],
        source="falcon",
    )
    [note] = graph.expand(refs("ip:10.0.0.5")).ambiguities
    assert "falcon:db-2" in note
    assert "falcon:web-1" in note
