"""Time hwsim's GEMM kernels against the dense one, the same way in calibration and validation.

A speedup is the ratio of two timings, and on a shared VM both move with things the kernels
do not control: where the operands sit in memory (cache-line splits, 4 KiB aliasing between
the output row a kernel stores and the input row it loads), other tenants' load, and how many
runs each side got (the best of more runs is lower). Calibration once timed the dense kernel
over three times the runs of each sparse one, all on one allocation, and recorded N:M speedups
of 0.83-1.01x where fresh processes measured 1.03-1.42x. So each case here is timed:

- on several fresh copies of all its operands, each copy at another offset within a page,
  keeping the median over copies (a speedup is not one allocation's draw);
- on each copy as the best of the same number of runs for every kernel, with the dense
  reference timed before and after the others and keeping its better time, so a change in
  load during one copy moves both sides of each ratio.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import gemm, sparse

COPIES = (3, 9)  # fewest and most fresh copies of the operands per shape
RUNS = 5  # timed runs per kernel and copy, after one warm-up; the best counts
INT_SCALE = 0.02  # quantization step of the int8/int4 operands (timing only: values do not matter)
BLOCKS = {"csr": (1, 1), "bsr1x4": (1, 4), "bsr4x4": (4, 4)}
_PAGE = 4096
_COPY_SHIFT_BYTES = 1040  # copy i starts i x 1040 B (mod 4 KiB) into its buffer: 16 B past a line


@dataclass(frozen=True)
class KernelCase:
    """One kernel on one weight matrix: ``fmt`` is ``dense`` (fp32), ``int8``, ``int4``, a
    sparse format (``csr``, ``bsr1x4``, ``bsr4x4``) or ``2:4``/``4:8``; ``stored`` is the
    fraction of the dense weights it stores; ``run(weights, columns)`` computes W @ B."""

    fmt: str
    stored: float
    weights: Any  # a weight array or a sparse encoding (a frozen dataclass of arrays)
    run: Callable[[Any, np.ndarray], object]
    int8_columns: bool = False


@dataclass(frozen=True)
class CaseTiming:
    """A case's median over copies of its best time and of its speedup over the dense kernel
    on the same copy."""

    case: KernelCase
    seconds: float
    speedup: float


def kernel_cases(
    w: np.ndarray,
    densities: Sequence[float],
    formats: Sequence[str] = tuple(BLOCKS),
    seed: int = 0,
) -> list[KernelCase]:
    """The dense fp32 reference first, then int8 and int4 on the quantized weights, each
    sparse format at each density (random blocks of the format's shape kept), 2:4 and 4:8."""
    wq = gemm.quantize(w, INT_SCALE)
    cases = [
        KernelCase("dense", 1.0, np.ascontiguousarray(w, np.float32), gemm.dense_gemm),
        KernelCase("int8", 1.0, wq, gemm.int8_gemm, int8_columns=True),
        KernelCase("int4", 1.0, gemm.pack_int4(np.clip(wq, -8, 7)), gemm.int4_gemm, True),
    ]
    for fmt in formats:
        block = BLOCKS[fmt]
        for density in densities:
            pruned = sparse.prune_random(w, density, block=block, seed=seed)
            if fmt == "csr":
                csr = sparse.to_csr(pruned)
                cases.append(KernelCase(fmt, len(csr.data) / pruned.size, csr, sparse.csr_gemm))
            else:
                bsr = sparse.to_bsr(pruned, block)
                stored = bsr.data.shape[0] * block[0] * block[1] / pruned.size
                cases.append(KernelCase(fmt, stored, bsr, sparse.bsr_gemm))
    for n, m in ((2, 4), (4, 8)):
        nm = sparse.to_nm(sparse.prune_nm(w, n, m), n, m)
        cases.append(KernelCase(f"{n}:{m}", n / m, nm, sparse.nm_gemm))
    return cases


def fresh_copy(a: np.ndarray, index: int) -> np.ndarray:
    """A contiguous copy of ``a`` in a new buffer, starting ``index`` x 1040 bytes (mod 4 KiB)
    into it, so each copy sits at another cache-line and page offset."""
    shift = index * _COPY_SHIFT_BYTES % _PAGE // a.itemsize
    buffer = np.empty(a.size + _PAGE // a.itemsize, a.dtype)
    out = buffer[shift : shift + a.size].reshape(a.shape)
    out[...] = a
    return out


def _fresh_weights(weights: Any, index: int) -> Any:
    if isinstance(weights, np.ndarray):
        return fresh_copy(weights, index)
    arrays = {
        f.name: fresh_copy(value, index)
        for f in dataclasses.fields(weights)
        if isinstance(value := getattr(weights, f.name), np.ndarray)
    }
    return dataclasses.replace(weights, **arrays)


def _best_s(call: Callable[[], object], runs: int) -> float:
    call()
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def _time_copy(
    cases: Sequence[KernelCase], columns: np.ndarray, index: int, runs: int
) -> list[float]:
    """Best-of-``runs`` seconds of every case on copy ``index`` of the operands; the dense
    reference (the first case) runs before and after the others and keeps its better time."""
    fp32 = fresh_copy(columns, index)
    int8 = fresh_copy(gemm.quantize(columns, INT_SCALE), index)
    calls = [
        functools.partial(c.run, _fresh_weights(c.weights, index), int8 if c.int8_columns else fp32)
        for c in cases
    ]
    times = [_best_s(call, runs) for call in calls]
    times[0] = min(times[0], _best_s(calls[0], runs))
    return times


def time_cases(
    cases: Sequence[KernelCase],
    columns: np.ndarray,
    budget_s: float,
    copies: tuple[int, int] = COPIES,
    runs: int = RUNS,
) -> list[CaseTiming]:
    """Time ``cases`` (the dense fp32 reference first) on the K x M ``columns`` over as many
    fresh copies as ``budget_s`` allows, no fewer than ``copies[0]`` and no more than
    ``copies[1]``."""
    if not cases or cases[0].fmt != "dense":
        raise ValueError("the first case must be the dense fp32 reference")
    per_copy: list[list[float]] = []
    start = time.perf_counter()
    while len(per_copy) < copies[1]:
        per_copy.append(_time_copy(cases, columns, len(per_copy), runs))
        done = len(per_copy)
        if done >= copies[0] and (time.perf_counter() - start) * (done + 1) / done > budget_s:
            break
    return [
        CaseTiming(
            case,
            statistics.median(t[i] for t in per_copy),
            statistics.median(t[0] / t[i] for t in per_copy),
        )
        for i, case in enumerate(cases)
    ]
