"""A sign-off covers its artifact: images by digest where known, else exact; the same commit."""

from __future__ import annotations

from clearance.model.artifact import Artifact

DIGEST = "sha256:" + "c" * 64


def _of(*images: str, commit: str | None = "abc123") -> Artifact:
    change = {} if commit is None else {"change": {"commit": commit}}
    return Artifact.of({"images": list(images), **change})


def test_images_are_identified_by_digest_where_known() -> None:
    pinned = _of(f"ghcr.io/acme/api:1.0@{DIGEST}")
    assert pinned.images == (DIGEST,)
    assert pinned.covers(_of(f"ghcr.io/acme/api:latest@{DIGEST}"))
    assert _of("nginx:1.27").images == ("docker.io/library/nginx:1.27",)


def test_another_image_or_commit_is_not_covered() -> None:
    approved = _of("ghcr.io/acme/api:1.0", "ghcr.io/acme/worker:1.0")
    assert approved.covers(_of("ghcr.io/acme/worker:1.0", "ghcr.io/acme/api:1.0"))
    assert not approved.covers(_of("ghcr.io/acme/api:1.0"))  # leaving one out is another ask
    assert not approved.covers(_of(commit="abc123"))  # naming no image at all, too
    assert not approved.covers(_of("ghcr.io/evil/backdoor:6.6.6"))
    assert not approved.covers(_of("ghcr.io/acme/api:1.1"))
    assert not approved.covers(_of("ghcr.io/acme/api:1.0", commit="def456"))
    assert not approved.covers(_of("ghcr.io/acme/api:1.0", commit=None))
    assert _of(commit="ABC123").covers(_of(commit="abc123"))
    assert "backdoor" in approved.difference(_of("ghcr.io/evil/backdoor:6.6.6"))


def test_stored_and_read_back() -> None:
    artifact = _of("ghcr.io/acme/api:1.0")
    assert Artifact.stored(artifact.images_json(), artifact.commit) == artifact
    assert Artifact.stored(None, None) is None
