"""CPU SIMD cores: achieved efficiency by shape class, threads, memory-bound loops, dispatch.

Time of one op on ``t`` threads of a profile with ``cores`` cores:

- MAC ops (conv, GEMM, attention), per GEMM the op lowers to::

      compute = macs / (peak[precision] * t / cores * eff(shape) * lanes_used)

  ``peak`` is the vector-FMA peak of all cores, ``lanes_used`` the fraction of vector lanes the
  output columns fill (``padded_fraction``), and ``eff`` the achieved fraction of peak for the
  op's shape class: ``gemm`` (m, n, k), dense ``conv`` (pixels, out channels, reduction, taps)
  or ``depthwise`` (channels, pixels, taps). A calibrated profile (``hwsim calibrate``) holds
  measured tables per thread count in ``arch.efficiency``; ``eff`` is the inverse-distance
  average of the four nearest measured points in log2 space. A preset gives one number per
  class; a profile with neither runs at 100% (the roofline).
- Every other op is a loop bound by memory: ``bytes / bandwidth`` of the level its working set
  lives in, at the triad bandwidth measured for ``t`` threads when the profile has one.
- Each op that eager execution dispatches on its own pays ``dispatch_s[kind]`` (measured on tiny
  tensors), or else the profile's ``per_op_s``. ``cycles = max(compute, memory) + dispatch``.
- ``arch.fold_batchnorm: false`` (eager PyTorch): a batch-norm the frontend folded into its
  conv is priced again as its own memory-bound op, reading and writing the conv's output.
- Weights with zeros run on hwsim's sparse kernels (``hwsim.kernels``) when the profile lists a
  pattern they fit and ``arch.kernels`` holds that kernel's measured speedup curve, if that is
  faster than the dense op.

``--threads N`` arrives as ``ctx.options["threads"]`` (default: ``arch.threads``, else cores).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..cost import Bound, OpCost
from ..ops import MAC_KINDS, PRECISION_BITS, Op, OpKind
from ..profile import Profile
from . import roofline as rl
from .base import PricingContext
from .gemm_view import GemmShape, gemm_shapes

_NEIGHBOURS = 4
_TableKey = tuple[str, str, int, str]
_TABLES: dict[_TableKey, tuple[np.ndarray, np.ndarray] | float] = {}
# Stored fraction of the weights each sparse format needs, from the op's weight statistics.
_PATTERN_FORMAT = {"unstructured": "csr", "block1x4": "bsr1x4", "block4x4": "bsr4x4"}


def threads_of(ctx: PricingContext) -> int:
    """Threads the op runs on: ``--threads``, else the profile's default, else its cores."""
    arch = ctx.profile.arch
    value = ctx.options.get("threads") or arch.get("threads") or arch.get("cores") or 1
    return max(int(value), 1)


def _cores(profile: Profile) -> int:
    return max(int(profile.arch.get("cores", 1)), 1)


def _entry(profile: Profile, threads: int) -> Mapping[str, Any]:
    """The ``arch.efficiency`` entry for ``threads``: a mapping used as is, or from a list of
    per-thread-count entries the one measured at the most threads not above ``threads``."""
    eff = profile.arch.get("efficiency")
    if isinstance(eff, Mapping):
        return eff
    if not isinstance(eff, list) or not eff:
        return {}
    fitting = [e for e in eff if int(e.get("threads", 1)) <= threads]
    if fitting:
        return max(fitting, key=lambda e: int(e.get("threads", 1)))
    return min(eff, key=lambda e: int(e.get("threads", 1)))


def _table(profile: Profile, threads: int, key: str) -> tuple[np.ndarray, np.ndarray] | float:
    cache_key = (profile.name, profile.source, threads, key)
    if cache_key not in _TABLES:
        raw = _entry(profile, threads).get(key, 1.0)
        if isinstance(raw, (int, float)):
            _TABLES[cache_key] = float(raw)
        else:
            rows = np.asarray(raw, dtype=np.float64)
            _TABLES[cache_key] = (np.log2(np.maximum(rows[:, :-1], 1.0)), rows[:, -1])
    return _TABLES[cache_key]


def efficiency(profile: Profile, threads: int, key: str, *coords: float) -> float:
    """Achieved fraction of peak for shape class ``key`` at ``coords`` (see the module doc)."""
    table = _table(profile, threads, key)
    if isinstance(table, float):
        return table
    points, values = table
    x = np.log2(np.maximum(np.asarray(coords, dtype=np.float64), 1.0))
    d2 = ((points - x) ** 2).sum(axis=1)
    nearest = np.argsort(d2)[:_NEIGHBOURS]
    if d2[nearest[0]] < 1e-12:
        return float(values[nearest[0]])
    weights = 1.0 / d2[nearest]
    return float((weights * values[nearest]).sum() / weights.sum())


