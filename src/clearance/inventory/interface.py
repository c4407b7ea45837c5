"""The contract every inventory satisfies: resolve a Target into an Exposure.

An inventory answers "what does this deployment touch?": the workload's own pods, containers and
images (``direct``), the nodes it runs on or may be scheduled on (``host``), its namespace and
cluster. It never guesses: what it cannot resolve is returned in ``Exposure.unresolved`` with a
precise reason (target not found, inventory unavailable, nodes unknown), which the policy's
``unknown_target`` stance acts on. ``resolve`` raises :class:`InventoryError` only for a failure
of the inventory itself that is not about this target (for example a corrupt file).

Plugins register under the ``clearance.inventories`` entry point as an :class:`InventoryPlugin`:
a ``Config`` (a pydantic model, or a msgspec ``Struct`` as the built-in ``static``
inventory's) validated first, then ``create``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from clearance.errors import InventoryError
from clearance.inventory.identity import IdentityGraph
from clearance.model.target import Exposure, SourceHealth, Target

__all__ = ["Inventory", "InventoryError", "InventoryPlugin", "Lifecycle"]


@runtime_checkable
class Inventory(Protocol):
    name: str

    def resolve(
        self,
        target: Target,
        *,
        manifest: Mapping[str, Any] | None = None,
        identities: IdentityGraph | None = None,
    ) -> Exposure:
        """Resolve ``target``; unresolvable parts go in ``Exposure.unresolved``, never dropped.

        ``manifest`` is the object about to be applied (``check --manifest``, an admission
        request): what it will run and where it may be scheduled, for a workload that is new
        or changing. ``identities`` (the host identity graph the sources reported) adds every
        name of each host the target touches, with how it was joined.
        """
        ...

    def health(self, now: datetime) -> SourceHealth | None:
        """How current what resolution reads is, as of the decision's ``now``, or None for a
        static file. Deterministic: a cache that is being kept current is fresh as of ``now``."""
        ...


@runtime_checkable
class Lifecycle(Protocol):
    """An inventory (or source) that keeps state current in the background: ``clearance serve``
    starts it before the first decision, checks on it, and stops it at shutdown."""

    def start(self) -> None: ...

    def supervise(self) -> None:
        """Restart whatever stopped unexpectedly (a watch thread that died); cheap, called
        every few seconds."""
        ...

    def stop(self) -> None: ...


class InventoryPlugin(Protocol):
    # A pydantic model or a msgspec Struct (the built-in file source's and static inventory's).
    Config: ClassVar[type[Any]]

    @classmethod
    def create(cls, name: str, config: Any, *, base_dir: Path) -> Inventory: ...
