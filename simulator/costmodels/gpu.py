"""GPUs: tensor-core tiles in waves, memory-bound kernels, and the cost of launching kernels.

What decides a real GPU's inference latency, and where each part lives:

- GEMMs and convolutions (implicit GEMM) run as grids of output tiles on the tensor cores;
  tile padding, wave quantization and the fixed cost of each wave are in ``gpu_tiles``, the
  L2 and DRAM traffic of the tiles in ``gpu_traffic``, the 2:4 sparse path in ``gpu_sparse``.
- Everything else (pointwise, norms, softmax, reductions, pooling, copies) is a memory-bound
  kernel: its bytes at the sustained bandwidth of the level they come from.
- Every kernel pays a device-side gap, and in eager mode a host-side launch; the GPU runs
  ahead of the host, so an op takes the longer of the two. A profile with
  ``arch.cuda_graph: true`` replays kernels from a graph and pays no host cost per kernel.
- Fusion follows the profile's ``fuse_pointwise``: an inference engine (TensorRT) fuses
  pointwise ops into their producer's epilogue and folds batch-norm into the convolution;
  eager PyTorch runs each of them as a kernel of its own. Attention is one fused kernel
  whenever the model calls ``scaled_dot_product_attention``.

Specific numbers (SM count, shared memory, launch costs) come from ``gpu_arch.GpuArch``, read
through the per-profile view ``gpu_arch.Gpu``.
"""

from __future__ import annotations

from ..cost import OpCost
from ..ops import DTYPE_BITS, PRECISION_BITS, Op, OpKind
from . import roofline as rl
from .assemble import op_cost
from .base import CostFn, PricingContext
from .gemm_view import gemm_shapes
from .gpu_arch import Gpu, gpu_of
from .gpu_sparse import SparseUse, sparse_use
from .gpu_tiles import FLASH_Q_BLOCK, SmBudget, TiledKernel, plan_attention, plan_gemm
from .gpu_traffic import dram_refetch

Bytes = dict[str, float]


def kernel_launches(op: Op, ctx: PricingContext) -> int:
    """Kernels an op launches: none when fused into its producer; in eager mode, one more for
    each batch-norm the frontend folded into it, since eager PyTorch runs those separately."""
    if ctx.fuse and op.fused_into:
        return 0
    return 1 if ctx.fuse else 1 + len(op.folded)


def execution_precision(op: Op, ctx: PricingContext, gpu: Gpu) -> tuple[str, tuple[str, ...]]:
    """The precision the kernel computes at, and a note when a library default changed it.

    PyTorch lets cuDNN run fp32 convolutions on TF32 tensor cores by default, but not cuBLAS
    matmuls; TensorRT allows TF32 for both. A precision forced by the user is left alone.
    """
    precision = rl.op_precision(op, ctx)
    notes = rl.precision_notes(op, ctx, precision)
    uses_tf32 = (
        gpu.arch.fp32_conv_as_tf32 if op.kind is OpKind.CONV else gpu.arch.fp32_matmul_as_tf32
    )
    if (
        precision == "fp32"
        and ctx.precision is None
        and uses_tf32
        and not op.is_depthwise
        and "tf32" in ctx.profile.peak_macs_per_cycle
    ):
        return "tf32", (*notes, "fp32 on TF32 tensor cores (the library's default)")
    return precision, notes


def _levels_to(ctx: PricingContext, home_bytes: float) -> list[str]:
    """Names of the levels a tensor of ``home_bytes`` passes through from where it lives."""
    home = rl.activation_home(ctx.profile, home_bytes)
    names = [level.name for level in ctx.profile.memory]
    return names[: names.index(home.name) + 1]


def _eager_batchnorm(op: Op, ctx: PricingContext, precision: str) -> tuple[Bytes, Bytes, float]:
    """Bytes and time of the batch-norm kernels eager mode runs after ``op``: each reads and
    writes the op's output once more."""
    reads: Bytes = {}
    writes: Bytes = {}
    count = kernel_launches(op, ctx) - 1
    if count <= 0:
        return reads, writes, 0.0
    dtype = op.outputs[0].dtype if op.outputs else "float32"
    out = op.output_bytes * PRECISION_BITS[precision] / DTYPE_BITS.get(dtype, 32)
    for name in _levels_to(ctx, 2 * out):
        reads[name] = count * out
        writes[name] = count * out
    return reads, writes, rl.memory_cycles(ctx.profile, reads, writes)


def _first_kernel(ctx: PricingContext) -> str | None:
    """The id of the graph's first op that launches a kernel: where the once-per-inference
    overhead is charged, so it shows in the per-op table like every other cost."""
    if ctx.graph is None:
        return None
    for op in ctx.graph.ops:
        if op.kind not in (OpKind.VIEW, OpKind.UNSUPPORTED) and kernel_launches(op, ctx):
            return op.id
    return None


