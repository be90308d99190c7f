"""Microcontrollers: int8 layers priced as CMSIS-NN kernels, and whether a model fits.

Each op becomes the kernels an int8 runtime runs for it (``mcu_kernels.py`` counts their inner
loops; ``kernel_cycles`` turns them into cycles on the profile's core), divided by the
runtime's fitted efficiency (``mcu_runtimes.py``), never faster than the core's peak of two
multiply-accumulates a cycle (``SMLAD``):

- conv: ``arm_convolve_s8`` (im2col of every output pixel's receptive field into int16, then
  the 2x2 ``SMLAD`` matrix kernel), ``arm_convolve_1x1_s8_fast`` for 1x1 stride-1 unpadded
  convolutions (no im2col), ``arm_depthwise_conv_3x3_s8`` for 3x3 depthwise with padding at
  most 1, else ``arm_depthwise_conv_s8_opt`` (im2col of the taps, then the depthwise loop);
  every output is requantized;
- gemm (fully connected, batched matmul): ``arm_nn_vec_mat_mult_t_s8`` and a requantization
  per output; attention: its two matmuls at the same rate and a softmax per score;
- pointwise: an activation the frontend fused into a conv or GEMM is that kernel's output
  clamp and costs nothing; an add (or any op reading two tensors) is
  ``arm_elementwise_add_s8``, its own kernel even when the frontend fused it (TFLite Micro and
  the code generators run it separately); other unary ops take a lookup or requantization
  per element;
- pooling (``arm_avgpool_s8``, ``arm_max_pool_s8``, per input element read), softmax,
  reductions and normalization per element; copies and lookups per byte.

Activations live in ``sram``, weights in ``flash``; their bytes are reported per level, and
the busiest level bounds the op from below (it rarely does: a Cortex-M is compute-bound).

``memory_fit`` says whether a model fits: the activation arena of the chosen schedule (the
runtime's planner: greedy placement, in-place depthwise where the runtime has it, the
CMSIS-NN scratch buffers alive during their kernel, the arena alignment) plus the runtime's
persistent data must fit the largest contiguous SRAM region; the int8 weights, the per-channel
biases and quantization parameters and the runtime's code must fit the flash.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..cost import OpCost
from ..errors import ProfileError
from ..graph import OpGraph
from ..hardware import MemoryLevel, Profile
from ..memory import Fuses, InPlace, MemoryPlan, TensorLife, never_in_place
from ..ops import PRECISION_BITS, Op, OpKind
from . import roofline as rl
from .assemble import op_cost
from .base import CostFn, MemoryFit, MemoryUse, PricingContext, aten_name
from .mcu_arch import McuArch
from .mcu_kernels import CORES, kernel_cycles
from .mcu_runtimes import RUNTIMES, Runtime

# Unary activations an int8 kernel applies as its output clamp (activation_min/max).
ACTIVATION_CLAMPS = frozenset({"relu", "relu6", "hardtanh", "clamp", "clamp_min", "clamp_max"})

Work = list[tuple[str, float]]  # (kernel, units of its work)


def mcu_arch(profile: Profile) -> McuArch:
    arch = profile.arch
    assert isinstance(arch, McuArch), f"{profile.name} is not a microcontroller profile"
    return arch


def runtime_of(profile: Profile) -> Runtime:
    return RUNTIMES[mcu_arch(profile).runtime]


def efficiency(profile: Profile) -> float:
    """The runtime's speed factor, or the profile's own ``arch.kernel_efficiency``."""
    arch = mcu_arch(profile)
    return arch.kernel_efficiency or RUNTIMES[arch.runtime].efficiency


def level(profile: Profile, name: str) -> MemoryLevel:
    try:
        return profile.level(name)
    except KeyError:
        raise ProfileError(
            f"{profile.name}: a microcontroller profile needs memory levels 'sram' and "
            f"'flash' (has: {', '.join(lvl.name for lvl in profile.memory)})"
        ) from None


def is_clamp(op: Op) -> bool:
    """An activation an int8 kernel applies as its output range."""
    return op.kind is OpKind.POINTWISE and aten_name(op) in ACTIVATION_CLAMPS


def runs_fused(op: Op) -> bool:
    """Whether a pointwise op the frontend fused runs inside its producer's kernel here."""
    return is_clamp(op)


