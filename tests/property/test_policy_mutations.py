"""Random damage to the example policy is refused by name and place, never by a crash.

Each mutation drops a key, renames one, or changes a value's type somewhere in the document;
others cut a line or insert a stray character into the text. Whatever comes out, the loader
either accepts it or raises PolicyError with at least one problem whose line is in the file.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clearance.errors import PolicyError
from clearance.policy.load import load_policy_text

EXAMPLE_TEXT = (Path(__file__).resolve().parents[2] / "examples" / "policy.yaml").read_text()
EXAMPLE = yaml.safe_load(EXAMPLE_TEXT)
# Mappings whose keys the user chooses (environment names, source names): renaming one of
# those keys can leave a valid policy, so it is not a mutation that must be refused.
USER_KEYED = {"environments", "freshness"}

Path_ = tuple[Any, ...]


def paths(node: Any, here: Path_ = ()) -> list[Path_]:
    out = [here] if here else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*here, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*here, i))
    return out


ALL = paths(EXAMPLE)
KEYS = [p for p in ALL if isinstance(p[-1], str)]
FIXED_KEYS = [p for p in KEYS if len(p) < 2 or p[-2] not in USER_KEYED]


def get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def drop(doc: Any, path: Path_) -> None:
    del get(doc, path[:-1])[path[-1]]


def rename(doc: Any, path: Path_, new: str) -> None:
    parent = get(doc, path[:-1])
    parent[new] = parent.pop(path[-1])


def retype(doc: Any, path: Path_, value: Any) -> None:
    get(doc, path[:-1])[path[-1]] = value


def check(text: str) -> list[str]:
    """Load; return the problems (empty if it loaded) after checking each is well placed."""
    try:
        load_policy_text(text, "policy.yaml")
    except PolicyError as err:
        problems = err.problems
    else:
        return []
    assert problems, "a PolicyError must carry a problem"
    last = max(len(text.splitlines()), 1)
    for p in problems:
        assert p.file == "policy.yaml"
        assert 1 <= p.line <= last, str(p)
        assert p.column >= 1, str(p)
        assert p.message.strip(), str(p)
    return [str(p) for p in problems]


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


ODD_VALUES = st.sampled_from([None, True, 0, -3, 1.5, "", "x", "15", [], ["a"], {"zz": 1}, {}])


@settings(max_examples=100, deadline=None)
@given(path=st.sampled_from(KEYS))
def test_dropping_any_key_is_accepted_or_refused_in_place(path: Path_) -> None:
    doc = copy.deepcopy(EXAMPLE)
    drop(doc, path)
    check(dump(doc))


@settings(max_examples=100, deadline=None)
@given(path=st.sampled_from(FIXED_KEYS), suffix=st.text("abcdefgh_", min_size=1, max_size=6))
def test_renaming_a_schema_key_is_always_refused(path: Path_, suffix: str) -> None:
    doc = copy.deepcopy(EXAMPLE)
    rename(doc, path, f"zz{suffix}")
    found = check(dump(doc))
    assert any(f"zz{suffix}" in p for p in found), found


@settings(max_examples=120, deadline=None)
@given(path=st.sampled_from(ALL), value=ODD_VALUES)
def test_changing_a_value_is_accepted_or_refused_in_place(path: Path_, value: Any) -> None:
    doc = copy.deepcopy(EXAMPLE)
    retype(doc, path, value)
    check(dump(doc))


@settings(max_examples=100, deadline=None)
@given(path=st.sampled_from([p for p in ALL if not isinstance(get(EXAMPLE, p), dict)]))
def test_a_mapping_where_a_value_belongs_is_always_refused(path: Path_) -> None:
    doc = copy.deepcopy(EXAMPLE)
    retype(doc, path, {"zz": 1})
    assert check(dump(doc))


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_damaged_text_is_accepted_or_refused_in_place(data: st.DataObject) -> None:
    lines = EXAMPLE_TEXT.splitlines(keepends=True)
    if data.draw(st.booleans(), label="cut a line"):
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        text = "".join(lines[:i] + lines[i + 1 :])
    else:
        at = data.draw(st.integers(0, len(EXAMPLE_TEXT)), label="offset")
        char = data.draw(st.sampled_from(list(":-[]{}\t'\"&*!|>%@` #,?\n")), label="char")
        text = EXAMPLE_TEXT[:at] + char + EXAMPLE_TEXT[at:]
    check(text)


def test_the_example_itself_loads() -> None:
    assert check(EXAMPLE_TEXT) == []
    assert check(dump(EXAMPLE)) == []
