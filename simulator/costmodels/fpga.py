"""FPGAs, in the two ways they run neural networks; ``arch.style`` picks one.

- ``streaming`` (FINN-style dataflow, ``fpga_streaming``): every layer has its own hardware,
  folded by PE x SIMD; throughput is set by the slowest stage (or the I/O DMA), latency by the
  critical path, and the design must fit the device's LUT/FF/DSP/BRAM/URAM budget.
- ``overlay`` (Vitis AI DPU-style, ``fpga_overlay``): a fixed engine runs one layer at a time,
  with tiling waste on its pixel x channel lanes and every feature map going through DDR.

Both price the whole graph at once through ``graph_cost``; ``COST_TABLE`` holds the overlay's
per-op prices, which ``register_cost("fpga", ...)`` can override for the overlay style.
"""

from __future__ import annotations

from ..graph import OpGraph
from . import fpga_overlay, fpga_streaming
from .base import GraphCost, PriceOpsFn, PricingContext
from .fpga_arch import FpgaOverlayArch

COST_TABLE = dict(fpga_overlay.COST_TABLE)


def graph_cost(graph: OpGraph, ctx: PricingContext, _ops: PriceOpsFn) -> GraphCost:
    """The whole-graph cost of ``graph`` in the profile's FPGA style (a pipeline's stages
    are sized together, so its per-op figures are not per-op prices to cache)."""
    if isinstance(ctx.profile.arch, FpgaOverlayArch):
        return fpga_overlay.graph_cost(graph, ctx)
    return fpga_streaming.graph_cost(graph, ctx)
