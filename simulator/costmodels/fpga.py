"""FPGAs, layer at a time: a DSP-built MAC engine of ``peak_macs_per_cycle`` with tiling.

Until the streaming-dataflow and overlay models land, an FPGA is priced as a single engine
whose parallelism is split into input-channel x output-channel lanes (``arch.engine_ci`` x
``arch.engine_co``, default a square split of the DSP peak): channel counts that do not fill
the lanes waste them, so thin layers leave most of the engine idle. Depthwise layers run
channel-parallel.
"""

from __future__ import annotations

import math

from ..cost import OpCost
from ..ops import Op, OpKind
from . import roofline as rl
from .base import PricingContext
from .gemm_view import channel_parallel, gemm_shapes


def _mac_op(op: Op, ctx: PricingContext) -> OpCost:
    precision = rl.op_precision(op, ctx)
    peak = ctx.profile.peak_macs_per_cycle[precision]
    side = max(int(math.sqrt(peak)), 1)
    ci = int(ctx.profile.arch.get("engine_ci", side))
    co = int(ctx.profile.arch.get("engine_co", max(int(peak // ci), 1)))
    cycles = 0.0
    for g in map(channel_parallel, gemm_shapes(op)):
        useful = rl.padded_fraction(g.k, ci) * rl.padded_fraction(g.n, co)
        cycles += g.macs / (ci * co * useful)
    return rl.price(op, ctx, compute_cycles=cycles)


COST_TABLE = {
    **rl.ROOFLINE_TABLE,
    OpKind.CONV: _mac_op,
    OpKind.GEMM: _mac_op,
    OpKind.ATTENTION: _mac_op,
}