def _pair(value: object, default: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value) or (default,)
    return (int(value),) if isinstance(value, (int, float)) else (default,)


def _output_elements(op: Op) -> int:
    return sum(t.numel for t in op.outputs)


def _input_elements(op: Op) -> int:
    return sum(t.numel for t in op.inputs)


def conv_kernel(op: Op) -> str:
    """The CMSIS-NN kernel TFLite Micro's wrappers pick for a convolution."""
    kernel = _pair(op.attr("kernel"), 1)
    stride = _pair(op.attr("stride"), 1)
    padding = _pair(op.attr("padding"), 0)
    if op.is_depthwise:
        if kernel == (3, 3) and max(padding) <= 1:
            return "arm_depthwise_conv_3x3_s8"
        return "arm_depthwise_conv_s8_opt"
    if all(k == 1 for k in kernel) and all(s == 1 for s in stride) and max(padding) == 0:
        return "arm_convolve_1x1_s8_fast"
    return "arm_convolve_s8"


def im2col_elements_per_pixel(op: Op) -> int:
    """Elements one output pixel's receptive field holds (what im2col copies for it)."""
    weight = op.weight
    if weight is None:
        return 0
    taps = math.prod(weight.shape[2:]) if len(weight.shape) > 2 else 1
    return int(weight.shape[1]) * taps * op.int_attr("groups")


def _conv_work(op: Op) -> tuple[Work, str]:
    kernel = conv_kernel(op)
    outputs = _output_elements(op)
    pixels = outputs // max(op.outputs[0].shape[1], 1) if op.outputs else 0
    work: Work = [("requantize_output", outputs)]
    if kernel == "arm_depthwise_conv_3x3_s8":
        work.append(("depthwise_mac", op.macs))
    elif kernel == "arm_depthwise_conv_s8_opt":
        work += [
            ("depthwise_mac", op.macs),
            ("im2col_element", pixels * im2col_elements_per_pixel(op)),
        ]
    elif kernel == "arm_convolve_1x1_s8_fast":
        weights = op.weight.numel if op.weight is not None else 0
        work += [("pointwise_mac", op.macs), ("sum_element", weights)]  # kernel sums
    else:
        work += [("conv_mac", op.macs), ("im2col_element", pixels * im2col_elements_per_pixel(op))]
    return work, kernel


def _gemm_work(op: Op) -> tuple[Work, str]:
    return [
        ("fc_mac", op.macs),
        ("requantize_output", _output_elements(op)),
    ], "arm_fully_connected_s8"


def _attention_work(op: Op) -> tuple[Work, str]:
    scores = op.int_attr("seq_q") * op.int_attr("seq_k") * op.int_attr("heads_x_batch")
    work: Work = [
        ("fc_mac", op.macs),
        ("softmax_element", scores),
        ("requantize_output", scores + _output_elements(op)),
    ]
    return work, "arm_nn_vec_mat_mult_t_s8 + arm_softmax_s8"


def _pointwise_work(op: Op) -> tuple[Work, str]:
    if len(op.inputs) >= 2:
        return [("add_element", _output_elements(op))], "arm_elementwise_add_s8"
    return [("lut_element", _output_elements(op))], "lookup table"


def _pool_work(op: Op) -> tuple[Work, str]:
    if "max" in aten_name(op):
        return [("maxpool_element", op.flops)], "arm_max_pool_s8"
    work: Work = [("avgpool_element", op.flops), ("requantize_output", _output_elements(op))]
    return work, "arm_avgpool_s8"


def _resample_work(op: Op) -> tuple[Work, str]:
    outputs = _output_elements(op)
    work: Work = [("resample_tap", outputs * op.int_attr("taps")), ("resample_output", outputs)]
    kernel = "reference ResizeBilinearInteger" if op.int_attr("taps") == 4 else "reference resize"
    return work, kernel


def _softmax_work(op: Op) -> tuple[Work, str]:
    return [("softmax_element", _output_elements(op))], "arm_softmax_s8"


def _reduce_work(op: Op) -> tuple[Work, str]:
    work: Work = [
        ("sum_element", _input_elements(op)),
        ("requantize_output", _output_elements(op)),
    ]
    return work, "reduction"


