"""Settings of the ``kubernetes`` inventory (``inventory:`` in ``clearance.yaml``).

See ``docs/inventory.md`` for an example; validated before the inventory is created, so a typo
fails at start-up naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lightkube.config.kubeconfig import SingleConfig
from pydantic import BaseModel, ConfigDict, Field

from clearance.http_client import KUBERNETES_TIMEOUT
from clearance.inventory.kubernetes.api import KubeApi, load_config


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    context: str | None = None  # default: the cluster name
    kubeconfig: Path | None = None  # default: the inventory's
    in_cluster: bool = False


class KubernetesInventoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kubeconfig: Path | None = None
    clusters: list[ClusterSettings] = Field(min_length=1)
    timeout_seconds: float = Field(default=KUBERNETES_TIMEOUT, gt=0)
    initial_sync_seconds: float = Field(default=10.0, ge=0)
    watch_timeout_seconds: int = Field(default=300, ge=1)
    # Restarts of one container that make a pod "restarting repeatedly" (a health signal).
    restarts: int = Field(default=3, ge=1)


def api_factories(
    name: str, config: KubernetesInventoryConfig, base_dir: Path
) -> dict[str, Callable[[], KubeApi]]:
    """One lazily connecting API client per cluster. Every kubeconfig is loaded now, so a missing
    file or context fails at start-up, naming the cluster; connecting waits for first use."""

    def resolve_path(p: Path | None) -> Path | None:
        if p is None:
            return None
        p = p.expanduser()
        return p if p.is_absolute() else base_dir / p

    factories: dict[str, Callable[[], KubeApi]] = {}
    for cluster in config.clusters:
        single = load_config(
            name,
            cluster.name,
            kubeconfig=resolve_path(cluster.kubeconfig) or resolve_path(config.kubeconfig),
            context=cluster.context,
            in_cluster=cluster.in_cluster,
        )

        def connect(cluster_name: str = cluster.name, settings: SingleConfig = single) -> KubeApi:
            return KubeApi.connect(name, cluster_name, settings, timeout=config.timeout_seconds)

        factories[cluster.name] = connect
    return factories
