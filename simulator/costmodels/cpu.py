"""CPU SIMD cores: achieved efficiency by shape class, threads, memory-bound loops, dispatch.

Time of one op on ``t`` threads of a profile with ``cores`` cores:

- MAC ops (conv, GEMM, attention), per GEMM the op lowers to::

      compute = macs / (peak[precision] * t / cores * eff(shape) * lanes_used)

  ``peak`` is the vector-FMA peak of all cores, ``lanes_used`` the fraction of vector lanes the
  output columns fill (``padded_fraction``), and ``eff`` the achieved fraction of peak for the
  op's shape class: ``gemm`` (m, n, k), dense ``conv`` (pixels, out channels, reduction, taps,
  stride) or ``depthwise`` (channels, pixels, taps, stride). A calibrated profile (``hwsim
  calibrate``) holds measured tables per thread count in ``arch.efficiency``; ``eff`` is the
  inverse-distance average of the four nearest measured points in log2 space, where a stride
  step weighs as much as a factor 8 in a size (tables without a stride column ignore it). A
  preset gives one number per class; a profile with neither runs at 100% (the roofline).
- Every other op is a loop bound by memory: ``bytes / bandwidth`` of the level its working set
  lives in, at the triad bandwidth measured for ``t`` threads when the profile has one. Eager
  pointwise and norm loops run no faster than the rate calibration measured for their class
  (``stream_bytes_per_s.eager_norm``, ``eager_pointwise``, ``eager_transcendental`` for ops that
  take an exp per element: SiLU, GELU, sigmoid, tanh...), measured on cold operands.
- Each op that eager execution dispatches on its own pays ``module_dispatch_s[kind]`` if a
  ``torch.nn`` layer module ran it (``Op.module_type``: ``Conv2d``, ``BatchNorm2d``, ``ReLU6``...),
  else ``dispatch_s[kind]`` (a direct call: ``x + y``, ``torch.flatten``, the ops inside a
  model's own modules), both measured on tiny tensors, or else the profile's ``per_op_s``. An
  fp32 conv that eager PyTorch hands to oneDNN (``takes_onednn``, ATen's rule) pays the
  ``conv_onednn`` entry, one on its native im2col + GEMM path the ``conv`` entry.
  ``cycles = max(compute, memory) + dispatch``.
- ``arch.fold_batchnorm: false`` (eager PyTorch): a batch-norm the frontend folded into its
  conv is priced again as its own memory-bound op, reading and writing the conv's output.
- Weights with zeros run on hwsim's sparse kernels (``hwsim.kernels``) when the profile lists a
  pattern they fit and ``arch.kernels`` holds that kernel's measured speedup curve at that
  density (no further out than its densest calibrated point), if that is faster than the dense
  op. With ``arch.kernels.by_shape`` (curves on several calibration
  shapes) each figure is interpolated between shapes in the log of the kernels' mean inner-loop
  length (``kernel_tile_length``: M split into tiles of 128 columns).

``--threads N`` arrives as ``ctx.options["threads"]`` (default: ``arch.threads``, else cores).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..cost import OpCost
from ..frontend.onnx_table import aten_equivalent
from ..frozen import FrozenDict
from ..hardware import Profile
from ..ops import MAC_KINDS, PRECISION_BITS, Op, OpKind
from . import roofline as rl
from .assemble import op_cost
from .base import PricingContext, aten_name
from .cpu_arch import (
    COORD_SCALE,
    EAGER_LOOP_SHAPES,
    CpuArch,
    CpuEfficiency,
    CpuOptions,
    log_interp,
)
from .gemm_view import GemmShape, gemm_shapes

_NEIGHBOURS = 4
KERNEL_M_TILE = 128  # column tile of hwsim.kernels (gemm._M_TILE, sparse._M_TILE)
# Pointwise ops that evaluate an exp (or similar) per element: priced at the eager SiLU rate.
_TRANSCENDENTAL = frozenset(
    {"silu", "gelu", "sigmoid", "tanh", "erf", "exp", "elu", "selu", "mish", "softplus", "log"}
)
# Stored fraction of the weights each sparse format needs, from the op's weight statistics.
_PATTERN_FORMAT = {"unstructured": "csr", "block1x4": "bsr1x4", "block4x4": "bsr4x4"}


def cpu_arch(profile: Profile) -> CpuArch:
    arch = profile.arch
    assert isinstance(arch, CpuArch), f"{profile.name} is not a CPU profile"
    return arch


def threads_of(ctx: PricingContext) -> int:
    """Threads the op runs on: ``--threads``, else the profile's default, else its cores."""
    options = ctx.options
    given = options.threads if isinstance(options, CpuOptions) else None
    return given or cpu_arch(ctx.profile).default_threads


