"""Tensor-core GEMMs as cuBLAS/CUTLASS run them: output tiles, split-K, waves of resident CTAs.

A GPU does not run a GEMM at its peak rate; it runs a grid of CTAs, one per output tile (and
K slice), and an SM holds only a few CTAs at once. Three things follow that a roofline misses:

- **Tile padding.** A 100-row problem in 128-row tiles computes 128 rows; K is padded to the
  main loop's step.
- **Wave quantization.** ``SMs x resident CTAs`` CTAs run at a time. 109 tiles on 108 SMs
  take two waves, the second nearly empty.
- **Fixed CTA costs.** Filling the software pipeline and storing the epilogue take time that
  the math of one CTA cannot hide; co-resident CTAs overlap them, so a wave pays them once.

A library picks the tile shape and split-K factor that finish first; so does ``plan_gemm``.
GEMMs with a handful of rows (a decode step's tokens) get the skinny tiles libraries keep for
them, and on GPUs whose thread-block clusters multicast operand tiles (Hopper's TMA) the CTAs
of a cluster share one L2 read of the panel they have in common.
FlashAttention-style fused attention is the same wave arithmetic over query blocks
(``plan_attention``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .gemm_view import GemmShape

# CTA output tiles (rows x columns) of CUTLASS's default tensor-core GEMM configurations for
# Ampere and Hopper (cutlass/gemm/device/default_gemm_configuration.h and its SM90 builders).
TILE_SHAPES: tuple[tuple[int, int], ...] = (
    (256, 128),
    (128, 256),
    (128, 128),
    (128, 64),
    (64, 128),
    (64, 64),
)
# Skinny tiles for GEMMs with few rows: TensorRT-LLM's CUTLASS candidates "for M=16" and "for
# M=32" (16x128, 16x256, 32x128; cpp/tensorrt_llm/kernels/cutlass_kernels/
# cutlass_heuristic.cpp, get_candidate_tiles), the shapes its heuristic keeps when the rows fit
# ("Keep small tile sizes when possible"). A tile is offered only to GEMMs whose rows it covers:
# its narrow warp tiles re-read B from shared memory for every 16 rows, a cost the single
# main-loop efficiency does not price, so on taller problems the model would overrate them.
SKINNY_TILE_SHAPES: tuple[tuple[int, int], ...] = ((16, 128), (16, 256), (32, 128))
# One main-loop step stages 64 bytes of K per row: 32 fp16, 64 int8, 16 tf32 elements, the
# K extent of those CUTLASS configurations.
K_STEP_BYTES = 64
PIPELINE_STAGES = 3  # cp.async multistage depth of CUTLASS's Ampere default configurations
SPLIT_K_FACTORS = (1, 2, 4, 8, 16)
MIN_K_SLICE = 128  # a split that leaves fewer K elements per CTA than this is not worth it
# Accumulators are about half of a CTA's registers; the rest hold operand fragments and
# addresses (assumed, from the register counts CUTLASS kernels report).
ACCUMULATOR_SHARE_OF_REGISTERS = 0.5
ACCUMULATOR_BYTES = 4  # fp32 (or int32) accumulators
# FlashAttention-2's forward tiling for head dimensions up to 128: 128 queries per CTA, keys
# and values streamed in blocks of 64 (Dao 2023, and its kernel traits for sm80/sm90).
FLASH_Q_BLOCK = 128
FLASH_KV_BLOCK = 64


@dataclass(frozen=True)
class Tile:
    """One CTA's output tile and the K elements it stages per main-loop step."""

    m: int
    n: int
    k: int

    def smem_bytes(self, operand_bytes: float) -> float:
        """Shared memory of the multistage pipeline: A and B slices for every stage."""
        return PIPELINE_STAGES * (self.m + self.n) * self.k * operand_bytes

    def register_bytes(self) -> float:
        return self.m * self.n * ACCUMULATOR_BYTES / ACCUMULATOR_SHARE_OF_REGISTERS


