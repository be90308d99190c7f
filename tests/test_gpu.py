"""The GPU model: tiles, waves, padding, 2:4 sparsity, launches, CUDA graphs, memory-bound
kernels and fused attention, each against a hand calculation in its docstring."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import hwsim
from hwsim.cost import Bound
from hwsim.costmodels.gemm_view import GemmShape
from hwsim.costmodels.gpu_sparse import sparse_use
from hwsim.costmodels.gpu_tiles import (
    SmBudget,
    Tile,
    plan_attention,
    plan_gemm,
    tiled_kernel,
    tiles_for,
    wave_cycles,
)
from hwsim.ops import OpKind, WeightStats
from hwsim.profile import load_profile


def trt_times(name: str) -> tuple[float, float]:
    """The preset's device gap per kernel and its once-per-inference time (both fitted on
    published TensorRT rows, benchmarks/gpu_fit.py): inputs of the hand calculations below."""
    arch = load_profile(name).to_data()["arch"]
    return float(arch["kernel_gap_s"]), float(arch.get("inference_overhead_s", 0.0))


# An A100-like SM budget at 1024 fp16 MACs per SM-cycle, no fixed costs: the pure tile math.
A100_SM = SmBudget(sms=108, macs_per_cycle=1024, smem_bytes=167936, register_bytes=262144)
TILE_128 = Tile(128, 128, 32)


def test_wave_quantization_one_more_tile_costs_half_a_wave():
    """128x128x32 fp16 tiles: shared memory 3 stages x (128+128) x 32 x 2 B = 48 KiB, so 3
    fit in 164 KiB; accumulators 128x128x4 B are half of 128 KiB of registers, so 2 fit in
    256 KiB: 2 resident CTAs, a wave is 108 x 2 = 216 CTAs. One CTA's math is
    128x128x1024 / 1024 = 16384 cycles, a full wave 2 x 16384 = 32768. A 217th tile adds a
    second wave in which one SM holds one CTA: 32768 + 16384 = 49152 cycles (1.5x for 0.5%
    more work), and the two waves' slots are 217 / 432 = 50.2% full."""
    full = tiled_kernel(GemmShape(m=128 * 216, n=128, k=1024), TILE_128, 1, A100_SM, 2)
    over = tiled_kernel(GemmShape(m=128 * 217, n=128, k=1024), TILE_128, 1, A100_SM, 2)
    assert full.resident == 2
    assert (full.waves, full.cycles) == (1, 32768)
    assert (over.waves, over.cycles) == (2, 49152)
    assert over.wave_efficiency(108) == pytest.approx(217 / 432)


def test_tile_padding_counts_padded_rows_and_k():
    """M=100 in a 128-row tile and K=1000 padded to 32: the tile computes 128 x 128 x 1024
    MACs for 100 x 128 x 1000 useful ones, 76.3% useful."""
    plan = tiled_kernel(GemmShape(m=100, n=128, k=1000), TILE_128, 1, A100_SM, 2)
    assert plan.padded_macs == 128 * 128 * 1024
    assert plan.padding_efficiency == pytest.approx(100 * 1000 / (128 * 1024))


def test_resident_ctas_share_fixed_costs_and_hide_latency():
    """216 CTAs of 1000 math cycles with 800 fixed cycles each: two resident per SM make one
    wave, 2 x 1000 + 800 = 2800; one per SM makes two waves, 2 x (1000 + 800) = 3600. A lone
    CTA whose loads chain to 500 cycles is latency-bound: max(100, 500) = 500."""
    sm = dataclasses.replace(A100_SM, cta_fixed_cycles=800)
    assert wave_cycles(216, 1000, 2, sm) == (1, 2800)
    assert wave_cycles(216, 1000, 1, sm) == (2, 3600)
    assert wave_cycles(10, 100, 1, A100_SM, cta_latency=500) == (1, 500)


def test_split_k_fills_the_gpu_for_a_long_thin_gemm():
    """64x64 output, K=8192: one 64x64 CTA would need 64x64x8192 / 1024 = 32768 cycles on one
    SM. Split 16 ways (K slices of 512 >= 128) it is 16 CTAs of 2048 cycles in one wave, the
    fastest choice when the reduction is free."""
    plan = plan_gemm(GemmShape(m=64, n=64, k=8192), A100_SM, 2)
    assert (plan.tile.m, plan.tile.n, plan.split_k) == (64, 64, 16)
    assert plan.cycles == 2048


