"""A hierarchical roofline every hardware class starts from.

Time is the slowest of: arithmetic at the peak rate for the op's precision, and the bytes each
memory level must move at that level's sustained bandwidth, plus a fixed per-op overhead.
Energy is actions times energy per action (Horowitz-style pJ per MAC and per byte). Class
models refine the compute side (array mapping, tiles, vector widths) and keep this skeleton.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..cost import OpCost
from ..hardware import MemoryLevel, Profile
from ..ops import DTYPE_BITS, MAC_KINDS, PRECISION_BITS, Op, OpKind, TensorSpec
from .assemble import op_cost
from .base import CostFn, PricingContext
from .weight_storage import value_bits, weight_format


@dataclass(frozen=True)
class Traffic:
    """Bytes an op reads and writes, split into weights and activations, on the device."""

    activation_read: float
    activation_write: float
    weight_read: float


def weight_home(profile: Profile, model_weight_bytes: float) -> MemoryLevel:
    """The innermost level that can keep all the model's weights resident; weights that fit
    nowhere closer stream from the backing store every inference."""
    for level in profile.memory:
        if level.holds_weights and level.capacity_bytes >= model_weight_bytes:
            return level
    return profile.memory[-1]


def activation_home(profile: Profile, working_set_bytes: float) -> MemoryLevel:
    """The innermost level that holds an op's activations, double-buffered (half capacity)."""
    for level in profile.memory:
        if level.capacity_bytes / 2 >= working_set_bytes:
            return level
    return profile.memory[-1]


def execution_precision(op: Op, profile: Profile, forced: str | None) -> str:
    """The precision ``op`` runs at: the forced one, else its own if the hardware has it,
    else the profile's default (what the vendor toolchain would convert it to)."""
    return profile.execution_precision(forced or op.precision)


def op_precision(op: Op, ctx: PricingContext) -> str:
    return execution_precision(op, ctx.profile, ctx.precision)


def _dtype_scale(spec: TensorSpec | None, precision: str) -> float:
    """Device bytes per model byte of a float tensor run at ``precision`` (int8: a quarter of
    fp32); integer tensors (token ids, masks, quantized buffers) keep their size."""
    if spec is None or not spec.dtype.startswith(("float", "bfloat")):
        return 1.0
    return PRECISION_BITS.get(precision, 32) / DTYPE_BITS.get(spec.dtype, 32)


def activation_scale(op: Op, precision: str) -> float:
    """Device bytes per model byte of an op's activations, from its first float input (else
    its output): a float32 model run as int8 moves a quarter of the bytes."""
    if "first_float" not in op.memo:
        floats = (t for t in (*op.inputs, *op.outputs) if t.dtype.startswith(("float", "bfloat")))
        op.memo["first_float"] = next(floats, None)
    first = op.memo["first_float"]
    return _dtype_scale(first if isinstance(first, TensorSpec) else None, precision)


def _weight_scale(op: Op, profile: Profile, precision: str) -> float:
    """Device bytes per model byte of weights: the activation scale, times the packing of
    quantized weights narrower than the execution width where the hardware unpacks them."""
    key = ("weight_scale", precision, profile.capabilities.unpacks_narrow_weights)
    scale = op.memo.get(key)
    if scale is None:
        exec_bits = PRECISION_BITS.get(precision, 32)
        source = op.weight or (op.inputs[0] if op.inputs else None)
        scale = _dtype_scale(source, precision) * value_bits(op, profile, precision) / exec_bits
        op.memo[key] = scale
    return float(scale)  # type: ignore[arg-type]


def device_weight_bytes(op: Op, profile: Profile, forced: str | None) -> float:
    """Bytes of ``op``'s weights as stored on this hardware: at its execution precision (or
    packed narrower), the main weight in the sparse format the hardware reads, if any.
    Memoised on the op by everything it reads of the profile."""
    if not op.params:
        return 0.0  # most ops of a network: no key to build
    precision = execution_precision(op, profile, forced)
    caps = profile.capabilities
    key = (
        "device_weight_bytes",
        precision,
        caps,
        profile.sparsity_patterns,
        profile.compressed_weights,
    )
    stored = op.memo.get(key)
    if stored is None:
        scale = _weight_scale(op, profile, precision)
        if op.weight is None:
            stored = op.weight_bytes * scale
        else:
            main = op.weight.nbytes * weight_format(op, profile, precision).fraction
            stored = (main + op.weight_bytes - op.weight.nbytes) * scale
        op.memo[key] = stored
    return float(stored)  # type: ignore[arg-type]


def traffic(op: Op, ctx: PricingContext, precision: str) -> Traffic:
    scale = activation_scale(op, precision)
    read, write = (op.read_bytes, op.write_bytes) if ctx.fuse else (op.input_bytes, op.output_bytes)
    gathered = op.attr("gathered_bytes")
    weights = float(gathered) if isinstance(gathered, (int, float)) else float(op.weight_bytes)
    return Traffic(read * scale, write * scale, weights * _weight_scale(op, ctx.profile, precision))


def _levels_through(profile: Profile, home: MemoryLevel) -> list[MemoryLevel]:
    """A byte served from ``home`` passes through every level inside it on the way in."""
    names = [lvl.name for lvl in profile.memory]
    return list(profile.memory[: names.index(home.name) + 1])