def _merge(a: Bytes, b: Bytes) -> Bytes:
    return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in {*a, *b}}


def finish(
    op: Op,
    ctx: PricingContext,
    gpu: Gpu,
    *,
    precision: str,
    compute: float,
    ideal: float,
    reads: Bytes,
    writes: Bytes,
    notes: tuple[str, ...],
    math_speedup: float = 1.0,
) -> OpCost:
    """Turn an op's math and bytes into its time on the GPU, launches included.

    The kernel's work is ``max(math, memory)``. It then waits ``kernel_gap`` on the device;
    in eager mode the host needs ``host_launch`` per kernel and the GPU cannot run ahead of
    it, so the op takes the longer of the host's and the device's time.
    """
    launches = kernel_launches(op, ctx)
    bn_reads, bn_writes, bn_cycles = _eager_batchnorm(op, ctx, precision)
    memory = rl.memory_cycles(ctx.profile, reads, writes)
    work = max(compute, memory) + bn_cycles
    cycles = work
    if launches:
        device = work + launches * gpu.kernel_gap_cycles
        host = 0.0 if gpu.cuda_graph else launches * gpu.host_launch_cycles
        cycles = max(host, device)
    extra: tuple[str, ...] = ()
    if gpu.arch.inference_overhead_s and launches and op.id == _first_kernel(ctx):
        cycles += gpu.arch.inference_overhead_s * ctx.profile.clock_hz
        extra = (
            f"once per inference: launch, copies and sync, "
            f"{gpu.arch.inference_overhead_s * 1e6:.0f} us (arch.inference_overhead_s)",
        )
    reads, writes = _merge(reads, bn_reads), _merge(writes, bn_writes)
    overhead = cycles - work
    if not ctx.fuse and op.fused_into:
        extra += ("eager: a kernel of its own (an inference engine fuses it into its producer)",)
    if bn_cycles:
        extra += (f"eager: {launches - 1} folded batch-norm kernel(s) after it",)
    return op_cost(
        op,
        ctx,
        precision=precision,
        cycles=cycles,
        compute=compute,
        memory=memory + bn_cycles,
        overhead=overhead,
        ideal=ideal,
        reads=reads,
        writes=writes,
        notes=(*notes, *extra),
        macs_done=op.macs / math_speedup,
    )


def _cuda_core_kernel(
    op: Op,
    ctx: PricingContext,
    gpu: Gpu,
    precision: str,
    *,
    work: float,
    ideal: float,
    notes: tuple[str, ...],
) -> OpCost:
    """A kernel on the CUDA cores: ``work`` lane operations at the SIMT rate, the roofline's
    bytes at the levels they come from."""
    reads, writes = rl.memory_bytes(op, ctx, rl.traffic(op, ctx, precision))
    return finish(
        op,
        ctx,
        gpu,
        precision=precision,
        compute=work / rl.vector_rate(ctx.profile, precision),
        ideal=ideal,
        reads=reads,
        writes=writes,
        notes=notes,
    )


def memory_bound_op(op: Op, ctx: PricingContext) -> OpCost:
    """Pointwise, norm, softmax, reduction, pooling, copy, lookup: bytes at achievable
    bandwidth, the (small) arithmetic on the CUDA cores."""
    precision = rl.op_precision(op, ctx)
    ideal = op.flops / rl.vector_rate(ctx.profile, precision)
    return _cuda_core_kernel(
        op, ctx, gpu_of(ctx.profile), precision, work=op.flops, ideal=ideal, notes=()
    )


def _sm_budget(ctx: PricingContext, gpu: Gpu, precision: str, speedup: float) -> SmBudget:
    peak = ctx.profile.peak_macs_per_cycle[precision] * speedup
    return SmBudget(
        sms=gpu.sms,
        macs_per_cycle=peak * gpu.arch.mainloop_efficiency / gpu.sms,
        smem_bytes=gpu.arch.smem_per_sm_bytes,
        register_bytes=gpu.arch.register_file_per_sm_bytes,
        cta_fixed_cycles=gpu.arch.cta_fixed_cycles,
        load_latency_cycles=gpu.arch.global_load_latency_cycles,
        multicast=gpu.arch.cluster_multicast,
    )


def _mac_traffic(op: Op, ctx: PricingContext, precision: str, sparse: SparseUse) -> rl.Traffic:
    """The roofline's traffic, with weights in the stored sparse format where the tensor cores
    read it, and a fused attention kernel's own operands: Q, K, V (and any mask) in, O out."""
    t = rl.traffic(op, ctx, precision)
    if op.kind is OpKind.ATTENTION:
        scale = PRECISION_BITS[precision] / 8
        read = sum(spec.numel for spec in op.inputs) * scale
        write = sum(spec.numel for spec in op.outputs) * scale
        return rl.Traffic(read, write, float(op.weight_bytes))
    if sparse.weight_fraction < 1.0:
        stored = rl.device_weight_bytes(op, ctx.profile, ctx.precision)
        return rl.Traffic(t.activation_read, t.activation_write, stored)
    return t


