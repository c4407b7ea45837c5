"""What a workload manifest (the object about to be applied) runs: its images.

Read by the inventories (a manifest's images are direct assets) and by the snapshot assembly
(they are what the deploy brings, beside ``--image``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clearance.model.assets import ImageRef, parse_image

__all__ = ["manifest_images"]


def manifest_images(manifest: Mapping[str, Any]) -> list[ImageRef]:
    """Images a workload manifest runs (pod template or pod spec; init containers too)."""
    spec: Any = manifest.get("spec") or {}
    if isinstance(spec, Mapping) and "jobTemplate" in spec:  # CronJob
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if isinstance(spec, Mapping) and "template" in spec:
        spec = (spec.get("template") or {}).get("spec") or {}
    images = []
    if isinstance(spec, Mapping):
        for group in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(group) or []:
                if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                    try:
                        images.append(parse_image(container["image"]))
                    except ValueError:
                        continue  # the API server would refuse it; not an asset we can name
    return images