def dispatch_cycles(op: Op, ctx: PricingContext, threads: int) -> float:
    table = _entry(ctx.profile, threads).get("dispatch_s")
    if not isinstance(table, Mapping):
        return ctx.profile.per_op_overhead_cycles
    key = "layer_norm" if "layer_norm" in op.target or "group_norm" in op.target else str(op.kind)
    seconds = table.get(key, table.get("pointwise"))
    if seconds is None:
        return ctx.profile.per_op_overhead_cycles
    return float(seconds) * ctx.profile.clock_hz


def _bandwidths(ctx: PricingContext, threads: int) -> dict[str, float]:
    """Bytes per cycle of each level: the triad measured at ``threads``, else the profile's."""
    out = {lvl.name: lvl.bandwidth_bytes_per_cycle for lvl in ctx.profile.memory}
    stream = _entry(ctx.profile, threads).get("stream_bytes_per_s")
    if isinstance(stream, Mapping):
        for name, bw in stream.items():
            if name in out:
                out[name] = float(bw) / ctx.profile.clock_hz
    return out


def _eager_loop_cycles(ctx: PricingContext, threads: int, kind: str, moved: float) -> float:
    """Cycles of an eager loop of ``kind`` moving ``moved`` bytes at the rate calibration
    measured for that kind (``stream_bytes_per_s.eager_<kind>``, dispatch included), else 0."""
    stream = _entry(ctx.profile, threads).get("stream_bytes_per_s")
    if not isinstance(stream, Mapping) or f"eager_{kind}" not in stream:
        return 0.0
    return moved / float(stream[f"eager_{kind}"]) * ctx.profile.clock_hz


def _memory_cycles(
    reads: Mapping[str, float], writes: Mapping[str, float], bandwidth: Mapping[str, float]
) -> float:
    return max(
        ((reads.get(n, 0.0) + writes.get(n, 0.0)) / bw for n, bw in bandwidth.items()),
        default=0.0,
    )


def _shape_efficiency(op: Op, g: GemmShape, profile: Profile, threads: int) -> float:
    if op.is_depthwise:
        return efficiency(profile, threads, "depthwise", g.groups, g.m, g.k)
    if op.kind is OpKind.CONV and op.weight is not None:
        taps = math.prod(op.weight.shape[2:])
        return efficiency(profile, threads, "conv", g.m, g.n, g.k, taps)
    return efficiency(profile, threads, "gemm", g.m, g.n, g.k)