def mac_op(op: Op, ctx: PricingContext) -> OpCost:
    """Conv, GEMM and attention: tiles on the tensor cores (depthwise convolutions, and
    attention kernels that say ``cuda_cores``, on the CUDA cores)."""
    gpu = gpu_of(ctx.profile)
    precision, notes = execution_precision(op, ctx, gpu)
    if op.kind is OpKind.ATTENTION and op.attr("cuda_cores"):
        return _cuda_core_kernel(
            op,
            ctx,
            gpu,
            precision,
            work=op.macs,
            ideal=op.macs / ctx.profile.peak_macs_per_cycle[precision],
            notes=("attention on the CUDA cores: one dot product per key, no query tile", *notes),
        )
    if op.is_depthwise:
        sparse = sparse_use(op, ctx.profile, precision, tensor_cores=False)
        note = "depthwise: a direct kernel on the CUDA cores"
        return _cuda_core_kernel(
            op,
            ctx,
            gpu,
            precision,
            work=op.macs,
            ideal=op.macs / ctx.profile.peak_macs_per_cycle[precision],
            notes=(note, *((sparse.note,) if sparse.note else ()), *notes),
        )
    sparse = sparse_use(op, ctx.profile, precision, tensor_cores=precision != "fp32")
    sm = _sm_budget(ctx, gpu, precision, sparse.math_speedup)
    operand = PRECISION_BITS[precision] / 8
    reads, writes = rl.memory_bytes(op, ctx, _mac_traffic(op, ctx, precision, sparse))
    plans: list[TiledKernel]
    if op.kind is OpKind.ATTENTION:
        plans = [_attention_plan(op, sm, operand, gpu)]
        described = [f"fused attention: {plans[0].describe(gpu.sms)}"]
    else:
        plans, l2_read, refetch = _gemm_plans(op, gpu, sm, operand, sparse.weight_fraction)
        l2, dram = gpu.l2.name, gpu.dram.name
        reads[l2] = max(reads.get(l2, 0.0), l2_read)
        if refetch > 0 and dram != l2:
            reads[dram] = reads.get(dram, 0.0) + refetch
        described = [plan.describe(gpu.sms) for plan in plans]
    peak = ctx.profile.peak_macs_per_cycle[precision] * sparse.math_speedup
    return finish(
        op,
        ctx,
        gpu,
        precision=precision,
        compute=sum(plan.cycles for plan in plans),
        ideal=op.macs / peak,
        reads=reads,
        writes=writes,
        notes=(*described, *((sparse.note,) if sparse.note else ()), *notes),
        math_speedup=sparse.math_speedup,
    )


def _gemm_plans(
    op: Op, gpu: Gpu, sm: SmBudget, operand: float, weight_fraction: float
) -> tuple[list[TiledKernel], float, float]:
    """Plans for each GEMM the op lowers to, with their L2 reads and DRAM re-fetches."""
    plans, l2_read, refetch = [], 0.0, 0.0
    b_bytes = operand * (weight_fraction if op.weight is not None else 1.0)
    for g in gemm_shapes(op):
        plan = plan_gemm(
            g,
            sm,
            operand,
            weight_bytes=b_bytes,
            l2_cycles_per_byte=1 / gpu.l2.bandwidth_bytes_per_cycle,
        )
        plans.append(plan)
        l2_read += plan.l2_read
        refetch += dram_refetch(
            g, plan, operand, b_bytes, sms=gpu.sms, l2_capacity=gpu.l2.capacity_bytes
        )
    return plans, l2_read, refetch


def _attention_plan(op: Op, sm: SmBudget, operand: float, gpu: Gpu) -> TiledKernel:
    """The fused kernel's tiling; ``q_block`` names the kernel's query block when it is not
    FlashAttention-2's forward 128 (its split-KV decode kernel uses 64)."""
    head_dim = op.int_attr("head_dim")
    return plan_attention(
        seq_q=op.int_attr("seq_q"),
        seq_k=op.int_attr("seq_k"),
        head_dim=head_dim,
        value_dim=op.outputs[0].shape[-1] if op.outputs else head_dim,
        heads_x_batch=op.int_attr("heads_x_batch"),
        sm=sm,
        operand_bytes=operand,
        exp_per_cycle=gpu.sfu_ops_per_sm_cycle,
        q_block=op.int_attr("q_block", FLASH_Q_BLOCK),
    )


COST_TABLE: dict[OpKind, CostFn] = {
    **{kind: memory_bound_op for kind in rl.ROOFLINE_TABLE},
    OpKind.VIEW: rl.free,
    OpKind.CONV: mac_op,
    OpKind.GEMM: mac_op,
    OpKind.ATTENTION: mac_op,
}
