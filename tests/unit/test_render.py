from __future__ import annotations

from builders import NOW, exposure, fresh, make_policy, signal, target
from clearance.correlate import SignalIndex
from clearance.engine import decide
from clearance.model import Severity, Snapshot
from clearance.render import github, text


def blocked() -> object:
    tgt = target()
    exp = exposure(tgt, host=("host:node-1",))
    s = signal(severity=Severity.CRITICAL, title="100% bad\nnews | really")
    return decide(tgt, Snapshot(exp, SignalIndex([s]).match(exp), (fresh(),)), make_policy(), NOW)


def test_annotations_escape_what_github_would_misread() -> None:
    lines = github.annotation_lines(blocked()).splitlines()  # type: ignore[arg-type]
    assert lines
    assert all("\n" not in line for line in lines)
    assert any("100%25 bad%0Anews" in line for line in lines)


def test_summary_table_cells_cannot_break_the_table() -> None:
    md = github.summary(blocked())  # type: ignore[arg-type]
    assert "bad news \\| really" in md


def test_text_puts_the_verdict_first_and_names_the_rule() -> None:
    out = text.render_text(blocked())  # type: ignore[arg-type]
    assert out.startswith("BLOCK")
    assert "(rule:critical-detection-near-target)" in out
