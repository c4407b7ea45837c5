"""Write a decision where a pipeline reads it: stdout (text, JSON, SARIF or JUnit XML), and for
GitHub the job's outputs, step summary and annotations. Local and remote checks both come
through here.

With ``standing`` (a decision the service answered) the text says where it stands, GitHub gets a
``status`` output and a summary section, and JSON is the decision object with one more key,
``service`` (its status, exit code, record and approvals): every decision field sits where a
local check puts it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clearance.model.canonical import canonical_json
from clearance.model.decision import Decision
from clearance.render import text

if TYPE_CHECKING:  # a local check has no standing: its model loads with the service's answer
    from clearance.model.standing import Standing


def document(decision: Decision, standing: Standing | None = None) -> dict[str, Any]:
    """The ``--format json`` object: the decision, plus ``service`` when the service made it."""
    data = decision.to_dict()
    if standing is not None:
        data["service"] = standing.to_dict()
    return data


def to_json(decision: Decision, standing: Standing | None = None) -> bytes:
    """:func:`document` as canonical JSON (a local decision: exactly ``Decision.to_json``)."""
    if standing is None:
        return decision.to_json()
    return canonical_json(document(decision, standing))


def emit(
    decision: Decision,
    fmt: str,
    *,
    explain: bool = False,
    standing: Standing | None = None,
    manifest: str | None = None,
) -> None:
    if fmt == "json":
        sys.stdout.write(to_json(decision, standing).decode() + "\n")
        return
    if fmt == "sarif":
        from clearance.render import sarif  # noqa: PLC0415 - loaded only when asked for

        sys.stdout.write(sarif.to_sarif(document(decision, standing), manifest).decode() + "\n")
        sys.stdout.flush()
        return
    if fmt == "junit":
        from clearance.render import junit  # noqa: PLC0415

        suite, cases = junit.check_cases(document(decision, standing))
        sys.stdout.write(junit.to_junit(suite, cases).decode())
        sys.stdout.flush()
        return
    sys.stdout.write(text.render_text(decision))
    if standing is not None:
        sys.stdout.write(text.render_standing(decision, standing))
    if explain:
        sys.stdout.write("\n" + text.render_explanation(decision))
    if fmt == "github":
        from clearance.render import github  # noqa: PLC0415

        sys.stdout.write(github.annotation_lines(decision))
        _append("GITHUB_OUTPUT", github.outputs(decision, standing))
        _append("GITHUB_STEP_SUMMARY", github.summary(decision, standing))
    sys.stdout.flush()


def _append(variable: str, content: str) -> None:
    path = os.environ.get(variable)
    if not path:
        print(f"clearance: warning: ${variable} is not set; not writing it", file=sys.stderr)
        return
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(content)