def test_a_decode_gemm_gets_a_skinny_tile():
    """One token through a 4096x4096 fp16 layer. The menu offers TensorRT-LLM's 16- and 32-row
    tiles only to GEMMs whose rows they cover (1 row here; none for 33). 16x128 tiles split 16
    ways: 32 x 16 = 512 CTAs, 6 resident per SM (3 x (16 + 128) x 32 x 2 B = 27 KiB of shared
    memory), one wave in which an SM holds at most ceil(512 / 108) = 5 CTAs of
    16 x 128 x 256 / 1024 = 512 cycles: 2560 cycles, and 1/16 of the padded rows useful. The
    best 64-row plan (64x64, split 16: 1024 CTAs, 6 of 1024 cycles per SM in the first wave and
    4 in the second) would take 10240."""
    assert {(t.m, t.n) for t in tiles_for(2, rows=1)} >= {(16, 128), (16, 256), (32, 128)}
    assert min(t.m for t in tiles_for(2, rows=33)) == 64
    plan = plan_gemm(GemmShape(m=1, n=4096, k=4096), A100_SM, 2)
    assert (plan.tile.m, plan.tile.n, plan.split_k, plan.ctas) == (16, 128, 16, 512)
    assert plan.cycles == 2560
    assert plan.padding_efficiency == pytest.approx(1 / 16)


@pytest.mark.parametrize(
    ("cluster", "tiles_m", "mib"),
    [((1, 1), 3, 6.0), ((2, 1), 4, 5.0), ((1, 2), 3, 4.5), ((2, 2), 4, 3.5)],
)
def test_cluster_multicast_shares_l2_reads(cluster, tiles_m, mib):
    """384x512x1024 fp16 in 128x128 tiles: A is 0.75 MiB, B 1 MiB, 3 x 4 tiles. Without
    clusters L2 serves A once per tile column and B once per tile row: 0.75 x 4 + 1 x 3 = 6 MiB.
    A 2x1 cluster (two CTAs along M) shares B, and launches whole, so the 3 rows round up to 4:
    3 + 1 x 4 / 2 = 5 MiB. 1x2 shares A: 0.75 x 4 / 2 + 3 = 4.5 MiB; 2x2 both: 1.5 + 2 = 3.5."""
    plan = tiled_kernel(GemmShape(m=384, n=512, k=1024), TILE_128, 1, A100_SM, 2, cluster=cluster)
    assert plan.tiles_m == tiles_m
    assert plan.l2_read == mib * 2**20


def test_decode_attention_tiles_its_queries_in_the_kernels_block():
    """4 queries (a KV head's group) over 1024 keys, head 128, 8 heads x batch: FlashAttention-2's
    split-KV kernel holds 64 query rows per CTA, so each CTA computes 64 x 1024 x 256 MACs
    (6.25% useful, not the 3.1% of a 128-row block) in 64 x 1024 x 256 / 1024 = 16384 cycles
    plus 64 x 1024 / 16 = 4096 of exps: 20480 cycles, one CTA per SM."""
    plan = plan_attention(4, 1024, 128, 128, 8, A100_SM, 2, 16, q_block=64)
    assert plan.padded_macs == 8 * 64 * 1024 * 256
    assert plan.padding_efficiency == pytest.approx(4 / 64)
    assert plan.cycles == 20480


def _stats(*, density: float, nm_2_4: float) -> WeightStats:
    return WeightStats(
        density=density,
        nm_2_4=nm_2_4,
        nm_4_8=nm_2_4,
        block_1x4_density=1.0,
        block_4x4_density=1.0,
        zero_output_channels=0,
        output_channels=256,
    )


def _linear_op(stats: WeightStats | None):
    graph = hwsim.trace(nn.Linear(256, 256).half(), example_inputs=(torch.zeros(8, 256).half(),))
    (op,) = [o for o in graph if o.kind is OpKind.GEMM]
    return dataclasses.replace(op, weight_stats=stats)


def test_2_4_weights_double_tensor_core_math_and_read_compressed():
    """2:4 weights at fp16 on A100: 2x math, and the weight is read as half its values plus a
    2-bit index per kept value, (16 + 2) / (2 x 16) = 56.25% of dense."""
    a100 = load_profile("gpu_a100")
    use = sparse_use(_linear_op(_stats(density=0.5, nm_2_4=1.0)), a100, "fp16", tensor_cores=True)
    assert use.math_speedup == 2.0
    assert use.weight_fraction == pytest.approx(18 / 32)
    assert use.note == "2:4 sparse tensor cores: 2x math; weights read compressed (56% of dense)"


