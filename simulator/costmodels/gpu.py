"""GPUs: GEMMs as output tiles spread over SMs in waves, everything else memory-bound.

A GEMM is cut into output tiles; each SM runs one tile at a time, so ``tiles`` over ``SMs``
rounds up to whole waves, and partial tiles at the edges do padded work. The tile shape is the
one (of a few that libraries offer) that finishes first. Depthwise convs run as direct kernels
on the CUDA cores. Each unfused op pays a kernel launch.
"""

from __future__ import annotations

import math

from ..cost import OpCost
from ..ops import Op, OpKind
from . import roofline as rl
from .base import PricingContext
from .gemm_view import GemmShape, gemm_shapes

# Output-tile shapes offered by cuBLAS/CUTLASS-style kernels (rows x columns).
TILES = ((256, 128), (128, 128), (128, 64), (64, 64))


def _tile_time(g: GemmShape, tile: tuple[int, int], sms: int, per_sm_peak: float) -> float:
    tm, tn = tile
    tiles = math.ceil(g.m / tm) * math.ceil(g.n / tn) * g.groups
    waves = math.ceil(tiles / sms)
    return waves * (tm * tn * g.k) / per_sm_peak


def gemm_cycles(g: GemmShape, sms: int, peak: float) -> float:
    """Cycles of the best tile choice: waves x the time one SM needs for one padded tile."""
    return min(_tile_time(g, tile, sms, peak / sms) for tile in TILES)


def _mac_op(op: Op, ctx: PricingContext) -> OpCost:
    precision = rl.op_precision(op, ctx)
    peak = ctx.profile.peak_macs_per_cycle[precision]
    sms = int(ctx.profile.arch.get("sms", 1))
    if op.is_depthwise:  # direct kernels on the CUDA cores, not implicit GEMM
        return rl.price(op, ctx, compute_cycles=op.macs / rl.vector_rate(ctx.profile, precision))
    cycles = sum(gemm_cycles(g, sms, peak) for g in gemm_shapes(op))
    return rl.price(op, ctx, compute_cycles=cycles)


COST_TABLE = {
    **rl.ROOFLINE_TABLE,
    OpKind.CONV: _mac_op,
    OpKind.GEMM: _mac_op,
    OpKind.ATTENTION: _mac_op,
}