def dense_compute_cycles(op: Op, ctx: PricingContext, precision: str, threads: int) -> float:
    profile = ctx.profile
    peak = profile.peak_macs_per_cycle[precision] * threads / _cores(profile)
    lanes = max(int(profile.arch.get("vector_bits", 128)) // PRECISION_BITS.get(precision, 32), 1)
    cycles = 0.0
    for g in gemm_shapes(op):
        eff = max(_shape_efficiency(op, g, profile, threads), 1e-4)
        columns = g.groups if op.is_depthwise else g.n  # depthwise: channels in the lanes
        cycles += g.macs / (peak * eff * rl.padded_fraction(columns, lanes))
    return cycles


def kernel_speedup(profile: Profile, fmt: str, stored: float) -> float | None:
    """Measured speedup of hwsim's ``fmt`` kernel over its dense kernel at ``stored`` fraction
    of the weights (``arch.kernels``), interpolated in log density; None if not measured."""
    from ..calibrate import log_interp

    rows = profile.arch.get("kernels", {}).get(fmt)
    if not rows:
        return None
    return log_interp([(float(d), float(s)) for d, s in rows], max(stored, 1e-4))


def kernel_cycles(
    profile: Profile, fmt: str, shape: GemmShape, stored: float = 1.0, precision: str = "fp32"
) -> float:
    """Predicted cycles of one of hwsim's single-threaded numba kernels on ``shape``:
    ``dense`` (fp32 or int8 by ``precision``), ``int4``, or a sparse format at ``stored``."""
    kernels = profile.arch.get("kernels", {})
    per_core = {p: v / _cores(profile) for p, v in profile.peak_macs_per_cycle.items()}
    if fmt == "dense" and precision == "fp32":
        return shape.macs / (per_core["fp32"] * float(kernels.get("dense_fp32", 1.0)))
    if fmt in ("dense", "int4"):
        key = "int8" if fmt == "dense" else "int4"
        return shape.macs / (per_core["int8"] * float(kernels.get(key, 1.0)))
    speedup = kernel_speedup(profile, fmt, stored)
    dense = kernel_cycles(profile, "dense", shape)
    return dense / speedup if speedup else dense * stored


def _sparse_option(op: Op, profile: Profile) -> tuple[str, float] | None:
    """The fastest sparse kernel the profile offers for the op's weights: (format, stored)."""
    stats = op.weight_stats
    if stats is None or stats.density >= 1.0 or not profile.sparsity_patterns:
        return None
    candidates = []
    stored_by_pattern = {
        "unstructured": stats.density,
        "block1x4": stats.block_1x4_density,
        "block4x4": stats.block_4x4_density,
    }
    for pattern in profile.sparsity_patterns:
        if pattern in _PATTERN_FORMAT:
            candidates.append((_PATTERN_FORMAT[pattern], stored_by_pattern[pattern]))
        elif pattern == "2:4" and stats.nm_2_4 >= 1.0:
            candidates.append(("2:4", 0.5))
        elif pattern == "4:8" and stats.nm_4_8 >= 1.0:
            candidates.append(("4:8", 0.5))
    best = None
    for fmt, stored in candidates:
        speedup = kernel_speedup(profile, fmt, stored)
        if speedup is not None and (best is None or speedup > best[2]):
            best = (fmt, stored, speedup)
    return (best[0], best[1]) if best else None


def _unfolded_batchnorm(
    op: Op, ctx: PricingContext, bandwidth: Mapping[str, float], threads: int
) -> tuple[float, float, float, str]:
    """(memory cycles, dispatch cycles, bytes, level) of a batch-norm eager mode runs after
    ``op`` although the frontend folded it: it reads and writes the op's output once."""
    if ctx.profile.arch.get("fold_batchnorm", True) or not any(
        "batch_norm" in f for f in op.folded
    ):
        return 0.0, 0.0, 0.0, ""
    moved = 2.0 * op.output_bytes
    level = rl.activation_home(ctx.profile, moved)
    inner = [lvl.name for lvl in ctx.profile.memory[: ctx.profile.memory.index(level) + 1]]
    mem = max(
        max(moved / bandwidth[name] for name in inner),
        _eager_loop_cycles(ctx, threads, "norm", moved),
    )
    table = _entry(ctx.profile, threads).get("dispatch_s")
    dispatch = (
        float(table["norm"]) * ctx.profile.clock_hz
        if isinstance(table, Mapping) and "norm" in table
        else ctx.profile.per_op_overhead_cycles
    )
    return mem, dispatch, moved, level.name


def price_op(op: Op, ctx: PricingContext) -> OpCost:
    """The CPU price of one op (module doc)."""
    profile = ctx.profile
    threads = threads_of(ctx)
    precision = rl.op_precision(op, ctx)
    share = threads / _cores(profile)
    notes: list[str] = []
    if op.kind in MAC_KINDS:
        ideal = op.macs / (profile.peak_macs_per_cycle[precision] * share)
        compute = dense_compute_cycles(op, ctx, precision, threads)
        sparse = _sparse_option(op, profile)
        if sparse is not None:
            fmt, stored = sparse
            cycles = sum(kernel_cycles(profile, fmt, g, stored) for g in gemm_shapes(op))
            if cycles < compute:
                compute = cycles
                notes.append(f"sparse {fmt} kernel, {stored:.0%} of weights stored")
    else:
        ideal = op.flops / (rl.vector_rate(profile, precision) * share)
        compute = ideal
    t = rl.traffic(op, ctx, precision)
    reads, writes = rl.memory_bytes(op, ctx, t)
    bandwidth = _bandwidths(ctx, threads)
    mem = _memory_cycles(reads, writes, bandwidth)
    if op.kind in (OpKind.POINTWISE, OpKind.NORM) and not ctx.fuse:
        moved = float(op.input_bytes + op.output_bytes)
        mem = max(mem, _eager_loop_cycles(ctx, threads, str(op.kind), moved))
    dispatched = not (op.fused_into and ctx.fuse)
    overhead = dispatch_cycles(op, ctx, threads) if dispatched else 0.0
    bn_mem, bn_dispatch, bn_bytes, bn_level = _unfolded_batchnorm(op, ctx, bandwidth, threads)
    if bn_bytes:
        notes.append("batch-norm runs unfolded (eager)")
        for lvl in profile.memory[: [m.name for m in profile.memory].index(bn_level) + 1]:
            reads[lvl.name] = reads.get(lvl.name, 0.0) + bn_bytes / 2
            writes[lvl.name] = writes.get(lvl.name, 0.0) + bn_bytes / 2
    overhead += bn_dispatch
    cycles = max(compute, mem) + bn_mem + overhead
    if overhead > max(compute, mem + bn_mem):
        bound = Bound.LAUNCH
    else:
        bound = Bound.COMPUTE if compute >= mem + bn_mem else Bound.MEMORY
    wanted = ctx.precision or op.precision
    if op.kind in MAC_KINDS and precision != wanted:
        notes.append(f"{wanted} not supported: run as {precision}")
    return OpCost(
        cycles=cycles,
        compute_cycles=compute,
        clock_hz=profile.clock_hz,
        bound=bound,
        ideal_cycles=ideal,
        memory_cycles=mem + bn_mem,
        overhead_cycles=overhead,
        macs=op.macs if op.kind in MAC_KINDS else 0,
        bytes_read=reads,
        bytes_written=writes,
        energy_j=rl.energy(op, profile, precision, reads, writes, cycles),
        precision=precision,
        notes=tuple(notes),
    )


def _priced_kinds() -> Sequence[OpKind]:
    return [k for k in OpKind if k not in (OpKind.VIEW, OpKind.UNSUPPORTED)]


COST_TABLE = {
    **rl.ROOFLINE_TABLE,
    **dict.fromkeys(_priced_kinds(), price_op),
}
