"""The contract every inventory passes, whatever it reads (a file, a Kubernetes API).

Use it from a test module (collected because the subclass name starts with ``Test``)::

    class TestStaticInventoryContract(InventoryContract):
        @pytest.fixture
        def case(self, tmp_path: Path) -> Iterator[InventoryCase]:
            yield InventoryCase(
                inventory=StaticInventory.from_file("hosts", write(tmp_path)),
                known=Target.of("production", "prod-eu", "shop", "deployment/checkout"),
                expected_refs={"host:ip-10-0-1-5.ec2.internal"},
            )

The subclass supplies an :class:`InventoryCase`: an inventory, a target it knows and some refs
that target must resolve to. What the suite checks is what a user of ``clearance check`` would
notice:

* the known target resolves to its assets, including its namespace and cluster, with nothing
  unresolved;
* an unknown workload, namespace or cluster is ``TARGET_NOT_FOUND`` with a detail, never an
  empty exposure that reads as "touches nothing";
* no foreign exception escapes ``resolve`` or ``health``;
* resolving twice gives the same exposure, its assets in sorted order (decisions are digested);
* ``health()`` is None or names the inventory as ``inventory:<name>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import pytest

from builders import NOW
from clearance.errors import ClearanceError
from clearance.inventory.interface import Inventory
from clearance.model.assets import AssetKind
from clearance.model.target import Exposure, Target, UnresolvedReason, WorkloadRef

__all__ = ["InventoryCase", "InventoryContract"]


@dataclass
class InventoryCase:
    inventory: Inventory
    known: Target  # a target the inventory can resolve completely
    expected_refs: set[str]  # "kind:value" refs the known target must resolve to (a subset)


class InventoryContract:
    """Subclass and provide a ``case`` fixture returning an :class:`InventoryCase`."""

    def _resolve(self, case: InventoryCase, target: Target) -> Exposure:
        try:
            return case.inventory.resolve(target)
        except ClearanceError:
            raise
        except Exception as exc:  # the point of the test: nothing foreign leaks
            pytest.fail(f"resolve leaked {type(exc).__name__}: {exc}")

    def test_satisfies_the_protocol(self, case: InventoryCase) -> None:
        assert isinstance(case.inventory, Inventory)
        assert case.inventory.name

    def test_known_target_resolves_to_its_assets(self, case: InventoryCase) -> None:
        exposure = self._resolve(case, case.known)
        refs = {str(a.ref) for a in exposure.assets}
        assert exposure.unresolved == ()
        assert case.expected_refs <= refs, case.expected_refs - refs
        kinds = {a.ref.kind for a in exposure.assets}
        assert {AssetKind.NAMESPACE, AssetKind.CLUSTER} <= kinds
        assert exposure.target == case.known
        assert exposure.inventory == case.inventory.name

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param(
                lambda t: msgspec.structs.replace(
                    t, workload=WorkloadRef(t.workload.kind, "no-such-app")
                ),
                id="workload",
            ),
            pytest.param(
                lambda t: msgspec.structs.replace(t, namespace="no-such-namespace"), id="namespace"
            ),
            pytest.param(
                lambda t: msgspec.structs.replace(t, cluster="no-such-cluster"), id="cluster"
            ),
        ],
    )
    def test_unknown_target_is_target_not_found_not_empty(
        self, case: InventoryCase, change: Callable[[Target], Target]
    ) -> None:
        target = change(case.known)
        exposure = self._resolve(case, target)
        assert [r for r, _ in exposure.unresolved] == [UnresolvedReason.TARGET_NOT_FOUND]
        assert all(detail for _, detail in exposure.unresolved)
        assert not any(a.proximity.label in ("direct", "host") for a in exposure.assets)

    def test_resolution_is_deterministic_and_sorted(self, case: InventoryCase) -> None:
        first = self._resolve(case, case.known)
        second = self._resolve(case, case.known)
        assert first == second
        assert list(first.assets) == sorted(first.assets)
        assert first.to_dict() == second.to_dict()

    def test_health_is_none_or_names_the_inventory(self, case: InventoryCase) -> None:
        self._resolve(case, case.known)
        try:
            health = case.inventory.health(NOW)
        except Exception as exc:
            pytest.fail(f"health leaked {type(exc).__name__}: {exc}")
        if health is not None:
            assert health.name == f"inventory:{case.inventory.name}"
            assert health.last_error is None
