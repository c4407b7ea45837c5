"""A small kustomize renderer for the tests: exactly the features ``deploy/`` uses, nothing else.

No kustomize (nor kubectl, nor helm) installs from this machine's registries, so the tests render
``deploy/`` with this and validate the result; where ``kubectl`` happens to be on PATH, a test
checks that both render the same objects. Supported kustomization fields:

* ``resources``: files (multi-document YAML) and directories holding a kustomization;
* ``configMapGenerator``: ``name``, ``namespace``, ``files`` (``path`` or ``key=path``), with
  kustomize's content-hash name suffix and the references to it (volumes, env, envFrom) renamed;
* ``patches``: inline JSON 6902 patches (``add``, ``replace``, ``remove``) with a ``target``
  selected by ``kind`` and ``name``;
* ``images``: ``name`` → ``newName``, ``newTag``, ``digest`` on pod template containers.

Anything else is refused, so this renderer cannot silently differ from kustomize.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
SUPPORTED = {"apiVersion", "kind", "resources", "configMapGenerator", "patches", "images"}


class UnsupportedError(Exception):
    pass


def render(directory: Path) -> list[Doc]:
    """The objects ``kubectl kustomize directory`` would print, in no particular order."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise UnsupportedError(f"{directory}: kustomization fields {sorted(unknown)} not supported")
    docs: list[Doc] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    renamed: dict[str, str] = {}
    for generator in spec.get("configMapGenerator", []):
        config_map = _generate(directory, generator)
        renamed[config_map["metadata"]["name"]] = hashed = _hashed_name(config_map)
        config_map["metadata"]["name"] = hashed
        docs.append(config_map)
    for patch in spec.get("patches", []):
        _patch(docs, patch)
    for image in spec.get("images", []):
        for doc in docs:
            for container in _containers(doc):
                container["image"] = _retag(container["image"], image)
    for doc in docs:
        _rename_config_maps(doc, renamed)
    return docs


def _generate(directory: Path, generator: Doc) -> Doc:
    if set(generator) - {"name", "namespace", "files"}:
        raise UnsupportedError(f"configMapGenerator fields {sorted(generator)}")
    data: dict[str, str] = {}
    for item in generator["files"]:
        key, _, path = item.rpartition("=") if "=" in item else (Path(item).name, "", item)
        data[key] = (directory / path).read_text()
    metadata = {"name": generator["name"]}
    if "namespace" in generator:
        metadata["namespace"] = generator["namespace"]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _hashed_name(config_map: Doc) -> str:
    """kustomize's suffix (api/hasher): sha256 of Go's JSON of {data, kind, name}, first 10 hex
    digits with 0, 1, 3, a and e replaced so the suffix is not a word or a number. ``name`` is
    hashed as "": kustomize looks the name up as one key, ``metadata/name``, which no object
    has (checked against ``kubectl kustomize``'s output)."""
    encoded = {"data": config_map["data"], "kind": "ConfigMap", "name": ""}
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's encoder escapes these for HTML safety; the hash is over its bytes.
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    name = config_map["metadata"]["name"]
    return f"{name}-{digest.translate(str.maketrans('013ae', 'ghkmt'))}"


def _patch(docs: list[Doc], patch: Doc) -> None:
    target = patch["target"]
    if set(target) - {"kind", "name"} or set(patch) - {"target", "patch"}:
        raise UnsupportedError(f"patch {patch}")
    matched = [
        d
        for d in docs
        if d["kind"] == target.get("kind", d["kind"])
        and d["metadata"]["name"] == target.get("name", d["metadata"]["name"])
    ]
    if not matched:
        raise UnsupportedError(f"patch target {target} matches nothing")
    for doc in matched:
        for op in yaml.safe_load(patch["patch"]):
            _apply(doc, op)


def _apply(doc: Doc, op: Doc) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    kind = op["op"]
    value = copy.deepcopy(op.get("value"))
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if kind == "add":
            node.insert(index, value)
        elif kind == "replace":
            node[index] = value
        elif kind == "remove":
            del node[index]
        else:
            raise UnsupportedError(f"op {kind}")
    elif kind in ("add", "replace"):
        if kind == "replace" and last not in node:
            raise UnsupportedError(f"replace of missing {op['path']}")
        node[last] = value
    elif kind == "remove":
        del node[last]
    else:
        raise UnsupportedError(f"op {kind}")


def _pod_spec(doc: Doc) -> Doc | None:
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    template = spec.get("template") if isinstance(spec, dict) else None
    return template.get("spec") if isinstance(template, dict) else None


def _containers(doc: Doc) -> list[Doc]:
    pod = _pod_spec(doc)
    if pod is None:
        return []
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _retag(image: str, rule: Doc) -> str:
    name, digest = image.split("@", 1) if "@" in image else (image, "")
    slash = name.rfind("/")
    tag = ""
    if ":" in name[slash + 1 :]:
        name, tag = name.rsplit(":", 1)
    if name != rule["name"]:
        return image
    name = rule.get("newName", name)
    if "digest" in rule:
        return f"{name}@{rule['digest']}"
    tag = rule.get("newTag", tag)
    return f"{name}:{tag}" if tag else (f"{name}@{digest}" if digest else name)


def _rename_config_maps(doc: Doc, renamed: dict[str, str]) -> None:
    pod = _pod_spec(doc)
    if pod is None:
        return
    for volume in pod.get("volumes", []):
        if "configMap" in volume and volume["configMap"]["name"] in renamed:
            volume["configMap"]["name"] = renamed[volume["configMap"]["name"]]
    for container in _containers(doc):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref and ref["name"] in renamed:
                ref["name"] = renamed[ref["name"]]
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef")
            if ref and ref["name"] in renamed:
                ref["name"] = renamed[ref["name"]]
