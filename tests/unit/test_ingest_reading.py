"""Cutting an export into chunks for ``clearance ingest``: nothing lost, nothing reordered, line
numbers kept, and never a one-line chunk a normalizer would misread as one JSON document."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from clearance.ingest.reading import Pending, chunks, shift_lines
from clearance.model.quarantine import Quarantined

LINE = st.builds(lambda n, pad: f'{{"n": {n}, "pad": "{"x" * pad}"}}\n'.encode(),
                 st.integers(0, 10**6), st.integers(0, 40))  # fmt: skip


@given(lines=st.lists(LINE, min_size=2, max_size=60), size=st.integers(1, 400))
def test_json_lines_are_cut_into_whole_lines_and_nothing_else(
    lines: list[bytes], size: int
) -> None:
    data = b"".join(lines)
    cut = list(chunks(io.BytesIO(data), size))
    assert b"".join(c.data for c in cut) == data
    assert all(c.lines for c in cut)
    assert all(c.data.count(b"\n") >= 2 for c in cut)  # never one line alone
    first = 1
    for c in cut:
        assert c.first_line == first
        assert data[: c.read].endswith(c.data)
        first += c.data.count(b"\n")
    assert cut[-1].read == len(data)


@given(size=st.integers(1, 100))
def test_a_json_document_is_one_chunk(size: int) -> None:
    document = b'{\n  "resources": [\n    {"id": 1}\n  ]\n}\n'
    (only,) = chunks(io.BytesIO(document), size)
    assert only.data == document
    assert not only.lines


def test_a_single_line_file_is_one_document() -> None:
    (only,) = chunks(io.BytesIO(b'{"id": 1}\n'))
    assert not only.lines


def test_quarantined_lines_are_moved_to_their_line_in_the_file() -> None:
    bad = Quarantined("falco", "invalid_json", "line 3 is not JSON", "sha256:x", "f.jsonl: line 3")
    page = Quarantined("falco", "missing_field", "no rule", "sha256:y", "f.jsonl: items[2]")
    shifted = shift_lines((bad, page), 1000)
    assert [q.location for q in shifted] == ["f.jsonl: line 1003", "f.jsonl: items[2]"]
    assert [q.detail for q in shifted] == ["line 1003 is not JSON", "no rule"]


def test_pending_folds_with_the_normalizers_combine_and_bounds_what_it_holds() -> None:
    from datetime import UTC, datetime, timedelta

    from clearance.sources.falco.normalize import FalcoNormalizer
    from clearance.sources.interface import Batch

    def event(priority: str, minute: int, pod: str = "web-1") -> bytes:
        at = datetime(2026, 11, 28, 11, minute, tzinfo=UTC) + timedelta(seconds=1)
        return (
            f'{{"rule": "Terminal shell in container", "priority": "{priority}", '
            f'"time": "{at.isoformat()}", "output": "shell", "output_fields": '
            f'{{"k8s.ns.name": "shop", "k8s.pod.name": "{pod}"}}}}\n'
        ).encode()

    normalizer = FalcoNormalizer("falco")
    whole = normalizer.normalize(event("Critical", 1) + event("Notice", 2) + event("Notice", 3))
    pending = Pending(normalizer.combine, max_signals=2)
    pending.add(normalizer.normalize(event("Critical", 1) + event("Notice", 2)))
    pending.add(normalizer.normalize(event("Notice", 3) + event("Notice", 4, pod="web-2")))
    full_before: bool = pending.full  # two signals held: time to store
    assert full_before
    taken = pending.take()
    # Streamed in two parts, the file folds as it does whole: three events, still Critical.
    assert taken.signals[0] == whole.signals[0]
    assert taken.signals[0].count == 3
    assert len(taken.signals) == 2
    assert not pending.full
    assert pending.take() == Batch()
