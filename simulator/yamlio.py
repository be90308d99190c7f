"""Reading YAML that users hand to hwsim (profiles, recipes, sweep specs) safely and precisely.

PyYAML's safe loader builds only plain data, but it follows YAML 1.1, whose implicit types
are traps in hardware files: ``1e9`` reads as a string and ``2:4`` as the base-60 integer 124.
A key given twice silently keeps the last value, which hides typos. The loader here removes
both traps and refuses duplicate keys; every error names the file (and the line).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import HwsimError


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with two YAML 1.1 traps removed and one added check.

    YAML 1.1 reads ``1e9`` as a string and ``2:4`` as the base-60 integer 124; profiles are full
    of both. And a key given twice silently keeps the last value, which hides typos.
    """

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


def read_yaml(path: Path, what: str, error: type[HwsimError]) -> Any:
    """Parse a YAML file with the safe loader above; errors name the file (and line)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        raise error(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return data


def parse_value(text: str, what: str, error: type[HwsimError]) -> Any:
    """A value given on the command line, read as YAML with the same rules as a file
    (``32`` an int, ``1e9`` a float, ``true`` a bool, ``[a, b]`` a list)."""
    try:
        return yaml.load(text, Loader=StrictLoader) if text else ""
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", exc)
        raise error(f"{what}: '{text}' is not a valid value ({problem})") from None
