from __future__ import annotations

import pytest

from clearance.errors import InvalidAssetError
from clearance.model.assets import (
    AssetKind,
    asset,
    compatible,
    index_keys,
    parse_asset,
    parse_image,
)


def test_host_names_are_lower_cased_and_lose_the_root_dot() -> None:
    assert asset("host", "IP-10-0-1-5.EC2.Internal.").value == "ip-10-0-1-5.ec2.internal"


def test_short_host_name_matches_its_fqdn_but_not_another_domain() -> None:
    short, fqdn, other = (
        asset("host", h)
        for h in ("ip-10-0-1-5", "ip-10-0-1-5.ec2.internal", "ip-10-0-1-5.lab.local")
    )
    assert index_keys(short) == index_keys(fqdn) == index_keys(other)
    assert compatible(short, fqdn)
    assert compatible(short, other)
    assert not compatible(fqdn, other)


@pytest.mark.parametrize("mac", ["4e-93-8a-29-49-64", "4E:93:8A:29:49:64", "4e93.8a29.4964"])
def test_macs_from_every_vendor_share_one_form(mac: str) -> None:
    assert asset("mac", mac).value == "4e:93:8a:29:49:64"


def test_ip_addresses_are_canonical() -> None:
    assert asset("ip", "2001:DB8:0:0::1").value == "2001:db8::1"
    with pytest.raises(InvalidAssetError, match="invalid IP"):
        asset("ip", "10.0.0.256")


def test_container_ids_lose_the_runtime_prefix_and_match_falcos_short_form() -> None:
    full = asset("container", "containerd://" + "ab12" * 16)
    short = asset("container", "ab12ab12ab12")
    assert full.value == "ab12" * 16
    assert index_keys(full) == index_keys(short)
    assert compatible(full, short)
    assert not compatible(full, asset("container", "ab12ab12ab13"))


def test_image_references_are_split_and_docker_hub_names_expanded() -> None:
    assert parse_image("nginx") == parse_image("docker.io/library/nginx:latest")
    ref = parse_image("ghcr.io/acme/api:1.2@sha256:" + "A" * 64)
    assert (ref.repository, ref.tag, ref.digest) == (
        "ghcr.io/acme/api",
        "1.2",
        "sha256:" + "a" * 64,
    )
    assert parse_image("localhost:5000/app:7").repository == "localhost:5000/app"
    assert (
        parse_image("docker-pullable://busybox@sha256:" + "b" * 64).repository
        == "docker.io/library/busybox"
    )


def test_an_image_by_digest_matches_the_same_digest_under_another_tag() -> None:
    digest = "sha256:" + "c" * 64
    a = asset("image", f"ghcr.io/acme/api:1.2@{digest}")
    b = asset("image", f"ghcr.io/acme/api@{digest}")
    c = asset("image", "ghcr.io/acme/api:1.2")
    assert set(index_keys(a)) & set(index_keys(b))
    assert compatible(a, b)
    assert compatible(a, c)  # same repo:tag, one side without digest
    assert not compatible(b, asset("image", "ghcr.io/acme/api@sha256:" + "d" * 64))


def test_scoped_kinds_need_their_scope() -> None:
    assert parse_asset("pod:Shop/API-1").value == "shop/api-1"
    with pytest.raises(InvalidAssetError, match="scoped"):
        parse_asset("pod:api-1")


def test_parse_asset_names_the_unknown_kind() -> None:
    with pytest.raises(InvalidAssetError, match="unknown asset kind 'hots'"):
        parse_asset("hots:web-1")
    assert parse_asset("cluster:Prod-EU").kind is AssetKind.CLUSTER


def test_a_bare_digest_round_trips_and_indexes() -> None:
    ref = asset("image", "sha256:" + "E" * 64)
    assert ref.value == "sha256:" + "e" * 64
    assert asset("image", ref.value) == ref
    assert index_keys(ref) == ("image@sha256:" + "e" * 64,)
    assert compatible(ref, asset("image", "ghcr.io/acme/api@sha256:" + "e" * 64))
