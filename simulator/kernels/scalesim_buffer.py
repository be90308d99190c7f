"""SCALE-Sim's double-buffered read SRAM, one demanded set at a time (not one cycle at a time).

SCALE-Sim groups an operand's fetch stream into ~100 sets per buffer and keeps a cyclic window
of the sets that fill the active half. A demand outside the window moves the window on by the
prefetch half and fetches it from DRAM. Because some demand orders run backwards through a
tile (the stationary operand is loaded bottom row first), a window edge inside such a tile can
send the window once round the whole stream; the closed form cannot see that, so this loop
walks the demanded sets of every fold. Its cost is folds x sets per fold, not cycles.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _miss_times(
    lo: np.ndarray,
    hi: np.ndarray,
    descending: np.ndarray,
    start: np.ndarray,
    duration: np.ndarray,
    set_words: int,
    n_sets: int,
    active_sets: int,
    prefetch_sets: int,
) -> np.ndarray:  # pragma: no cover - jitted
    out = np.empty(64, dtype=np.float64)
    count = 0
    window = 0
    for i in range(lo.shape[0]):
        if hi[i] <= lo[i]:
            continue
        first = lo[i] // set_words
        last = (hi[i] - 1) // set_words
        sets = last - first + 1
        for j in range(sets):
            s = (last - j) if descending[i] else (first + j)
            s %= n_sets
            while (s - window) % n_sets >= active_sets:
                window = (window + prefetch_sets) % n_sets
                if count == out.shape[0]:
                    grown = np.empty(out.shape[0] * 2, dtype=np.float64)
                    grown[:count] = out[:count]
                    out = grown
                out[count] = start[i] + duration[i] * j / sets
                count += 1
    return out[:count]


def miss_times(
    lo: np.ndarray,
    hi: np.ndarray,
    descending: np.ndarray,
    start: np.ndarray,
    duration: np.ndarray,
    *,
    set_words: int,
    n_sets: int,
    active_sets: int,
    prefetch_sets: int,
) -> np.ndarray:
    """Nominal cycle of every window move (DRAM fetch) for demands given as stream ranges
    ``[lo, hi)`` (in words, in demand order), each asked for from ``start`` over ``duration``
    cycles, backwards where ``descending``."""
    if prefetch_sets <= 0:
        return np.empty(0)
    return np.asarray(
        _miss_times(
            np.ascontiguousarray(lo, dtype=np.int64),
            np.ascontiguousarray(hi, dtype=np.int64),
            np.ascontiguousarray(descending, dtype=np.bool_),
            np.ascontiguousarray(start, dtype=np.float64),
            np.ascontiguousarray(duration, dtype=np.float64),
            int(set_words),
            int(n_sets),
            int(active_sets),
            int(prefetch_sets),
        )
    )


@numba.njit(cache=True, nogil=True)
def _stall_walk(needed: np.ndarray, arrival: np.ndarray) -> float:  # pragma: no cover - jitted
    stall = 0.0
    for i in range(needed.shape[0]):
        late = arrival[i] - (needed[i] + stall) - 1.0
        if late > 0:
            stall += 2.0 * late  # SCALE-Sim adds a positive stall to its offset twice
    return stall


def stall_walk(needed: np.ndarray, arrival: np.ndarray) -> float:
    """Stall cycles from DRAM chunks (``arrival``) that the array first needs at nominal
    cycles ``needed`` (sorted), walked in order the way SCALE-Sim accumulates them: each late
    chunk delays everything after it, and SCALE-Sim counts a late chunk's wait twice, so the
    timeline overshoots and the next chunk catches up."""
    if needed.shape[0] == 0:
        return 0.0
    return float(
        _stall_walk(
            np.ascontiguousarray(needed, dtype=np.float64),
            np.ascontiguousarray(arrival, dtype=np.float64),
        )
    )