def _norm_work(op: Op) -> tuple[Work, str]:
    work: Work = [
        ("sum_element", 2 * _input_elements(op)),  # mean and variance passes
        ("requantize_output", _output_elements(op)),
    ]
    return work, "normalization"


def _copy_work(op: Op, precision: str) -> tuple[Work, str]:
    moved = op.output_bytes * rl.activation_scale(op, precision)
    return [("copy_byte", moved)], "arm_memcpy_s8"


def _embedding_work(op: Op, precision: str) -> tuple[Work, str]:
    gathered = op.attr("gathered_bytes")
    moved = float(gathered) if isinstance(gathered, (int, float)) else float(op.output_bytes)
    return [("copy_byte", moved * rl.activation_scale(op, precision))], "table lookup"


WORK: dict[OpKind, Callable[[Op], tuple[Work, str]]] = {
    OpKind.CONV: _conv_work,
    OpKind.GEMM: _gemm_work,
    OpKind.ATTENTION: _attention_work,
    OpKind.POINTWISE: _pointwise_work,
    OpKind.POOL: _pool_work,
    OpKind.RESAMPLE: _resample_work,
    OpKind.SOFTMAX: _softmax_work,
    OpKind.REDUCE: _reduce_work,
    OpKind.NORM: _norm_work,
}


def _priced(op: Op, ctx: PricingContext, work: Work, kernel: str) -> OpCost:
    profile = ctx.profile
    precision = rl.op_precision(op, ctx)
    core = CORES[mcu_arch(profile).core]
    modelled = sum(kernel_cycles(core, name, units) for name, units in work)
    ideal = rl.ideal_cycles(op, profile, precision)
    compute = max(modelled / efficiency(profile), ideal)
    reads, writes = _traffic(op, profile, precision)
    memory = rl.memory_cycles(profile, reads, writes)
    overhead = runtime_of(profile).per_op_cycles
    return op_cost(
        op,
        ctx,
        precision=precision,
        cycles=max(compute, memory) + overhead,
        compute=compute,
        memory=memory,
        overhead=overhead,
        ideal=ideal,
        reads=reads,
        writes=writes,
        notes=(kernel, *rl.precision_notes(op, ctx, precision)),
    )


def _traffic(op: Op, profile: Profile, precision: str) -> tuple[dict[str, float], dict[str, float]]:
    """Activations read from and written to SRAM (unfused: an int8 runtime materialises every
    kernel's output), weights read once from flash."""
    scale = rl.activation_scale(op, precision)
    sram, flash = level(profile, "sram").name, level(profile, "flash").name
    weights = rl.device_weight_bytes(op, profile, precision)
    reads = {sram: op.input_bytes * scale, flash: weights}
    return reads, {sram: op.output_bytes * scale}


def _table_price(op: Op, ctx: PricingContext) -> OpCost:
    if op.kind is OpKind.POINTWISE and op.fused_into is not None and runs_fused(op):
        return OpCost.free(ctx.profile.clock_hz)
    work, kernel = WORK[op.kind](op)
    return _priced(op, ctx, work, kernel)


def _copy_price(op: Op, ctx: PricingContext) -> OpCost:
    work, kernel = _copy_work(op, rl.op_precision(op, ctx))
    return _priced(op, ctx, work, kernel)


def _embedding_price(op: Op, ctx: PricingContext) -> OpCost:
    work, kernel = _embedding_work(op, rl.op_precision(op, ctx))
    return _priced(op, ctx, work, kernel)


COST_TABLE: dict[OpKind, CostFn] = {
    **dict.fromkeys(WORK, _table_price),
    OpKind.COPY: _copy_price,
    OpKind.EMBEDDING: _embedding_price,
    OpKind.VIEW: rl.free,
}


# --- memory ----------------------------------------------------------------------------------


def in_place(profile: Profile) -> InPlace:
    """TinyEngine writes a depthwise convolution's output over its input."""
    if runtime_of(profile).in_place_depthwise:
        return lambda op: op.is_depthwise
    return never_in_place


def fuses(profile: Profile) -> Fuses:
    """An int8 runtime folds activations into the producing kernel, and nothing else."""
    return runs_fused


