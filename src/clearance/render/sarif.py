"""A decision as SARIF 2.1.0 (``clearance check --format sarif``), for GitHub code scanning and
the other tools that read what Trivy and conftest write.

Each reason that holds the deploy back (verdict ``approve`` or ``block``) is a result: its code
is the rule, ``block`` an ``error``, ``approve`` a ``warning``; a ``proceed`` decision has no
results, so uploading it closes the alerts an earlier run opened. A result is located in the
manifest being deployed when ``--manifest`` names one, and in a logical location naming the
target, and fingerprinted by rule, target and signal, so that the same finding on the same
target is one alert across runs. GitHub needs a file for every result: the manifest's path
(give it relative to the repository root), else ``k8s/ENV/CLUSTER/NAMESPACE/KIND/NAME``. The
output is a function of the decision alone (sorted keys), byte for byte.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from clearance import __version__
from clearance.model.canonical import canonical_json

__all__ = ["SCHEMA", "to_sarif"]

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"block": "error", "approve": "warning"}
# GitHub ranks security alerts by this property of the rule (0.0–10.0): critical from 9.0.
_SECURITY_SEVERITY = {"block": "9.0", "approve": "5.0"}


def target_name(target: dict[str, Any]) -> str:
    return "/".join(
        (target["environment"], target["cluster"], target["namespace"], target["workload"])
    )


def to_sarif(document: dict[str, Any], manifest: str | None = None) -> bytes:
    """The SARIF log of one decision (:func:`clearance.render.output.document`)."""
    target = target_name(document["target"])
    held = [r for r in document["reasons"] if r["verdict"] in _LEVEL]
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for reason in held:
        code = reason["code"]
        rule = rules.setdefault(code, _rule(code, reason["verdict"]))
        rule["properties"]["security-severity"] = max(
            rule["properties"]["security-severity"], _SECURITY_SEVERITY[reason["verdict"]]
        )
        results.append(_result(reason, target, document, manifest))
    ids = sorted(rules)
    for result in results:
        result["ruleIndex"] = ids.index(result["ruleId"])
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "Clearance",
                "semanticVersion": __version__,
                "version": __version__,
                "rules": [rules[i] for i in ids],
            }
        },
        # One category per target: a run for another target never closes this one's alerts.
        "automationDetails": {"id": f"clearance/{target}/"},
        "results": results,
        "properties": {
            "decision": document["id"],
            "verdict": document["verdict"],
            "score": document["score"],
            "policy_digest": document["policy_digest"],
        },
    }
    if "service" in document:
        run["properties"]["status"] = document["service"].get("status")
    return canonical_json({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]})


def _rule(code: str, verdict: str) -> dict[str, Any]:
    what = code.split(":", 1)
    kind = {"rule": "Policy rule", "stance": "Failure stance", "score": "Risk score"}.get(
        what[0], "Clearance reason"
    )
    name = what[1] if len(what) == 2 else what[0]
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": f"{kind}: {name}"},
        "fullDescription": {"text": f"{kind} {name!r} held a deploy back (see the decision)."},
        "defaultConfiguration": {"level": _LEVEL[verdict]},
        "help": {"text": "Run `clearance explain` with the same target for the arithmetic."},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[verdict],
            "tags": ["security", "deployment"],
        },
    }


def _result(
    reason: dict[str, Any], target: str, document: dict[str, Any], manifest: str | None
) -> dict[str, Any]:
    logical = {"fullyQualifiedName": target, "kind": "resource", "name": target}
    # GitHub refuses a result without a physical location: with no manifest, the target as a
    # path (no such file in the repository: the alert is listed without a snippet).
    uri = quote(manifest) if manifest else "k8s/" + quote(target)
    location: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}},
        "logicalLocations": [logical],
    }
    print_ = hashlib.sha256(
        "\n".join((reason["code"], target, reason.get("signal") or "")).encode()
    ).hexdigest()
    result: dict[str, Any] = {
        "ruleId": reason["code"],
        "level": _LEVEL[reason["verdict"]],
        "message": {"text": f"{reason['message']} Target {target}; decision {document['id']}."},
        "locations": [location],
        "partialFingerprints": {"clearanceFinding/v1": print_},
    }
    if reason.get("signal"):
        result["properties"] = {"signal": reason["signal"]}
    return result
