"""FPGAs as a fixed overlay engine (Vitis AI DPU style): one layer at a time, through DDR.

A DPUCZDX8G core computes ``pixel x input-channel x output-channel`` MACs per cycle
(PP x ICP x OCP; 8 x 16 x 16 = 2,048 for the B4096, PG338). A conv is cut into tiles of PP
output pixels along a row, ICP input channels and OCP output channels, so a layer whose width,
input or output channels are not multiples of those wastes the rest of the tile. Depthwise
convs run on PP x ICP lanes (one channel per lane); a fully connected layer has a single
"pixel" per image. Every layer reads its input feature map and weights from DDR and writes its
output back; compute and transfers overlap, and each layer pays a fixed setup overhead
(instruction fetch, pipeline fill). Pointwise ops fuse into the layer before them, as the DPU
compiler does; pooling and element-wise adds run on the misc engine.

Throughput is one frame at a time on one core (the Vitis AI "single thread" figure), plus the
host's per-frame pre- and post-processing on the ARM cores that end-to-end figures include,
proportional to the input image's pixels (``arch.host_s_per_input_pixel``).
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..cost import OpCost
from ..graph import OpGraph
from ..hardware import Profile
from ..ops import MAC_KINDS, Op, OpKind
from . import roofline as rl
from .assemble import op_cost
from .base import CostFn, GraphCost, PricingContext, price_ops
from .fpga_arch import FpgaOverlayArch
from .gemm_view import gemm_shapes


def overlay_arch(profile: Profile) -> FpgaOverlayArch:
    arch = profile.arch
    assert isinstance(arch, FpgaOverlayArch), f"{profile.name} is not an overlay FPGA"
    return arch


def _tiles(size: int, lanes: int) -> int:
    return math.ceil(size / lanes) if size else 0


def mac_cycles(op: Op, ctx: PricingContext) -> float:
    """Cycles of a conv, GEMM or attention op tiled onto PP x ICP x OCP lanes."""
    arch = overlay_arch(ctx.profile)
    pp, icp, ocp = arch.pixel_parallel, arch.input_channel_parallel, arch.output_channel_parallel
    if op.kind is OpKind.CONV and op.weight is not None and len(op.outputs[0].shape) == 4:
        n, cout, oh, ow = op.outputs[0].shape
        w = op.weight.shape
        groups, taps = op.int_attr("groups"), math.prod(w[2:])
        rows = n * oh * _tiles(ow, pp)
        if op.is_depthwise:
            return float(rows * _tiles(cout, icp) * taps)
        per_group = _tiles(w[1], icp) * _tiles(cout // groups, ocp)
        return float(rows * groups * per_group * taps)
    cycles = 0.0
    for g in gemm_shapes(op):
        cycles += g.groups * _tiles(g.m, pp) * _tiles(g.k, icp) * _tiles(g.n, ocp)
    return cycles


def _price(op: Op, ctx: PricingContext, compute: float) -> OpCost:
    """Time = max(compute, DDR transfers) + per-layer overhead; everything crosses DDR."""
    profile = ctx.profile
    precision = rl.op_precision(op, ctx)
    t = rl.traffic(op, ctx, precision)
    ddr = profile.memory[-1]
    levels = [lvl.name for lvl in profile.memory]
    reads = dict.fromkeys(levels, t.activation_read + t.weight_read)
    writes = dict.fromkeys(levels, t.activation_write)
    memory = (reads[ddr.name] + writes[ddr.name]) / ddr.bandwidth_bytes_per_cycle
    overhead = 0.0 if op.fused_into else profile.per_op_overhead_cycles
    ideal = rl.ideal_cycles(op, profile, precision)
    compute = max(compute, ideal)
    cycles = max(compute, memory) + overhead
    notes = rl.precision_notes(op, ctx, precision)
    if op.kind in MAC_KINDS and op.weight_bits not in (None, 8):
        notes = (*notes, f"the overlay computes in int8: w{op.weight_bits} runs as w8")
    return op_cost(
        op,
        ctx,
        precision=precision,
        cycles=cycles,
        compute=compute,
        memory=memory,
        overhead=overhead,
        ideal=ideal,
        reads=reads,
        writes=writes,
        notes=notes,
    )


def mac_op(op: Op, ctx: PricingContext) -> OpCost:
    return _price(op, ctx, mac_cycles(op, ctx))


def misc_op(op: Op, ctx: PricingContext) -> OpCost:
    """Pooling, element-wise and other non-MAC work on the misc engine."""
    if op.fused_into:
        return OpCost.free(ctx.profile.clock_hz)
    return _price(op, ctx, op.flops / ctx.profile.vector_ops_per_cycle)


COST_TABLE: dict[OpKind, CostFn] = {
    **{kind: misc_op for kind in OpKind if kind not in (OpKind.VIEW, OpKind.UNSUPPORTED)},
    OpKind.CONV: mac_op,
    OpKind.GEMM: mac_op,
    OpKind.ATTENTION: mac_op,
    OpKind.VIEW: rl.free,
}


def graph_cost(graph: OpGraph, ctx: PricingContext) -> GraphCost:
    """Layers one after another, plus the per-frame host overhead; one frame per core."""
    profile = ctx.profile
    costs = price_ops(graph, ctx)
    total = OpCost.free(profile.clock_hz)
    for cost in costs:
        if cost is not None:
            total = total + cost
    pixels = sum(math.prod(t.shape[2:]) for t in graph.info.inputs if len(t.shape) >= 3)
    host_s = overlay_arch(profile).host_s_per_input_pixel * pixels
    frame = host_s * profile.clock_hz
    static = profile.energy.static_power_w * frame / profile.clock_hz
    total = replace(
        total,
        cycles=total.cycles + frame,
        overhead_cycles=total.overhead_cycles + frame,
        energy_j={**total.energy_j, "static": total.energy_j.get("static", 0.0) + static},
    )
    cores = overlay_arch(profile).cores
    notes = [
        f"single-thread figure: one frame at a time on one core, plus {host_s * 1e3:.2f} ms "
        "of host pre/post-processing"
    ]
    if cores > 1:
        notes.append(f"{cores} cores: multi-threaded throughput can reach up to {cores}x this")
    return GraphCost(
        costs=tuple(costs),
        total=total,
        throughput_fps=graph.info.batch * profile.clock_hz / total.cycles if total.cycles else 0.0,
        notes=tuple(notes),
    )
