"""The CVSS base vector's exploitability metrics, as names a policy reads.

``CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`` (and 3.0, 4.0): the metrics that say how an
attacker gets in — attack vector, complexity, privileges, user interaction — spelled out
(https://www.first.org/cvss/v3.1/specification-document §2.1, v4.0 §2.1). Unknown or absent
metrics are empty strings, so a rule such as ``signal.cvss.attack_vector == "network"`` reads
false, never fails.
"""

from __future__ import annotations

__all__ = ["cvss_view"]

_NAMES = {
    "AV": ("attack_vector", {"N": "network", "A": "adjacent", "L": "local", "P": "physical"}),
    "AC": ("attack_complexity", {"L": "low", "H": "high"}),
    "PR": ("privileges_required", {"N": "none", "L": "low", "H": "high"}),
    "UI": (
        "user_interaction",
        {"N": "none", "R": "required", "P": "passive", "A": "active"},  # 4.0 splits "required"
    ),
}


def cvss_view(vector: str | None) -> dict[str, str]:
    """``{"vector", "version", "attack_vector", "attack_complexity", "privileges_required",
    "user_interaction"}`` of a CVSS vector; every value ``""`` when unknown."""
    view = {"vector": vector or "", "version": ""} | {name: "" for name, _ in _NAMES.values()}
    if not vector or not vector.startswith("CVSS:"):
        return view
    head, _, rest = vector.partition("/")
    view["version"] = head.removeprefix("CVSS:")
    for part in rest.split("/"):
        key, _, value = part.partition(":")
        if key in _NAMES:
            name, values = _NAMES[key]
            view[name] = values.get(value, "")
    return view
