"""YAML that cannot hang or crash the reader: bounded size, depth, aliases and expansion.

Every YAML file Clearance reads from a person (the policy, ``clearance.yaml``, server and
integration settings, ``--manifest`` files, policy test cases) is loaded here. PyYAML's safe
loader refuses arbitrary objects but nothing else: a 478-byte "billion laughs" document expands
to 10⁹ nodes through aliases (any reader that walks it hangs), and a 100,000-deep one crashes
its recursive composer with RecursionError. This loader refuses, with the line and column:

* a document over :data:`MAX_BYTES` (checked before parsing);
* nesting deeper than :data:`MAX_DEPTH`;
* more than :data:`MAX_ALIASES` alias uses, or a document whose aliases would expand to more
  than :data:`MAX_NODES` nodes (each node counted as often as it would be read).

The limits are far above any real policy or Kubernetes manifest. Errors are
``yaml.MarkedYAMLError`` (:class:`YamlLimitError`), so callers report them as any YAML error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

T = TypeVar("T")

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 100
MAX_ALIASES = 1_000
MAX_NODES = 1_000_000


class YamlLimitError(yaml.MarkedYAMLError):
    """A YAML document over one of this module's limits; ``problem_mark`` says where."""

    def __init__(self, problem: str, problem_mark: Any = None) -> None:
        super().__init__(problem=problem, problem_mark=problem_mark)


class _Bounded:
    """The limits, enforced while composing; mixed into a loader ahead of its composer."""

    _depth: int
    _aliases: int
    _sizes: dict[int, int]

    def _start(self, stream: str | bytes) -> None:
        if len(stream) > MAX_BYTES:
            raise YamlLimitError(
                problem=f"the document is {len(stream)} bytes; the limit is {MAX_BYTES}"
            )
        self._depth = 0
        self._aliases = 0
        self._sizes = {}  # id(node) → nodes it expands to

    def compose_document(self) -> Node | None:
        self._aliases = 0
        self._sizes = {}
        node: Node | None = super().compose_document()  # type: ignore[misc]
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlLimitError(
                    problem=f"more than {MAX_ALIASES} aliases", problem_mark=event.start_mark
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlLimitError(
                    problem=f"nested deeper than {MAX_DEPTH} levels", problem_mark=event.start_mark
                )
            node: Node | None = super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1
        if node is not None:
            self._count(node, event)
        return node

    def _count(self, node: Node, event: yaml.Event) -> None:
        if isinstance(node, ScalarNode):  # most nodes: 1, what the lookups below default to
            return
        known = self._sizes.get(id(node))
        if known is not None:  # an alias: the anchored node is read again, whole
            size = known
        elif isinstance(node, SequenceNode):
            size = 1 + sum(self._sizes.get(id(child), 1) for child in node.value)
        else:  # a mapping
            size = 1 + sum(
                self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value
            )
        if size > MAX_NODES:
            raise YamlLimitError(
                problem=f"aliases expand the document past {MAX_NODES} nodes",
                problem_mark=event.start_mark,
            )
        if known is None:
            self._sizes[id(node)] = size


class BoundedLoader(_Bounded, yaml.SafeLoader):
    """PyYAML's safe loader with the limits above, enforced while composing."""

    def __init__(self, stream: str | bytes) -> None:
        self._start(stream)
        super().__init__(stream)


_Loader: type[Any] = BoundedLoader
# libyaml's parser (PyYAML's wheels ship it; a build without it keeps the pure-Python loader).
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

if _CParser is not None:  # pragma: no branch

    class _FastLoader(_Bounded, Composer, _CParser, SafeConstructor, Resolver):  # type: ignore[misc]
        """The same loader over libyaml's parser: PyYAML's own composer (so the limits hold
        while composing) and constructor read libyaml's events, ~10× faster than PyYAML's
        pure-Python scanner. Any YAML error is reported by :class:`BoundedLoader`, re-reading
        the document, so messages and positions stay PyYAML's own."""

        def __init__(self, stream: str | bytes) -> None:
            self._start(stream)
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _Loader = _FastLoader


def _read(stream: str | bytes, origin: str, read: Callable[[BoundedLoader], T]) -> T:
    """``read`` with the fast loader; on any YAML error, again with PyYAML's own, which raises."""
    if _Loader is not BoundedLoader:
        loader: Any = _Loader(stream)
        try:
            return read(loader)
        except yaml.YAMLError:
            pass  # reported below, as PyYAML words and places it
        finally:
            loader.dispose()
    loader = BoundedLoader(stream)
    loader.name = origin
    try:
        return read(loader)
    finally:
        loader.dispose()


def load(stream: str | bytes, origin: str = "<input>") -> Any:
    """One YAML document, as ``yaml.safe_load`` would give it, within the limits."""
    return _read(stream, origin, lambda loader: loader.get_single_data())


def load_all(stream: str | bytes, origin: str = "<input>") -> Iterator[Any]:
    """Every document of a YAML stream, within the limits (counted per document)."""
    loader = BoundedLoader(stream)
    loader.name = origin
    try:
        while loader.check_data():  # type: ignore[no-untyped-call]
            yield loader.get_data()
    finally:
        loader.dispose()


def compose(stream: str | bytes, origin: str = "<input>") -> Node | None:
    """The node tree of one document (for positions), within the limits."""
    return _read(stream, origin, _single_node)


def _single_node(loader: BoundedLoader) -> Node | None:
    node: Node | None = loader.get_single_node()
    return node


_MERGE_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


def compose_and_load(stream: str | bytes, origin: str = "<input>") -> tuple[Node | None, Any]:
    """:func:`compose` and :func:`load` of one document, parsed once when that gives the same.

    Building the data from the composed tree is what :func:`load` does; but PyYAML's
    constructor rewrites mapping nodes that hold merge (``<<``) or value (``=``) keys in place,
    so a document with one is parsed a second time and the caller's tree stays as written.
    """

    def read(loader: BoundedLoader) -> tuple[Node | None, Any]:
        node: Node | None = loader.get_single_node()
        if node is None:
            return None, None
        if _rewritten_by_constructor(node):
            return node, load(stream, origin)
        return node, loader.construct_document(node)

    return _read(stream, origin, read)


def _rewritten_by_constructor(root: Node) -> bool:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if key.tag in _MERGE_TAGS:
                    return True
                stack += (key, value)
        elif isinstance(node, SequenceNode):
            stack += node.value
    return False