def _cores(profile: Profile) -> int:
    return cpu_arch(profile).cores


@functools.lru_cache(maxsize=1024)
def _entry(profile: Profile, threads: int) -> CpuEfficiency:
    return cpu_arch(profile).entry(threads)


@functools.lru_cache(maxsize=65536)
def efficiency(profile: Profile, threads: int, key: str, *coords: float) -> float:
    """Achieved fraction of peak for shape class ``key`` at ``coords`` (see the module doc),
    times the profile's ``efficiency_scale`` for the class. Cached per profile value: a NAS
    network repeats a few shapes many times, and a fit prices it hundreds of times."""
    scale = float(cpu_arch(profile).efficiency_scale.get(key, 1.0))
    return scale * _table_efficiency(profile, threads, key, coords)


def _table_efficiency(profile: Profile, threads: int, key: str, coords: tuple[float, ...]) -> float:
    table = _entry(profile, threads).tables[key]
    if isinstance(table, float):
        return table
    points, values = table
    dims = points.shape[1]  # a table without the trailing coordinates ignores them
    scale = np.asarray(COORD_SCALE.get(key, ()) + (1.0,) * dims)[:dims]
    x = np.log2(np.maximum(np.asarray(coords[:dims], dtype=np.float64), 1.0)) * scale
    d2 = ((points - x) ** 2).sum(axis=1)
    nearest = np.argsort(d2)[:_NEIGHBOURS]
    if d2[nearest[0]] < 1e-12:
        return float(values[nearest[0]])
    weights = 1.0 / d2[nearest]
    return float((weights * values[nearest]).sum() / weights.sum())


@functools.cache
def is_layer_module(module_type: str) -> bool:
    """Whether ``module_type`` (``Op.module_type``, the innermost module's class name) is one of
    ``torch.nn``'s layer modules (``Conv2d``, ``BatchNorm2d``, ``ReLU6``, ``Linear``...), whose
    ``forward`` is the op itself, so that the op pays a module call. Containers and a model's
    own modules (``InvertedResidual``, ``BertSelfAttention``) call their ops as functions."""
    from torch import nn

    cls = getattr(nn, module_type, None) if module_type else None
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    return isinstance(cls, type) and issubclass(cls, nn.Module) and not issubclass(cls, containers)


def _dispatch_s(table: Mapping[str, float], key: str) -> float | None:
    """Seconds per call of kind ``key`` in a dispatch table; ``conv_onednn`` in a table
    without it (calibrated before it was measured) as ``conv``; any other kind it lacks as
    its pointwise call, the cheapest measured."""
    if key == "conv_onednn" and key not in table:
        key = "conv"
    value = table.get(key, table.get("pointwise"))
    return None if value is None else float(value)


def container_calls(op: Op) -> int:
    """Module calls starting at ``op`` that no layer-module dispatch covers: the containers
    and a model's own modules it enters (``Op.module_calls``), less its own ``torch.nn``
    layer, whose call ``module_dispatch_s`` already prices."""
    own = 1 if is_layer_module(op.module_type) else 0
    return max(op.module_calls - own, 0)


# Input elements at or below which eager PyTorch runs a batch-1 conv that no other rule hands
# to oneDNN on its own im2col + GEMM path (``ConvParams::use_mkldnn`` in ATen's
# Convolution.cpp: "for some case, native is faster").
ONEDNN_MIN_INPUT_ELEMENTS = 20480


