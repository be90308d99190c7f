"""SCALE-Sim's double-buffered read SRAM in USER bandwidth mode, one request at a time.

SCALE-Sim fetches an operand in a fixed *stream* order (its prefetch matrix) and groups that
stream into sets of ``ceil(buffer words / 100)`` non-empty entries. The active half of the
buffer is a cyclic window of sets; a request whose address is in none of the window's sets
moves the window on by the prefetch half and fetches it from DRAM, until the address is in.
An address counts as present if *any* copy of it is in the window: a conv's im2col matrix
repeats each ifmap pixel up to ``R x S`` times, and a copy further along the stream often
serves a request that its own position would miss.

These loops walk the requests (not the cycles) of every fold in SCALE-Sim's demand order and
return the demand line of every window move; ``line_stalls`` then replays SCALE-Sim's per-line
stall accounting. Each loop costs one pass over the requests.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _stream_sets(grid: np.ndarray, diagonal: bool, set_words: int) -> tuple[np.ndarray, int]:
    """The set of every entry of ``grid`` (-1 where empty), and the number of non-empty
    entries. The stream runs row by row, or along anti-diagonals (bottom row first)."""
    h, w = grid.shape
    sets = np.full((h, w), -1, dtype=np.int64)
    pos = 0
    if diagonal:
        for d in range(h + w - 1):
            top = min(d, h - 1)
            bottom = max(0, d - w + 1)
            for r in range(top, bottom - 1, -1):
                c = d - r
                if grid[r, c] >= 0:
                    sets[r, c] = pos // set_words
                    pos += 1
    else:
        for r in range(h):
            for c in range(w):
                if grid[r, c] >= 0:
                    sets[r, c] = pos // set_words
                    pos += 1
    return sets, pos


@numba.njit(cache=True, nogil=True)
def _address_sets(grid: np.ndarray, sets: np.ndarray, n_addr: int) -> tuple[np.ndarray, np.ndarray]:
    """For every address, the sets holding a copy of it (CSR: ``indptr``, ``members``)."""
    h, w = grid.shape
    indptr = np.zeros(n_addr + 1, dtype=np.int64)
    for r in range(h):
        for c in range(w):
            if grid[r, c] >= 0:
                indptr[grid[r, c] + 1] += 1
    for a in range(n_addr):
        indptr[a + 1] += indptr[a]
    fill = indptr[:-1].copy()
    members = np.empty(indptr[n_addr], dtype=np.int64)
    for r in range(h):
        for c in range(w):
            a = grid[r, c]
            if a >= 0:
                members[fill[a]] = sets[r, c]
                fill[a] += 1
    return indptr, members


@numba.njit(cache=True, nogil=True)
def _present(
    own: int,
    addr: int,
    window: int,
    n_sets: int,
    active: int,
    indptr: np.ndarray,
    members: np.ndarray,
    dup: bool,
) -> bool:
    if (own - window) % n_sets < active:
        return True
    if dup:
        for i in range(indptr[addr], indptr[addr + 1]):
            if (members[i] - window) % n_sets < active:
                return True
    return False


@numba.njit(cache=True, nogil=True)
def _miss_lines(
    grid: np.ndarray,
    diagonal: bool,
    by_col_fold: bool,
    rows: int,
    row_folds: int,
    col_folds: int,
    prefix: int,
    fold_lines: int,
    set_words: int,
    active_words: int,
    prefetch_words: int,
    n_addr: int,
) -> np.ndarray:  # pragma: no cover - jitted
    sets, total = _stream_sets(grid, diagonal, set_words)
    n_sets = total // set_words + 1
    active = min((active_words + set_words - 1) // set_words, n_sets)
    prefetch = min((prefetch_words + set_words - 1) // set_words, n_sets - active)
    out = np.empty(64, dtype=np.int64)
    if prefetch <= 0:
        return out[:0]
    dup = n_addr > 0
    if dup:
        indptr, members = _address_sets(grid, sets, n_addr)
    else:
        indptr = np.zeros(1, dtype=np.int64)
        members = np.zeros(1, dtype=np.int64)
    height, width = grid.shape
    block_h = height // (col_folds if (by_col_fold or not diagonal) else row_folds)
    count = 0
    window = 0
    used = 0
    for fc in range(col_folds):
        for fr in range(row_folds):
            start = (fc * row_folds + fr) * fold_lines
            if diagonal:  # skewed: line tau carries anti-diagonal tau of the fold's block
                base = (fc if by_col_fold else fr) * block_h
                n_lines = block_h + width - 1
            else:  # stationary tile: its rows bottom first, one row per line
                base = fc * block_h + fr * rows
                n_lines = rows
                used = min(rows, block_h - fr * rows)
            for tau in range(n_lines):
                for c in range(width):
                    if diagonal:
                        t = tau - c
                        if t < 0:
                            break
                        if t >= block_h:
                            continue
                        r = base + t
                        line = start + prefix + tau
                    else:
                        i = rows - 1 - tau
                        if i >= used:
                            break
                        r = base + i
                        line = start + tau
                    addr = grid[r, c]
                    if addr < 0:
                        continue
                    own = sets[r, c]
                    while not _present(own, addr, window, n_sets, active, indptr, members, dup):
                        window = (window + prefetch) % n_sets
                        if count == out.shape[0]:
                            grown = np.empty(out.shape[0] * 2, dtype=np.int64)
                            grown[:count] = out[:count]
                            out = grown
                        out[count] = line
                        count += 1
    return out[:count]


def miss_lines(
    grid: np.ndarray,
    *,
    diagonal: bool,
    by_col_fold: bool,
    rows: int,
    row_folds: int,
    col_folds: int,
    prefix: int,
    fold_lines: int,
    buffer_words: int,
    n_addr: int,
) -> np.ndarray:
    """Demand line of every DRAM fetch of one read buffer.

    ``grid`` is SCALE-Sim's prefetch matrix before flattening, as address ids (-1 empty):
    column-fold blocks stacked (``diagonal`` False: a stationary operand, each fold reading
    ``rows`` rows of its block bottom first, one row per line) or row-fold (column-fold when
    ``by_col_fold``) blocks stacked and streamed along anti-diagonals (``diagonal`` True: a
    streamed operand, skewed, so line ``prefix + tau`` of a fold reads anti-diagonal ``tau``
    of its block). ``n_addr`` > 0 says addresses repeat (ids below ``n_addr``); 0 that every
    entry is its own address."""
    words = int(buffer_words)
    active = (words + 1) // 2
    return np.asarray(
        _miss_lines(
            np.ascontiguousarray(grid, dtype=np.int64),
            bool(diagonal),
            bool(by_col_fold),
            int(rows),
            int(row_folds),
            int(col_folds),
            int(prefix),
            int(fold_lines),
            max((words + 99) // 100, 1),
            active,
            words - active,
            int(n_addr),
        )
    )


@numba.njit(cache=True, nogil=True)
def _port_lateness(
    lines: np.ndarray, i: int, k: int, chunk: float, line: int, cycle: float
) -> tuple[int, int, float]:  # pragma: no cover - jitted
    """Replay the fetches one read port chains for ``line``: (next index, fetches so far,
    cycles the last one finishes after the line wanted it; 0 when the port fetched nothing)."""
    x = cycle + 1.0
    hit = False
    while i < lines.shape[0] and lines[i] == line:
        k += 1
        ready = -1.0 + k * chunk
        x = ready + max(ready - x, 0.0)
        i += 1
        hit = True
    return i, k, (x - cycle - 1.0) if hit else 0.0


@numba.njit(cache=True, nogil=True)
def _line_stalls(
    lines_a: np.ndarray, chunk_a: float, lines_b: np.ndarray, chunk_b: float
) -> float:  # pragma: no cover - jitted
    stall = 0.0
    ia = ib = 0
    ka = kb = 0
    na, nb = lines_a.shape[0], lines_b.shape[0]
    while ia < na or ib < nb:
        line = lines_a[ia] if ia < na else lines_b[ib]
        if ib < nb and lines_b[ib] < line:
            line = lines_b[ib]
        cycle = line + stall
        ia, ka, late_a = _port_lateness(lines_a, ia, ka, chunk_a, line, cycle)
        ib, kb, late_b = _port_lateness(lines_b, ib, kb, chunk_b, line, cycle)
        stall += max(late_a, late_b, 0.0)
    return stall


def line_stalls(lines_a: np.ndarray, chunk_a: float, lines_b: np.ndarray, chunk_b: float) -> float:
    """Stall cycles SCALE-Sim accumulates from two read buffers' fetches.

    The ``k``-th fetch of a buffer completes at ``k * chunk - 1`` (fetches run back to back,
    ``chunk`` cycles each). Line ``i`` is asked for at ``i`` plus the stalls so far; each fetch
    it triggers moves its ready time to the fetch's completion plus any lateness once more (as
    SCALE-Sim counts a late fetch's wait twice), and the line stalls by the worse buffer."""
    return float(
        _line_stalls(
            np.ascontiguousarray(lines_a, dtype=np.int64),
            float(chunk_a),
            np.ascontiguousarray(lines_b, dtype=np.int64),
            float(chunk_b),
        )
    )
