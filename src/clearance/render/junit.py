"""JUnit XML, as GitLab (``artifacts:reports:junit``) and Jenkins (the JUnit plugin) read it:
``clearance check --format junit`` and ``clearance policy test --format junit``.

One ``<testsuite>`` in a ``<testsuites>`` root; each case has a ``name`` and ``classname`` and
holds a ``<failure message type>`` when it failed. No timestamps or durations: the same inputs
give the same bytes, and a decision takes no time worth reporting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

__all__ = ["Case", "check_cases", "to_junit"]


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    classname: str
    failure: str | None = None  # the failure's message; None: the case passed
    kind: str = "failure"  # the failure's type attribute
    details: str = ""  # the failure's text


def to_junit(suite: str, cases: Sequence[Case]) -> bytes:
    failures = sum(1 for c in cases if c.failure is not None)
    root = ET.Element("testsuites", name="clearance", tests=str(len(cases)))
    root.set("failures", str(failures))
    root.set("errors", "0")
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)))
    node.set("failures", str(failures))
    node.set("errors", "0")
    node.set("skipped", "0")
    for case in cases:
        element = ET.SubElement(node, "testcase", name=case.name, classname=case.classname)
        if case.failure is not None:
            failed = ET.SubElement(element, "failure", message=case.failure, type=case.kind)
            failed.text = case.details or case.failure
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def check_cases(document: dict[str, Any]) -> tuple[str, list[Case]]:
    """A decision as a suite: one case per reason; a reason that blocks or needs approval
    fails (type ``block`` or ``approve``), so the report shows what held the deploy back."""
    t = document["target"]
    target = f"{t['environment']}/{t['cluster']}/{t['namespace']}/{t['workload']}"
    classname = "clearance." + ".".join(
        (t["environment"], t["cluster"], t["namespace"], t["workload"].replace("/", "."))
    )
    cases = []
    for reason in document["reasons"]:
        held = reason["verdict"] in ("approve", "block")
        cases.append(
            Case(
                name=reason["code"],
                classname=classname,
                failure=reason["message"] if held else None,
                kind=reason["verdict"],
                details=f"{reason['message']}\nverdict {document['verdict']}, score "
                f"{document['score']:g}, decision {document['id']}",
            )
        )
    return f"clearance check {target}", cases
