"""The workload manifest a decision may carry: read from a file, checked against its target.

``check --manifest FILE`` (locally or with ``--server``) and ``POST /v1/decisions``'s ``manifest``
field take the Kubernetes object about to be applied, so a workload that is new or changing is
judged by where it may run (its candidate nodes) and what it runs (its images), not only by what
the inventory already knows. Both check it the same way, before anything is decided: one object,
at most :data:`MAX_MANIFEST_BYTES` as JSON, a workload with a pod template (the Kubernetes
inventory's own parser), and, where it names them, the target's namespace and workload name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml

from clearance.errors import ConfigError
from clearance.inventory.kubernetes.candidates import read_manifest
from clearance.model.target import WorkloadRef

# The API server's own request limit is 3 MiB and etcd's object limit 1.5 MiB; a workload
# manifest is a few KiB. 1 MiB refuses abuse without refusing any real object.
MAX_MANIFEST_BYTES = 1024 * 1024


def check_manifest(manifest: Mapping[str, Any], namespace: str, workload: str) -> None:
    """Raise ValueError, saying what is wrong, unless ``manifest`` may describe the target."""
    size = len(orjson.dumps(manifest))
    if size > MAX_MANIFEST_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_MANIFEST_BYTES} are accepted")
    parsed = read_manifest(manifest)  # MalformedObjectError is a ValueError naming the problem
    if parsed.namespace and parsed.namespace != namespace:
        raise ValueError(
            f"metadata.namespace {parsed.namespace!r} is not the target's namespace {namespace!r}"
        )
    name = WorkloadRef.parse(workload).name
    metadata = manifest.get("metadata") or {}
    if metadata.get("name") and metadata["name"] != name:
        raise ValueError(
            f"metadata.name {metadata['name']!r} is not the target's workload name {name!r}"
        )


def load_manifest(path: Path, namespace: str, workload: str) -> dict[str, Any]:
    """``--manifest FILE``: one object from a YAML or JSON file, checked as above."""
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--manifest {path}: cannot read it: {exc}") from exc
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ConfigError(
            f"--manifest {path}: expected one Kubernetes object, found {len(documents)}"
        )
    # As JSON, as the API server reads YAML: a timestamp YAML resolved becomes RFC 3339 text
    # again, so the object can be sent to the service exactly as it is decided locally.
    as_json = orjson.dumps(documents[0], option=orjson.OPT_NON_STR_KEYS)
    manifest: dict[str, Any] = orjson.loads(as_json)
    try:
        check_manifest(manifest, namespace, workload)
    except ValueError as exc:
        raise ConfigError(f"--manifest {path}: {exc}") from exc
    return manifest
