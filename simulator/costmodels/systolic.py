"""Systolic arrays (TPU-like): GEMMs folded onto an R x C array with fill and drain.

The analytical model of SCALE-Sim (Samajdar et al., ISPASS 2020): with the stationary operand
spanning ``Sr`` x ``Sc`` and ``T`` values streamed through, the array takes
``ceil(Sr/R) * ceil(Sc/C)`` folds of ``2R + C + T - 2`` cycles each. Which GEMM dimension is
stationary depends on the dataflow. Depthwise and grouped convs are one small GEMM per group,
which is why they use so little of an array. Non-MAC ops run on the vector unit (roofline).
"""

from __future__ import annotations

import math

from ..cost import OpCost
from ..errors import ProfileError
from ..ops import Op, OpKind
from . import roofline as rl
from .base import PricingContext
from .gemm_view import GemmShape, gemm_shapes


def _spatial_temporal(g: GemmShape, dataflow: str) -> tuple[int, int, int]:
    """(Sr, Sc, T) for a dataflow: rows and columns of the stationary operand, streamed length."""
    table = {"ws": (g.k, g.n, g.m), "os": (g.m, g.n, g.k), "is": (g.k, g.m, g.n)}
    return table.get(dataflow, table["ws"])


def array_cycles(g: GemmShape, rows: int, cols: int, dataflow: str) -> float:
    sr, sc, t = _spatial_temporal(g, dataflow)
    folds = math.ceil(sr / rows) * math.ceil(sc / cols)
    return g.groups * folds * (2 * rows + cols + t - 2)


def _mac_op(op: Op, ctx: PricingContext) -> OpCost:
    arch = ctx.profile.arch
    try:
        rows, cols = int(arch["rows"]), int(arch["cols"])
    except KeyError as exc:
        raise ProfileError(
            f"{ctx.profile.source}: field 'arch/{exc.args[0]}' is required for a systolic array"
        ) from None
    dataflow = str(arch.get("dataflow", "ws")).lower()
    precision = rl.op_precision(op, ctx)
    # Arrays with a higher peak than rows x cols at this precision pack several MACs per PE.
    per_pe = ctx.profile.peak_macs_per_cycle[precision] / (rows * cols)
    cycles = sum(array_cycles(g, rows, cols, dataflow) for g in gemm_shapes(op)) / max(per_pe, 1e-9)
    return rl.price(op, ctx, compute_cycles=cycles)


COST_TABLE = {
    **rl.ROOFLINE_TABLE,
    OpKind.CONV: _mac_op,
    OpKind.GEMM: _mac_op,
    OpKind.ATTENTION: _mac_op,
}
