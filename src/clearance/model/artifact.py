"""What a decision is about deploying — its images and its commit — so that a human's sign-off
(an approval, a break-glass) covers that artifact and no other.

An image is identified by its digest when the reference carries one (the same content under
another tag is the same artifact), else by its exact normalised reference. A sign-off covers a
later decision when the later one names exactly the same images and the same commit (or, both,
none). Anything else is not covered: a sign-off for image A / commit A never clears image B or
commit B, nor a request that leaves the images or the commit out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clearance.errors import InvalidAssetError
from clearance.model.assets import parse_image


def image_identity(reference: str) -> str:
    """``sha256:…`` when the reference pins a digest, else the normalised reference."""
    try:
        ref = parse_image(reference)
    except InvalidAssetError:
        return reference  # recorded references were parsed once; keep an odd one as it is
    return ref.digest or str(ref)


@dataclass(frozen=True, slots=True)
class Artifact:
    images: tuple[str, ...]  # image identities, sorted, unique
    commit: str | None

    @classmethod
    def of(cls, target: Mapping[str, Any]) -> Artifact:
        """The artifact of a decision's ``target`` as recorded (``Target.to_dict``)."""
        images = tuple(sorted({image_identity(str(i)) for i in target.get("images") or ()}))
        commit = (target.get("change") or {}).get("commit")
        return cls(images, None if commit is None else str(commit).strip().lower())

    def covers(self, later: Artifact) -> bool:
        return later == self

    def difference(self, later: Artifact) -> str:
        """Why ``later`` is not covered, for the reason a sign-off no longer counts."""
        parts = []
        if later.commit != self.commit:
            parts.append(f"commit {later.commit or 'none'} (covered: {self.commit or 'none'})")
        new = sorted(set(later.images) - set(self.images))
        if new:
            parts.append(f"image(s) {', '.join(new)} not covered")
        left_out = sorted(set(self.images) - set(later.images))
        if left_out and not new:
            parts.append(f"image(s) {', '.join(left_out)} covered but not named")
        return "; ".join(parts) or "the same artifact"

    def images_json(self) -> str:
        return json.dumps(list(self.images))

    @classmethod
    def stored(cls, images: str | None, commit: str | None) -> Artifact | None:
        """From the columns a sign-off is stored with; None for one stored before artifacts
        were recorded (it covers only the decision it was given on)."""
        if images is None:
            return None
        return cls(tuple(json.loads(images)), commit)
