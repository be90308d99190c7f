"""Design points: indices into the spec's grid, and the parameters each one sets.

Every point of every sampling method is a point of the grid (Optuna chooses among the spec's
values too), so a point is named by its grid index: results, resumed runs and repeated
proposals all key on it, and the whole grid never has to be held in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .spec import SweepSpec


def grid_digits(index: int, sizes: Sequence[int]) -> tuple[int, ...]:
    """Which value of each key grid point ``index`` takes (mixed radix, last key fastest)."""
    out = []
    for size in reversed(sizes):
        index, digit = divmod(index, size)
        out.append(digit)
    return tuple(reversed(out))


def grid_params(spec: SweepSpec, index: int) -> dict[str, Any]:
    """The parameters of grid point ``index``."""
    sizes = [len(values) for _, values in spec.params]
    digits = grid_digits(index, sizes)
    return {key: values[d] for (key, values), d in zip(spec.params, digits, strict=True)}


def grid_index(spec: SweepSpec, digits: Sequence[int]) -> int:
    """The grid index of the point choosing ``digits[i]`` for the i-th key."""
    index = 0
    for (_, values), digit in zip(spec.params, digits, strict=True):
        index = index * len(values) + digit
    return index


def planned_points(spec: SweepSpec) -> list[int]:
    """The points a grid or random sweep prices, in the order it prices them."""
    if spec.sample.kind == "grid":
        return list(range(spec.grid_size))
    if spec.sample.kind == "random":
        assert spec.sample.n is not None
        rng = np.random.default_rng(spec.seed)
        picks = rng.choice(spec.grid_size, size=spec.sample.n, replace=False)
        return sorted(int(i) for i in picks)
    raise ValueError(f"{spec.sample} points are proposed as the sweep runs")


def chunks(points: Sequence[int], size: int) -> Iterator[tuple[int, ...]]:
    """Consecutive runs of ``size`` points: the unit of work one task prices and one part
    file holds."""
    for start in range(0, len(points), size):
        yield tuple(points[start : start + size])


def chunk_size(n_points: int, workers: int) -> int:
    """Points per task: about eight tasks per worker (every worker stays busy to the end and
    progress moves), at most 200 points (a ResNet-50 task then takes seconds, so Dask's
    ~1 ms per task is noise)."""
    return max(1, min(200, math.ceil(n_points / max(8 * workers, 1))))
