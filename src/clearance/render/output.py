"""Write a decision where a pipeline reads it: stdout (text or JSON), and for GitHub the job's
outputs, step summary and annotations."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from clearance.model.decision import Decision
from clearance.render import github, text


def emit(decision: Decision, fmt: str, *, explain: bool = False) -> None:
    if fmt == "json":
        sys.stdout.write(decision.to_json().decode() + "\n")
        return
    sys.stdout.write(text.render_text(decision))
    if explain:
        sys.stdout.write("\n" + text.render_explanation(decision))
    if fmt == "github":
        sys.stdout.write(github.annotation_lines(decision))
        _append("GITHUB_OUTPUT", github.outputs(decision))
        _append("GITHUB_STEP_SUMMARY", github.summary(decision))


def _append(variable: str, content: str) -> None:
    path = os.environ.get(variable)
    if not path:
        print(f"clearance: warning: ${variable} is not set; not writing it", file=sys.stderr)
        return
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(content)
