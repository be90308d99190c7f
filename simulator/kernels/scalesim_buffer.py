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

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class OfmapWrites:
    """Where SCALE-Sim's ofmap demand matrix writes, fold by fold (folds in its order), and the
    write buffer that takes them. Each fold is ``prefix`` empty lines, then ``rows`` rows of
    ``fold_cols[f]`` words (the first ``fold_first_row[f]`` rows empty), skewed one line per
    column; ``fold_lines`` lines in all."""

    fold_cols: np.ndarray
    fold_first_row: np.ndarray
    fold_lines: int = 0
    prefix: int = 0
    rows: int = 0
    buffer_words: int = 0
    bandwidth: int = 1


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
def _line_writes(tau: int, c_used: int, prefix: int, n_rows: int, first_row: int) -> int:
    """Ofmap words written on line ``tau`` of a fold: SCALE-Sim's demand matrix is ``prefix``
    empty lines, then ``n_rows`` rows (the first ``first_row`` of them empty) of ``c_used``
    words, skewed so that column ``j`` is ``j`` lines late."""
    lo = max(0, tau - prefix - n_rows + 1)
    hi = min(c_used - 1, tau - prefix - first_row)
    return max(0, hi - lo + 1)


@numba.njit(cache=True, nogil=True)
def _line_stalls(
    lines_a: np.ndarray,
    chunk_a: float,
    lines_b: np.ndarray,
    chunk_b: float,
    fold_cols: np.ndarray,
    fold_first_row: np.ndarray,
    fold_lines: int,
    prefix: int,
    n_rows: int,
    out_words: int,
    out_bw: int,
) -> tuple[float, float]:  # pragma: no cover - jitted
    stall = 0.0
    ia = ib = 0
    ka = kb = 0
    na, nb = lines_a.shape[0], lines_b.shape[0]
    writes = out_words > 0 and fold_cols.shape[0] > 0
    if not writes:  # read buffers only: walk the lines that fetch
        while ia < na or ib < nb:
            line = lines_a[ia] if ia < na else lines_b[ib]
            if ib < nb and lines_b[ib] < line:
                line = lines_b[ib]
            cycle = line + stall
            ia, ka, late_a = _port_lateness(lines_a, ia, ka, chunk_a, line, cycle)
            ib, kb, late_b = _port_lateness(lines_b, ib, kb, chunk_b, line, cycle)
            stall += max(late_a, late_b, 0.0)
        return stall, 0.0
    # The ofmap write buffer, element by element as SCALE-Sim's write_buffer.service_writes.
    active = (out_words + 1) // 2
    drain_words = out_words - active
    drain_lines = max((drain_words + out_bw - 1) // out_bw, 1)
    free = out_words
    drain_end = 0.0
    fill = 0  # words in the trace line being filled
    sizes = np.empty(1024, dtype=np.int64)  # words of each trace line
    n_trace = 0
    drained = 0  # trace lines drained so far
    current = 0.0
    for fold in range(fold_cols.shape[0]):
        for tau in range(fold_lines):
            line = fold * fold_lines + tau
            cycle = line + stall
            late_a = late_b = 0.0
            if ia < na and lines_a[ia] == line:
                ia, ka, late_a = _port_lateness(lines_a, ia, ka, chunk_a, line, cycle)
            if ib < nb and lines_b[ib] == line:
                ib, kb, late_b = _port_lateness(lines_b, ib, kb, chunk_b, line, cycle)
            count = _line_writes(tau, fold_cols[fold], prefix, n_rows, fold_first_row[fold])
            current = cycle
            for _ in range(count):
                fill += 1
                free -= 1
                pushed = fill == out_bw
                if current < drain_end:
                    if free <= 0:
                        current = drain_end
                elif free < active:
                    pushed = pushed or fill > 0
                    if pushed:
                        if n_trace == sizes.shape[0]:
                            grown = np.empty(sizes.shape[0] * 2, dtype=np.int64)
                            grown[:n_trace] = sizes[:n_trace]
                            sizes = grown
                        sizes[n_trace] = fill
                        n_trace += 1
                        fill = 0
                        pushed = False
                    end = min(drained + drain_lines, n_trace)
                    if end > drained:
                        # SCALE-Sim frees whole lines, less the empty slots of the last one.
                        free += (end - drained - 1) * out_bw + sizes[end - 1]
                        drain_end = current + (end - drained) - 1
                        drained = end
                if pushed:
                    if n_trace == sizes.shape[0]:
                        grown = np.empty(sizes.shape[0] * 2, dtype=np.int64)
                        grown[:n_trace] = sizes[:n_trace]
                        sizes = grown
                    sizes[n_trace] = fill
                    n_trace += 1
                    fill = 0
            stall += max(late_a, late_b, current - cycle, 0.0)
    # After the last line the buffer drains what is left, back to back from that line's cycle.
    if fill > 0:
        if n_trace == sizes.shape[0]:
            grown = np.empty(sizes.shape[0] + 1, dtype=np.int64)
            grown[:n_trace] = sizes[:n_trace]
            sizes = grown
        sizes[n_trace] = fill
        n_trace += 1
    done = drain_end
    start = current
    while drained < n_trace:
        end = min(drained + drain_lines, n_trace)
        done = max(done, start + (end - drained) - 1)
        start = done + 1
        drained = end
    return stall, done


def line_stalls(
    lines_a: np.ndarray,
    chunk_a: float,
    lines_b: np.ndarray,
    chunk_b: float,
    writes: OfmapWrites | None = None,
) -> float:
    """Stall cycles SCALE-Sim accumulates from two read buffers' fetches (and the ofmap
    write buffer's drains, when ``writes`` describes them).

    The ``k``-th fetch of a buffer completes at ``k * chunk - 1`` (fetches run back to back,
    ``chunk`` cycles each). Line ``i`` is asked for at ``i`` plus the stalls so far; each fetch
    it triggers moves its ready time to the fetch's completion plus any lateness once more (as
    SCALE-Sim counts a late fetch's wait twice). The write buffer takes each line's ofmap words
    one at a time: once more than its drain half is full it drains ``ceil(drain / bw)`` lines
    of ``bw`` words, one per cycle, and a word that finds the buffer full waits for the drain
    under way. The line stalls by the worst of the three."""
    return stalls_and_drain(lines_a, chunk_a, lines_b, chunk_b, writes)[0]


def stalls_and_drain(
    lines_a: np.ndarray,
    chunk_a: float,
    lines_b: np.ndarray,
    chunk_b: float,
    writes: OfmapWrites | None = None,
) -> tuple[float, float]:
    """``line_stalls``, and the cycle (line 0 at cycle 0) at which the write buffer's last
    drain completes: SCALE-Sim's ofmap DRAM stop cycle, the end of its "Total Cycles (incl.
    prefetch)". 0 without ``writes``."""
    w = writes if writes is not None else OfmapWrites(np.zeros(0, np.int64), np.zeros(0, np.int64))
    stall, done = _line_stalls(
        np.ascontiguousarray(lines_a, dtype=np.int64),
        float(chunk_a),
        np.ascontiguousarray(lines_b, dtype=np.int64),
        float(chunk_b),
        np.ascontiguousarray(w.fold_cols, dtype=np.int64),
        np.ascontiguousarray(w.fold_first_row, dtype=np.int64),
        int(w.fold_lines),
        int(w.prefix),
        int(w.rows),
        int(w.buffer_words),
        int(w.bandwidth),
    )
    return float(stall), float(done)
