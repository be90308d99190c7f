"""CPU SIMD cores: roofline with vector-lane padding and per-op dispatch.

A SIMD core vectorises a GEMM over its output columns; a column count that is not a multiple
of the lane count wastes the tail lanes. Everything else is the shared roofline with the
profile's per-op dispatch overhead. (The calibrated model of a later issue replaces this file.)
"""

from __future__ import annotations

from ..cost import OpCost
from ..ops import PRECISION_BITS, Op, OpKind
from . import roofline as rl
from .base import PricingContext
from .gemm_view import channel_parallel, gemm_shapes


def _mac_op(op: Op, ctx: PricingContext) -> OpCost:
    precision = rl.op_precision(op, ctx)
    peak = ctx.profile.peak_macs_per_cycle[precision]
    vector_bits = int(ctx.profile.arch.get("vector_bits", 128))
    lanes = max(vector_bits // PRECISION_BITS.get(precision, 32), 1)
    cycles = 0.0
    for g in map(channel_parallel, gemm_shapes(op)):
        cycles += g.macs / (peak * rl.padded_fraction(g.n, lanes))
    return rl.price(op, ctx, compute_cycles=cycles)


COST_TABLE = {
    **rl.ROOFLINE_TABLE,
    OpKind.CONV: _mac_op,
    OpKind.GEMM: _mac_op,
    OpKind.ATTENTION: _mac_op,
}
