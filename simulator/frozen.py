"""Immutable, hashable containers for values that arrive as nested dicts and lists (YAML).

A hardware profile is a value: two profiles with the same numbers must compare equal and hash
alike, so that anything derived from one can be cached on (or keyed by) the profile itself
and never go stale when a sweep or a fit varies it. Plain dicts and lists are neither
hashable nor immutable; ``deep_freeze`` turns them into ``FrozenDict`` and tuples, and
``thaw`` turns them back for editing and for writing YAML.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(Mapping[K, V]):
    """A read-only mapping that hashes by its items (insertion order kept for display)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(items or {})
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # Direct, not through Mapping's generic versions: cost models read these per op.
    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: K, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, FrozenDict):
            return hash(self) == hash(other) and self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other)

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Not the cached hash: string hashes differ between processes (a sweep's workers).
        return (FrozenDict, (self._data,))


# Leaves of profile data; checked by exact type first, since a calibrated profile holds tens
# of thousands of numbers and an isinstance check against the Mapping ABC is slow.
_SCALARS = (float, int, str, bool, type(None))


def deep_freeze(value: Any) -> Any:
    """Mappings become ``FrozenDict``, lists and tuples become tuples, recursively."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(deep_freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of ``deep_freeze``: plain dicts and lists, safe to edit and to dump."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value