def test_sparsity_that_tensor_cores_cannot_use_buys_nothing():
    """Unstructured zeros, fp32 on the CUDA cores, and a GPU without sparse tensor cores all
    run at the dense rate, and each says why."""
    a100 = load_profile("gpu_a100")
    random = sparse_use(
        _linear_op(_stats(density=0.2, nm_2_4=0.3)), a100, "fp16", tensor_cores=True
    )
    assert (random.math_speedup, random.note) == (
        1.0,
        "weights 20% dense but not 2:4: dense tensor-core rate",
    )
    pruned = _linear_op(_stats(density=0.5, nm_2_4=1.0))
    fp32 = sparse_use(pruned, a100, "fp32", tensor_cores=False)
    assert fp32.math_speedup == 1.0 and "CUDA cores" in (fp32.note or "")
    dense_only = dataclasses.replace(a100, sparsity_patterns=frozenset())
    assert sparse_use(pruned, dense_only, "fp16", tensor_cores=True).math_speedup == 1.0


def test_2_4_linear_runs_up_to_twice_as_fast():
    """A 4096x1024x1024 fp16 linear on A100: 2:4 weights halve the tensor-core math of every
    tile, but not the per-wave fixed costs, and the planner trades tile size against L2
    traffic for each case, so the compute time falls by between 1.6x and 2x, never more."""
    model = nn.Linear(1024, 1024).half()
    graph = hwsim.trace(model, example_inputs=(torch.zeros(4096, 1024).half(),))
    with torch.no_grad():
        model.weight.view(-1, 4)[:, :2] = 0  # two zeros in every group of four along K
    sparse_graph = hwsim.trace(model, example_inputs=(torch.zeros(4096, 1024).half(),))
    costs = [
        next(c for op, c in hwsim.estimate(g, "gpu_a100_trt").costs if op.kind is OpKind.GEMM)
        for g in (graph, sparse_graph)
    ]
    ratio = costs[0].compute_cycles / costs[1].compute_cycles
    assert 1.6 < ratio <= 2.0
    assert costs[1].notes[-1].startswith("2:4 sparse tensor cores: 2x math")


def test_eager_launch_is_host_bound_and_cuda_graph_removes_it():
    """One ReLU on 1024 floats. Eager A100: the host needs 5 us per launch and the kernel's
    work is a few cycles, so it takes 5 us, launch-bound. As a CUDA graph no host launch is
    left: the device gap of one kernel and the engine's once-per-inference time, plus 8 KiB
    through L2 at 5120 B/cycle (1.6 cycles at 1.41 GHz)."""
    graph = hwsim.trace(nn.ReLU(), example_inputs=(torch.zeros(1, 1024),))
    eager = hwsim.estimate(graph, "gpu_a100")
    assert eager.latency_s == pytest.approx(5e-6)
    assert eager.total.bound is Bound.LAUNCH
    graphed = hwsim.estimate(graph, "gpu_a100_trt")
    gap, once = trt_times("gpu_a100_trt")
    assert graphed.latency_s == pytest.approx(gap + once + 8192 / 5120 / 1.41e9, rel=1e-3)


class ConvBnRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, bias=False)
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def test_eager_runs_three_kernels_an_engine_runs_one():
    """conv -> batch-norm -> ReLU. Eager PyTorch launches conv, batch-norm and ReLU: 3 x 5 us
    of host time, far above the tiny kernels' work, so 15 us. The engine folds the
    batch-norm and fuses the ReLU: one kernel, its work (under 2 us) plus one device gap and,
    being the first kernel, the engine's once-per-inference time."""
    graph = hwsim.trace(ConvBnRelu().eval(), example_inputs=(torch.zeros(1, 8, 16, 16),))
    eager = hwsim.estimate(graph, "gpu_a100")
    assert eager.latency_s == pytest.approx(15e-6)
    engine = hwsim.estimate(graph, "gpu_a100_trt")
    conv = next(c for op, c in engine.costs if op.kind is OpKind.CONV)
    relu = next(c for op, c in engine.costs if op.kind is OpKind.POINTWISE)
    gap, once = trt_times("gpu_a100_trt")
    assert relu.overhead_cycles == 0
    assert conv.overhead_cycles == pytest.approx((gap + once) * 1.41e9)
    assert engine.latency_s < gap + once + 2e-6