def scratch_bytes(op: Op) -> int:
    """CMSIS-NN's scratch buffer for ``op``: the int16 im2col columns of ``arm_convolve_s8``
    (two, each the reduction length rounded up to 4) and of ``arm_depthwise_conv_s8_opt``
    (one pixel's taps for every channel); none for the others (1x1 fast, 3x3 depthwise)."""
    if op.kind is not OpKind.CONV or op.weight is None:
        return 0
    kernel = conv_kernel(op)
    taps = math.prod(op.weight.shape[2:]) if len(op.weight.shape) > 2 else 1
    if kernel == "arm_convolve_s8":
        reduction = int(op.weight.shape[1]) * taps
        return 2 * (-(-reduction // 4) * 4) * 2
    if kernel == "arm_depthwise_conv_s8_opt":
        return int(op.weight.shape[0]) * taps * 2
    return 0


def _scratch_tensors(plan: MemoryPlan, graph: OpGraph) -> list[TensorLife]:
    out = []
    for position, step in enumerate(plan.step_order):
        for op_id in plan.problem.steps[step].ops:
            nbytes = scratch_bytes(graph[op_id])
            if nbytes:
                out.append(TensorLife(f"{graph[op_id].name} (scratch)", nbytes, position, position))
    return out


def _output_channels(op: Op) -> int:
    """Output channels of a layer with per-channel bias and quantization (conv, GEMM)."""
    if op.kind in (OpKind.CONV, OpKind.GEMM) and op.weight is not None and op.weight.shape:
        return int(op.weight.shape[0])
    return 0


def _weight_flash_bytes(op: Op, profile: Profile, precision: str | None) -> float:
    """The main weight at the execution width; a conv's or GEMM's bias is counted per output
    channel with the quantization parameters (other parameters at their device size)."""
    if _output_channels(op) and op.weight is not None:
        bits = PRECISION_BITS.get(rl.execution_precision(op, profile, precision), 8)
        return op.weight.numel * bits / 8
    return rl.device_weight_bytes(op, profile, precision)


def memory_fit(
    graph: OpGraph, profile: Profile, plan: MemoryPlan, precision: str | None
) -> MemoryFit:
    """SRAM: the arena (the schedule's tensors and scratch buffers, placed greedily) and the
    runtime's persistent data, against the largest contiguous region; flash: weights, biases
    and quantization parameters, and the runtime's code, against the flash."""
    arch = mcu_arch(profile)
    runtime = RUNTIMES[arch.runtime]
    sram, flash = level(profile, "sram"), level(profile, "flash")
    scratch = _scratch_tensors(plan, graph) if runtime.scratch_buffers else []
    arena = plan.arena_with(scratch, runtime.arena_alignment).arena_bytes
    kernels = len(plan.step_order)
    conv_channels = sum(_output_channels(op) for op in graph if op.kind is OpKind.CONV)
    channels = sum(_output_channels(op) for op in graph)
    tensors = len(plan.lifetimes.tensors) + sum(len(op.params) for op in graph)
    persistent = (
        runtime.per_channel_sram_bytes * conv_channels
        + runtime.per_op_sram_bytes * kernels
        + runtime.per_tensor_sram_bytes * tensors
    )
    sram_parts = {"arena": float(arena), "persistent": persistent}
    if arch.reserved_sram_bytes:
        sram_parts["reserved"] = arch.reserved_sram_bytes
    weights = sum(_weight_flash_bytes(op, profile, precision) for op in graph)
    flash_parts = {
        "weights": weights,
        "per_channel": runtime.bias_flash_bytes * channels
        + runtime.conv_channel_flash_bytes * conv_channels,
        "code": runtime.code_flash_bytes,
    }
    if arch.reserved_flash_bytes:
        flash_parts["reserved"] = arch.reserved_flash_bytes
    region = arch.arena_sram_bytes or sram.capacity_bytes
    return MemoryFit(
        uses=(
            MemoryUse(
                sram.name, sum(sram_parts.values()), min(region, sram.capacity_bytes), sram_parts
            ),
            MemoryUse(flash.name, sum(flash_parts.values()), flash.capacity_bytes, flash_parts),
        )
    )