def takes_onednn(
    input_shape: Sequence[int],
    kernel: Sequence[int],
    *,
    strided: bool,
    dilated: bool,
    groups: int,
    threads: int,
) -> bool:
    """Whether eager PyTorch (x86, fp32) runs a 2-D conv through oneDNN rather than its native
    im2col + GEMM path (``_slow_conv2d_forward``): ATen's ``ConvParams::use_mkldnn``. A 1x1
    conv, unstrided and undilated, at batch < 16 on one thread stays native (``THNN is faster
    when single-threaded``); otherwise oneDNN takes grouped convs, kernels larger than 3x3 in
    both dims, batches above 1 and inputs above ``ONEDNN_MIN_INPUT_ELEMENTS`` elements. The
    route matters for small convs: a oneDNN call costs 40-60 us at any size on the test VM
    (an 8-channel 5x5 conv on 4x4 pixels 47 us, the same at 3x3 on the native path 7 us)."""
    batch = input_shape[0] if input_shape else 1
    pointwise = all(k == 1 for k in kernel)
    first = strided or dilated or batch >= 16 or not pointwise or threads > 1
    second = (
        groups > 1
        or all(k > 3 for k in kernel)
        or batch > 1
        or math.prod(input_shape) > ONEDNN_MIN_INPUT_ELEMENTS
    )
    return first and second


def _sizes(value: object) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),) if isinstance(value, int) else ()


def dispatch_key(op: Op, threads: int, precision: str) -> str:
    """The dispatch-table key of ``op``: ``layer_norm`` for layer/group norms, ``conv_onednn``
    for an fp32 2-D conv that eager PyTorch hands to oneDNN (``takes_onednn``), else its
    kind."""
    name = aten_name(op)
    if "layer_norm" in name or "group_norm" in name:
        return "layer_norm"
    weight = op.weight
    if (
        op.kind is OpKind.CONV
        and precision == "fp32"
        and "transpose" not in name
        and weight is not None
        and len(weight.shape) == 4
        and op.inputs
    ):
        onednn = takes_onednn(
            op.inputs[0].shape,
            weight.shape[2:],
            strided=any(s > 1 for s in _sizes(op.attr("stride"))),
            dilated=any(d > 1 for d in _sizes(op.attr("dilation"))),
            groups=op.int_attr("groups"),
            threads=threads,
        )
        return "conv_onednn" if onednn else "conv"
    return str(op.kind)


def dispatch_cycles(op: Op, ctx: PricingContext, threads: int) -> float:
    """Cycles eager execution spends calling ``op``: ``module_dispatch_s[kind]`` when a
    ``torch.nn`` layer module ran it (``is_layer_module``), else ``dispatch_s[kind]`` (a direct
    call), else the profile's ``per_op_s``; plus ``module_call_s`` for each container or
    model module entered at it (``container_calls``); all times ``dispatch_scale``."""
    arch = cpu_arch(ctx.profile)
    entry = _entry(ctx.profile, threads)
    key = dispatch_key(op, threads, rl.op_precision(op, ctx))
    seconds = None
    modules = entry.module_dispatch_s
    if modules is not None and is_layer_module(op.module_type):
        seconds = _dispatch_s(modules, key)
    table = entry.dispatch_s
    if seconds is None and table is not None:
        seconds = _dispatch_s(table, key)
    calls = container_calls(op) * arch.module_call_s * ctx.profile.clock_hz
    if seconds is None:
        return (ctx.profile.per_op_overhead_cycles + calls) * arch.dispatch_scale
    return (seconds * ctx.profile.clock_hz + calls) * arch.dispatch_scale


def _bandwidths(ctx: PricingContext, threads: int) -> Mapping[str, float]:
    return _level_bandwidths(ctx.profile, threads)


@functools.lru_cache(maxsize=1024)
def _level_bandwidths(profile: Profile, threads: int) -> Mapping[str, float]:
    """Bytes per cycle of each level: the triad measured at ``threads``, else the profile's,
    times ``bandwidth_scale``."""
    out = {lvl.name: lvl.bandwidth_bytes_per_cycle for lvl in profile.memory}
    stream = _entry(profile, threads).stream_bytes_per_s
    if stream is not None:
        for name, bw in stream.items():
            if name in out:
                out[name] = float(bw) / profile.clock_hz
    scale = cpu_arch(profile).bandwidth_scale
    return FrozenDict({name: bw * scale for name, bw in out.items()})