def test_pointwise_add_runs_at_sustained_hbm_bandwidth():
    """x + y on two (64, 1024, 1024) fp16 tensors: 128 MiB read twice and 128 MiB written,
    384 MiB that do not fit the 50 MB L2, so HBM at 3.35 TB/s x 0.85 sets the time:
    402653184 / 2.8475e12 = 141.4 us, plus one kernel gap and the once-per-inference time
    as a CUDA graph."""

    class Add(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x + y

    x = torch.zeros(64, 1024, 1024, dtype=torch.float16)
    graph = hwsim.trace(Add(), example_inputs=(x, x))
    est = hwsim.estimate(graph, "gpu_h100_trt")
    assert est.total.bound is Bound.MEMORY
    gap, once = trt_times("gpu_h100_trt")
    assert est.latency_s == pytest.approx(3 * 2**27 / (3.35e12 * 0.85) + gap + once, rel=1e-6)


class Attention(nn.Module):
    def __init__(self, fused: bool) -> None:
        super().__init__()
        self.fused = fused

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v)
        scores = torch.softmax(q @ k.transpose(-1, -2) / 8.0, dim=-1)
        return scores @ v


def test_sdpa_is_one_fused_kernel():
    """SDPA on (1, 8, 256, 64) fp16 on H100 as a CUDA graph. FlashAttention tiling: 2 query
    blocks x 8 heads = 16 CTAs, each 128 x 256 keys x (64 + 64) = 4194304 MACs at
    270336 x 0.85 / 132 = 1740.8 MAC/cycle per SM (2409.4 cycles), plus 128 x 256 exps at 16
    per cycle (2048): 4457.4 cycles. 16 CTAs are one partial wave; the 4 K/V blocks' load
    chain (4 x 500) is shorter, and the wave pays 800 fixed cycles: 5257.4 cycles. Q, K, V, O
    (1 MiB) stay in L2. Total 5257.4 / 1.83 GHz + one kernel gap + the once-per-inference
    time. Written out as matmul-softmax-matmul, the same attention launches several kernels
    and takes longer."""
    q = torch.zeros(1, 8, 256, 64, dtype=torch.float16)
    fused = hwsim.trace(Attention(fused=True), example_inputs=(q, q, q))
    assert [op.kind for op in fused if op.kind is not OpKind.VIEW] == [OpKind.ATTENTION]
    est = hwsim.estimate(fused, "gpu_h100_trt")
    gap, once = trt_times("gpu_h100_trt")
    assert est.latency_s == pytest.approx(5257.4 / 1.83e9 + gap + once, rel=1e-4)
    unfused = hwsim.estimate(
        hwsim.trace(Attention(fused=False), example_inputs=(q, q, q)), "gpu_h100_trt"
    )
    launched = [c for op, c in unfused.costs if c is not None and c.overhead_cycles > 0]
    assert len(launched) >= 3
    assert unfused.latency_s > est.latency_s


def test_fp32_conv_runs_on_tf32_in_pytorch_but_fp32_matmul_does_not():
    """PyTorch's defaults: cuDNN may use TF32 for fp32 convolutions, cuBLAS may not for fp32
    matmuls; both say which precision they ran at."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    graph = hwsim.trace(model, example_inputs=(torch.zeros(1, 3, 8, 8),))
    table = hwsim.estimate(graph, "gpu_a100").table.set_index("op")
    assert table.loc["conv", "precision"] == "tf32"
    assert table.loc["gemm", "precision"] == "fp32"


def test_batch_amortises_launches_on_resnet18(graph_of):
    """ResNet-18 on eager H100 at batch 1 is launch-bound: most of its time is host launches
    (5 us each, fp32 on the CUDA cores); at batch 64 the same launches carry 64 images and the
    work dominates, so an image costs less than a fifth as much."""
    one = hwsim.estimate(graph_of("resnet18"), "gpu_h100")
    by_bound = one.table.groupby("bound")["latency_s"].sum()
    assert by_bound["launch"] > 0.8 * one.latency_s
    many = hwsim.estimate(hwsim.trace("resnet18", batch=64), "gpu_h100")
    assert many.latency_s / 64 < one.latency_s / 5
