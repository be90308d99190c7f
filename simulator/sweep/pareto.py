"""Feasibility and Pareto fronts over a sweep's rows.

A row is feasible when every constraint of the spec holds for it. A row is on the Pareto front
when it is feasible and no other feasible row of the same (workload, variant, batch) is at
least as good in latency, energy and area and better in one of them. Rows an objective cannot
be computed for (a NaN area) are compared on the objectives they have.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .spec import Constraint

OBJECTIVES = ("latency_s", "energy_j", "area_mm2")
GROUP = ["workload", "variant", "batch"]


def feasible(frame: pd.DataFrame, constraints: Sequence[Constraint]) -> np.ndarray:
    ok = np.ones(len(frame), dtype=bool)
    for c in constraints:
        values = frame[c.metric].to_numpy(dtype=float)
        ok &= np.array([c.holds(v) for v in values], dtype=bool)
    return ok


def non_dominated(values: np.ndarray, block: int = 512) -> np.ndarray:
    """Mask of the rows of ``values`` (n x k, minimised) that no other row dominates."""
    n = len(values)
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, block):
        cand = values[start : start + block]
        no_worse = np.all(values[None, :, :] <= cand[:, None, :], axis=2)
        better = np.any(values[None, :, :] < cand[:, None, :], axis=2)
        keep[start : start + block] = ~np.any(no_worse & better, axis=1)
    return keep


def pareto(frame: pd.DataFrame, ok: np.ndarray) -> np.ndarray:
    """The front of each (workload, variant, batch) among the feasible rows."""
    front = np.zeros(len(frame), dtype=bool)
    objectives = [o for o in OBJECTIVES if frame[o].notna().all()]
    positions = np.arange(len(frame))
    for _, idx in frame.groupby(GROUP, sort=False).indices.items():
        rows = positions[idx][ok[idx]]
        if len(rows):
            values = frame.iloc[rows][objectives].to_numpy(dtype=float)
            front[rows[non_dominated(values)]] = True
    return front