def _eager_loop_cycles(ctx: PricingContext, threads: int, kind: str, moved: float) -> float:
    """Cycles of an eager loop of ``kind`` moving ``moved`` bytes at the rate calibration
    measured for that kind on cold operands (``stream_bytes_per_s.eager_<kind>`` at 1.6 MB
    moved and ``eager_<kind>_large`` at 12.8 MB, interpolated in log bytes and clamped;
    dispatch priced apart), else 0."""
    stream = _entry(ctx.profile, threads).stream_bytes_per_s
    if stream is None or f"eager_{kind}" not in stream:
        return 0.0
    points = [
        (8.0 * math.prod(shape), float(stream[f"eager_{kind}{suffix}"]))
        for suffix, shape in EAGER_LOOP_SHAPES.items()
        if f"eager_{kind}{suffix}" in stream
    ]
    rate = log_interp(points, max(moved, 1.0)) * cpu_arch(ctx.profile).bandwidth_scale
    return moved / rate * ctx.profile.clock_hz


def _windowed_pool_cycles(op: Op, ctx: PricingContext, threads: int) -> float:
    """Cycles of a windowed pooling (avg/max over a k x k window; not adaptive/global) at the
    tap rate calibration measured for eager pooling (``loop_ops_per_s.pool``: avg_pool2d;
    ``max_pool`` for a max pooling, when measured), else 0. Eager PyTorch's NCHW pooling
    kernel walks the window tap by tap, far below the vector rate: an avg_pool2d 3x3 over
    16 x 32 x 32 took 80 us at 1 thread on the test VM, where its bytes take 5; a max pooling
    (max_pool2d_with_indices: a compare and an index per tap) 2-3x as long as the avg_pool2d
    of the same window (5.0 against 1.6-2.5 ms for 3x3/2 over 64 x 112 x 112, a ResNet
    stem)."""
    if op.kind is not OpKind.POOL or "adaptive" in op.target:
        return 0.0
    rates = _entry(ctx.profile, threads).loop_ops_per_s
    if rates is None or "pool" not in rates:
        return 0.0
    key = "max_pool" if "max_pool" in op.target and "max_pool" in rates else "pool"
    return op.flops / float(rates[key]) * ctx.profile.clock_hz


def _loop_class(op: Op) -> str:
    """The eager loop class calibration measured for ``op``: ``transcendental``, else its kind."""
    name = aten_name(op)
    return (
        "transcendental"
        if op.kind is OpKind.POINTWISE and name in _TRANSCENDENTAL
        else str(op.kind)
    )


def _memory_cycles(
    reads: Mapping[str, float], writes: Mapping[str, float], bandwidth: Mapping[str, float]
) -> float:
    return max(
        ((reads.get(n, 0.0) + writes.get(n, 0.0)) / bw for n, bw in bandwidth.items()),
        default=0.0,
    )


def _stride(op: Op) -> int:
    stride = op.attr("stride")
    if isinstance(stride, (list, tuple)) and stride:
        return max(int(s) for s in stride)
    return int(stride) if isinstance(stride, int) else 1


def _shape_efficiency(op: Op, g: GemmShape, profile: Profile, threads: int) -> float:
    if op.is_depthwise:
        return efficiency(profile, threads, "depthwise", g.groups, g.m, g.k, _stride(op))
    if op.kind is OpKind.CONV and op.weight is not None:
        taps = math.prod(op.weight.shape[2:])
        return efficiency(profile, threads, "conv", g.m, g.n, g.k, taps, _stride(op))
    return efficiency(profile, threads, "gemm", g.m, g.n, g.k)