def tiles_for(operand_bytes: float, rows: int | None = None) -> tuple[Tile, ...]:
    """The tile menu at one operand width (narrower types stage more K per step), with the
    skinny tiles whose rows cover a GEMM of ``rows`` rows."""
    k = max(int(K_STEP_BYTES // operand_bytes), 8)
    skinny = [(m, n) for m, n in SKINNY_TILE_SHAPES if rows is not None and rows <= m]
    return tuple(Tile(m, n, k) for m, n in (*TILE_SHAPES, *skinny))


@dataclass(frozen=True)
class SmBudget:
    """What one SM offers a kernel: math rate, storage for resident CTAs, fixed costs."""

    sms: int
    macs_per_cycle: float  # one SM's achievable MAC rate at the kernel's precision
    smem_bytes: float
    register_bytes: float
    cta_fixed_cycles: float = 0.0
    load_latency_cycles: float = 0.0  # a global load's round trip, which the pipeline must hide
    multicast: int = 1  # CTAs along M or N of a cluster that share one L2 read of a panel


@dataclass(frozen=True)
class TiledKernel:
    """How a GEMM-like kernel covers its problem, and what that costs in cycles."""

    tile: Tile
    split_k: int
    cluster: tuple[int, int]  # CTAs of a cluster along M and N (TMA multicast); (1, 1): none
    tiles_m: int  # row tiles per group
    tiles_n: int  # column tiles per group
    ctas: int  # tiles x groups x K slices: the kernel's grid
    resident: int  # CTAs one SM holds at once
    waves: int
    cycles: float  # math, exposed fixed costs and any split-K reduction
    # Operand bytes the CTAs read through L2: A once per tile column, B once per tile row, each
    # divided by the cluster's CTAs that share it (B along M, A along N).
    l2_read: float
    useful_macs: int
    padded_macs: int  # the MACs the tiles really compute, padding included

    @property
    def padding_efficiency(self) -> float:
        return self.useful_macs / self.padded_macs if self.padded_macs else 1.0

    def wave_efficiency(self, sms: int) -> float:
        """Fraction of the waves' CTA slots that hold a CTA."""
        return self.ctas / (self.waves * sms * self.resident) if self.waves else 1.0

    def describe(self, sms: int) -> str:
        split = f", split-K {self.split_k}" if self.split_k > 1 else ""
        if self.cluster != (1, 1):
            split += f", {self.cluster[0]}x{self.cluster[1]} clusters (multicast)"
        return (
            f"{self.tile.m}x{self.tile.n}x{self.tile.k} tiles{split}: {self.ctas} CTAs in "
            f"{self.waves} wave(s) of {sms}x{self.resident}, waves "
            f"{self.wave_efficiency(sms):.0%} full, padding {self.padding_efficiency:.0%} useful"
        )


def resident_ctas(smem_bytes: float, register_bytes: float, sm: SmBudget) -> int:
    """CTAs one SM holds at once: whichever of shared memory or registers runs out first."""
    return max(1, int(min(sm.smem_bytes // smem_bytes, sm.register_bytes // register_bytes)))


def wave_cycles(
    ctas: int, cta_cycles: float, resident: int, sm: SmBudget, cta_latency: float = 0.0
) -> tuple[int, float]:
    """(waves, cycles) of ``ctas`` equal CTAs that each need ``cta_cycles`` of one SM's math.

    Co-resident CTAs share the SM's tensor cores, so their math adds up, while their fixed
    costs and load latencies overlap: a wave costs ``max(resident x cta_cycles, cta_latency)
    + fixed``, where ``cta_latency`` is the chain of loads one CTA waits for however idle the
    tensor cores are. The last, partial wave is as long as its most loaded SM.
    """
    per_wave = sm.sms * resident
    full, rest = divmod(ctas, per_wave)
    cycles = full * (max(resident * cta_cycles, cta_latency) + sm.cta_fixed_cycles)
    if rest:
        last = math.ceil(rest / sm.sms) * cta_cycles
        cycles += max(last, cta_latency) + sm.cta_fixed_cycles
    return full + (1 if rest else 0), cycles


def tiled_kernel(
    g: GemmShape,
    tile: Tile,
    split: int,
    sm: SmBudget,
    operand_bytes: float,
    weight_bytes: float | None = None,
    l2_cpb: float = 0.0,
    cluster: tuple[int, int] = (1, 1),
) -> TiledKernel:
    """``g`` covered by ``tile`` CTAs with K cut into ``split`` slices, and its cycles. A
    ``cluster`` of CTAs launches whole, so the grid is rounded up to whole clusters."""
    weight_bytes = operand_bytes if weight_bytes is None else weight_bytes
    cm, cn = cluster
    tiles_m = math.ceil(math.ceil(g.m / tile.m) / cm) * cm
    tiles_n = math.ceil(math.ceil(g.n / tile.n) / cn) * cn
    k_slice = math.ceil(math.ceil(g.k / split) / tile.k) * tile.k
    ctas = tiles_m * tiles_n * g.groups * split
    resident = resident_ctas(tile.smem_bytes(operand_bytes), tile.register_bytes(), sm)
    # With ``stages`` slices in flight, each main-loop step waits at least a load latency
    # over the stages ahead of it: the floor on a lone CTA's main loop.
    latency = k_slice / tile.k * sm.load_latency_cycles / (PIPELINE_STAGES - 1)
    math_cycles = tile.m * tile.n * k_slice / sm.macs_per_cycle
    waves, cycles = wave_cycles(ctas, math_cycles, resident, sm, latency)
    if split > 1:  # fp32 partial tiles written and read back once more through L2
        cycles += l2_cpb * 2 * split * g.m * g.n * g.groups * ACCUMULATOR_BYTES
    a_total = g.groups * g.m * g.k * operand_bytes
    b_total = g.groups * g.n * g.k * weight_bytes
    return TiledKernel(
        tile=tile,
        split_k=split,
        cluster=cluster,
        tiles_m=tiles_m,
        tiles_n=tiles_n,
        ctas=ctas,
        resident=resident,
        waves=waves,
        cycles=cycles,
        l2_read=a_total * tiles_n / cn + b_total * tiles_m / cm,
        useful_macs=g.macs,
        padded_macs=ctas * tile.m * tile.n * k_slice,
    )


def plan_gemm(
    g: GemmShape,
    sm: SmBudget,
    operand_bytes: float,
    *,
    weight_bytes: float | None = None,
    l2_cycles_per_byte: float = 0.0,
    split_k: bool = True,
) -> TiledKernel:
    """The fastest (tile, split-K, cluster) choice for ``g``, as a library's heuristic would
    pick it.

    A candidate takes the longer of its math and its L2 reads: small tiles fill the SMs but
    re-read the operands more often, which is why libraries prefer large tiles. Split-K cuts
    K into slices so a problem with few output tiles still fills the SMs; its price is a
    reduction of the partial tiles through L2. Where the SM budget allows multicast, clusters
    of 2 CTAs along M, N or both (CUTLASS's SM90 cluster shapes 2x1, 1x2, 2x2) read a shared
    panel from L2 once. ``weight_bytes`` is the B operand's bytes per element when it differs
    from A's (compressed sparse weights).
    """
    b_bytes = operand_bytes if weight_bytes is None else weight_bytes
    sizes = (1, 2) if sm.multicast >= 2 else (1,)
    clusters = [(cm, cn) for cm in sizes for cn in sizes]
    best: TiledKernel | None = None
    best_cycles = math.inf
    for tile in tiles_for(operand_bytes, g.m):
        for split in SPLIT_K_FACTORS if split_k else (1,):
            if split > 1 and math.ceil(g.k / split) < MIN_K_SLICE:
                break
            for cluster in clusters:
                plan = tiled_kernel(
                    g, tile, split, sm, operand_bytes, b_bytes, l2_cycles_per_byte, cluster
                )
                cycles = max(plan.cycles, plan.l2_read * l2_cycles_per_byte)
                if cycles < best_cycles:
                    best, best_cycles = plan, cycles
    assert best is not None  # the menu is never empty
    return best


def plan_attention(
    seq_q: int,
    seq_k: int,
    head_dim: int,
    value_dim: int,
    heads_x_batch: int,
    sm: SmBudget,
    operand_bytes: float,
    exp_per_cycle: float,
    q_block: int = FLASH_Q_BLOCK,
) -> TiledKernel:
    """One fused attention kernel: a CTA per block of ``q_block`` queries per head, streaming
    keys.

    Each CTA computes its scores, softmax and weighted sum without writing the scores out; its
    math is both GEMMs over the padded key length plus one exp per score on the SFUs, which
    FlashAttention-2 does not overlap with the matrix math. The query block is the kernel's:
    128 rows in FlashAttention-2's forward kernel, 64 in its split-KV (decode) kernel; its
    padding rows are computed like the others.
    """
    dim = math.ceil(head_dim / 16) * 16
    dim_v = math.ceil(value_dim / 16) * 16
    keys = math.ceil(seq_k / FLASH_KV_BLOCK) * FLASH_KV_BLOCK
    tile = Tile(q_block, FLASH_KV_BLOCK, dim)
    tiles_m = math.ceil(seq_q / q_block)
    ctas = tiles_m * heads_x_batch
    cta_macs = q_block * keys * (dim + dim_v)
    cta_cycles = cta_macs / sm.macs_per_cycle + q_block * keys / exp_per_cycle
    smem = (q_block * dim + 2 * FLASH_KV_BLOCK * (dim + dim_v)) * operand_bytes
    registers = (
        q_block * (dim_v + FLASH_KV_BLOCK) * ACCUMULATOR_BYTES
    ) / ACCUMULATOR_SHARE_OF_REGISTERS
    resident = resident_ctas(smem, registers, sm)
    latency = keys / FLASH_KV_BLOCK * sm.load_latency_cycles  # K/V blocks double-buffered
    waves, cycles = wave_cycles(ctas, cta_cycles, resident, sm, latency)
    return TiledKernel(
        tile=tile,
        split_k=1,
        cluster=(1, 1),
        tiles_m=tiles_m,
        tiles_n=1,
        ctas=ctas,
        resident=resident,
        waves=waves,
        cycles=cycles,
        l2_read=(seq_q + 2 * seq_k) * head_dim * heads_x_batch * operand_bytes,
        useful_macs=seq_q * seq_k * (head_dim + value_dim) * heads_x_batch,
        padded_macs=ctas * cta_macs,
    )
