"""Non-zeros per filter column and per column tile of a systolic array, from real weights.

Zero-skipping on an array compresses each filter column (one output channel) along the
reduction axis; the columns of one tile advance together, so the densest column of a tile sets
its pace. These kernels count what that needs in one pass over the weights.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _column_nonzeros(matrix: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    rows, width = matrix.shape
    out = np.zeros(rows, dtype=np.int64)
    for r in range(rows):
        count = 0
        for c in range(width):
            if matrix[r, c] != 0:
                count += 1
        out[r] = count
    return out


@numba.njit(cache=True, nogil=True)
def _tile_stats(counts: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    n = counts.shape[0]
    tiles = (n + cols - 1) // cols
    peak = np.zeros(tiles, dtype=np.int64)
    mean = np.zeros(tiles, dtype=np.float64)
    for t in range(tiles):
        start = t * cols
        stop = min(start + cols, n)
        total = 0
        for i in range(start, stop):
            total += counts[i]
            if counts[i] > peak[t]:
                peak[t] = counts[i]
        mean[t] = total / (stop - start)
    return peak, mean


def column_nonzeros(matrix: np.ndarray) -> np.ndarray:
    """Non-zeros in each row of ``matrix`` (output channels x reduction)."""
    return np.asarray(_column_nonzeros(np.ascontiguousarray(matrix, dtype=np.float32)))


def column_tile_nonzeros(matrix: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """For tiles of ``cols`` output channels: the densest channel's non-zeros, and the mean.

    ``peak / mean`` is the tile's load imbalance: the fraction of PE-cycles the sparser
    columns idle while the densest one finishes.
    """
    peak, mean = _tile_stats(column_nonzeros(matrix), int(cols))
    return np.asarray(peak), np.asarray(mean)
