"""The ``static`` inventory: a YAML file mapping targets to the assets they touch.

For VMs and anything without an API to ask, and for trying Clearance before connecting
Kubernetes. Format (``examples/inventory.yaml``)::

    targets:
      - cluster: prod-eu
        namespace: shop
        workload: deployment/checkout
        assets:
          direct: [pod:shop/checkout-7d9f, image:ghcr.io/acme/checkout:1.4]
          host: [host:ip-10-0-1-5.eu-west-1.compute.internal, instance:i-0abc, ip:10.0.1.5]

The target's workload (``workload:cluster/ns/kind/name``, direct), namespace
(``namespace:cluster/ns``) and cluster (``cluster:name``) are added automatically, and so are the
images named on the command line (``--image``) and in a ``--manifest``, as direct assets.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar

import msgspec
import yaml
from msgspec import Meta

from clearance import bounded_yaml
from clearance.errors import InvalidAssetError, InventoryError
from clearance.inventory.identity import IdentityGraph, expand_hosts
from clearance.inventory.manifest import manifest_images
from clearance.model.assets import AssetKind, AssetRef, parse_asset
from clearance.model.target import (
    ExposedAsset,
    Exposure,
    Proximity,
    SourceHealth,
    Target,
    UnresolvedReason,
)
from clearance.validation import SchemaError, validate


class StaticInventoryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: Path


class _Entry(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    cluster: str
    namespace: str
    workload: Annotated[str, Meta(pattern=r"^[A-Za-z0-9.-]+/[A-Za-z0-9._-]+$")]
    assets: dict[str, list[str]] = {}


class _File(msgspec.Struct, forbid_unknown_fields=True):
    targets: list[_Entry]


MERGED_ENTRIES = 4096  # distinct (target, implied assets) kept; beyond, start over


class StaticInventory:
    Config: ClassVar[type[StaticInventoryConfig]] = StaticInventoryConfig

    def __init__(self, name: str, entries: dict[str, tuple[ExposedAsset, ...]]) -> None:
        self.name = name
        self._entries = entries
        # A target's listed assets never change once loaded; with what a request implies (its
        # images, its manifest's) they are merged and sorted once per distinct request shape.
        self._merged_cache: dict[tuple[str, tuple[ExposedAsset, ...]], tuple[ExposedAsset, ...]]
        self._merged_cache = {}

    def _merged(
        self, key_of_target: str, assets: tuple[ExposedAsset, ...], implied: list[ExposedAsset]
    ) -> tuple[ExposedAsset, ...]:
        key = (key_of_target, tuple(implied))  # the listed assets are the target key's
        merged = self._merged_cache.get(key)
        if merged is None:
            merged = tuple(sorted({*assets, *implied}))
            if len(self._merged_cache) >= MERGED_ENTRIES:
                self._merged_cache.clear()
            self._merged_cache[key] = merged
        return merged

    @classmethod
    def create(cls, name: str, config: StaticInventoryConfig, *, base_dir: Path) -> StaticInventory:
        path = config.path if config.path.is_absolute() else base_dir / config.path
        return cls.from_file(name, path)

    @classmethod
    def from_file(cls, name: str, path: Path) -> StaticInventory:
        try:
            raw = bounded_yaml.load(path.read_text(encoding="utf-8"), str(path))
            parsed = validate(raw, _File)
        except OSError as exc:
            raise InventoryError(name, f"cannot read {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise InventoryError(name, f"{path} is not valid YAML: {exc}") from exc
        except SchemaError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InventoryError(name, f"{path}: {where}: {first['msg']}") from exc
        entries: dict[str, tuple[ExposedAsset, ...]] = {}
        for i, entry in enumerate(parsed.targets):
            key = f"{entry.cluster}/{entry.namespace}/{entry.workload.lower()}"
            exposed: list[ExposedAsset] = []
            for group, refs in entry.assets.items():
                try:
                    proximity = Proximity[group.upper()]
                except KeyError:
                    groups = ", ".join(p.label for p in Proximity)
                    raise InventoryError(
                        name, f"{path}: targets[{i}].assets: unknown group {group!r} ({groups})"
                    ) from None
                for text in refs:
                    try:
                        ref = parse_asset(text)
                    except InvalidAssetError as exc:
                        raise InventoryError(name, f"{path}: targets[{i}]: {exc}") from exc
                    exposed.append(ExposedAsset(proximity, ref, via=f"static {path.name}"))
            entries[key] = tuple(exposed)
        return cls(name, entries)

    def resolve(
        self,
        target: Target,
        *,
        manifest: Mapping[str, Any] | None = None,
        identities: IdentityGraph | None = None,
    ) -> Exposure:
        assets = self._entries.get(target.key)
        if assets is None:
            return Exposure(
                target=target,
                assets=(),
                inventory=self.name,
                unresolved=((UnresolvedReason.TARGET_NOT_FOUND, f"{target.key} is not listed"),),
            )
        implied = [
            ExposedAsset(
                Proximity.DIRECT,
                AssetRef(
                    AssetKind.WORKLOAD,
                    f"{target.cluster}/{target.namespace}/{target.workload}".lower(),
                ),
                "target",
            ),
            ExposedAsset(
                Proximity.NAMESPACE,
                AssetRef(AssetKind.NAMESPACE, f"{target.cluster}/{target.namespace}".lower()),
                "target",
            ),
            ExposedAsset(
                Proximity.CLUSTER, AssetRef(AssetKind.CLUSTER, target.cluster.lower()), "target"
            ),
        ]
        implied += [
            ExposedAsset(Proximity.DIRECT, AssetRef(AssetKind.IMAGE, str(image)), "--image")
            for image in target.images
        ]
        implied += [
            ExposedAsset(Proximity.DIRECT, AssetRef(AssetKind.IMAGE, str(image)), "manifest")
            for image in manifest_images(manifest or {})
        ]
        exposure = Exposure(
            target=target, assets=self._merged(target.key, assets, implied), inventory=self.name
        )
        return exposure if identities is None else expand_hosts(exposure, identities)

    def health(self, now: datetime) -> SourceHealth | None:
        return None