def state_read_bytes(op: Op) -> float:
    """Model bytes of persistent state ``op`` reads (``state_read_bytes``: a KV cache that
    earlier steps wrote), as opposed to activations an op of this graph just produced."""
    value = op.attr("state_read_bytes")
    return float(value) if isinstance(value, (int, float)) else 0.0


def memory_bytes(
    op: Op, ctx: PricingContext, t: Traffic, activation_level: MemoryLevel | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Bytes read and written at each memory level.

    Activations live at ``activation_level`` when a class model has placed them, else where
    the op's working set fits (what the previous kernel just wrote is still there).
    Persistent state is different: a KV cache was written steps ago, and the weights and
    caches every step streams since have evicted it, so the op reads it from the backing
    store once per step however small it is next to a cache.
    """
    reads: dict[str, float] = {}
    writes: dict[str, float] = {}
    scale = activation_scale(op, op_precision(op, ctx))
    state = min(state_read_bytes(op) * scale, t.activation_read)
    fresh = (op.input_bytes + op.output_bytes) * scale - state
    act_home = activation_level or activation_home(ctx.profile, fresh)
    for level in _levels_through(ctx.profile, act_home):
        reads[level.name] = reads.get(level.name, 0.0) + t.activation_read - state
        writes[level.name] = writes.get(level.name, 0.0) + t.activation_write
    for level in _levels_through(ctx.profile, ctx.profile.backing) if state else ():
        reads[level.name] = reads.get(level.name, 0.0) + state
    for level in _levels_through(ctx.profile, ctx.weight_home):
        reads[level.name] = reads.get(level.name, 0.0) + t.weight_read
    return reads, writes


def memory_cycles(profile: Profile, reads: dict[str, float], writes: dict[str, float]) -> float:
    """Levels work in parallel; the busiest one sets the pace."""
    worst = 0.0
    for level in profile.memory:
        moved = reads.get(level.name, 0.0) + writes.get(level.name, 0.0)
        worst = max(worst, moved / level.bandwidth_bytes_per_cycle)
    return worst


def vector_rate(profile: Profile, precision: str) -> float:
    """Elementwise ops per cycle: on SIMD hardware narrower types pack more lanes, up to 4x
    the fp32 rate; fixed-width activation units (arrays, FPGAs) run at the profile's rate."""
    if not profile.capabilities.packed_vector_lanes:
        return profile.vector_ops_per_cycle
    bits = PRECISION_BITS.get(precision, 32)
    return profile.vector_ops_per_cycle * min(max(32 / bits, 1.0), 4.0)


def ideal_cycles(op: Op, profile: Profile, precision: str) -> float:
    """The op at the profile's peak: MACs at the MAC rate, other ops' FLOPs at the vector
    rate (the floor every class's compute time is held to, and the utilization's base)."""
    if op.kind in MAC_KINDS:
        return op.macs / profile.peak_macs_per_cycle[precision]
    return op.flops / vector_rate(profile, precision)


def price(
    op: Op,
    ctx: PricingContext,
    *,
    compute_cycles: float | None = None,
    extra_overhead_cycles: float = 0.0,
    notes: tuple[str, ...] = (),
    activation_level: MemoryLevel | None = None,
) -> OpCost:
    """Roofline price of ``op``; class models pass their own ``compute_cycles`` when they
    know better than peak (array mapping, tile padding), and ``activation_level`` when they
    know where activations live (a compiler that placed them all on chip)."""
    profile = ctx.profile
    precision = op_precision(op, ctx)
    ideal = ideal_cycles(op, profile, precision)
    compute = ideal if compute_cycles is None else max(compute_cycles, ideal)
    t = traffic(op, ctx, precision)
    reads, writes = memory_bytes(op, ctx, t, activation_level)
    mem = memory_cycles(profile, reads, writes)
    overhead = 0.0 if op.fused_into else profile.per_op_overhead_cycles + extra_overhead_cycles
    return op_cost(
        op,
        ctx,
        precision=precision,
        cycles=max(compute, mem) + overhead,
        compute=compute,
        memory=mem,
        overhead=overhead,
        ideal=ideal,
        reads=reads,
        writes=writes,
        notes=(*notes, *precision_notes(op, ctx, precision)),
    )


def precision_notes(op: Op, ctx: PricingContext, precision: str) -> tuple[str, ...]:
    """Say so when a MAC op runs at another precision than it asked for."""
    wanted = ctx.precision or op.precision
    if op.kind in MAC_KINDS and precision != wanted:
        return (f"{wanted} not supported: run as {precision}",)
    return ()


def roofline(op: Op, ctx: PricingContext) -> OpCost:
    return price(op, ctx)


def free(op: Op, ctx: PricingContext) -> OpCost:
    return OpCost.free(ctx.profile.clock_hz)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def padded_fraction(size: int, tile: int) -> float:
    """Useful fraction of ``ceil(size / tile)`` tiles of ``tile``: the padding waste."""
    return size / (math.ceil(size / tile) * tile) if size else 1.0


# Every kind that does work, priced by the plain roofline; class tables start from a copy.
ROOFLINE_TABLE: dict[OpKind, CostFn] = {
    **{kind: roofline for kind in OpKind if kind not in (OpKind.VIEW, OpKind.UNSUPPORTED)},
    OpKind.VIEW: free,
}
