"""Live evidence (a local check): identities from EDR host inventories join a detection to its
host."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from builders import NOW, live_snapshot, signal, target
from clearance.config import Config
from clearance.inventory.manifest import manifest_images
from clearance.inventory.static import StaticInventory
from clearance.model import Proximity
from clearance.sources.interface import Batch


@dataclass
class EdrExport:
    """A pull source as an EDR reports it: a detection named by MAC, and the host inventory."""

    name: str = "edr"

    def fetch(self, watermark: str | None) -> Iterator[Batch]:
        detection = signal("edr:1", assets=("mac:06-35-E6-62-53-2E",))
        machine: dict[str, tuple[str, ...]] = {
            "host": ("ip-10-0-1-5.ec2.internal",),
            "mac": ("06:35:e6:62:53:2e",),
            "ip": ("10.0.1.5",),
        }
        yield Batch(signals=(detection,), identities=(machine,))

    def close(self) -> None:
        pass


def config(tmp_path: Path) -> Config:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "targets:\n  - {cluster: prod-eu, namespace: shop, workload: deployment/api,\n"
        "     assets: {host: [host:ip-10-0-1-5]}}\n"
    )
    return Config(
        tmp_path / "c.yaml",
        tmp_path / "p.yaml",
        (EdrExport(),),
        StaticInventory.from_file("hosts", path),
        {},
    )


def test_a_detection_named_by_mac_reaches_the_host_through_the_edr_inventory(
    tmp_path: Path,
) -> None:
    (match,) = live_snapshot(config(tmp_path), target(), NOW).matches
    assert match.proximity is Proximity.HOST
    assert str(match.matched.ref) == "mac:06:35:e6:62:53:2e"
    assert "identity: same machine as host:ip-10-0-1-5" in match.matched.via


def test_manifest_images_are_direct_assets() -> None:
    manifest = {
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "migrate", "image": "ghcr.io/acme/migrate:2"}],
                    "containers": [
                        {"name": "api", "image": "ghcr.io/acme/api:1.4"},
                        {"name": "bad", "image": 7},
                    ],
                }
            }
        },
    }
    assert [str(i) for i in manifest_images(manifest)] == [
        "ghcr.io/acme/migrate:2",
        "ghcr.io/acme/api:1.4",
    ]
    cron = {
        "kind": "CronJob",
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "busybox"}]}}}}
        },
    }
    assert [str(i) for i in manifest_images(cron)] == ["docker.io/library/busybox:latest"]
