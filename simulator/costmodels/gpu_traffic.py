"""DRAM traffic of a tiled GEMM beyond reading each operand once.

Every CTA reads its A panel (``BM x K``) and B panel (``K x BN``) through L2, so L2 serves A
once per column of tiles and B once per row of tiles (``TiledKernel.l2_read``). DRAM sees
each byte once while the operands fit in L2. When they do not, each wave of co-resident CTAs
fetches the rows and columns it covers, rasterised into a near-square block of tiles as
CUTLASS's threadblock swizzle does, and what earlier waves left in L2 is gone.
"""

from __future__ import annotations

import math

from .gemm_view import GemmShape
from .gpu_tiles import TiledKernel

# Operands are treated as fitting in L2 while they fill at most half of it; the rest holds
# the output and other kernels' lines (assumed).
L2_SHARE_FOR_OPERANDS = 0.5


def dram_refetch(
    g: GemmShape,
    plan: TiledKernel,
    a_bytes: float,
    b_bytes: float,
    *,
    sms: int,
    l2_capacity: float,
) -> float:
    """DRAM bytes read beyond one pass over A and B. ``a_bytes`` and ``b_bytes`` are bytes per
    element of A (activations, as im2col) and B (weights, after any compression)."""
    once = g.groups * (g.m * a_bytes + g.n * b_bytes) * g.k
    if once <= l2_capacity * L2_SHARE_FOR_OPERANDS:
        return 0.0
    per_wave = min(plan.ctas, sms * plan.resident)
    rows = min(plan.tiles_m, math.ceil(math.sqrt(per_wave)))
    cols = min(plan.tiles_n, math.ceil(per_wave / rows))
    wave_bytes = (rows * plan.tile.m * a_bytes + cols * plan.tile.n * b_bytes) * g.k / plan.split_k
    return min(max(plan.waves * wave_bytes, once), plan.l2_read) - once
