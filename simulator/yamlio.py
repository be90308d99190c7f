"""Reading YAML that users hand to hwsim (profiles, recipes, sweep specs) safely and precisely.

PyYAML's safe loader builds only plain data, but it follows YAML 1.1, whose implicit types
are traps in hardware files: ``1e9`` reads as a string and ``2:4`` as the base-60 integer 124.
A key given twice silently keeps the last value, which hides typos. The loader here removes
both traps and refuses duplicate keys; every error names the file (and the line).

A small file must not take hwsim down either. Aliases are allowed but their expansion is
bounded: the "billion laughs" file (ten aliases to ten aliases...) builds shared Python objects
that anything walking them (the schema check, an error message) expands to billions of nodes,
so the document is measured as if expanded, without expanding it, and refused past
``MAX_NODES``. Nesting past ``MAX_DEPTH`` (which would overflow Python's stack in the composer
or the schema check), files past ``MAX_BYTES``, and bytes that are not UTF-8 text are refused
with one line too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import HwsimError

MAX_DEPTH = 64  # nesting levels, counted through aliases; profiles use about 5
MAX_NODES = 200_000  # scalars and collections after alias expansion; profiles hold about 300
MAX_BYTES = 16 * 1024 * 1024


class _TooBig(Exception):
    def __init__(self, problem: str, node: yaml.Node) -> None:
        super().__init__(problem)
        self.problem = problem
        self.node = node


class _NoDuplicateKeys(yaml.constructor.SafeConstructor):
    """A key given twice would silently keep the last value, which hides typos: refuse it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class StrictLoader(_NoDuplicateKeys, yaml.SafeLoader):
    """SafeLoader with two YAML 1.1 traps removed and one added check.

    YAML 1.1 reads ``1e9`` as a string and ``2:4`` as the base-60 integer 124; profiles are full
    of both. And a key given twice silently keeps the last value, which hides typos.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """The composer recurses once per level: stop long before Python's stack does."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)  # type: ignore[return-value]
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            try:
                _measure(node, 1, {}, set())
            except _TooBig as exc:
                raise yaml.composer.ComposerError(
                    None, None, exc.problem, exc.node.start_mark
                ) from None
        return node


def _measure(
    node: yaml.Node, level: int, memo: dict[int, tuple[int, int]], active: set[int]
) -> tuple[int, int]:
    """(nodes, height) of ``node`` as if every alias were expanded, computed once per distinct
    node, so a billion-laughs document is measured in microseconds and refused."""
    known = memo.get(id(node))
    if known is not None:
        if level + known[1] - 1 > MAX_DEPTH:
            raise _TooBig(f"nested deeper than {MAX_DEPTH} levels once aliases expand", node)
        return known
    if level > MAX_DEPTH:
        raise _TooBig(f"nested deeper than {MAX_DEPTH} levels once aliases expand", node)
    if id(node) in active:
        raise _TooBig("an alias refers to the collection that contains it", node)
    active.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        children: list[yaml.Node] = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    size, height = 1, 1
    for child in children:
        child_size, child_height = _measure(child, level + 1, memo, active)
        size += child_size
        height = max(height, child_height + 1)
        if size > MAX_NODES:
            raise _TooBig(f"expands to more than {MAX_NODES:,} values (aliases)", node)
    active.discard(id(node))
    memo[id(node)] = (size, height)
    return size, height


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver(
    _INT, re.compile(r"^[-+]?(0|[1-9][0-9_]*|0x[0-9a-fA-F_]+)$"), list("-+0123456789")
)
StrictLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^[-+]?(\d[\d_]*\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|\.inf|\.nan)$"),
    list("-+0123456789."),
)


# hwsim's own files (the preset profiles) are read with libyaml's parser when PyYAML has it: the
# same types and duplicate-key check, ten times faster (``hwsim profiles`` reads every preset),
# without the depth and alias bounds, which guard against hostile files, not the package's own.
PackagedLoader: type[Any] = StrictLoader
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(_NoDuplicateKeys, yaml.CSafeLoader):
        yaml_implicit_resolvers = StrictLoader.yaml_implicit_resolvers

    PackagedLoader = _CLoader


def read_yaml(path: Path, what: str, error: type[HwsimError], *, packaged: bool = False) -> Any:
    """Parse a YAML file with the safe loader above; errors name the file (and line).
    ``packaged``: one of hwsim's own files, read with ``PackagedLoader``."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise error(f"{path}: {what} file larger than {MAX_BYTES // 2**20} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: not a text {what} file (byte {exc.start} is not UTF-8; is it binary?)"
        ) from None
    try:
        data = yaml.load(text, Loader=PackagedLoader if packaged else StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0][:200]
        raise error(f"{path}:{where} not valid YAML ({problem})") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. an integer of 5000 digits
        raise error(f"{path}: not a {what} hwsim can read ({str(exc)[:160]})") from None
    return data


def parse_value(text: str, what: str, error: type[HwsimError]) -> Any:
    """A value given on the command line, read as YAML with the same rules as a file
    (``32`` an int, ``1e9`` a float, ``true`` a bool, ``[a, b]`` a list)."""
    try:
        return yaml.load(text, Loader=StrictLoader) if text else ""
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", exc)
        raise error(f"{what}: '{text}' is not a valid value ({problem})") from None