def dense_compute_cycles(op: Op, ctx: PricingContext, precision: str, threads: int) -> float:
    profile = ctx.profile
    arch = cpu_arch(profile)
    peak = profile.peak_macs_per_cycle[precision] * threads / _cores(profile)
    peak *= float(arch.precision_efficiency.get(precision, 1.0))
    lanes = max(arch.vector_bits // PRECISION_BITS.get(precision, 32), 1)
    cycles = 0.0
    for g in gemm_shapes(op):
        eff = max(_shape_efficiency(op, g, profile, threads), 1e-4)
        columns = g.groups if op.is_depthwise else g.n  # depthwise: channels in the lanes
        cycles += g.macs / (peak * eff * rl.padded_fraction(columns, lanes))
    return cycles


def kernel_tile_length(n: int, k: int, m: int) -> float:
    """Mean length of the kernels' innermost loop on N x K x M: the M columns split into tiles
    of ``KERNEL_M_TILE``. Each weight's load and index decode is amortized over one tile, so
    this sets how far a sparse kernel gains on the dense one."""
    return m / max(math.ceil(m / KERNEL_M_TILE), 1)


def _kernel_figure(
    profile: Profile,
    shape: GemmShape | None,
    figure: Callable[[Mapping[str, Any]], float | None],
) -> float | None:
    """``figure(entry)`` of the ``arch.kernels`` entry for ``shape``: interpolated between the
    ``by_shape`` entries in log tile length (clamped at the ends), else the top level's."""
    kernels = cpu_arch(profile).kernels
    by_shape = kernels.get("by_shape") if shape is not None else None
    if not by_shape:
        return figure(kernels)
    points = []
    for entry in by_shape:
        value = figure(entry)
        if value is not None:
            points.append((kernel_tile_length(*(int(x) for x in entry["shape"])), value))
    if not points:
        return figure(kernels)
    assert shape is not None
    return log_interp(points, kernel_tile_length(shape.n, shape.k, shape.m))


def kernel_speedup(
    profile: Profile, fmt: str, stored: float, shape: GemmShape | None = None
) -> float | None:
    """Measured speedup of hwsim's ``fmt`` kernel over its dense kernel at ``stored`` fraction
    of the weights (``arch.kernels``), interpolated in log density (and between calibration
    shapes when ``shape`` is given); None if not measured."""

    def curve(entry: Mapping[str, Any]) -> float | None:
        rows = entry.get(fmt)
        if not rows:
            return None
        points = [(float(d), float(s)) for d, s in rows]
        densest, speedup = max(points)
        if stored > densest:  # past the measured range the kernel's time grows with the
            return speedup * densest / stored  # values it stores, not stays at its best
        return log_interp(points, max(stored, 1e-4))

    return _kernel_figure(profile, shape, curve)


def kernel_cycles(
    profile: Profile, fmt: str, shape: GemmShape, stored: float = 1.0, precision: str = "fp32"
) -> float:
    """Predicted cycles of one of hwsim's single-threaded numba kernels on ``shape``:
    ``dense`` (fp32 or int8 by ``precision``), ``int4``, or a sparse format at ``stored``."""
    per_core = {p: v / _cores(profile) for p, v in profile.peak_macs_per_cycle.items()}

    def eff(key: str) -> float:
        value = _kernel_figure(profile, shape, lambda e: e.get(key))
        return float(value) if value is not None else 1.0

    if fmt == "dense" and precision == "fp32":
        return shape.macs / (per_core["fp32"] * eff("dense_fp32"))
    if fmt in ("dense", "int4"):
        key = "int8" if fmt == "dense" else "int4"
        return shape.macs / (per_core["int8"] * eff(key))
    speedup = kernel_speedup(profile, fmt, stored, shape)
    dense = kernel_cycles(profile, "dense", shape)
    return dense / speedup if speedup else dense * stored


def _op_kernel_shape(op: Op) -> GemmShape | None:
    shapes = gemm_shapes(op)
    return max(shapes, key=lambda g: g.macs) if shapes else None


def _densest_measured(profile: Profile, fmt: str) -> float:
    """The largest stored fraction at which ``fmt``'s kernel was timed (``arch.kernels``, its
    top level and every ``by_shape`` entry); 0 when it never was."""
    kernels = cpu_arch(profile).kernels
    entries = [kernels, *kernels.get("by_shape", ())]
    return max((float(d) for e in entries for d, _ in e.get(fmt) or ()), default=0.0)


def _sparse_option(op: Op, profile: Profile) -> tuple[str, float] | None:
    """The fastest sparse kernel the profile offers for the op's weights: (format, stored).

    hwsim's sparse kernels are GEMMs (one weight matrix times a dense operand); grouped and
    depthwise convs have no sparse kernel, so their zeros run dense. A format is offered only
    within its measured range (stored at most the densest calibrated point) and where its
    measured speedup over hwsim's own dense kernel exceeds 1. Past that range the curve is an
    extrapolation, and a stray zero in unpruned weights (density 0.999999) would send the op
    to a sparse kernel that stores every weight whenever hwsim's dense kernel is priced below
    the runtime's own dense op on that shape: the estimate would flip with the random
    initialization."""
    stats = op.weight_stats
    if stats is None or stats.density >= 1.0 or not profile.sparsity_patterns:
        return None
    if op.kind is OpKind.CONV and op.int_attr("groups") > 1:
        return None
    candidates = []
    for pattern in profile.sparsity_patterns:
        stored = stats.kept_fraction(pattern)
        if stored is not None:
            candidates.append((_PATTERN_FORMAT.get(pattern, pattern), stored))
    best = None
    for fmt, stored in candidates:
        if stored > _densest_measured(profile, fmt):
            continue
        speedup = kernel_speedup(profile, fmt, stored, _op_kernel_shape(op))
        if speedup is not None and speedup > 1.0 and (best is None or speedup > best[2]):
            best = (fmt, stored, speedup)
    return (best[0], best[1]) if best else None


def _unfolded_batchnorm(
    op: Op, ctx: PricingContext, bandwidth: Mapping[str, float], threads: int
) -> tuple[float, float, float, str]:
    """(memory cycles, dispatch cycles, bytes, level) of a batch-norm eager mode runs after
    ``op`` although the frontend folded it: it reads and writes the op's output once."""
    if cpu_arch(ctx.profile).fold_batchnorm or not any(
        "batch_norm" in aten_equivalent(f) for f in op.folded
    ):
        return 0.0, 0.0, 0.0, ""
    moved = 2.0 * op.output_bytes
    level = rl.activation_home(ctx.profile, moved)
    inner = [lvl.name for lvl in ctx.profile.memory[: ctx.profile.memory.index(level) + 1]]
    mem = max(
        max(moved / bandwidth[name] for name in inner),
        _eager_loop_cycles(ctx, threads, "norm", moved),
    )
    entry = _entry(ctx.profile, threads)
    tables = [entry.module_dispatch_s, entry.dispatch_s]  # an nn.BatchNorm2d call
    seconds = next((t["norm"] for t in tables if t is not None and "norm" in t), None)
    dispatch = (
        float(seconds) * ctx.profile.clock_hz
        if seconds is not None
        else ctx.profile.per_op_overhead_cycles
    ) * cpu_arch(ctx.profile).dispatch_scale
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
        compute = max(ideal, _windowed_pool_cycles(op, ctx, threads))
    t = rl.traffic(op, ctx, precision)
    reads, writes = rl.memory_bytes(op, ctx, t)
    bandwidth = _bandwidths(ctx, threads)
    mem = _memory_cycles(reads, writes, bandwidth)
    if op.kind in (OpKind.POINTWISE, OpKind.NORM) and not ctx.fuse:
        moved = float(op.input_bytes + op.output_bytes)
        loop = _eager_loop_cycles(ctx, threads, _loop_class(op), moved)
        mem = max(mem, loop or _eager_loop_cycles(ctx, threads, str(op.kind), moved))
    dispatched = not (op.fused_into and ctx.fuse)
    overhead = dispatch_cycles(op, ctx, threads) if dispatched else 0.0
    bn_mem, bn_dispatch, bn_bytes, bn_level = _unfolded_batchnorm(op, ctx, bandwidth, threads)
    if bn_bytes:
        notes.append("batch-norm runs unfolded (eager)")
        for lvl in profile.memory[: [m.name for m in profile.memory].index(bn_level) + 1]:
            reads[lvl.name] = reads.get(lvl.name, 0.0) + bn_bytes / 2
            writes[lvl.name] = writes.get(lvl.name, 0.0) + bn_bytes / 2
    overhead += bn_dispatch
    notes.extend(rl.precision_notes(op, ctx, precision))
    return op_cost(
        op,
        ctx,
        precision=precision,
        cycles=max(compute, mem) + bn_mem + overhead,
        compute=compute,
        memory=mem + bn_mem,
        overhead=overhead,
        ideal=ideal,
        reads=reads,
        writes=writes,
        notes=tuple(notes),
    )


def _priced_kinds() -> Sequence[OpKind]:
    return [k for k in OpKind if k not in (OpKind.VIEW, OpKind.UNSUPPORTED)]


COST_TABLE = {
    **rl.ROOFLINE_TABLE,
    **dict.fromkeys(_priced_kinds(), price_op),
}
